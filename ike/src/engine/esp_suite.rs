// SPDX-License-Identifier: GPL-2.0
//! The suites a Child SA can negotiate: one per ESP and AH algorithm of ripsec's data plane,
//! with their transform IDs and key sizes.

use crate::codes::{ProtocolId, TransformType};
use crate::crypto::{SkCipher, SkInteg};
use crate::sa::Transform;
use crate::transform_ids::{
    AUTH_AES_CMAC_96, AUTH_AES_XCBC_96, AUTH_HMAC_SHA1_96, AUTH_HMAC_SHA2_256_128,
    AUTH_HMAC_SHA2_384_192, AUTH_HMAC_SHA2_512_256, ENCR_AES_CBC, ENCR_AES_GCM_12, ENCR_AES_GCM_16,
    ENCR_AES_GCM_8, ENCR_CHACHA20_POLY1305, ENCR_NULL, ENCR_NULL_AUTH_AES_GMAC,
};

/// An integrity transform of ESP and AH, truncated to its ICV: an HMAC (RFC 2404, RFC 4868),
/// AES-XCBC-96 (RFC 3566) or AES-CMAC-96 (RFC 4494). The kernel computes them; IKE only
/// derives their keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EspInteg {
    /// AUTH_HMAC_SHA1_96: weak, accepted only when a configuration names it.
    Sha1_96,
    /// AUTH_HMAC_SHA2_256_128.
    Sha256_128,
    /// AUTH_HMAC_SHA2_384_192.
    Sha384_192,
    /// AUTH_HMAC_SHA2_512_256.
    Sha512_256,
    /// AUTH_AES_XCBC_96.
    AesXcbc96,
    /// AUTH_AES_CMAC_96.
    AesCmac96,
}

impl EspInteg {
    /// Every one.
    pub const ALL: [EspInteg; 6] = [
        EspInteg::Sha1_96,
        EspInteg::Sha256_128,
        EspInteg::Sha384_192,
        EspInteg::Sha512_256,
        EspInteg::AesXcbc96,
        EspInteg::AesCmac96,
    ];

    /// The INTEG transform ID.
    pub const fn id(self) -> u16 {
        match self {
            EspInteg::Sha1_96 => AUTH_HMAC_SHA1_96,
            EspInteg::Sha256_128 => AUTH_HMAC_SHA2_256_128,
            EspInteg::Sha384_192 => AUTH_HMAC_SHA2_384_192,
            EspInteg::Sha512_256 => AUTH_HMAC_SHA2_512_256,
            EspInteg::AesXcbc96 => AUTH_AES_XCBC_96,
            EspInteg::AesCmac96 => AUTH_AES_CMAC_96,
        }
    }

    /// Key size in bytes: the hash's output size (RFC 2404, RFC 4868 §2.1.1), or an AES-128
    /// key (RFC 3566 §2.1, RFC 4494 §2.1).
    pub const fn key_len(self) -> usize {
        match self {
            EspInteg::AesXcbc96 | EspInteg::AesCmac96 => 16,
            EspInteg::Sha1_96 => 20,
            EspInteg::Sha256_128 => 32,
            EspInteg::Sha384_192 => 48,
            EspInteg::Sha512_256 => 64,
        }
    }

    /// strongSwan's proposal keyword: `sha1`, `sha256`, `sha384`, `sha512`, `aesxcbc`,
    /// `aescmac`.
    pub const fn keyword(self) -> &'static str {
        match self {
            EspInteg::Sha1_96 => "sha1",
            EspInteg::Sha256_128 => "sha256",
            EspInteg::Sha384_192 => "sha384",
            EspInteg::Sha512_256 => "sha512",
            EspInteg::AesXcbc96 => "aesxcbc",
            EspInteg::AesCmac96 => "aescmac",
        }
    }
}

/// An ESP suite: every ESP algorithm of ripsec's data plane (`ripsec_proto::alg::ALGS`).
/// Unlike [`SkCipher`], it includes suites that never protect IKE messages, such as ENCR_NULL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EspCipher {
    /// ENCR_AES_GCM_8/12/16 (RFC 4106): a 128-, 192- or 256-bit key, a 4-byte salt, and an
    /// `icv`-byte ICV (8, 12 or 16).
    AesGcm {
        /// Key size in bits.
        key_bits: u16,
        /// ICV bytes.
        icv: u8,
    },
    /// ENCR_NULL_AUTH_AES_GMAC (RFC 4543): GCM's authentication only, no encryption.
    AesGmac {
        /// Key size in bits: 128, 192 or 256.
        key_bits: u16,
    },
    /// ENCR_AES_CBC (RFC 3602) with an HMAC.
    AesCbc {
        /// Key size in bits: 128, 192 or 256.
        key_bits: u16,
        /// The integrity transform.
        integ: EspInteg,
    },
    /// ENCR_CHACHA20_POLY1305 (RFC 7634): 256-bit key and 4-byte salt, no Key Length attribute.
    ChaCha20Poly1305,
    /// ENCR_NULL (RFC 2410) with an HMAC: integrity only, no encryption.
    Null {
        /// The integrity transform.
        integ: EspInteg,
    },
    /// AH (RFC 4302) with an HMAC: the proposal's protocol is AH, and it has no ENCR
    /// transform.
    Ah {
        /// The integrity transform.
        integ: EspInteg,
    },
}

