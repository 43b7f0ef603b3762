// SPDX-License-Identifier: GPL-2.0
//! A deterministic, sans-IO IKEv1 engine: Main Mode with pre-shared keys (`main_mode.rs`),
//! Quick Mode (`quick_mode.rs`) and informational exchanges (`informational.rs`). It takes the
//! IKEv2 engine's [`Config`] and reports the same [`Output`]s, so the daemon installs, removes
//! and reports Child SAs of both versions in one way.
//!
//! This file holds the state: the ISAKMP SAs, their exchanges in flight, retransmission, and
//! the dispatcher that hands each datagram to its exchange.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::codes::{proto, ExchangeV1, NotifyV1, PayloadV1, DOI_IPSEC};
use super::keys::IsakmpKeys;
use super::message::{BodyV1, MessageV1};
use super::payload::{NotifyPayloadV1, PayloadBodyV1};
use crate::crypto::{KeyExchange, RandomSource};
use crate::engine::{
    ChildSa, Config, Error, IkeProposal, Output, RetransmitPolicy, Role, SaId, SpiAllocator,
    HALF_OPEN_TIMEOUT,
};
use crate::identity::Identity;

/// Nonce size we send.
pub(super) const NONCE_LEN: usize = 32;
/// SaIds of IKEv1 SAs have this bit set, so they never collide with the IKEv2 engine's.
const V1_ID_BIT: u64 = 1 << 63;

/// A connection the engine initiates or answers, with what IKEv1 needs beyond IKEv2.
#[derive(Clone, Debug)]
pub struct ConfigV1 {
    /// The connection (IDs, PSK, proposals, children).
    pub config: Config,
    /// The peer's address: Main Mode picks the PSK by it, before any ID is known.
    pub peer: IpAddr,
    /// The ISAKMP SA lifetime proposed.
    pub isakmp_life: Duration,
    /// The IPsec SA lifetime proposed in Quick Mode for a child that names none.
    pub ipsec_life: Duration,
    /// Phase 1 in Aggressive Mode (three messages, identities in the clear); off unless
    /// asked for, since it exposes the PSK to offline guessing.
    pub aggressive: bool,
}

/// Where an ISAKMP SA stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum P1State {
    /// Initiator: message 1 (SA) sent.
    Sent1,
    /// Initiator: message 3 (KE, Ni) sent.
    Sent3,
    /// Initiator: message 5 (ID, HASH_I) sent.
    Sent5,
    /// Responder: message 2 sent.
    Sent2,
    /// Responder: message 4 sent.
    Sent4,
    /// Aggressive Mode initiator: message 1 (SA, KE, Ni, IDii) sent.
    AmSent1,
    /// Aggressive Mode responder: message 2 (with HASH_R) sent.
    AmSent2,
    /// Authenticated: Quick Mode and informational exchanges run.
    Established,
    /// The peer deleted it (already reported).
    Closed,
}

/// A Quick Mode in flight.
pub(super) struct QuickExchange {
    pub message_id: u32,
    pub role: Role,
    /// The IV for this exchange's next message.
    pub iv: Vec<u8>,
    /// The child configuration.
    pub child: usize,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub spi_in: u32,
    pub dh: Option<KeyExchange>,
    /// Responder: the Child SA to install when HASH(3) arrives.
    pub pending: Option<ChildSa>,
    /// Initiator of a rekey: the inbound SPI of the Child SA the new one replaces.
    pub replaces: Option<u32>,
    /// What was sent last (for retransmission) and when to give up.
    pub sent: Sent,
}

/// The last datagram of an exchange we wait on, for retransmission.
#[derive(Clone, Debug)]
pub(super) struct Sent {
    pub bytes: Vec<u8>,
    pub transmissions: u32,
    pub deadline: Option<Duration>,
}

/// One Child SA, by its SPIs, to find it when the peer deletes it.
#[derive(Clone, Debug)]
pub(super) struct ChildRecord {
    /// ESP or AH (`proto::ESP`, `proto::AH`).
    pub protocol: u8,
    pub inbound_spi: u32,
    pub outbound_spi: u32,
    pub status: crate::engine::ChildStatus,
}

