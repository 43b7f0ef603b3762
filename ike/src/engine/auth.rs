// SPDX-License-Identifier: GPL-2.0
//! IKE_AUTH authentication (RFC 7296 §2.15): pre-shared keys, and certificates with digital
//! signatures (RFC 7427), including SIGNATURE_HASH_ALGORITHMS and CERTREQ.

use super::auth_error::AuthError;
use super::payloads;
use super::types::{Auth, Config};
use crate::codes::{AuthMethod, CertEncoding, HashAlgorithm, NotifyType};
use crate::crypto::{ct_eq, RandomSource};
use crate::identity::Identity;
use crate::keys::Prf;
use crate::payload::{AuthPayload, CertPayload, NotifyPayload, Payload};
use crate::pki::{self, Certificate, PublicKeyAuth, VerifyError};
use crate::secret::Secret;

/// Why computing AUTH octets or our AUTH failed (a local problem).
type Failure = String;

/// "Key Pad for IKEv2" (RFC 7296 §2.15).
const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// The hash algorithms we announce (RFC 7427 §4): SHA2-256, SHA2-384, SHA2-512.
const OUR_HASHES: [HashAlgorithm; 3] = [
    HashAlgorithm::SHA2_256,
    HashAlgorithm::SHA2_384,
    HashAlgorithm::SHA2_512,
];

/// Most CERT payloads after the end-entity certificate we consider as intermediates.
const MAX_PEER_INTERMEDIATES: usize = 8;

/// The N(SIGNATURE_HASH_ALGORITHMS) we send.
pub(super) fn hash_algorithms_notify() -> Payload {
    let data = OUR_HASHES.iter().flat_map(|h| h.0.to_be_bytes()).collect();
    Payload::Notify(NotifyPayload::new(
        NotifyType::SIGNATURE_HASH_ALGORITHMS,
        data,
    ))
}

/// The hash algorithms of the peer's N(SIGNATURE_HASH_ALGORITHMS), if it sent one.
pub(super) fn peer_hash_algorithms(received: &[Payload]) -> Option<Vec<HashAlgorithm>> {
    payloads::notify(received, NotifyType::SIGNATURE_HASH_ALGORITHMS).map(|n| {
        n.data
            .chunks_exact(2)
            .filter_map(|pair| <[u8; 2]>::try_from(pair).ok())
            .map(|pair| HashAlgorithm(u16::from_be_bytes(pair)))
            .collect()
    })
}

/// A CERTREQ for the CAs trusted by `configs` (public-key ones), or `None` if none uses
/// public keys.
pub(super) fn certreq<'a>(configs: impl IntoIterator<Item = &'a Config>) -> Option<Payload> {
    let mut hashes: Vec<[u8; 20]> = Vec::new();
    let mut any = false;
    for pk in configs.into_iter().filter_map(|c| c.auth.public_key()) {
        any = true;
        for hash in pk.trusted.iter().filter_map(|c| c.spki_sha1().ok()) {
            if !hashes.contains(&hash) {
                hashes.push(hash);
            }
        }
    }
    any.then(|| {
        Payload::CertReq(CertPayload {
            encoding: CertEncoding::X509_CERT_SIGNATURE,
            data: hashes.concat(),
        })
    })
}

/// RealMessage | Nonce | prf(SK_p, RestOfIDPayload): what AUTH MACs or signs (§2.15).
pub(super) fn auth_octets(
    prf: Prf,
    real_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &Secret,
    id: &Payload,
) -> Result<Vec<u8>, Failure> {
    let id_body = id.body_bytes().map_err(|e| e.to_string())?;
    let maced_id = prf
        .prf(sk_p.as_bytes(), &[&id_body])
        .map_err(|e| e.to_string())?;
    let mut octets = Vec::with_capacity(real_message.len() + peer_nonce.len() + 64);
    octets.extend_from_slice(real_message);
    octets.extend_from_slice(peer_nonce);
    octets.extend_from_slice(maced_id.as_bytes());
    Ok(octets)
}

/// AUTH = prf(prf(PSK, "Key Pad for IKEv2"), octets).
fn psk_auth(prf: Prf, psk: &Secret, octets: &[u8]) -> Result<Secret, Failure> {
    let pad_key = prf
        .prf(psk.as_bytes(), &[KEY_PAD])
        .map_err(|e| e.to_string())?;
    prf.prf(pad_key.as_bytes(), &[octets])
        .map_err(|e| e.to_string())
}

