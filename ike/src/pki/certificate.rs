// SPDX-License-Identifier: GPL-2.0
//! X.509 certificates (parsed with `x509-cert`, DER kept): names, SANs, extensions, the
//! subject's public key, and CERTREQ hashes.

use std::fmt;
use std::time::Duration;

use der::{Decode, Encode, Header, Reader, SliceReader};
use rsa::traits::PublicKeyParts;
use sha1::{Digest, Sha1};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
};

use super::dn::DistinguishedName;
use super::pem::{is_pem, pem_blocks};
use crate::identity::Identity;

pub(crate) const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
pub(crate) const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
pub(crate) const SECP256R1: &str = "1.2.840.10045.3.1.7";
pub(crate) const SECP384R1: &str = "1.3.132.0.34";
const OID_SUBJECT_ALT_NAME: &str = "2.5.29.17";
const OID_BASIC_CONSTRAINTS: &str = "2.5.29.19";
const OID_KEY_USAGE: &str = "2.5.29.15";
const OID_EXT_KEY_USAGE: &str = "2.5.29.37";
/// Smallest RSA modulus we accept, for our own key and in certificates.
pub(crate) const MIN_RSA_BITS: usize = 2048;

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

/// Concatenated SHA-1 hashes of each certificate's SubjectPublicKeyInfo (RFC 7296 §3.7).
pub fn certreq_data(trusted: &[Certificate]) -> Vec<u8> {
    trusted
        .iter()
        .filter_map(|c| c.spki_sha1().ok())
        .flatten()
        .collect()
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

/// "2026-01-01 00:00:00 UTC".
pub fn format_time(unix_seconds: u64) -> String {
    match der::DateTime::from_unix_duration(Duration::from_secs(unix_seconds)) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minutes(),
            t.seconds()
        ),
        Err(_) => format!("{unix_seconds} s after 1970"),
    }
}
