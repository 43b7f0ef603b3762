// SPDX-License-Identifier: GPL-2.0
//! The algorithm table: every transform ripsec supports, its kernel crypto template, key and
//! ICV sizes, and its IKEv2 transform IDs. Names follow strongSwan's proposal keywords.

use crate::uapi::{PROTO_AH, PROTO_ESP};

/// How the module drives the kernel crypto API for an algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoKind {
    /// A combined-mode AEAD (GCM, ChaCha20-Poly1305); key = cipher key + salt.
    Aead,
    /// An `authenc(...)` AEAD built from a cipher and an HMAC; key = HMAC key + cipher key.
    AuthEnc,
    /// A keyed hash alone (AH): an HMAC, AES-XCBC or AES-CMAC.
    Hash,
}

/// One supported transform.
#[derive(Clone, Copy, Debug)]
pub struct Alg {
    /// Name used by `ikeuser` and reported by GET_INFO.
    pub name: &'static str,
    /// IP protocol: ESP or AH.
    pub proto: u8,
    /// Kernel crypto API template.
    pub kernel_name: &'static str,
    /// The template for SAs with extended sequence numbers (`authencesn` moves the high
    /// sequence bits behind the payload for the ICV, RFC 4303 §2.2.1).
    pub esn_kernel_name: &'static str,
    /// How it is instantiated.
    pub kind: CryptoKind,
    /// Cipher key length in bits, without the salt (0: no encryption).
    pub enc_key_bits: u16,
    /// Salt (nonce prefix) bytes appended to the cipher key (RFC 4106 / RFC 7634).
    pub salt_len: u8,
    /// HMAC key length in bytes (0: none).
    pub auth_key_len: u8,
    /// Integrity check value length in bytes.
    pub icv_len: u8,
    /// Per-packet IV length in bytes.
    pub iv_len: u8,
    /// Cipher block size the payload is padded to (ESP pads to at least 4).
    pub block_size: u8,
    /// IKEv2 encryption transform ID (0 when none).
    pub ikev2_encr: u16,
    /// IKEv2 integrity transform ID (0 for AEADs).
    pub ikev2_integ: u16,
}

impl Alg {
    /// Total key bytes the user supplies: cipher key + salt + HMAC key.
    pub const fn key_len(&self) -> usize {
        self.enc_key_bits as usize / 8 + self.salt_len as usize + self.auth_key_len as usize
    }

    /// Alignment of the ESP payload + trailer (RFC 4303 §2.4: at least 4).
    pub const fn pad_align(&self) -> usize {
        if self.block_size > 4 {
            self.block_size as usize
        } else {
            4
        }
    }
}

/// IKEv2 transform IDs (RFC 7296 §3.3.2, IANA).
pub mod ikev2 {
    /// ENCR_NULL
    pub const ENCR_NULL: u16 = 11;
    /// ENCR_AES_CBC
    pub const ENCR_AES_CBC: u16 = 12;
    /// ENCR_AES_GCM_8
    pub const ENCR_AES_GCM_8: u16 = 18;
    /// ENCR_AES_GCM_12
    pub const ENCR_AES_GCM_12: u16 = 19;
    /// ENCR_AES_GCM_16
    pub const ENCR_AES_GCM_16: u16 = 20;
    /// ENCR_NULL_AUTH_AES_GMAC (RFC 4543)
    pub const ENCR_NULL_AUTH_AES_GMAC: u16 = 21;
    /// ENCR_CHACHA20_POLY1305
    pub const ENCR_CHACHA20_POLY1305: u16 = 28;
    /// AUTH_HMAC_SHA1_96
    pub const AUTH_HMAC_SHA1_96: u16 = 2;
    /// AUTH_HMAC_SHA2_256_128
    pub const AUTH_HMAC_SHA2_256_128: u16 = 12;
    /// AUTH_HMAC_SHA2_384_192
    pub const AUTH_HMAC_SHA2_384_192: u16 = 13;
    /// AUTH_HMAC_SHA2_512_256
    pub const AUTH_HMAC_SHA2_512_256: u16 = 14;
    /// AUTH_AES_XCBC_96 (RFC 3566)
    pub const AUTH_AES_XCBC_96: u16 = 5;
    /// AUTH_AES_CMAC_96 (RFC 4494)
    pub const AUTH_AES_CMAC_96: u16 = 8;
}

