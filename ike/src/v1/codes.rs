// SPDX-License-Identifier: GPL-2.0
//! ISAKMP numbers (RFC 2408 §3, the IPsec DOI of RFC 2407 §4, IKEv1 attributes of RFC 2409
//! appendix A, NAT-T of RFC 3947): exchange types, payload types, notify messages and SA
//! attribute types, each with the name diagnostics print.

/// ISAKMP major version (the header's upper nibble).
pub const ISAKMP_MAJOR_VERSION: u8 = 1;

/// The IPsec Domain of Interpretation (RFC 2407 §4.2).
pub const DOI_IPSEC: u32 = 1;

/// SIT_IDENTITY_ONLY (RFC 2407 §4.2.1), the only situation deployed peers use.
pub const SIT_IDENTITY_ONLY: u32 = 1;

/// An ISAKMP exchange type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExchangeV1(pub u8);

impl ExchangeV1 {
    /// Identity Protection, IKEv1's Main Mode (RFC 2409 §5).
    pub const MAIN: Self = Self(2);
    /// Aggressive Mode (RFC 2409 §5).
    pub const AGGRESSIVE: Self = Self(4);
    /// Informational (RFC 2408 §4.8).
    pub const INFORMATIONAL: Self = Self(5);
    /// Quick Mode (RFC 2409 §5.5).
    pub const QUICK: Self = Self(32);

    /// Its name, or its number.
    pub fn name(self) -> String {
        match self {
            Self::MAIN => "Main Mode".into(),
            Self::AGGRESSIVE => "Aggressive Mode".into(),
            Self::INFORMATIONAL => "Informational".into(),
            Self::QUICK => "Quick Mode".into(),
            Self(n) => format!("exchange {n}"),
        }
    }
}

/// An ISAKMP payload type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PayloadV1(pub u8);

impl PayloadV1 {
    /// End of the payload chain.
    pub const NONE: Self = Self(0);
    /// Security Association.
    pub const SA: Self = Self(1);
    /// Proposal (inside SA only).
    pub const PROPOSAL: Self = Self(2);
    /// Transform (inside a proposal only).
    pub const TRANSFORM: Self = Self(3);
    /// Key Exchange.
    pub const KE: Self = Self(4);
    /// Identification.
    pub const ID: Self = Self(5);
    /// Certificate.
    pub const CERT: Self = Self(6);
    /// Certificate Request.
    pub const CR: Self = Self(7);
    /// Hash.
    pub const HASH: Self = Self(8);
    /// Signature.
    pub const SIG: Self = Self(9);
    /// Nonce.
    pub const NONCE: Self = Self(10);
    /// Notification.
    pub const NOTIFY: Self = Self(11);
    /// Delete.
    pub const DELETE: Self = Self(12);
    /// Vendor ID.
    pub const VENDOR_ID: Self = Self(13);
    /// NAT-D (RFC 3947).
    pub const NAT_D: Self = Self(20);
    /// NAT-OA (RFC 3947).
    pub const NAT_OA: Self = Self(21);

    /// Its short name as RFC 2408 writes it.
    pub fn name(self) -> String {
        let known = match self.0 {
            0 => "NONE",
            1 => "SA",
            2 => "P",
            3 => "T",
            4 => "KE",
            5 => "ID",
            6 => "CERT",
            7 => "CR",
            8 => "HASH",
            9 => "SIG",
            10 => "NONCE",
            11 => "N",
            12 => "D",
            13 => "VID",
            20 => "NAT-D",
            21 => "NAT-OA",
            n => return format!("payload {n}"),
        };
        known.into()
    }
}

/// An ISAKMP notify message type (RFC 2408 §3.14.1, RFC 2407 §4.6.3, RFC 3706).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NotifyV1(pub u16);

