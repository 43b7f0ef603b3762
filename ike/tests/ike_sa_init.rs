// SPDX-License-Identifier: GPL-2.0
//! Whole messages: a hand-assembled IKE_SA_INIT request, a response built from values, and an
//! IKE_AUTH request whose SK contents are built and parsed as an inner chain.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::{hex, ike_sa_init_request};
use ripsec_ike::transform_ids::*;
use ripsec_ike::*;

#[test]
fn hand_assembled_request_parses_and_reserializes_identically() {
    let bytes = ike_sa_init_request();
    let message = Message::parse(&bytes).expect("parses");

    assert_eq!(message.spi_i, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(message.spi_r, [0; 8]);
    assert_eq!(message.exchange_type, ExchangeType::IKE_SA_INIT);
    assert_eq!(
        message.flags,
        HeaderFlags {
            initiator: true,
            version: false,
            response: false
        }
    );
    assert_eq!(message.message_id, 0);

    let types: Vec<PayloadType> = message.payloads.iter().map(Payload::payload_type).collect();
    assert_eq!(
        types,
        [
            PayloadType::SA,
            PayloadType::KE,
            PayloadType::NONCE,
            PayloadType::NOTIFY,
            PayloadType::NOTIFY,
            PayloadType::NOTIFY,
            PayloadType::VENDOR_ID
        ]
    );

    let Payload::Sa(sa) = &message.payloads[0] else {
        panic!("first payload is SA")
    };
    let [proposal] = sa.proposals.as_slice() else {
        panic!("one proposal")
    };
    assert_eq!(proposal.number, 1);
    assert_eq!(proposal.protocol, ProtocolId::IKE);
    assert!(proposal.spi.is_empty());
    let names: Vec<String> = proposal.transforms.iter().map(Transform::name).collect();
    assert_eq!(
        names,
        ["AES_GCM_16_256", "PRF_HMAC_SHA2_256", "CURVE_25519"]
    );
    assert_eq!(proposal.transforms[0].key_length(), Some(256));

    let Payload::Ke(ke) = &message.payloads[1] else {
        panic!("KE")
    };
    assert_eq!(ke.group, DH_CURVE_25519);
    assert_eq!(ke.data, vec![0x20; 32]);
    assert_eq!(message.payloads[2], Payload::Nonce(vec![0x4e; 32]));
    let nat_source = message
        .notification(NotifyType::NAT_DETECTION_SOURCE_IP)
        .expect("NAT_D source");
    assert_eq!(nat_source.data, vec![0x53; 20]);
    assert!(nat_source.spi.is_empty());
    let hashes = message
        .notification(NotifyType::SIGNATURE_HASH_ALGORITHMS)
        .expect("SIGNATURE_HASH_ALGORITHMS");
    assert_eq!(hashes.notify_type, NotifyType(16431));
    assert_eq!(hashes.data, hex("0002 0003 0004"));
    assert_eq!(
        message.payloads[6],
        Payload::VendorId(b"ripsec-ike-test!".to_vec())
    );

    assert_eq!(message.to_bytes().expect("encodes"), bytes);
}

#[test]
fn header_can_be_read_alone() {
    let bytes = ike_sa_init_request();
    let header = IkeHeader::parse(&bytes).expect("header");
    assert_eq!(header.next_payload, PayloadType::SA);
    assert_eq!(header.length, 234);
    assert_eq!(header.major_version, 2);
    assert_eq!(header.to_bytes().as_slice(), &bytes[..IKE_HEADER_LEN]);
}

fn response() -> Message {
    Message {
        spi_i: [1, 2, 3, 4, 5, 6, 7, 8],
        spi_r: [9, 10, 11, 12, 13, 14, 15, 16],
        exchange_type: ExchangeType::IKE_SA_INIT,
        flags: HeaderFlags {
            initiator: false,
            version: false,
            response: true,
        },
        message_id: 0,
        payloads: vec![
            Payload::Sa(SaPayload {
                proposals: vec![Proposal {
                    number: 3, // the accepted proposal keeps its number
                    protocol: ProtocolId::IKE,
                    spi: Vec::new(),
                    transforms: vec![
                        Transform::with_key_length(TransformType::ENCR, ENCR_AES_CBC, 128),
                        Transform::new(TransformType::PRF, PRF_HMAC_SHA2_512),
                        Transform::new(TransformType::INTEG, AUTH_HMAC_SHA2_512_256),
                        Transform::new(TransformType::DH, DH_MODP_2048),
                    ],
                }],
            }),
            Payload::Ke(KePayload {
                group: DH_MODP_2048,
                data: vec![0xab; 256],
            }),
            Payload::Nonce(vec![0x11; 48]),
            Payload::CertReq(CertPayload {
                encoding: CertEncoding::X509_CERT_SIGNATURE,
                data: vec![0x22; 40],
            }),
            Payload::Notify(NotifyPayload::new(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                vec![],
            )),
        ],
    }
}

#[test]
fn response_round_trips() {
    let message = response();
    let bytes = message.to_bytes().expect("encodes");
    assert_eq!(bytes[16], 33, "header next payload is SA");
    assert_eq!(bytes[19], 0x20, "R flag");
    assert_eq!(
        u32::from_be_bytes(bytes[24..28].try_into().unwrap()) as usize,
        bytes.len()
    );
    assert_eq!(Message::parse(&bytes).expect("parses"), message);
}

#[test]
fn ike_auth_with_encrypted_inner_chain() {
    let inner = vec![
        Payload::IdI(IdPayload::ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))),
        Payload::Auth(AuthPayload {
            method: AuthMethod::SHARED_KEY_MIC,
            data: vec![0x5a; 32],
        }),
        Payload::Sa(SaPayload {
            proposals: vec![Proposal {
                number: 1,
                protocol: ProtocolId::ESP,
                spi: vec![0xc0, 0x01, 0xd0, 0x0d],
                transforms: vec![
                    Transform::with_key_length(TransformType::ENCR, ENCR_AES_GCM_16, 256),
                    Transform::new(TransformType::ESN, NO_ESN),
                ],
            }],
        }),
        Payload::TsI(TsPayload {
            selectors: vec![TrafficSelector::ipv4(
                Ipv4Addr::new(10, 1, 0, 0),
                Ipv4Addr::new(10, 1, 0, 255),
            )],
        }),
        Payload::TsR(TsPayload {
            selectors: vec![TrafficSelector::ipv4(
                Ipv4Addr::new(10, 2, 0, 0),
                Ipv4Addr::new(10, 2, 0, 255),
            )],
        }),
    ];
    let (first_inner, plaintext) = build_inner_chain(&inner).expect("inner chain");
    assert_eq!(first_inner, PayloadType::IDI);

    // A real engine encrypts `plaintext`; the body stays opaque to the parser either way.
    let mut body = vec![0xee; 8]; // IV
    body.extend_from_slice(&plaintext);
    body.extend_from_slice(&[0xcc; 16]); // ICV
    let message = Message {
        spi_i: [1; 8],
        spi_r: [2; 8],
        exchange_type: ExchangeType::IKE_AUTH,
        flags: HeaderFlags {
            initiator: true,
            ..HeaderFlags::default()
        },
        message_id: 1,
        payloads: vec![Payload::Encrypted(EncryptedPayload { first_inner, body })],
    };
    let bytes = message.to_bytes().expect("encodes");
    assert_eq!(bytes[16], 46, "header next payload is SK");
    assert_eq!(bytes[28], 35, "SK next payload is IDi");

    let parsed = Message::parse(&bytes).expect("parses");
    assert_eq!(parsed, message);
    let sk = parsed.encrypted().expect("SK");
    let decrypted = &sk.body[8..sk.body.len() - 16];
    let payloads = parse_inner_chain(sk.first_inner, decrypted).expect("inner parses");
    assert_eq!(payloads, inner);
    let Payload::IdI(id) = &payloads[0] else {
        panic!("IDi")
    };
    assert_eq!(
        id.ip_address(),
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
    );
}

#[test]
fn empty_informational_is_a_valid_liveness_check() {
    let (first, plaintext) = build_inner_chain(&[]).expect("empty chain");
    assert_eq!(first, PayloadType::NONE);
    assert!(plaintext.is_empty());
    assert_eq!(parse_inner_chain(PayloadType::NONE, &[]), Ok(vec![]));
}
