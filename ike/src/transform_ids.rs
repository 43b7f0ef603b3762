// SPDX-License-Identifier: GPL-2.0
//! Transform IDs (IANA "IKEv2 Transform Type N" registries) and readable names for diagnostics.
//! Names follow strongSwan's style: `AES_GCM_16_256`, `HMAC_SHA2_256_128`, `MODP_2048`.

use crate::codes::TransformType;

/// ENCR_NULL (RFC 2410).
pub const ENCR_NULL: u16 = 11;
/// ENCR_AES_CBC (RFC 3602); needs a Key Length attribute.
pub const ENCR_AES_CBC: u16 = 12;
/// ENCR_AES_CTR (RFC 3686); needs a Key Length attribute.
pub const ENCR_AES_CTR: u16 = 13;
/// ENCR_AES_GCM_8 (RFC 4106): 8-byte ICV.
pub const ENCR_AES_GCM_8: u16 = 18;
/// ENCR_AES_GCM_12 (RFC 4106): 12-byte ICV.
pub const ENCR_AES_GCM_12: u16 = 19;
/// ENCR_AES_GCM_16 (RFC 4106): 16-byte ICV.
pub const ENCR_AES_GCM_16: u16 = 20;
/// ENCR_NULL_AUTH_AES_GMAC (RFC 4543): integrity only.
pub const ENCR_NULL_AUTH_AES_GMAC: u16 = 21;
/// ENCR_CHACHA20_POLY1305 (RFC 7634).
pub const ENCR_CHACHA20_POLY1305: u16 = 28;

/// PRF_HMAC_SHA1 (RFC 7296): weak, only where a configuration names it.
pub const PRF_HMAC_SHA1: u16 = 2;
/// PRF_HMAC_SHA2_256 (RFC 4868).
pub const PRF_HMAC_SHA2_256: u16 = 5;
/// PRF_HMAC_SHA2_384 (RFC 4868).
pub const PRF_HMAC_SHA2_384: u16 = 6;
/// PRF_HMAC_SHA2_512 (RFC 4868).
pub const PRF_HMAC_SHA2_512: u16 = 7;
/// PRF_AES128_XCBC (RFC 4434): named in diagnostics only (no Rust crate implements XCBC).
pub const PRF_AES128_XCBC: u16 = 4;
/// PRF_AES128_CMAC (RFC 4615).
pub const PRF_AES128_CMAC: u16 = 8;

/// NONE: no integrity transform (used with AEAD ciphers).
pub const AUTH_NONE: u16 = 0;
/// AUTH_HMAC_SHA1_96 (RFC 2404).
pub const AUTH_HMAC_SHA1_96: u16 = 2;
/// AUTH_AES_XCBC_96 (RFC 3566): ESP and AH only here (no Rust crate implements XCBC).
pub const AUTH_AES_XCBC_96: u16 = 5;
/// AUTH_AES_CMAC_96 (RFC 4494).
pub const AUTH_AES_CMAC_96: u16 = 8;
/// AUTH_HMAC_SHA2_256_128 (RFC 4868).
pub const AUTH_HMAC_SHA2_256_128: u16 = 12;
/// AUTH_HMAC_SHA2_384_192 (RFC 4868).
pub const AUTH_HMAC_SHA2_384_192: u16 = 13;
/// AUTH_HMAC_SHA2_512_256 (RFC 4868).
pub const AUTH_HMAC_SHA2_512_256: u16 = 14;

