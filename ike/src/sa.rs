// SPDX-License-Identifier: GPL-2.0
//! The SA payload: proposals, transforms and transform attributes (RFC 7296 §3.3).

use crate::codes::{ProtocolId, TransformType};
use crate::error::{EncodeError, Item, ParseError};
use crate::transform_ids::{transform_name, ATTR_KEY_LENGTH};
use crate::wire::{u16_field, u8_field, Reader, WriteExt};

/// Proposal header: last, reserved, length, number, protocol, SPI size, transform count.
const PROPOSAL_HEADER_LEN: usize = 8;
/// Transform header: last, reserved, length, type, reserved, ID.
const TRANSFORM_HEADER_LEN: usize = 8;
/// Attribute header: AF bit + type, then value (TV) or length (TLV).
const ATTRIBUTE_HEADER_LEN: usize = 4;
/// "Last substructure" value of a proposal followed by another.
const MORE_PROPOSALS: u8 = 2;
/// "Last substructure" value of a transform followed by another.
const MORE_TRANSFORMS: u8 = 3;
/// Attribute Format bit: set for TV, clear for TLV.
const ATTRIBUTE_FORMAT_TV: u16 = 0x8000;

/// SA payload: proposals in order of preference (an OR of proposals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaPayload {
    /// At least one proposal.
    pub proposals: Vec<Proposal>,
}

/// One proposal: an AND of transforms, one of each type chosen by the responder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Proposal number (1, 2, ... in a request; the chosen number in a response).
    pub number: u8,
    /// IKE, AH or ESP.
    pub protocol: ProtocolId,
    /// Sender's SPI: empty for a new IKE SA, 8 bytes when rekeying one, 4 for AH/ESP.
    pub spi: Vec<u8>,
    /// Transforms, in wire order.
    pub transforms: Vec<Transform>,
}

/// One transform (RFC 7296 §3.3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transform {
    /// ENCR, PRF, INTEG, DH or ESN.
    pub transform_type: TransformType,
    /// Transform ID (see `transform_ids`).
    pub id: u16,
    /// Attributes, in wire order (normally at most a Key Length).
    pub attributes: Vec<TransformAttribute>,
}

/// A transform attribute (RFC 7296 §3.3.5). The type excludes the AF bit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransformAttribute {
    /// Type/Value: a 2-byte value (Key Length is always TV).
    Tv {
        /// Attribute type (15 bits).
        attribute_type: u16,
        /// Value.
        value: u16,
    },
    /// Type/Length/Value.
    Tlv {
        /// Attribute type (15 bits).
        attribute_type: u16,
        /// Value.
        value: Vec<u8>,
    },
}

impl Transform {
    /// A transform without attributes.
    pub fn new(transform_type: TransformType, id: u16) -> Self {
        Self {
            transform_type,
            id,
            attributes: Vec::new(),
        }
    }

    /// A transform with a Key Length attribute, in bits (AES-CBC, AES-GCM).
    pub fn with_key_length(transform_type: TransformType, id: u16, bits: u16) -> Self {
        Self {
            transform_type,
            id,
            attributes: vec![TransformAttribute::Tv {
                attribute_type: ATTR_KEY_LENGTH,
                value: bits,
            }],
        }
    }

    /// The Key Length attribute, in bits.
    pub fn key_length(&self) -> Option<u16> {
        self.attributes
            .iter()
            .find_map(|attribute| match attribute {
                TransformAttribute::Tv {
                    attribute_type: ATTR_KEY_LENGTH,
                    value,
                } => Some(*value),
                _ => None,
            })
    }

    /// Readable name, e.g. `AES_GCM_16_256`.
    pub fn name(&self) -> String {
        transform_name(self.transform_type, self.id, self.key_length())
    }
}

impl Proposal {
    /// The transforms of one type, in wire order.
    pub fn transforms_of(&self, kind: TransformType) -> impl Iterator<Item = &Transform> {
        self.transforms
            .iter()
            .filter(move |t| t.transform_type == kind)
    }
}

/// SPI sizes allowed per protocol (RFC 7296 §3.3.1); unknown protocols are not checked.
pub(crate) fn check_spi_size(protocol: ProtocolId, size: u8) -> Result<(), ParseError> {
    let ok = match protocol {
        ProtocolId::IKE => size == 0 || size == 8,
        ProtocolId::AH | ProtocolId::ESP => size == 4,
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(ParseError::SpiSize { protocol, size })
    }
}

