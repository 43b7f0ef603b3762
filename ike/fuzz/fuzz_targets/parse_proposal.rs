// SPDX-License-Identifier: GPL-2.0
//! Fuzzes the IKE, ESP and AH proposal string parsers of ikeuser's configuration:
//! `cargo +nightly fuzz run parse_proposal` from `ike/`. The oracle is `ikeuser::fuzz::fuzz_proposal`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ikeuser::fuzz::fuzz_proposal(data);
});