/// NONE: no key exchange (CREATE_CHILD_SA without PFS).
pub const DH_NONE: u16 = 0;
/// 1024-bit MODP group (RFC 2409): weak, only where a configuration names it.
pub const DH_MODP_1024: u16 = 2;
/// 1536-bit MODP group (RFC 3526): weak, only where a configuration names it.
pub const DH_MODP_1536: u16 = 5;
/// 2048-bit MODP group (RFC 3526).
pub const DH_MODP_2048: u16 = 14;
/// 3072-bit MODP group (RFC 3526).
pub const DH_MODP_3072: u16 = 15;
/// 4096-bit MODP group (RFC 3526).
pub const DH_MODP_4096: u16 = 16;
/// 6144-bit MODP group (RFC 3526).
pub const DH_MODP_6144: u16 = 17;
/// 8192-bit MODP group (RFC 3526).
pub const DH_MODP_8192: u16 = 18;
/// 256-bit random ECP group, NIST P-256 (RFC 5903).
pub const DH_ECP_256: u16 = 19;
/// 384-bit random ECP group, NIST P-384 (RFC 5903).
pub const DH_ECP_384: u16 = 20;
/// 521-bit random ECP group, NIST P-521 (RFC 5903).
pub const DH_ECP_521: u16 = 21;
/// Curve25519 (RFC 8031).
pub const DH_CURVE_25519: u16 = 31;
/// Curve448 (RFC 8031).
pub const DH_CURVE_448: u16 = 32;

/// No Extended Sequence Numbers.
pub const NO_ESN: u16 = 0;
/// Extended Sequence Numbers.
pub const ESN: u16 = 1;

/// Transform attribute type "Key Length" (in bits); always TV format (RFC 7296 §3.3.5).
pub const ATTR_KEY_LENGTH: u16 = 14;

/// Name of an encryption algorithm, without key length.
pub const fn encr_name(id: u16) -> Option<&'static str> {
    Some(match id {
        ENCR_NULL => "NULL",
        ENCR_AES_CBC => "AES_CBC",
        ENCR_AES_CTR => "AES_CTR",
        ENCR_AES_GCM_8 => "AES_GCM_8",
        ENCR_AES_GCM_12 => "AES_GCM_12",
        ENCR_AES_GCM_16 => "AES_GCM_16",
        ENCR_NULL_AUTH_AES_GMAC => "NULL_AUTH_AES_GMAC",
        ENCR_CHACHA20_POLY1305 => "CHACHA20_POLY1305",
        _ => return None,
    })
}

/// Name of a pseudo-random function.
pub const fn prf_name(id: u16) -> Option<&'static str> {
    Some(match id {
        PRF_HMAC_SHA1 => "PRF_HMAC_SHA1",
        PRF_HMAC_SHA2_256 => "PRF_HMAC_SHA2_256",
        PRF_HMAC_SHA2_384 => "PRF_HMAC_SHA2_384",
        PRF_HMAC_SHA2_512 => "PRF_HMAC_SHA2_512",
        PRF_AES128_XCBC => "PRF_AES128_XCBC",
        PRF_AES128_CMAC => "PRF_AES128_CMAC",
        _ => return None,
    })
}

/// Name of an integrity algorithm.
pub const fn integ_name(id: u16) -> Option<&'static str> {
    Some(match id {
        AUTH_NONE => "NONE",
        AUTH_HMAC_SHA1_96 => "HMAC_SHA1_96",
        AUTH_AES_XCBC_96 => "AES_XCBC_96",
        AUTH_AES_CMAC_96 => "AES_CMAC_96",
        AUTH_HMAC_SHA2_256_128 => "HMAC_SHA2_256_128",
        AUTH_HMAC_SHA2_384_192 => "HMAC_SHA2_384_192",
        AUTH_HMAC_SHA2_512_256 => "HMAC_SHA2_512_256",
        _ => return None,
    })
}

/// Name of a Diffie-Hellman group (key exchange method).
pub const fn dh_name(id: u16) -> Option<&'static str> {
    Some(match id {
        DH_NONE => "NONE",
        DH_MODP_1024 => "MODP_1024",
        DH_MODP_1536 => "MODP_1536",
        DH_MODP_2048 => "MODP_2048",
        DH_MODP_3072 => "MODP_3072",
        DH_MODP_4096 => "MODP_4096",
        DH_MODP_6144 => "MODP_6144",
        DH_MODP_8192 => "MODP_8192",
        DH_ECP_256 => "ECP_256",
        DH_ECP_384 => "ECP_384",
        DH_ECP_521 => "ECP_521",
        DH_CURVE_25519 => "CURVE_25519",
        DH_CURVE_448 => "CURVE_448",
        _ => return None,
    })
}

