// SPDX-License-Identifier: GPL-2.0
//! The fixed 28-byte IKE header (RFC 7296 §3.1).

use crate::codes::{ExchangeType, PayloadType};
use crate::error::ParseError;
use crate::wire::Reader;

/// Size of the IKE header.
pub const IKE_HEADER_LEN: usize = 28;

/// IKE major version this crate speaks.
pub const IKE_MAJOR_VERSION: u8 = 2;

/// The header flags. Other bits are ignored on receipt and sent as zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HeaderFlags {
    /// I: sent by the original initiator of the IKE SA.
    pub initiator: bool,
    /// V: the sender can speak a higher major version.
    pub version: bool,
    /// R: this message is a response.
    pub response: bool,
}

impl HeaderFlags {
    const INITIATOR: u8 = 0x08;
    const VERSION: u8 = 0x10;
    const RESPONSE: u8 = 0x20;

    /// Decodes the flags octet, ignoring reserved bits.
    pub const fn from_byte(byte: u8) -> Self {
        Self {
            initiator: byte & Self::INITIATOR != 0,
            version: byte & Self::VERSION != 0,
            response: byte & Self::RESPONSE != 0,
        }
    }

    /// Encodes the flags octet.
    pub const fn to_byte(self) -> u8 {
        (if self.initiator { Self::INITIATOR } else { 0 })
            | (if self.version { Self::VERSION } else { 0 })
            | (if self.response { Self::RESPONSE } else { 0 })
    }
}

/// The IKE header as it appears on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IkeHeader {
    /// IKE SA initiator's SPI.
    pub spi_i: [u8; 8],
    /// IKE SA responder's SPI (zero in the first IKE_SA_INIT request).
    pub spi_r: [u8; 8],
    /// Type of the first payload.
    pub next_payload: PayloadType,
    /// Major version (always 2 after a successful parse).
    pub major_version: u8,
    /// Minor version (ignored on receipt; sent as 0).
    pub minor_version: u8,
    /// Exchange type.
    pub exchange_type: ExchangeType,
    /// I/V/R flags.
    pub flags: HeaderFlags,
    /// Message ID.
    pub message_id: u32,
    /// Total message length, header included.
    pub length: u32,
}

impl IkeHeader {
    /// Reads the header at the start of `datagram`: checks its size and major version, but
    /// not the Length field (see [`crate::Message::parse`]). Lets an engine find the IKE SA
    /// before parsing the payloads.
    pub fn parse(datagram: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(datagram);
        let (
            Some(spi_i),
            Some(spi_r),
            Some(next_payload),
            Some(version),
            Some(exchange_type),
            Some(flags),
            Some(message_id),
            Some(length),
        ) = (
            r.array::<8>(),
            r.array::<8>(),
            r.u8(),
            r.u8(),
            r.u8(),
            r.u8(),
            r.u32(),
            r.u32(),
        )
        else {
            return Err(ParseError::MessageTooShort {
                len: datagram.len(),
            });
        };
        let major_version = version >> 4;
        if major_version != IKE_MAJOR_VERSION {
            return Err(ParseError::UnsupportedVersion {
                major: major_version,
            });
        }
        Ok(Self {
            spi_i,
            spi_r,
            next_payload: PayloadType(next_payload),
            major_version,
            minor_version: version & 0x0f,
            exchange_type: ExchangeType(exchange_type),
            flags: HeaderFlags::from_byte(flags),
            message_id,
            length,
        })
    }

    /// The 28 header bytes, fields written as they are.
    pub fn to_bytes(&self) -> [u8; IKE_HEADER_LEN] {
        let version = (self.major_version << 4) | (self.minor_version & 0x0f);
        let middle = [
            self.next_payload.0,
            version,
            self.exchange_type.0,
            self.flags.to_byte(),
        ];
        let message_id = self.message_id.to_be_bytes();
        let length = self.length.to_be_bytes();
        let fields = [&self.spi_i[..], &self.spi_r, &middle, &message_id, &length];
        let mut out = [0u8; IKE_HEADER_LEN];
        for (slot, byte) in out.iter_mut().zip(fields.into_iter().flatten()) {
            *slot = *byte;
        }
        out
    }
}