/// Our CERT payloads (end entity first, then intermediates; none for a PSK) and AUTH.
pub(super) fn our_auth(
    auth: &Auth,
    prf: Prf,
    octets: &[u8],
    peer_hashes: Option<&[HashAlgorithm]>,
    rng: &mut dyn RandomSource,
) -> Result<(Vec<Payload>, AuthPayload), Failure> {
    match auth {
        Auth::Psk(psk) => {
            let mac = psk_auth(prf, psk, octets)?;
            Ok((
                Vec::new(),
                AuthPayload {
                    method: AuthMethod::SHARED_KEY_MIC,
                    data: mac.as_bytes().to_vec(),
                },
            ))
        }
        Auth::PublicKey(pk) => {
            let certs = std::iter::once(&pk.certificate)
                .chain(&pk.intermediates)
                .map(|c| {
                    Payload::Cert(CertPayload {
                        encoding: CertEncoding::X509_CERT_SIGNATURE,
                        data: c.der().to_vec(),
                    })
                })
                .collect();
            let (method, data) = pki::sign_auth(&pk.key, octets, peer_hashes, rng)?;
            Ok((certs, AuthPayload { method, data }))
        }
    }
}

/// The peer's AUTH and what it is checked against.
pub(super) struct PeerAuth<'a> {
    pub config: &'a Config,
    /// The peer's identity (already matched against `config.remote_id`).
    pub peer_id: &'a Identity,
    pub prf: Prf,
    pub octets: &'a [u8],
    pub auth: &'a AuthPayload,
    /// The decrypted IKE_AUTH payloads (for CERT).
    pub inner: &'a [Payload],
    /// Unix seconds, for certificate validity.
    pub wall_clock: Option<u64>,
}

