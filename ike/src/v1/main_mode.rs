// SPDX-License-Identifier: GPL-2.0
//! Main Mode with pre-shared keys (RFC 2409 §5.4), six messages:
//!
//! ```text
//! 1 I -> R  SA                 2 R -> I  SA (one transform)
//! 3 I -> R  KE, Ni             4 R -> I  KE, Nr
//! 5 I -> R  [IDii, HASH_I]     6 R -> I  [IDir, HASH_R]      ([..]: encrypted)
//! ```
//!
//! Message 5 carries INITIAL-CONTACT when we hold no other SA with the peer.
//!
//! The responder picks the connection, and so the PSK, by the initiator's address: the keys
//! that decrypt message 5 depend on the PSK before any identity is known.

use std::net::SocketAddr;
use std::time::Duration;

use super::auth::{cert_requests, check_proof, our_proof};
use super::codes::{proto, ExchangeV1, NotifyV1, PayloadV1};
use super::crypt::{open, seal, OpenError};
use super::engine::{ConfigV1, EngineV1, IsakmpSa, P1State, NONCE_LEN};
use super::ids::identity_payload;
use super::informational::{initial_contact, is_initial_contact};
use super::message::{BodyV1, MessageV1};
use super::nat_t;
use super::payload::{PayloadBodyV1, ProposalV1, SaV1};
use super::phase1::{
    choose_p1, derive, dpd_vendor_id, expected_peer, explain_p1, find, offer, phase1_hash, raw_body,
};
use super::suite::{auth_method, auth_of, p1_proposal, same_p1};
use crate::crypto::KeyExchange;
use crate::engine::{Output, Role, SaId};

impl EngineV1 {
    /// Starts Main Mode for `config`, then Quick Mode for its child `first_child`.
    pub fn initiate(
        &mut self,
        now: Duration,
        config: ConfigV1,
        first_child: usize,
        local: SocketAddr,
    ) -> SaId {
        let peer = SocketAddr::new(config.peer, 500);
        let id = self.new_id();
        let aggressive = config.aggressive;
        let mut sa = self.new_sa(id, Role::Initiator, config, (peer, local));
        sa.first_child = first_child;
        let payload = match offer(&mut sa, aggressive) {
            Ok(p) => p,
            Err(why) => {
                self.fail(sa, why);
                return id;
            }
        };
        if aggressive {
            match self.am_start(now, &mut sa, payload) {
                Ok(()) => self.sas.push(sa),
                Err(why) => self.fail(sa, why),
            }
            return id;
        }
        sa.state = P1State::Sent1;
        self.send_plain(now, sa, vec![payload, dpd_vendor_id(), nat_t::vendor_id()]);
        id
    }

    pub(super) fn new_sa(
        &mut self,
        id: SaId,
        role: Role,
        config: ConfigV1,
        (peer, local): (SocketAddr, SocketAddr),
    ) -> IsakmpSa {
        IsakmpSa {
            id,
            role,
            config,
            first_child: 0,
            cookie_i: [0; 8],
            cookie_r: [0; 8],
            peer,
            local,
            state: P1State::Sent1,
            suite: None,
            sa_i: Vec::new(),
            dh: None,
            ni: Vec::new(),
            nr: Vec::new(),
            g_xi: Vec::new(),
            g_xr: Vec::new(),
            keys: None,
            iv: Vec::new(),
            peer_id: None,
            established_at: None,
            sent: None,
            last_received: Vec::new(),
            last_sent: Vec::new(),
            peer_id_body: Vec::new(),
            quick: Vec::new(),
            children: Vec::new(),
            last_heard: Duration::ZERO,
            dpd: None,
            dpd_seq: 0,
            replaces: None,
            peer_auth: String::new(),
            natt: false,
            initial_contact: false,
            arrived: (peer, local),
            seen: Default::default(),
            nat: Default::default(),
            started: Duration::ZERO,
        }
        .with_cookie(role, self.cookie())
    }

    /// Sends a plaintext Main Mode message and keeps the SA.
    fn send_plain(&mut self, now: Duration, sa: IsakmpSa, payloads: Vec<PayloadBodyV1>) {
        self.send_phase1(now, sa, ExchangeV1::MAIN, payloads);
    }

