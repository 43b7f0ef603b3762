// SPDX-License-Identifier: GPL-2.0
//! Why an IKE SA or a request over it failed, why we refused the peer's request, and why an
//! IKE SA closed. Each kind carries what its explanation names; `Display` gives the one-line
//! explanation the daemon logs.

use std::fmt;
use std::net::SocketAddr;

use super::auth_error::AuthError;
use super::child_error::{ChildContext, ChildError, ChildOp, SpiError};
use super::proposal::{describe, explain_no_proposal};
use crate::codes::{ExchangeType, NotifyType, PayloadType, TransformType};
use crate::error::ParseError;
use crate::sa::{Proposal, Transform};
use crate::transform_ids::transform_name;

/// A failure, or a refusal of the peer's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The configuration given to [`super::Engine::initiate`] has no IKE proposal.
    NoIkeProposal,
    /// The child configuration asked for does not exist (`connection`: its name, when the
    /// explanation gives it).
    NoChild {
        /// The connection, if named.
        connection: Option<String>,
        /// The index asked for.
        index: usize,
        /// How many children the connection has.
        count: usize,
    },
    /// No inbound SPI for the Child SA of our IKE_AUTH request.
    Spi(SpiError),
    /// Something on our side failed: a DH key, encoding, encryption or key derivation.
    Local(LocalError),
    /// The caller deleted the IKE SA before it was established.
    Deleted,
    /// Our IKE_SA_INIT or IKE_AUTH request was never answered.
    NoResponse {
        /// The peer.
        peer: SocketAddr,
        /// Transmissions of the request.
        transmissions: u32,
        /// Its message ID.
        message_id: u32,
    },
    /// The peer's answer to our IKE_SA_INIT request refuses it or cannot be used.
    Init(InitError),
    /// None of the peer's IKE proposals in its IKE_SA_INIT request is acceptable.
    NoProposalFrom {
        /// The peer.
        from: SocketAddr,
        /// Our proposals' transforms.
        ours: Vec<Vec<Transform>>,
        /// The peer's proposals.
        theirs: Vec<Proposal>,
    },
    /// Authentication failed, ours or the peer's.
    Auth(AuthError),
    /// A Child SA negotiation failed, in IKE_AUTH or CREATE_CHILD_SA (see [`ChildContext`]).
    Child {
        /// Where, and who refused.
        context: ChildContext,
        /// What went wrong: the same kind through either exchange.
        error: ChildError,
    },
    /// One of our requests could not be started.
    CannotStart {
        /// The request.
        attempt: Attempt,
        /// Why.
        cause: Box<Error>,
    },
    /// One of our requests could not be sent.
    CannotSend {
        /// The request.
        request: OurRequest,
        /// Why.
        error: LocalError,
    },
    /// We refused the peer's IKE SA rekey.
    IkeRekeyRefused(IkeRekeyError),
    /// An IKE SA rekey (ours, or the peer's we answered) failed.
    IkeRekeyFailed(IkeRekeyError),
    /// An IKEv1 exchange failed; the text is the explanation.
    Ikev1(String),
    /// The peer's authenticated request carried a critical payload we do not know; we
    /// answered N(UNSUPPORTED_CRITICAL_PAYLOAD) and kept the IKE SA (RFC 7296 §2.5).
    UnsupportedCritical {
        /// The peer.
        peer: SocketAddr,
        /// The request's exchange.
        exchange: ExchangeType,
        /// The unknown payload type.
        payload: PayloadType,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoIkeProposal => f.write_str("the configuration has no IKE proposal"),
            Error::NoChild {
                connection: None,
                index,
                count,
            } => write!(
                f,
                "the configuration has no child number {index} (it has {count})"
            ),
            Error::NoChild {
                connection: Some(name),
                index,
                count,
            } => write!(
                f,
                "connection {name} has no child number {index} (it has {count})"
            ),
            Error::Spi(e) => write!(f, "{e}"),
            Error::Local(e) => write!(f, "{e}"),
            Error::Deleted => f.write_str("deleted before it was established"),
            Error::NoResponse {
                peer,
                transmissions,
                message_id,
            } => write!(
                f,
                "no response from {peer} after {transmissions} transmissions of message {message_id}"
            ),
            Error::Init(e) => write!(f, "{e}"),
            Error::NoProposalFrom { from, ours, theirs } => write!(
                f,
                "IKE_SA_INIT from {from}: {}",
                explain_no_proposal("IKE SA", ours, theirs)
            ),
            Error::Auth(e) => write!(f, "{e}"),
            Error::Child { context, error } => context.explain(error, f),
            Error::CannotStart { attempt, cause } => write!(f, "cannot {attempt}: {cause}"),
            Error::CannotSend { request, error } => write!(f, "cannot send {request}: {error}"),
            Error::IkeRekeyRefused(e) => write!(f, "{e}"),
            Error::IkeRekeyFailed(e) => write!(f, "the rekey of the IKE SA failed: {e}"),
            Error::Ikev1(text) => write!(f, "IKEv1: {text}"),
            Error::UnsupportedCritical {
                peer,
                exchange,
                payload,
            } => write!(
                f,
                "the peer {peer} sent a {exchange} request with critical payload type {payload}, which we do not support; answered UNSUPPORTED_CRITICAL_PAYLOAD"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Something on our side that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalError {
    /// Generating a DH key failed.
    DhKey(String),
    /// Encoding our IKE_SA_INIT request failed.
    EncodeInit(String),
    /// Encrypting our IKE_AUTH request failed.
    EncryptAuthRequest(String),
    /// Encrypting our IKE_AUTH response failed.
    EncryptAuthResponse(String),
    /// Encrypting a message of an established IKE SA failed.
    Encrypt {
        /// Its exchange.
        exchange: ExchangeType,
        /// Why.
        error: String,
    },
    /// Deriving the IKE SA keys failed.
    KeyDerivation(String),
    /// Computing the AUTH octets or our AUTH failed.
    Auth(String),
    /// Computing our AUTH as responder failed.
    OurAuth(String),
}

impl fmt::Display for LocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalError::DhKey(e) => write!(f, "cannot generate a DH key: {e}"),
            LocalError::EncodeInit(e) => write!(f, "cannot encode IKE_SA_INIT: {e}"),
            LocalError::EncryptAuthRequest(e) => write!(f, "cannot encrypt IKE_AUTH: {e}"),
            LocalError::EncryptAuthResponse(e) => {
                write!(f, "cannot encrypt the IKE_AUTH response: {e}")
            }
            LocalError::Encrypt { exchange, error } => {
                write!(f, "cannot encrypt {exchange}: {error}")
            }
            LocalError::KeyDerivation(e) => write!(f, "key derivation failed: {e}"),
            LocalError::Auth(e) => write!(f, "AUTH computation failed: {e}"),
            LocalError::OurAuth(e) => write!(f, "internal error computing AUTH: {e}"),
        }
    }
}

