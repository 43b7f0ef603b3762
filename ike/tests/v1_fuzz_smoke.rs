// SPDX-License-Identifier: GPL-2.0
//! The ISAKMP (IKEv1) counterpart of `fuzz_smoke.rs`: `fuzz_parse_isakmp` over ike-scan's
//! messages, a chain of every payload, and 20,000 deterministic mutations of them.

mod common;

use common::{hex, mutate, payload_length_offsets, XorShift};
use ripsec_ike::fuzz_parse_isakmp;
use ripsec_ike::v1::{encode_chain, parse_chain, MessageV1, PayloadBodyV1, PayloadV1};

fn seeds() -> Vec<Vec<u8>> {
    let fixture = |name: &str| {
        let path = format!(
            "{}/tests/fixtures/ikev1/{name}.hex",
            env!("CARGO_MANIFEST_DIR")
        );
        hex(std::fs::read_to_string(path).unwrap().trim())
    };
    let chain = [
        PayloadBodyV1::Hash(vec![1; 20]),
        PayloadBodyV1::Nonce(vec![2; 16]),
        PayloadBodyV1::Ke(vec![3; 32]),
        PayloadBodyV1::VendorId(vec![4; 16]),
        PayloadBodyV1::NatD(vec![5; 20]),
    ];
    let (first, bytes) = encode_chain(&chain).unwrap();
    vec![
        fixture("main-default"),
        fixture("main-aes256-sha256-modp2048"),
        fixture("aggressive-psk"),
        [vec![first.0], bytes].concat(),
    ]
}

#[test]
fn mutated_isakmp_never_panics_and_round_trips() {
    let seeds = seeds();
    for seed in &seeds[..3] {
        fuzz_parse_isakmp(seed);
    }
    let fields: Vec<Vec<usize>> = seeds
        .iter()
        .enumerate()
        .map(|(i, s)| payload_length_offsets(s, if i < 3 { 28 } else { 1 }))
        .collect();
    let mut rng = XorShift(0x1bad_5eed_0f15_a4a9);
    let (total, mut parsed) = (20_000, 0usize);
    for _ in 0..total {
        let which = rng.below(seeds.len());
        let data = mutate(&mut rng, &seeds[which], &fields[which]);
        fuzz_parse_isakmp(&data);
        let as_chain = data
            .split_first()
            .is_some_and(|(&f, rest)| parse_chain(PayloadV1(f), rest).is_ok());
        parsed += usize::from(MessageV1::parse(&data).is_ok() || as_chain);
    }
    println!("{parsed} of {total} mutants parsed");
    assert!(
        parsed > total / 50,
        "only {parsed} of {total} mutants parsed"
    );
}
