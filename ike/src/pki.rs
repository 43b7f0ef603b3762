// SPDX-License-Identifier: GPL-2.0
//! Certificates and private keys for public-key authentication (RFC 7296 §2.15, RFC 7427):
//! X.509 parsing (`x509-cert`), RSA and ECDSA P-256/P-384 keys, AUTH signatures
//! ([`sign_auth`], [`verify_auth`]), certification path checks ([`verify_chain`]) and the
//! binding of an IKE identity to a certificate ([`check_identity`]).

mod chain;
mod dn;
mod signature;

use std::fmt;

use der::{Decode, Encode, Header, Reader, SliceReader};
use rsa::traits::PublicKeyParts;
use sha1::{Digest, Sha1};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
};
use zeroize::Zeroizing;

use crate::engine::Identity;

pub use chain::{check_identity, format_time, verify_chain};
pub use dn::DistinguishedName;
pub use signature::{sign_auth, verify_auth, VerifyError};

const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const SECP256R1: &str = "1.2.840.10045.3.1.7";
const SECP384R1: &str = "1.3.132.0.34";
const OID_SUBJECT_ALT_NAME: &str = "2.5.29.17";
const OID_BASIC_CONSTRAINTS: &str = "2.5.29.19";
const OID_KEY_USAGE: &str = "2.5.29.15";
const OID_EXT_KEY_USAGE: &str = "2.5.29.37";
/// Smallest RSA modulus we accept, for our own key and in certificates.
const MIN_RSA_BITS: usize = 2048;

/// A parsed X.509 v3 certificate; keeps its DER encoding.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    /// The TBSCertificate exactly as encoded (what the issuer signed).
    tbs: Vec<u8>,
    inner: x509_cert::Certificate,
    subject: DistinguishedName,
    issuer: DistinguishedName,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Certificate({:?})", self.subject.to_string())
    }
}

impl Certificate {
    /// All certificates in a PEM file (one or more "BEGIN CERTIFICATE" blocks) or one DER
    /// certificate.
    pub fn parse_all(bytes: &[u8]) -> Result<Vec<Certificate>, String> {
        if !is_pem(bytes) {
            return Ok(vec![Self::from_der(bytes)?]);
        }
        let mut certs = Vec::new();
        for (label, der) in pem_blocks(bytes)? {
            if label == "CERTIFICATE" || label == "X509 CERTIFICATE" {
                certs.push(Self::from_der(&der)?);
            }
        }
        if certs.is_empty() {
            return Err("no \"BEGIN CERTIFICATE\" block in the PEM data".to_string());
        }
        Ok(certs)
    }

