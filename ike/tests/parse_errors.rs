// SPDX-License-Identifier: GPL-2.0
//! Negative tests: one per length or consistency rule, checking the error and its message.

mod common;

use common::{hex, ike_sa_init_request};
use ripsec_ike::*;

/// A single payload (generic header with the right length), last in its chain.
fn payload(body_hex: &str) -> Vec<u8> {
    let body = hex(body_hex);
    let mut out = vec![0, 0];
    out.extend_from_slice(&u16::try_from(body.len() + 4).unwrap().to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Parses one payload of type `ty` as an inner chain and returns the error.
fn body_error(ty: PayloadType, body_hex: &str) -> ParseError {
    parse_inner_chain(ty, &payload(body_hex)).expect_err("must be rejected")
}

fn sa_error(body_hex: &str) -> ParseError {
    body_error(PayloadType::SA, body_hex)
}

/// A message whose header announces `first` and carries `chain`, with a correct length.
fn message(first: u8, chain: &[u8]) -> Vec<u8> {
    let mut out = hex("0102030405060708 0000000000000000");
    out.extend_from_slice(&[first, 0x20, 34, 0x08, 0, 0, 0, 0]);
    out.extend_from_slice(&u32::try_from(28 + chain.len()).unwrap().to_be_bytes());
    out.extend_from_slice(chain);
    out
}

#[track_caller]
fn assert_message(error: &ParseError, text: &str) {
    assert_eq!(error.to_string(), text, "{error:?}");
}

// ---- header ----

#[test]
fn datagram_shorter_than_header() {
    let error = Message::parse(&[0; 27]).unwrap_err();
    assert_eq!(error, ParseError::MessageTooShort { len: 27 });
    assert_message(
        &error,
        "message is 27 bytes, shorter than the 28-byte IKE header",
    );
    assert!(IkeHeader::parse(&[]).is_err());
}

#[test]
fn header_length_must_match_datagram() {
    let mut bytes = ike_sa_init_request();
    bytes.pop();
    let error = Message::parse(&bytes).unwrap_err();
    assert_eq!(
        error,
        ParseError::LengthMismatch {
            header: 234,
            datagram: 233
        }
    );
    assert_message(
        &error,
        "IKE header says the message is 234 bytes but the datagram has 233",
    );

    let mut bytes = ike_sa_init_request();
    bytes.push(0);
    assert!(matches!(
        Message::parse(&bytes),
        Err(ParseError::LengthMismatch {
            header: 234,
            datagram: 235
        })
    ));
}

#[test]
fn major_version_must_be_2_and_minor_is_ignored() {
    let mut bytes = ike_sa_init_request();
    bytes[17] = 0x30;
    let error = Message::parse(&bytes).unwrap_err();
    assert_eq!(error, ParseError::UnsupportedVersion { major: 3 });
    assert_eq!(error.suggested_notify(), NotifyType::INVALID_MAJOR_VERSION);
    assert_message(&error, "IKE major version 3 is not supported (only 2)");
    bytes[17] = 0x10;
    assert_eq!(
        Message::parse(&bytes).unwrap_err().suggested_notify(),
        NotifyType::INVALID_SYNTAX
    );
    bytes[17] = 0x2f;
    let message = Message::parse(&bytes).expect("minor version ignored");
    assert_eq!(
        message.to_bytes().unwrap()[17],
        0x20,
        "minor version sent as 0"
    );
}

// ---- generic payload chain ----

#[test]
fn payload_header_cut_short() {
    let error = Message::parse(&message(33, &[])).unwrap_err();
    assert_eq!(
        error,
        ParseError::TruncatedPayloadHeader {
            payload: PayloadType::SA,
            remaining: 0
        }
    );
    assert_message(
        &error,
        "payload SA (33) expected but only 0 bytes remain, too few for the 4-byte generic payload header",
    );
    // A Vendor ID pointing to a Nonce that is not there.
    let chain = hex("28 00 0005 aa 0000");
    assert!(matches!(
        Message::parse(&message(43, &chain)),
        Err(ParseError::TruncatedPayloadHeader {
            payload: PayloadType::NONCE,
            remaining: 2
        })
    ));
}

#[test]
fn payload_length_below_generic_header() {
    let error = parse_inner_chain(PayloadType::VENDOR_ID, &hex("00 00 0003 00")).unwrap_err();
    assert_eq!(
        error,
        ParseError::PayloadLengthTooSmall {
            payload: PayloadType::VENDOR_ID,
            length: 3
        }
    );
    assert_message(
        &error,
        "payload Vendor ID (43) claims 3 bytes, less than its 4-byte generic header",
    );
}

#[test]
fn payload_length_past_the_end() {
    let chain = [hex("00 00 003c"), vec![0; 36]].concat();
    let error = Message::parse(&message(33, &chain)).unwrap_err();
    assert_eq!(
        error,
        ParseError::PayloadOverrun {
            payload: PayloadType::SA,
            length: 60,
            remaining: 40
        }
    );
    assert_message(&error, "payload SA (33) claims 60 bytes but only 40 remain");
}

#[test]
fn bytes_after_last_payload() {
    let chain = [payload("aa"), vec![0; 3]].concat();
    let error = parse_inner_chain(PayloadType::VENDOR_ID, &chain).unwrap_err();
    assert_eq!(error, ParseError::TrailingBytes { count: 3 });
    assert_message(&error, "3 bytes follow the last payload");
}

#[test]
fn encrypted_payload_must_be_last_and_not_nested() {
    let chain = [hex("23 00 0008 eeeeeeee"), payload("")].concat();
    let error = Message::parse(&message(46, &chain)).unwrap_err();
    assert_eq!(error, ParseError::EncryptedNotLast { trailing: 4 });
    assert_message(
        &error,
        "4 bytes follow the SK payload, which must be the last payload",
    );

    let error = parse_inner_chain(PayloadType::SK, &hex("23 00 0008 eeeeeeee")).unwrap_err();
    assert_eq!(error, ParseError::NestedEncrypted);
}

#[test]
fn unknown_critical_payload_is_named() {
    let chain = hex("00 80 0006 0102");
    let error = Message::parse(&message(200, &chain)).unwrap_err();
    assert_eq!(
        error,
        ParseError::UnsupportedCriticalPayload {
            payload: PayloadType(200)
        }
    );
    assert_eq!(
        error.suggested_notify(),
        NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD
    );
    assert_message(
        &error,
        "payload unknown (200) is marked critical but is not supported",
    );

    let error = parse_inner_chain(PayloadType::CP, &hex("00 80 0004")).unwrap_err();
    assert_message(
        &error,
        "payload CP (47) is marked critical but is not supported",
    );

    // Not critical: kept. Critical bit on a known type: ignored.
    let kept = Message::parse(&message(200, &hex("00 00 0006 0102"))).unwrap();
    assert_eq!(
        kept.payloads,
        [Payload::Unknown(UnknownPayload {
            payload_type: PayloadType(200),
            body: vec![1, 2]
        })]
    );
    let known = parse_inner_chain(PayloadType::VENDOR_ID, &hex("00 80 0005 aa")).unwrap();
    assert_eq!(known, [Payload::VendorId(vec![0xaa])]);
}

// ---- fixed payload fields ----

#[test]
fn bodies_shorter_than_fixed_fields() {
    let cases = [
        (PayloadType::KE, "001f00", 4),
        (PayloadType::IDI, "010000", 4),
        (PayloadType::IDR, "", 4),
        (PayloadType::CERT, "", 1),
        (PayloadType::CERTREQ, "", 1),
        (PayloadType::AUTH, "0200", 4),
        (PayloadType::NOTIFY, "000040", 4),
        (PayloadType::DELETE, "0300", 4),
        (PayloadType::TSI, "01", 4),
        (PayloadType::TSR, "010000", 4),
    ];
    for (ty, body, needed) in cases {
        let actual = body.len() / 2;
        assert_eq!(
            body_error(ty, body),
            ParseError::BodyTooShort {
                payload: ty,
                needed,
                actual
            },
            "{ty}"
        );
    }
    let error = body_error(PayloadType::KE, "00");
    assert_message(
        &error,
        "payload KE (34) body is 1 bytes but needs at least 4",
    );
}

#[test]
fn notify_spi_must_fit() {
    let error = body_error(PayloadType::NOTIFY, "03 04 4009 aabb");
    assert_eq!(
        error,
        ParseError::BodyTooShort {
            payload: PayloadType::NOTIFY,
            needed: 8,
            actual: 6
        }
    );
}

#[test]
fn nonce_must_be_16_to_256_bytes() {
    let error = body_error(PayloadType::NONCE, &"00".repeat(15));
    assert_eq!(error, ParseError::NonceLength { len: 15 });
    assert_message(&error, "nonce is 15 bytes, must be 16 to 256");
    assert_eq!(
        body_error(PayloadType::NONCE, &"00".repeat(257)),
        ParseError::NonceLength { len: 257 }
    );
}

#[test]
fn address_identities_have_fixed_sizes() {
    let error = body_error(PayloadType::IDI, "01 000000 c000020701");
    assert_eq!(
        error,
        ParseError::IdLength {
            id_type: IdType::IPV4_ADDR,
            len: 5
        }
    );
    assert_message(
        &error,
        "identification of type IPV4_ADDR (1) has 5 bytes of data",
    );
    assert!(matches!(
        body_error(PayloadType::IDR, "05 000000 c0000207"),
        ParseError::IdLength { len: 4, .. }
    ));
}

#[test]
fn ke_size_must_match_known_group() {
    let error = body_error(PayloadType::KE, &format!("0013 0000 {}", "00".repeat(32)));
    assert_eq!(
        error,
        ParseError::KeLength {
            group: 19,
            len: 32,
            expected: 64
        }
    );
    assert_message(
        &error,
        "KE payload for DH group 19 carries 32 bytes, the group needs 64",
    );
}

// ---- SA payload ----

#[test]
fn sa_needs_a_proposal() {
    let error = sa_error("");
    assert_eq!(error, ParseError::NoProposals);
    assert_message(&error, "SA payload contains no proposals");
}

#[test]
fn proposal_header_cut_short() {
    let error = sa_error("00 00 0008 01");
    assert_eq!(
        error,
        ParseError::ItemTruncated {
            item: Item::Proposal(1),
            needed: 8,
            remaining: 5
        }
    );
    assert_message(
        &error,
        "proposal #1 needs 8 bytes for its header but only 5 remain",
    );
}

#[test]
fn proposal_length_checks() {
    let error = sa_error("00 00 0006 01 01 00 00");
    assert_eq!(
        error,
        ParseError::ItemTooShort {
            item: Item::Proposal(1),
            length: 6,
            min: 8
        }
    );
    assert_message(
        &error,
        "proposal #1 claims 6 bytes, less than its minimum of 8",
    );

    let error = sa_error("00 00 0020 01 01 00 01 00 00 0008 04 00 0013");
    assert_eq!(
        error,
        ParseError::ItemOverrun {
            item: Item::Proposal(1),
            length: 32,
            remaining: 16
        }
    );
    assert_message(&error, "proposal #1 claims 32 bytes but only 16 remain");

    // SPI size 4 but the proposal ends after 2 SPI bytes.
    let error = sa_error("00 00 000a 01 03 04 00 aabb");
    assert_eq!(
        error,
        ParseError::ItemTooShort {
            item: Item::Proposal(1),
            length: 10,
            min: 12
        }
    );
}

#[test]
fn proposal_last_flags() {
    let dh = "00 00 0008 04 00 0013";
    let error = sa_error(&format!("02 00 0010 01 01 00 01 {dh}"));
    assert_eq!(
        error,
        ParseError::LastFlag {
            item: Item::Proposal(1),
            value: 2,
            expected: 0
        }
    );
    assert_message(
        &error,
        "proposal #1 has last-substructure value 2 but is the last one (expected 0)",
    );
    let error = sa_error(&format!(
        "00 00 0010 01 01 00 01 {dh} 00 00 0010 02 01 00 01 {dh}"
    ));
    assert_message(
        &error,
        "proposal #1 has last-substructure value 0 but more follow (expected 2)",
    );
}

#[test]
fn proposal_numbering() {
    let dh = "00 00 0008 04 00 0013";
    let error = sa_error(&format!(
        "02 00 0010 01 01 00 01 {dh} 00 00 0010 03 01 00 01 {dh}"
    ));
    assert_eq!(
        error,
        ParseError::ProposalNumber {
            index: 2,
            number: 3,
            expected: 2
        }
    );
    assert_message(&error, "proposal #2 is numbered 3, expected 2");
    let error = sa_error(&format!(
        "02 00 0010 02 01 00 01 {dh} 00 00 0010 03 01 00 01 {dh}"
    ));
    assert!(matches!(
        error,
        ParseError::ProposalNumber {
            index: 1,
            number: 2,
            expected: 1
        }
    ));
    let error = sa_error(&format!("00 00 0010 00 01 00 01 {dh}"));
    assert!(matches!(
        error,
        ParseError::ProposalNumber {
            index: 1,
            number: 0,
            ..
        }
    ));
    // A lone accepted proposal keeps its number.
    let ok = parse_inner_chain(
        PayloadType::SA,
        &payload(&format!("00 00 0010 07 01 00 01 {dh}")),
    );
    assert!(ok.is_ok());
}

#[test]
fn spi_size_per_protocol() {
    let error = sa_error("00 00 0010 01 03 08 00 0102030405060708");
    assert_eq!(
        error,
        ParseError::SpiSize {
            protocol: ProtocolId::ESP,
            size: 8
        }
    );
    assert_message(&error, "SPI size 8 is invalid for protocol ESP (3)");
    assert!(matches!(
        sa_error("00 00 000c 01 01 04 00 01020304"),
        ParseError::SpiSize { size: 4, .. }
    ));
    assert!(matches!(
        sa_error("00 00 0008 01 02 00 00"),
        ParseError::SpiSize { size: 0, .. }
    ));
}

#[test]
fn transform_count_must_match() {
    let error = sa_error("00 00 0010 01 01 00 03 00 00 0008 04 00 0013");
    assert_eq!(
        error,
        ParseError::TransformCount {
            proposal: 1,
            declared: 3,
            found: 1
        }
    );
    assert_message(&error, "proposal #1 declares 3 transforms but contains 1");
}

#[test]
fn transform_length_checks() {
    let item = Item::Transform {
        proposal: 1,
        transform: 1,
    };
    let error = sa_error("00 00 0010 01 01 00 01 00 00 0007 04 00 0013");
    assert_eq!(
        error,
        ParseError::ItemTooShort {
            item,
            length: 7,
            min: 8
        }
    );
    assert_message(
        &error,
        "transform #1 of proposal #1 claims 7 bytes, less than its minimum of 8",
    );
    let error = sa_error("00 00 0010 01 01 00 01 00 00 000c 04 00 0013");
    assert_eq!(
        error,
        ParseError::ItemOverrun {
            item,
            length: 12,
            remaining: 8
        }
    );
    let error = sa_error("00 00 000c 01 01 00 01 00 00 0008");
    assert_eq!(
        error,
        ParseError::ItemTruncated {
            item,
            needed: 8,
            remaining: 4
        }
    );
}

#[test]
fn transform_last_flags() {
    let error = sa_error("00 00 0018 01 01 00 02 00 00 0008 04 00 0013 00 00 0008 02 00 0005");
    assert_eq!(
        error,
        ParseError::LastFlag {
            item: Item::Transform {
                proposal: 1,
                transform: 1
            },
            value: 0,
            expected: 3
        }
    );
    let error = sa_error("00 00 0010 01 01 00 01 03 00 0008 04 00 0013");
    assert!(matches!(
        error,
        ParseError::LastFlag {
            value: 3,
            expected: 0,
            ..
        }
    ));
}

#[test]
fn attribute_formats() {
    let item = Item::Attribute {
        proposal: 1,
        transform: 1,
    };
    // Key Length in TLV format.
    let error = sa_error("00 00 0016 01 01 00 01 00 00 000e 01 00 0014 000e 0002 0100");
    assert_eq!(
        error,
        ParseError::AttributeFormat {
            item,
            attribute: 14
        }
    );
    assert_message(
        &error,
        "attribute of transform #1 of proposal #1: attribute type 14 must use the TV (fixed 2-byte) format",
    );
    // Two bytes where an attribute header needs four.
    let error = sa_error("00 00 0012 01 01 00 01 00 00 000a 01 00 0014 800e");
    assert_eq!(
        error,
        ParseError::ItemTruncated {
            item,
            needed: 4,
            remaining: 2
        }
    );
    // A TLV attribute claiming more bytes than the transform has.
    let error = sa_error("00 00 0016 01 01 00 01 00 00 000e 01 00 0014 0063 0004 aabb");
    assert_eq!(
        error,
        ParseError::ItemOverrun {
            item,
            length: 8,
            remaining: 6
        }
    );
}

// ---- traffic selectors ----

#[test]
fn traffic_selector_count_must_match() {
    let v4 = "07 00 0010 0000 ffff 0a000000 0a0000ff";
    let error = body_error(PayloadType::TSI, &format!("02 000000 {v4}"));
    assert_eq!(
        error,
        ParseError::TsCount {
            declared: 2,
            found: 1
        }
    );
    assert_message(
        &error,
        "traffic selector payload declares 2 selectors but contains 1",
    );
}

#[test]
fn traffic_selector_lengths_and_types() {
    let error = body_error(
        PayloadType::TSI,
        "01 000000 07 00 0014 0000 ffff 0a000000 0a0000ff 00000000",
    );
    assert_eq!(
        error,
        ParseError::TsLength {
            index: 1,
            ts_type: TsType::IPV4_ADDR_RANGE,
            length: 20,
            expected: 16
        }
    );
    assert_message(
        &error,
        "traffic selector #1 of type TS_IPV4_ADDR_RANGE (7) is 20 bytes, expected 16",
    );
    let error = body_error(
        PayloadType::TSR,
        "01 000000 09 00 0010 0000 ffff 0a000000 0a0000ff",
    );
    assert_eq!(
        error,
        ParseError::UnknownTsType {
            index: 1,
            ts_type: TsType(9)
        }
    );
    let error = body_error(PayloadType::TSR, "01 000000 08 00 0028 0000 ffff 00000000");
    assert_eq!(
        error,
        ParseError::ItemOverrun {
            item: Item::TrafficSelector(1),
            length: 40,
            remaining: 12
        }
    );
    let error = body_error(PayloadType::TSR, "01 000000 08 00");
    assert!(matches!(
        error,
        ParseError::ItemTruncated { remaining: 2, .. }
    ));
}

// ---- Delete ----

#[test]
fn delete_consistency() {
    let error = body_error(PayloadType::DELETE, "01 04 0000");
    assert_eq!(
        error,
        ParseError::SpiSize {
            protocol: ProtocolId::IKE,
            size: 4
        }
    );
    let error = body_error(PayloadType::DELETE, "01 00 0001");
    assert!(matches!(
        error,
        ParseError::DeleteSpis {
            count: 1,
            bytes: 0,
            ..
        }
    ));
    let error = body_error(PayloadType::DELETE, "03 04 0002 01020304");
    assert_eq!(
        error,
        ParseError::DeleteSpis {
            protocol: ProtocolId::ESP,
            spi_size: 4,
            count: 2,
            bytes: 4
        }
    );
    assert_message(
        &error,
        "Delete payload for ESP (3) declares 2 SPIs of 4 bytes but carries 4 bytes of SPIs",
    );
    assert!(matches!(
        body_error(PayloadType::DELETE, "03 08 0001 0102030405060708"),
        ParseError::SpiSize { size: 8, .. }
    ));
    let error = body_error(PayloadType::DELETE, "09 04 0001 01020304");
    assert_eq!(
        error,
        ParseError::DeleteProtocol {
            protocol: ProtocolId(9)
        }
    );
    assert_message(
        &error,
        "Delete payload names protocol unknown (9); only IKE, AH and ESP can be deleted",
    );
}

// ---- encoding refuses what parsing would reject ----

#[test]
fn encoder_rejects_invalid_values() {
    let encode = |payloads: Vec<Payload>| build_inner_chain(&payloads).map(|_| ());
    assert_eq!(
        encode(vec![Payload::Nonce(vec![0; 8])]),
        Err(EncodeError::Invalid(ParseError::NonceLength { len: 8 }))
    );
    assert_eq!(
        encode(vec![Payload::Unknown(UnknownPayload {
            payload_type: PayloadType::SA,
            body: vec![]
        })]),
        Err(EncodeError::UnknownPayloadType {
            payload: PayloadType::SA
        })
    );
    let sk = Payload::Encrypted(EncryptedPayload {
        first_inner: PayloadType::NONE,
        body: vec![],
    });
    assert_eq!(encode(vec![sk.clone()]), Err(EncodeError::NestedEncrypted));
    let message = Message {
        spi_i: [0; 8],
        spi_r: [0; 8],
        exchange_type: ExchangeType::INFORMATIONAL,
        flags: HeaderFlags::default(),
        message_id: 0,
        payloads: vec![sk, Payload::VendorId(vec![])],
    };
    assert_eq!(message.to_bytes(), Err(EncodeError::EncryptedNotLast));
    assert_eq!(
        encode(vec![Payload::Sa(SaPayload { proposals: vec![] })]),
        Err(EncodeError::Invalid(ParseError::NoProposals))
    );
    let long_spi = NotifyPayload {
        protocol: ProtocolId::ESP,
        spi: vec![0; 256],
        notify_type: NotifyType::REKEY_SA,
        data: vec![],
    };
    let error = encode(vec![Payload::Notify(long_spi)]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "notify SPI size is 256, more than its field allows (255)"
    );
    let error = encode(vec![Payload::VendorId(vec![0; 65532])]).unwrap_err();
    assert_eq!(
        error,
        EncodeError::PayloadTooLong {
            payload: PayloadType::VENDOR_ID,
            len: 65536
        }
    );
}
