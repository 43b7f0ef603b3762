// SPDX-License-Identifier: GPL-2.0
//! A deterministic, sans-IO IKEv2 protocol engine (RFC 7296): IKE_SA_INIT and IKE_AUTH with
//! pre-shared-key or certificate authentication and the first Child SA (ESP), then
//! INFORMATIONAL and CREATE_CHILD_SA exchanges over the established IKE SA.
//!
//! The caller feeds it datagrams ([`Engine::handle_datagram`]), the passage of time
//! ([`Engine::tick`], when [`Engine::next_timeout`] says) and commands ([`Engine::initiate`],
//! [`Engine::delete`], [`Engine::delete_child`], [`Engine::create_child`],
//! [`Engine::rekey_child`], [`Engine::rekey_ike`]), and drains [`Output`]s with
//! [`Engine::poll_output`]; [`Engine::status`] describes the IKE SAs. Failures are
//! [`Error`]s (and closes [`CloseReason`]s) whose `Display` is a one-line explanation. The
//! engine opens no sockets, reads no clock and starts no threads: time is a [`Duration`]
//! since any epoch the caller likes, randomness comes from a [`RandomSource`], inbound
//! Child SA SPIs from a [`SpiAllocator`] (random without one).
//!
//! The files import each other one way, from the bottom: the public types (`types.rs`,
//! `error.rs`, `child_error.rs`, `auth_error.rs`), proposals and traffic selectors
//! (`proposal.rs`, `selectors.rs`), payload look-ups (`payloads.rs`), NAT detection and
//! authentication (`nat.rs`, `auth.rs`); one IKE SA and what its exchanges share
//! (`ike_sa.rs`); the engine's state (`base.rs`); the Child SA negotiation that every
//! exchange carrying one uses (`child.rs`); our requests, their queue and retransmission
//! (`requests.rs`); one file per exchange (`ike_sa_init.rs` with `cookie.rs`, `ike_auth.rs`,
//! `create_child.rs`, `ike_rekey.rs`, `informational.rs`), authenticated requests that do not
//! parse (`malformed.rs`); `status.rs`; and here the public
//! commands and the dispatcher that hands each message to its exchange.

// The errors carry what their explanations name; they travel on failure paths only, where
// their size costs nothing worth boxing them for.
#![allow(clippy::result_large_err)]

mod auth;
mod auth_error;
mod base;
mod child;
mod child_error;
mod cookie;
mod create_child;
mod error;
mod esp_suite;
mod ike_auth;
mod ike_rekey;
mod ike_sa;
mod ike_sa_init;
mod informational;
mod malformed;
mod nat;
mod payloads;
mod proposal;
mod requests;
mod selectors;
mod status;
mod types;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::codes::{ExchangeType, NotifyType, ProtocolId};
use crate::crypto::RandomSource;
use crate::header::IkeHeader;
use crate::message::Message;
use crate::payload::{DeletePayload, NotifyPayload, Payload};

pub use auth_error::AuthError;
pub use base::Engine;
pub use child_error::{ChildContext, ChildError, ChildExchange, ChildOp, RefusalDetail, SpiError};
pub use error::{Attempt, CloseReason, Error, IkeRekeyError, InitError, LocalError, OurRequest};
pub use esp_suite::{EspCipher, EspInteg};
pub use nat::{nat_detection_hash, NatState};
pub(crate) use proposal::describe_suite;
pub use proposal::{EspProposal, IkeProposal};
pub use selectors::{describe_ts, AnsweredTs, TooManySelectors, MAX_SELECTOR_PAIRS};
pub use status::{ChildStatus, IkeSaStatus};
pub use types::{
    Auth, ChildConfig, ChildDirection, ChildSa, Config, FailedRequest, LifeLimits, Mode, Output,
    RetransmitPolicy, Role, SaId, SpiAllocator, DEFAULT_COOKIE_THRESHOLD, HALF_OPEN_TIMEOUT,
};

use ike_sa::{Established, IkeSa, Request, Sent, State};
use ike_sa_init::InitOutcome;

impl Engine {
    /// An engine with the default retransmission policy.
    pub fn new(rng: Box<dyn RandomSource>) -> Self {
        Self::with_policy(rng, RetransmitPolicy::default())
    }

    /// An engine with a given retransmission policy.
    pub fn with_policy(rng: Box<dyn RandomSource>, policy: RetransmitPolicy) -> Self {
        Self::build(rng, policy)
    }

