// SPDX-License-Identifier: GPL-2.0
//! ISAKMP (IKEv1) wire format: messages of an independent implementation (ike-scan 1.9.5,
//! captured by fixtures/ikev1/capture.sh) parse to the fields it sent and encode back to the
//! same bytes; malformed input of every kind is an error, never a panic.

mod common;

use common::hex;
use ripsec_ike::v1::codes::{p1_attr, proto, DOI_IPSEC, SIT_IDENTITY_ONLY};
use ripsec_ike::v1::{
    encode_chain, parse_chain, BodyV1, DeleteV1, ExchangeV1, FlagsV1, MessageV1, NotifyPayloadV1,
    NotifyV1, PayloadBodyV1, PayloadV1, ProposalV1, SaV1, TransformV1, V1Error,
};
use ripsec_ike::TransformAttribute;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/ikev1/{name}.hex",
        env!("CARGO_MANIFEST_DIR")
    );
    hex(std::fs::read_to_string(path).unwrap().trim())
}

fn tv(attribute_type: u16, value: u16) -> TransformAttribute {
    TransformAttribute::Tv {
        attribute_type,
        value,
    }
}

fn sa_of(m: &MessageV1) -> &SaV1 {
    match m.payloads().first() {
        Some(PayloadBodyV1::Sa(sa)) => sa,
        other => panic!("first payload {other:?}"),
    }
}

#[test]
fn ike_scan_main_mode_aes256_sha256_modp2048() {
    let bytes = fixture("main-aes256-sha256-modp2048");
    let m = MessageV1::parse(&bytes).unwrap();
    assert_eq!(m.exchange, ExchangeV1::MAIN);
    assert_eq!(m.cookie_r, [0; 8]);
    assert_eq!((m.message_id, m.flags), (0, FlagsV1::default()));
    let sa = sa_of(&m);
    assert_eq!((sa.doi, sa.situation), (DOI_IPSEC, SIT_IDENTITY_ONLY));
    let p = &sa.proposals[0];
    assert_eq!((p.number, p.protocol, p.spi.len()), (1, proto::ISAKMP, 0));
    let t = &p.transforms[0];
    assert_eq!((t.number, t.id), (1, 1)); // KEY_IKE
    assert_eq!(
        t.attributes,
        vec![
            tv(p1_attr::ENCRYPTION, 7),
            tv(p1_attr::HASH, 4),
            tv(p1_attr::AUTH_METHOD, 1),
            tv(p1_attr::GROUP, 14),
            tv(p1_attr::KEY_LENGTH, 256),
            tv(p1_attr::LIFE_TYPE, 1),
            TransformAttribute::Tlv {
                attribute_type: p1_attr::LIFE_DURATION,
                value: 28800u32.to_be_bytes().to_vec(),
            },
        ]
    );
    assert_eq!(m.to_bytes().unwrap(), bytes);
}

