// SPDX-License-Identifier: GPL-2.0
//! One IKE SA as the engine keeps it, and what its exchanges share. The [`State`] holds what
//! that state has and nothing it cannot have yet: the keys once IKE_SA_INIT is done, the
//! configuration once it is known, the peer's identity once it authenticated. The rest is
//! common to all states: message IDs, the request queue and the outstanding request, the
//! cached response, the Child SAs.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::child_error::ChildOp;
use super::error::{Error, OurRequest};
use super::esp_suite::EspCipher;
use super::nat::NatState;
use super::proposal::{EspProposal, IkeProposal};
use super::types::{ChildSa, Config, FailedRequest, Mode, Output, Role, SaId};
use crate::codes::{ExchangeType, HashAlgorithm, ProtocolId};
use crate::crypto::{CryptoError, DhGroup, KeyExchange, RandomSource, SkKeys};
use crate::error::ParseError;
use crate::header::HeaderFlags;
use crate::identity::Identity;
use crate::keys::IkeSaKeys;
use crate::message::Message;
use crate::payload::{NotifyPayload, Payload};
use crate::traffic_selector::TrafficSelector;

/// The suite IKE_SA_INIT chose and the keys derived from it (RFC 7296 §2.14).
#[derive(Debug)]
pub(super) struct Keys {
    pub suite: IkeProposal,
    pub sk: IkeSaKeys,
}

impl Keys {
    /// The SK keys protecting what `sender` sends.
    fn sk(&self, sender: Role) -> SkKeys {
        let (encr, integ) = match sender {
            Role::Initiator => (&self.sk.sk_ei, &self.sk.sk_ai),
            Role::Responder => (&self.sk.sk_er, &self.sk.sk_ar),
        };
        SkKeys {
            cipher: self.suite.cipher,
            encr: encr.clone(),
            integ: integ.clone(),
        }
    }
}

/// Where an IKE SA stands, with what it has there.
#[derive(Debug)]
pub(super) enum State {
    /// Initiator: IKE_SA_INIT request sent.
    InitSent(Box<InitSent>),
    /// Initiator: IKE_AUTH request sent.
    AuthSent(Box<AuthSent>),
    /// Responder: IKE_SA_INIT answered, IKE_AUTH awaited.
    HalfOpen(Box<HalfOpen>),
    /// Established: carries exchanges.
    Established(Arc<Established>),
    /// Established, our DELETE of it queued or sent: still carries exchanges.
    Deleting(Arc<Established>),
    /// Gone after establishment; kept until `expires` to answer retransmissions.
    Closed,
    /// Failed before it was established.
    Failed(Box<Failed>),
}

/// Initiator, IKE_SA_INIT request sent.
#[derive(Debug)]
pub(super) struct InitSent {
    pub config: Config,
    /// The Child SA IKE_AUTH will ask for.
    pub offer: ChildOffer,
    pub nonce_i: Vec<u8>,
    /// Our DH key, of the group of the request as last sent.
    pub ke: KeyExchange,
    /// RealMessage1: the request as last sent.
    pub init_request: Vec<u8>,
    /// The responder's COOKIE, sent back in the request (RFC 7296 §2.6).
    pub cookie: Option<Vec<u8>>,
    pub cookie_retries: u8,
    pub invalid_ke_retries: u8,
}

/// Initiator, IKE_AUTH request sent.
#[derive(Debug)]
pub(super) struct AuthSent {
    pub config: Config,
    pub offer: ChildOffer,
    pub keys: Keys,
    pub nonce_i: Vec<u8>,
    pub nonce_r: Vec<u8>,
}

/// Responder, IKE_SA_INIT answered: the peer (and so the configuration) is not known yet.
#[derive(Debug)]
pub(super) struct HalfOpen {
    pub keys: Keys,
    pub nonce_i: Vec<u8>,
    pub nonce_r: Vec<u8>,
    /// RealMessage1, which the initiator's AUTH covers.
    pub init_request: Vec<u8>,
    /// The peer's SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4), if it sent them.
    pub peer_hashes: Option<Vec<HashAlgorithm>>,
}

