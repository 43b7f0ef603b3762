// SPDX-License-Identifier: GPL-2.0
//! Cryptographic operations of the IKE SA: SK payload protection (RFC 7296 §3.14, RFC 5282
//! for AES-GCM) and Diffie-Hellman (groups 2, 5, 14-21, 31 and 32). Every primitive comes from
//! RustCrypto / dalek crates; this module only frames the bytes.

use core::fmt;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit, Nonce, Tag};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroize;

use crate::error::ParseError;
use crate::message::{build_inner_chain, parse_inner_chain, Message};
use crate::payload::{EncryptedPayload, Payload};
use crate::secret::Secret;
use crate::transform_ids::{
    AUTH_AES_CMAC_96, AUTH_HMAC_SHA1_96, AUTH_HMAC_SHA2_256_128, AUTH_HMAC_SHA2_384_192,
    AUTH_HMAC_SHA2_512_256, DH_CURVE_25519, DH_CURVE_448, DH_ECP_256, DH_ECP_384, DH_ECP_521,
    DH_MODP_1024, DH_MODP_1536, DH_MODP_2048, DH_MODP_3072, DH_MODP_4096, DH_MODP_6144,
    DH_MODP_8192, ENCR_AES_CBC, ENCR_AES_GCM_16,
};

/// Source of randomness (nonces, SPIs, IVs, DH private keys). Tests inject a deterministic one.
pub trait RandomSource: Send {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

/// The operating system's generator (`getrandom`).
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        OsRng.fill_bytes(buf);
    }
}

/// Why a cryptographic operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// The SK payload's ICV (or AEAD tag) did not verify.
    IntegrityCheckFailed,
    /// The SK payload is too short or badly framed.
    Malformed(&'static str),
    /// A key has the wrong size for the algorithm.
    KeySize {
        /// Expected size.
        expected: usize,
        /// Actual size.
        actual: usize,
    },
    /// The peer's public value is invalid for the group.
    InvalidPublicValue(u16),
    /// The group is not implemented.
    UnsupportedGroup(u16),
    /// The message could not be encoded.
    Codec(String),
    /// The SK payload verified but the payloads inside it did not parse: an authenticated
    /// malformed message, which the peer is told about (RFC 7296 §2.21.2).
    InnerPayloads(ParseError),
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::IntegrityCheckFailed => write!(f, "SK payload integrity check failed"),
            CryptoError::Malformed(what) => write!(f, "malformed SK payload: {what}"),
            CryptoError::KeySize { expected, actual } => {
                write!(f, "key of {actual} bytes, expected {expected}")
            }
            CryptoError::InvalidPublicValue(group) => {
                write!(f, "invalid public value for DH group {group}")
            }
            CryptoError::UnsupportedGroup(group) => write!(f, "DH group {group} not supported"),
            CryptoError::Codec(text) => write!(f, "{text}"),
            CryptoError::InnerPayloads(e) => write!(f, "inside SK payload: {e}"),
        }
    }
}

impl std::error::Error for CryptoError {}

/// The cipher suite protecting SK payloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkCipher {
    /// ENCR_AES_GCM_16 with a 128-, 192- or 256-bit key (RFC 5282): 8-byte IV, 4-byte salt,
    /// 16-byte ICV.
    AesGcm16 {
        /// Key size in bits: 128, 192 or 256.
        key_bits: u16,
    },
    /// ENCR_AES_CBC (RFC 3602) with an HMAC integrity transform.
    AesCbc {
        /// Key size in bits: 128, 192 or 256.
        key_bits: u16,
        /// The integrity transform.
        integ: SkInteg,
    },
}

/// An integrity transform of the IKE SA, truncated to its ICV: an HMAC (RFC 2404, RFC 4868)
/// or AES-CMAC-96 (RFC 4494).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkInteg {
    /// AUTH_HMAC_SHA1_96: weak, accepted only when a configuration names it.
    Sha1_96,
    /// AUTH_HMAC_SHA2_256_128.
    Sha256_128,
    /// AUTH_HMAC_SHA2_384_192.
    Sha384_192,
    /// AUTH_HMAC_SHA2_512_256.
    Sha512_256,
    /// AUTH_AES_CMAC_96.
    AesCmac96,
}

impl SkInteg {
    /// Every one.
    pub const ALL: [SkInteg; 5] = [
        SkInteg::Sha1_96,
        SkInteg::Sha256_128,
        SkInteg::Sha384_192,
        SkInteg::Sha512_256,
        SkInteg::AesCmac96,
    ];