    /// Lets `allocator` choose every inbound Child SA SPI (instead of random ones).
    pub fn set_spi_allocator(&mut self, allocator: Box<dyn SpiAllocator>) {
        self.spi_allocator = Some(allocator);
    }

    /// Sets the current time of day (seconds since the Unix epoch), against which certificate
    /// validity is checked; call it before feeding input. Without it, public-key
    /// authentication fails ("no wall clock").
    pub fn set_wall_clock(&mut self, unix_seconds: u64) {
        self.wall_clock = Some(unix_seconds);
    }

    /// Our NAT traversal port (default 4500): IKE SAs that find a NAT (or force ESP in UDP)
    /// move there for IKE_AUTH on, and an IKE_AUTH request arriving there moves a responder's.
    pub fn set_natt_port(&mut self, port: u16) {
        self.natt_port = port;
    }

    /// The data path saw authenticated ESP in UDP of IKE SA `sa`'s Child SAs arrive from
    /// `peer`: the peer's NAT mapping moved to another port. IKE follows it (a new address is
    /// left to the next authenticated IKE message). Unknown SAs, and SAs without ESP in UDP,
    /// are ignored.
    pub fn follow_peer_port(&mut self, sa: SaId, peer: SocketAddr) {
        if let Some(ike) = self.sas.iter_mut().find(|s| s.id == sa) {
            if ike.encap && ike.peer.ip() == peer.ip() {
                ike.peer = peer;
            }
        }
    }

    /// As responder, forces ESP in UDP for initiators at these addresses (strongSwan's
    /// `encap = yes`): our NAT_DETECTION_SOURCE_IP cannot match, so the initiator sees us
    /// behind a NAT and both move to the NAT traversal port.
    pub fn set_encap_peers(&mut self, peers: Vec<IpAddr>) {
        self.encap_peers = peers;
    }

    /// Demands a COOKIE (RFC 7296 §2.6) from initiators while at least `threshold` responder
    /// IKE SAs are half-open; 0 demands it always.
    pub fn set_cookie_threshold(&mut self, threshold: usize) {
        self.cookie_threshold = threshold;
    }

