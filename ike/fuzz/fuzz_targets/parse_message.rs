// SPDX-License-Identifier: GPL-2.0
//! Fuzzes the IKEv2 message and inner-chain parsers: `cargo +nightly fuzz run parse_message`
//! from `ike/`. The oracle (no panic, exact round trip) is `ripsec_ike::fuzz_parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ripsec_ike::fuzz_parse(data);
});
