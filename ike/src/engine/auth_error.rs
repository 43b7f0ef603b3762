// SPDX-License-Identifier: GPL-2.0
//! Why authentication failed in IKE_AUTH: ours (the peer said so) or the peer's (we checked).

use std::fmt;

use crate::codes::{AuthMethod, CertEncoding};
use crate::identity::Identity;

/// Why authentication failed in IKE_AUTH, ours (the peer said so) or the peer's (we checked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// The peer's IKE_AUTH request lacks IDi or AUTH.
    RequestIncomplete,
    /// The peer's IKE_AUTH response lacks IDr or AUTH.
    ResponseIncomplete,
    /// No configuration expects the peer's ID.
    UnknownPeer {
        /// The peer's ID, as readable as it gets.
        id: String,
        /// The IDs we expect.
        configured: Vec<String>,
    },
    /// The peer answered AUTHENTICATION_FAILED.
    Rejected {
        /// Our ID.
        local_id: Identity,
        /// The subject of our certificate (public-key authentication).
        certificate: Option<String>,
    },
    /// The responder's ID is not the one we expect.
    UnexpectedPeer {
        /// Its ID, as readable as it gets.
        id: String,
        /// The one we expect.
        expected: Identity,
    },
    /// The peer used another method than a pre-shared key.
    NotPsk {
        /// The peer.
        peer: Identity,
        /// Its method.
        method: AuthMethod,
    },
    /// The peer's pre-shared-key AUTH does not verify.
    PskMismatch {
        /// The peer.
        peer: Identity,
    },
    /// The peer used a pre-shared key where we expect a signature.
    NotSignature {
        /// The peer.
        peer: Identity,
        /// Its method.
        method: AuthMethod,
    },
    /// The peer's signature method is not one we support.
    UnsupportedMethod {
        /// The peer.
        peer: Identity,
        /// Its method.
        method: AuthMethod,
    },
    /// The peer's certificate is not X.509.
    CertEncoding {
        /// The peer.
        peer: Identity,
        /// The encoding it used.
        encoding: CertEncoding,
    },
    /// The peer sent no certificate.
    NoCertificate {
        /// The peer.
        peer: Identity,
    },
    /// The peer's certificate does not parse.
    BadCertificate {
        /// The peer.
        peer: Identity,
        /// Why.
        error: String,
    },
    /// [`super::Engine::set_wall_clock`] was never called.
    NoWallClock {
        /// The peer.
        peer: Identity,
        /// Its certificate's subject.
        subject: String,
    },
    /// The peer's certificate does not lead to a CA we trust, or is not valid now.
    Untrusted(String),
    /// The peer's ID is not bound to its certificate.
    NotInCertificate(String),
    /// The peer's AUTH signature does not verify.
    BadSignature {
        /// The peer.
        peer: Identity,
        /// Its certificate's subject.
        subject: String,
    },
    /// The peer's AUTH signature cannot be checked with its certificate.
    Unverifiable {
        /// The peer.
        peer: Identity,
        /// Its certificate's subject.
        subject: String,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::RequestIncomplete => f.write_str("IKE_AUTH request without IDi or AUTH"),
            AuthError::ResponseIncomplete => f.write_str("IKE_AUTH response without IDr or AUTH"),
            AuthError::UnknownPeer { id, configured } => write!(
                f,
                "authentication failed: unknown peer ID {id} (configured peers: {})",
                configured.join(", ")
            ),
            AuthError::Rejected {
                local_id,
                certificate: None,
            } => write!(
                f,
                "the peer rejected our authentication (AUTHENTICATION_FAILED): either it does not know our ID {local_id} or our pre-shared keys differ"
            ),
            AuthError::Rejected {
                local_id,
                certificate: Some(subject),
            } => write!(
                f,
                "the peer rejected our authentication (AUTHENTICATION_FAILED): either it does not know our ID {local_id} or it does not trust our certificate '{subject}' (check its CA and our certificate's validity and SANs)"
            ),
            AuthError::UnexpectedPeer { id, expected } => write!(
                f,
                "the peer identified as {id}, but we expect {expected}"
            ),
            AuthError::NotPsk { peer, method } => write!(
                f,
                "authentication failed: peer {peer} used {method}, we expect a pre-shared key"
            ),
            AuthError::PskMismatch { peer } => write!(
                f,
                "authentication failed: AUTH from peer {peer} does not verify (pre-shared key mismatch)"
            ),
            AuthError::NotSignature { peer, method } => write!(
                f,
                "authentication failed: peer {peer} used a pre-shared key ({method}), we expect a certificate signature (public-key authentication)"
            ),
            AuthError::UnsupportedMethod { peer, method } => write!(
                f,
                "authentication failed: peer {peer} used {method}, which we do not support; we expect a certificate signature (DIGITAL_SIGNATURE, RSA_DIGITAL_SIGNATURE or ECDSA)"
            ),
            AuthError::CertEncoding { peer, encoding } => write!(
                f,
                "authentication failed: peer {peer} sent its certificate as {encoding}, we support only {}",
                CertEncoding::X509_CERT_SIGNATURE
            ),
            AuthError::NoCertificate { peer } => write!(
                f,
                "authentication failed: peer {peer} sent no certificate (CERT payload); does it have a certificate configured, and did it get our CERTREQ?"
            ),
            AuthError::BadCertificate { peer, error } => write!(
                f,
                "authentication failed: peer {peer} sent an unusable certificate: {error}"
            ),
            AuthError::NoWallClock { peer, subject } => write!(
                f,
                "internal error: no wall clock (Engine::set_wall_clock was never called), cannot check the validity of certificate '{subject}' from peer {peer}"
            ),
            AuthError::Untrusted(e) | AuthError::NotInCertificate(e) => {
                write!(f, "authentication failed: {e}")
            }
            AuthError::BadSignature { peer, subject } => write!(
                f,
                "authentication failed: AUTH signature from peer {peer} does not verify with the public key of its certificate '{subject}'"
            ),
            AuthError::Unverifiable {
                peer,
                subject,
                reason,
            } => write!(
                f,
                "authentication failed: AUTH from peer {peer} cannot be checked with its certificate '{subject}': {reason}"
            ),
        }
    }
}
