// SPDX-License-Identifier: GPL-2.0
//! The ISAKMP header (RFC 2408 §3.1) and payload chain (§3.2). An encrypted message keeps its
//! body as ciphertext: the caller decrypts it with the phase 1 keys and the IV of its exchange,
//! then parses the plaintext chain with [`parse_chain`], which allows the padding an encrypted
//! body ends with.

use std::ops::Range;

use super::codes::{ExchangeV1, PayloadV1, ISAKMP_MAJOR_VERSION};
use super::error::V1Error;
use super::payload::{patch_length, PayloadBodyV1};
use crate::wire::{Reader, WriteExt};

/// Size of the ISAKMP header.
pub const ISAKMP_HEADER_LEN: usize = 28;

/// AES's block: the most padding an encrypted body may end with.
pub(crate) const MAX_PADDING: usize = 16;

/// The header flags (RFC 2408 §3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlagsV1 {
    /// E: the payloads after the header are encrypted.
    pub encrypted: bool,
    /// C: commit (RFC 2408 §4.6.3); honoured by nobody deployed, kept to report it.
    pub commit: bool,
    /// A: authentication only.
    pub auth_only: bool,
}

impl FlagsV1 {
    const fn from_byte(b: u8) -> Self {
        Self {
            encrypted: b & 1 != 0,
            commit: b & 2 != 0,
            auth_only: b & 4 != 0,
        }
    }

    const fn to_byte(self) -> u8 {
        self.encrypted as u8 | (self.commit as u8) << 1 | (self.auth_only as u8) << 2
    }
}

/// The body of a message: payloads, or ciphertext to decrypt first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyV1 {
    /// Plaintext payloads.
    Payloads(Vec<PayloadBodyV1>),
    /// The encrypted payload chain (the E flag is set).
    Encrypted(Vec<u8>),
}

/// An ISAKMP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageV1 {
    /// Initiator cookie.
    pub cookie_i: [u8; 8],
    /// Responder cookie (zero in the first message).
    pub cookie_r: [u8; 8],
    /// The first payload's type (for an encrypted body, the first one inside it).
    pub next_payload: PayloadV1,
    /// Exchange type.
    pub exchange: ExchangeV1,
    /// Flags.
    pub flags: FlagsV1,
    /// Message ID (0 in phase 1).
    pub message_id: u32,
    /// Payloads or ciphertext.
    pub body: BodyV1,
}

impl MessageV1 {
    /// Parses a datagram (without the 4-byte non-ESP marker of port 4500).
    pub fn parse(datagram: &[u8]) -> Result<Self, V1Error> {
        let mut r = Reader::new(datagram);
        let (Some(cookie_i), Some(cookie_r), Some(next), Some(version)) =
            (r.array::<8>(), r.array::<8>(), r.u8(), r.u8())
        else {
            return Err(V1Error::TooShort(datagram.len()));
        };
        let (Some(exchange), Some(flags), Some(message_id), Some(length)) =
            (r.u8(), r.u8(), r.u32(), r.u32())
        else {
            return Err(V1Error::TooShort(datagram.len()));
        };
        if version >> 4 != ISAKMP_MAJOR_VERSION {
            return Err(V1Error::Version(version >> 4));
        }
        if usize::try_from(length).ok() != Some(datagram.len()) {
            return Err(V1Error::Length {
                header: length,
                datagram: datagram.len(),
            });
        }
        let flags = FlagsV1::from_byte(flags);
        let next_payload = PayloadV1(next);
        let rest = r.take_rest();
        let body = if flags.encrypted {
            if rest.is_empty() || rest.len() % MAX_PADDING != 0 {
                return Err(V1Error::CipherBlocks(rest.len()));
            }
            BodyV1::Encrypted(rest.to_vec())
        } else {
            let (payloads, trailing) = parse_chain_prefix(next_payload, rest)?;
            if trailing != 0 {
                return Err(V1Error::TrailingBytes(trailing));
            }
            BodyV1::Payloads(payloads)
        };
        Ok(Self {
            cookie_i,
            cookie_r,
            next_payload,
            exchange: ExchangeV1(exchange),
            flags,
            message_id,
            body,
        })
    }

