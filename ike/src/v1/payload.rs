// SPDX-License-Identifier: GPL-2.0
//! ISAKMP payload bodies (RFC 2408 §3.4-3.16, RFC 2407 §4.6, RFC 3947 §3): strict parsing of
//! each body after its generic header, and encoding back to the same bytes.

use super::codes::{NotifyV1, PayloadV1};
use super::error::V1Error;
use crate::sa::TransformAttribute;
use crate::wire::{Reader, WriteExt};

/// A transform of a proposal: its number, ID and SA attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransformV1 {
    /// Transform number.
    pub number: u8,
    /// Transform ID (KEY_IKE for phase 1; ESP_AES etc. for phase 2).
    pub id: u8,
    /// SA attributes, in wire order.
    pub attributes: Vec<TransformAttribute>,
}

/// A proposal of an SA payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposalV1 {
    /// Proposal number.
    pub number: u8,
    /// Protocol ID (`proto::ISAKMP`, `proto::ESP`, `proto::AH`).
    pub protocol: u8,
    /// SPI (empty, or the 8 cookie bytes, in phase 1; 4 bytes in phase 2).
    pub spi: Vec<u8>,
    /// Transforms, in the sender's order of preference.
    pub transforms: Vec<TransformV1>,
}

/// The SA payload of the IPsec DOI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaV1 {
    /// Domain of Interpretation (1: IPsec).
    pub doi: u32,
    /// Situation (1: SIT_IDENTITY_ONLY).
    pub situation: u32,
    /// Proposals.
    pub proposals: Vec<ProposalV1>,
}

/// An Identification payload of the IPsec DOI (RFC 2407 §4.6.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdV1 {
    /// ID type (1 IPv4 address, 2 FQDN, 4 IPv4 subnet, 5 IPv6 address, 9 DER DN, ...).
    pub id_type: u8,
    /// IP protocol (0: any).
    pub protocol: u8,
    /// Port (0: any).
    pub port: u16,
    /// The identification data.
    pub data: Vec<u8>,
}

/// A Notification payload (RFC 2408 §3.14).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyPayloadV1 {
    /// Domain of Interpretation.
    pub doi: u32,
    /// Protocol ID.
    pub protocol: u8,
    /// The notify message type.
    pub notify: NotifyV1,
    /// SPI (cookies for ISAKMP, 4 bytes for IPsec SAs, or empty).
    pub spi: Vec<u8>,
    /// Notification data.
    pub data: Vec<u8>,
}

/// A Delete payload (RFC 2408 §3.15).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteV1 {
    /// Domain of Interpretation.
    pub doi: u32,
    /// Protocol ID.
    pub protocol: u8,
    /// SPI size in bytes (16 for ISAKMP cookies, 4 for ESP/AH).
    pub spi_size: u8,
    /// The SPIs, each `spi_size` long.
    pub spis: Vec<Vec<u8>>,
}

/// One payload of an ISAKMP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayloadBodyV1 {
    /// Security Association.
    Sa(SaV1),
    /// Key Exchange: the public value.
    Ke(Vec<u8>),
    /// Identification.
    Id(IdV1),
    /// Certificate: encoding and data.
    Cert(u8, Vec<u8>),
    /// Certificate Request: type and authority.
    CertRequest(u8, Vec<u8>),
    /// Hash.
    Hash(Vec<u8>),
    /// Signature.
    Signature(Vec<u8>),
    /// Nonce.
    Nonce(Vec<u8>),
    /// Notification.
    Notify(NotifyPayloadV1),
    /// Delete.
    Delete(DeleteV1),
    /// Vendor ID.
    VendorId(Vec<u8>),
    /// NAT-D: a hash of an address and port.
    NatD(Vec<u8>),
    /// NAT-OA: an ID type and the original address.
    NatOa(u8, Vec<u8>),
    /// A type this crate does not know: kept to report, never acted on.
    Unknown(PayloadV1, Vec<u8>),
}

/// ISAKMP's minimum nonce length (RFC 2409 §5: 8 to 256 bytes).
pub const NONCE_V1_MIN: usize = 8;
/// ISAKMP's maximum nonce length.
pub const NONCE_V1_MAX: usize = 256;

