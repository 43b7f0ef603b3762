// SPDX-License-Identifier: GPL-2.0
//! Payload bodies (RFC 7296 §3.3-§3.14): everything after the 4-byte generic payload header.
//! The chain itself (next payload, length, critical bit) lives in `message.rs`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::codes::{AuthMethod, CertEncoding, IdType, NotifyType, PayloadType, ProtocolId};
use crate::error::{EncodeError, ParseError};
use crate::sa::{check_spi_size, encode_sa, parse_sa, SaPayload};
use crate::traffic_selector::{encode_ts, parse_ts, TsPayload};
use crate::transform_ids::dh_public_value_len;
use crate::wire::{u16_field, u8_field, Reader, WriteExt};

/// Smallest nonce (RFC 7296 §3.9).
pub const NONCE_MIN_LEN: usize = 16;
/// Largest nonce (RFC 7296 §3.9).
pub const NONCE_MAX_LEN: usize = 256;

/// One payload of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// SA (33).
    Sa(SaPayload),
    /// KE (34).
    Ke(KePayload),
    /// IDi (35).
    IdI(IdPayload),
    /// IDr (36).
    IdR(IdPayload),
    /// CERT (37).
    Cert(CertPayload),
    /// CERTREQ (38): `data` holds the concatenated CA key hashes for X.509.
    CertReq(CertPayload),
    /// AUTH (39).
    Auth(AuthPayload),
    /// Nonce (40): 16 to 256 bytes.
    Nonce(Vec<u8>),
    /// Notify (41).
    Notify(NotifyPayload),
    /// Delete (42).
    Delete(DeletePayload),
    /// Vendor ID (43).
    VendorId(Vec<u8>),
    /// TSi (44).
    TsI(TsPayload),
    /// TSr (45).
    TsR(TsPayload),
    /// SK (46): must be the last payload of the message.
    Encrypted(EncryptedPayload),
    /// A payload type this crate does not parse, not marked critical.
    Unknown(UnknownPayload),
}

/// KE payload (RFC 7296 §3.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KePayload {
    /// DH group (see `transform_ids::DH_*`).
    pub group: u16,
    /// Public value; its size must match known groups.
    pub data: Vec<u8>,
}

/// IDi/IDr payload (RFC 7296 §3.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdPayload {
    /// Identification type.
    pub id_type: IdType,
    /// Identification data: 4 or 16 bytes for addresses, text for FQDN/RFC822, opaque for KEY_ID.
    pub data: Vec<u8>,
}

/// CERT or CERTREQ payload (RFC 7296 §3.6, §3.7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertPayload {
    /// Certificate encoding.
    pub encoding: CertEncoding,
    /// Certificate data, or CA hashes in a CERTREQ.
    pub data: Vec<u8>,
}

/// AUTH payload (RFC 7296 §3.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthPayload {
    /// Authentication method.
    pub method: AuthMethod,
    /// Signature or MAC (for method 14, preceded by the AlgorithmIdentifier, RFC 7427).
    pub data: Vec<u8>,
}

/// Notify payload (RFC 7296 §3.10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyPayload {
    /// Protocol of the SA named by `spi` (zero and ignored when `spi` is empty).
    pub protocol: ProtocolId,
    /// SPI of the SA concerned, often empty.
    pub spi: Vec<u8>,
    /// Notify message type.
    pub notify_type: NotifyType,
    /// Notification data.
    pub data: Vec<u8>,
}

/// Delete payload (RFC 7296 §3.11).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeletePayload {
    /// Deletes the IKE SA the message belongs to (protocol IKE, no SPIs).
    IkeSa,
    /// Deletes Child SAs by their inbound SPIs, as seen by the sender.
    ChildSas {
        /// AH or ESP.
        protocol: ProtocolId,
        /// 4-byte SPIs.
        spis: Vec<u32>,
    },
}