impl NotifyV1 {
    /// INVALID-PAYLOAD-TYPE
    pub const INVALID_PAYLOAD_TYPE: Self = Self(1);
    /// INVALID-EXCHANGE-TYPE
    pub const INVALID_EXCHANGE_TYPE: Self = Self(7);
    /// INVALID-MESSAGE-ID
    pub const INVALID_MESSAGE_ID: Self = Self(9);
    /// INVALID-SPI
    pub const INVALID_SPI: Self = Self(11);
    /// NO-PROPOSAL-CHOSEN
    pub const NO_PROPOSAL_CHOSEN: Self = Self(14);
    /// PAYLOAD-MALFORMED
    pub const PAYLOAD_MALFORMED: Self = Self(16);
    /// INVALID-KEY-INFORMATION
    pub const INVALID_KEY_INFORMATION: Self = Self(17);
    /// INVALID-ID-INFORMATION
    pub const INVALID_ID_INFORMATION: Self = Self(18);
    /// AUTHENTICATION-FAILED
    pub const AUTHENTICATION_FAILED: Self = Self(24);
    /// INVALID-HASH-INFORMATION
    pub const INVALID_HASH_INFORMATION: Self = Self(23);
    /// RESPONDER-LIFETIME (RFC 2407 §4.6.3.1)
    pub const RESPONDER_LIFETIME: Self = Self(24576);
    /// INITIAL-CONTACT (RFC 2407 §4.6.3.3)
    pub const INITIAL_CONTACT: Self = Self(24578);
    /// R-U-THERE (RFC 3706)
    pub const R_U_THERE: Self = Self(36136);
    /// R-U-THERE-ACK (RFC 3706)
    pub const R_U_THERE_ACK: Self = Self(36137);

    /// Its name, or its number.
    pub fn name(self) -> String {
        let known = match self.0 {
            1 => "INVALID-PAYLOAD-TYPE",
            7 => "INVALID-EXCHANGE-TYPE",
            9 => "INVALID-MESSAGE-ID",
            11 => "INVALID-SPI",
            14 => "NO-PROPOSAL-CHOSEN",
            16 => "PAYLOAD-MALFORMED",
            17 => "INVALID-KEY-INFORMATION",
            18 => "INVALID-ID-INFORMATION",
            23 => "INVALID-HASH-INFORMATION",
            24 => "AUTHENTICATION-FAILED",
            24576 => "RESPONDER-LIFETIME",
            24578 => "INITIAL-CONTACT",
            36136 => "R-U-THERE",
            36137 => "R-U-THERE-ACK",
            n => return format!("notify {n}"),
        };
        known.into()
    }
}

/// Protocol IDs of the IPsec DOI (RFC 2407 §4.4.1).
pub mod proto {
    /// PROTO_ISAKMP: phase 1.
    pub const ISAKMP: u8 = 1;
    /// PROTO_IPSEC_AH
    pub const AH: u8 = 2;
    /// PROTO_IPSEC_ESP
    pub const ESP: u8 = 3;
}

/// Phase 1 SA attribute types (RFC 2409 appendix A); Key Length is TV, Life Duration may be
/// TLV.
pub mod p1_attr {
    /// Encryption Algorithm (7: AES-CBC, RFC 3602).
    pub const ENCRYPTION: u16 = 1;
    /// Hash Algorithm (1 MD5, 2 SHA, 4 SHA2-256, 5 SHA2-384, 6 SHA2-512).
    pub const HASH: u16 = 2;
    /// Authentication Method (1 pre-shared key, 3 RSA signatures, ...).
    pub const AUTH_METHOD: u16 = 3;
    /// Group Description (the MODP/ECP group number, as IKEv2's DH IDs).
    pub const GROUP: u16 = 4;
    /// Life Type (1 seconds, 2 kilobytes).
    pub const LIFE_TYPE: u16 = 11;
    /// Life Duration.
    pub const LIFE_DURATION: u16 = 12;
    /// Key Length in bits.
    pub const KEY_LENGTH: u16 = 14;
}

/// Phase 2 SA attribute types of the IPsec DOI (RFC 2407 §4.5).
pub mod p2_attr {
    /// SA Life Type (1 seconds, 2 kilobytes).
    pub const LIFE_TYPE: u16 = 1;
    /// SA Life Duration.
    pub const LIFE_DURATION: u16 = 2;
    /// Group Description (PFS).
    pub const GROUP: u16 = 3;
    /// Encapsulation Mode (1 tunnel, 2 transport; 3/4 UDP-encapsulated, RFC 3947).
    pub const ENCAPSULATION: u16 = 4;
    /// Authentication Algorithm (1 HMAC-MD5, 2 HMAC-SHA, 5 HMAC-SHA2-256, ...).
    pub const AUTH_ALGORITHM: u16 = 5;
    /// Key Length in bits.
    pub const KEY_LENGTH: u16 = 6;
    /// Extended (64-bit) Sequence Number.
    pub const ESN: u16 = 11;
}
