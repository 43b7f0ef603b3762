// SPDX-License-Identifier: GPL-2.0
//! IANA registry values carried in IKEv2 message fields (RFC 7296 §3 and the IKEv2 registries).
//!
//! Each is a transparent newtype so unknown values survive a parse/serialize round trip, with
//! named constants for the values ripsec knows. `Display` prints `NAME (value)`.

use core::fmt;

/// Defines a registry newtype with named constants, `name()` and `Display`/`Debug`.
macro_rules! registry {
    (
        $(#[$meta:meta])*
        $type:ident($repr:ty) {
            $( $(#[$cmeta:meta])* $const:ident = $value:literal => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $type(pub $repr);

        impl $type {
            $( $(#[$cmeta])* #[doc = concat!("`", $text, "`")] pub const $const: Self = Self($value); )*

            /// The registry name, or `None` for a value this crate does not know.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some($text), )*
                    _ => None,
                }
            }
        }

        impl From<$repr> for $type {
            fn from(value: $repr) -> Self {
                Self(value)
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => write!(f, "{} ({})", name, self.0),
                    None => write!(f, "unknown ({})", self.0),
                }
            }
        }

        impl fmt::Debug for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }
    };
}

registry! {
    /// Payload type, as found in "Next Payload" fields (RFC 7296 §3.2).
    PayloadType(u8) {
        NONE = 0 => "NONE",
        SA = 33 => "SA",
        KE = 34 => "KE",
        IDI = 35 => "IDi",
        IDR = 36 => "IDr",
        CERT = 37 => "CERT",
        CERTREQ = 38 => "CERTREQ",
        AUTH = 39 => "AUTH",
        NONCE = 40 => "Nonce",
        NOTIFY = 41 => "Notify",
        DELETE = 42 => "Delete",
        VENDOR_ID = 43 => "Vendor ID",
        TSI = 44 => "TSi",
        TSR = 45 => "TSr",
        SK = 46 => "SK",
        CP = 47 => "CP",
        EAP = 48 => "EAP",
        GSPM = 49 => "GSPM",
        SKF = 53 => "SKF",
    }
}

registry! {
    /// Exchange type (RFC 7296 §3.1).
    ExchangeType(u8) {
        IKE_SA_INIT = 34 => "IKE_SA_INIT",
        IKE_AUTH = 35 => "IKE_AUTH",
        CREATE_CHILD_SA = 36 => "CREATE_CHILD_SA",
        INFORMATIONAL = 37 => "INFORMATIONAL",
    }
}

registry! {
    /// Security protocol identifier in proposals, Notify and Delete payloads (RFC 7296 §3.3.1).
    ProtocolId(u8) {
        NONE = 0 => "NONE",
        IKE = 1 => "IKE",
        AH = 2 => "AH",
        ESP = 3 => "ESP",
    }
}

registry! {
    /// Transform type (RFC 7296 §3.3.2). Type 4 is "Diffie-Hellman group", now "Key Exchange Method".
    TransformType(u8) {
        ENCR = 1 => "ENCR",
        PRF = 2 => "PRF",
        INTEG = 3 => "INTEG",
        DH = 4 => "DH",
        ESN = 5 => "ESN",
    }
}

registry! {
    /// Identification type in IDi/IDr (RFC 7296 §3.5).
    IdType(u8) {
        IPV4_ADDR = 1 => "IPV4_ADDR",
        FQDN = 2 => "FQDN",
        RFC822_ADDR = 3 => "RFC822_ADDR",
        IPV6_ADDR = 5 => "IPV6_ADDR",
        DER_ASN1_DN = 9 => "DER_ASN1_DN",
        DER_ASN1_GN = 10 => "DER_ASN1_GN",
        KEY_ID = 11 => "KEY_ID",
    }
}

registry! {
    /// Certificate encoding in CERT and CERTREQ (RFC 7296 §3.6).
    CertEncoding(u8) {
        PKCS7_WRAPPED_X509 = 1 => "PKCS7_WRAPPED_X509",
        X509_CERT_SIGNATURE = 4 => "X509_CERT_SIGNATURE",
        CRL = 7 => "CRL",
        RAW_RSA_KEY = 11 => "RAW_RSA_KEY",
        HASH_URL_X509_CERT = 12 => "HASH_URL_X509_CERT",
        HASH_URL_X509_BUNDLE = 13 => "HASH_URL_X509_BUNDLE",
    }
}

registry! {
    /// Authentication method in AUTH (RFC 7296 §3.8, RFC 7427).
    AuthMethod(u8) {
        RSA_DIGITAL_SIGNATURE = 1 => "RSA_DIGITAL_SIGNATURE",
        SHARED_KEY_MIC = 2 => "SHARED_KEY_MESSAGE_INTEGRITY_CODE",
        DSS_DIGITAL_SIGNATURE = 3 => "DSS_DIGITAL_SIGNATURE",
        ECDSA_SHA256_P256 = 9 => "ECDSA_SHA256_P256",
        ECDSA_SHA384_P384 = 10 => "ECDSA_SHA384_P384",
        ECDSA_SHA512_P521 = 11 => "ECDSA_SHA512_P521",
        DIGITAL_SIGNATURE = 14 => "DIGITAL_SIGNATURE",
    }
}

registry! {
    /// Hash algorithm in SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4).
    HashAlgorithm(u16) {
        SHA1 = 1 => "SHA1",
        SHA2_256 = 2 => "SHA2_256",
        SHA2_384 = 3 => "SHA2_384",
        SHA2_512 = 4 => "SHA2_512",
        IDENTITY = 5 => "IDENTITY",
    }
}

registry! {
    /// Traffic selector type (RFC 7296 §3.13.1).
    TsType(u8) {
        IPV4_ADDR_RANGE = 7 => "TS_IPV4_ADDR_RANGE",
        IPV6_ADDR_RANGE = 8 => "TS_IPV6_ADDR_RANGE",
    }
}

registry! {
    /// Notify message type (RFC 7296 §3.10.1 and later RFCs). Values below 16384 are errors.
    NotifyType(u16) {
        UNSUPPORTED_CRITICAL_PAYLOAD = 1 => "UNSUPPORTED_CRITICAL_PAYLOAD",
        INVALID_IKE_SPI = 4 => "INVALID_IKE_SPI",
        INVALID_MAJOR_VERSION = 5 => "INVALID_MAJOR_VERSION",
        INVALID_SYNTAX = 7 => "INVALID_SYNTAX",
        INVALID_MESSAGE_ID = 9 => "INVALID_MESSAGE_ID",
        INVALID_SPI = 11 => "INVALID_SPI",
        NO_PROPOSAL_CHOSEN = 14 => "NO_PROPOSAL_CHOSEN",
        INVALID_KE_PAYLOAD = 17 => "INVALID_KE_PAYLOAD",
        AUTHENTICATION_FAILED = 24 => "AUTHENTICATION_FAILED",
        SINGLE_PAIR_REQUIRED = 34 => "SINGLE_PAIR_REQUIRED",
        NO_ADDITIONAL_SAS = 35 => "NO_ADDITIONAL_SAS",
        INTERNAL_ADDRESS_FAILURE = 36 => "INTERNAL_ADDRESS_FAILURE",
        FAILED_CP_REQUIRED = 37 => "FAILED_CP_REQUIRED",
        TS_UNACCEPTABLE = 38 => "TS_UNACCEPTABLE",
        INVALID_SELECTORS = 39 => "INVALID_SELECTORS",
        TEMPORARY_FAILURE = 43 => "TEMPORARY_FAILURE",
        CHILD_SA_NOT_FOUND = 44 => "CHILD_SA_NOT_FOUND",
        INITIAL_CONTACT = 16384 => "INITIAL_CONTACT",
        SET_WINDOW_SIZE = 16385 => "SET_WINDOW_SIZE",
        ADDITIONAL_TS_POSSIBLE = 16386 => "ADDITIONAL_TS_POSSIBLE",
        IPCOMP_SUPPORTED = 16387 => "IPCOMP_SUPPORTED",
        NAT_DETECTION_SOURCE_IP = 16388 => "NAT_DETECTION_SOURCE_IP",
        NAT_DETECTION_DESTINATION_IP = 16389 => "NAT_DETECTION_DESTINATION_IP",
        COOKIE = 16390 => "COOKIE",
        USE_TRANSPORT_MODE = 16391 => "USE_TRANSPORT_MODE",
        HTTP_CERT_LOOKUP_SUPPORTED = 16392 => "HTTP_CERT_LOOKUP_SUPPORTED",
        REKEY_SA = 16393 => "REKEY_SA",
        ESP_TFC_PADDING_NOT_SUPPORTED = 16394 => "ESP_TFC_PADDING_NOT_SUPPORTED",
        NON_FIRST_FRAGMENTS_ALSO = 16395 => "NON_FIRST_FRAGMENTS_ALSO",
        MOBIKE_SUPPORTED = 16396 => "MOBIKE_SUPPORTED",
        IKEV2_FRAGMENTATION_SUPPORTED = 16430 => "IKEV2_FRAGMENTATION_SUPPORTED",
        SIGNATURE_HASH_ALGORITHMS = 16431 => "SIGNATURE_HASH_ALGORITHMS",
    }
}

impl NotifyType {
    /// Error types are 0..16383 (RFC 7296 §3.10.1); status types start at 16384.
    pub const fn is_error(self) -> bool {
        self.0 < 16384
    }
}