    /// Adds a connection this engine answers for as responder.
    pub fn add_config(&mut self, config: Config) {
        self.configs.push(config);
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Starts an IKE SA as initiator towards `peer`, from our address `local` (the address
    /// and port the peer's answers arrive on; NAT detection hashes it, RFC 7296 §2.23).
    /// IKE_AUTH negotiates the configuration's first child; see [`Engine::initiate_child`].
    pub fn initiate(
        &mut self,
        now: Duration,
        config: Config,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> SaId {
        self.initiate_child(now, config, 0, peer, local)
    }

    /// Like [`Engine::initiate`], with IKE_AUTH negotiating child `first_child` (an index
    /// into [`Config::children`]); the others follow with [`Engine::create_child`].
    pub fn initiate_child(
        &mut self,
        now: Duration,
        config: Config,
        first_child: usize,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> SaId {
        self.start_initiator(now, config, first_child, (peer, local))
    }

    /// The earliest time [`Engine::tick`] has something to do: a retransmission, a liveness
    /// check or forgetting an expired IKE SA.
    pub fn next_timeout(&self) -> Option<Duration> {
        self.earliest_timer()
    }

    /// Advances time: retransmits requests whose timeout passed and gives up after the last
    /// one, sends due liveness checks, forgets half-open and closed IKE SAs that expired.
    pub fn tick(&mut self, now: Duration) {
        self.run_timers(now);
    }

    /// The IKE SAs (closed ones excluded), in creation order.
    pub fn status(&self) -> Vec<IkeSaStatus> {
        status::status(&self.sas)
    }

    /// Deletes an IKE SA and with it all its Child SAs (INFORMATIONAL with a Delete payload).
    /// [`Output::Closed`] follows when the peer answers or the retransmissions give up. An
    /// IKE SA still being set up (as initiator) is abandoned at once with [`Output::Failed`];
    /// unknown or already closing IKE SAs are ignored.
    pub fn delete(&mut self, now: Duration, sa: SaId) {
        let Some(index) = self.sas.iter().position(|s| s.id == sa) else {
            return;
        };
        let mut ike = self.sas.swap_remove(index);
        match ike.state {
            State::Established(_) => self.request(now, &mut ike, Request::DeleteIke),
            State::InitSent(_) | State::AuthSent(_) => self.fail_sa(&mut ike, Error::Deleted),
            _ => {}
        }
        self.put_back(now, ike);
    }

    /// Deletes one Child SA (INFORMATIONAL with a Delete payload for its inbound SPI);
    /// [`Output::RemoveChild`] follows when the peer answers. Unknown SAs are ignored.
    pub fn delete_child(&mut self, now: Duration, sa: SaId, inbound_spi: u32) {
        self.with_established(now, sa, |engine, ike| {
            let known = ike
                .children
                .iter()
                .any(|c| c.inbound_spi == inbound_spi && c.state != ike_sa::ChildState::Deleting);
            if known {
                engine.delete_children(now, ike, vec![inbound_spi]);
            }
        });
    }

    /// Negotiates one more Child SA over an established IKE SA (CREATE_CHILD_SA), with the
    /// proposals, traffic selectors and mode of child configuration `child` (an index into
    /// [`Config::children`]; an unknown one is reported with [`Output::RequestFailed`]).
    /// False, with nothing asked, when `sa` is not an established IKE SA that carries new
    /// requests (it is gone, closing, or replaced by a rekey).
    pub fn create_child(&mut self, now: Duration, sa: SaId, child: usize) -> bool {
        let mut queued = false;
        self.with_established(now, sa, |engine, ike| {
            engine.request(now, ike, Request::NewChild(child));
            queued = true;
        });
        queued
    }

    /// Rekeys the Child SA with inbound SPI `inbound_spi` (CREATE_CHILD_SA with REKEY_SA,
    /// PFS as configured). The new Child SA is reported with [`Output::InstallChild`], then
    /// the old one is deleted (INFORMATIONAL) and reported with [`Output::RemoveChild`].
    /// True when a rekey of that Child SA is now queued or under way; false (and nothing
    /// asked) for unknown SAs and Child SAs being deleted or already replaced.
    pub fn rekey_child(&mut self, now: Duration, sa: SaId, inbound_spi: u32) -> bool {
        let mut asked = false;
        self.with_established(now, sa, |engine, ike| {
            let installed = ike
                .children
                .iter()
                .any(|c| c.inbound_spi == inbound_spi && c.state == ike_sa::ChildState::Installed);
            let busy = ike.pending.as_ref().is_some_and(
                |p| matches!(&p.kind, Sent::Child(ex) if ex.rekey == Some(inbound_spi)),
            );
            if installed && !busy {
                engine.request(now, ike, Request::RekeyChild(inbound_spi));
            }
            asked = installed || busy;
        });
        asked
    }

    /// Rekeys an established IKE SA (CREATE_CHILD_SA, RFC 7296 §1.3.2). Returns the id the new
    /// IKE SA will have; when it is set up, [`Output::IkeRekeyed`] reports it, the Child SAs
    /// move to it and the old IKE SA is deleted without [`Output::Closed`]. If the peer
    /// rekeys the same IKE SA at the same time (§2.8.2), the survivor may be the IKE SA its
    /// exchange created instead: [`Output::IkeRekeyed`] names it, and the other new IKE SA
    /// is never reported. A refusal by the peer yields [`Output::RequestFailed`]. `None` for
    /// unknown or unusable IKE SAs.
    pub fn rekey_ike(&mut self, now: Duration, sa: SaId) -> Option<SaId> {
        let busy = self.sas.iter().any(|s| {
            s.id == sa
                && (s.queue.iter().any(|r| matches!(r, Request::RekeyIke(_)))
                    || s.pending
                        .as_ref()
                        .is_some_and(|p| matches!(p.kind, Sent::IkeRekey(_))))
        });
        if busy || !self.sas.iter().any(|s| s.id == sa) {
            return None;
        }
        let mut new = None;
        self.with_established(now, sa, |engine, ike| {
            let id = engine.new_id();
            new = Some(id);
            engine.request(now, ike, Request::RekeyIke(id));
        });
        new
    }

    /// Processes a datagram received from `from` on our address and port `to`. Malformed,
    /// unauthenticated or unexpected messages are dropped (RFC 7296 §2.21).
    pub fn handle_datagram(
        &mut self,
        now: Duration,
        from: SocketAddr,
        to: SocketAddr,
        bytes: &[u8],
    ) {
        let Ok(header) = IkeHeader::parse(bytes) else {
            return;
        };
        let Ok(message) = Message::parse(bytes) else {
            return;
        };
        if header.exchange_type == ExchangeType::IKE_SA_INIT {
            self.handle_init(now, (from, to), &header, &message, bytes);
            return;
        }
        // The I flag says who sent it: the original initiator talks to a responder SA.
        let Some(index) = self.sas.iter().position(|sa| {
            sa.spi_i == header.spi_i
                && sa.spi_r == header.spi_r
                && header.flags.initiator == (sa.role == Role::Responder)
        }) else {
            return;
        };
        let mut sa = self.sas.swap_remove(index);
        if header.flags.response {
            self.handle_response(now, &mut sa, &message, bytes);
        } else {
            self.handle_request(now, &mut sa, &message, (bytes, from, to));
        }
        self.put_back(now, sa);
    }

    /// An IKE_SA_INIT message: a response to ours, or a request (new, or a retransmission).
    fn handle_init(
        &mut self,
        now: Duration,
        (from, to): (SocketAddr, SocketAddr),
        header: &IkeHeader,
        message: &Message,
        raw: &[u8],
    ) {
        if header.flags.response {
            let Some(index) = self.sas.iter().position(|sa| {
                sa.role == Role::Initiator
                    && matches!(sa.state, State::InitSent(_))
                    && sa.spi_i == header.spi_i
            }) else {
                return;
            };
            let mut sa = self.sas.swap_remove(index);
            self.init_answered(now, &mut sa, message, raw, (from, to));
            self.put_back(now, sa);
        } else if header.flags.initiator && header.spi_r == [0; 8] {
            if let Some(sa) = self.sas.iter().find(|sa| {
                sa.role == Role::Responder && sa.spi_i == header.spi_i && sa.peer == from
            }) {
                if header.message_id == 0 {
                    let bytes = sa.init_response.clone();
                    self.outputs.push_back(Output::Send {
                        from: to,
                        to: from,
                        bytes,
                    });
                }
                return;
            }
            self.responder_init(now, (from, to), message, raw);
        }
    }

    /// The answer to our IKE_SA_INIT request; once keyed, IKE_AUTH is sent.
    fn init_answered(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        response: &Message,
        raw: &[u8],
        (from, to): (SocketAddr, SocketAddr),
    ) {
        let ours = sa.pending.as_ref().map(|p| p.message_id);
        if ours != Some(response.message_id) {
            return; // nothing outstanding, or not its answer: a late duplicate
        }
        let init = match sa.take_state() {
            State::InitSent(init) => init,
            other => {
                sa.state = other;
                return;
            }
        };
        let auth = match self.init_response(now, sa, init, response, raw) {
            Ok(InitOutcome::Waiting(init)) => {
                sa.state = State::InitSent(init);
                return;
            }
            Ok(InitOutcome::Keyed(keyed)) => {
                // The response was accepted: check the peer's NAT-D notifies, and behind a
                // NAT (or forced to) move to the NAT traversal ports for IKE_AUTH on.
                self.record_nat(sa, response, from, to);
                if sa.nat.detected() || sa.force_encap {
                    self.float(sa);
                }
                self.send_auth_request(now, sa, *keyed)
            }
            Err(reason) => Err(reason),
        };
        match auth {
            Ok(auth) => sa.state = State::AuthSent(auth),
            Err(reason) => self.fail_sa(sa, reason),
        }
    }

    /// A request from the peer of an existing IKE SA.
    fn handle_request(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        request: &Message,
        (raw, from, to): (&[u8], SocketAddr, SocketAddr),
    ) {
        if let Some((id, bytes)) = &sa.cached_response {
            if *id == request.message_id {
                self.send_to_peer(sa, bytes.clone());
                return;
            }
        }
        let exchange = request.exchange_type;
        if matches!(sa.state, State::HalfOpen(_)) {
            if request.message_id == sa.next_request_id && exchange == ExchangeType::IKE_AUTH {
                // The initiator moved to the NAT traversal ports (RFC 7296 §2.23).
                if to.port() == self.natt_port && sa.local.port() != self.natt_port {
                    (sa.peer, sa.local) = (from, to);
                    sa.encap |= sa.nat.detected() || sa.force_encap;
                }
                match sa.take_state() {
                    State::HalfOpen(half) => self.answer_auth(now, sa, half, request, raw),
                    other => sa.state = other,
                }
            }
            return;
        }
        let Some(up) = sa.established() else {
            return;
        };
        if request.message_id != sa.next_request_id
            || !(exchange == ExchangeType::INFORMATIONAL
                || exchange == ExchangeType::CREATE_CHILD_SA)
        {
            return;
        }
        let inner = match sa.open_checked(&up.keys, request, raw) {
            Ok(inner) => inner,
            Err(None) => return, // not authentic: drop silently
            Err(Some(error)) => return self.answer_malformed(now, sa, &up.keys, request, error),
        };
        sa.next_request_id = sa.next_request_id.wrapping_add(1);
        sa.last_received = now;
        self.follow_peer(sa, (from, to));
        if sa.standby_for.is_some() && !deletes_ike(exchange, &inner) {
            // The peer uses this new IKE SA of a rekey collision: it survives (§2.8.2).
            self.adopt_standby(now, sa);
        }
        let (reply, close) = if exchange == ExchangeType::INFORMATIONAL {
            self.informational_request(sa, &inner)
        } else {
            (self.create_child_request(now, sa, &up, &inner), None)
        };
        let header = (exchange, request.message_id, true);
        match sa.seal(&up.keys, header, &reply, self.rng.as_mut()) {
            Ok(bytes) => {
                self.respond(sa, request.message_id, bytes);
            }
            Err(e) => {
                let error = LocalError::Encrypt {
                    exchange,
                    error: e.to_string(),
                };
                self.outputs.push_back(Output::RequestFailed {
                    sa: sa.id,
                    reason: Error::Local(error),
                    request: FailedRequest::Peer,
                });
            }
        }
        match close {
            None => self.send_next(now, sa),
            Some(reason) => {
                self.collision_before_delete(now, sa);
                self.close_sa(now, sa, reason, true);
            }
        }
    }

    /// Answers a CREATE_CHILD_SA request: an IKE SA rekey if it proposes IKE, else a new or
    /// rekeyed Child SA. A refusal the peer should know about is also reported.
    fn create_child_request(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        up: &Established,
        inner: &[Payload],
    ) -> Vec<Payload> {
        let proposals = payloads::proposals(inner);
        let outcome = if !matches!(sa.state, State::Established(_))
            || sa.rekeyed_to.is_some()
            || sa.redundant
        {
            let busy = NotifyPayload::new(NotifyType::TEMPORARY_FAILURE, Vec::new());
            Err((busy, None))
        } else if proposals.iter().any(|p| p.protocol == ProtocolId::IKE) {
            self.answer_ike_rekey(now, sa, up, inner, &proposals)
        } else {
            self.answer_child_request(now, sa, up, inner, &proposals)
        };
        match outcome {
            Ok(reply) => reply,
            Err((refusal, reason)) => {
                if let Some(reason) = reason {
                    self.outputs.push_back(Output::RequestFailed {
                        sa: sa.id,
                        reason,
                        request: FailedRequest::Peer,
                    });
                }
                vec![Payload::Notify(refusal)]
            }
        }
    }

    /// A response from the peer of an existing IKE SA.
    fn handle_response(&mut self, now: Duration, sa: &mut IkeSa, response: &Message, raw: &[u8]) {
        let Some(pending) = sa.pending.as_ref() else {
            return; // nothing outstanding: a late duplicate
        };
        if pending.message_id != response.message_id
            || pending.kind.exchange_type() != response.exchange_type
        {
            return;
        }
        if matches!(pending.kind, Sent::Setup) {
            match sa.take_state() {
                State::AuthSent(ours) => self.auth_response(now, sa, ours, response, raw),
                other => sa.state = other,
            }
            return;
        }
        let Some(up) = sa.established() else {
            return;
        };
        let Some(inner) = sa.open(&up.keys, response, raw) else {
            return; // not authentic: drop, keep retransmitting
        };
        let Some(pending) = sa.pending.take() else {
            return;
        };
        sa.last_received = now;
        match pending.kind {
            Sent::Setup | Sent::Liveness => {}
            Sent::DeleteIke => {
                let reason = CloseReason::DeletedByUs { peer: sa.peer };
                self.close_sa(now, sa, reason, false);
                return;
            }
            Sent::DeleteChildren(spis) => {
                for spi in spis {
                    sa.remove_child(spi, &mut self.outputs);
                }
            }
            Sent::Child(ours) => self.child_response(now, sa, &up, *ours, &inner),
            Sent::IkeRekey(ours) => self.ike_rekey_response(now, sa, &up, *ours, &inner),
        }
        self.send_next(now, sa);
    }
}

/// Whether the peer's request deletes the IKE SA: a Delete payload for it, or
/// N(AUTHENTICATION_FAILED) in INFORMATIONAL.
fn deletes_ike(exchange: ExchangeType, inner: &[Payload]) -> bool {
    inner.iter().any(|p| match p {
        Payload::Delete(DeletePayload::IkeSa) => true,
        Payload::Notify(n) => {
            exchange == ExchangeType::INFORMATIONAL
                && n.notify_type == NotifyType::AUTHENTICATION_FAILED
        }
        _ => false,
    })
}