/// What is wrong with the peer's answer to our IKE_SA_INIT request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitError {
    /// COOKIE after COOKIE (RFC 7296 §2.6), or an empty one.
    CookieLoop,
    /// INVALID_KE_PAYLOAD for a group we did not offer or already tried.
    InvalidKe {
        /// The group it asks for, if readable.
        group: Option<u16>,
    },
    /// NO_PROPOSAL_CHOSEN.
    NoProposalChosen {
        /// Our proposals' transforms.
        offered: Vec<Vec<Transform>>,
    },
    /// Another error notify.
    Refused(NotifyType),
    /// SA, KE or Nonce missing.
    Incomplete,
    /// It chose a proposal we did not offer.
    ProposalNotOffered,
    /// Its KE payload's group is not the chosen proposal's.
    KeGroup {
        /// The KE payload's group.
        theirs: u16,
        /// The chosen proposal's.
        chosen: u16,
    },
    /// Its KE public value is unusable.
    KeUnusable(String),
    /// Its SPI is zero.
    ZeroSpi,
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::CookieLoop => {
                f.write_str("the peer keeps demanding a COOKIE (RFC 7296 §2.6)")
            }
            InitError::InvalidKe { group } => write!(
                f,
                "the peer answered INVALID_KE_PAYLOAD asking for DH group {}, which we did not offer or already tried",
                group.map_or_else(
                    || "?".to_string(),
                    |g| transform_name(TransformType::DH, g, None)
                )
            ),
            InitError::NoProposalChosen { offered } => write!(
                f,
                "no proposal chosen for the IKE SA: the peer accepted none of our offer ({})",
                describe(offered)
            ),
            InitError::Refused(notify) => write!(f, "the peer refused IKE_SA_INIT: {notify}"),
            InitError::Incomplete => f.write_str("IKE_SA_INIT response lacks SA, KE or Nonce"),
            InitError::ProposalNotOffered => {
                f.write_str("the peer chose an IKE proposal we did not offer")
            }
            InitError::KeGroup { theirs, chosen } => write!(
                f,
                "the peer's KE uses group {theirs} but the chosen proposal says {chosen}"
            ),
            InitError::KeUnusable(e) => write!(f, "the peer's KE payload is unusable: {e}"),
            InitError::ZeroSpi => {
                f.write_str("the peer's IKE_SA_INIT response has a zero responder SPI")
            }
        }
    }
}