/// Proposal numbers: 1, 2, 3... A lone proposal (an accepted one) may carry any non-zero number.
pub(crate) fn check_proposal_numbers(proposals: &[Proposal]) -> Result<(), ParseError> {
    let mut expected = match proposals {
        [only] if only.number != 0 => usize::from(only.number),
        _ => 1,
    };
    for (position, proposal) in proposals.iter().enumerate() {
        if usize::from(proposal.number) != expected {
            return Err(ParseError::ProposalNumber {
                index: position.saturating_add(1),
                number: proposal.number,
                expected,
            });
        }
        expected = expected.saturating_add(1);
    }
    Ok(())
}

/// Splits one proposal or transform off `r`: its last-substructure byte and the bytes after
/// the 4-byte substructure prefix, with its length checked against `min_len` and `r`.
fn take_substructure<'a>(
    r: &mut Reader<'a>,
    item: Item,
    min_len: usize,
) -> Result<(u8, &'a [u8]), ParseError> {
    let remaining = r.remaining();
    let truncated = ParseError::ItemTruncated {
        item,
        needed: min_len,
        remaining,
    };
    if remaining < min_len {
        return Err(truncated);
    }
    let (Some(last), Some(_reserved), Some(length)) = (r.u8(), r.u8(), r.u16()) else {
        return Err(truncated);
    };
    let length = usize::from(length);
    if length < min_len {
        return Err(ParseError::ItemTooShort {
            item,
            length,
            min: min_len,
        });
    }
    if length > remaining {
        return Err(ParseError::ItemOverrun {
            item,
            length,
            remaining,
        });
    }
    let body = r.bytes(length.saturating_sub(4)).ok_or(truncated)?;
    Ok((last, body))
}

/// Checks a last-substructure byte: `more` when others follow, 0 for the last one.
fn check_last(item: Item, value: u8, more: u8, is_last: bool) -> Result<(), ParseError> {
    let expected = if is_last { 0 } else { more };
    if value == expected {
        Ok(())
    } else {
        Err(ParseError::LastFlag {
            item,
            value,
            expected,
        })
    }
}

/// Parses an SA payload body.
pub(crate) fn parse_sa(body: &[u8]) -> Result<SaPayload, ParseError> {
    let mut r = Reader::new(body);
    let mut proposals = Vec::new();
    while !r.is_empty() {
        let index = proposals.len().saturating_add(1);
        let item = Item::Proposal(index);
        let (last, bytes) = take_substructure(&mut r, item, PROPOSAL_HEADER_LEN)?;
        check_last(item, last, MORE_PROPOSALS, r.is_empty())?;
        proposals.push(parse_proposal(index, bytes)?);
    }
    if proposals.is_empty() {
        return Err(ParseError::NoProposals);
    }
    check_proposal_numbers(&proposals)?;
    Ok(SaPayload { proposals })
}

/// Parses a proposal after its 4-byte prefix.
fn parse_proposal(index: usize, bytes: &[u8]) -> Result<Proposal, ParseError> {
    let item = Item::Proposal(index);
    let mut r = Reader::new(bytes);
    let truncated = ParseError::ItemTruncated {
        item,
        needed: PROPOSAL_HEADER_LEN,
        remaining: bytes.len().saturating_add(4),
    };
    let (Some(number), Some(protocol), Some(spi_size), Some(declared)) =
        (r.u8(), r.u8(), r.u8(), r.u8())
    else {
        return Err(truncated);
    };
    let protocol = ProtocolId(protocol);
    check_spi_size(protocol, spi_size)?;
    let spi = r
        .bytes(usize::from(spi_size))
        .ok_or(ParseError::ItemTooShort {
            item,
            length: bytes.len().saturating_add(4),
            min: PROPOSAL_HEADER_LEN.saturating_add(usize::from(spi_size)),
        })?;
    let mut transforms = Vec::new();
    while !r.is_empty() {
        let transform_index = transforms.len().saturating_add(1);
        let item = Item::Transform {
            proposal: index,
            transform: transform_index,
        };
        let (last, bytes) = take_substructure(&mut r, item, TRANSFORM_HEADER_LEN)?;
        check_last(item, last, MORE_TRANSFORMS, r.is_empty())?;
        transforms.push(parse_transform(index, transform_index, bytes)?);
    }
    if transforms.len() != usize::from(declared) {
        return Err(ParseError::TransformCount {
            proposal: index,
            declared,
            found: transforms.len(),
        });
    }
    Ok(Proposal {
        number,
        protocol,
        spi: spi.to_vec(),
        transforms,
    })
}

/// Parses a transform after its 4-byte prefix.
fn parse_transform(
    proposal: usize,
    transform: usize,
    bytes: &[u8],
) -> Result<Transform, ParseError> {
    let mut r = Reader::new(bytes);
    let (Some(kind), Some(_reserved), Some(id)) = (r.u8(), r.u8(), r.u16()) else {
        return Err(ParseError::ItemTruncated {
            item: Item::Transform {
                proposal,
                transform,
            },
            needed: TRANSFORM_HEADER_LEN,
            remaining: bytes.len().saturating_add(4),
        });
    };
    let item = Item::Attribute {
        proposal,
        transform,
    };
    let mut attributes = Vec::new();
    while !r.is_empty() {
        attributes.push(parse_attribute(&mut r, item)?);
    }
    Ok(Transform {
        transform_type: TransformType(kind),
        id,
        attributes,
    })
}