/// An established IKE SA: never changes, so exchanges share it.
#[derive(Debug)]
pub(super) struct Established {
    pub config: Config,
    pub keys: Keys,
    pub peer_id: Identity,
    /// How the peer authenticated: "psk" or "pubkey SUBJECT".
    pub peer_auth: String,
    pub at: Duration,
}

/// What status still shows of an IKE SA that failed before it was established.
#[derive(Debug, Default)]
pub(super) struct Failed {
    pub suite: Option<IkeProposal>,
    pub peer_auth: Option<String>,
}

impl State {
    pub(super) fn name(&self) -> &'static str {
        match self {
            State::InitSent(_) => "connecting (IKE_SA_INIT sent)",
            State::AuthSent(_) | State::HalfOpen(_) => "authenticating",
            State::Established(_) => "established",
            State::Deleting(_) => "deleting",
            State::Closed => "closed",
            State::Failed(_) => "failed",
        }
    }

    /// Established (or being deleted) and able to carry exchanges.
    pub(super) fn established(&self) -> Option<&Arc<Established>> {
        match self {
            State::Established(up) | State::Deleting(up) => Some(up),
            _ => None,
        }
    }

    pub(super) fn config(&self) -> Option<&Config> {
        match self {
            State::InitSent(s) => Some(&s.config),
            State::AuthSent(s) => Some(&s.config),
            State::Established(up) | State::Deleting(up) => Some(&up.config),
            State::HalfOpen(_) | State::Closed | State::Failed(_) => None,
        }
    }

    /// The negotiated suite, once known.
    pub(super) fn suite(&self) -> Option<IkeProposal> {
        match self {
            State::AuthSent(s) => Some(s.keys.suite),
            State::HalfOpen(s) => Some(s.keys.suite),
            State::Established(up) | State::Deleting(up) => Some(up.keys.suite),
            State::Failed(failed) => failed.suite,
            State::InitSent(_) | State::Closed => None,
        }
    }
}

/// A request waiting for its response.
#[derive(Debug)]
pub(super) struct Pending {
    pub message_id: u32,
    pub bytes: Vec<u8>,
    pub transmissions: u32,
    pub deadline: Duration,
    pub interval: Duration,
    pub kind: Sent,
}

/// A request we want to send once the previous one is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Request {
    /// Empty INFORMATIONAL.
    Liveness,
    /// INFORMATIONAL with a Delete payload for the IKE SA.
    DeleteIke,
    /// INFORMATIONAL deleting Child SAs, by our inbound SPIs.
    DeleteChildren(Vec<u32>),
    /// INFORMATIONAL deleting a Child SA the peer created but we refused (RFC 7296 §2.9), by
    /// its protocol and the inbound SPI we had offered for it.
    DeleteRefused(ProtocolId, u32),
    /// CREATE_CHILD_SA rekeying the Child SA with this inbound SPI.
    RekeyChild(u32),
    /// CREATE_CHILD_SA for an additional Child SA of this child configuration (index).
    NewChild(usize),
    /// CREATE_CHILD_SA rekeying the IKE SA; the new IKE SA gets this id.
    RekeyIke(SaId),
}

/// What an outstanding request is about (kept with its retransmission state).
#[derive(Debug)]
pub(super) enum Sent {
    /// IKE_SA_INIT or IKE_AUTH.
    Setup,
    Liveness,
    DeleteIke,
    DeleteChildren(Vec<u32>),
    Child(Box<ChildRequest>),
    IkeRekey(Box<IkeRekeyRequest>),
}