    /// The one with this INTEG transform ID.
    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.id() == id)
    }

    /// The INTEG transform ID.
    pub const fn id(self) -> u16 {
        match self {
            SkInteg::Sha1_96 => AUTH_HMAC_SHA1_96,
            SkInteg::Sha256_128 => AUTH_HMAC_SHA2_256_128,
            SkInteg::Sha384_192 => AUTH_HMAC_SHA2_384_192,
            SkInteg::Sha512_256 => AUTH_HMAC_SHA2_512_256,
            SkInteg::AesCmac96 => AUTH_AES_CMAC_96,
        }
    }

    /// Key size in bytes: the hash's output size, or an AES-128 key (RFC 4494 §2.1).
    pub const fn key_len(self) -> usize {
        match self {
            SkInteg::AesCmac96 => 16,
            SkInteg::Sha1_96 => 20,
            SkInteg::Sha256_128 => 32,
            SkInteg::Sha384_192 => 48,
            SkInteg::Sha512_256 => 64,
        }
    }

    /// ICV size in bytes: half the output (96 bits for SHA-1 and AES-CMAC).
    pub const fn icv_len(self) -> usize {
        match self {
            SkInteg::Sha1_96 | SkInteg::AesCmac96 => 12,
            SkInteg::Sha256_128 => 16,
            SkInteg::Sha384_192 => 24,
            SkInteg::Sha512_256 => 32,
        }
    }

    /// The ICV of `data`: the MAC truncated to [`SkInteg::icv_len`].
    pub fn icv(self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut full = match self {
            SkInteg::AesCmac96 => hmac::<cmac::Cmac<aes::Aes128>>(key, data),
            SkInteg::Sha1_96 => hmac::<Hmac<Sha1>>(key, data),
            SkInteg::Sha256_128 => hmac::<Hmac<Sha256>>(key, data),
            SkInteg::Sha384_192 => hmac::<Hmac<Sha384>>(key, data),
            SkInteg::Sha512_256 => hmac::<Hmac<Sha512>>(key, data),
        }
        .map_err(|_| CryptoError::KeySize {
            expected: self.key_len(),
            actual: key.len(),
        })?;
        full.truncate(self.icv_len());
        Ok(full)
    }
}

/// The MAC `M` (an HMAC, or CMAC) of `data`.
fn hmac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Result<Vec<u8>, ()> {
    let mut mac = <M as KeyInit>::new_from_slice(key).map_err(|_| ())?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().to_vec())
}

const GCM_IV_LEN: usize = 8;
const GCM_SALT_LEN: usize = 4;
const GCM_ICV_LEN: usize = 16;
const AES_BLOCK: usize = 16;

impl SkCipher {
    /// The suite for an ENCR transform (ID + key length) and INTEG transform ID, if supported.
    pub fn from_transforms(encr: u16, key_bits: Option<u16>, integ: Option<u16>) -> Option<Self> {
        let bits = key_bits?;
        if !matches!(bits, 128 | 192 | 256) {
            return None;
        }
        match (encr, integ) {
            (ENCR_AES_GCM_16, None | Some(0)) => Some(SkCipher::AesGcm16 { key_bits: bits }),
            (ENCR_AES_CBC, Some(id)) => Some(SkCipher::AesCbc {
                key_bits: bits,
                integ: SkInteg::from_id(id)?,
            }),
            _ => None,
        }
    }

    /// Encryption key size in bytes (salt included for AES-GCM).
    pub const fn encr_key_len(self) -> usize {
        match self {
            SkCipher::AesGcm16 { key_bits } => key_bits as usize / 8 + GCM_SALT_LEN,
            SkCipher::AesCbc { key_bits, .. } => key_bits as usize / 8,
        }
    }

    /// Integrity key size in bytes (0 for AEAD).
    pub const fn integ_key_len(self) -> usize {
        match self {
            SkCipher::AesGcm16 { .. } => 0,
            SkCipher::AesCbc { integ, .. } => integ.key_len(),
        }
    }

    /// ICV size in bytes.
    pub const fn icv_len(self) -> usize {
        match self {
            SkCipher::AesGcm16 { .. } => GCM_ICV_LEN,
            SkCipher::AesCbc { integ, .. } => integ.icv_len(),
        }
    }

    /// The ENCR transform ID.
    pub const fn encr_id(self) -> u16 {
        match self {
            SkCipher::AesGcm16 { .. } => ENCR_AES_GCM_16,
            SkCipher::AesCbc { .. } => ENCR_AES_CBC,
        }
    }

    /// The INTEG transform ID, if any.
    pub const fn integ_id(self) -> Option<u16> {
        match self {
            SkCipher::AesGcm16 { .. } => None,
            SkCipher::AesCbc { integ, .. } => Some(integ.id()),
        }
    }

    /// Key size in bits.
    pub const fn key_bits(self) -> u16 {
        match self {
            SkCipher::AesGcm16 { key_bits } | SkCipher::AesCbc { key_bits, .. } => key_bits,
        }
    }

    fn check_keys(self, encr: &Secret, integ: &Secret) -> Result<(), CryptoError> {
        for (expected, key) in [(self.encr_key_len(), encr), (self.integ_key_len(), integ)] {
            if key.len() != expected {
                return Err(CryptoError::KeySize {
                    expected,
                    actual: key.len(),
                });
            }
        }
        Ok(())
    }
}

/// The keys protecting one direction of an IKE SA.
#[derive(Clone, Debug)]
pub struct SkKeys {
    /// The suite.
    pub cipher: SkCipher,
    /// SK_e (salt included for AEAD).
    pub encr: Secret,
    /// SK_a (empty for AEAD).
    pub integ: Secret,
}