/// SK payload (RFC 7296 §3.14), still encrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptedPayload {
    /// Type of the first payload inside (the SK header's Next Payload field).
    pub first_inner: PayloadType,
    /// IV, ciphertext, padding and ICV, as opaque bytes.
    pub body: Vec<u8>,
}

/// A payload of a type this crate does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownPayload {
    /// Its type.
    pub payload_type: PayloadType,
    /// Its body.
    pub body: Vec<u8>,
}

impl Payload {
    /// The payload's type number.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SA,
            Payload::Ke(_) => PayloadType::KE,
            Payload::IdI(_) => PayloadType::IDI,
            Payload::IdR(_) => PayloadType::IDR,
            Payload::Cert(_) => PayloadType::CERT,
            Payload::CertReq(_) => PayloadType::CERTREQ,
            Payload::Auth(_) => PayloadType::AUTH,
            Payload::Nonce(_) => PayloadType::NONCE,
            Payload::Notify(_) => PayloadType::NOTIFY,
            Payload::Delete(_) => PayloadType::DELETE,
            Payload::VendorId(_) => PayloadType::VENDOR_ID,
            Payload::TsI(_) => PayloadType::TSI,
            Payload::TsR(_) => PayloadType::TSR,
            Payload::Encrypted(_) => PayloadType::SK,
            Payload::Unknown(unknown) => unknown.payload_type,
        }
    }

    /// The body bytes (without the generic header), e.g. for the AUTH computation over
    /// "RestOfIDPayload" (RFC 7296 §2.15).
    pub fn body_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        encode_body(self, &mut out)?;
        Ok(out)
    }
}

impl IdPayload {
    /// An IPV4_ADDR or IPV6_ADDR identity.
    pub fn ip(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Self {
                id_type: IdType::IPV4_ADDR,
                data: v4.octets().to_vec(),
            },
            IpAddr::V6(v6) => Self {
                id_type: IdType::IPV6_ADDR,
                data: v6.octets().to_vec(),
            },
        }
    }

    /// An FQDN identity.
    pub fn fqdn(name: &str) -> Self {
        Self {
            id_type: IdType::FQDN,
            data: name.as_bytes().to_vec(),
        }
    }

    /// The address of an IPV4_ADDR or IPV6_ADDR identity.
    pub fn ip_address(&self) -> Option<IpAddr> {
        match self.id_type {
            IdType::IPV4_ADDR => <[u8; 4]>::try_from(self.data.as_slice())
                .ok()
                .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
            IdType::IPV6_ADDR => <[u8; 16]>::try_from(self.data.as_slice())
                .ok()
                .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
            _ => None,
        }
    }
}

impl NotifyPayload {
    /// A notification about the IKE SA itself: no protocol, no SPI.
    pub fn new(notify_type: NotifyType, data: Vec<u8>) -> Self {
        Self {
            protocol: ProtocolId::NONE,
            spi: Vec::new(),
            notify_type,
            data,
        }
    }
}

fn too_short(payload: PayloadType, needed: usize, actual: usize) -> ParseError {
    ParseError::BodyTooShort {
        payload,
        needed,
        actual,
    }
}

pub(crate) fn check_nonce(len: usize) -> Result<(), ParseError> {
    if (NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&len) {
        Ok(())
    } else {
        Err(ParseError::NonceLength { len })
    }
}

pub(crate) fn check_id(id_type: IdType, len: usize) -> Result<(), ParseError> {
    let expected = match id_type {
        IdType::IPV4_ADDR => Some(4),
        IdType::IPV6_ADDR => Some(16),
        _ => None,
    };
    match expected {
        Some(expected) if expected != len => Err(ParseError::IdLength { id_type, len }),
        _ => Ok(()),
    }
}

pub(crate) fn check_ke(group: u16, len: usize) -> Result<(), ParseError> {
    match dh_public_value_len(group) {
        Some(expected) if expected != len => Err(ParseError::KeLength {
            group,
            len,
            expected,
        }),
        _ => Ok(()),
    }
}