/// An integrity algorithm and its kernel templates: an HMAC (RFC 2404, RFC 4868), AES-XCBC-96
/// (RFC 3566) or AES-CMAC-96 (RFC 4494).
struct Integ {
    /// `authenc(...)` with AES-CBC.
    cbc: &'static str,
    /// Its ESN form.
    cbc_esn: &'static str,
    /// `authenc(...)` with no encryption.
    null: &'static str,
    /// Its ESN form.
    null_esn: &'static str,
    /// The keyed hash alone (AH).
    ah: &'static str,
    /// Key bytes.
    key_len: u8,
    /// Truncated ICV bytes.
    icv_len: u8,
    /// IKEv2 integrity transform ID.
    ikev2: u16,
}

const SHA1: Integ = Integ {
    cbc: "authenc(hmac(sha1),cbc(aes))",
    cbc_esn: "authencesn(hmac(sha1),cbc(aes))",
    null: "authenc(hmac(sha1),ecb(cipher_null))",
    null_esn: "authencesn(hmac(sha1),ecb(cipher_null))",
    ah: "hmac(sha1)",
    key_len: 20,
    icv_len: 12,
    ikev2: ikev2::AUTH_HMAC_SHA1_96,
};

const SHA256: Integ = Integ {
    cbc: "authenc(hmac(sha256),cbc(aes))",
    cbc_esn: "authencesn(hmac(sha256),cbc(aes))",
    null: "authenc(hmac(sha256),ecb(cipher_null))",
    null_esn: "authencesn(hmac(sha256),ecb(cipher_null))",
    ah: "hmac(sha256)",
    key_len: 32,
    icv_len: 16,
    ikev2: ikev2::AUTH_HMAC_SHA2_256_128,
};

const SHA384: Integ = Integ {
    cbc: "authenc(hmac(sha384),cbc(aes))",
    cbc_esn: "authencesn(hmac(sha384),cbc(aes))",
    null: "authenc(hmac(sha384),ecb(cipher_null))",
    null_esn: "authencesn(hmac(sha384),ecb(cipher_null))",
    ah: "hmac(sha384)",
    key_len: 48,
    icv_len: 24,
    ikev2: ikev2::AUTH_HMAC_SHA2_384_192,
};

const SHA512: Integ = Integ {
    cbc: "authenc(hmac(sha512),cbc(aes))",
    cbc_esn: "authencesn(hmac(sha512),cbc(aes))",
    null: "authenc(hmac(sha512),ecb(cipher_null))",
    null_esn: "authencesn(hmac(sha512),ecb(cipher_null))",
    ah: "hmac(sha512)",
    key_len: 64,
    icv_len: 32,
    ikev2: ikev2::AUTH_HMAC_SHA2_512_256,
};

const AES_XCBC: Integ = Integ {
    cbc: "authenc(xcbc(aes),cbc(aes))",
    cbc_esn: "authencesn(xcbc(aes),cbc(aes))",
    null: "authenc(xcbc(aes),ecb(cipher_null))",
    null_esn: "authencesn(xcbc(aes),ecb(cipher_null))",
    ah: "xcbc(aes)",
    key_len: 16,
    icv_len: 12,
    ikev2: ikev2::AUTH_AES_XCBC_96,
};

const AES_CMAC: Integ = Integ {
    cbc: "authenc(cmac(aes),cbc(aes))",
    cbc_esn: "authencesn(cmac(aes),cbc(aes))",
    null: "authenc(cmac(aes),ecb(cipher_null))",
    null_esn: "authencesn(cmac(aes),ecb(cipher_null))",
    ah: "cmac(aes)",
    key_len: 16,
    icv_len: 12,
    ikev2: ikev2::AUTH_AES_CMAC_96,
};