/// Compares two MACs in data-independent time (`subtle`); a length mismatch is unequal.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}

/// Serializes `message` (whose payloads must not contain an SK payload) with `inner` encrypted
/// into an SK payload appended last. Returns the whole datagram.
pub fn seal(
    keys: &SkKeys,
    message: &Message,
    inner: &[Payload],
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, CryptoError> {
    keys.cipher.check_keys(&keys.encr, &keys.integ)?;
    let (first_inner, mut plaintext) =
        build_inner_chain(inner).map_err(|e| CryptoError::Codec(e.to_string()))?;
    let (iv_len, pad) = match keys.cipher {
        SkCipher::AesGcm16 { .. } => (GCM_IV_LEN, 0),
        SkCipher::AesCbc { .. } => {
            let used = plaintext.len().saturating_add(1) % AES_BLOCK;
            (AES_BLOCK, (AES_BLOCK - used) % AES_BLOCK)
        }
    };
    plaintext.resize(plaintext.len().saturating_add(pad), 0);
    plaintext.push(u8::try_from(pad).unwrap_or(0));
    let icv_len = keys.cipher.icv_len();
    let body_len = iv_len
        .saturating_add(plaintext.len())
        .saturating_add(icv_len);
    let mut framed = message.clone();
    framed.payloads.push(Payload::Encrypted(EncryptedPayload {
        first_inner,
        body: vec![0; body_len],
    }));
    let mut datagram = framed
        .to_bytes()
        .map_err(|e| CryptoError::Codec(e.to_string()))?;
    let body_start = datagram.len().saturating_sub(body_len);
    let mut iv = vec![0u8; iv_len];
    rng.fill(&mut iv);
    let ct_start = body_start.saturating_add(iv_len);
    let icv_start = datagram.len().saturating_sub(icv_len);
    match keys.cipher {
        SkCipher::AesGcm16 { .. } => {
            let aad = datagram.get(..body_start).unwrap_or_default().to_vec();
            let tag = gcm_seal(&keys.encr, &iv, &aad, &mut plaintext)?;
            write_at(&mut datagram, body_start, &iv)?;
            write_at(&mut datagram, ct_start, &plaintext)?;
            write_at(&mut datagram, icv_start, &tag)?;
        }
        SkCipher::AesCbc { integ, .. } => {
            cbc_encrypt(keys.encr.as_bytes(), &iv, &mut plaintext)?;
            write_at(&mut datagram, body_start, &iv)?;
            write_at(&mut datagram, ct_start, &plaintext)?;
            let covered = datagram.get(..icv_start).unwrap_or_default();
            let icv = integ.icv(keys.integ.as_bytes(), covered)?;
            write_at(&mut datagram, icv_start, &icv)?;
        }
    }
    plaintext.zeroize();
    Ok(datagram)
}

/// Verifies and decrypts the SK payload of `message`, parsed from `datagram`; returns the
/// inner payload chain.
pub fn open(
    keys: &SkKeys,
    datagram: &[u8],
    message: &Message,
) -> Result<Vec<Payload>, CryptoError> {
    keys.cipher.check_keys(&keys.encr, &keys.integ)?;
    let sk = message
        .encrypted()
        .ok_or(CryptoError::Malformed("no SK payload"))?;
    let body = sk.body.as_slice();
    let iv_len = match keys.cipher {
        SkCipher::AesGcm16 { .. } => GCM_IV_LEN,
        SkCipher::AesCbc { .. } => AES_BLOCK,
    };
    let icv_len = keys.cipher.icv_len();
    let min = iv_len.saturating_add(icv_len).saturating_add(1);
    if body.len() < min {
        return Err(CryptoError::Malformed(
            "shorter than IV, pad length and ICV",
        ));
    }
    let body_start = datagram
        .len()
        .checked_sub(body.len())
        .ok_or(CryptoError::Malformed("body longer than datagram"))?;
    let prefix = datagram.get(..body_start).unwrap_or_default();
    let (iv, rest) = body.split_at(iv_len);
    let (ciphertext, icv) = rest.split_at(rest.len().saturating_sub(icv_len));
    let mut plaintext = ciphertext.to_vec();
    match keys.cipher {
        SkCipher::AesGcm16 { .. } => gcm_open(&keys.encr, iv, prefix, &mut plaintext, icv)?,
        SkCipher::AesCbc { integ, .. } => {
            if ciphertext.len() % AES_BLOCK != 0 {
                return Err(CryptoError::Malformed(
                    "ciphertext not a multiple of the block size",
                ));
            }
            let covered = datagram
                .get(..datagram.len().saturating_sub(icv_len))
                .unwrap_or_default();
            let want = integ.icv(keys.integ.as_bytes(), covered)?;
            if !ct_eq(&want, icv) {
                return Err(CryptoError::IntegrityCheckFailed);
            }
            cbc_decrypt(keys.encr.as_bytes(), iv, &mut plaintext)?;
        }
    }
    let pad = usize::from(
        *plaintext
            .last()
            .ok_or(CryptoError::Malformed("empty plaintext"))?,
    );
    let inner_len = plaintext
        .len()
        .checked_sub(pad.saturating_add(1))
        .ok_or(CryptoError::Malformed("pad length exceeds the plaintext"))?;
    let result = parse_inner_chain(
        sk.first_inner,
        plaintext.get(..inner_len).unwrap_or_default(),
    )
    .map_err(CryptoError::InnerPayloads);
    plaintext.zeroize();
    result
}

fn write_at(buf: &mut [u8], at: usize, bytes: &[u8]) -> Result<(), CryptoError> {
    buf.get_mut(at..at.saturating_add(bytes.len()))
        .ok_or(CryptoError::Malformed("framing"))?
        .copy_from_slice(bytes);
    Ok(())
}

fn gcm_nonce(key: &Secret, iv: &[u8]) -> Result<(Vec<u8>, [u8; 12]), CryptoError> {
    let bytes = key.as_bytes();
    let split = bytes
        .len()
        .checked_sub(GCM_SALT_LEN)
        .ok_or(CryptoError::Malformed("AES-GCM key shorter than its salt"))?;
    let (aes_key, salt) = bytes.split_at(split);
    let mut nonce = [0u8; 12];
    for (slot, byte) in nonce.iter_mut().zip(salt.iter().chain(iv)) {
        *slot = *byte;
    }
    Ok((aes_key.to_vec(), nonce))
}

/// AES-GCM with a 192-bit key (the crate names only the 128- and 256-bit forms).
type Aes192Gcm = aes_gcm::AesGcm<aes::Aes192, aes_gcm::aead::consts::U12>;

/// Runs `f` with the AES-GCM instance for `key`'s size (16, 24 or 32 bytes).
/// `f`'s failure becomes `fail`.
fn with_gcm<T>(
    key: &[u8],
    fail: CryptoError,
    f: impl FnOnce(&dyn GcmInPlace) -> Result<T, aes_gcm::Error>,
) -> Result<T, CryptoError> {
    let bad = || CryptoError::KeySize {
        expected: 16,
        actual: key.len(),
    };
    let result = match key.len() {
        16 => f(&Aes128Gcm::new_from_slice(key).map_err(|_| bad())?),
        24 => f(&Aes192Gcm::new_from_slice(key).map_err(|_| bad())?),
        32 => f(&Aes256Gcm::new_from_slice(key).map_err(|_| bad())?),
        _ => return Err(bad()),
    };
    result.map_err(|_| fail)
}

/// The in-place AES-GCM operations of each key size, behind one object type.
trait GcmInPlace {
    fn seal(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8])
        -> Result<Vec<u8>, aes_gcm::Error>;
    fn open(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        icv: &[u8],
    ) -> Result<(), aes_gcm::Error>;
}

