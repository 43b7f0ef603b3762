// SPDX-License-Identifier: GPL-2.0
//! Fuzzes ikeuser's configuration file parser (TOML and every check after it):
//! `cargo +nightly fuzz run parse_config` from `ike/`. The oracle is `ikeuser::fuzz::fuzz_config`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ikeuser::fuzz::fuzz_config(data);
});
