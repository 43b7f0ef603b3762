// SPDX-License-Identifier: GPL-2.0
//! A stable-toolchain stand-in for `fuzz/`: runs `fuzz_parse` over seed messages and 20,000
//! deterministic mutations of them (bit flips, byte writes, truncations, insertions, length
//! field tweaks). Any panic or round-trip mismatch fails the test.

mod common;

use std::net::Ipv4Addr;

use common::{ike_sa_init_request, mutate, payload_length_offsets, XorShift};
use ripsec_ike::transform_ids::*;
use ripsec_ike::*;

/// Mutations per run; `RIPSEC_IKE_FUZZ_MUTATIONS` overrides it for longer local runs.
fn mutations() -> usize {
    std::env::var("RIPSEC_IKE_FUZZ_MUTATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000)
}

fn ike_auth_inner_chain() -> Vec<Payload> {
    let ts = |a: u8| TsPayload {
        selectors: vec![
            TrafficSelector::ipv4(Ipv4Addr::new(10, a, 0, 0), Ipv4Addr::new(10, a, 0, 255)),
            TrafficSelector::ipv6("fd00::".parse().unwrap(), "fd00::ffff".parse().unwrap()),
        ],
    };
    vec![
        Payload::IdI(IdPayload::fqdn("left.example")),
        Payload::Cert(CertPayload {
            encoding: CertEncoding::X509_CERT_SIGNATURE,
            data: vec![0x30; 24],
        }),
        Payload::CertReq(CertPayload {
            encoding: CertEncoding::X509_CERT_SIGNATURE,
            data: vec![0x44; 20],
        }),
        Payload::IdR(IdPayload::ip("192.0.2.2".parse().unwrap())),
        Payload::Auth(AuthPayload {
            method: AuthMethod::DIGITAL_SIGNATURE,
            data: vec![0x5a; 40],
        }),
        Payload::Notify(NotifyPayload::new(NotifyType::INITIAL_CONTACT, vec![])),
        Payload::Notify(NotifyPayload::new(NotifyType::USE_TRANSPORT_MODE, vec![])),
        Payload::Sa(SaPayload {
            proposals: vec![
                Proposal {
                    number: 1,
                    protocol: ProtocolId::ESP,
                    spi: vec![1, 2, 3, 4],
                    transforms: vec![
                        Transform::with_key_length(TransformType::ENCR, ENCR_AES_GCM_16, 128),
                        Transform::new(TransformType::ESN, NO_ESN),
                        Transform::new(TransformType::ESN, ESN),
                    ],
                },
                Proposal {
                    number: 2,
                    protocol: ProtocolId::AH,
                    spi: vec![5, 6, 7, 8],
                    transforms: vec![Transform::new(TransformType::INTEG, AUTH_HMAC_SHA2_256_128)],
                },
            ],
        }),
        Payload::TsI(ts(1)),
        Payload::TsR(ts(2)),
    ]
}

fn informational_inner_chain() -> Vec<Payload> {
    vec![
        Payload::Delete(DeletePayload::ChildSas {
            protocol: ProtocolId::ESP,
            spis: vec![0x11223344, 0x55667788],
        }),
        Payload::Delete(DeletePayload::IkeSa),
        Payload::Ke(KePayload {
            group: DH_ECP_256,
            data: vec![9; 64],
        }),
        Payload::Nonce(vec![0x4e; 16]),
        Payload::VendorId(b"ripsec".to_vec()),
        Payload::Unknown(UnknownPayload {
            payload_type: PayloadType::CP,
            body: vec![1, 0, 0, 0, 0, 1, 0, 0],
        }),
    ]
}

fn message(exchange_type: ExchangeType, payloads: Vec<Payload>) -> Vec<u8> {
    Message {
        spi_i: [0xa1; 8],
        spi_r: [0xb2; 8],
        exchange_type,
        flags: HeaderFlags {
            initiator: true,
            ..HeaderFlags::default()
        },
        message_id: 1,
        payloads,
    }
    .to_bytes()
    .unwrap()
}

/// Seeds: whole messages, and inner chains prefixed by their first payload type (as
/// `fuzz_parse` reads them).
fn seeds() -> Vec<Vec<u8>> {
    let inner_seed = |payloads: &[Payload]| {
        let (first, bytes) = build_inner_chain(payloads).unwrap();
        [vec![first.0], bytes].concat()
    };
    let auth = ike_auth_inner_chain();
    let info = informational_inner_chain();
    let (first_inner, plaintext) = build_inner_chain(&auth).unwrap();
    let sk = Payload::Encrypted(EncryptedPayload {
        first_inner,
        body: plaintext,
    });
    vec![
        ike_sa_init_request(),
        message(ExchangeType::IKE_AUTH, auth.clone()),
        message(ExchangeType::INFORMATIONAL, info.clone()),
        message(ExchangeType::IKE_AUTH, vec![sk]),
        inner_seed(&auth),
        inner_seed(&info),
    ]
}

#[test]
fn seeds_round_trip() {
    for seed in seeds() {
        fuzz_parse(&seed);
    }
    for seed in &seeds()[..4] {
        let message = Message::parse(seed).expect("seed message parses");
        assert_eq!(
            &message.to_bytes().unwrap(),
            seed,
            "canonical seed re-encodes identically"
        );
    }
}

#[test]
fn mutated_seeds_never_panic_and_round_trip() {
    let seeds = seeds();
    let fields: Vec<Vec<usize>> = seeds
        .iter()
        .enumerate()
        .map(|(i, seed)| payload_length_offsets(seed, if i < 4 { IKE_HEADER_LEN } else { 1 }))
        .collect();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut parsed = 0usize;
    let total = mutations();
    for _ in 0..total {
        let which = rng.below(seeds.len());
        let data = mutate(&mut rng, &seeds[which], &fields[which]);
        fuzz_parse(&data);
        let as_message = Message::parse(&data).is_ok();
        let as_inner = data
            .split_first()
            .is_some_and(|(&first, rest)| parse_inner_chain(PayloadType(first), rest).is_ok());
        parsed += usize::from(as_message || as_inner);
    }
    // Mutants must not all die at the first check: a fair share still parse end to end.
    println!("{parsed} of {total} mutants parsed");
    assert!(
        parsed > total / 50,
        "only {parsed} of {total} mutants parsed"
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x0123_4567_89ab_cdef);
    for _ in 0..2_000 {
        let len = rng.below(300);
        let mut data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if data.len() >= IKE_HEADER_LEN {
            data[17] = 0x20;
            let length = (data.len() as u32).to_be_bytes();
            data[24..28].copy_from_slice(&length);
        }
        fuzz_parse(&data);
    }
}