    /// One DER-encoded certificate.
    pub fn from_der(der: &[u8]) -> Result<Certificate, String> {
        let inner = x509_cert::Certificate::from_der(der)
            .map_err(|e| format!("invalid X.509 certificate: {e}"))?;
        let tbs = raw_tbs(der).map_err(|e| format!("invalid X.509 certificate: {e}"))?;
        let tbs_cert = &inner.tbs_certificate;
        let subject = DistinguishedName::from_rdns(
            &tbs_cert.subject,
            tbs_cert.subject.to_der().map_err(|e| e.to_string())?,
        );
        let issuer = DistinguishedName::from_rdns(
            &tbs_cert.issuer,
            tbs_cert.issuer.to_der().map_err(|e| e.to_string())?,
        );
        Ok(Certificate {
            der: der.to_vec(),
            tbs: tbs.to_vec(),
            inner,
            subject,
            issuer,
        })
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject, e.g. "CN=left.ripsec.test, O=ripsec".
    pub fn subject(&self) -> String {
        self.subject.to_string()
    }

    /// The subject as a distinguished name.
    pub fn subject_name(&self) -> &DistinguishedName {
        &self.subject
    }

    /// The issuer's name.
    pub fn issuer_name(&self) -> &DistinguishedName {
        &self.issuer
    }

    /// `Identity::Dn` of the subject.
    pub fn subject_identity(&self) -> Identity {
        Identity::Dn(self.subject.clone())
    }

    /// notBefore, in seconds since the Unix epoch.
    pub fn not_before(&self) -> u64 {
        let validity = &self.inner.tbs_certificate.validity;
        validity.not_before.to_unix_duration().as_secs()
    }

    /// notAfter, in seconds since the Unix epoch.
    pub fn not_after(&self) -> u64 {
        let validity = &self.inner.tbs_certificate.validity;
        validity.not_after.to_unix_duration().as_secs()
    }

    /// Subject, SANs and validity, for diagnostics.
    pub fn describe(&self) -> String {
        let sans = self.san_strings();
        format!(
            "subject '{}', issuer '{}', SANs {}, valid from {} to {}",
            self.subject,
            self.issuer,
            if sans.is_empty() {
                "none".to_string()
            } else {
                sans.join(", ")
            },
            format_time(self.not_before()),
            format_time(self.not_after())
        )
    }

    /// The subjectAltName entries (empty without the extension or if it does not parse).
    pub(crate) fn sans(&self) -> Vec<GeneralName> {
        self.extension(OID_SUBJECT_ALT_NAME)
            .and_then(|(_, value)| SubjectAltName::from_der(value).ok())
            .map(|san| san.0)
            .unwrap_or_default()
    }

    /// SANs as text: "DNS:a", "IP:10.0.0.2", "email:x@y", "DN:CN=z".
    pub fn san_strings(&self) -> Vec<String> {
        self.sans()
            .iter()
            .map(|name| match name {
                GeneralName::DnsName(n) => format!("DNS:{}", n.as_str()),
                GeneralName::Rfc822Name(n) => format!("email:{}", n.as_str()),
                GeneralName::IpAddress(a) => match ip_from_bytes(a.as_bytes()) {
                    Some(ip) => format!("IP:{ip}"),
                    None => format!("IP:({} bytes)", a.as_bytes().len()),
                },
                GeneralName::DirectoryName(n) => match n.to_der() {
                    Ok(der) => format!("DN:{}", DistinguishedName::from_rdns(n, der)),
                    Err(_) => "DN:?".to_string(),
                },
                GeneralName::UniformResourceIdentifier(u) => format!("URI:{}", u.as_str()),
                _ => "other".to_string(),
            })
            .collect()
    }

    /// basicConstraints: (cA, pathLenConstraint), if present and parseable.
    pub(crate) fn basic_constraints(&self) -> Option<(bool, Option<u8>)> {
        self.extension(OID_BASIC_CONSTRAINTS)
            .and_then(|(_, value)| BasicConstraints::from_der(value).ok())
            .map(|bc| (bc.ca, bc.path_len_constraint))
    }

    /// keyUsage as RFC 5280 names the bits ("digitalSignature", "keyCertSign"), if present.
    pub(crate) fn key_usage(&self) -> Option<Vec<&'static str>> {
        // Present but unparseable counts as allowing nothing.
        let (_, value) = self.extension(OID_KEY_USAGE)?;
        let Ok(usage) = KeyUsage::from_der(value) else {
            return Some(Vec::new());
        };
        let names = [
            (KeyUsages::DigitalSignature, "digitalSignature"),
            (KeyUsages::NonRepudiation, "nonRepudiation"),
            (KeyUsages::KeyEncipherment, "keyEncipherment"),
            (KeyUsages::DataEncipherment, "dataEncipherment"),
            (KeyUsages::KeyAgreement, "keyAgreement"),
            (KeyUsages::KeyCertSign, "keyCertSign"),
            (KeyUsages::CRLSign, "cRLSign"),
            (KeyUsages::EncipherOnly, "encipherOnly"),
            (KeyUsages::DecipherOnly, "decipherOnly"),
        ];
        Some(
            names
                .into_iter()
                .filter(|(flag, _)| usage.0.contains(*flag))
                .map(|(_, name)| name)
                .collect(),
        )
    }

    /// extendedKeyUsage OIDs, if present.
    pub(crate) fn extended_key_usage(&self) -> Option<Vec<String>> {
        // Present but unparseable counts as allowing nothing.
        let (_, value) = self.extension(OID_EXT_KEY_USAGE)?;
        Some(ExtendedKeyUsage::from_der(value).map_or_else(
            |_| vec!["(unparseable)".to_string()],
            |eku| eku.0.iter().map(ToString::to_string).collect(),
        ))
    }

    /// The extension `oid`: (critical, DER value).
    fn extension(&self, oid: &str) -> Option<(bool, &[u8])> {
        self.inner
            .tbs_certificate
            .extensions
            .as_ref()?
            .iter()
            .find(|e| e.extn_id.to_string() == oid)
            .map(|e| (e.critical, e.extn_value.as_bytes()))
    }

    /// OIDs of the critical extensions.
    pub(crate) fn critical_extensions(&self) -> Vec<String> {
        self.inner
            .tbs_certificate
            .extensions
            .iter()
            .flatten()
            .filter(|e| e.critical)
            .map(|e| e.extn_id.to_string())
            .collect()
    }

