// SPDX-License-Identifier: GPL-2.0
//! IKEv1 key derivation (RFC 2409 §5, §5.5, appendix B): SKEYID for each authentication
//! method, SKEYID_d/a/e, the cipher key from SKEYID_e, the phase 1 and per-message-ID IVs,
//! HASH_I/HASH_R, Quick Mode's HASH(1)/(2)/(3) and KEYMAT. The PRF is the HMAC of the
//! negotiated hash ([`Prf`], shared with IKEv2); the IVs use the hash itself.

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::keys::{KeyError, Prf};
use crate::secret::Secret;

/// SKEYID for pre-shared keys: prf(pre-shared-key, Ni_b | Nr_b).
pub fn skeyid_psk(prf: Prf, psk: &[u8], ni: &[u8], nr: &[u8]) -> Result<Secret, KeyError> {
    prf.prf(psk, &[ni, nr])
}

/// SKEYID for signatures: prf(Ni_b | Nr_b, g^xy).
pub fn skeyid_signature(prf: Prf, ni: &[u8], nr: &[u8], g_xy: &[u8]) -> Result<Secret, KeyError> {
    prf.prf(&[ni, nr].concat(), &[g_xy])
}

/// The keys of an ISAKMP SA, from SKEYID.
#[derive(Debug)]
pub struct IsakmpKeys {
    /// SKEYID, which HASH_I and HASH_R use.
    pub skeyid: Secret,
    /// SKEYID_d: Quick Mode's KEYMAT.
    pub skeyid_d: Secret,
    /// SKEYID_a: the HASH payloads of phase 2 and informational exchanges.
    pub skeyid_a: Secret,
    /// The cipher key of phase 1, `enc_key_len` bytes derived from SKEYID_e.
    pub enc_key: Secret,
}

impl IsakmpKeys {
    /// SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0), SKEYID_a = prf(SKEYID, SKEYID_d | g^xy
    /// | CKY-I | CKY-R | 1), SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2), and
    /// the cipher key from SKEYID_e (appendix B).
    pub fn derive(
        prf: Prf,
        skeyid: Secret,
        g_xy: &[u8],
        cookies: (&[u8; 8], &[u8; 8]),
        enc_key_len: usize,
    ) -> Result<Self, KeyError> {
        let (ci, cr) = (cookies.0.as_slice(), cookies.1.as_slice());
        let key = skeyid.as_bytes();
        let skeyid_d = prf.prf(key, &[g_xy, ci, cr, &[0]])?;
        let skeyid_a = prf.prf(key, &[skeyid_d.as_bytes(), g_xy, ci, cr, &[1]])?;
        let skeyid_e = prf.prf(key, &[skeyid_a.as_bytes(), g_xy, ci, cr, &[2]])?;
        let enc_key = cipher_key(prf, &skeyid_e, enc_key_len)?;
        Ok(Self {
            skeyid,
            skeyid_d,
            skeyid_a,
            enc_key,
        })
    }
}

/// Appendix B: SKEYID_e truncated when long enough, else K1 | K2 | ... with K1 = prf(SKEYID_e,
/// 0) and Kn = prf(SKEYID_e, Kn-1).
fn cipher_key(prf: Prf, skeyid_e: &Secret, len: usize) -> Result<Secret, KeyError> {
    if skeyid_e.len() >= len {
        return Ok(Secret::from_slice(
            skeyid_e.as_bytes().get(..len).unwrap_or_default(),
        ));
    }
    let mut out = Vec::with_capacity(len + prf.output_len());
    let mut k = prf.prf(skeyid_e.as_bytes(), &[&[0]])?;
    loop {
        out.extend_from_slice(k.as_bytes());
        if out.len() >= len {
            break;
        }
        k = prf.prf(skeyid_e.as_bytes(), &[k.as_bytes()])?;
    }
    out.truncate(len);
    Ok(Secret::new(out))
}

/// The plain hash behind an HMAC PRF, for the IVs (RFC 2409 appendix B). AES-CMAC has none
/// and is not an IKEv1 PRF.
pub(crate) fn hash(prf: Prf, data: &[&[u8]]) -> Result<Vec<u8>, KeyError> {
    fn run<D: Digest>(data: &[&[u8]]) -> Vec<u8> {
        let mut d = D::new();
        for part in data {
            d.update(part);
        }
        d.finalize().to_vec()
    }
    Ok(match prf {
        Prf::HmacSha1 => run::<Sha1>(data),
        Prf::HmacSha256 => run::<Sha256>(data),
        Prf::HmacSha384 => run::<Sha384>(data),
        Prf::HmacSha512 => run::<Sha512>(data),
        Prf::AesCmac => return Err(KeyError::NotAnIkev1Prf),
    })
}