/// Types `parse_body` handles (SK is handled by the chain).
pub(crate) const fn is_parsed_type(payload: PayloadType) -> bool {
    matches!(payload.0, 33..=45)
}

/// Parses the body of a payload of a known type other than SK; `None` for unknown types.
pub(crate) fn parse_body(payload: PayloadType, body: &[u8]) -> Result<Option<Payload>, ParseError> {
    let parsed = match payload {
        PayloadType::SA => Payload::Sa(parse_sa(body)?),
        PayloadType::KE => Payload::Ke(parse_ke(body)?),
        PayloadType::IDI => Payload::IdI(parse_id(payload, body)?),
        PayloadType::IDR => Payload::IdR(parse_id(payload, body)?),
        PayloadType::CERT => Payload::Cert(parse_cert(payload, body)?),
        PayloadType::CERTREQ => Payload::CertReq(parse_cert(payload, body)?),
        PayloadType::AUTH => Payload::Auth(parse_auth(body)?),
        PayloadType::NONCE => {
            check_nonce(body.len())?;
            Payload::Nonce(body.to_vec())
        }
        PayloadType::NOTIFY => Payload::Notify(parse_notify(body)?),
        PayloadType::DELETE => Payload::Delete(parse_delete(body)?),
        PayloadType::VENDOR_ID => Payload::VendorId(body.to_vec()),
        PayloadType::TSI => Payload::TsI(parse_ts(payload, body)?),
        PayloadType::TSR => Payload::TsR(parse_ts(payload, body)?),
        _ => return Ok(None),
    };
    Ok(Some(parsed))
}

fn parse_ke(body: &[u8]) -> Result<KePayload, ParseError> {
    let mut r = Reader::new(body);
    let (Some(group), Some(_reserved)) = (r.u16(), r.u16()) else {
        return Err(too_short(PayloadType::KE, 4, body.len()));
    };
    let data = r.take_rest();
    check_ke(group, data.len())?;
    Ok(KePayload {
        group,
        data: data.to_vec(),
    })
}

fn parse_id(payload: PayloadType, body: &[u8]) -> Result<IdPayload, ParseError> {
    let mut r = Reader::new(body);
    let (Some(id_type), Some(_reserved)) = (r.u8(), r.array::<3>()) else {
        return Err(too_short(payload, 4, body.len()));
    };
    let id_type = IdType(id_type);
    let data = r.take_rest();
    check_id(id_type, data.len())?;
    Ok(IdPayload {
        id_type,
        data: data.to_vec(),
    })
}

fn parse_cert(payload: PayloadType, body: &[u8]) -> Result<CertPayload, ParseError> {
    let Some((&encoding, data)) = body.split_first() else {
        return Err(too_short(payload, 1, 0));
    };
    Ok(CertPayload {
        encoding: CertEncoding(encoding),
        data: data.to_vec(),
    })
}

fn parse_auth(body: &[u8]) -> Result<AuthPayload, ParseError> {
    let mut r = Reader::new(body);
    let (Some(method), Some(_reserved)) = (r.u8(), r.array::<3>()) else {
        return Err(too_short(PayloadType::AUTH, 4, body.len()));
    };
    Ok(AuthPayload {
        method: AuthMethod(method),
        data: r.take_rest().to_vec(),
    })
}

fn parse_notify(body: &[u8]) -> Result<NotifyPayload, ParseError> {
    let mut r = Reader::new(body);
    let (Some(protocol), Some(spi_size), Some(notify_type)) = (r.u8(), r.u8(), r.u16()) else {
        return Err(too_short(PayloadType::NOTIFY, 4, body.len()));
    };
    let spi = r.bytes(usize::from(spi_size)).ok_or(too_short(
        PayloadType::NOTIFY,
        4 + usize::from(spi_size),
        body.len(),
    ))?;
    Ok(NotifyPayload {
        protocol: ProtocolId(protocol),
        spi: spi.to_vec(),
        notify_type: NotifyType(notify_type),
        data: r.take_rest().to_vec(),
    })
}

