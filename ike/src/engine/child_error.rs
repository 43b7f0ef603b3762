// SPDX-License-Identifier: GPL-2.0
//! What went wrong in a Child SA negotiation, the same kind whichever exchange carried it,
//! and the context that explains it: IKE_AUTH or CREATE_CHILD_SA, and who refused.

use std::fmt;

use super::proposal::{describe, explain_no_proposal};
use super::selectors::{describe_ts, AnsweredTs, TooManySelectors};
use crate::codes::{NotifyType, ProtocolId};
use crate::identity::Identity;
use crate::sa::{Proposal, Transform};
use crate::traffic_selector::TrafficSelector;

/// No inbound SPI for a Child SA: the [`super::SpiAllocator`] failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpiError {
    /// It returned SPI 0.
    Zero,
    /// It failed, with its reason.
    Refused(String),
}

impl fmt::Display for SpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpiError::Zero => {
                f.write_str("cannot allocate an inbound SPI: the allocator returned 0")
            }
            SpiError::Refused(e) => write!(f, "cannot allocate an inbound SPI: {e}"),
        }
    }
}

/// The exchange that carries a Child SA negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChildExchange {
    /// The first Child SA, with IKE_AUTH.
    IkeAuth,
    /// Any further one, or a rekey, with CREATE_CHILD_SA.
    CreateChildSa,
}

/// Where a Child SA negotiation failed, and who refused: the explanation around the
/// [`ChildError`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChildContext {
    /// We refused the Child SA of the peer's IKE_AUTH request, after authenticating it.
    RefusedInAuth {
        /// The peer's authenticated identity.
        peer: Identity,
    },
    /// We refused the peer's CREATE_CHILD_SA request.
    Refused,
    /// The peer's IKE_AUTH answer: it authenticated, but its Child SA is refused or unusable.
    AnsweredInAuth {
        /// The peer's authenticated identity.
        peer: Identity,
    },
    /// The peer's answer to our CREATE_CHILD_SA request.
    Answered(ChildOp),
}

impl ChildContext {
    /// The exchange that carried the negotiation.
    pub fn exchange(&self) -> ChildExchange {
        match self {
            ChildContext::RefusedInAuth { .. } | ChildContext::AnsweredInAuth { .. } => {
                ChildExchange::IkeAuth
            }
            ChildContext::Refused | ChildContext::Answered(_) => ChildExchange::CreateChildSa,
        }
    }

    pub(super) fn explain(&self, error: &ChildError, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exchange = self.exchange();
        let error_in = In(error, exchange);
        match (self, error) {
            (ChildContext::RefusedInAuth { peer }, _) => write!(
                f,
                "peer {peer} authenticated, but the Child SA was refused: {error_in}"
            ),
            (ChildContext::AnsweredInAuth { peer }, ChildError::PeerRefused { .. }) => write!(
                f,
                "peer {peer} authenticated, but it refused the Child SA with {error_in}"
            ),
            (ChildContext::Answered(op), ChildError::PeerRefused { .. }) => {
                write!(f, "the peer refused {} with {error_in}", op.noun())
            }
            (ChildContext::Answered(op), _) => write!(f, "{} failed: {error_in}", op.noun()),
            (ChildContext::Refused | ChildContext::AnsweredInAuth { .. }, _) => {
                write!(f, "{error_in}")
            }
        }
    }
}

/// A Child SA we asked for with CREATE_CHILD_SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChildOp {
    /// A new one.
    New,
    /// The rekey of the Child SA with this inbound SPI.
    Rekey(u32),
}

impl ChildOp {
    /// "the new Child SA", "the rekey of Child SA 0000abcd".
    fn noun(self) -> String {
        match self {
            ChildOp::New => "the new Child SA".to_string(),
            ChildOp::Rekey(spi) => format!("the rekey of Child SA {spi:08x}"),
        }
    }
}

