// SPDX-License-Identifier: GPL-2.0
//! IKEv2 key derivation (RFC 7296 §2.13, §2.14, §2.17, §2.18) with HMAC-SHA-2 PRFs
//! (RFC 4868), AES-CMAC (RFC 4615) and, for old peers, HMAC-SHA-1. Primitives come from
//! RustCrypto's `hmac`, `cmac`, `aes`, `sha2` and `sha1`.

use core::fmt;

use cmac::Cmac;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroize;

use crate::secret::Secret;
use crate::transform_ids::{
    PRF_AES128_CMAC, PRF_HMAC_SHA1, PRF_HMAC_SHA2_256, PRF_HMAC_SHA2_384, PRF_HMAC_SHA2_512,
};

/// prf+ stops after 255 blocks (RFC 7296 §2.13).
const PRF_PLUS_MAX_BLOCKS: usize = 255;

/// A negotiated pseudo-random function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prf {
    /// PRF_HMAC_SHA1 (2): weak, accepted only when a configuration names it.
    HmacSha1,
    /// PRF_HMAC_SHA2_256 (5).
    HmacSha256,
    /// PRF_HMAC_SHA2_384 (6).
    HmacSha384,
    /// PRF_HMAC_SHA2_512 (7).
    HmacSha512,
    /// PRF_AES128_CMAC (8, RFC 4615).
    AesCmac,
}

/// Why keys could not be derived.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// More keying material requested than prf+ can produce, or than was derived.
    TooMuchKeyMaterial {
        /// Bytes requested.
        requested: usize,
        /// Bytes available.
        max: usize,
    },
    /// The HMAC implementation rejected the key (does not happen for HMAC).
    HmacKey,
    /// IKEv1 derives its IVs with the PRF's hash; AES-CMAC has none.
    NotAnIkev1Prf,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::TooMuchKeyMaterial { requested, max } => write!(
                f,
                "{requested} bytes of keying material requested, at most {max} available"
            ),
            KeyError::HmacKey => write!(f, "HMAC rejected the key"),
            KeyError::NotAnIkev1Prf => write!(f, "IKEv1 has HMAC PRFs only, not AES-CMAC"),
        }
    }
}

impl std::error::Error for KeyError {}

impl Prf {
    /// The PRF for a transform ID, if supported.
    pub const fn from_transform_id(id: u16) -> Option<Self> {
        match id {
            PRF_HMAC_SHA1 => Some(Prf::HmacSha1),
            PRF_HMAC_SHA2_256 => Some(Prf::HmacSha256),
            PRF_HMAC_SHA2_384 => Some(Prf::HmacSha384),
            PRF_HMAC_SHA2_512 => Some(Prf::HmacSha512),
            PRF_AES128_CMAC => Some(Prf::AesCmac),
            _ => None,
        }
    }

    /// Its transform ID.
    pub const fn transform_id(self) -> u16 {
        match self {
            Prf::HmacSha1 => PRF_HMAC_SHA1,
            Prf::HmacSha256 => PRF_HMAC_SHA2_256,
            Prf::HmacSha384 => PRF_HMAC_SHA2_384,
            Prf::HmacSha512 => PRF_HMAC_SHA2_512,
            Prf::AesCmac => PRF_AES128_CMAC,
        }
    }