/// One ISAKMP SA and everything its exchanges need.
pub(super) struct IsakmpSa {
    pub id: SaId,
    pub role: Role,
    pub config: ConfigV1,
    /// The child a new initiator negotiates first.
    pub first_child: usize,
    pub cookie_i: [u8; 8],
    pub cookie_r: [u8; 8],
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub state: P1State,
    pub suite: Option<IkeProposal>,
    /// The initiator's SA payload body, which HASH_I and HASH_R cover.
    pub sa_i: Vec<u8>,
    pub dh: Option<KeyExchange>,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub g_xi: Vec<u8>,
    pub g_xr: Vec<u8>,
    pub keys: Option<IsakmpKeys>,
    /// Phase 1's IV chain; once established, its last block, from which each phase 2 and
    /// informational exchange derives its IV.
    pub iv: Vec<u8>,
    pub peer_id: Option<Identity>,
    pub established_at: Option<Duration>,
    pub sent: Option<Sent>,
    /// The last datagram the peer sent and our last one, to answer a retransmission of the
    /// former with the latter.
    pub last_received: Vec<u8>,
    pub last_sent: Vec<u8>,
    /// Aggressive Mode responder: the body of IDii, which HASH_I covers.
    pub peer_id_body: Vec<u8>,
    pub quick: Vec<QuickExchange>,
    pub children: Vec<ChildRecord>,
    /// When the peer last proved it is alive (an authenticated message), for DPD.
    pub last_heard: Duration,
    /// Our R-U-THERE in flight: its sequence number, and what was sent.
    pub dpd: Option<(u32, Sent)>,
    pub dpd_seq: u32,
    /// The ISAKMP SA this one re-establishes (we initiated it to replace that one).
    pub replaces: Option<SaId>,
    /// How the peer authenticated: "psk" or "pubkey SUBJECT".
    pub peer_auth: String,
    /// When phase 1 started: a responder's half-open SA is dropped after
    /// [`HALF_OPEN_TIMEOUT`].
    pub started: Duration,
    /// Both sides announced RFC 3947 NAT traversal.
    pub natt: bool,
    /// What NAT detection found.
    pub nat: crate::engine::NatState,
    /// The peer sent INITIAL-CONTACT, authenticated: it holds no other SA with us.
    pub initial_contact: bool,
    /// Where the datagram being handled came from and went to: an established SA moves
    /// there once the message proves to be the peer's ([`EngineV1::proven`]).
    pub arrived: (SocketAddr, SocketAddr),
    /// The message IDs of the peer's last informational and Quick Mode requests: IKEv1 has
    /// no other replay protection, and a replayed one must not act again (or move the SA).
    pub seen: VecDeque<u32>,
}

/// The IKEv1 engine: any number of ISAKMP SAs, as initiator or responder.
pub struct EngineV1 {
    pub(super) rng: Box<dyn RandomSource>,
    pub(super) configs: Vec<ConfigV1>,
    pub(super) sas: Vec<IsakmpSa>,
    pub(super) outputs: VecDeque<Output>,
    pub(super) policy: RetransmitPolicy,
    pub(super) spi_allocator: Option<Box<dyn SpiAllocator>>,
    /// Unix seconds, for certificate validity.
    pub(super) wall_clock: Option<u64>,
    /// Our NAT traversal port, where Main Mode moves when a NAT is found.
    pub(super) natt_port: u16,
    next_id: u64,
}

impl EngineV1 {
    /// An engine with this randomness and retransmission policy.
    pub fn new(rng: Box<dyn RandomSource>, policy: RetransmitPolicy) -> Self {
        Self {
            rng,
            configs: Vec::new(),
            sas: Vec::new(),
            outputs: VecDeque::new(),
            policy,
            spi_allocator: None,
            wall_clock: None,
            natt_port: 4500,
            next_id: 1,
        }
    }

    /// Inbound Child SA SPIs come from here (random without one).
    pub fn set_spi_allocator(&mut self, allocator: Box<dyn SpiAllocator>) {
        self.spi_allocator = Some(allocator);
    }

    /// The time (Unix seconds) certificates are checked against.
    pub fn set_wall_clock(&mut self, unix_seconds: u64) {
        self.wall_clock = Some(unix_seconds);
    }

    /// Our NAT traversal port (RFC 3947: 4500).
    pub fn set_natt_port(&mut self, port: u16) {
        self.natt_port = port;
    }

    /// A connection we answer as responder.
    pub fn add_config(&mut self, config: ConfigV1) {
        self.configs.push(config);
    }