impl EspCipher {
    /// Encryption key size in bytes, salt included for the AEADs (RFC 4106 §8.1, RFC 4543
    /// §5, RFC 7634 §2).
    pub const fn encr_key_len(self) -> usize {
        match self {
            EspCipher::AesGcm { key_bits, .. } | EspCipher::AesGmac { key_bits } => {
                key_bits as usize / 8 + 4
            }
            EspCipher::AesCbc { key_bits, .. } => key_bits as usize / 8,
            EspCipher::ChaCha20Poly1305 => 32 + 4,
            EspCipher::Null { .. } | EspCipher::Ah { .. } => 0,
        }
    }

    /// Integrity key size in bytes (0 for the AEADs).
    pub const fn integ_key_len(self) -> usize {
        match self.integ() {
            Some(integ) => integ.key_len(),
            None => 0,
        }
    }

    /// The HMAC, for the suites that have one.
    pub const fn integ(self) -> Option<EspInteg> {
        match self {
            EspCipher::AesCbc { integ, .. }
            | EspCipher::Null { integ }
            | EspCipher::Ah { integ } => Some(integ),
            _ => None,
        }
    }

    /// The ENCR transform ID (AH has none: 0).
    pub const fn encr_id(self) -> u16 {
        match self {
            EspCipher::Ah { .. } => 0,
            EspCipher::AesGcm { icv: 8, .. } => ENCR_AES_GCM_8,
            EspCipher::AesGcm { icv: 12, .. } => ENCR_AES_GCM_12,
            EspCipher::AesGcm { .. } => ENCR_AES_GCM_16,
            EspCipher::AesGmac { .. } => ENCR_NULL_AUTH_AES_GMAC,
            EspCipher::AesCbc { .. } => ENCR_AES_CBC,
            EspCipher::ChaCha20Poly1305 => ENCR_CHACHA20_POLY1305,
            EspCipher::Null { .. } => ENCR_NULL,
        }
    }

    /// The INTEG transform ID, if any.
    pub const fn integ_id(self) -> Option<u16> {
        match self.integ() {
            Some(integ) => Some(integ.id()),
            None => None,
        }
    }

    /// The ENCR transform's Key Length attribute in bits; none for algorithms with a fixed
    /// key size (RFC 7634 §3, RFC 2410).
    pub const fn key_length_attribute(self) -> Option<u16> {
        match self {
            EspCipher::AesGcm { key_bits, .. }
            | EspCipher::AesGmac { key_bits }
            | EspCipher::AesCbc { key_bits, .. } => Some(key_bits),
            EspCipher::ChaCha20Poly1305 | EspCipher::Null { .. } | EspCipher::Ah { .. } => None,
        }
    }

    /// Whether it is weak (SHA-1): never in defaults, and `ikeuser check` warns.
    pub const fn is_weak(self) -> bool {
        matches!(self.integ(), Some(EspInteg::Sha1_96))
    }

    /// The IPsec protocol it is for: ESP, or AH.
    pub const fn protocol(self) -> ProtocolId {
        match self {
            EspCipher::Ah { .. } => ProtocolId::AH,
            _ => ProtocolId::ESP,
        }
    }

    /// The ENCR and INTEG transforms (AH: INTEG alone).
    pub(crate) fn transforms(self) -> Vec<Transform> {
        match self {
            EspCipher::Ah { integ } => vec![Transform::new(TransformType::INTEG, integ.id())],
            _ => {
                encr_integ_transforms(self.encr_id(), self.key_length_attribute(), self.integ_id())
            }
        }
    }
}