/// What went wrong in a Child SA negotiation: the same kind whether IKE_AUTH or
/// CREATE_CHILD_SA carried it (the explanation names the exchange where it differs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChildError {
    /// No child configuration allows anything of the peer's traffic selectors.
    TsUnacceptable {
        /// The peer's TSi.
        ts_i: Vec<TrafficSelector>,
        /// The peer's TSr.
        ts_r: Vec<TrafficSelector>,
        /// What we allow, e.g. "remote [10.1.0.0/24] local [10.2.0.0/24]".
        allowed: String,
    },
    /// The narrowed traffic selectors need more policy selectors than ripsec installs.
    TooManySelectors {
        /// The peer's TSi.
        ts_i: Vec<TrafficSelector>,
        /// The peer's TSr.
        ts_r: Vec<TrafficSelector>,
        /// The narrowed selectors.
        narrowed: TooManySelectors,
    },
    /// None of the peer's ESP (or AH) proposals is acceptable.
    NoProposalChosen {
        /// The protocol we negotiate: ESP, or AH.
        protocol: ProtocolId,
        /// Our proposals' transforms.
        ours: Vec<Vec<Transform>>,
        /// The peer's proposals.
        theirs: Vec<Proposal>,
    },
    /// The chosen ESP proposal of the peer's request has no 4-byte SPI.
    RequestEspSpi,
    /// The peer's REKEY_SA has no 4-byte SPI.
    RequestRekeySpi,
    /// The peer asked to rekey a Child SA we do not have.
    UnknownChild {
        /// Its SPI (our outbound SPI).
        spi: u32,
    },
    /// The peer's request has no Nonce.
    RequestNonce,
    /// The peer's request lacks a KE payload of the chosen group (PFS).
    RequestKe {
        /// The group.
        group: u16,
    },
    /// The peer's KE public value is invalid.
    RequestInvalidKe,
    /// No inbound SPI for it.
    Spi(SpiError),
    /// Our DH key for PFS could not be made.
    DhKey(String),
    /// The peer refused our Child SA with an error notify.
    PeerRefused {
        /// The notify.
        notify: NotifyType,
        /// What the explanation adds about our request.
        detail: RefusalDetail,
    },
    /// The peer chose an ESP proposal we did not offer.
    NotOffered,
    /// The peer's ESP proposal has no 4-byte SPI.
    AnswerEspSpi,
    /// The peer's answer has no Nonce.
    AnswerNonce,
    /// The peer's answer lacks a KE payload of the chosen group.
    AnswerKe,
    /// The peer's KE public value is unusable.
    AnswerKeUnusable(String),
    /// The peer chose a DH group we did not send.
    AnswerDhGroup,
    /// The peer's answer lacks TSi or TSr.
    AnswerTs,
    /// The peer's traffic selectors are not within ours or not installable.
    AnsweredTs(AnsweredTs),
    /// We asked for transport mode; the peer answered with tunnel mode.
    TransportRefused,
    /// Deriving the Child SA keys failed.
    KeyDerivation(String),
}

/// What the explanation of the peer's refusal of our Child SA adds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefusalDetail {
    /// Nothing.
    None,
    /// NO_PROPOSAL_CHOSEN: our proposals' protocol and transforms.
    Offered(ProtocolId, Vec<Vec<Transform>>),
    /// INVALID_KE_PAYLOAD: the group the peer wants, if readable.
    WantsGroup(Option<u16>),
    /// TS_UNACCEPTABLE: our TSi and TSr.
    Proposed(Vec<TrafficSelector>, Vec<TrafficSelector>),
}

impl fmt::Display for RefusalDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefusalDetail::None => Ok(()),
            RefusalDetail::Offered(protocol, ours) => write!(
                f,
                "; we offered {} {}",
                protocol.name().unwrap_or("?"),
                describe(ours)
            ),
            RefusalDetail::WantsGroup(group) => write!(
                f,
                "; it wants DH group {} (PFS settings or groups differ)",
                group.map_or_else(|| "?".to_string(), |g| g.to_string())
            ),
            RefusalDetail::Proposed(ts_i, ts_r) => write!(
                f,
                "; we proposed TSi [{}] TSr [{}]",
                describe_ts(ts_i),
                describe_ts(ts_r)
            ),
        }
    }
}