impl<
        A: AeadInPlace<NonceSize = aes_gcm::aead::consts::U12, TagSize = aes_gcm::aead::consts::U16>,
    > GcmInPlace for A
{
    fn seal(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<Vec<u8>, aes_gcm::Error> {
        self.encrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf)
            .map(|tag| tag.to_vec())
    }

    fn open(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        icv: &[u8],
    ) -> Result<(), aes_gcm::Error> {
        if icv.len() != GCM_ICV_LEN {
            return Err(aes_gcm::Error);
        }
        self.decrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf, Tag::from_slice(icv))
    }
}

fn gcm_seal(
    key: &Secret,
    iv: &[u8],
    aad: &[u8],
    buffer: &mut [u8],
) -> Result<Vec<u8>, CryptoError> {
    let (mut aes_key, nonce) = gcm_nonce(key, iv)?;
    let refused = CryptoError::Malformed("AES-GCM refused to encrypt");
    let tag = with_gcm(&aes_key, refused, |gcm| gcm.seal(&nonce, aad, buffer));
    aes_key.zeroize();
    tag
}

fn gcm_open(
    key: &Secret,
    iv: &[u8],
    aad: &[u8],
    buffer: &mut [u8],
    icv: &[u8],
) -> Result<(), CryptoError> {
    let (mut aes_key, nonce) = gcm_nonce(key, iv)?;
    let failed = CryptoError::IntegrityCheckFailed;
    let result = with_gcm(&aes_key, failed, |gcm| gcm.open(&nonce, aad, buffer, icv));
    aes_key.zeroize();
    result
}

