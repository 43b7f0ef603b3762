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
    /// An HMAC alone (AH).
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
    /// ENCR_AES_GCM_16
    pub const ENCR_AES_GCM_16: u16 = 20;
    /// ENCR_CHACHA20_POLY1305
    pub const ENCR_CHACHA20_POLY1305: u16 = 28;
    /// AUTH_HMAC_SHA2_256_128
    pub const AUTH_HMAC_SHA2_256_128: u16 = 12;
}

const fn gcm(name: &'static str, bits: u16) -> Alg {
    Alg {
        name,
        proto: PROTO_ESP,
        kernel_name: "rfc4106(gcm(aes))",
        esn_kernel_name: "rfc4106(gcm(aes))",
        kind: CryptoKind::Aead,
        enc_key_bits: bits,
        salt_len: 4,
        auth_key_len: 0,
        icv_len: 16,
        iv_len: 8,
        block_size: 1,
        ikev2_encr: ikev2::ENCR_AES_GCM_16,
        ikev2_integ: 0,
    }
}

const fn cbc_sha256(name: &'static str, bits: u16) -> Alg {
    Alg {
        name,
        proto: PROTO_ESP,
        kernel_name: "authenc(hmac(sha256),cbc(aes))",
        esn_kernel_name: "authencesn(hmac(sha256),cbc(aes))",
        kind: CryptoKind::AuthEnc,
        enc_key_bits: bits,
        salt_len: 0,
        auth_key_len: 32,
        icv_len: 16,
        iv_len: 16,
        block_size: 16,
        ikev2_encr: ikev2::ENCR_AES_CBC,
        ikev2_integ: ikev2::AUTH_HMAC_SHA2_256_128,
    }
}

/// Every supported algorithm.
pub const ALGS: &[Alg] = &[
    gcm("aes128gcm16", 128),
    gcm("aes256gcm16", 256),
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
    cbc_sha256("aes128-sha256", 128),
    cbc_sha256("aes256-sha256", 256),
    Alg {
        name: "null-sha256",
        proto: PROTO_ESP,
        kernel_name: "authenc(hmac(sha256),ecb(cipher_null))",
        esn_kernel_name: "authencesn(hmac(sha256),ecb(cipher_null))",
        kind: CryptoKind::AuthEnc,
        enc_key_bits: 0,
        salt_len: 0,
        auth_key_len: 32,
        icv_len: 16,
        iv_len: 0,
        block_size: 1,
        ikev2_encr: ikev2::ENCR_NULL,
        ikev2_integ: ikev2::AUTH_HMAC_SHA2_256_128,
    },
    Alg {
        name: "sha256",
        proto: PROTO_AH,
        kernel_name: "hmac(sha256)",
        esn_kernel_name: "hmac(sha256)",
        kind: CryptoKind::Hash,
        enc_key_bits: 0,
        salt_len: 0,
        auth_key_len: 32,
        icv_len: 16,
        iv_len: 0,
        block_size: 1,
        ikev2_encr: 0,
        ikev2_integ: ikev2::AUTH_HMAC_SHA2_256_128,
    },
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