impl Sent {
    pub(super) fn describe(&self) -> OurRequest {
        match self {
            Sent::Setup => OurRequest::Setup,
            Sent::Liveness => OurRequest::Liveness,
            Sent::DeleteIke => OurRequest::DeleteIke,
            Sent::DeleteChildren(spis) => OurRequest::DeleteChildren(spis.clone()),
            Sent::Child(request) => OurRequest::Child(request.op()),
            Sent::IkeRekey(_) => OurRequest::IkeRekey,
        }
    }

    pub(super) fn exchange_type(&self) -> ExchangeType {
        match self {
            Sent::Setup => ExchangeType::IKE_AUTH,
            Sent::Liveness | Sent::DeleteIke | Sent::DeleteChildren(_) => {
                ExchangeType::INFORMATIONAL
            }
            Sent::Child(_) | Sent::IkeRekey(_) => ExchangeType::CREATE_CHILD_SA,
        }
    }
}

/// A Child SA we asked for, in IKE_AUTH or CREATE_CHILD_SA: what the answer must match.
#[derive(Debug, Clone)]
pub(super) struct ChildOffer {
    /// The index of its child configuration, and its name.
    pub index: usize,
    pub name: String,
    /// Our inbound SPI for it.
    pub inbound_spi: u32,
    /// Our ESP proposals, each with the DH group it carries for PFS (CREATE_CHILD_SA).
    pub offered: Vec<(EspProposal, Option<DhGroup>)>,
    pub mode: Mode,
    pub ts_local: Vec<TrafficSelector>,
    pub ts_remote: Vec<TrafficSelector>,
}

/// Our outstanding CREATE_CHILD_SA request for a Child SA.
#[derive(Debug)]
pub(super) struct ChildRequest {
    pub offer: ChildOffer,
    /// The inbound SPI of the Child SA it rekeys.
    pub rekey: Option<u32>,
    pub nonce: Vec<u8>,
    /// Our DH key for PFS.
    pub ke: Option<KeyExchange>,
    /// The lowest nonce of the peer's rekey of the same Child SA, which we answered while
    /// this request was outstanding (RFC 7296 §2.8.1).
    pub collision: Option<Vec<u8>>,
}

impl ChildRequest {
    pub(super) fn op(&self) -> ChildOp {
        self.rekey.map_or(ChildOp::New, ChildOp::Rekey)
    }
}

/// Our outstanding IKE SA rekey request.
#[derive(Debug)]
pub(super) struct IkeRekeyRequest {
    /// The id the new IKE SA gets.
    pub id: SaId,
    pub spi: [u8; 8],
    pub nonce: Vec<u8>,
    pub ke: KeyExchange,
    pub offered: Vec<IkeProposal>,
    /// The peer's rekey of the same IKE SA, answered while this one was outstanding.
    pub collision: Option<Collision>,
}

/// A colliding IKE SA rekey by the peer (RFC 7296 §2.8.2).
#[derive(Debug)]
pub(super) struct Collision {
    /// The new IKE SA it created, on standby (we are its responder).
    pub sa: SaId,
    /// The lower of its two nonces.
    pub lowest: Vec<u8>,
}

/// A refused request of the peer: the notify to answer with and, unless the refusal is
/// routine, why.
pub(super) type Refused = (NotifyPayload, Option<Error>);

/// The lower of two nonces (compared as byte strings): of two colliding rekeys, the one with
/// the lowest nonce loses (RFC 7296 §2.8.1, §2.8.2).
pub(super) fn lowest(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.min(b).to_vec()
}

/// Where a Child SA stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ChildState {
    Installed,
    /// Replaced by a rekey the peer started; the peer deletes it.
    Rekeyed,
    /// Our DELETE for it is queued or sent.
    Deleting,
}

/// A Child SA as the engine remembers it (no keys).
#[derive(Clone, Debug)]
pub(super) struct ChildEntry {
    pub inbound_spi: u32,
    pub outbound_spi: u32,
    pub cipher: EspCipher,
    pub mode: Mode,
    pub ts_local: Vec<TrafficSelector>,
    pub ts_remote: Vec<TrafficSelector>,
    /// The index of its child configuration (kept by rekeys).
    pub child: usize,
    pub installed_at: Duration,
    pub state: ChildState,
}

