// SPDX-License-Identifier: GPL-2.0
//! Fuzzes the ISAKMP (IKEv1) message and chain parsers: `cargo +nightly fuzz run
//! parse_isakmp` from `ike/`. The oracle is `ripsec_ike::fuzz_parse_isakmp`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ripsec_ike::fuzz_parse_isakmp(data);
});