impl PeerAuth<'_> {
    /// Verifies the peer's AUTH; for public keys also its certificate: path to a trusted CA,
    /// validity, the ID bound to the certificate, the signature. Returns how the peer
    /// authenticated ("psk" or "pubkey SUBJECT").
    pub(super) fn verify(&self) -> Result<String, AuthError> {
        let peer = self.peer_id.clone();
        match &self.config.auth {
            Auth::Psk(psk) => {
                let method = self.auth.method;
                if method != AuthMethod::SHARED_KEY_MIC {
                    return Err(AuthError::NotPsk { peer, method });
                }
                match psk_auth(self.prf, psk, self.octets) {
                    Ok(expected) if ct_eq(expected.as_bytes(), &self.auth.data) => {
                        Ok("psk".to_string())
                    }
                    _ => Err(AuthError::PskMismatch { peer }),
                }
            }
            Auth::PublicKey(pk) => self.verify_public_key(pk),
        }
    }

    fn verify_public_key(&self, pk: &PublicKeyAuth) -> Result<String, AuthError> {
        let peer = self.peer_id.clone();
        let method = self.auth.method;
        if method == AuthMethod::SHARED_KEY_MIC {
            return Err(AuthError::NotSignature { peer, method });
        }
        if ![
            AuthMethod::DIGITAL_SIGNATURE,
            AuthMethod::RSA_DIGITAL_SIGNATURE,
            AuthMethod::ECDSA_SHA256_P256,
            AuthMethod::ECDSA_SHA384_P384,
        ]
        .contains(&method)
        {
            return Err(AuthError::UnsupportedMethod { peer, method });
        }
        let end = self.peer_certificate()?;
        let certs = payloads::certs(self.inner);
        let intermediates: Vec<Certificate> = certs
            .iter()
            .filter(|c| c.encoding == CertEncoding::X509_CERT_SIGNATURE)
            .skip(1)
            .take(MAX_PEER_INTERMEDIATES)
            .filter_map(|c| Certificate::from_der(&c.data).ok())
            .collect();
        let subject = end.subject();
        let Some(now) = self.wall_clock else {
            return Err(AuthError::NoWallClock { peer, subject });
        };
        pki::verify_chain(&end, &intermediates, &pk.trusted, now).map_err(AuthError::Untrusted)?;
        pki::check_identity(&peer, &end).map_err(AuthError::NotInCertificate)?;
        match pki::verify_auth(&end, method, &self.auth.data, self.octets) {
            Ok(()) => Ok(format!("pubkey {subject}")),
            Err(VerifyError::BadSignature) => Err(AuthError::BadSignature { peer, subject }),
            Err(VerifyError::Unsupported(reason)) => Err(AuthError::Unverifiable {
                peer,
                subject,
                reason,
            }),
        }
    }

    /// The peer's end-entity certificate: its first X.509 CERT payload.
    fn peer_certificate(&self) -> Result<Certificate, AuthError> {
        let peer = self.peer_id.clone();
        let certs = payloads::certs(self.inner);
        let x509 = certs
            .iter()
            .find(|c| c.encoding == CertEncoding::X509_CERT_SIGNATURE);
        let Some(end) = x509 else {
            return Err(match certs.first() {
                Some(other) => AuthError::CertEncoding {
                    peer,
                    encoding: other.encoding,
                },
                None => AuthError::NoCertificate { peer },
            });
        };
        Certificate::from_der(&end.data).map_err(|error| AuthError::BadCertificate { peer, error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const CERT: &[u8] = include_bytes!("../../tests/fixtures/pki/left-rsa.crt");
    const KEY: &[u8] = include_bytes!("../../tests/fixtures/pki/left-rsa.key");
    const CA: &[u8] = include_bytes!("../../tests/fixtures/pki/ca-rsa.crt");

    fn config() -> Config {
        let mut certs = Certificate::parse_all(CERT).unwrap();
        let key = pki::PrivateKey::parse(KEY).unwrap();
        let trusted = Certificate::parse_all(CA).unwrap();
        let pk = PublicKeyAuth::new(certs.remove(0), vec![], key, trusted).unwrap();
        Config {
            name: "t".into(),
            local_id: Identity::Fqdn("right.ripsec.test".into()),
            remote_id: Identity::Fqdn("left.ripsec.test".into()),
            auth: Auth::PublicKey(Arc::new(pk)),
            ike_proposals: vec![],
            children: vec![],
            dpd_delay: None,
            encap: false,
        }
    }

    fn verify(inner: &[Payload]) -> Result<String, AuthError> {
        let config = config();
        let octets = b"octets";
        let Auth::PublicKey(pk) = &config.auth else {
            unreachable!()
        };
        let (method, data) =
            pki::sign_auth(&pk.key, octets, None, &mut crate::crypto::OsRandom).unwrap();
        PeerAuth {
            config: &config,
            peer_id: &config.remote_id,
            prf: Prf::HmacSha256,
            octets,
            auth: &AuthPayload { method, data },
            inner,
            wall_clock: Some(2_208_988_800),
        }
        .verify()
    }

    fn cert_payload(encoding: CertEncoding, data: &[u8]) -> Payload {
        Payload::Cert(CertPayload {
            encoding,
            data: data.to_vec(),
        })
    }

    #[test]
    fn certificate_payload_problems_are_named() {
        let der = Certificate::parse_all(CERT).unwrap()[0].der().to_vec();
        assert_eq!(
            verify(&[cert_payload(CertEncoding::X509_CERT_SIGNATURE, &der)]),
            Ok("pubkey CN=left.ripsec.test, O=ripsec".to_string())
        );
        let peer = Identity::Fqdn("left.ripsec.test".into());
        let none = verify(&[]).unwrap_err();
        assert_eq!(none, AuthError::NoCertificate { peer: peer.clone() });
        assert_eq!(
            none.to_string(),
            "authentication failed: peer left.ripsec.test sent no certificate (CERT payload); does it have a certificate configured, and did it get our CERTREQ?"
        );
        let pkcs7 = verify(&[cert_payload(CertEncoding::PKCS7_WRAPPED_X509, &der)]).unwrap_err();
        assert_eq!(
            pkcs7,
            AuthError::CertEncoding {
                peer,
                encoding: CertEncoding::PKCS7_WRAPPED_X509
            }
        );
        assert_eq!(
            pkcs7.to_string(),
            "authentication failed: peer left.ripsec.test sent its certificate as PKCS7_WRAPPED_X509 (1), we support only X509_CERT_SIGNATURE (4)"
        );
        let e = verify(&[cert_payload(CertEncoding::X509_CERT_SIGNATURE, b"junk")]).unwrap_err();
        assert!(matches!(e, AuthError::BadCertificate { .. }), "{e:?}");
        let e = e.to_string();
        assert!(
            e.starts_with("authentication failed: peer left.ripsec.test sent an unusable certificate: invalid X.509 certificate"),
            "{e}"
        );
    }
}