    /// The next output to act on.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Whether an SaId is one of this engine's.
    pub fn owns(id: SaId) -> bool {
        id.0 & V1_ID_BIT != 0
    }

    pub(super) fn new_id(&mut self) -> SaId {
        self.next_id += 1;
        SaId(V1_ID_BIT | self.next_id)
    }

    pub(super) fn random(&mut self, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        self.rng.fill(&mut out);
        out
    }

    pub(super) fn cookie(&mut self) -> [u8; 8] {
        let mut c = [0u8; 8];
        while c == [0; 8] {
            self.rng.fill(&mut c);
        }
        c
    }

    pub(super) fn allocate_spi(&mut self, peer: IpAddr) -> Result<u32, String> {
        if let Some(a) = self.spi_allocator.as_mut() {
            return a.allocate(peer);
        }
        let mut b = [0u8; 4];
        while u32::from_be_bytes(b) < 256 {
            self.rng.fill(&mut b);
        }
        Ok(u32::from_be_bytes(b))
    }

    /// Sends `bytes` from the SA's local address and arms its retransmission.
    pub(super) fn transmit(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        bytes: Vec<u8>,
        wait: bool,
    ) -> Sent {
        sa.last_sent = bytes.clone();
        self.outputs.push_back(Output::Send {
            from: sa.local,
            to: sa.peer,
            bytes: bytes.clone(),
        });
        Sent {
            bytes,
            transmissions: 1,
            deadline: wait.then_some(now + self.policy.initial_timeout),
        }
    }

    /// Ends an SA that failed: its children go, and the caller is told why.
    pub(super) fn fail(&mut self, mut sa: IsakmpSa, why: String) {
        self.remove_children(&mut sa);
        self.outputs.push_back(Output::Failed {
            sa: sa.id,
            reason: Error::Ikev1(why),
        });
    }

    /// Removes all Child SAs of an SA.
    pub(super) fn remove_children(&mut self, sa: &mut IsakmpSa) {
        for c in std::mem::take(&mut sa.children) {
            self.child_removed(sa, &c);
        }
    }

    /// Tells the caller to remove one Child SA of `sa`.
    pub(super) fn child_removed(&mut self, sa: &IsakmpSa, c: &ChildRecord) {
        self.outputs.push_back(Output::RemoveChild {
            sa: sa.id,
            inbound_spi: c.inbound_spi,
            outbound_spi: c.outbound_spi,
        });
    }

    /// Handles a datagram whose header says ISAKMP version 1.
    pub fn handle_datagram(
        &mut self,
        now: Duration,
        from: SocketAddr,
        to: SocketAddr,
        bytes: &[u8],
    ) {
        let Ok(message) = MessageV1::parse(bytes) else {
            return;
        };
        let found = self.sas.iter().position(|sa| {
            // An initiator learns the responder cookie from message 2; a responder sees
            // message 1 again, without it, when its message 2 was lost.
            sa.cookie_i == message.cookie_i
                && (sa.cookie_r == message.cookie_r
                    || message.cookie_r == [0; 8]
                    || matches!(sa.state, P1State::Sent1 | P1State::AmSent1))
        });
        let Some(index) = found else {
            match message.exchange {
                _ if message.cookie_r != [0; 8] => {}
                ExchangeV1::MAIN => self.main_mode_request(now, (from, to), &message, bytes),
                ExchangeV1::AGGRESSIVE => self.am_request(now, (from, to), &message, bytes),
                _ => {}
            }
            return;
        };
        let mut sa = self.sas.swap_remove(index);
        if sa.last_received == bytes {
            // The peer did not get our answer: send it again.
            self.outputs.push_back(Output::Send {
                from: sa.local,
                to: sa.peer,
                bytes: sa.last_sent.clone(),
            });
            self.sas.push(sa);
            return;
        }
        sa.last_received = bytes.to_vec();
        // After NAT detection the peer goes on from its port 4500 mapping: follow it.
        if sa.natt && to.port() == self.natt_port && sa.state != P1State::Established {
            (sa.peer, sa.local) = (from, to);
        }
        sa.arrived = (from, to);
        let keep = match message.exchange {
            ExchangeV1::MAIN if sa.state != P1State::Established => {
                self.main_mode(now, &mut sa, &message)
            }
            ExchangeV1::AGGRESSIVE if sa.state != P1State::Established => {
                self.aggressive_mode(now, &mut sa, &message, bytes)
            }
            ExchangeV1::QUICK if sa.state == P1State::Established => {
                self.quick_mode(now, &mut sa, &message);
                Ok(())
            }
            ExchangeV1::INFORMATIONAL if sa.state == P1State::Established => {
                self.informational(now, &mut sa, &message)
            }
            ExchangeV1::INFORMATIONAL if matches!(sa.state, P1State::Sent1 | P1State::AmSent1) => {
                refused(&sa, &message)
            }
            _ => Ok(()),
        };
        match keep {
            Ok(()) if sa.state == P1State::Closed => {}
            Ok(()) => self.sas.push(sa),
            Err(why) => self.fail(sa, why),
        }
    }