    /// SHA-1 of the DER SubjectPublicKeyInfo (a CERTREQ entry, RFC 7296 §3.7).
    pub fn spki_sha1(&self) -> Result<[u8; 20], String> {
        let spki = self
            .inner
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| e.to_string())?;
        Ok(Sha1::digest(&spki).into())
    }

    /// The subject's public key.
    pub(crate) fn public_key(&self) -> Result<PublicKey, String> {
        let spki = &self.inner.tbs_certificate.subject_public_key_info;
        let algorithm = spki.algorithm.oid.to_string();
        let bits = spki.subject_public_key.raw_bytes();
        let unsupported = |what: &str| {
            format!(
                "certificate '{}' has an unsupported public key ({what}); only RSA and ECDSA P-256/P-384 are supported",
                self.subject
            )
        };
        match algorithm.as_str() {
            RSA_ENCRYPTION => {
                use rsa::pkcs1::DecodeRsaPublicKey;
                let key = rsa::RsaPublicKey::from_pkcs1_der(bits)
                    .map_err(|e| unsupported(&format!("invalid RSA key: {e}")))?;
                let size = key.n().bits();
                if size < MIN_RSA_BITS {
                    return Err(format!(
                        "certificate '{}' has an RSA key of {size} bits; at least {MIN_RSA_BITS} are required",
                        self.subject
                    ));
                }
                Ok(PublicKey::Rsa(key))
            }
            EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok())
                    .map(|o| o.to_string())
                    .unwrap_or_default();
                match curve.as_str() {
                    SECP256R1 => p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                        .map(PublicKey::P256)
                        .map_err(|_| unsupported("invalid P-256 point")),
                    SECP384R1 => p384::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                        .map(PublicKey::P384)
                        .map_err(|_| unsupported("invalid P-384 point")),
                    other => Err(unsupported(&format!("elliptic curve {other}"))),
                }
            }
            other => Err(unsupported(&format!("algorithm {other}"))),
        }
    }

    pub(crate) fn tbs(&self) -> &[u8] {
        &self.tbs
    }

    pub(crate) fn signature_algorithm(&self) -> &spki::AlgorithmIdentifierOwned {
        &self.inner.signature_algorithm
    }

    pub(crate) fn signature(&self) -> &[u8] {
        self.inner.signature.raw_bytes()
    }
}

/// A public key from a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PublicKey {
    Rsa(rsa::RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

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

/// Concatenated SHA-1 hashes of each certificate's SubjectPublicKeyInfo (RFC 7296 §3.7).
pub fn certreq_data(trusted: &[Certificate]) -> Vec<u8> {
    trusted
        .iter()
        .filter_map(|c| c.spki_sha1().ok())
        .flatten()
        .collect()
}

fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// A PEM block's label and DER (zeroized when dropped: it may be a private key).
type PemBlock = (String, Zeroizing<Vec<u8>>);

/// The blocks of PEM text.
fn pem_blocks(bytes: &[u8]) -> Result<Vec<PemBlock>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "PEM data is not text".to_string())?;
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = rest.get(start..).unwrap_or_default();
        let label_end = block.get(11..).and_then(|s| s.find("-----")).unwrap_or(0);
        let label = block
            .get(11..11 + label_end)
            .unwrap_or_default()
            .to_string();
        let end_marker = format!("-----END {label}-----");
        let Some(end) = block.find(&end_marker) else {
            return Err(format!("PEM block \"{label}\" has no END line"));
        };
        let whole = block.get(..end + end_marker.len()).unwrap_or_default();
        rest = block.get(end + end_marker.len()..).unwrap_or_default();
        if whole.contains("Proc-Type:") {
            return Err(format!(
                "PEM block \"{label}\" is encrypted; store the key unencrypted"
            ));
        }
        let (_, der) = der::pem::decode_vec(whole.as_bytes())
            .map_err(|e| format!("invalid PEM block \"{label}\": {e}"))?;
        blocks.push((label, Zeroizing::new(der)));
    }
    Ok(blocks)
}

/// The TBSCertificate TLV of a DER certificate, as encoded.
fn raw_tbs(der: &[u8]) -> der::Result<&[u8]> {
    let mut reader = SliceReader::new(der)?;
    Header::decode(&mut reader)?;
    reader.tlv_bytes()
}

pub(crate) fn ip_from_bytes(bytes: &[u8]) -> Option<std::net::IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(std::net::IpAddr::from(v4));
    }
    <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from)
}
