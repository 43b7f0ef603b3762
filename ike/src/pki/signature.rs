// SPDX-License-Identifier: GPL-2.0
//! AUTH signatures (RFC 7296 §2.15, RFC 7427) and certificate signatures: RSASSA-PKCS1-v1_5,
//! RSASSA-PSS (verification) and ECDSA on P-256/P-384.

use std::fmt;

use der::Decode;
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use rsa::{Pkcs1v15Sign, Pss};
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierRef;

use super::certificate::{Certificate, PublicKey};
use super::key::{KeyInner, PrivateKey};
use crate::codes::{AuthMethod, HashAlgorithm};
use crate::crypto::RandomSource;

// AlgorithmIdentifiers of RFC 7427 Appendix A (without the length octet).
const SHA256_WITH_RSA: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
];
const SHA384_WITH_RSA: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00,
];
const SHA512_WITH_RSA: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05, 0x00,
];
const ECDSA_WITH_SHA256: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];
const ECDSA_WITH_SHA384: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
];
const ECDSA_WITH_SHA512: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04,
];

const SHA1_WITH_RSA_OID: &str = "1.2.840.113549.1.1.5";
const SHA256_WITH_RSA_OID: &str = "1.2.840.113549.1.1.11";
const SHA384_WITH_RSA_OID: &str = "1.2.840.113549.1.1.12";
const SHA512_WITH_RSA_OID: &str = "1.2.840.113549.1.1.13";
const RSASSA_PSS_OID: &str = "1.2.840.113549.1.1.10";
const MGF1_OID: &str = "1.2.840.113549.1.1.8";
const ECDSA_WITH_SHA1_OID: &str = "1.2.840.10045.4.1";
const ECDSA_WITH_SHA256_OID: &str = "1.2.840.10045.4.3.2";
const ECDSA_WITH_SHA384_OID: &str = "1.2.840.10045.4.3.3";
const ECDSA_WITH_SHA512_OID: &str = "1.2.840.10045.4.3.4";
const SHA1_OID: &str = "1.3.14.3.2.26";
const SHA256_OID: &str = "2.16.840.1.101.3.4.2.1";
const SHA384_OID: &str = "2.16.840.1.101.3.4.2.2";
const SHA512_OID: &str = "2.16.840.1.101.3.4.2.3";

/// Why a signature was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// Well-formed and supported, but it does not verify with the key.
    BadSignature,
    /// Malformed, or an algorithm or combination we do not accept (the reason).
    Unsupported(String),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::BadSignature => f.write_str("the signature does not verify"),
            VerifyError::Unsupported(reason) => f.write_str(reason),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn pkcs1v15(self) -> Pkcs1v15Sign {
        match self {
            Hash::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
            Hash::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
            Hash::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
            Hash::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
        }
    }

    fn pss(self, salt_len: usize) -> Pss {
        match self {
            Hash::Sha1 => Pss::new_with_salt::<sha1::Sha1>(salt_len),
            Hash::Sha256 => Pss::new_with_salt::<Sha256>(salt_len),
            Hash::Sha384 => Pss::new_with_salt::<Sha384>(salt_len),
            Hash::Sha512 => Pss::new_with_salt::<Sha512>(salt_len),
        }
    }

    fn from_oid(oid: &str) -> Option<Hash> {
        match oid {
            SHA1_OID => Some(Hash::Sha1),
            SHA256_OID => Some(Hash::Sha256),
            SHA384_OID => Some(Hash::Sha384),
            SHA512_OID => Some(Hash::Sha512),
            _ => None,
        }
    }

    fn from_registry(h: HashAlgorithm) -> Option<Hash> {
        match h {
            HashAlgorithm::SHA2_256 => Some(Hash::Sha256),
            HashAlgorithm::SHA2_384 => Some(Hash::Sha384),
            HashAlgorithm::SHA2_512 => Some(Hash::Sha512),
            _ => None,
        }
    }
}