    /// When [`EngineV1::tick`] wants to run next.
    pub fn next_timeout(&self) -> Option<Duration> {
        let sa_deadlines = self.sas.iter().filter_map(|s| s.sent.as_ref()?.deadline);
        let quick = self
            .sas
            .iter()
            .flat_map(|s| s.quick.iter().filter_map(|q| q.sent.deadline));
        let dpd = self.sas.iter().filter_map(IsakmpSa::dpd_due);
        let half_open = self.sas.iter().filter_map(IsakmpSa::half_open_until);
        sa_deadlines.chain(quick).chain(dpd).chain(half_open).min()
    }

    /// Retransmits what is due; gives up after the policy's transmissions: on a Quick Mode
    /// alone, or on the whole SA in phase 1.
    pub fn tick(&mut self, now: Duration) {
        let mut sas = std::mem::take(&mut self.sas);
        let mut failed = Vec::new();
        for mut sa in sas.drain(..) {
            let (local, peer) = (sa.local, sa.peer);
            let mut give_up = false;
            if let Some(sent) = sa.sent.as_mut() {
                give_up = self.retransmit(now, sent, local, peer);
            }
            let mut quick = std::mem::take(&mut sa.quick);
            quick.retain_mut(|q| {
                let lost = self.retransmit(now, &mut q.sent, local, peer);
                if lost {
                    self.quick_failed(&sa, q.child, q.replaces, format!("no answer from {peer}"));
                }
                !lost
            });
            sa.quick = quick;
            give_up |= self.dpd_tick(now, &mut sa);
            if sa.half_open_until().is_some_and(|t| t <= now) {
                // A probe, a spoofed source or a peer that gave up: nothing to report.
                self.debug(&sa, format!("half-open phase 1 with {} dropped", sa.peer));
                continue;
            }
            if give_up {
                failed.push(sa);
            } else {
                self.sas.push(sa);
            }
        }
        for sa in failed {
            let peer = sa.peer;
            let tries = self.policy.max_transmissions;
            let what = if sa.dpd.is_some() {
                "R-U-THERE (DPD): the peer is gone"
            } else {
                "transmissions"
            };
            self.fail(sa, format!("no answer from {peer} after {tries} {what}"));
        }
    }

    /// Sends R-U-THERE when the peer has been quiet for `dpd_delay` (RFC 3706), retransmits
    /// it; true when it went unanswered as often as the policy allows.
    fn dpd_tick(&mut self, now: Duration, sa: &mut IsakmpSa) -> bool {
        if let Some((seq, mut sent)) = sa.dpd.take() {
            let lost = self.retransmit(now, &mut sent, sa.local, sa.peer);
            sa.dpd = Some((seq, sent));
            return lost;
        }
        if sa.dpd_due().is_some_and(|t| t <= now) {
            sa.dpd_seq = sa.dpd_seq.wrapping_add(1);
            let seq = sa.dpd_seq;
            if let Some(bytes) = self.r_u_there(sa, seq) {
                sa.dpd = Some((seq, self.transmit_unanswered(now, sa, bytes, true)));
            }
        }
        false
    }

    /// [`EngineV1::transmit`] for a message that answers nothing the peer sent (DPD, an
    /// informational): the answer to the peer's last message stays for its retransmissions.
    pub(super) fn transmit_unanswered(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        bytes: Vec<u8>,
        wait: bool,
    ) -> Sent {
        let last = std::mem::take(&mut sa.last_sent);
        let sent = self.transmit(now, sa, bytes, wait);
        sa.last_sent = last;
        sent
    }