/// AES-GCM (RFC 4106) with a `bits` key and an `icv`-byte ICV (8, 12 or 16).
const fn gcm(name: &'static str, bits: u16, icv: u8) -> Alg {
    let ikev2_encr = match icv {
        8 => ikev2::ENCR_AES_GCM_8,
        12 => ikev2::ENCR_AES_GCM_12,
        _ => ikev2::ENCR_AES_GCM_16,
    };
    Alg {
        name,
        proto: PROTO_ESP,
        kernel_name: "rfc4106(gcm(aes))",
        esn_kernel_name: "rfc4106(gcm(aes))",
        kind: CryptoKind::Aead,
        enc_key_bits: bits,
        salt_len: 4,
        auth_key_len: 0,
        icv_len: icv,
        iv_len: 8,
        block_size: 1,
        ikev2_encr,
        ikev2_integ: 0,
    }
}

/// AES-GMAC (RFC 4543): GCM's authentication alone, the payload goes in the clear.
const fn gmac(name: &'static str, bits: u16) -> Alg {
    Alg {
        kernel_name: "rfc4543(gcm(aes))",
        esn_kernel_name: "rfc4543(gcm(aes))",
        ikev2_encr: ikev2::ENCR_NULL_AUTH_AES_GMAC,
        ..gcm(name, bits, 16)
    }
}

/// AES-CBC (RFC 3602) with a `bits` key and integrity `h`.
const fn cbc(name: &'static str, bits: u16, h: Integ) -> Alg {
    Alg {
        name,
        proto: PROTO_ESP,
        kernel_name: h.cbc,
        esn_kernel_name: h.cbc_esn,
        kind: CryptoKind::AuthEnc,
        enc_key_bits: bits,
        salt_len: 0,
        auth_key_len: h.key_len,
        icv_len: h.icv_len,
        iv_len: 16,
        block_size: 16,
        ikev2_encr: ikev2::ENCR_AES_CBC,
        ikev2_integ: h.ikev2,
    }
}

/// No encryption (RFC 2410) with integrity `h`.
const fn null(name: &'static str, h: Integ) -> Alg {
    Alg {
        kernel_name: h.null,
        esn_kernel_name: h.null_esn,
        enc_key_bits: 0,
        iv_len: 0,
        block_size: 1,
        ikev2_encr: ikev2::ENCR_NULL,
        ..cbc(name, 0, h)
    }
}

/// AH (RFC 4302) with integrity `h`.
const fn ah(name: &'static str, h: Integ) -> Alg {
    Alg {
        name,
        proto: PROTO_AH,
        kernel_name: h.ah,
        esn_kernel_name: h.ah,
        kind: CryptoKind::Hash,
        enc_key_bits: 0,
        salt_len: 0,
        auth_key_len: h.key_len,
        icv_len: h.icv_len,
        iv_len: 0,
        block_size: 1,
        ikev2_encr: 0,
        ikev2_integ: h.ikev2,
    }
}

/// Every supported algorithm, named as strongSwan's proposal keywords name them.
pub const ALGS: &[Alg] = &[
    gcm("aes128gcm16", 128, 16),
    gcm("aes192gcm16", 192, 16),
    gcm("aes256gcm16", 256, 16),
    gcm("aes128gcm12", 128, 12),
    gcm("aes192gcm12", 192, 12),
    gcm("aes256gcm12", 256, 12),
    gcm("aes128gcm8", 128, 8),
    gcm("aes192gcm8", 192, 8),
    gcm("aes256gcm8", 256, 8),
    gmac("aes128gmac", 128),
    gmac("aes192gmac", 192),
    gmac("aes256gmac", 256),
    Alg {
        name: "chacha20poly1305",
        proto: PROTO_ESP,
        kernel_name: "rfc7539esp(chacha20,poly1305)",
        esn_kernel_name: "rfc7539esp(chacha20,poly1305)",
        kind: CryptoKind::Aead,
        enc_key_bits: 256,
        salt_len: 4,
        auth_key_len: 0,
        icv_len: 16,
        iv_len: 8,
        block_size: 1,
        ikev2_encr: ikev2::ENCR_CHACHA20_POLY1305,
        ikev2_integ: 0,
    },
    cbc("aes128-sha256", 128, SHA256),
    cbc("aes192-sha256", 192, SHA256),
    cbc("aes256-sha256", 256, SHA256),
    cbc("aes128-sha384", 128, SHA384),
    cbc("aes192-sha384", 192, SHA384),
    cbc("aes256-sha384", 256, SHA384),
    cbc("aes128-sha512", 128, SHA512),
    cbc("aes192-sha512", 192, SHA512),
    cbc("aes256-sha512", 256, SHA512),
    cbc("aes128-sha1", 128, SHA1),
    cbc("aes192-sha1", 192, SHA1),
    cbc("aes256-sha1", 256, SHA1),
    null("null-sha256", SHA256),
    null("null-sha384", SHA384),
    null("null-sha512", SHA512),
    null("null-sha1", SHA1),
    cbc("aes128-aesxcbc", 128, AES_XCBC),
    cbc("aes192-aesxcbc", 192, AES_XCBC),
    cbc("aes256-aesxcbc", 256, AES_XCBC),
    cbc("aes128-aescmac", 128, AES_CMAC),
    cbc("aes192-aescmac", 192, AES_CMAC),
    cbc("aes256-aescmac", 256, AES_CMAC),
    null("null-aesxcbc", AES_XCBC),
    null("null-aescmac", AES_CMAC),
    ah("sha256", SHA256),
    ah("sha384", SHA384),
    ah("sha512", SHA512),
    ah("sha1", SHA1),
    ah("aesxcbc", AES_XCBC),
    ah("aescmac", AES_CMAC),
];

