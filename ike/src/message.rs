// SPDX-License-Identifier: GPL-2.0
//! Whole IKE messages and payload chains (RFC 7296 §3.1, §3.2), including the plaintext chain
//! carried inside an SK payload (§3.14).

use crate::codes::{ExchangeType, NotifyType, PayloadType};
use crate::error::{EncodeError, ParseError};
use crate::header::{HeaderFlags, IkeHeader, IKE_HEADER_LEN, IKE_MAJOR_VERSION};
use crate::payload::{
    encode_body, is_parsed_type, parse_body, EncryptedPayload, NotifyPayload, Payload,
    UnknownPayload,
};
use crate::wire::{Reader, WriteExt};

/// Generic payload header: next payload, critical bit + reserved, length.
const GENERIC_HEADER_LEN: usize = 4;
/// The critical bit in the generic payload header.
const CRITICAL: u8 = 0x80;

/// A parsed IKE message. The header's Next Payload and Length fields are not stored: they
/// follow from `payloads` when encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// IKE SA initiator's SPI.
    pub spi_i: [u8; 8],
    /// IKE SA responder's SPI.
    pub spi_r: [u8; 8],
    /// Exchange type.
    pub exchange_type: ExchangeType,
    /// I/V/R flags.
    pub flags: HeaderFlags,
    /// Message ID.
    pub message_id: u32,
    /// Payloads in wire order; an SK payload, if any, is last.
    pub payloads: Vec<Payload>,
}

impl Message {
    /// Parses a whole datagram (without the 4-byte non-ESP marker used on port 4500).
    pub fn parse(datagram: &[u8]) -> Result<Self, ParseError> {
        let header = IkeHeader::parse(datagram)?;
        if usize::try_from(header.length).ok() != Some(datagram.len()) {
            return Err(ParseError::LengthMismatch {
                header: header.length,
                datagram: datagram.len(),
            });
        }
        let chain = datagram.get(IKE_HEADER_LEN..).unwrap_or_default();
        let payloads = parse_chain(header.next_payload, chain, false)?;
        Ok(Self {
            spi_i: header.spi_i,
            spi_r: header.spi_r,
            exchange_type: header.exchange_type,
            flags: header.flags,
            message_id: header.message_id,
            payloads,
        })
    }

    /// Serializes the message, computing Next Payload and Length fields.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let header = IkeHeader {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            next_payload: first_type(&self.payloads),
            major_version: IKE_MAJOR_VERSION,
            minor_version: 0,
            exchange_type: self.exchange_type,
            flags: self.flags,
            message_id: self.message_id,
            length: 0, // patched below
        };
        let mut out = header.to_bytes().to_vec();
        encode_chain(&self.payloads, &mut out, false)?;
        let length = u32::try_from(out.len()).map_err(|_| EncodeError::TooLong {
            what: "message length",
            len: out.len(),
            max: usize::try_from(u32::MAX).unwrap_or(usize::MAX),
        })?;
        out.patch_u32(24, length);
        Ok(out)
    }

    /// The SK payload, if the message has one.
    pub fn encrypted(&self) -> Option<&EncryptedPayload> {
        self.payloads.iter().find_map(|payload| match payload {
            Payload::Encrypted(sk) => Some(sk),
            _ => None,
        })
    }

    /// The Notify payloads, in order.
    pub fn notifications(&self) -> impl Iterator<Item = &NotifyPayload> {
        notifications(&self.payloads)
    }

    /// The first notification of a type.
    pub fn notification(&self, notify_type: NotifyType) -> Option<&NotifyPayload> {
        self.notifications().find(|n| n.notify_type == notify_type)
    }
}

/// The Notify payloads of a chain (e.g. a decrypted one), in order.
pub fn notifications(payloads: &[Payload]) -> impl Iterator<Item = &NotifyPayload> {
    payloads.iter().filter_map(|payload| match payload {
        Payload::Notify(notify) => Some(notify),
        _ => None,
    })
}

/// Parses the decrypted contents of an SK payload: `first` is the SK payload's
/// `first_inner`, `plaintext` the bytes left after removing IV, padding and ICV.
pub fn parse_inner_chain(first: PayloadType, plaintext: &[u8]) -> Result<Vec<Payload>, ParseError> {
    parse_chain(first, plaintext, true)
}

