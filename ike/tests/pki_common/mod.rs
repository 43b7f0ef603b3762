// SPDX-License-Identifier: GPL-2.0
//! The test PKI of `tests/fixtures/pki` (see its gen.sh).
#![allow(dead_code)]

use std::sync::Arc;

use ripsec_ike::engine::Auth;
use ripsec_ike::pki::{Certificate, PrivateKey, PublicKeyAuth};

/// 2040-01-01 00:00:00 UTC: the fixtures' long-lived certificates are valid then.
pub const NOW: u64 = 2_208_988_800;

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/pki/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The only certificate of a fixture file.
pub fn cert(name: &str) -> Certificate {
    let mut all = Certificate::parse_all(&fixture(name)).expect(name);
    assert_eq!(all.len(), 1, "{name}");
    all.remove(0)
}

pub fn key(name: &str) -> PrivateKey {
    PrivateKey::parse(&fixture(name)).expect(name)
}

/// Public-key credentials: certificate and key files, intermediates, trusted CA files.
pub fn credentials(
    cert_file: &str,
    key_file: &str,
    intermediates: &[&str],
    trusted: &[&str],
) -> PublicKeyAuth {
    PublicKeyAuth::new(
        cert(cert_file),
        intermediates.iter().map(|c| cert(c)).collect(),
        key(key_file),
        trusted.iter().map(|c| cert(c)).collect(),
    )
    .expect("key matches certificate")
}

pub fn pubkey(cert_file: &str, key_file: &str, trusted: &[&str]) -> Auth {
    Auth::PublicKey(Arc::new(credentials(cert_file, key_file, &[], trusted)))
}

/// left's RSA certificate and key, trusting the RSA CA.
pub fn left_rsa() -> Auth {
    pubkey("left-rsa.crt", "left-rsa.key", &["ca-rsa.crt"])
}

/// right's RSA certificate and key, trusting the RSA CA.
pub fn right_rsa() -> Auth {
    pubkey("right-rsa.crt", "right-rsa.pkcs1.key", &["ca-rsa.crt"])
}