impl PayloadBodyV1 {
    /// Its payload type.
    pub fn payload_type(&self) -> PayloadV1 {
        match self {
            Self::Sa(_) => PayloadV1::SA,
            Self::Ke(_) => PayloadV1::KE,
            Self::Id(_) => PayloadV1::ID,
            Self::Cert(..) => PayloadV1::CERT,
            Self::CertRequest(..) => PayloadV1::CR,
            Self::Hash(_) => PayloadV1::HASH,
            Self::Signature(_) => PayloadV1::SIG,
            Self::Nonce(_) => PayloadV1::NONCE,
            Self::Notify(_) => PayloadV1::NOTIFY,
            Self::Delete(_) => PayloadV1::DELETE,
            Self::VendorId(_) => PayloadV1::VENDOR_ID,
            Self::NatD(_) => PayloadV1::NAT_D,
            Self::NatOa(..) => PayloadV1::NAT_OA,
            Self::Unknown(t, _) => *t,
        }
    }

    /// Parses the body of a payload of type `kind`.
    pub(crate) fn parse(kind: PayloadV1, body: &[u8]) -> Result<Self, V1Error> {
        let short = |need: usize| V1Error::BodyTooShort {
            payload: kind,
            length: body.len(),
            min: need,
        };
        let mut r = Reader::new(body);
        Ok(match kind {
            PayloadV1::SA => Self::Sa(parse_sa(body)?),
            PayloadV1::KE => Self::Ke(nonempty(kind, body)?),
            PayloadV1::ID => {
                let (Some(id_type), Some(protocol), Some(port)) = (r.u8(), r.u8(), r.u16()) else {
                    return Err(short(4));
                };
                let data = r.take_rest().to_vec();
                Self::Id(IdV1 {
                    id_type,
                    protocol,
                    port,
                    data,
                })
            }
            PayloadV1::CERT => Self::Cert(r.u8().ok_or(short(1))?, r.take_rest().to_vec()),
            PayloadV1::CR => Self::CertRequest(r.u8().ok_or(short(1))?, r.take_rest().to_vec()),
            PayloadV1::HASH => Self::Hash(nonempty(kind, body)?),
            PayloadV1::SIG => Self::Signature(nonempty(kind, body)?),
            PayloadV1::NONCE => {
                if !(NONCE_V1_MIN..=NONCE_V1_MAX).contains(&body.len()) {
                    return Err(V1Error::NonceLength(body.len()));
                }
                Self::Nonce(body.to_vec())
            }
            PayloadV1::NOTIFY => Self::Notify(parse_notify(body).ok_or(short(8))?),
            PayloadV1::DELETE => Self::Delete(parse_delete(body)?),
            PayloadV1::VENDOR_ID => Self::VendorId(body.to_vec()),
            PayloadV1::NAT_D => Self::NatD(nonempty(kind, body)?),
            PayloadV1::NAT_OA => {
                let id_type = r.u8().ok_or(short(4))?;
                r.bytes(3).ok_or(short(4))?;
                Self::NatOa(id_type, r.take_rest().to_vec())
            }
            PayloadV1::PROPOSAL | PayloadV1::TRANSFORM => {
                return Err(V1Error::MisplacedPayload(kind))
            }
            _ => Self::Unknown(kind, body.to_vec()),
        })
    }

    /// Appends the body (without the generic header).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), V1Error> {
        match self {
            Self::Sa(sa) => encode_sa(sa, out)?,
            Self::Ke(d)
            | Self::Hash(d)
            | Self::Signature(d)
            | Self::Nonce(d)
            | Self::VendorId(d)
            | Self::NatD(d)
            | Self::Unknown(_, d) => out.extend_from_slice(d),
            Self::Id(id) => {
                out.put_u8(id.id_type);
                out.put_u8(id.protocol);
                out.put_u16(id.port);
                out.extend_from_slice(&id.data);
            }
            Self::Cert(t, d) | Self::CertRequest(t, d) => {
                out.put_u8(*t);
                out.extend_from_slice(d);
            }
            Self::Notify(n) => {
                out.put_u32(n.doi);
                out.put_u8(n.protocol);
                out.put_u8(u8::try_from(n.spi.len()).map_err(|_| V1Error::TooLong("SPI"))?);
                out.put_u16(n.notify.0);
                out.extend_from_slice(&n.spi);
                out.extend_from_slice(&n.data);
            }
            Self::Delete(d) => encode_delete(d, out)?,
            Self::NatOa(t, a) => {
                out.extend_from_slice(&[*t, 0, 0, 0]);
                out.extend_from_slice(a);
            }
        }
        Ok(())
    }
}