    /// Output size in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            Prf::HmacSha1 => 20,
            Prf::HmacSha256 => 32,
            Prf::HmacSha384 => 48,
            Prf::HmacSha512 => 64,
            Prf::AesCmac => 16,
        }
    }

    /// Preferred key size: the size of SK_d, SK_pi and SK_pr (RFC 4868 §2.2: the output size;
    /// RFC 4615: 128 bits).
    pub const fn key_len(self) -> usize {
        self.output_len()
    }

    /// `prf(key, data[0] | data[1] | ...)`.
    pub fn prf(self, key: &[u8], data: &[&[u8]]) -> Result<Secret, KeyError> {
        match self {
            Prf::HmacSha1 => mac::<Hmac<Sha1>>(key, data),
            Prf::HmacSha256 => mac::<Hmac<Sha256>>(key, data),
            Prf::HmacSha384 => mac::<Hmac<Sha384>>(key, data),
            Prf::HmacSha512 => mac::<Hmac<Sha512>>(key, data),
            Prf::AesCmac => aes_cmac_prf(key, data),
        }
    }

    /// `prf+(key, seed[0] | seed[1] | ...)` truncated to `len` bytes:
    /// T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n).
    pub fn prf_plus(self, key: &[u8], seed: &[&[u8]], len: usize) -> Result<Secret, KeyError> {
        let block = self.output_len();
        let max = block.saturating_mul(PRF_PLUS_MAX_BLOCKS);
        if len > max {
            return Err(KeyError::TooMuchKeyMaterial {
                requested: len,
                max,
            });
        }
        // Room for the last whole block, so the buffer never reallocates (and leaves copies).
        let mut out = Vec::with_capacity(len.saturating_add(block));
        let mut previous: Option<Secret> = None;
        for counter in 1..=u8::MAX {
            if out.len() >= len {
                break;
            }
            let counter = [counter];
            let mut parts: Vec<&[u8]> = Vec::with_capacity(seed.len().saturating_add(2));
            if let Some(t) = &previous {
                parts.push(t.as_bytes());
            }
            parts.extend_from_slice(seed);
            parts.push(&counter);
            let t = self.prf(key, &parts)?;
            out.extend_from_slice(t.as_bytes());
            previous = Some(t);
        }
        if let Some(excess) = out.get_mut(len..) {
            excess.zeroize();
        }
        out.truncate(len);
        Ok(Secret::new(out))
    }
}

/// AES-CMAC-PRF-128 (RFC 4615 §3): a key of another length than 128 bits is first replaced by
/// its AES-CMAC under the zero key.
fn aes_cmac_prf(key: &[u8], data: &[&[u8]]) -> Result<Secret, KeyError> {
    type AesCmac = Cmac<aes::Aes128>;
    let mut k = [0u8; 16];
    if key.len() == 16 {
        k.copy_from_slice(key);
    } else {
        let derived = mac::<AesCmac>(&[0u8; 16], &[key])?;
        k.copy_from_slice(derived.as_bytes());
    }
    let out = mac::<AesCmac>(&k, data);
    k.zeroize();
    out
}

/// One MAC (HMAC, or CMAC) over concatenated parts.
fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[&[u8]]) -> Result<Secret, KeyError> {
    let mut mac =
        <M as hmac::digest::KeyInit>::new_from_slice(key).map_err(|_| KeyError::HmacKey)?;
    for part in data {
        Mac::update(&mut mac, part);
    }
    let mut output = mac.finalize().into_bytes();
    let secret = Secret::from_slice(&output);
    output.as_mut_slice().zeroize();
    Ok(secret)
}

/// SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 §2.14); with AES-CMAC only the first 64 bits of
/// each nonce make the key.
pub fn skeyseed(prf: Prf, ni: &[u8], nr: &[u8], g_ir: &[u8]) -> Result<Secret, KeyError> {
    let nonces = match prf {
        Prf::AesCmac => [ni.get(..8).unwrap_or(ni), nr.get(..8).unwrap_or(nr)].concat(),
        _ => [ni, nr].concat(),
    };
    prf.prf(&nonces, &[g_ir])
}

/// SKEYSEED of a rekeyed IKE SA = prf(SK_d (old), g^ir (new) | Ni | Nr) (RFC 7296 §2.18).
pub fn rekey_skeyseed(
    prf: Prf,
    old_sk_d: &Secret,
    g_ir_new: &[u8],
    ni: &[u8],
    nr: &[u8],
) -> Result<Secret, KeyError> {
    prf.prf(old_sk_d.as_bytes(), &[g_ir_new, ni, nr])
}

/// Key sizes of the negotiated IKE SA transforms, in bytes per direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IkeSaKeyLengths {
    /// Encryption key, salt included for AEAD (AES-GCM-256: 36).
    pub encr: usize,
    /// Integrity key (0 with an AEAD cipher).
    pub integ: usize,
}