/// Builds the plaintext to encrypt into an SK payload: returns the type for the SK payload's
/// `first_inner` field and the serialized chain.
pub fn build_inner_chain(payloads: &[Payload]) -> Result<(PayloadType, Vec<u8>), EncodeError> {
    let mut out = Vec::new();
    encode_chain(payloads, &mut out, true)?;
    Ok((first_type(payloads), out))
}

fn first_type(payloads: &[Payload]) -> PayloadType {
    payloads
        .first()
        .map_or(PayloadType::NONE, Payload::payload_type)
}

fn parse_chain(
    first: PayloadType,
    bytes: &[u8],
    inside_sk: bool,
) -> Result<Vec<Payload>, ParseError> {
    let mut r = Reader::new(bytes);
    let mut payloads = Vec::new();
    let mut current = first;
    while current != PayloadType::NONE {
        let remaining = r.remaining();
        let (Some(next), Some(flags), Some(length)) = (r.u8(), r.u8(), r.u16()) else {
            return Err(ParseError::TruncatedPayloadHeader {
                payload: current,
                remaining,
            });
        };
        if usize::from(length) < GENERIC_HEADER_LEN {
            return Err(ParseError::PayloadLengthTooSmall {
                payload: current,
                length,
            });
        }
        let overrun = ParseError::PayloadOverrun {
            payload: current,
            length,
            remaining,
        };
        if usize::from(length) > remaining {
            return Err(overrun);
        }
        let body_len = usize::from(length).saturating_sub(GENERIC_HEADER_LEN);
        let body = r.bytes(body_len).ok_or(overrun)?;
        let next = PayloadType(next);

        if current == PayloadType::SK {
            if inside_sk {
                return Err(ParseError::NestedEncrypted);
            }
            if !r.is_empty() {
                return Err(ParseError::EncryptedNotLast {
                    trailing: r.remaining(),
                });
            }
            payloads.push(Payload::Encrypted(EncryptedPayload {
                first_inner: next,
                body: body.to_vec(),
            }));
            return Ok(payloads);
        }

        let payload = match parse_body(current, body)? {
            Some(payload) => payload,
            None if flags & CRITICAL != 0 => {
                return Err(ParseError::UnsupportedCriticalPayload { payload: current })
            }
            None => Payload::Unknown(UnknownPayload {
                payload_type: current,
                body: body.to_vec(),
            }),
        };
        payloads.push(payload);
        current = next;
    }
    if !r.is_empty() {
        return Err(ParseError::TrailingBytes {
            count: r.peek_rest().len(),
        });
    }
    Ok(payloads)
}

fn encode_chain(
    payloads: &[Payload],
    out: &mut Vec<u8>,
    inside_sk: bool,
) -> Result<(), EncodeError> {
    for (position, payload) in payloads.iter().enumerate() {
        let following = payloads.get(position.saturating_add(1));
        let next = match payload {
            Payload::Encrypted(_) if inside_sk => return Err(EncodeError::NestedEncrypted),
            Payload::Encrypted(_) if following.is_some() => {
                return Err(EncodeError::EncryptedNotLast)
            }
            Payload::Encrypted(sk) => sk.first_inner,
            Payload::Unknown(unknown) => {
                check_unknown_type(unknown.payload_type)?;
                following.map_or(PayloadType::NONE, Payload::payload_type)
            }
            _ => following.map_or(PayloadType::NONE, Payload::payload_type),
        };
        let start = out.len();
        out.put_u8(next.0);
        out.put_u8(0);
        out.put_u16(0); // length, patched below
        encode_body(payload, out)?;
        let len = out.len().saturating_sub(start);
        if out.finish_length16(start, "payload length").is_err() {
            return Err(EncodeError::PayloadTooLong {
                payload: payload.payload_type(),
                len,
            });
        }
    }
    Ok(())
}

/// `Payload::Unknown` must not carry a type the parser turns into another variant.
fn check_unknown_type(payload: PayloadType) -> Result<(), EncodeError> {
    if payload == PayloadType::NONE || payload == PayloadType::SK || is_parsed_type(payload) {
        Err(EncodeError::UnknownPayloadType { payload })
    } else {
        Ok(())
    }
}