pub(crate) fn cbc_encrypt(key: &[u8], iv: &[u8], buffer: &mut [u8]) -> Result<(), CryptoError> {
    fn run<C: BlockEncryptMut + KeyIvInit>(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Option<()> {
        let len = buf.len();
        C::new_from_slices(key, iv)
            .ok()?
            .encrypt_padded_mut::<NoPadding>(buf, len)
            .ok()
            .map(|_| ())
    }
    let done = match key.len() {
        16 => run::<cbc::Encryptor<aes::Aes128>>(key, iv, buffer),
        24 => run::<cbc::Encryptor<aes::Aes192>>(key, iv, buffer),
        32 => run::<cbc::Encryptor<aes::Aes256>>(key, iv, buffer),
        _ => return Err(cbc_key_size(key)),
    };
    done.ok_or(CryptoError::Malformed("CBC padding"))
}

pub(crate) fn cbc_decrypt(key: &[u8], iv: &[u8], buffer: &mut [u8]) -> Result<(), CryptoError> {
    fn run<C: BlockDecryptMut + KeyIvInit>(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Option<()> {
        C::new_from_slices(key, iv)
            .ok()?
            .decrypt_padded_mut::<NoPadding>(buf)
            .ok()
            .map(|_| ())
    }
    let done = match key.len() {
        16 => run::<cbc::Decryptor<aes::Aes128>>(key, iv, buffer),
        24 => run::<cbc::Decryptor<aes::Aes192>>(key, iv, buffer),
        32 => run::<cbc::Decryptor<aes::Aes256>>(key, iv, buffer),
        _ => return Err(cbc_key_size(key)),
    };
    done.ok_or(CryptoError::Malformed("CBC padding"))
}

fn cbc_key_size(key: &[u8]) -> CryptoError {
    CryptoError::KeySize {
        expected: 16,
        actual: key.len(),
    }
}

/// RFC 2409 §6.2: the 1024-bit MODP prime (group 2), generator 2.
const MODP_1024_PRIME: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879",
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B",
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
);

/// RFC 3526 §2: the 1536-bit MODP prime (group 5), generator 2.
const MODP_1536_PRIME: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879",
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B",
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836",
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804",
    "F1746C08CA237327FFFFFFFFFFFFFFFF",
);

/// The RFC 3526 2048-bit MODP prime (group 14), generator 2.
const MODP_2048_PRIME: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879",
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B",
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836",
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804",
    "F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6",
    "955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
);

/// RFC 3526 §4: the 3072-bit MODP prime (group 15).
const MODP_3072_PRIME: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879",
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B",
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836",
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804",
    "F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6",
    "955817183995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64",
    "ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D226",
    "1AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
);

/// RFC 3526 §5: the 4096-bit MODP prime (group 16).
const MODP_4096_PRIME: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879",
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B",
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836",
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804",
    "F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6",
    "955817183995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64",
    "ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D226",
    "1AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D788719A10BDBA5B2699C32718",
    "6AF4E23C1A946834B6150BDA2583E9CA2AD44CE8DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D",
    "99B2964FA090C3A2233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA993B4EA98",
    "8D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF",
);

/// RFC 3526 §6: the 6144-bit MODP prime (group 17).
const MODP_6144_PRIME: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879",
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B",
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836",
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804",
    "F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6",
    "955817183995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64",
    "ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D226",
    "1AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D788719A10BDBA5B2699C32718",
    "6AF4E23C1A946834B6150BDA2583E9CA2AD44CE8DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D",
    "99B2964FA090C3A2233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA993B4EA98",
    "8D8FDDC186FFB7DC90A6C08F4DF435C93402849236C3FAB4D27C7026C1D4DCB2602646DEC9751E763DBA37BD",
    "F8FF9406AD9E530EE5DB382F413001AEB06A53ED9027D831179727B0865A8918DA3EDBEBCF9B14ED44CE6CBA",
    "CED4BB1BDB7F1447E6CC254B332051512BD7AF426FB8F401378CD2BF5983CA01C64B92ECF032EA15D1721D03",
    "F482D7CE6E74FEF6D55E702F46980C82B5A84031900B1C9E59E7C97FBEC7E8F323A97A7E36CC88BE0F1D45B7",
    "FF585AC54BD407B22B4154AACC8F6D7EBF48E1D814CC5ED20F8037E0A79715EEF29BE32806A1D58BB7C5DA76",
    "F550AA3D8A1FBFF0EB19CCB1A313D55CDA56C9EC2EF29632387FE8D76E3C0468043E8F663F4860EE12BF2D5B",
    "0B7474D6E694F91E6DCC4024FFFFFFFFFFFFFFFF",
);

/// RFC 3526 §7: the 8192-bit MODP prime (group 18).
const MODP_8192_PRIME: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879",
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B",
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836",
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804",
    "F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6",
    "955817183995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64",
    "ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D226",
    "1AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D788719A10BDBA5B2699C32718",
    "6AF4E23C1A946834B6150BDA2583E9CA2AD44CE8DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D",
    "99B2964FA090C3A2233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA993B4EA98",
    "8D8FDDC186FFB7DC90A6C08F4DF435C93402849236C3FAB4D27C7026C1D4DCB2602646DEC9751E763DBA37BD",
    "F8FF9406AD9E530EE5DB382F413001AEB06A53ED9027D831179727B0865A8918DA3EDBEBCF9B14ED44CE6CBA",
    "CED4BB1BDB7F1447E6CC254B332051512BD7AF426FB8F401378CD2BF5983CA01C64B92ECF032EA15D1721D03",
    "F482D7CE6E74FEF6D55E702F46980C82B5A84031900B1C9E59E7C97FBEC7E8F323A97A7E36CC88BE0F1D45B7",
    "FF585AC54BD407B22B4154AACC8F6D7EBF48E1D814CC5ED20F8037E0A79715EEF29BE32806A1D58BB7C5DA76",
    "F550AA3D8A1FBFF0EB19CCB1A313D55CDA56C9EC2EF29632387FE8D76E3C0468043E8F663F4860EE12BF2D5B",
    "0B7474D6E694F91E6DBE115974A3926F12FEE5E438777CB6A932DF8CD8BEC4D073B931BA3BC832B68D9DD300",
    "741FA7BF8AFC47ED2576F6936BA424663AAB639C5AE4F5683423B4742BF1C978238F16CBE39D652DE3FDB8BE",
    "FC848AD922222E04A4037C0713EB57A81A23F0C73473FC646CEA306B4BCBC8862F8385DDFA9D4B7FA2C087E8",
    "79683303ED5BDD3A062B3CF5B3A278A66D2A13F83F44F82DDF310EE074AB6A364597E899A0255DC164F31CC5",
    "0846851DF9AB48195DED7EA1B1D510BD7EE74D73FAF36BC31ECFA268359046F4EB879F924009438B481C6CD7",
    "889A002ED5EE382BC9190DA6FC026E479558E4475677E9AA9E3050E2765694DFC81F56E880B96E7160C980DD",
    "98EDD3DFFFFFFFFFFFFFFFFF",
);

