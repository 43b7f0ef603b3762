// SPDX-License-Identifier: GPL-2.0
//! Every payload type: its body encodes to the RFC 7296 layout written out by hand, and the
//! payload survives a round trip both as an inner (SK) chain and inside a message.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::hex;
use ripsec_ike::transform_ids::*;
use ripsec_ike::*;

/// Checks the body layout, then round trips `payload` alone and between two other payloads.
fn assert_round_trip(payload: Payload, expected_body: &str) {
    let body = hex(expected_body);
    assert_eq!(payload.body_bytes().expect("encodes"), body, "{payload:?}");

    let (first, chain) = build_inner_chain(std::slice::from_ref(&payload)).expect("chain");
    assert_eq!(first, payload.payload_type());
    let mut expected_chain = vec![0, 0];
    expected_chain.extend_from_slice(&u16::try_from(body.len() + 4).unwrap().to_be_bytes());
    expected_chain.extend_from_slice(&body);
    assert_eq!(chain, expected_chain, "generic header + body");
    assert_eq!(parse_inner_chain(first, &chain), Ok(vec![payload.clone()]));

    let message = Message {
        spi_i: [7; 8],
        spi_r: [8; 8],
        exchange_type: ExchangeType::INFORMATIONAL,
        flags: HeaderFlags::default(),
        message_id: 0x01020304,
        payloads: vec![
            Payload::VendorId(b"before".to_vec()),
            payload,
            Payload::VendorId(b"after".to_vec()),
        ],
    };
    let bytes = message.to_bytes().expect("message encodes");
    assert_eq!(Message::parse(&bytes), Ok(message));
}

#[test]
fn sa_with_two_proposals_and_attributes() {
    let sa = SaPayload {
        proposals: vec![
            Proposal {
                number: 1,
                protocol: ProtocolId::ESP,
                spi: vec![0x12, 0x34, 0x56, 0x78],
                transforms: vec![
                    Transform::with_key_length(TransformType::ENCR, ENCR_AES_GCM_16, 256),
                    Transform::new(TransformType::ESN, ESN),
                ],
            },
            Proposal {
                number: 2,
                protocol: ProtocolId::ESP,
                spi: vec![0x12, 0x34, 0x56, 0x78],
                transforms: vec![
                    Transform::new(TransformType::ENCR, ENCR_CHACHA20_POLY1305),
                    Transform {
                        transform_type: TransformType::INTEG,
                        id: AUTH_HMAC_SHA2_256_128,
                        attributes: vec![TransformAttribute::Tlv {
                            attribute_type: 99,
                            value: vec![0xaa, 0xbb],
                        }],
                    },
                ],
            },
        ],
    };
    assert_round_trip(
        Payload::Sa(sa),
        "02 00 0020 01 03 04 02 12345678 \
           03 00 000c 01 00 0014 800e 0100 \
           00 00 0008 05 00 0001 \
         00 00 0022 02 03 04 02 12345678 \
           03 00 0008 01 00 001c \
           00 00 000e 03 00 000c 0063 0002 aabb",
    );
}

#[test]
fn sa_for_ike_rekey_carries_8_byte_spi() {
    let sa = SaPayload {
        proposals: vec![Proposal {
            number: 1,
            protocol: ProtocolId::IKE,
            spi: vec![1, 2, 3, 4, 5, 6, 7, 8],
            transforms: vec![Transform::new(TransformType::DH, DH_ECP_256)],
        }],
    };
    assert_round_trip(
        Payload::Sa(sa),
        "00 00 0018 01 01 08 01 0102030405060708 00 00 0008 04 00 0013",
    );
}