    /// Sends a plaintext phase 1 message and keeps the SA.
    pub(super) fn send_phase1(
        &mut self,
        now: Duration,
        mut sa: IsakmpSa,
        exchange: ExchangeV1,
        payloads: Vec<PayloadBodyV1>,
    ) {
        let message = sa.header(exchange, 0, BodyV1::Payloads(payloads));
        match message.to_bytes() {
            Ok(bytes) => {
                let wait = sa.role == Role::Initiator;
                sa.sent = Some(self.transmit(now, &mut sa, bytes, wait));
                self.sas.push(sa);
            }
            Err(e) => self.fail(sa, format!("a phase 1 message does not encode: {e}")),
        }
    }

    /// Message 1 from a new initiator: answer with the transform we take.
    pub(super) fn main_mode_request(
        &mut self,
        now: Duration,
        (from, to): (SocketAddr, SocketAddr),
        message: &MessageV1,
        bytes: &[u8],
    ) {
        let Some(config) = self.configs.iter().find(|c| c.peer == from.ip()).cloned() else {
            let id = self.new_id();
            self.outputs.push_back(Output::Warning {
                sa: id,
                message: format!(
                    "IKEv1 Main Mode from {from}: no connection has this peer address"
                ),
            });
            return;
        };
        let Some(offer) = find!(message.payloads(), Sa) else {
            return;
        };
        let id = self.new_id();
        let mut sa = self.new_sa(id, Role::Responder, config, (from, to));
        sa.started = now;
        sa.cookie_i = message.cookie_i;
        sa.last_received = bytes.to_vec();
        let method = auth_method(&sa.config.config.auth);
        let Some((transform, suite)) = choose_p1(offer, &sa.config.config.ike_proposals, method)
        else {
            let why = explain_p1(offer, &sa.config.config.ike_proposals, method);
            self.refuse_with((from, to), message.cookie_i, NotifyV1::NO_PROPOSAL_CHOSEN);
            self.fail(sa, format!("Main Mode from {from}: {why}"));
            return;
        };
        sa.sa_i = raw_body(message, bytes, PayloadV1::SA).unwrap_or_default();
        sa.suite = Some(suite);
        sa.state = P1State::Sent2;
        sa.natt = nat_t::announced(message.payloads());
        let answer = PayloadBodyV1::Sa(SaV1 {
            proposals: vec![ProposalV1 {
                transforms: vec![transform],
                ..offer
                    .proposals
                    .first()
                    .cloned()
                    .unwrap_or_else(|| ProposalV1 {
                        number: 1,
                        protocol: proto::ISAKMP,
                        spi: Vec::new(),
                        transforms: Vec::new(),
                    })
            }],
            ..offer.clone()
        });
        let mut payloads = vec![answer, dpd_vendor_id()];
        if sa.natt {
            payloads.push(nat_t::vendor_id());
        }
        self.send_plain(now, sa, payloads);
    }

    /// A Main Mode message for an SA in phase 1: `Err` ends the SA with that explanation.
    pub(super) fn main_mode(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        message: &MessageV1,
    ) -> Result<(), String> {
        match (sa.state, &message.body) {
            (P1State::Sent1, BodyV1::Payloads(p)) => self.mm_got2(now, sa, message.cookie_r, p),
            (P1State::Sent2, BodyV1::Payloads(p)) => self.mm_exchange_ke(now, sa, p),
            (P1State::Sent3, BodyV1::Payloads(p)) => self.mm_exchange_ke(now, sa, p),
            (P1State::Sent4, BodyV1::Encrypted(c)) => self.mm_got_auth(now, sa, message, c),
            (P1State::Sent5, BodyV1::Encrypted(c)) => self.mm_got_auth(now, sa, message, c),
            _ => Ok(()),
        }
    }

    /// Message 2: the responder's choice; send KE and Ni.
    fn mm_got2(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        cookie_r: [u8; 8],
        payloads: &[PayloadBodyV1],
    ) -> Result<(), String> {
        let chosen = find!(payloads, Sa)
            .and_then(|s| s.proposals.first())
            .filter(|p| p.transforms.len() == 1)
            .and_then(|p| p.transforms.first())
            .filter(|t| auth_of(t) == Some(auth_method(&sa.config.config.auth)))
            .and_then(p1_proposal)
            .filter(|s| sa.config.config.ike_proposals.iter().any(|o| same_p1(o, s)));
        let suite = chosen.ok_or("the responder chose a transform we did not offer")?;
        sa.natt = nat_t::announced(payloads);
        sa.cookie_r = cookie_r;
        sa.suite = Some(suite);
        self.mm_send_ke(now, sa)
    }

