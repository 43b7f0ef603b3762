// SPDX-License-Identifier: GPL-2.0
//! Certificates and private keys for public-key authentication (RFC 7296 §2.15, RFC 7427):
//! X.509 parsing (`x509-cert`), RSA and ECDSA P-256/P-384 keys, AUTH signatures
//! ([`sign_auth`], [`verify_auth`]), certification path checks ([`verify_chain`]) and the
//! binding of an IKE identity to a certificate ([`check_identity`]).

mod certificate;
mod chain;
pub(crate) mod dn;
mod key;
mod pem;
mod signature;

pub use certificate::{certreq_data, format_time, Certificate};
pub use chain::{check_identity, verify_chain};
pub use dn::DistinguishedName;
pub use key::{PrivateKey, PublicKeyAuth};
pub use signature::{sign_auth, sign_v1, verify_auth, verify_v1, VerifyError};