/// A [`ChildError`] explained for the exchange that carried it.
struct In<'a>(&'a ChildError, ChildExchange);

impl fmt::Display for In<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let In(error, exchange) = self;
        let in_ccsa = *exchange == ChildExchange::CreateChildSa;
        let ts_context = if in_ccsa { " in CREATE_CHILD_SA" } else { "" };
        match error {
            ChildError::TsUnacceptable { ts_i, ts_r, allowed } => write!(
                f,
                "traffic selectors unacceptable{ts_context}: the peer proposed TSi [{}] TSr [{}]; we allow {allowed}",
                describe_ts(ts_i),
                describe_ts(ts_r)
            ),
            ChildError::TooManySelectors { ts_i, ts_r, narrowed } => write!(
                f,
                "traffic selectors unacceptable{ts_context}: the peer proposed TSi [{}] TSr [{}], narrowed to {narrowed}",
                describe_ts(ts_i),
                describe_ts(ts_r)
            ),
            ChildError::NoProposalChosen {
                protocol,
                ours,
                theirs,
            } => {
                let name = protocol.name().unwrap_or("?");
                let ccsa = if in_ccsa { ", CREATE_CHILD_SA" } else { "" };
                let what = format!("Child SA ({name}{ccsa})");
                match theirs.first().map(|p| p.protocol) {
                    Some(other) if theirs.iter().all(|p| p.protocol != *protocol) => write!(
                        f,
                        "no proposal chosen for the {what}: the peer proposes {} and we {name}; \
                         use esp_proposals or ah_proposals on both sides alike",
                        other.name().unwrap_or("?")
                    ),
                    _ => f.write_str(&explain_no_proposal(&what, ours, theirs)),
                }
            }
            ChildError::RequestEspSpi if in_ccsa => f.write_str(
                "the peer's CREATE_CHILD_SA request has an ESP proposal without a 4-byte SPI",
            ),
            ChildError::RequestEspSpi => f.write_str("ESP proposal without a 4-byte SPI"),
            ChildError::RequestRekeySpi => f.write_str(
                "the peer's CREATE_CHILD_SA request has a REKEY_SA without a 4-byte SPI",
            ),
            ChildError::UnknownChild { spi } => write!(
                f,
                "the peer asked to rekey Child SA {spi:08x} (our outbound SPI), which we do not have"
            ),
            ChildError::RequestNonce => f.write_str("the peer's CREATE_CHILD_SA request has no Nonce"),
            ChildError::RequestKe { group } => write!(
                f,
                "the peer's CREATE_CHILD_SA request lacks a KE payload of DH group {group}"
            ),
            ChildError::RequestInvalidKe => {
                f.write_str("the peer's CREATE_CHILD_SA request has an invalid KE public value")
            }
            ChildError::Spi(e) => write!(f, "{e}"),
            ChildError::DhKey(e) => write!(f, "cannot generate a DH key: {e}"),
            ChildError::PeerRefused { notify, detail } => write!(f, "{notify}{detail}"),
            ChildError::NotOffered => f.write_str("the peer chose an ESP proposal we did not offer"),
            ChildError::AnswerEspSpi => f.write_str("the peer's ESP proposal has no 4-byte SPI"),
            ChildError::AnswerNonce => f.write_str("the response has no Nonce"),
            ChildError::AnswerKe => {
                f.write_str("the response lacks a KE payload of the chosen group")
            }
            ChildError::AnswerKeUnusable(e) => write!(f, "the peer's KE payload is unusable: {e}"),
            ChildError::AnswerDhGroup => f.write_str("the peer chose a DH group we did not send"),
            ChildError::AnswerTs if in_ccsa => f.write_str("the response lacks TSi/TSr"),
            ChildError::AnswerTs => f.write_str("IKE_AUTH response without TSi/TSr"),
            ChildError::AnsweredTs(e) => write!(f, "{e}"),
            ChildError::TransportRefused => f.write_str("the peer does not accept transport mode"),
            ChildError::KeyDerivation(e) => write!(f, "Child SA key derivation failed: {e}"),
        }
    }
}