/// The IV of phase 1: hash(g^xi | g^xr), truncated to the cipher's `block` size.
pub fn phase1_iv(prf: Prf, g_xi: &[u8], g_xr: &[u8], block: usize) -> Result<Vec<u8>, KeyError> {
    let mut iv = hash(prf, &[g_xi, g_xr])?;
    iv.truncate(block);
    Ok(iv)
}

/// The first IV of a phase 2 or informational exchange: hash(the last CBC block of phase 1 |
/// M-ID), truncated to the block size.
pub fn message_iv(
    prf: Prf,
    last_phase1_block: &[u8],
    message_id: u32,
) -> Result<Vec<u8>, KeyError> {
    let mut iv = hash(prf, &[last_phase1_block, &message_id.to_be_bytes()])?;
    iv.truncate(last_phase1_block.len());
    Ok(iv)
}

/// What HASH_I and HASH_R cover besides SKEYID (RFC 2409 §5).
pub struct Phase1HashInput<'a> {
    /// The initiator's public value g^xi.
    pub g_xi: &'a [u8],
    /// The responder's public value g^xr.
    pub g_xr: &'a [u8],
    /// The cookies.
    pub cookies: (&'a [u8; 8], &'a [u8; 8]),
    /// The initiator's SA payload body (without its generic header).
    pub sa_i: &'a [u8],
}

/// HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b).
pub fn hash_i(
    prf: Prf,
    skeyid: &Secret,
    h: &Phase1HashInput<'_>,
    id_i: &[u8],
) -> Result<Secret, KeyError> {
    let (ci, cr) = (h.cookies.0.as_slice(), h.cookies.1.as_slice());
    prf.prf(skeyid.as_bytes(), &[h.g_xi, h.g_xr, ci, cr, h.sa_i, id_i])
}

/// HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b).
pub fn hash_r(
    prf: Prf,
    skeyid: &Secret,
    h: &Phase1HashInput<'_>,
    id_r: &[u8],
) -> Result<Secret, KeyError> {
    let (ci, cr) = (h.cookies.0.as_slice(), h.cookies.1.as_slice());
    prf.prf(skeyid.as_bytes(), &[h.g_xr, h.g_xi, cr, ci, h.sa_i, id_r])
}

/// Quick Mode HASH(1) = prf(SKEYID_a, M-ID | the payloads after HASH(1)); HASH(1) of an
/// informational exchange has the same form.
pub fn hash1(
    prf: Prf,
    skeyid_a: &Secret,
    message_id: u32,
    rest: &[u8],
) -> Result<Secret, KeyError> {
    prf.prf(skeyid_a.as_bytes(), &[&message_id.to_be_bytes(), rest])
}

/// Quick Mode HASH(2) = prf(SKEYID_a, M-ID | Ni_b | the payloads after HASH(2)).
pub fn hash2(
    prf: Prf,
    skeyid_a: &Secret,
    message_id: u32,
    ni: &[u8],
    rest: &[u8],
) -> Result<Secret, KeyError> {
    prf.prf(skeyid_a.as_bytes(), &[&message_id.to_be_bytes(), ni, rest])
}

/// Quick Mode HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b).
pub fn hash3(
    prf: Prf,
    skeyid_a: &Secret,
    message_id: u32,
    ni: &[u8],
    nr: &[u8],
) -> Result<Secret, KeyError> {
    prf.prf(
        skeyid_a.as_bytes(),
        &[&[0], &message_id.to_be_bytes(), ni, nr],
    )
}

/// One direction's KEYMAT of an IPsec SA (RFC 2409 §5.5): K1 = prf(SKEYID_d, [g(qm)^xy |]
/// protocol | SPI | Ni_b | Nr_b), Kn = prf(SKEYID_d, Kn-1 | [g(qm)^xy |] protocol | SPI | Ni_b |
/// Nr_b), concatenated to `len` bytes. `spi` is the SPI of the SA the keys protect, as its
/// receiver chose it.
pub fn keymat(
    prf: Prf,
    skeyid_d: &Secret,
    pfs_g_xy: Option<&[u8]>,
    protocol: u8,
    spi: [u8; 4],
    nonces: (&[u8], &[u8]),
    len: usize,
) -> Result<Secret, KeyError> {
    let g = pfs_g_xy.unwrap_or_default();
    let seed: [&[u8]; 5] = [g, &[protocol], &spi, nonces.0, nonces.1];
    let mut out = Vec::with_capacity(len + prf.output_len());
    let mut k = prf.prf(skeyid_d.as_bytes(), &seed)?;
    loop {
        out.extend_from_slice(k.as_bytes());
        if out.len() >= len {
            break;
        }
        let mut next: Vec<&[u8]> = vec![k.as_bytes()];
        next.extend_from_slice(&seed);
        k = prf.prf(skeyid_d.as_bytes(), &next)?;
    }
    out.truncate(len);
    Ok(Secret::new(out))
}