#[test]
fn ike_scan_main_mode_defaults_offer_eight_transforms() {
    let bytes = fixture("main-default");
    let m = MessageV1::parse(&bytes).unwrap();
    let transforms = &sa_of(&m).proposals[0].transforms;
    assert_eq!(transforms.len(), 8);
    assert_eq!(
        transforms.iter().map(|t| t.number).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
    assert_eq!(m.to_bytes().unwrap(), bytes);
}

#[test]
fn ike_scan_aggressive_mode() {
    let bytes = fixture("aggressive-psk");
    let m = MessageV1::parse(&bytes).unwrap();
    assert_eq!(m.exchange, ExchangeV1::AGGRESSIVE);
    let kinds: Vec<_> = m.payloads().iter().map(|p| p.payload_type()).collect();
    assert_eq!(
        kinds,
        [
            PayloadV1::SA,
            PayloadV1::KE,
            PayloadV1::NONCE,
            PayloadV1::ID
        ]
    );
    let ke = m.payloads().iter().find_map(|p| match p {
        PayloadBodyV1::Ke(k) => Some(k.len()),
        _ => None,
    });
    assert_eq!(ke, Some(128)); // MODP-1024
    let id = m.payloads().iter().find_map(|p| match p {
        PayloadBodyV1::Id(id) => Some(id.clone()),
        _ => None,
    });
    let id = id.unwrap();
    assert_eq!(
        (id.id_type, id.data.as_slice()),
        (3, &b"ikeuser@example.com"[..])
    ); // USER_FQDN
    assert_eq!(m.to_bytes().unwrap(), bytes);
}

/// Every prefix and every one-byte change of a valid message: an error or a message, never a
/// panic; a truncated message is always an error.
#[test]
fn truncations_and_flips_never_panic() {
    for name in ["main-default", "aggressive-psk"] {
        let bytes = fixture(name);
        for len in 0..bytes.len() {
            assert!(
                MessageV1::parse(&bytes[..len]).is_err(),
                "{name} cut at {len}"
            );
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0xa5;
            let _ = MessageV1::parse(&bad);
        }
    }
}

#[test]
fn header_errors_say_what_is_wrong() {
    let mut bytes = fixture("main-aes256-sha256-modp2048");
    assert_eq!(
        MessageV1::parse(&bytes[..20]).unwrap_err().to_string(),
        "20 bytes is shorter than the 28-byte ISAKMP header"
    );
    bytes[17] = 0x20;
    assert_eq!(MessageV1::parse(&bytes).unwrap_err(), V1Error::Version(2));
    bytes[17] = 0x10;
    bytes.push(0);
    assert!(matches!(
        MessageV1::parse(&bytes).unwrap_err(),
        V1Error::Length {
            header: 88,
            datagram: 89
        }
    ));
}

fn message(payloads: Vec<PayloadBodyV1>) -> MessageV1 {
    MessageV1 {
        cookie_i: [1; 8],
        cookie_r: [2; 8],
        next_payload: PayloadV1::NONE,
        exchange: ExchangeV1::INFORMATIONAL,
        flags: FlagsV1::default(),
        message_id: 0x1234_5678,
        body: BodyV1::Payloads(payloads),
    }
}

#[test]
fn every_payload_round_trips() {
    let payloads = vec![
        PayloadBodyV1::Hash(vec![7; 20]),
        PayloadBodyV1::Sa(SaV1 {
            doi: DOI_IPSEC,
            situation: SIT_IDENTITY_ONLY,
            proposals: vec![ProposalV1 {
                number: 1,
                protocol: proto::ESP,
                spi: vec![0xc0, 1, 2, 3],
                transforms: vec![
                    TransformV1 {
                        number: 1,
                        id: 12,
                        attributes: vec![tv(6, 256), tv(5, 12)],
                    },
                    TransformV1 {
                        number: 2,
                        id: 12,
                        attributes: vec![tv(6, 128)],
                    },
                ],
            }],
        }),
        PayloadBodyV1::Nonce(vec![9; 32]),
        PayloadBodyV1::Ke(vec![5; 32]),
        PayloadBodyV1::Notify(NotifyPayloadV1 {
            doi: DOI_IPSEC,
            protocol: proto::ISAKMP,
            notify: NotifyV1::R_U_THERE,
            spi: vec![1; 16],
            data: 7u32.to_be_bytes().to_vec(),
        }),
        PayloadBodyV1::Delete(DeleteV1 {
            doi: DOI_IPSEC,
            protocol: proto::ESP,
            spi_size: 4,
            spis: vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]],
        }),
        PayloadBodyV1::VendorId(hex("4a131c81070358455c5728f20e95452f")), // RFC 3947
        PayloadBodyV1::NatD(vec![3; 20]),
        PayloadBodyV1::NatOa(1, vec![192, 0, 2, 1]),
        PayloadBodyV1::Cert(4, vec![0x30, 0]),
        PayloadBodyV1::CertRequest(4, Vec::new()),
        PayloadBodyV1::Signature(vec![8; 64]),
        PayloadBodyV1::Unknown(PayloadV1(130), vec![1, 2]),
    ];
    let m = message(payloads.clone());
    let bytes = m.to_bytes().unwrap();
    let back = MessageV1::parse(&bytes).unwrap();
    assert_eq!(back.payloads(), payloads.as_slice());
    assert_eq!(back.next_payload, PayloadV1::HASH);
    assert_eq!(back.to_bytes().unwrap(), bytes);
}