    /// Our KE and nonce (message 3 or 4); the responder derives the keys at once.
    fn mm_send_ke(&mut self, now: Duration, sa: &mut IsakmpSa) -> Result<(), String> {
        let suite = sa.suite.ok_or("no suite")?;
        let dh = KeyExchange::generate(suite.dh, self.rng.as_mut()).map_err(|e| e.to_string())?;
        let nonce = self.random(NONCE_LEN);
        let mut payloads = vec![
            PayloadBodyV1::Ke(dh.public_value().to_vec()),
            PayloadBodyV1::Nonce(nonce.clone()),
        ];
        payloads.extend(cert_requests(&sa.config.config.auth));
        match sa.role {
            Role::Initiator => {
                (sa.g_xi, sa.ni, sa.state) = (dh.public_value().to_vec(), nonce, P1State::Sent3)
            }
            Role::Responder => {
                (sa.g_xr, sa.nr, sa.state) = (dh.public_value().to_vec(), nonce, P1State::Sent4)
            }
        }
        sa.dh = Some(dh);
        payloads.extend(nat_t::payloads(sa));
        if sa.role == Role::Responder {
            derive(sa)?;
        }
        let message = sa.header(ExchangeV1::MAIN, 0, BodyV1::Payloads(payloads));
        let bytes = message.to_bytes().map_err(|e| e.to_string())?;
        let wait = sa.role == Role::Initiator;
        sa.sent = Some(self.transmit(now, sa, bytes, wait));
        Ok(())
    }

    /// Message 3 (responder) or 4 (initiator): the peer's KE and nonce.
    fn mm_exchange_ke(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        payloads: &[PayloadBodyV1],
    ) -> Result<(), String> {
        let (Some(ke), Some(nonce)) = (find!(payloads, Ke), find!(payloads, Nonce)) else {
            return Err("a Main Mode message without KE and nonce".into());
        };
        if sa.natt {
            sa.nat = nat_t::detect(sa, payloads);
        }
        match sa.role {
            Role::Responder => {
                (sa.g_xi, sa.ni) = (ke.clone(), nonce.clone());
                self.mm_send_ke(now, sa)
            }
            Role::Initiator => {
                (sa.g_xr, sa.nr) = (ke.clone(), nonce.clone());
                derive(sa)?;
                self.mm_send_auth(now, sa)
            }
        }
    }

    /// Message 5 or 6: our ID and HASH, encrypted.
    fn mm_send_auth(&mut self, now: Duration, sa: &mut IsakmpSa) -> Result<(), String> {
        let id = identity_payload(&sa.config.config.local_id);
        let id_payload = PayloadBodyV1::Id(id);
        let mut id_body = Vec::new();
        id_payload.encode(&mut id_body).map_err(|e| e.to_string())?;
        let hash = phase1_hash(sa, sa.role, &id_body)?;
        let mut payloads = vec![id_payload];
        payloads.extend(our_proof(&sa.config.config.auth, hash, self.rng.as_mut())?);
        if sa.role == Role::Initiator && self.first_contact(sa) {
            payloads.push(initial_contact(sa));
        }
        let (keys_e, iv) = (sa.enc_key()?, sa.iv.clone());
        let (first, ct, next_iv) = seal(&keys_e, &iv, &payloads).map_err(|e| e.to_string())?;
        sa.iv = next_iv;
        let mut message = sa.header(ExchangeV1::MAIN, 0, BodyV1::Encrypted(ct));
        message.next_payload = first;
        message.flags.encrypted = true;
        let bytes = message.to_bytes().map_err(|e| e.to_string())?;
        let initiator = sa.role == Role::Initiator;
        if initiator && nat_t::encapsulated(sa) {
            // RFC 3947 §4: behind a NAT, Main Mode goes on at port 4500.
            sa.local.set_port(self.natt_port);
            sa.peer.set_port(4500);
        }
        sa.sent = Some(self.transmit(now, sa, bytes, initiator));
        sa.state = if initiator {
            P1State::Sent5
        } else {
            P1State::Established
        };
        if !initiator {
            self.established(now, sa);
        }
        Ok(())
    }

