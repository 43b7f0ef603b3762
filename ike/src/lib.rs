// SPDX-License-Identifier: GPL-2.0
//! ripsec's IKEv2 building blocks (RFC 7296), sans I/O: strict parsing and serialization of
//! messages and payloads, key derivation, SK payload protection and Diffie-Hellman
//! ([`crypto`]), IKE identities ([`Identity`]), certificates and signatures ([`pki`]), and a
//! deterministic protocol engine ([`engine`]). No sockets, clocks or threads here: the caller
//! feeds datagrams and time in and sends what comes out.
//!
//! ```
//! use ripsec_ike::{Message, Payload};
//! # fn demo(datagram: &[u8]) -> Result<(), ripsec_ike::ParseError> {
//! let message = Message::parse(datagram)?;
//! for payload in &message.payloads {
//!     println!("{}", payload.payload_type());
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

pub mod codes;
pub mod crypto;
pub mod engine;
mod error;
mod fuzz;
mod header;
mod identity;
pub mod keys;
mod message;
mod payload;
pub mod pki;
mod sa;
mod secret;
mod traffic_selector;
pub mod transform_ids;
pub mod v1;
mod wire;

pub use codes::{
    AuthMethod, CertEncoding, ExchangeType, HashAlgorithm, IdType, NotifyType, PayloadType,
    ProtocolId, TransformType, TsType,
};
pub use error::{EncodeError, Item, ParseError};
pub use fuzz::{fuzz_parse, fuzz_parse_isakmp};
pub use header::{HeaderFlags, IkeHeader, IKE_HEADER_LEN, IKE_MAJOR_VERSION};
pub use identity::Identity;
pub use message::{build_inner_chain, notifications, parse_inner_chain, Message};
pub use payload::{
    AuthPayload, CertPayload, DeletePayload, EncryptedPayload, IdPayload, KePayload, NotifyPayload,
    Payload, UnknownPayload, NONCE_MAX_LEN, NONCE_MIN_LEN,
};
pub use sa::{Proposal, SaPayload, Transform, TransformAttribute};
pub use secret::Secret;
pub use traffic_selector::{
    prefix_pair_count, selector_pairs, AddressRange, TrafficSelector, TsPayload,
};
