// SPDX-License-Identifier: GPL-2.0
//! Parse and encode errors. `Display` says what was wrong in words a human can act on.

use core::fmt;

use crate::codes::{IdType, NotifyType, PayloadType, ProtocolId, TsType};

/// A substructure inside a payload; numbers count from 1 in wire order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    /// A proposal in an SA payload.
    Proposal(usize),
    /// A transform in a proposal.
    Transform {
        /// Position of the proposal.
        proposal: usize,
        /// Position of the transform within it.
        transform: usize,
    },
    /// An attribute of a transform.
    Attribute {
        /// Position of the proposal.
        proposal: usize,
        /// Position of the transform within it.
        transform: usize,
    },
    /// A traffic selector in a TSi/TSr payload.
    TrafficSelector(usize),
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Item::Proposal(p) => write!(f, "proposal #{p}"),
            Item::Transform {
                proposal,
                transform,
            } => {
                write!(f, "transform #{transform} of proposal #{proposal}")
            }
            Item::Attribute {
                proposal,
                transform,
            } => {
                write!(
                    f,
                    "attribute of transform #{transform} of proposal #{proposal}"
                )
            }
            Item::TrafficSelector(t) => write!(f, "traffic selector #{t}"),
        }
    }
}

/// Why a message or payload chain was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The datagram is shorter than the 28-byte IKE header.
    MessageTooShort {
        /// Datagram size.
        len: usize,
    },
    /// The header's Length field disagrees with the datagram size.
    LengthMismatch {
        /// Length field value.
        header: u32,
        /// Bytes actually received.
        datagram: usize,
    },
    /// Major version other than 2.
    UnsupportedVersion {
        /// Major version received.
        major: u8,
    },
    /// Fewer than 4 bytes remain where a payload's generic header should start.
    TruncatedPayloadHeader {
        /// Type announced by the previous Next Payload field.
        payload: PayloadType,
        /// Bytes left.
        remaining: usize,
    },
    /// A payload length smaller than the 4-byte generic header.
    PayloadLengthTooSmall {
        /// Payload type.
        payload: PayloadType,
        /// Length field value.
        length: u16,
    },
    /// A payload length that runs past the end of the buffer.
    PayloadOverrun {
        /// Payload type.
        payload: PayloadType,
        /// Length field value.
        length: u16,
        /// Bytes left, generic header included.
        remaining: usize,
    },
    /// Bytes follow the payload whose Next Payload is NONE.
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// Bytes follow the SK payload, which must be the last payload.
    EncryptedNotLast {
        /// How many.
        trailing: usize,
    },
    /// An SK payload inside decrypted SK contents.
    NestedEncrypted,
    /// An unknown payload type with the critical bit set.
    UnsupportedCriticalPayload {
        /// The unknown type (goes into the UNSUPPORTED_CRITICAL_PAYLOAD notification).
        payload: PayloadType,
    },
    /// A payload body shorter than its fixed fields.
    BodyTooShort {
        /// Payload type.
        payload: PayloadType,
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        actual: usize,
    },
    /// A nonce outside 16..=256 bytes (RFC 7296 §3.9).
    NonceLength {
        /// Nonce size.
        len: usize,
    },
    /// An address identity of the wrong size.
    IdLength {
        /// Identification type.
        id_type: IdType,
        /// Data size.
        len: usize,
    },
    /// A KE public value whose size does not fit its (known) group.
    KeLength {
        /// DH group.
        group: u16,
        /// Data size.
        len: usize,
        /// Size the group requires.
        expected: usize,
    },
    /// An SA payload without proposals.
    NoProposals,
    /// A substructure header cut short.
    ItemTruncated {
        /// Which substructure.
        item: Item,
        /// Header size.
        needed: usize,
        /// Bytes left.
        remaining: usize,
    },
    /// A substructure length below its minimum.
    ItemTooShort {
        /// Which substructure.
        item: Item,
        /// Length claimed.
        length: usize,
        /// Smallest valid length.
        min: usize,
    },
    /// A substructure length past the end of its container.
    ItemOverrun {
        /// Which substructure.
        item: Item,
        /// Length claimed.
        length: usize,
        /// Bytes left.
        remaining: usize,
    },
    /// A "last substructure" byte that disagrees with what follows.
    LastFlag {
        /// Which substructure.
        item: Item,
        /// Value received.
        value: u8,
        /// Value required here (0 when nothing follows).
        expected: u8,
    },
    /// Proposal numbers must start at 1 and go up by one (RFC 7296 §3.3.1).
    ProposalNumber {
        /// Position of the proposal.
        index: usize,
        /// Number received.
        number: u8,
        /// Number required.
        expected: usize,
    },
    /// An SPI size that the protocol does not allow.
    SpiSize {
        /// Protocol.
        protocol: ProtocolId,
        /// SPI size received.
        size: u8,
    },
    /// The "Num Transforms" field disagrees with the transforms present.
    TransformCount {
        /// Position of the proposal.
        proposal: usize,
        /// Count declared.
        declared: u8,
        /// Transforms found.
        found: usize,
    },
    /// An attribute in the wrong format (Key Length must be TV).
    AttributeFormat {
        /// Where.
        item: Item,
        /// Attribute type.
        attribute: u16,
    },
    /// The "Number of TSs" field disagrees with the selectors present.
    TsCount {
        /// Count declared.
        declared: u8,
        /// Selectors found.
        found: usize,
    },
    /// A traffic selector whose length does not fit its type.
    TsLength {
        /// Position of the selector.
        index: usize,
        /// Selector type.
        ts_type: TsType,
        /// Selector length.
        length: usize,
        /// Length the type requires.
        expected: usize,
    },
    /// A traffic selector type other than TS_IPV4_ADDR_RANGE and TS_IPV6_ADDR_RANGE.
    UnknownTsType {
        /// Position of the selector.
        index: usize,
        /// Selector type.
        ts_type: TsType,
    },
    /// A Delete payload whose SPI count and size disagree with its body.
    DeleteSpis {
        /// Protocol.
        protocol: ProtocolId,
        /// SPI size.
        spi_size: u8,
        /// Count declared.
        count: u16,
        /// Bytes of SPIs present.
        bytes: usize,
    },
    /// A Delete payload for a protocol other than IKE, AH or ESP.
    DeleteProtocol {
        /// Protocol received.
        protocol: ProtocolId,
    },
}

