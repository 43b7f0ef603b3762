// SPDX-License-Identifier: GPL-2.0
//! Why an ISAKMP message was rejected, in words a human can act on.

use core::fmt;

use super::codes::PayloadV1;

/// A malformed ISAKMP message or payload.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum V1Error {
    /// Shorter than the 28-byte header.
    TooShort(usize),
    /// The header's major version is not 1.
    Version(u8),
    /// The header's length field disagrees with the datagram.
    Length {
        /// The length field.
        header: u32,
        /// The datagram's size.
        datagram: usize,
    },
    /// A payload's generic header or length runs past the message.
    PayloadOverrun(PayloadV1),
    /// A payload body too short for its fixed fields.
    BodyTooShort {
        /// The payload.
        payload: PayloadV1,
        /// Its body length.
        length: usize,
        /// The minimum.
        min: usize,
    },
    /// A proposal or transform that does not parse.
    Substructure(PayloadV1, &'static str),
    /// A proposal or transform outside an SA payload.
    MisplacedPayload(PayloadV1),
    /// An SA payload for another DOI or situation.
    Situation {
        /// The DOI field.
        doi: u32,
        /// The situation field.
        situation: u32,
    },
    /// A nonce outside 8..=256 bytes.
    NonceLength(usize),
    /// A Delete payload whose SPIs do not fill it.
    DeleteSpis {
        /// SPI size.
        spi_size: u8,
        /// Number of SPIs.
        count: u16,
        /// Bytes present.
        bytes: usize,
    },
    /// Bytes after the last payload of a plaintext message.
    TrailingBytes(usize),
    /// Padding after the last payload of a decrypted message longer than a cipher block.
    Padding(usize),
    /// An encrypted message whose body is not whole cipher blocks.
    CipherBlocks(usize),
    /// Something to encode does not fit its length field.
    TooLong(&'static str),
}

impl fmt::Display for V1Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort(n) => write!(f, "{n} bytes is shorter than the 28-byte ISAKMP header"),
            Self::Version(v) => write!(f, "ISAKMP major version {v}, not 1"),
            Self::Length { header, datagram } => write!(
                f,
                "the header says {header} bytes but the datagram has {datagram}"
            ),
            Self::PayloadOverrun(p) => write!(f, "the {} payload runs past the message", p.name()),
            Self::BodyTooShort {
                payload,
                length,
                min,
            } => write!(
                f,
                "the {} payload has {length} bytes, fewer than its {min} fixed ones",
                payload.name()
            ),
            Self::Substructure(p, why) => write!(f, "malformed {}: {why}", p.name()),
            Self::MisplacedPayload(p) => {
                write!(f, "a {} payload outside an SA payload", p.name())
            }
            Self::Situation { doi, situation } => write!(
                f,
                "SA payload for DOI {doi} situation {situation}; only IPsec (1) with SIT_IDENTITY_ONLY (1) is spoken"
            ),
            Self::NonceLength(n) => write!(f, "a {n}-byte nonce; RFC 2409 allows 8 to 256"),
            Self::DeleteSpis {
                spi_size,
                count,
                bytes,
            } => write!(
                f,
                "a Delete payload with {count} SPIs of {spi_size} bytes in {bytes} bytes"
            ),
            Self::TrailingBytes(n) => write!(f, "{n} bytes after the last payload"),
            Self::Padding(n) => write!(f, "{n} bytes of padding, more than a cipher block"),
            Self::CipherBlocks(n) => {
                write!(f, "an encrypted body of {n} bytes, not whole cipher blocks")
            }
            Self::TooLong(what) => write!(f, "{what} too long to encode"),
        }
    }
}

impl std::error::Error for V1Error {}