fn parse_attribute(r: &mut Reader<'_>, item: Item) -> Result<TransformAttribute, ParseError> {
    let remaining = r.remaining();
    let (Some(format_and_type), Some(value_or_length)) = (r.u16(), r.u16()) else {
        return Err(ParseError::ItemTruncated {
            item,
            needed: ATTRIBUTE_HEADER_LEN,
            remaining,
        });
    };
    let attribute_type = format_and_type & !ATTRIBUTE_FORMAT_TV;
    if format_and_type & ATTRIBUTE_FORMAT_TV != 0 {
        return Ok(TransformAttribute::Tv {
            attribute_type,
            value: value_or_length,
        });
    }
    if attribute_type == ATTR_KEY_LENGTH {
        return Err(ParseError::AttributeFormat {
            item,
            attribute: attribute_type,
        });
    }
    let length = usize::from(value_or_length);
    let value = r.bytes(length).ok_or(ParseError::ItemOverrun {
        item,
        length: length.saturating_add(ATTRIBUTE_HEADER_LEN),
        remaining,
    })?;
    Ok(TransformAttribute::Tlv {
        attribute_type,
        value: value.to_vec(),
    })
}

/// Appends an SA payload body.
pub(crate) fn encode_sa(sa: &SaPayload, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if sa.proposals.is_empty() {
        return Err(ParseError::NoProposals.into());
    }
    check_proposal_numbers(&sa.proposals)?;
    let count = sa.proposals.len();
    for (position, proposal) in sa.proposals.iter().enumerate() {
        let is_last = position.saturating_add(1) == count;
        encode_proposal(proposal, position.saturating_add(1), is_last, out)?;
    }
    Ok(())
}

fn encode_proposal(
    p: &Proposal,
    index: usize,
    is_last: bool,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let spi_size = u8_field(p.spi.len(), "proposal SPI size")?;
    check_spi_size(p.protocol, spi_size)?;
    let transform_count = u8_field(p.transforms.len(), "transform count")?;
    let start = out.len();
    out.put_u8(if is_last { 0 } else { MORE_PROPOSALS });
    out.put_u8(0);
    out.put_u16(0); // length, patched below
    out.put_u8(p.number);
    out.put_u8(p.protocol.0);
    out.put_u8(spi_size);
    out.put_u8(transform_count);
    out.extend_from_slice(&p.spi);
    for (position, transform) in p.transforms.iter().enumerate() {
        let is_last = usize::from(transform_count) == position.saturating_add(1);
        let item = Item::Attribute {
            proposal: index,
            transform: position.saturating_add(1),
        };
        encode_transform(transform, item, is_last, out)?;
    }
    out.finish_length16(start, "proposal length")
}

fn encode_transform(
    t: &Transform,
    item: Item,
    is_last: bool,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.put_u8(if is_last { 0 } else { MORE_TRANSFORMS });
    out.put_u8(0);
    out.put_u16(0); // length, patched below
    out.put_u8(t.transform_type.0);
    out.put_u8(0);
    out.put_u16(t.id);
    for attribute in &t.attributes {
        match attribute {
            TransformAttribute::Tv {
                attribute_type,
                value,
            } => {
                out.put_u16(attribute_type_field(*attribute_type)? | ATTRIBUTE_FORMAT_TV);
                out.put_u16(*value);
            }
            TransformAttribute::Tlv {
                attribute_type,
                value,
            } => {
                if *attribute_type == ATTR_KEY_LENGTH {
                    let attribute = ATTR_KEY_LENGTH;
                    return Err(ParseError::AttributeFormat { item, attribute }.into());
                }
                out.put_u16(attribute_type_field(*attribute_type)?);
                out.put_u16(u16_field(value.len(), "attribute length")?);
                out.extend_from_slice(value);
            }
        }
    }
    out.finish_length16(start, "transform length")
}

/// Attribute types are 15 bits; the top bit is the format flag.
fn attribute_type_field(attribute_type: u16) -> Result<u16, EncodeError> {
    if attribute_type & ATTRIBUTE_FORMAT_TV == 0 {
        Ok(attribute_type)
    } else {
        Err(EncodeError::TooLong {
            what: "attribute type",
            len: usize::from(attribute_type),
            max: usize::from(!ATTRIBUTE_FORMAT_TV),
        })
    }
}