impl From<SkCipher> for EspCipher {
    fn from(cipher: SkCipher) -> Self {
        match cipher {
            SkCipher::AesGcm16 { key_bits } => EspCipher::AesGcm { key_bits, icv: 16 },
            SkCipher::AesCbc { key_bits, integ } => EspCipher::AesCbc {
                key_bits,
                integ: match integ {
                    SkInteg::Sha1_96 => EspInteg::Sha1_96,
                    SkInteg::Sha256_128 => EspInteg::Sha256_128,
                    SkInteg::Sha384_192 => EspInteg::Sha384_192,
                    SkInteg::Sha512_256 => EspInteg::Sha512_256,
                    SkInteg::AesCmac96 => EspInteg::AesCmac96,
                },
            },
        }
    }
}

/// An ENCR transform (with a Key Length attribute when `key_bits` is given) and an INTEG one.
pub(crate) fn encr_integ_transforms(
    encr: u16,
    key_bits: Option<u16>,
    integ: Option<u16>,
) -> Vec<Transform> {
    let mut out = vec![match key_bits {
        Some(bits) => Transform::with_key_length(TransformType::ENCR, encr, bits),
        None => Transform::new(TransformType::ENCR, encr),
    }];
    if let Some(integ) = integ {
        out.push(Transform::new(TransformType::INTEG, integ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esp_key_material_sizes() {
        let sizes = |c: EspCipher| (c.encr_key_len(), c.integ_key_len());
        // RFC 7634 §2: 256-bit key + 4-byte salt; AEAD, so no integrity key.
        assert_eq!(sizes(EspCipher::ChaCha20Poly1305), (36, 0));
        // RFC 2410: no key; RFC 4868: 32-byte HMAC-SHA-256 key.
        assert_eq!(
            sizes(EspCipher::Null {
                integ: EspInteg::Sha256_128
            }),
            (0, 32)
        );
        assert_eq!(
            sizes(EspCipher::AesGcm {
                key_bits: 128,
                icv: 16
            }),
            (20, 0)
        );
        assert_eq!(
            sizes(EspCipher::AesGcm {
                key_bits: 256,
                icv: 16
            }),
            (36, 0)
        );
        // RFC 4106 with a 192-bit key, any ICV; RFC 4543 as GCM.
        assert_eq!(
            sizes(EspCipher::AesGcm {
                key_bits: 192,
                icv: 8
            }),
            (28, 0)
        );
        assert_eq!(sizes(EspCipher::AesGmac { key_bits: 256 }), (36, 0));
        // RFC 2404 and RFC 4868: the HMAC key is the hash's size.
        let cbc = |integ| {
            sizes(EspCipher::AesCbc {
                key_bits: 128,
                integ,
            })
        };
        assert_eq!(cbc(EspInteg::Sha1_96), (16, 20));
        assert_eq!(cbc(EspInteg::Sha384_192), (16, 48));
        assert_eq!(cbc(EspInteg::Sha512_256), (16, 64));
        // RFC 3566 §2.1, RFC 4494 §2.1: a 128-bit AES key.
        assert_eq!(cbc(EspInteg::AesXcbc96), (16, 16));
        let ah = EspCipher::Ah {
            integ: EspInteg::AesCmac96,
        };
        assert_eq!(
            (sizes(ah), ah.integ_id()),
            ((0, 16), Some(AUTH_AES_CMAC_96))
        );
        let gcm8 = EspCipher::AesGcm {
            key_bits: 128,
            icv: 8,
        };
        assert_eq!((gcm8.encr_id(), gcm8.integ_id()), (ENCR_AES_GCM_8, None));
        let gmac = EspCipher::AesGmac { key_bits: 128 };
        assert_eq!(gmac.encr_id(), ENCR_NULL_AUTH_AES_GMAC);
        // AH: the HMAC key alone, an INTEG transform alone, protocol AH.
        let ah = EspCipher::Ah {
            integ: EspInteg::Sha384_192,
        };
        assert_eq!(sizes(ah), (0, 48));
        assert_eq!(ah.protocol(), ProtocolId::AH);
        let t = ah.transforms();
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].transform_type, t[0].id),
            (TransformType::INTEG, AUTH_HMAC_SHA2_384_192)
        );
        assert_eq!(
            sizes(EspCipher::AesCbc {
                key_bits: 256,
                integ: EspInteg::Sha256_128
            }),
            (32, 32)
        );
        // The IKE suites map to the same ESP sizes.
        for sk in [
            SkCipher::AesGcm16 { key_bits: 128 },
            SkCipher::AesGcm16 { key_bits: 256 },
            SkCipher::AesCbc {
                key_bits: 128,
                integ: SkInteg::Sha256_128,
            },
            SkCipher::AesCbc {
                key_bits: 256,
                integ: SkInteg::Sha256_128,
            },
        ] {
            let c = EspCipher::from(sk);
            assert_eq!(sizes(c), (sk.encr_key_len(), sk.integ_key_len()));
        }
    }
}