impl ChildEntry {
    pub(super) fn new(child: &ChildSa, index: usize, now: Duration) -> Self {
        Self {
            inbound_spi: child.inbound.spi,
            outbound_spi: child.outbound.spi,
            cipher: child.cipher,
            mode: child.mode,
            ts_local: child.ts_local.clone(),
            ts_remote: child.ts_remote.clone(),
            child: index,
            installed_at: now,
            state: ChildState::Installed,
        }
    }
}

#[derive(Debug)]
pub(super) struct IkeSa {
    pub id: SaId,
    pub role: Role,
    pub state: State,
    pub peer: SocketAddr,
    /// Our address (where the peer's datagrams arrive).
    pub local: SocketAddr,
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    /// RealMessage2 (the IKE_SA_INIT response as sent or received): the responder's AUTH
    /// covers it, and a responder sends it again when the IKE_SA_INIT request comes again.
    pub init_response: Vec<u8>,
    pub pending: Option<Pending>,
    /// The peer's next request ID, and our last response, for duplicates.
    pub next_request_id: u32,
    pub cached_response: Option<(u32, Vec<u8>)>,
    /// Message ID of our next request (RFC 7296 §2.2).
    pub next_message_id: u32,
    /// Requests waiting for `pending` to be answered (window size 1).
    pub queue: VecDeque<Request>,
    pub children: Vec<ChildEntry>,
    /// When a half-open responder SA, a failed or a closed one is forgotten.
    pub expires: Option<Duration>,
    pub last_received: Duration,
    /// Set once an IKE SA rekey replaced this one.
    pub rekeyed_to: Option<SaId>,
    /// Made by the peer's rekey of this old IKE SA while ours was outstanding (RFC 7296
    /// §2.8.2): it takes the Child SAs over only if it wins the collision.
    pub standby_for: Option<SaId>,
    /// Lost a rekey collision (§2.8.2): no Child SAs, deleted by its initiator.
    pub redundant: bool,
    /// What NAT detection found (RFC 7296 §2.23).
    pub nat: NatState,
    /// Its Child SAs carry ESP in UDP: a NAT was found, or the configuration forces it.
    pub encap: bool,
    /// The configuration forces ESP in UDP (initiator).
    pub force_encap: bool,
}

impl IkeSa {
    pub(super) fn new(
        id: SaId,
        role: Role,
        state: State,
        (local, peer): (SocketAddr, SocketAddr),
        now: Duration,
    ) -> Self {
        Self {
            id,
            role,
            state,
            peer,
            local,
            spi_i: [0; 8],
            spi_r: [0; 8],
            init_response: Vec::new(),
            pending: None,
            next_request_id: 0,
            cached_response: None,
            next_message_id: 0,
            queue: VecDeque::new(),
            children: Vec::new(),
            expires: None,
            last_received: now,
            rekeyed_to: None,
            standby_for: None,
            redundant: false,
            nat: NatState::default(),
            encap: false,
            force_encap: false,
        }
    }

    /// Who is behind a NAT, for transport-mode traffic selectors.
    pub(super) fn nat_hosts(&self) -> super::selectors::NatHosts {
        super::selectors::NatHosts {
            local: self.nat.local_behind_nat.then(|| self.local.ip()),
            peer: self.nat.peer_behind_nat.then(|| self.peer.ip()),
        }
    }

    /// Takes the state out, to move what it holds into the next one (`Closed` meanwhile).
    pub(super) fn take_state(&mut self) -> State {
        std::mem::replace(&mut self.state, State::Closed)
    }

    /// The established state, shared, if it carries exchanges.
    pub(super) fn established(&self) -> Option<Arc<Established>> {
        self.state.established().cloned()
    }