/// A Diffie-Hellman group this crate implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// 2: 1024-bit MODP (RFC 2409): weak, accepted only when a configuration names it.
    Modp1024,
    /// 5: 1536-bit MODP (RFC 3526): weak, accepted only when a configuration names it.
    Modp1536,
    /// 14: 2048-bit MODP (RFC 3526).
    Modp2048,
    /// 15: 3072-bit MODP (RFC 3526).
    Modp3072,
    /// 16: 4096-bit MODP (RFC 3526).
    Modp4096,
    /// 17: 6144-bit MODP (RFC 3526).
    Modp6144,
    /// 18: 8192-bit MODP (RFC 3526), in Libreswan's defaults.
    Modp8192,
    /// 19: NIST P-256 (RFC 5903): public value x || y, shared secret x.
    Ecp256,
    /// 20: NIST P-384 (RFC 5903), as group 19.
    Ecp384,
    /// 21: NIST P-521 (RFC 5903), as group 19; coordinates are 66 bytes.
    Ecp521,
    /// 31: Curve25519 (RFC 8031).
    Curve25519,
    /// 32: Curve448 (RFC 8031): 56-byte public values and shared secrets.
    Curve448,
}

impl DhGroup {
    /// The group for a transform ID, if implemented.
    pub const fn from_id(id: u16) -> Option<Self> {
        match id {
            DH_MODP_1024 => Some(DhGroup::Modp1024),
            DH_MODP_1536 => Some(DhGroup::Modp1536),
            DH_MODP_2048 => Some(DhGroup::Modp2048),
            DH_MODP_3072 => Some(DhGroup::Modp3072),
            DH_MODP_4096 => Some(DhGroup::Modp4096),
            DH_MODP_6144 => Some(DhGroup::Modp6144),
            DH_MODP_8192 => Some(DhGroup::Modp8192),
            DH_ECP_256 => Some(DhGroup::Ecp256),
            DH_ECP_384 => Some(DhGroup::Ecp384),
            DH_ECP_521 => Some(DhGroup::Ecp521),
            DH_CURVE_25519 => Some(DhGroup::Curve25519),
            DH_CURVE_448 => Some(DhGroup::Curve448),
            _ => None,
        }
    }

    /// Its transform ID.
    pub const fn id(self) -> u16 {
        match self {
            DhGroup::Modp1024 => DH_MODP_1024,
            DhGroup::Modp1536 => DH_MODP_1536,
            DhGroup::Modp2048 => DH_MODP_2048,
            DhGroup::Modp3072 => DH_MODP_3072,
            DhGroup::Modp4096 => DH_MODP_4096,
            DhGroup::Modp6144 => DH_MODP_6144,
            DhGroup::Modp8192 => DH_MODP_8192,
            DhGroup::Ecp256 => DH_ECP_256,
            DhGroup::Ecp384 => DH_ECP_384,
            DhGroup::Ecp521 => DH_ECP_521,
            DhGroup::Curve25519 => DH_CURVE_25519,
            DhGroup::Curve448 => DH_CURVE_448,
        }
    }

    /// Whether it is weak (MODP-1024, MODP-1536; RFC 8247 §2.4): never in defaults, and
    /// `ikeuser check` warns.
    pub const fn is_weak(self) -> bool {
        matches!(self, DhGroup::Modp1024 | DhGroup::Modp1536)
    }
}

/// One side's ephemeral DH key pair. The private part is wiped on drop.
pub struct KeyExchange {
    group: DhGroup,
    private: Secret,
    public: Vec<u8>,
}

impl fmt::Debug for KeyExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyExchange({:?})", self.group)
    }
}