    /// Resends `sent` if due; true when it has been sent as often as the policy allows.
    fn retransmit(
        &mut self,
        now: Duration,
        sent: &mut Sent,
        from: SocketAddr,
        to: SocketAddr,
    ) -> bool {
        let Some(deadline) = sent.deadline else {
            return false;
        };
        if now < deadline {
            return false;
        }
        if sent.transmissions >= self.policy.max_transmissions {
            return true;
        }
        sent.transmissions += 1;
        let backoff = self.policy.initial_timeout * 2u32.saturating_pow(sent.transmissions - 1);
        sent.deadline = Some(now + backoff);
        self.outputs.push_back(Output::Send {
            from,
            to,
            bytes: sent.bytes.clone(),
        });
        false
    }

    /// Tells an initiator why its message 1 was refused, in the clear (no keys exist yet),
    /// for the cookie of that message.
    pub(super) fn refuse_with(
        &mut self,
        (from, to): (SocketAddr, SocketAddr),
        cookie_i: [u8; 8],
        why: NotifyV1,
    ) {
        let notify = PayloadBodyV1::Notify(NotifyPayloadV1 {
            doi: DOI_IPSEC,
            protocol: proto::ISAKMP,
            notify: why,
            spi: [cookie_i, [0; 8]].concat(),
            data: Vec::new(),
        });
        let message = MessageV1 {
            cookie_i,
            cookie_r: [0; 8],
            next_payload: PayloadV1::NOTIFY,
            exchange: ExchangeV1::INFORMATIONAL,
            flags: Default::default(),
            message_id: 0,
            body: BodyV1::Payloads(vec![notify]),
        };
        if let Ok(bytes) = message.to_bytes() {
            self.outputs.push_back(Output::Send {
                from: to,
                to: from,
                bytes,
            });
        }
    }

    /// The SA with this id, to act on.
    pub(super) fn take(&mut self, id: SaId) -> Option<IsakmpSa> {
        let index = self.sas.iter().position(|s| s.id == id)?;
        Some(self.sas.swap_remove(index))
    }
}

/// An initiator's message 1 refused by an unencrypted notify: the explanation.
fn refused(sa: &IsakmpSa, message: &MessageV1) -> Result<(), String> {
    let notify = message.payloads().iter().find_map(|p| match p {
        PayloadBodyV1::Notify(n) => Some(n.notify),
        _ => None,
    });
    let mode = if sa.config.aggressive {
        "Aggressive"
    } else {
        "Main"
    };
    match notify {
        Some(NotifyV1::NO_PROPOSAL_CHOSEN) => Err(format!(
            "the peer answered {mode} Mode message 1 with NO-PROPOSAL-CHOSEN: it accepts none of our IKE proposals ({})",
            super::suite::describe_offer(&sa.config.config.ike_proposals)
        )),
        Some(n) => Err(format!(
            "the peer answered {mode} Mode message 1 with {}{}",
            n.name(),
            if sa.config.aggressive {
                " (many peers refuse Aggressive Mode with a PSK: use Main Mode)"
            } else {
                ""
            }
        )),
        None => Ok(()),
    }
}

impl IsakmpSa {
    /// Until when a responder waits for the initiator to finish phase 1.
    pub(super) fn half_open_until(&self) -> Option<Duration> {
        let waiting = self.role == Role::Responder && self.state != P1State::Established;
        waiting.then_some(self.started + HALF_OPEN_TIMEOUT)
    }

    /// When DPD wants to run: the peer's silence reached `dpd_delay`, or our R-U-THERE is due
    /// again.
    pub(super) fn dpd_due(&self) -> Option<Duration> {
        if let Some((_, sent)) = &self.dpd {
            return sent.deadline;
        }
        let delay = self.config.config.dpd_delay?;
        (self.state == P1State::Established).then_some(self.last_heard + delay)
    }
}

/// How many of the peer's message IDs an SA remembers against replays.
const SEEN_IDS: usize = 64;

impl IsakmpSa {
    /// Whether the peer's request with `message_id` is new (then remembered), not a replay.
    pub(super) fn first_time(&mut self, message_id: u32) -> bool {
        if self.seen.contains(&message_id) {
            return false;
        }
        if self.seen.len() == SEEN_IDS {
            self.seen.pop_front();
        }
        self.seen.push_back(message_id);
        true
    }
}