    /// Message 5 (responder) or 6 (initiator): decrypt, check the peer's ID and HASH.
    fn mm_got_auth(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        message: &MessageV1,
        ciphertext: &[u8],
    ) -> Result<(), String> {
        let number = if sa.role == Role::Responder { 5 } else { 6 };
        let opened = match open(&sa.enc_key()?, &sa.iv, message.next_payload, ciphertext) {
            Ok(o) => o,
            Err(OpenError::Garbage(_)) => return Err(format!(
                "Main Mode message {number} from {} does not decrypt to payloads: our keys differ, most likely the pre-shared key",
                sa.peer
            )),
            Err(OpenError::Cipher) => return Err(format!("Main Mode message {number} is not whole cipher blocks")),
        };
        let id_at = opened
            .payloads
            .iter()
            .position(|p| matches!(p, PayloadBodyV1::Id(_)))
            .ok_or_else(|| format!("Main Mode message {number} lacks its ID payload"))?;
        let id_body = opened
            .spans
            .get(id_at)
            .and_then(|r| opened.plaintext.get(r.start + 4..r.end))
            .unwrap_or_default();
        let peer_role = if sa.role == Role::Initiator {
            Role::Responder
        } else {
            Role::Initiator
        };
        let want = phase1_hash(sa, peer_role, id_body)?;
        let peer = expected_peer(sa, find!(opened.payloads, Id))?;
        sa.peer_auth = check_proof(sa, &opened.payloads, &want, (&peer, self.wall_clock))
            .map_err(|e| format!("Main Mode message {number}: {e}"))?;
        sa.peer_id = Some(peer);
        sa.iv = opened.next_iv;
        sa.initial_contact = opened.payloads.iter().any(is_initial_contact);
        if sa.role == Role::Responder {
            return self.mm_send_auth(now, sa);
        }
        self.initiator_done(now, sa)
    }

    /// The initiator's phase 1 is done: Quick Mode for its first child, unless it
    /// re-established an ISAKMP SA (which took the old one's Child SAs over).
    pub(super) fn initiator_done(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
    ) -> Result<(), String> {
        sa.sent = None;
        sa.state = P1State::Established;
        self.established(now, sa);
        if sa.replaces.is_some() {
            return Ok(());
        }
        let child = sa.first_child;
        self.start_quick_mode(now, sa, child)
    }

    /// An ISAKMP SA is up. One that replaces another of the same connection (ours, or the
    /// peer's re-establishment as responder) takes its Child SAs over; the old one is deleted
    /// (by us, or by the peer) without them. As responder, only an idle SA with Child SAs
    /// counts as replaced: a peer may also run several ISAKMP SAs side by side, and a Quick
    /// Mode still running under one of them must find it.
    pub(super) fn established(&mut self, now: Duration, sa: &mut IsakmpSa) {
        sa.established_at = Some(now);
        sa.last_heard = now;
        if sa.initial_contact {
            self.forget_peer_state(sa);
        }
        let name = sa.config.config.name.clone();
        let old = sa.replaces.or_else(|| {
            let same = |o: &&IsakmpSa| {
                o.config.config.name == name
                    && o.peer == sa.peer
                    && o.state == P1State::Established
                    && !o.children.is_empty()
                    && o.quick.is_empty()
            };
            (sa.role == Role::Responder)
                .then(|| self.sas.iter().find(same).map(|o| o.id))
                .flatten()
        });
        if let Some(mut old) = old.and_then(|id| self.take(id)) {
            sa.children.append(&mut old.children);
            self.outputs.push_back(Output::IkeRekeyed {
                old: old.id,
                new: sa.id,
            });
            if sa.replaces.is_some() {
                self.delete_isakmp(now, &mut old);
            }
            return;
        }
        if let Some(peer_id) = sa.peer_id.clone() {
            self.outputs.push_back(Output::Established {
                sa: sa.id,
                peer_id,
                config: name,
            });
        }
    }

    /// Re-establishes an ISAKMP SA before it expires (IKEv1 has no rekey exchange): a new
    /// phase 1 with the same connection, which takes the Child SAs over once it is up.
    pub fn rekey_ike(&mut self, now: Duration, id: SaId) -> Option<SaId> {
        let old = self
            .sas
            .iter()
            .find(|s| s.id == id && s.state == P1State::Established)?;
        let (config, local, child) = (old.config.clone(), old.local, old.first_child);
        let new = self.initiate(now, config, child, local);
        if let Some(sa) = self.sas.iter_mut().find(|s| s.id == new) {
            sa.replaces = Some(id);
        }
        Some(new)
    }
}