/// One of our requests that could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Attempt {
    /// A Child SA with CREATE_CHILD_SA.
    Child(ChildOp),
    /// The rekey of the IKE SA.
    IkeRekey,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attempt::Child(ChildOp::New) => f.write_str("create a Child SA"),
            Attempt::Child(ChildOp::Rekey(spi)) => write!(f, "rekey Child SA {spi:08x}"),
            Attempt::IkeRekey => f.write_str("rekey the IKE SA"),
        }
    }
}

/// One of our requests, as explanations name it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OurRequest {
    /// IKE_SA_INIT or IKE_AUTH.
    Setup,
    /// A liveness check (empty INFORMATIONAL).
    Liveness,
    /// The DELETE of the IKE SA.
    DeleteIke,
    /// The DELETE of Child SAs, by our inbound SPIs.
    DeleteChildren(Vec<u32>),
    /// A CREATE_CHILD_SA for a Child SA.
    Child(ChildOp),
    /// The rekey of the IKE SA.
    IkeRekey,
}

impl fmt::Display for OurRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OurRequest::Setup => f.write_str("IKE_SA_INIT/IKE_AUTH"),
            OurRequest::Liveness => f.write_str("a liveness check"),
            OurRequest::DeleteIke => f.write_str("the DELETE of the IKE SA"),
            OurRequest::DeleteChildren(spis) => {
                let list: Vec<String> = spis.iter().map(|s| format!("{s:08x}")).collect();
                write!(f, "the DELETE of Child SA {}", list.join(", "))
            }
            OurRequest::Child(ChildOp::New) => f.write_str("the creation of a Child SA"),
            OurRequest::Child(ChildOp::Rekey(spi)) => write!(f, "the rekey of Child SA {spi:08x}"),
            OurRequest::IkeRekey => f.write_str("the rekey of the IKE SA"),
        }
    }
}

/// What went wrong with an IKE SA rekey (RFC 7296 §2.18).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IkeRekeyError {
    /// None of the peer's IKE proposals is acceptable.
    NoProposalChosen {
        /// Our proposals' transforms.
        ours: Vec<Vec<Transform>>,
        /// The peer's proposals.
        theirs: Vec<Proposal>,
    },
    /// The peer's request has no 8-byte SPI.
    RequestSpi,
    /// The peer's request has no Nonce.
    RequestNonce,
    /// The peer's KE public value is invalid.
    RequestInvalidKe,
    /// The peer answered our request with an error notify.
    PeerAnswered(NotifyType),
    /// The peer chose a proposal we did not offer.
    NotOffered,
    /// The peer's proposal has no 8-byte SPI.
    AnswerSpi,
    /// The peer's answer has no Nonce.
    AnswerNonce,
    /// The peer's answer has no KE payload.
    AnswerKe,
    /// The peer's KE payload is not of the group we sent.
    AnswerKeGroup {
        /// Its group.
        theirs: u16,
        /// Ours.
        ours: u16,
    },
    /// The peer's KE public value is unusable.
    AnswerKeUnusable(String),
    /// Deriving the new IKE SA's keys failed.
    KeyDerivation(String),
}