/// Signs the AUTH octets with `key`. With the peer's SIGNATURE_HASH_ALGORITHMS listing SHA-2
/// (`peer_hashes`): DIGITAL_SIGNATURE (RFC 7427) with SHA2-256 if listed (ECDSA: the curve's
/// hash if listed), else SHA2-384, else SHA2-512 (RSA: RSASSA-PKCS1-v1_5; ECDSA: DER
/// signature). Otherwise RSA_DIGITAL_SIGNATURE (PKCS#1 v1.5 with SHA-1) or
/// ECDSA_SHA256_P256 / ECDSA_SHA384_P384 (RFC 4754). `rng` blinds the RSA operation.
pub fn sign_auth(
    key: &PrivateKey,
    octets: &[u8],
    peer_hashes: Option<&[HashAlgorithm]>,
    rng: &mut dyn RandomSource,
) -> Result<(AuthMethod, Vec<u8>), String> {
    let listed: Vec<Hash> = peer_hashes
        .unwrap_or_default()
        .iter()
        .filter_map(|h| Hash::from_registry(*h))
        .collect();
    let preferred = match key.0 {
        KeyInner::P384(_) => Hash::Sha384,
        _ => Hash::Sha256,
    };
    let chosen = if listed.contains(&preferred) {
        Some(preferred)
    } else {
        [Hash::Sha256, Hash::Sha384, Hash::Sha512]
            .into_iter()
            .find(|h| listed.contains(h))
    };
    let Some(hash) = chosen else {
        return sign_legacy(key, octets, rng);
    };
    let digest = hash.digest(octets);
    let (algorithm, signature) = match &key.0 {
        KeyInner::Rsa(rsa) => {
            let algorithm = match hash {
                Hash::Sha384 => SHA384_WITH_RSA,
                Hash::Sha512 => SHA512_WITH_RSA,
                _ => SHA256_WITH_RSA,
            };
            let signature = rsa
                .sign_with_rng(&mut RngAdapter(rng), hash.pkcs1v15(), &digest)
                .map_err(|e| format!("RSA signing failed: {e}"))?;
            (algorithm, signature)
        }
        KeyInner::P256(ec) => {
            let signature: p256::ecdsa::DerSignature = ec
                .sign_prehash(&digest)
                .map_err(|e| format!("ECDSA signing failed: {e}"))?;
            (ecdsa_algorithm(hash), signature.as_bytes().to_vec())
        }
        KeyInner::P384(ec) => {
            let signature: p384::ecdsa::DerSignature = ec
                .sign_prehash(&digest)
                .map_err(|e| format!("ECDSA signing failed: {e}"))?;
            (ecdsa_algorithm(hash), signature.as_bytes().to_vec())
        }
    };
    let length = u8::try_from(algorithm.len()).map_err(|e| e.to_string())?;
    let mut data = vec![length];
    data.extend_from_slice(algorithm);
    data.extend_from_slice(&signature);
    Ok((AuthMethod::DIGITAL_SIGNATURE, data))
}

fn ecdsa_algorithm(hash: Hash) -> &'static [u8] {
    match hash {
        Hash::Sha384 => ECDSA_WITH_SHA384,
        Hash::Sha512 => ECDSA_WITH_SHA512,
        _ => ECDSA_WITH_SHA256,
    }
}

/// Methods 1, 9 and 10, for peers without SIGNATURE_HASH_ALGORITHMS.
fn sign_legacy(
    key: &PrivateKey,
    octets: &[u8],
    rng: &mut dyn RandomSource,
) -> Result<(AuthMethod, Vec<u8>), String> {
    match &key.0 {
        KeyInner::Rsa(rsa) => {
            let digest = Hash::Sha1.digest(octets);
            let signature = rsa
                .sign_with_rng(&mut RngAdapter(rng), Hash::Sha1.pkcs1v15(), &digest)
                .map_err(|e| format!("RSA signing failed: {e}"))?;
            Ok((AuthMethod::RSA_DIGITAL_SIGNATURE, signature))
        }
        KeyInner::P256(ec) => {
            let signature: p256::ecdsa::Signature =
                ec.sign_prehash(&Hash::Sha256.digest(octets))
                    .map_err(|e| format!("ECDSA signing failed: {e}"))?;
            Ok((AuthMethod::ECDSA_SHA256_P256, signature.to_bytes().to_vec()))
        }
        KeyInner::P384(ec) => {
            let signature: p384::ecdsa::Signature =
                ec.sign_prehash(&Hash::Sha384.digest(octets))
                    .map_err(|e| format!("ECDSA signing failed: {e}"))?;
            Ok((AuthMethod::ECDSA_SHA384_P384, signature.to_bytes().to_vec()))
        }
    }
}