/// Name of an ESN transform.
pub const fn esn_name(id: u16) -> Option<&'static str> {
    Some(match id {
        NO_ESN => "NO_ESN",
        ESN => "ESN",
        _ => return None,
    })
}

/// Length of a group's public value in a KE payload (RFC 7296 §3.4, RFC 5903, RFC 8031).
pub const fn dh_public_value_len(group: u16) -> Option<usize> {
    Some(match group {
        DH_MODP_1024 => 128,
        DH_MODP_1536 => 192,
        DH_MODP_2048 => 256,
        DH_MODP_3072 => 384,
        DH_MODP_4096 => 512,
        DH_MODP_6144 => 768,
        DH_MODP_8192 => 1024,
        DH_ECP_256 => 64,
        DH_ECP_384 => 96,
        DH_ECP_521 => 132,
        DH_CURVE_25519 => 32,
        DH_CURVE_448 => 56,
        _ => return None,
    })
}

/// Readable name of one transform, e.g. `AES_GCM_16_256`, `PRF_HMAC_SHA2_256`, `CURVE_25519`.
/// Unknown IDs read `ENCR_1024`; the key length (bits) is appended to encryption algorithms.
pub fn transform_name(kind: TransformType, id: u16, key_length: Option<u16>) -> String {
    let known = match kind {
        TransformType::ENCR => encr_name(id),
        TransformType::PRF => prf_name(id),
        TransformType::INTEG => integ_name(id),
        TransformType::DH => dh_name(id),
        TransformType::ESN => esn_name(id),
        _ => None,
    };
    let base = match (known, kind.name()) {
        (Some(name), _) => name.to_string(),
        (None, Some(kind_name)) => format!("{kind_name}_{id}"),
        (None, None) => format!("TRANSFORM_TYPE_{}_ID_{id}", kind.0),
    };
    match key_length {
        Some(bits) => format!("{base}_{bits}"),
        None => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_like_proposal_keywords() {
        let t = TransformType::ENCR;
        assert_eq!(
            transform_name(t, ENCR_AES_GCM_16, Some(256)),
            "AES_GCM_16_256"
        );
        assert_eq!(transform_name(t, ENCR_AES_CBC, Some(128)), "AES_CBC_128");
        assert_eq!(
            transform_name(t, ENCR_CHACHA20_POLY1305, None),
            "CHACHA20_POLY1305"
        );
        assert_eq!(transform_name(t, 1024, None), "ENCR_1024");
        let prf = TransformType::PRF;
        assert_eq!(
            transform_name(prf, PRF_HMAC_SHA2_384, None),
            "PRF_HMAC_SHA2_384"
        );
        let integ = TransformType::INTEG;
        assert_eq!(
            transform_name(integ, AUTH_HMAC_SHA2_256_128, None),
            "HMAC_SHA2_256_128"
        );
        assert_eq!(
            transform_name(TransformType::DH, DH_MODP_2048, None),
            "MODP_2048"
        );
        assert_eq!(
            transform_name(TransformType::DH, DH_ECP_256, None),
            "ECP_256"
        );
        assert_eq!(
            transform_name(TransformType::DH, DH_CURVE_25519, None),
            "CURVE_25519"
        );
        assert_eq!(transform_name(TransformType::ESN, ESN, None), "ESN");
        assert_eq!(transform_name(TransformType::ESN, NO_ESN, None), "NO_ESN");
        assert_eq!(
            transform_name(TransformType(9), 3, None),
            "TRANSFORM_TYPE_9_ID_3"
        );
    }

    #[test]
    fn public_value_lengths() {
        assert_eq!(dh_public_value_len(DH_MODP_2048), Some(256));
        assert_eq!(dh_public_value_len(DH_ECP_256), Some(64));
        assert_eq!(dh_public_value_len(DH_CURVE_25519), Some(32));
        assert_eq!(dh_public_value_len(1234), None);
    }
}