/// Largest key blob [`authenc_key_blob`] produces.
pub const AUTHENC_BLOB_MAX: usize = 8 + crate::uapi::MAX_KEY_LEN;

/// The user's key has the wrong length for the algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyLengthError;

/// Builds the key blob `authenc(...)` templates expect (crypto/authenc.c): an rtattr of type
/// `CRYPTO_AUTHENC_KEYA_PARAM` holding the big-endian cipher key length, then the HMAC key,
/// then the cipher key. The user's key is the cipher key followed by the HMAC key.
pub fn authenc_key_blob(alg: &Alg, user: &[u8], out: &mut [u8]) -> Result<usize, KeyLengthError> {
    let enc_len = usize::from(alg.enc_key_bits / 8);
    if user.len() != alg.key_len() || user.len() < enc_len {
        return Err(KeyLengthError);
    }
    let (enc, auth) = user.split_at(enc_len);
    let total = 8 + user.len();
    let out = out.get_mut(..total).ok_or(KeyLengthError)?;
    out[0..2].copy_from_slice(&8u16.to_ne_bytes()); // rta_len = RTA_LENGTH(4)
    out[2..4].copy_from_slice(&1u16.to_ne_bytes()); // CRYPTO_AUTHENC_KEYA_PARAM
    let enc_len32 = u32::try_from(enc_len).map_err(|_| KeyLengthError)?;
    out[4..8].copy_from_slice(&enc_len32.to_be_bytes());
    out[8..8 + auth.len()].copy_from_slice(auth);
    out[8 + auth.len()..].copy_from_slice(enc);
    Ok(total)
}