/// Verifies an AUTH payload (`method`, `data`) over `octets` with the public key of `cert`.
/// Accepts DIGITAL_SIGNATURE (RSASSA-PKCS1-v1_5 and RSASSA-PSS with SHA-2, ECDSA with SHA-2),
/// RSA_DIGITAL_SIGNATURE, ECDSA_SHA256_P256 and ECDSA_SHA384_P384.
pub fn verify_auth(
    cert: &Certificate,
    method: AuthMethod,
    data: &[u8],
    octets: &[u8],
) -> Result<(), VerifyError> {
    let key = cert.public_key().map_err(VerifyError::Unsupported)?;
    match method {
        AuthMethod::DIGITAL_SIGNATURE => {
            let malformed =
                || VerifyError::Unsupported("malformed DIGITAL_SIGNATURE AUTH data".to_string());
            let (&length, rest) = data.split_first().ok_or_else(malformed)?;
            let algorithm = rest.get(..usize::from(length)).ok_or_else(malformed)?;
            let signature = rest.get(usize::from(length)..).ok_or_else(malformed)?;
            let algorithm = AlgorithmIdentifierRef::from_der(algorithm).map_err(|e| {
                VerifyError::Unsupported(format!(
                    "invalid AlgorithmIdentifier in DIGITAL_SIGNATURE: {e}"
                ))
            })?;
            verify_signature(&key, &algorithm, octets, signature)
        }
        AuthMethod::RSA_DIGITAL_SIGNATURE => match key {
            PublicKey::Rsa(rsa) => rsa
                .verify(Hash::Sha1.pkcs1v15(), &Hash::Sha1.digest(octets), data)
                .map_err(|_| VerifyError::BadSignature),
            _ => Err(key_mismatch(&key, "RSA_DIGITAL_SIGNATURE")),
        },
        AuthMethod::ECDSA_SHA256_P256 => match key {
            PublicKey::P256(vk) => {
                let sig = p256::ecdsa::Signature::from_slice(data)
                    .map_err(|_| VerifyError::BadSignature)?;
                vk.verify_prehash(&Hash::Sha256.digest(octets), &sig)
                    .map_err(|_| VerifyError::BadSignature)
            }
            _ => Err(key_mismatch(&key, "ECDSA_SHA256_P256")),
        },
        AuthMethod::ECDSA_SHA384_P384 => match key {
            PublicKey::P384(vk) => {
                let sig = p384::ecdsa::Signature::from_slice(data)
                    .map_err(|_| VerifyError::BadSignature)?;
                vk.verify_prehash(&Hash::Sha384.digest(octets), &sig)
                    .map_err(|_| VerifyError::BadSignature)
            }
            _ => Err(key_mismatch(&key, "ECDSA_SHA384_P384")),
        },
        other => Err(VerifyError::Unsupported(format!(
            "authentication method {other} is not supported"
        ))),
    }
}