impl KeyExchange {
    /// Generates a key pair.
    pub fn generate(group: DhGroup, rng: &mut dyn RandomSource) -> Result<Self, CryptoError> {
        let len = match group {
            DhGroup::Modp1024 => 128,
            DhGroup::Modp1536 => 192,
            DhGroup::Curve448 => 56,
            DhGroup::Modp2048 => 256,
            DhGroup::Modp3072 => 384,
            DhGroup::Modp4096 => 512,
            DhGroup::Modp6144 => 768,
            DhGroup::Modp8192 => 1024,
            DhGroup::Ecp256 | DhGroup::Curve25519 => 32,
            DhGroup::Ecp384 => 48,
            DhGroup::Ecp521 => 66,
        };
        for _ in 0..64 {
            let mut bytes = vec![0u8; len];
            rng.fill(&mut bytes);
            if group == DhGroup::Ecp521 {
                // A 521-bit scalar: otherwise 127 of 128 draws would exceed the group order.
                if let Some(top) = bytes.first_mut() {
                    *top &= 0x01;
                }
            }
            if let Ok(pair) = Self::from_private(group, &bytes) {
                bytes.zeroize();
                return Ok(pair);
            }
            bytes.zeroize();
        }
        Err(CryptoError::Malformed(
            "random source produced no valid private key",
        ))
    }

    /// A key pair from a given private value (as long as the public value: 32 bytes for
    /// groups 19 and 31, 48 for 20, 56 for 32, 66 for 21, the prime's length for MODP),
    /// e.g. for known-answer tests.
    pub fn from_private(group: DhGroup, private: &[u8]) -> Result<Self, CryptoError> {
        let public = match group {
            DhGroup::Curve25519 => {
                let bytes = <[u8; 32]>::try_from(private).map_err(|_| CryptoError::KeySize {
                    expected: 32,
                    actual: private.len(),
                })?;
                let secret = x25519_dalek::StaticSecret::from(bytes);
                x25519_dalek::PublicKey::from(&secret).as_bytes().to_vec()
            }
            DhGroup::Curve448 => curve448::public(private)?,
            DhGroup::Ecp256 => ecp256::public(private)?,
            DhGroup::Ecp384 => ecp384::public(private)?,
            DhGroup::Ecp521 => ecp521::public(private)?,
            DhGroup::Modp1024 => modp1024::public(private)?,
            DhGroup::Modp1536 => modp1536::public(private)?,
            DhGroup::Modp2048 => modp2048::public(private)?,
            DhGroup::Modp3072 => modp3072::public(private)?,
            DhGroup::Modp4096 => modp4096::public(private)?,
            DhGroup::Modp6144 => modp6144::public(private)?,
            DhGroup::Modp8192 => modp8192::public(private)?,
        };
        Ok(Self {
            group,
            private: Secret::from_slice(private),
            public,
        })
    }

    /// The group.
    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// The public value as carried in a KE payload.
    pub fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// g^ir from the peer's public value, after validating it.
    pub fn shared_secret(&self, peer: &[u8]) -> Result<Secret, CryptoError> {
        let invalid = CryptoError::InvalidPublicValue(self.group.id());
        match self.group {
            DhGroup::Curve25519 => {
                let private =
                    <[u8; 32]>::try_from(self.private.as_bytes()).map_err(|_| invalid.clone())?;
                let peer = <[u8; 32]>::try_from(peer).map_err(|_| invalid.clone())?;
                let secret = x25519_dalek::StaticSecret::from(private);
                let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(peer));
                if !shared.was_contributory() {
                    return Err(invalid);
                }
                Ok(Secret::from_slice(shared.as_bytes()))
            }
            DhGroup::Curve448 => curve448::shared(self.private.as_bytes(), peer).ok_or(invalid),
            DhGroup::Ecp256 => ecp256::shared(self.private.as_bytes(), peer).ok_or(invalid),
            DhGroup::Ecp384 => ecp384::shared(self.private.as_bytes(), peer).ok_or(invalid),
            DhGroup::Ecp521 => ecp521::shared(self.private.as_bytes(), peer).ok_or(invalid),
            DhGroup::Modp1024 => modp1024::shared(self.private.as_bytes(), peer).ok_or(invalid),
            DhGroup::Modp1536 => modp1536::shared(self.private.as_bytes(), peer).ok_or(invalid),
            DhGroup::Modp2048 => modp2048::shared(self.private.as_bytes(), peer).ok_or(invalid),
            DhGroup::Modp3072 => modp3072::shared(self.private.as_bytes(), peer).ok_or(invalid),
            DhGroup::Modp4096 => modp4096::shared(self.private.as_bytes(), peer).ok_or(invalid),
            DhGroup::Modp6144 => modp6144::shared(self.private.as_bytes(), peer).ok_or(invalid),
            DhGroup::Modp8192 => modp8192::shared(self.private.as_bytes(), peer).ok_or(invalid),
        }
    }
}

/// X448 (RFC 7748 §5) as IKEv2 uses it (RFC 8031): 56-byte little-endian values.
mod curve448 {
    use super::{CryptoError, Secret};
    use zeroize::Zeroize;

    const LEN: usize = 56;
    /// The u-coordinate of the base point (RFC 7748 §4.2).
    const BASE: [u8; LEN] = {
        let mut u = [0u8; LEN];
        u[0] = 5;
        u
    };