impl ParseError {
    /// The error notification a responder would send for this error (RFC 7296 §2.21.1, §3.10.1);
    /// whether to send it at all depends on the exchange.
    pub fn suggested_notify(&self) -> NotifyType {
        match self {
            ParseError::UnsupportedCriticalPayload { .. } => {
                NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD
            }
            ParseError::UnsupportedVersion { major } if *major > 2 => {
                NotifyType::INVALID_MAJOR_VERSION
            }
            _ => NotifyType::INVALID_SYNTAX,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ParseError::*;
        match self {
            MessageTooShort { len } => {
                write!(
                    f,
                    "message is {len} bytes, shorter than the 28-byte IKE header"
                )
            }
            LengthMismatch { header, datagram } => write!(
                f,
                "IKE header says the message is {header} bytes but the datagram has {datagram}"
            ),
            UnsupportedVersion { major } => {
                write!(f, "IKE major version {major} is not supported (only 2)")
            }
            TruncatedPayloadHeader { payload, remaining } => write!(
                f,
                "payload {payload} expected but only {remaining} bytes remain, \
                 too few for the 4-byte generic payload header"
            ),
            PayloadLengthTooSmall { payload, length } => write!(
                f,
                "payload {payload} claims {length} bytes, less than its 4-byte generic header"
            ),
            PayloadOverrun {
                payload,
                length,
                remaining,
            } => write!(
                f,
                "payload {payload} claims {length} bytes but only {remaining} remain"
            ),
            TrailingBytes { count } => write!(f, "{count} bytes follow the last payload"),
            EncryptedNotLast { trailing } => write!(
                f,
                "{trailing} bytes follow the SK payload, which must be the last payload"
            ),
            NestedEncrypted => write!(f, "SK payload found inside encrypted contents"),
            UnsupportedCriticalPayload { payload } => write!(
                f,
                "payload {payload} is marked critical but is not supported"
            ),
            BodyTooShort {
                payload,
                needed,
                actual,
            } => write!(
                f,
                "payload {payload} body is {actual} bytes but needs at least {needed}"
            ),
            NonceLength { len } => write!(f, "nonce is {len} bytes, must be 16 to 256"),
            IdLength { id_type, len } => {
                write!(
                    f,
                    "identification of type {id_type} has {len} bytes of data"
                )
            }
            KeLength {
                group,
                len,
                expected,
            } => write!(
                f,
                "KE payload for DH group {group} carries {len} bytes, the group needs {expected}"
            ),
            NoProposals => write!(f, "SA payload contains no proposals"),
            ItemTruncated {
                item,
                needed,
                remaining,
            } => write!(
                f,
                "{item} needs {needed} bytes for its header but only {remaining} remain"
            ),
            ItemTooShort { item, length, min } => {
                write!(
                    f,
                    "{item} claims {length} bytes, less than its minimum of {min}"
                )
            }
            ItemOverrun {
                item,
                length,
                remaining,
            } => {
                write!(
                    f,
                    "{item} claims {length} bytes but only {remaining} remain"
                )
            }
            LastFlag {
                item,
                value,
                expected: 0,
            } => write!(
                f,
                "{item} has last-substructure value {value} but is the last one (expected 0)"
            ),
            LastFlag {
                item,
                value,
                expected,
            } => write!(
                f,
                "{item} has last-substructure value {value} but more follow (expected {expected})"
            ),
            ProposalNumber {
                index,
                number,
                expected,
            } => write!(
                f,
                "proposal #{index} is numbered {number}, expected {expected}"
            ),
            SpiSize { protocol, size } => {
                write!(f, "SPI size {size} is invalid for protocol {protocol}")
            }
            TransformCount {
                proposal,
                declared,
                found,
            } => write!(
                f,
                "proposal #{proposal} declares {declared} transforms but contains {found}"
            ),
            AttributeFormat { item, attribute } => write!(
                f,
                "{item}: attribute type {attribute} must use the TV (fixed 2-byte) format"
            ),
            TsCount { declared, found } => write!(
                f,
                "traffic selector payload declares {declared} selectors but contains {found}"
            ),
            TsLength {
                index,
                ts_type,
                length,
                expected,
            } => write!(
                f,
                "traffic selector #{index} of type {ts_type} is {length} bytes, expected {expected}"
            ),
            UnknownTsType { index, ts_type } => {
                write!(
                    f,
                    "traffic selector #{index} has unsupported type {ts_type}"
                )
            }
            DeleteSpis {
                protocol,
                spi_size,
                count,
                bytes,
            } => write!(
                f,
                "Delete payload for {protocol} declares {count} SPIs of {spi_size} bytes \
                 but carries {bytes} bytes of SPIs"
            ),
            DeleteProtocol { protocol } => write!(
                f,
                "Delete payload names protocol {protocol}; only IKE, AH and ESP can be deleted"
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// Why a message or payload could not be serialized.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// A value exceeds the size of its length or count field.
    TooLong {
        /// What overflowed.
        what: &'static str,
        /// Size or count requested.
        len: usize,
        /// Field maximum.
        max: usize,
    },
    /// A payload longer than 65535 bytes.
    PayloadTooLong {
        /// Payload type.
        payload: PayloadType,
        /// Length including the generic header.
        len: usize,
    },
    /// An SK payload that is not the last payload of its chain.
    EncryptedNotLast,
    /// An SK payload in the contents of another SK payload.
    NestedEncrypted,
    /// `Payload::Unknown` given a type that has its own variant, or NONE.
    UnknownPayloadType {
        /// The type.
        payload: PayloadType,
    },
    /// The value would be rejected by the parser, for the reason given.
    Invalid(ParseError),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooLong { what, len, max } => {
                write!(f, "{what} is {len}, more than its field allows ({max})")
            }
            EncodeError::PayloadTooLong { payload, len } => {
                write!(f, "payload {payload} would be {len} bytes, more than 65535")
            }
            EncodeError::EncryptedNotLast => write!(f, "the SK payload must be the last payload"),
            EncodeError::NestedEncrypted => {
                write!(f, "an SK payload cannot be inside encrypted contents")
            }
            EncodeError::UnknownPayloadType { payload } => write!(
                f,
                "payload type {payload} cannot be sent as an unknown payload"
            ),
            EncodeError::Invalid(reason) => write!(f, "refusing to encode: {reason}"),
        }
    }
}

impl std::error::Error for EncodeError {}

impl From<ParseError> for EncodeError {
    fn from(reason: ParseError) -> Self {
        EncodeError::Invalid(reason)
    }
}
