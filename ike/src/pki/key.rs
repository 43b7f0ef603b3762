// SPDX-License-Identifier: GPL-2.0
//! Our private key (RSA, ECDSA P-256/P-384) and our public-key credentials.

use std::fmt;

use der::Decode;
use rsa::traits::PublicKeyParts;

use super::certificate::{
    Certificate, PublicKey, EC_PUBLIC_KEY, MIN_RSA_BITS, RSA_ENCRYPTION, SECP256R1, SECP384R1,
};
use super::pem::{is_pem, pem_blocks};

/// Our private key: RSA (at least 2048 bits) or ECDSA P-256 / P-384. The key material is
/// zeroized on drop (the `rsa` and `ecdsa` key types do so); `Debug` shows only its kind.
pub struct PrivateKey(pub(crate) KeyInner);

pub(crate) enum KeyInner {
    Rsa(Box<rsa::RsaPrivateKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.kind())
    }
}

impl PrivateKey {
    /// PEM: "PRIVATE KEY" (PKCS#8), "RSA PRIVATE KEY" (PKCS#1), "EC PRIVATE KEY" (SEC1); or
    /// DER PKCS#8.
    pub fn parse(bytes: &[u8]) -> Result<PrivateKey, String> {
        if !is_pem(bytes) {
            return Self::from_pkcs8(bytes);
        }
        for (label, der) in pem_blocks(bytes)? {
            match label.as_str() {
                "PRIVATE KEY" => return Self::from_pkcs8(&der),
                "RSA PRIVATE KEY" => return Self::from_pkcs1(&der),
                "EC PRIVATE KEY" => return Self::from_sec1(&der),
                "ENCRYPTED PRIVATE KEY" => {
                    return Err("encrypted private keys are not supported; store the key unencrypted (e.g. openssl pkcs8 -nocrypt) and protect the file".to_string())
                }
                _ => {}
            }
        }
        Err(
            "no \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\" block in the PEM data"
                .to_string(),
        )
    }

    /// The curve size of an ECDSA key (256, 384); `None` for RSA.
    pub fn ecdsa_bits(&self) -> Option<u16> {
        match &self.0 {
            KeyInner::Rsa(_) => None,
            KeyInner::P256(_) => Some(256),
            KeyInner::P384(_) => Some(384),
        }
    }

    /// "RSA 2048", "ECDSA P-256" or "ECDSA P-384".
    pub fn kind(&self) -> String {
        match &self.0 {
            KeyInner::Rsa(key) => format!("RSA {}", key.n().bits()),
            KeyInner::P256(_) => "ECDSA P-256".to_string(),
            KeyInner::P384(_) => "ECDSA P-384".to_string(),
        }
    }

    fn from_pkcs8(der: &[u8]) -> Result<PrivateKey, String> {
        let info = pkcs8::PrivateKeyInfo::from_der(der)
            .map_err(|e| format!("invalid PKCS#8 private key: {e}"))?;
        let invalid = |e: &dyn fmt::Display| format!("invalid PKCS#8 private key: {e}");
        match info.algorithm.oid.to_string().as_str() {
            RSA_ENCRYPTION => rsa::RsaPrivateKey::try_from(info)
                .map_err(|e| invalid(&e))
                .and_then(Self::rsa),
            EC_PUBLIC_KEY => {
                let curve = info
                    .algorithm
                    .parameters_oid()
                    .map(|o| o.to_string())
                    .unwrap_or_default();
                match curve.as_str() {
                    SECP256R1 => p256::SecretKey::try_from(info)
                        .map(|k| PrivateKey(KeyInner::P256(k.into())))
                        .map_err(|e| invalid(&e)),
                    SECP384R1 => p384::SecretKey::try_from(info)
                        .map(|k| PrivateKey(KeyInner::P384(k.into())))
                        .map_err(|e| invalid(&e)),
                    other => Err(format!(
                        "unsupported elliptic curve {other}; only P-256 and P-384 are supported"
                    )),
                }
            }
            other => Err(format!(
                "unsupported private key algorithm {other}; only RSA and ECDSA are supported"
            )),
        }
    }