impl fmt::Display for IkeRekeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IkeRekeyError::NoProposalChosen { ours, theirs } => {
                f.write_str(&explain_no_proposal("IKE SA rekey", ours, theirs))
            }
            IkeRekeyError::RequestSpi => {
                f.write_str("the peer's IKE SA rekey request has no 8-byte SPI")
            }
            IkeRekeyError::RequestNonce => {
                f.write_str("the peer's IKE SA rekey request has no Nonce")
            }
            IkeRekeyError::RequestInvalidKe => {
                f.write_str("the peer's IKE SA rekey request has an invalid KE public value")
            }
            IkeRekeyError::PeerAnswered(notify) => {
                let hint = if *notify == NotifyType::TEMPORARY_FAILURE {
                    " (it is busy, e.g. rekeying itself; try again later)"
                } else {
                    ""
                };
                write!(f, "the peer answered {notify}{hint}")
            }
            IkeRekeyError::NotOffered => {
                f.write_str("the peer chose an IKE proposal we did not offer")
            }
            IkeRekeyError::AnswerSpi => f.write_str("the peer's proposal has no 8-byte SPI"),
            IkeRekeyError::AnswerNonce => f.write_str("the response has no Nonce"),
            IkeRekeyError::AnswerKe => f.write_str("the response has no KE payload"),
            IkeRekeyError::AnswerKeGroup { theirs, ours } => write!(
                f,
                "the peer's KE uses group {theirs} but we sent group {ours}"
            ),
            IkeRekeyError::AnswerKeUnusable(e) => {
                write!(f, "the peer's KE payload is unusable: {e}")
            }
            IkeRekeyError::KeyDerivation(e) => write!(f, "key derivation failed: {e}"),
        }
    }
}

/// Why an established IKE SA closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// A request of ours went unanswered after its last retransmission.
    NoAnswer {
        /// The peer.
        peer: SocketAddr,
        /// The request.
        request: OurRequest,
        /// Its transmissions.
        transmissions: u32,
    },
    /// We deleted it and the peer answered.
    DeletedByUs {
        /// The peer.
        peer: SocketAddr,
    },
    /// The peer deleted it.
    DeletedByPeer {
        /// The peer.
        peer: SocketAddr,
    },
    /// The peer refused our authentication after IKE_AUTH (RFC 7296 §2.21.2).
    AuthenticationFailed {
        /// The peer.
        peer: SocketAddr,
    },
    /// The peer authenticated a new SA with INITIAL-CONTACT: it has lost the state of this one
    /// (it restarted).
    InitialContact {
        /// The peer.
        peer: SocketAddr,
    },
    /// The peer's authenticated request did not parse: we answered N(INVALID_SYNTAX) and
    /// removed the IKE SA, as strongSwan does (RFC 7296 §2.21.2 allows deleting it).
    InvalidSyntax {
        /// The peer.
        peer: SocketAddr,
        /// The request's exchange.
        exchange: ExchangeType,
        /// What did not parse.
        error: ParseError,
    },
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::NoAnswer {
                peer,
                request,
                transmissions,
            } => write!(
                f,
                "no answer from {peer} to {request} after {transmissions} transmissions; the peer is unreachable or lost the IKE SA"
            ),
            CloseReason::DeletedByUs { peer } => write!(f, "we deleted the IKE SA with {peer}"),
            CloseReason::DeletedByPeer { peer } => write!(f, "the peer {peer} deleted the IKE SA"),
            CloseReason::AuthenticationFailed { peer } => write!(
                f,
                "the peer {peer} rejected our authentication after IKE_AUTH (AUTHENTICATION_FAILED): it does not accept our AUTH or certificate; the IKE SA and its Child SAs are removed"
            ),
            CloseReason::InitialContact { peer } => write!(
                f,
                "the peer {peer} started over (INITIAL-CONTACT in a new SA): it lost this SA, so it and its Child SAs are removed"
            ),
            CloseReason::InvalidSyntax {
                peer,
                exchange,
                error,
            } => write!(
                f,
                "the peer {peer} sent an authenticated {exchange} request that does not parse ({error}); answered INVALID_SYNTAX and removed the IKE SA and its Child SAs"
            ),
        }
    }
}