/// IKEv1's signature of HASH_I or HASH_R: with RSA (RFC 2409 §5.1, as strongSwan and Libreswan
/// make it) PKCS#1 v1.5 over the hash itself, without a DigestInfo; with ECDSA (Authentication
/// Methods 9 and 10) the hash itself as the digest, r and s side by side, as strongSwan does.
pub fn sign_v1(
    key: &PrivateKey,
    hash: &[u8],
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, String> {
    match &key.0 {
        KeyInner::Rsa(rsa) => rsa
            .sign_with_rng(&mut RngAdapter(rng), Pkcs1v15Sign::new_unprefixed(), hash)
            .map_err(|e| format!("RSA signing failed: {e}")),
        // The hash itself is ECDSA's digest (strongSwan's SIGN_ECDSA_WITH_NULL); r and s side
        // by side.
        KeyInner::P256(ec) => {
            let signature: p256::ecdsa::Signature = ec
                .sign_prehash(&v1_digest(hash, 32))
                .map_err(|e| format!("ECDSA signing failed: {e}"))?;
            Ok(signature.to_bytes().to_vec())
        }
        KeyInner::P384(ec) => {
            let signature: p384::ecdsa::Signature = ec
                .sign_prehash(&v1_digest(hash, 48))
                .map_err(|e| format!("ECDSA signing failed: {e}"))?;
            Ok(signature.to_bytes().to_vec())
        }
    }
}

/// A hash shorter than the curve's field, zero-padded in front: the same number, which is what
/// OpenSSL (and so strongSwan) signs; the ecdsa crate refuses digests under half the field
/// (a 20-byte SHA-1 hash on P-384).
fn v1_digest(hash: &[u8], field: usize) -> Vec<u8> {
    let mut digest = vec![0u8; field.saturating_sub(hash.len())];
    digest.extend_from_slice(hash);
    digest
}

/// Verifies an IKEv1 signature ([`sign_v1`]) with the public key of `cert`.
pub fn verify_v1(cert: &Certificate, hash: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
    match cert.public_key().map_err(VerifyError::Unsupported)? {
        PublicKey::Rsa(rsa) => rsa
            .verify(Pkcs1v15Sign::new_unprefixed(), hash, signature)
            .map_err(|_| VerifyError::BadSignature),
        PublicKey::P256(vk) => {
            let sig = p256::ecdsa::Signature::from_slice(signature)
                .map_err(|_| VerifyError::BadSignature)?;
            vk.verify_prehash(&v1_digest(hash, 32), &sig)
                .map_err(|_| VerifyError::BadSignature)
        }
        PublicKey::P384(vk) => {
            let sig = p384::ecdsa::Signature::from_slice(signature)
                .map_err(|_| VerifyError::BadSignature)?;
            vk.verify_prehash(&v1_digest(hash, 48), &sig)
                .map_err(|_| VerifyError::BadSignature)
        }
    }
}

fn key_kind(key: &PublicKey) -> &'static str {
    match key {
        PublicKey::Rsa(_) => "an RSA key",
        PublicKey::P256(_) => "an ECDSA P-256 key",
        PublicKey::P384(_) => "an ECDSA P-384 key",
    }
}

fn key_mismatch(key: &PublicKey, algorithm: &str) -> VerifyError {
    VerifyError::Unsupported(format!(
        "the signature uses {algorithm}, but the certificate has {}",
        key_kind(key)
    ))
}

/// Verifies `signature` over `message` with `key`, as `algorithm` says (certificate
/// signatures and RFC 7427 AUTH). SHA-1 is refused.
pub(crate) fn verify_signature(
    key: &PublicKey,
    algorithm: &AlgorithmIdentifierRef<'_>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    let oid = algorithm.oid.to_string();
    let rsa_hash = match oid.as_str() {
        SHA256_WITH_RSA_OID => Some(Hash::Sha256),
        SHA384_WITH_RSA_OID => Some(Hash::Sha384),
        SHA512_WITH_RSA_OID => Some(Hash::Sha512),
        _ => None,
    };
    let ecdsa_hash = match oid.as_str() {
        ECDSA_WITH_SHA256_OID => Some(Hash::Sha256),
        ECDSA_WITH_SHA384_OID => Some(Hash::Sha384),
        ECDSA_WITH_SHA512_OID => Some(Hash::Sha512),
        _ => None,
    };
    match (key, rsa_hash, ecdsa_hash) {
        (_, _, _) if oid == SHA1_WITH_RSA_OID || oid == ECDSA_WITH_SHA1_OID => {
            Err(VerifyError::Unsupported(format!(
                "the signature uses SHA-1 ({}), which we do not accept",
                algorithm_name(&oid)
            )))
        }
        (PublicKey::Rsa(rsa), Some(hash), _) => rsa
            .verify(hash.pkcs1v15(), &hash.digest(message), signature)
            .map_err(|_| VerifyError::BadSignature),
        (PublicKey::Rsa(rsa), None, None) if oid == RSASSA_PSS_OID => {
            let (hash, salt_len) = pss_params(algorithm)?;
            rsa.verify(hash.pss(salt_len), &hash.digest(message), signature)
                .map_err(|_| VerifyError::BadSignature)
        }
        (PublicKey::P256(vk), None, Some(hash)) => {
            let sig = p256::ecdsa::Signature::from_der(signature)
                .map_err(|_| VerifyError::BadSignature)?;
            vk.verify_prehash(&hash.digest(message), &sig)
                .map_err(|_| VerifyError::BadSignature)
        }
        (PublicKey::P384(vk), None, Some(hash)) => {
            let sig = p384::ecdsa::Signature::from_der(signature)
                .map_err(|_| VerifyError::BadSignature)?;
            vk.verify_prehash(&hash.digest(message), &sig)
                .map_err(|_| VerifyError::BadSignature)
        }
        (_, None, None) if oid != RSASSA_PSS_OID => Err(VerifyError::Unsupported(format!(
            "unsupported signature algorithm {}",
            algorithm_name(&oid)
        ))),
        _ => Err(key_mismatch(key, algorithm_name(&oid))),
    }
}

