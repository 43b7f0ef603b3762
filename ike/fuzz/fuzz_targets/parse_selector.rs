// SPDX-License-Identifier: GPL-2.0
//! Fuzzes the traffic selector (prefix) parser of ikeuser's configuration:
//! `cargo +nightly fuzz run parse_selector` from `ike/`. The oracle is `ikeuser::fuzz::fuzz_selector`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ikeuser::fuzz::fuzz_selector(data);
});