    fn from_pkcs1(der: &[u8]) -> Result<PrivateKey, String> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        rsa::RsaPrivateKey::from_pkcs1_der(der)
            .map_err(|e| format!("invalid PKCS#1 RSA private key: {e}"))
            .and_then(Self::rsa)
    }

    fn from_sec1(der: &[u8]) -> Result<PrivateKey, String> {
        let key = sec1::EcPrivateKey::from_der(der)
            .map_err(|e| format!("invalid SEC1 EC private key: {e}"))?;
        let curve = key
            .parameters
            .and_then(|p| p.named_curve())
            .map(|o| o.to_string());
        let curve = match (curve.as_deref(), key.private_key.len()) {
            (Some(c), _) => c.to_string(),
            (None, 32) => SECP256R1.to_string(),
            (None, 48) => SECP384R1.to_string(),
            (None, _) => String::new(),
        };
        let invalid = |e: &dyn fmt::Display| format!("invalid SEC1 EC private key: {e}");
        match curve.as_str() {
            SECP256R1 => p256::SecretKey::try_from(key)
                .map(|k| PrivateKey(KeyInner::P256(k.into())))
                .map_err(|e| invalid(&e)),
            SECP384R1 => p384::SecretKey::try_from(key)
                .map(|k| PrivateKey(KeyInner::P384(k.into())))
                .map_err(|e| invalid(&e)),
            other => Err(format!(
                "unsupported elliptic curve '{other}'; only P-256 and P-384 are supported"
            )),
        }
    }

    fn rsa(key: rsa::RsaPrivateKey) -> Result<PrivateKey, String> {
        let bits = key.n().bits();
        if bits < MIN_RSA_BITS {
            return Err(format!(
                "the RSA key has {bits} bits; at least {MIN_RSA_BITS} are required"
            ));
        }
        key.validate()
            .map_err(|e| format!("invalid RSA private key: {e}"))?;
        Ok(PrivateKey(KeyInner::Rsa(Box::new(key))))
    }

    pub(crate) fn public_key(&self) -> PublicKey {
        match &self.0 {
            KeyInner::Rsa(key) => PublicKey::Rsa(key.to_public_key()),
            KeyInner::P256(key) => PublicKey::P256(*key.verifying_key()),
            KeyInner::P384(key) => PublicKey::P384(*key.verifying_key()),
        }
    }
}

/// Our credentials for public-key authentication: certificate, intermediates to send with it,
/// private key, and the CAs we trust for the peer's certificate.
#[derive(Debug)]
pub struct PublicKeyAuth {
    /// Our end-entity certificate (sent first in CERT).
    pub certificate: Certificate,
    /// Intermediate CA certificates sent after it.
    pub intermediates: Vec<Certificate>,
    /// The private key of `certificate`.
    pub key: PrivateKey,
    /// Trust anchors for the peer's certificate (their SubjectPublicKeyInfo hashes go into
    /// CERTREQ).
    pub trusted: Vec<Certificate>,
}

impl PublicKeyAuth {
    /// Checks that `key` belongs to `certificate` (error otherwise, naming the certificate
    /// subject).
    pub fn new(
        certificate: Certificate,
        intermediates: Vec<Certificate>,
        key: PrivateKey,
        trusted: Vec<Certificate>,
    ) -> Result<Self, String> {
        let cert_key = certificate.public_key()?;
        if cert_key != key.public_key() {
            return Err(format!(
                "the private key ({}) does not belong to certificate '{}': its public key differs",
                key.kind(),
                certificate.subject()
            ));
        }
        Ok(Self {
            certificate,
            intermediates,
            key,
            trusted,
        })
    }
}