fn nonempty(kind: PayloadV1, body: &[u8]) -> Result<Vec<u8>, V1Error> {
    if body.is_empty() {
        return Err(V1Error::BodyTooShort {
            payload: kind,
            length: 0,
            min: 1,
        });
    }
    Ok(body.to_vec())
}

fn parse_notify(body: &[u8]) -> Option<NotifyPayloadV1> {
    let mut r = Reader::new(body);
    let (doi, protocol, spi_size, notify) = (r.u32()?, r.u8()?, r.u8()?, r.u16()?);
    let spi = r.bytes(usize::from(spi_size))?.to_vec();
    Some(NotifyPayloadV1 {
        doi,
        protocol,
        notify: NotifyV1(notify),
        spi,
        data: r.take_rest().to_vec(),
    })
}

fn parse_delete(body: &[u8]) -> Result<DeleteV1, V1Error> {
    let mut r = Reader::new(body);
    let malformed = V1Error::BodyTooShort {
        payload: PayloadV1::DELETE,
        length: body.len(),
        min: 8,
    };
    let (Some(doi), Some(protocol), Some(spi_size), Some(count)) =
        (r.u32(), r.u8(), r.u8(), r.u16())
    else {
        return Err(malformed);
    };
    if spi_size == 0 || r.remaining() != usize::from(spi_size) * usize::from(count) {
        return Err(V1Error::DeleteSpis {
            spi_size,
            count,
            bytes: r.remaining(),
        });
    }
    let spis = (0..count)
        .filter_map(|_| r.bytes(usize::from(spi_size)).map(<[u8]>::to_vec))
        .collect();
    Ok(DeleteV1 {
        doi,
        protocol,
        spi_size,
        spis,
    })
}

fn encode_delete(d: &DeleteV1, out: &mut Vec<u8>) -> Result<(), V1Error> {
    if d.spis.iter().any(|s| s.len() != usize::from(d.spi_size)) {
        return Err(V1Error::TooLong("Delete SPI of another size"));
    }
    out.put_u32(d.doi);
    out.put_u8(d.protocol);
    out.put_u8(d.spi_size);
    out.put_u16(u16::try_from(d.spis.len()).map_err(|_| V1Error::TooLong("Delete SPIs"))?);
    for spi in &d.spis {
        out.extend_from_slice(spi);
    }
    Ok(())
}

/// Splits one proposal or transform substructure off `r`: it has a generic header whose next
/// field must be `kind` when more follow and NONE for the last one.
fn substructure<'a>(r: &mut Reader<'a>, kind: PayloadV1) -> Result<&'a [u8], V1Error> {
    let (Some(next), Some(_reserved), Some(length)) = (r.u8(), r.u8(), r.u16()) else {
        return Err(V1Error::Substructure(kind, "truncated header"));
    };
    let body = usize::from(length)
        .checked_sub(4)
        .and_then(|n| r.bytes(n))
        .ok_or(V1Error::Substructure(kind, "length beyond its payload"))?;
    let expected = if r.is_empty() { 0 } else { kind.0 };
    if next != expected {
        return Err(V1Error::Substructure(kind, "wrong next-payload field"));
    }
    Ok(body)
}

fn parse_sa(body: &[u8]) -> Result<SaV1, V1Error> {
    let mut r = Reader::new(body);
    let (Some(doi), Some(situation)) = (r.u32(), r.u32()) else {
        return Err(V1Error::BodyTooShort {
            payload: PayloadV1::SA,
            length: body.len(),
            min: 8,
        });
    };
    if doi != super::codes::DOI_IPSEC || situation != super::codes::SIT_IDENTITY_ONLY {
        return Err(V1Error::Situation { doi, situation });
    }
    let mut proposals = Vec::new();
    while !r.is_empty() {
        proposals.push(parse_proposal(substructure(&mut r, PayloadV1::PROPOSAL)?)?);
    }
    if proposals.is_empty() {
        return Err(V1Error::Substructure(PayloadV1::PROPOSAL, "none in the SA"));
    }
    Ok(SaV1 {
        doi,
        situation,
        proposals,
    })
}