    /// Established, not closing, not replaced or standing by after a rekey: it takes new
    /// requests.
    pub(super) fn takes_requests(&self) -> bool {
        matches!(self.state, State::Established(_))
            && self.rekeyed_to.is_none()
            && self.standby_for.is_none()
            && !self.redundant
    }

    pub(super) fn config_name(&self) -> String {
        self.state
            .config()
            .map(|c| c.name.clone())
            .unwrap_or_default()
    }

    /// Encrypts one of our messages of this IKE SA with `keys`.
    pub(super) fn seal(
        &self,
        keys: &Keys,
        (exchange_type, message_id, response): (ExchangeType, u32, bool),
        payloads: &[Payload],
        rng: &mut dyn RandomSource,
    ) -> Result<Vec<u8>, CryptoError> {
        let message = Message {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            exchange_type,
            flags: HeaderFlags {
                initiator: self.role == Role::Initiator,
                response,
                ..HeaderFlags::default()
            },
            message_id,
            payloads: Vec::new(),
        };
        crate::crypto::seal(&keys.sk(self.role), &message, payloads, rng)
    }

    /// Decrypts a message from the peer; `None` when it is not authentic or malformed.
    pub(super) fn open(&self, keys: &Keys, message: &Message, raw: &[u8]) -> Option<Vec<Payload>> {
        self.open_checked(keys, message, raw).ok()
    }

    /// Decrypts a message from the peer. `Err(Some(_))` when it is authentic but its inner
    /// payloads do not parse (the peer may be told, RFC 7296 §2.21.2); `Err(None)` when it is
    /// not authentic, which is never answered.
    pub(super) fn open_checked(
        &self,
        keys: &Keys,
        message: &Message,
        raw: &[u8],
    ) -> Result<Vec<Payload>, Option<ParseError>> {
        let peer = match self.role {
            Role::Initiator => Role::Responder,
            Role::Responder => Role::Initiator,
        };
        crate::crypto::open(&keys.sk(peer), raw, message).map_err(|e| match e {
            CryptoError::InnerPayloads(error) => Some(error),
            _ => None,
        })
    }

    /// How the failure of our CREATE_CHILD_SA request for child configuration `index`
    /// (rekeying the Child SA with inbound SPI `rekey`, or creating a new one) is reported.
    pub(super) fn failed_child_request(
        &self,
        rekey: Option<u32>,
        index: Option<usize>,
    ) -> FailedRequest {
        let config = self.state.config();
        let name = index
            .and_then(|i| config.and_then(|c| c.children.get(i)))
            .map(|c| c.name.clone());
        match rekey {
            Some(spi) => FailedRequest::ChildRekey {
                spi,
                child: name.unwrap_or_default(),
            },
            None => name.map_or(FailedRequest::Other, FailedRequest::NewChild),
        }
    }

    pub(super) fn child_by_inbound(&mut self, spi: u32) -> Option<&mut ChildEntry> {
        self.children.iter_mut().find(|c| c.inbound_spi == spi)
    }

    /// Removes a Child SA and reports it.
    pub(super) fn remove_child(&mut self, inbound_spi: u32, out: &mut VecDeque<Output>) {
        if let Some(index) = self
            .children
            .iter()
            .position(|c| c.inbound_spi == inbound_spi)
        {
            let child = self.children.remove(index);
            out.push_back(Output::RemoveChild {
                sa: self.id,
                inbound_spi: child.inbound_spi,
                outbound_spi: child.outbound_spi,
            });
        }
    }

    /// When the liveness check is due, if one is configured and nothing is outstanding.
    pub(super) fn dpd_deadline(&self) -> Option<Duration> {
        let State::Established(up) = &self.state else {
            return None;
        };
        let delay = up.config.dpd_delay?;
        (self.takes_requests() && self.pending.is_none() && self.queue.is_empty())
            .then(|| self.last_received.saturating_add(delay))
    }
}
