// SPDX-License-Identifier: GPL-2.0
//! The fuzzing oracles shared by `fuzz/fuzz_targets/` and the `tests/*fuzz_smoke.rs` tests.

use crate::codes::PayloadType;
use crate::message::{build_inner_chain, parse_inner_chain, Message};

/// Parses `data` as a message and, with its first byte as the first payload type, the rest
/// as a decrypted SK chain. Whatever parses must re-encode and parse back to the same value.
/// Panics only when that property fails (or the parser itself panics).
#[allow(clippy::expect_used, clippy::panic)]
pub fn fuzz_parse(data: &[u8]) {
    if let Ok(message) = Message::parse(data) {
        let bytes = message.to_bytes().expect("a parsed message must re-encode");
        let again = Message::parse(&bytes).expect("a re-encoded message must parse");
        assert_eq!(message, again, "message changed in a round trip");
    }
    if let Some((&first, plaintext)) = data.split_first() {
        if let Ok(payloads) = parse_inner_chain(PayloadType(first), plaintext) {
            let (first, bytes) =
                build_inner_chain(&payloads).expect("a parsed inner chain must re-encode");
            let again =
                parse_inner_chain(first, &bytes).expect("a re-encoded inner chain must parse");
            assert_eq!(payloads, again, "inner chain changed in a round trip");
        }
    }
}

/// [`fuzz_parse`] for ISAKMP (IKEv1): `data` as a message, and (first byte as the first
/// payload type) the rest as a decrypted chain; whatever parses round-trips to the same value.
#[allow(clippy::expect_used, clippy::panic)]
pub fn fuzz_parse_isakmp(data: &[u8]) {
    use crate::v1::{encode_chain, parse_chain, MessageV1, PayloadV1};
    if let Ok(message) = MessageV1::parse(data) {
        let bytes = message
            .to_bytes()
            .expect("a parsed ISAKMP message must re-encode");
        let again = MessageV1::parse(&bytes).expect("a re-encoded ISAKMP message must parse");
        assert_eq!(message, again, "ISAKMP message changed in a round trip");
    }
    if let Some((&first, plaintext)) = data.split_first() {
        if let Ok(payloads) = parse_chain(PayloadV1(first), plaintext) {
            let (first, bytes) = encode_chain(&payloads).expect("a parsed chain must re-encode");
            let again = parse_chain(first, &bytes).expect("a re-encoded chain must parse");
            assert_eq!(payloads, again, "ISAKMP chain changed in a round trip");
        }
    }
}