    /// `private` times `point` (the crate clamps the scalar); `None` for a point of small
    /// order, whose result would be all zeros (RFC 7748 §6.2, RFC 8031 §2.1).
    fn x448(private: &[u8], point: &[u8]) -> Option<[u8; LEN]> {
        let mut scalar = <[u8; LEN]>::try_from(private).ok()?;
        let point = <[u8; LEN]>::try_from(point).ok()?;
        let out = x448::x448(scalar, point);
        scalar.zeroize();
        out
    }

    pub(super) fn public(private: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let bad = CryptoError::KeySize {
            expected: LEN,
            actual: private.len(),
        };
        x448(private, &BASE).map(|p| p.to_vec()).ok_or(bad)
    }

    pub(super) fn shared(private: &[u8], peer: &[u8]) -> Option<Secret> {
        let mut out = x448(private, peer)?;
        let shared = Secret::from_slice(&out);
        out.zeroize();
        Some(shared)
    }
}

/// ECDH on a NIST prime curve (RFC 5903): the public value is x || y, the shared secret x.
macro_rules! nist_curve {
    ($module:ident, $curve:ident, $id:expr) => {
        mod $module {
            use super::{CryptoError, Secret};
            use $curve::elliptic_curve::point::AffineCoordinates;
            use $curve::elliptic_curve::sec1::ToEncodedPoint;
            use zeroize::Zeroize;

            pub(super) fn public(private: &[u8]) -> Result<Vec<u8>, CryptoError> {
                let secret = $curve::SecretKey::from_slice(private)
                    .map_err(|_| CryptoError::InvalidPublicValue($id))?;
                let point = secret.public_key().to_encoded_point(false);
                Ok(point.as_bytes().get(1..).unwrap_or_default().to_vec())
            }

            /// `None` for a peer value that is not a point of the curve.
            pub(super) fn shared(private: &[u8], peer: &[u8]) -> Option<Secret> {
                let mut sec1 = Vec::with_capacity(peer.len() + 1);
                sec1.push(4);
                sec1.extend_from_slice(peer);
                // Decoding checks the length and that the point is on the curve.
                let peer = $curve::PublicKey::from_sec1_bytes(&sec1).ok()?;
                let secret = $curve::SecretKey::from_slice(private).ok()?;
                let mut point = (peer.to_projective() * *secret.to_nonzero_scalar()).to_affine();
                let mut x = point.x();
                let shared = Secret::from_slice(&x);
                x.zeroize();
                point.zeroize();
                Some(shared)
            }
        }
    };
}
nist_curve!(ecp256, p256, super::DH_ECP_256);
nist_curve!(ecp384, p384, super::DH_ECP_384);
nist_curve!(ecp521, p521, super::DH_ECP_521);

/// Diffie-Hellman in a MODP group of RFC 3526 (generator 2): public values and shared secrets
/// are as long as the prime, and so is the private exponent.
macro_rules! modp_group {
    ($module:ident, $uint:ident, $prime:expr) => {
        mod $module {
            use super::{CryptoError, Secret};
            use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
            use crypto_bigint::{$uint, Encoding};
            use zeroize::Zeroize;

            const LEN: usize = $uint::BYTES;

            fn pow(base: &$uint, exponent: &$uint) -> Vec<u8> {
                let params = DynResidueParams::new(&$uint::from_be_hex($prime));
                let mut out = DynResidue::new(base, params)
                    .pow(exponent)
                    .retrieve()
                    .to_be_bytes();
                let v = out.to_vec();
                out.zeroize();
                v
            }

            pub(super) fn public(private: &[u8]) -> Result<Vec<u8>, CryptoError> {
                if private.len() != LEN {
                    return Err(CryptoError::KeySize {
                        expected: LEN,
                        actual: private.len(),
                    });
                }
                Ok(pow(&$uint::from_u8(2), &$uint::from_be_slice(private)))
            }

            /// `None` for a peer value outside 1 < y < p - 1 (RFC 6989 §2.1).
            pub(super) fn shared(private: &[u8], peer: &[u8]) -> Option<Secret> {
                if peer.len() != LEN || private.len() != LEN {
                    return None;
                }
                let y = $uint::from_be_slice(peer);
                let p_minus_1 = $uint::from_be_hex($prime).wrapping_sub(&$uint::ONE);
                if y <= $uint::ONE || y >= p_minus_1 {
                    return None;
                }
                let mut bytes = pow(&y, &$uint::from_be_slice(private));
                let secret = Secret::from_slice(&bytes);
                bytes.zeroize();
                Some(secret)
            }
        }
    };
}
modp_group!(modp1024, U1024, super::MODP_1024_PRIME);
modp_group!(modp1536, U1536, super::MODP_1536_PRIME);
modp_group!(modp2048, U2048, super::MODP_2048_PRIME);
modp_group!(modp3072, U3072, super::MODP_3072_PRIME);
modp_group!(modp4096, U4096, super::MODP_4096_PRIME);
modp_group!(modp6144, U6144, super::MODP_6144_PRIME);
modp_group!(modp8192, U8192, super::MODP_8192_PRIME);
