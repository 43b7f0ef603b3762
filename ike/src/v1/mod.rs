// SPDX-License-Identifier: GPL-2.0
//! IKEv1 (RFC 2409) over ISAKMP (RFC 2408) with the IPsec DOI (RFC 2407): the wire format
//! ([`MessageV1`], [`PayloadBodyV1`]), its numbers ([`codes`]) and key derivation ([`keys`]).
//! What IKEv1 shares with IKEv2 (PRFs, Diffie-Hellman, SA attributes, identities, PKI) comes
//! from the rest of the crate.
//!
//! The files import each other one way: `codes.rs`, then `error.rs`, `payload.rs`,
//! `message.rs`; `keys.rs`, `ids.rs` and `suite.rs` beside them; `crypt.rs` (encryption and
//! IVs), `auth.rs` (PSK or certificates), `nat_t.rs` (RFC 3947); then the engine: its state in
//! `engine.rs`, `phase1.rs` (what both phase 1 modes share), and one file per exchange:
//! `main_mode.rs`, `aggressive_mode.rs`, `quick_mode.rs` (with `quick_payloads.rs`),
//! `informational.rs`. `tests.rs` forges messages with the keys of two engines' ISAKMP SA.

mod aggressive_mode;
mod auth;
pub mod codes;
mod crypt;
mod engine;
mod error;
mod ids;
mod informational;
pub mod keys;
mod main_mode;
mod message;
mod nat_t;
mod payload;
mod phase1;
mod quick_mode;
mod quick_payloads;
mod suite;
#[cfg(test)]
mod tests;

pub use engine::{ConfigV1, EngineV1};

pub use codes::{ExchangeV1, NotifyV1, PayloadV1};
pub use error::V1Error;
pub use message::{encode_chain, parse_chain, BodyV1, FlagsV1, MessageV1, ISAKMP_HEADER_LEN};
pub use payload::{
    DeleteV1, IdV1, NotifyPayloadV1, PayloadBodyV1, ProposalV1, SaV1, TransformV1, NONCE_V1_MAX,
    NONCE_V1_MIN,
};