fn parse_delete(body: &[u8]) -> Result<DeletePayload, ParseError> {
    let mut r = Reader::new(body);
    let (Some(protocol), Some(spi_size), Some(count)) = (r.u8(), r.u8(), r.u16()) else {
        return Err(too_short(PayloadType::DELETE, 4, body.len()));
    };
    let protocol = ProtocolId(protocol);
    let spis = r.take_rest();
    let mismatch = ParseError::DeleteSpis {
        protocol,
        spi_size,
        count,
        bytes: spis.len(),
    };
    match protocol {
        ProtocolId::IKE => {
            if spi_size != 0 {
                return Err(ParseError::SpiSize {
                    protocol,
                    size: spi_size,
                });
            }
            if count != 0 || !spis.is_empty() {
                return Err(mismatch);
            }
            Ok(DeletePayload::IkeSa)
        }
        ProtocolId::AH | ProtocolId::ESP => {
            check_spi_size(protocol, spi_size)?;
            if spis.len() != usize::from(count).saturating_mul(4) {
                return Err(mismatch);
            }
            let spis = spis
                .chunks_exact(4)
                .filter_map(|chunk| <[u8; 4]>::try_from(chunk).ok())
                .map(u32::from_be_bytes)
                .collect();
            Ok(DeletePayload::ChildSas { protocol, spis })
        }
        _ => Err(ParseError::DeleteProtocol { protocol }),
    }
}

/// Appends a payload body (for SK: the opaque encrypted body).
pub(crate) fn encode_body(payload: &Payload, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match payload {
        Payload::Sa(sa) => encode_sa(sa, out)?,
        Payload::Ke(ke) => {
            check_ke(ke.group, ke.data.len())?;
            out.put_u16(ke.group);
            out.put_u16(0);
            out.extend_from_slice(&ke.data);
        }
        Payload::IdI(id) | Payload::IdR(id) => {
            check_id(id.id_type, id.data.len())?;
            out.put_u8(id.id_type.0);
            out.extend_from_slice(&[0; 3]);
            out.extend_from_slice(&id.data);
        }
        Payload::Cert(cert) | Payload::CertReq(cert) => {
            out.put_u8(cert.encoding.0);
            out.extend_from_slice(&cert.data);
        }
        Payload::Auth(auth) => {
            out.put_u8(auth.method.0);
            out.extend_from_slice(&[0; 3]);
            out.extend_from_slice(&auth.data);
        }
        Payload::Nonce(nonce) => {
            check_nonce(nonce.len())?;
            out.extend_from_slice(nonce);
        }
        Payload::Notify(notify) => {
            out.put_u8(notify.protocol.0);
            out.put_u8(u8_field(notify.spi.len(), "notify SPI size")?);
            out.put_u16(notify.notify_type.0);
            out.extend_from_slice(&notify.spi);
            out.extend_from_slice(&notify.data);
        }
        Payload::Delete(DeletePayload::IkeSa) => {
            out.put_u8(ProtocolId::IKE.0);
            out.put_u8(0);
            out.put_u16(0);
        }
        Payload::Delete(DeletePayload::ChildSas { protocol, spis }) => {
            if !matches!(*protocol, ProtocolId::AH | ProtocolId::ESP) {
                return Err(ParseError::DeleteProtocol {
                    protocol: *protocol,
                }
                .into());
            }
            out.put_u8(protocol.0);
            out.put_u8(4);
            out.put_u16(u16_field(spis.len(), "Delete SPI count")?);
            for spi in spis {
                out.put_u32(*spi);
            }
        }
        Payload::VendorId(data) => out.extend_from_slice(data),
        Payload::TsI(ts) | Payload::TsR(ts) => encode_ts(ts, out)?,
        Payload::Encrypted(sk) => out.extend_from_slice(&sk.body),
        Payload::Unknown(unknown) => out.extend_from_slice(&unknown.body),
    }
    Ok(())
}