/// Hash and salt length of RSASSA-PSS-params (RFC 4055); MGF1 must use the same hash.
fn pss_params(algorithm: &AlgorithmIdentifierRef<'_>) -> Result<(Hash, usize), VerifyError> {
    let unsupported = |what: String| VerifyError::Unsupported(format!("RSASSA-PSS: {what}"));
    let params = algorithm
        .parameters
        .ok_or_else(|| unsupported("parameters missing".to_string()))?;
    let params: pkcs1::RsaPssParams<'_> = params
        .decode_as()
        .map_err(|e| unsupported(format!("invalid parameters: {e}")))?;
    let hash_oid = params.hash.oid.to_string();
    let hash = match Hash::from_oid(&hash_oid) {
        Some(Hash::Sha1) => {
            return Err(unsupported(
                "SHA-1 as hash, which we do not accept".to_string(),
            ))
        }
        Some(hash) => hash,
        None => return Err(unsupported(format!("unsupported hash {hash_oid}"))),
    };
    let mgf_hash = params
        .mask_gen
        .parameters
        .map(|p| p.oid.to_string())
        .unwrap_or_default();
    if params.mask_gen.oid.to_string() != MGF1_OID || mgf_hash != hash_oid {
        return Err(unsupported(
            "the mask generation function must be MGF1 with the same hash".to_string(),
        ));
    }
    Ok((hash, usize::from(params.salt_len)))
}

fn algorithm_name(oid: &str) -> &str {
    match oid {
        SHA1_WITH_RSA_OID => "sha1WithRSAEncryption",
        SHA256_WITH_RSA_OID => "sha256WithRSAEncryption",
        SHA384_WITH_RSA_OID => "sha384WithRSAEncryption",
        SHA512_WITH_RSA_OID => "sha512WithRSAEncryption",
        RSASSA_PSS_OID => "RSASSA-PSS",
        ECDSA_WITH_SHA1_OID => "ecdsa-with-SHA1",
        ECDSA_WITH_SHA256_OID => "ecdsa-with-SHA256",
        ECDSA_WITH_SHA384_OID => "ecdsa-with-SHA384",
        ECDSA_WITH_SHA512_OID => "ecdsa-with-SHA512",
        other => other,
    }
}

/// Lets the `rsa` crate draw blinding values from our [`RandomSource`].
struct RngAdapter<'a>(&'a mut dyn RandomSource);

impl rand_core::RngCore for RngAdapter<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for RngAdapter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Encode;

    fn encode(oid: &str, null: bool) -> Vec<u8> {
        let alg = spki::AlgorithmIdentifierOwned {
            oid: const_oid::ObjectIdentifier::new_unwrap(oid),
            parameters: null.then(der::asn1::Any::null),
        };
        alg.to_der().unwrap()
    }

    #[test]
    fn rfc7427_algorithm_identifiers_are_der() {
        assert_eq!(encode(SHA256_WITH_RSA_OID, true), SHA256_WITH_RSA);
        assert_eq!(encode(SHA384_WITH_RSA_OID, true), SHA384_WITH_RSA);
        assert_eq!(encode(SHA512_WITH_RSA_OID, true), SHA512_WITH_RSA);
        assert_eq!(encode(ECDSA_WITH_SHA256_OID, false), ECDSA_WITH_SHA256);
        assert_eq!(encode(ECDSA_WITH_SHA384_OID, false), ECDSA_WITH_SHA384);
        assert_eq!(encode(ECDSA_WITH_SHA512_OID, false), ECDSA_WITH_SHA512);
    }
}
