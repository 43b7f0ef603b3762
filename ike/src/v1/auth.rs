// SPDX-License-Identifier: GPL-2.0
//! Phase 1 authentication (RFC 2409 §5.1, §5.4): SKEYID for pre-shared keys or signatures,
//! and what messages 5 and 6 (Aggressive Mode 2 and 3) carry to authenticate: HASH_I/HASH_R
//! with a PSK; with certificates, CERT payloads and a SIG payload, an RSA or ECDSA signature
//! of that hash, checked against the connection's trusted CAs and the peer's identity (the PKI IKEv2
//! uses).

use super::engine::IsakmpSa;
use super::keys::{skeyid_psk, skeyid_signature};
use super::payload::PayloadBodyV1;
use crate::crypto::{ct_eq, RandomSource};
use crate::engine::Auth;
use crate::identity::Identity;
use crate::keys::Prf;
use crate::pki::{self, Certificate};
use crate::secret::Secret;

/// CERT encoding "X.509 Certificate - Signature" (RFC 2408 §3.9).
const X509_SIGNATURE: u8 = 4;

/// SKEYID for the connection's authentication method.
pub(super) fn skeyid(sa: &IsakmpSa, prf: Prf, g_xy: &[u8]) -> Result<Secret, String> {
    let s = match &sa.config.config.auth {
        Auth::Psk(psk) => skeyid_psk(prf, psk.as_bytes(), &sa.ni, &sa.nr),
        Auth::PublicKey(_) => skeyid_signature(prf, &sa.ni, &sa.nr, g_xy),
    };
    s.map_err(|e| e.to_string())
}

/// With certificates, a CR payload per trusted CA (its DN, RFC 2408 §3.10), so that peers that
/// send certificates only when asked (strongSwan's default) send theirs.
pub(super) fn cert_requests(auth: &Auth) -> Vec<PayloadBodyV1> {
    match auth {
        Auth::Psk(_) => Vec::new(),
        Auth::PublicKey(pk) => pk
            .trusted
            .iter()
            .map(|ca| PayloadBodyV1::CertRequest(X509_SIGNATURE, ca.subject_name().der().to_vec()))
            .collect(),
    }
}

/// What authenticates us after our ID: HASH, or CERTs and the SIG over the hash.
pub(super) fn our_proof(
    auth: &Auth,
    hash: Vec<u8>,
    rng: &mut dyn RandomSource,
) -> Result<Vec<PayloadBodyV1>, String> {
    let Auth::PublicKey(pk) = auth else {
        return Ok(vec![PayloadBodyV1::Hash(hash)]);
    };
    let mut out = vec![PayloadBodyV1::Cert(
        X509_SIGNATURE,
        pk.certificate.der().to_vec(),
    )];
    for c in &pk.intermediates {
        out.push(PayloadBodyV1::Cert(X509_SIGNATURE, c.der().to_vec()));
    }
    out.push(PayloadBodyV1::Signature(pki::sign_v1(&pk.key, &hash, rng)?));
    Ok(out)
}

/// Checks the peer's proof of `want` (its HASH_I or HASH_R): the HASH itself, or a certificate
/// chain to a trusted CA that names `peer` and whose key signed `want`. How the peer
/// authenticated ("psk", "pubkey SUBJECT"), or why it did not.
pub(super) fn check_proof(
    sa: &IsakmpSa,
    payloads: &[PayloadBodyV1],
    want: &[u8],
    (peer, now): (&Identity, Option<u64>),
) -> Result<String, String> {
    let Auth::PublicKey(pk) = &sa.config.config.auth else {
        let hash = payloads.iter().find_map(|p| match p {
            PayloadBodyV1::Hash(h) => Some(h),
            _ => None,
        });
        return match hash {
            Some(h) if ct_eq(h, want) => Ok("psk".into()),
            Some(_) => Err(format!(
                "the hash sent by {} does not match ours: most likely the pre-shared keys differ",
                sa.peer
            )),
            None => Err("no HASH payload".into()),
        };
    };
    let certs: Vec<Certificate> = payloads
        .iter()
        .filter_map(|p| match p {
            PayloadBodyV1::Cert(X509_SIGNATURE, der) => Certificate::from_der(der).ok(),
            _ => None,
        })
        .collect();
    let sig = payloads.iter().find_map(|p| match p {
        PayloadBodyV1::Signature(s) => Some(s),
        _ => None,
    });
    let (Some(end), Some(sig)) = (certs.first(), sig) else {
        return Err(format!("{} sent no certificate or no signature", sa.peer));
    };
    let now = now.ok_or("no wall clock to check certificate validity against")?;
    pki::verify_chain(end, certs.get(1..).unwrap_or_default(), &pk.trusted, now)?;
    pki::check_identity(peer, end)?;
    pki::verify_v1(end, want, sig).map_err(|e| {
        format!(
            "the signature of {} ({}) does not verify: {e}",
            sa.peer,
            end.subject()
        )
    })?;
    Ok(format!("pubkey {}", end.subject()))
}