fn parse_proposal(body: &[u8]) -> Result<ProposalV1, V1Error> {
    let bad = |why| V1Error::Substructure(PayloadV1::PROPOSAL, why);
    let mut r = Reader::new(body);
    let (Some(number), Some(protocol), Some(spi_size), Some(count)) =
        (r.u8(), r.u8(), r.u8(), r.u8())
    else {
        return Err(bad("truncated"));
    };
    let spi = r
        .bytes(usize::from(spi_size))
        .ok_or(bad("SPI beyond the proposal"))?;
    let mut transforms = Vec::new();
    while !r.is_empty() {
        transforms.push(parse_transform(substructure(
            &mut r,
            PayloadV1::TRANSFORM,
        )?)?);
    }
    if transforms.len() != usize::from(count) || count == 0 {
        return Err(bad("transform count differs from the transforms present"));
    }
    Ok(ProposalV1 {
        number,
        protocol,
        spi: spi.to_vec(),
        transforms,
    })
}

fn parse_transform(body: &[u8]) -> Result<TransformV1, V1Error> {
    let bad = |why| V1Error::Substructure(PayloadV1::TRANSFORM, why);
    let mut r = Reader::new(body);
    let (Some(number), Some(id), Some(_reserved)) = (r.u8(), r.u8(), r.u16()) else {
        return Err(bad("truncated"));
    };
    Ok(TransformV1 {
        number,
        id,
        attributes: parse_attributes(r.take_rest()).map_err(bad)?,
    })
}

/// SA attributes (RFC 2408 §3.3), as in a transform or a RESPONDER-LIFETIME notify.
pub(crate) fn parse_attributes(bytes: &[u8]) -> Result<Vec<TransformAttribute>, &'static str> {
    let mut r = Reader::new(bytes);
    let mut attributes = Vec::new();
    while !r.is_empty() {
        let (Some(kind), Some(value)) = (r.u16(), r.u16()) else {
            return Err("truncated attribute");
        };
        let attribute_type = kind & 0x7fff;
        attributes.push(if kind & 0x8000 != 0 {
            TransformAttribute::Tv {
                attribute_type,
                value,
            }
        } else {
            let value = r
                .bytes(usize::from(value))
                .ok_or("attribute beyond its substructure")?;
            TransformAttribute::Tlv {
                attribute_type,
                value: value.to_vec(),
            }
        });
    }
    Ok(attributes)
}

fn encode_sa(sa: &SaV1, out: &mut Vec<u8>) -> Result<(), V1Error> {
    out.put_u32(sa.doi);
    out.put_u32(sa.situation);
    for (i, p) in sa.proposals.iter().enumerate() {
        let last = i + 1 == sa.proposals.len();
        let start = out.len();
        out.extend_from_slice(&[if last { 0 } else { PayloadV1::PROPOSAL.0 }, 0, 0, 0]);
        out.put_u8(p.number);
        out.put_u8(p.protocol);
        out.put_u8(u8::try_from(p.spi.len()).map_err(|_| V1Error::TooLong("SPI"))?);
        out.put_u8(u8::try_from(p.transforms.len()).map_err(|_| V1Error::TooLong("proposal"))?);
        out.extend_from_slice(&p.spi);
        for (j, t) in p.transforms.iter().enumerate() {
            encode_transform(t, j + 1 == p.transforms.len(), out)?;
        }
        patch_length(out, start, "proposal")?;
    }
    Ok(())
}

fn encode_transform(t: &TransformV1, last: bool, out: &mut Vec<u8>) -> Result<(), V1Error> {
    let start = out.len();
    out.extend_from_slice(&[if last { 0 } else { PayloadV1::TRANSFORM.0 }, 0, 0, 0]);
    out.extend_from_slice(&[t.number, t.id, 0, 0]);
    encode_attributes(&t.attributes, out)?;
    patch_length(out, start, "transform")
}

pub(crate) fn encode_attributes(
    attributes: &[TransformAttribute],
    out: &mut Vec<u8>,
) -> Result<(), V1Error> {
    for a in attributes {
        match a {
            TransformAttribute::Tv {
                attribute_type,
                value,
            } => {
                out.put_u16(attribute_type | 0x8000);
                out.put_u16(*value);
            }
            TransformAttribute::Tlv {
                attribute_type,
                value,
            } => {
                out.put_u16(attribute_type & 0x7fff);
                out.put_u16(u16::try_from(value.len()).map_err(|_| V1Error::TooLong("attribute"))?);
                out.extend_from_slice(value);
            }
        }
    }
    Ok(())
}

/// Writes the 16-bit length of the structure that began at `start`.
pub(crate) fn patch_length(
    out: &mut Vec<u8>,
    start: usize,
    what: &'static str,
) -> Result<(), V1Error> {
    let len = u16::try_from(out.len().saturating_sub(start)).map_err(|_| V1Error::TooLong(what))?;
    out.patch_u16(start + 2, len);
    Ok(())
}