/// The seven IKE SA secrets (RFC 7296 §2.14).
#[derive(Clone, Debug)]
pub struct IkeSaKeys {
    /// Derives Child SA keys and the next SKEYSEED.
    pub sk_d: Secret,
    /// Integrity key, initiator to responder.
    pub sk_ai: Secret,
    /// Integrity key, responder to initiator.
    pub sk_ar: Secret,
    /// Encryption key, initiator to responder.
    pub sk_ei: Secret,
    /// Encryption key, responder to initiator.
    pub sk_er: Secret,
    /// Key for the initiator's AUTH payload.
    pub sk_pi: Secret,
    /// Key for the responder's AUTH payload.
    pub sk_pr: Secret,
}

impl IkeSaKeys {
    /// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr).
    pub fn derive(
        prf: Prf,
        skeyseed: &Secret,
        ni: &[u8],
        nr: &[u8],
        spi_i: &[u8; 8],
        spi_r: &[u8; 8],
        lengths: IkeSaKeyLengths,
    ) -> Result<Self, KeyError> {
        let prf_key = prf.key_len();
        let sizes = [
            prf_key,
            lengths.integ,
            lengths.integ,
            lengths.encr,
            lengths.encr,
            prf_key,
            prf_key,
        ];
        let total = sizes.iter().fold(0usize, |sum, n| sum.saturating_add(*n));
        let seed: [&[u8]; 4] = [ni, nr, spi_i, spi_r];
        let dkm = prf.prf_plus(skeyseed.as_bytes(), &seed, total)?;
        let mut split = Splitter(dkm.as_bytes());
        Ok(Self {
            sk_d: split.take(prf_key)?,
            sk_ai: split.take(lengths.integ)?,
            sk_ar: split.take(lengths.integ)?,
            sk_ei: split.take(lengths.encr)?,
            sk_er: split.take(lengths.encr)?,
            sk_pi: split.take(prf_key)?,
            sk_pr: split.take(prf_key)?,
        })
    }
}

/// KEYMAT = prf+(SK_d, Ni | Nr), or prf+(SK_d, g^ir (new) | Ni | Nr) with PFS (RFC 7296 §2.17).
pub fn child_sa_keymat(
    prf: Prf,
    sk_d: &Secret,
    g_ir_new: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    len: usize,
) -> Result<Secret, KeyError> {
    match g_ir_new {
        Some(g_ir) => prf.prf_plus(sk_d.as_bytes(), &[g_ir, ni, nr], len),
        None => prf.prf_plus(sk_d.as_bytes(), &[ni, nr], len),
    }
}

/// A Child SA's keys, split from KEYMAT: initiator-to-responder first, encryption before
/// integrity (RFC 7296 §2.17).
#[derive(Clone, Debug)]
pub struct ChildSaKeys {
    /// Encryption key (salt included for AEAD), initiator to responder.
    pub encr_i: Secret,
    /// Integrity key, initiator to responder.
    pub integ_i: Secret,
    /// Encryption key, responder to initiator.
    pub encr_r: Secret,
    /// Integrity key, responder to initiator.
    pub integ_r: Secret,
}

impl ChildSaKeys {
    /// Derives KEYMAT and splits it; sizes are per direction, in bytes.
    pub fn derive(
        prf: Prf,
        sk_d: &Secret,
        g_ir_new: Option<&[u8]>,
        ni: &[u8],
        nr: &[u8],
        encr_len: usize,
        integ_len: usize,
    ) -> Result<Self, KeyError> {
        let per_direction = encr_len.saturating_add(integ_len);
        let keymat = child_sa_keymat(prf, sk_d, g_ir_new, ni, nr, per_direction.saturating_mul(2))?;
        let mut split = Splitter(keymat.as_bytes());
        Ok(Self {
            encr_i: split.take(encr_len)?,
            integ_i: split.take(integ_len)?,
            encr_r: split.take(encr_len)?,
            integ_r: split.take(integ_len)?,
        })
    }
}

/// Cuts consecutive keys off derived keying material.
struct Splitter<'a>(&'a [u8]);

impl Splitter<'_> {
    fn take(&mut self, len: usize) -> Result<Secret, KeyError> {
        let (key, rest) = self
            .0
            .split_at_checked(len)
            .ok_or(KeyError::TooMuchKeyMaterial {
                requested: len,
                max: self.0.len(),
            })?;
        self.0 = rest;
        Ok(Secret::from_slice(key))
    }
}