#[test]
fn decrypted_chains_may_end_in_a_block_of_padding() {
    let payloads = vec![
        PayloadBodyV1::Hash(vec![1; 20]),
        PayloadBodyV1::Nonce(vec![2; 16]),
    ];
    let (first, mut plain) = encode_chain(&payloads).unwrap();
    assert_eq!(first, PayloadV1::HASH);
    plain.extend_from_slice(&[0; 12]);
    assert_eq!(parse_chain(first, &plain).unwrap(), payloads);
    plain.extend_from_slice(&[0; 8]);
    assert_eq!(
        parse_chain(first, &plain).unwrap_err(),
        V1Error::Padding(20)
    );
    // A plaintext message takes no bytes after its last payload.
    let mut bytes = message(payloads).to_bytes().unwrap();
    bytes.push(0);
    let len = bytes.len() as u32;
    bytes[24..28].copy_from_slice(&len.to_be_bytes());
    assert_eq!(
        MessageV1::parse(&bytes).unwrap_err(),
        V1Error::TrailingBytes(1)
    );
}

#[test]
fn an_encrypted_body_is_whole_blocks_and_kept_as_ciphertext() {
    let mut m = message(Vec::new());
    m.flags.encrypted = true;
    m.next_payload = PayloadV1::HASH;
    m.body = BodyV1::Encrypted(vec![0xee; 48]);
    let bytes = m.to_bytes().unwrap();
    let back = MessageV1::parse(&bytes).unwrap();
    assert_eq!(back, m);
    m.body = BodyV1::Encrypted(vec![0xee; 47]);
    assert_eq!(
        MessageV1::parse(&m.to_bytes().unwrap()).unwrap_err(),
        V1Error::CipherBlocks(47)
    );
}

#[test]
fn payload_errors_say_what_is_wrong() {
    let parse = |p: PayloadBodyV1| MessageV1::parse(&message(vec![p]).to_bytes().unwrap());
    assert_eq!(
        parse(PayloadBodyV1::Nonce(vec![1; 4]))
            .unwrap_err()
            .to_string(),
        "a 4-byte nonce; RFC 2409 allows 8 to 256"
    );
    let delete = DeleteV1 {
        doi: DOI_IPSEC,
        protocol: proto::ESP,
        spi_size: 4,
        spis: vec![vec![1; 4]],
    };
    let mut bytes = message(vec![PayloadBodyV1::Delete(delete)])
        .to_bytes()
        .unwrap();
    bytes[28 + 4 + 7] = 2; // two SPIs announced, one present
    assert_eq!(
        MessageV1::parse(&bytes).unwrap_err().to_string(),
        "a Delete payload with 2 SPIs of 4 bytes in 4 bytes"
    );
    let sa = SaV1 {
        doi: 2,
        situation: SIT_IDENTITY_ONLY,
        proposals: Vec::new(),
    };
    assert!(parse(PayloadBodyV1::Sa(sa))
        .unwrap_err()
        .to_string()
        .contains("only IPsec (1) with SIT_IDENTITY_ONLY (1)"));
    // A proposal claiming two transforms with one present.
    let mut bytes = fixture("main-aes256-sha256-modp2048");
    bytes[28 + 12 + 4 + 3] = 2; // header, SA header + DOI + situation, proposal header
    assert_eq!(
        MessageV1::parse(&bytes).unwrap_err().to_string(),
        "malformed P: transform count differs from the transforms present"
    );
}