/// Finds an algorithm by name and protocol.
pub fn find(name: &str, proto: u8) -> Option<&'static Alg> {
    ALGS.iter().find(|a| a.name == name && a.proto == proto)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_per_protocol() {
        for (i, a) in ALGS.iter().enumerate() {
            for b in &ALGS[i + 1..] {
                assert!(a.name != b.name || a.proto != b.proto, "{}", a.name);
            }
        }
    }

    #[test]
    fn key_lengths_match_the_rfcs() {
        // RFC 4106 §8.1: 16/32-byte AES key + 4-byte salt.
        assert_eq!(find("aes128gcm16", PROTO_ESP).unwrap().key_len(), 20);
        assert_eq!(find("aes256gcm16", PROTO_ESP).unwrap().key_len(), 36);
        // RFC 7634 §2: 32-byte key + 4-byte salt.
        assert_eq!(find("chacha20poly1305", PROTO_ESP).unwrap().key_len(), 36);
        // RFC 3602 + RFC 4868: AES key + 32-byte HMAC-SHA-256 key, ICV truncated to 16.
        let cbc = find("aes256-sha256", PROTO_ESP).unwrap();
        assert_eq!((cbc.key_len(), cbc.icv_len, cbc.iv_len), (64, 16, 16));
        assert_eq!(find("null-sha256", PROTO_ESP).unwrap().key_len(), 32);
        assert_eq!(find("sha256", PROTO_AH).unwrap().key_len(), 32);
        assert!(find("sha256", PROTO_ESP).is_none());
        // RFC 4106 §8.1 with a 24-byte key; RFC 4543 §5: as GCM.
        assert_eq!(find("aes192gcm8", PROTO_ESP).unwrap().key_len(), 28);
        let gmac = find("aes256gmac", PROTO_ESP).unwrap();
        assert_eq!((gmac.key_len(), gmac.icv_len, gmac.iv_len), (36, 16, 8));
        // RFC 2404 (HMAC-SHA-1-96) and RFC 4868 (SHA-384-192, SHA-512-256).
        let icv = |n| find(n, PROTO_ESP).map(|a| (a.key_len(), a.icv_len));
        assert_eq!(icv("aes128-sha1"), Some((36, 12)));
        assert_eq!(icv("aes192-sha384"), Some((72, 24)));
        assert_eq!(icv("aes256-sha512"), Some((96, 32)));
        assert_eq!(icv("null-sha512"), Some((64, 32)));
        assert_eq!(
            find("sha1", PROTO_AH).map(|a| (a.key_len(), a.icv_len)),
            Some((20, 12))
        );
        // RFC 3566 and RFC 4494: a 128-bit AES key, the MAC truncated to 96 bits.
        assert_eq!(icv("aes192-aesxcbc"), Some((40, 12)));
        assert_eq!(icv("null-aescmac"), Some((16, 12)));
        for ah in ["aesxcbc", "aescmac"] {
            assert_eq!(
                find(ah, PROTO_AH).map(|a| (a.key_len(), a.icv_len)),
                Some((16, 12))
            );
        }
    }

    #[test]
    fn every_key_fits_the_uapi_and_the_authenc_blob() {
        for a in ALGS {
            assert!(a.key_len() <= crate::uapi::MAX_KEY_LEN, "{}", a.name);
        }
    }

    #[test]
    fn esp_pads_to_at_least_four_bytes() {
        assert_eq!(find("aes128gcm16", PROTO_ESP).unwrap().pad_align(), 4);
        assert_eq!(find("aes128-sha256", PROTO_ESP).unwrap().pad_align(), 16);
    }

    #[test]
    fn authenc_blob_layout() {
        let alg = find("aes128-sha256", PROTO_ESP).unwrap();
        let user: std::vec::Vec<u8> = (0..48).collect(); // 16 cipher + 32 HMAC
        let mut out = [0u8; AUTHENC_BLOB_MAX];
        let n = authenc_key_blob(alg, &user, &mut out).unwrap();
        assert_eq!(n, 56);
        assert_eq!(&out[0..4], &[8, 0, 1, 0]); // little-endian rtattr header
        assert_eq!(&out[4..8], &[0, 0, 0, 16]); // cipher key length, big-endian
        assert_eq!(&out[8..40], &user[16..48]); // HMAC key first
        assert_eq!(&out[40..56], &user[0..16]); // then the cipher key
        assert_eq!(
            authenc_key_blob(alg, &user[..47], &mut out),
            Err(KeyLengthError)
        );
        let null = find("null-sha256", PROTO_ESP).unwrap();
        assert_eq!(authenc_key_blob(null, &user[..32], &mut out), Ok(40));
        assert_eq!(&out[4..8], &[0, 0, 0, 0]);
    }

    #[test]
    fn esn_templates() {
        for a in ALGS {
            match a.kind {
                CryptoKind::AuthEnc => {
                    let rest = a.kernel_name.strip_prefix("authenc(").unwrap();
                    assert_eq!(a.esn_kernel_name.strip_prefix("authencesn("), Some(rest));
                }
                _ => assert_eq!(a.esn_kernel_name, a.kernel_name, "{}", a.name),
            }
        }
    }

    #[test]
    fn kernel_names_fit_the_crypto_api_limit() {
        // CRYPTO_MAX_ALG_NAME is 128 including the NUL.
        assert!(ALGS
            .iter()
            .all(|a| a.kernel_name.len() < 128 && a.name.len() < 32));
    }
}