#[test]
fn ke() {
    let ke = KePayload {
        group: DH_CURVE_25519,
        data: (0..32).collect(),
    };
    assert_round_trip(
        Payload::Ke(ke),
        "001f 0000 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    );
    let unknown_group = KePayload {
        group: 1234,
        data: vec![1, 2, 3],
    };
    assert_round_trip(Payload::Ke(unknown_group), "04d2 0000 010203");
}

#[test]
fn identities() {
    let v4 = IdPayload::ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
    assert_round_trip(Payload::IdI(v4), "01 000000 c0000207");
    let v6 = IdPayload::ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert_round_trip(
        Payload::IdR(v6.clone()),
        "05 000000 00000000000000000000000000000001",
    );
    assert_eq!(v6.ip_address(), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    assert_round_trip(
        Payload::IdI(IdPayload::fqdn("vpn.example")),
        "02 000000 76706e2e6578616d706c65",
    );
    let email = IdPayload {
        id_type: IdType::RFC822_ADDR,
        data: b"a@b.c".to_vec(),
    };
    assert_round_trip(Payload::IdR(email), "03 000000 6140622e63");
    let key_id = IdPayload {
        id_type: IdType::KEY_ID,
        data: vec![0xde, 0xad],
    };
    assert_round_trip(Payload::IdI(key_id), "0b 000000 dead");
}

#[test]
fn cert_and_certreq() {
    let cert = CertPayload {
        encoding: CertEncoding::X509_CERT_SIGNATURE,
        data: vec![0x30, 0x82, 0x01, 0x00],
    };
    assert_round_trip(Payload::Cert(cert), "04 30820100");
    let request = CertPayload {
        encoding: CertEncoding::X509_CERT_SIGNATURE,
        data: vec![0x11; 20],
    };
    assert_round_trip(
        Payload::CertReq(request),
        "04 1111111111111111111111111111111111111111",
    );
}

#[test]
fn auth_methods() {
    for (method, code) in [
        (AuthMethod::RSA_DIGITAL_SIGNATURE, "01"),
        (AuthMethod::SHARED_KEY_MIC, "02"),
        (AuthMethod::DIGITAL_SIGNATURE, "0e"),
    ] {
        let auth = AuthPayload {
            method,
            data: vec![0x99; 3],
        };
        assert_round_trip(Payload::Auth(auth), &format!("{code} 000000 999999"));
    }
}

#[test]
fn nonce_limits() {
    assert_round_trip(Payload::Nonce(vec![0x42; 16]), &"42".repeat(16));
    assert_round_trip(Payload::Nonce(vec![0x43; 256]), &"43".repeat(256));
}

#[test]
fn notify_with_and_without_spi() {
    let cookie = NotifyPayload::new(NotifyType::COOKIE, vec![0xc0; 8]);
    assert_round_trip(Payload::Notify(cookie), "00 00 4006 c0c0c0c0c0c0c0c0");
    let invalid_ke = NotifyPayload::new(NotifyType::INVALID_KE_PAYLOAD, vec![0x00, 0x13]);
    assert_round_trip(Payload::Notify(invalid_ke), "00 00 0011 0013");
    let rekey = NotifyPayload {
        protocol: ProtocolId::ESP,
        spi: vec![0xaa, 0xbb, 0xcc, 0xdd],
        notify_type: NotifyType::REKEY_SA,
        data: vec![],
    };
    assert_round_trip(Payload::Notify(rekey), "03 04 4009 aabbccdd");
    let private_use = NotifyPayload::new(NotifyType(40000), vec![1]);
    assert_round_trip(Payload::Notify(private_use), "00 00 9c40 01");
}

#[test]
fn delete() {
    assert_round_trip(Payload::Delete(DeletePayload::IkeSa), "01 00 0000");
    let children = DeletePayload::ChildSas {
        protocol: ProtocolId::ESP,
        spis: vec![0x01020304, 0xa0b0c0d0],
    };
    assert_round_trip(Payload::Delete(children), "03 04 0002 01020304 a0b0c0d0");
    let ah = DeletePayload::ChildSas {
        protocol: ProtocolId::AH,
        spis: vec![],
    };
    assert_round_trip(Payload::Delete(ah), "02 04 0000");
}

#[test]
fn vendor_id() {
    assert_round_trip(Payload::VendorId(vec![]), "");
    assert_round_trip(Payload::VendorId(b"ripsec".to_vec()), "726970736563");
}

#[test]
fn traffic_selectors() {
    let web = TrafficSelector {
        ip_protocol: 6,
        start_port: 443,
        end_port: 443,
        addresses: AddressRange::V4 {
            start: Ipv4Addr::new(10, 0, 0, 0),
            end: Ipv4Addr::new(10, 0, 255, 255),
        },
    };
    let any_v6 = TrafficSelector::ipv6(Ipv6Addr::UNSPECIFIED, Ipv6Addr::from([0xff; 16]));
    assert_eq!(any_v6.ts_type(), TsType::IPV6_ADDR_RANGE);
    let ts = TsPayload {
        selectors: vec![web, any_v6],
    };
    let body = "02 000000 \
                07 06 0010 01bb 01bb 0a000000 0a00ffff \
                08 00 0028 0000 ffff 00000000000000000000000000000000 \
                ffffffffffffffffffffffffffffffff";
    assert_round_trip(Payload::TsI(ts.clone()), body);
    assert_round_trip(Payload::TsR(ts), body);
}

#[test]
fn encrypted_is_opaque_and_last() {
    let sk = EncryptedPayload {
        first_inner: PayloadType::IDI,
        body: vec![0xee; 40],
    };
    let message = Message {
        spi_i: [1; 8],
        spi_r: [2; 8],
        exchange_type: ExchangeType::IKE_AUTH,
        flags: HeaderFlags::default(),
        message_id: 1,
        payloads: vec![
            Payload::VendorId(b"x".to_vec()),
            Payload::Encrypted(sk.clone()),
        ],
    };
    let bytes = message.to_bytes().expect("encodes");
    assert_eq!(bytes[28], 46, "VID points to SK");
    assert_eq!(
        bytes[28 + 5],
        35,
        "SK's next payload is its first inner payload"
    );
    assert_eq!(Message::parse(&bytes), Ok(message));
    assert_eq!(Payload::Encrypted(sk).body_bytes().unwrap(), vec![0xee; 40]);
}

#[test]
fn unknown_payload_is_kept() {
    let config = Payload::Unknown(UnknownPayload {
        payload_type: PayloadType::CP,
        body: vec![1, 2, 3, 4],
    });
    assert_round_trip(config, "01020304");
    let unassigned = Payload::Unknown(UnknownPayload {
        payload_type: PayloadType(200),
        body: vec![],
    });
    assert_round_trip(unassigned, "");
}