    /// The whole datagram. An encrypted body goes out as it is; plaintext payloads are chained
    /// (and `next_payload` set from the first one).
    pub fn to_bytes(&self) -> Result<Vec<u8>, V1Error> {
        let (next, body) = match &self.body {
            BodyV1::Payloads(p) => encode_chain(p)?,
            BodyV1::Encrypted(c) => (self.next_payload, c.clone()),
        };
        let mut out = Vec::with_capacity(ISAKMP_HEADER_LEN + body.len());
        out.extend_from_slice(&self.cookie_i);
        out.extend_from_slice(&self.cookie_r);
        out.put_u8(next.0);
        out.put_u8(ISAKMP_MAJOR_VERSION << 4);
        out.put_u8(self.exchange.0);
        out.put_u8(self.flags.to_byte());
        out.put_u32(self.message_id);
        let total = ISAKMP_HEADER_LEN + body.len();
        out.put_u32(u32::try_from(total).map_err(|_| V1Error::TooLong("message"))?);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// The plaintext payloads (none for an encrypted body).
    pub fn payloads(&self) -> &[PayloadBodyV1] {
        match &self.body {
            BodyV1::Payloads(p) => p,
            BodyV1::Encrypted(_) => &[],
        }
    }
}

/// Parses a decrypted payload chain that starts with a payload of type `first`; up to a cipher
/// block of padding may follow the last payload (RFC 2409 §5.3 leaves its content open).
pub fn parse_chain(first: PayloadV1, plaintext: &[u8]) -> Result<Vec<PayloadBodyV1>, V1Error> {
    let (payloads, padding) = parse_chain_prefix(first, plaintext)?;
    if padding > MAX_PADDING {
        return Err(V1Error::Padding(padding));
    }
    Ok(payloads)
}

/// A payload of a chain: its type, where it lies (generic header included), its body.
pub(crate) type Span<'a> = (PayloadV1, Range<usize>, &'a [u8]);

/// Where each payload of a chain lies in `bytes` (generic header included), its body, and
/// how many bytes follow the last one. HASH payloads cover payloads as sent, so the engine
/// hashes these spans rather than re-encoding.
pub(crate) fn chain_spans(
    first: PayloadV1,
    bytes: &[u8],
) -> Result<(Vec<Span<'_>>, usize), V1Error> {
    let mut r = Reader::new(bytes);
    let mut kind = first;
    let mut out = Vec::new();
    while kind != PayloadV1::NONE {
        let start = bytes.len() - r.remaining();
        let (Some(next), Some(_reserved), Some(length)) = (r.u8(), r.u8(), r.u16()) else {
            return Err(V1Error::PayloadOverrun(kind));
        };
        let body = usize::from(length)
            .checked_sub(4)
            .and_then(|n| r.bytes(n))
            .ok_or(V1Error::PayloadOverrun(kind))?;
        out.push((kind, start..bytes.len() - r.remaining(), body));
        kind = PayloadV1(next);
    }
    Ok((out, r.remaining()))
}

/// The payloads of a chain, and how many bytes follow the last one.
fn parse_chain_prefix(
    first: PayloadV1,
    bytes: &[u8],
) -> Result<(Vec<PayloadBodyV1>, usize), V1Error> {
    let (spans, rest) = chain_spans(first, bytes)?;
    let payloads = spans
        .into_iter()
        .map(|(kind, _, body)| PayloadBodyV1::parse(kind, body))
        .collect::<Result<_, _>>()?;
    Ok((payloads, rest))
}

/// Chains payloads: the first one's type and the bytes.
pub fn encode_chain(payloads: &[PayloadBodyV1]) -> Result<(PayloadV1, Vec<u8>), V1Error> {
    let mut out = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let next = payloads
            .get(i + 1)
            .map_or(PayloadV1::NONE, PayloadBodyV1::payload_type);
        let start = out.len();
        out.extend_from_slice(&[next.0, 0, 0, 0]);
        p.encode(&mut out)?;
        patch_length(&mut out, start, "payload")?;
    }
    let first = payloads
        .first()
        .map_or(PayloadV1::NONE, PayloadBodyV1::payload_type);
    Ok((first, out))
}
