// SPDX-License-Identifier: GPL-2.0
//! Aggressive Mode (RFC 2409 §5.4), three messages:
//!
//! ```text
//! 1 I -> R  SA, KE, Ni, IDii [, CR]
//! 2 R -> I  SA (one transform), KE, Nr, IDir, HASH_R | CERT.., SIG_R [, CR]
//! 3 I -> R  HASH_I | CERT.., SIG_I    (in the clear; accepted encrypted too)
//! ```
//!
//! With a pre-shared key HASH_R travels before any encryption, so whoever captures message 2
//! can test PSK guesses offline: a connection has to ask for this mode (`aggressive`), and the
//! responder refuses it otherwise. With certificates the signatures prove the keys.

use std::net::SocketAddr;
use std::time::Duration;

use super::auth::{cert_requests, check_proof, our_proof};
use super::codes::{ExchangeV1, NotifyV1, PayloadV1};
use super::crypt::open;
use super::engine::{EngineV1, IsakmpSa, P1State, NONCE_LEN};
use super::ids::identity_payload;
use super::informational::is_initial_contact;
use super::message::{BodyV1, MessageV1};
use super::payload::{PayloadBodyV1, ProposalV1, SaV1};
use super::phase1::{
    choose_p1, derive, dpd_vendor_id, expected_peer, explain_p1, find, phase1_hash, raw_body,
};
use super::suite::{auth_method, auth_of, p1_proposal, same_p1};
use crate::crypto::{ct_eq, KeyExchange};
use crate::engine::{Auth, Role};

impl EngineV1 {
    /// Message 1: our SA, KE, nonce and identity.
    pub(super) fn am_start(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        offer: PayloadBodyV1,
    ) -> Result<(), String> {
        let group = sa
            .config
            .config
            .ike_proposals
            .first()
            .ok_or("no proposal")?
            .dh;
        let dh = KeyExchange::generate(group, self.rng.as_mut()).map_err(|e| e.to_string())?;
        sa.ni = self.random(NONCE_LEN);
        sa.g_xi = dh.public_value().to_vec();
        sa.dh = Some(dh);
        let id = PayloadBodyV1::Id(identity_payload(&sa.config.config.local_id));
        let mut payloads = vec![
            offer,
            PayloadBodyV1::Ke(sa.g_xi.clone()),
            PayloadBodyV1::Nonce(sa.ni.clone()),
            id,
            dpd_vendor_id(),
        ];
        payloads.extend(cert_requests(&sa.config.config.auth));
        sa.state = P1State::AmSent1;
        self.am_send(now, sa, payloads, true)
    }

    /// Sends a plaintext Aggressive Mode message; `wait`: retransmit it until answered.
    fn am_send(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        payloads: Vec<PayloadBodyV1>,
        wait: bool,
    ) -> Result<(), String> {
        let message = sa.header(ExchangeV1::AGGRESSIVE, 0, BodyV1::Payloads(payloads));
        let bytes = message.to_bytes().map_err(|e| e.to_string())?;
        let sent = self.transmit(now, sa, bytes, wait);
        sa.sent = Some(sent);
        Ok(())
    }

    /// Message 1 from a new initiator: refuse unless the connection allows Aggressive Mode,
    /// else answer with our choice, KE, nonce, identity and HASH_R.
    pub(super) fn am_request(
        &mut self,
        now: Duration,
        (from, to): (SocketAddr, SocketAddr),
        message: &MessageV1,
        bytes: &[u8],
    ) {
        let Some(config) = self.configs.iter().find(|c| c.peer == from.ip()).cloned() else {
            return;
        };
        let id = self.new_id();
        let mut sa = self.new_sa(id, Role::Responder, config, (from, to));
        sa.started = now;
        sa.cookie_i = message.cookie_i;
        sa.last_received = bytes.to_vec();
        if !sa.config.aggressive {
            self.refuse_with(
                (from, to),
                message.cookie_i,
                NotifyV1::AUTHENTICATION_FAILED,
            );
            let name = sa.config.config.name.clone();
            self.fail(sa, format!("{from} started Aggressive Mode, which exposes the PSK to offline guessing; connection {name} takes Main Mode (set aggressive = true to allow it)"));
            return;
        }
        match self.am_answer(now, &mut sa, message, bytes) {
            Ok(()) => self.sas.push(sa),
            Err(why) => {
                self.refuse_with((from, to), message.cookie_i, NotifyV1::NO_PROPOSAL_CHOSEN);
                self.fail(sa, format!("Aggressive Mode from {from}: {why}"));
            }
        }
    }

    fn am_answer(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        message: &MessageV1,
        bytes: &[u8],
    ) -> Result<(), String> {
        let p = message.payloads();
        let offer = find!(p, Sa).ok_or("no SA payload")?;
        let method = auth_method(&sa.config.config.auth);
        let (transform, suite) = choose_p1(offer, &sa.config.config.ike_proposals, method)
            .ok_or_else(|| explain_p1(offer, &sa.config.config.ike_proposals, method))?;
        let (Some(ke), Some(ni)) = (find!(p, Ke), find!(p, Nonce)) else {
            return Err("message 1 lacks KE or nonce".into());
        };
        sa.peer_id = Some(expected_peer(sa, find!(p, Id))?);
        sa.sa_i = raw_body(message, bytes, PayloadV1::SA).unwrap_or_default();
        (sa.suite, sa.g_xi, sa.ni) = (Some(suite), ke.clone(), ni.clone());
        let dh = KeyExchange::generate(suite.dh, self.rng.as_mut()).map_err(|e| e.to_string())?;
        sa.nr = self.random(NONCE_LEN);
        sa.g_xr = dh.public_value().to_vec();
        sa.dh = Some(dh);
        derive(sa)?;
        sa.peer_id_body = raw_body(message, bytes, PayloadV1::ID).unwrap_or_default();
        let id = PayloadBodyV1::Id(identity_payload(&sa.config.config.local_id));
        let mut id_body = Vec::new();
        id.encode(&mut id_body).map_err(|e| e.to_string())?;
        let hash_r = phase1_hash(sa, Role::Responder, &id_body)?;
        let answer = PayloadBodyV1::Sa(SaV1 {
            proposals: vec![ProposalV1 {
                transforms: vec![transform],
                ..offer.proposals.first().cloned().ok_or("no proposal")?
            }],
            ..offer.clone()
        });
        let mut payloads = vec![
            answer,
            PayloadBodyV1::Ke(sa.g_xr.clone()),
            PayloadBodyV1::Nonce(sa.nr.clone()),
            id,
        ];
        payloads.extend(our_proof(
            &sa.config.config.auth,
            hash_r,
            self.rng.as_mut(),
        )?);
        payloads.push(dpd_vendor_id());
        payloads.extend(cert_requests(&sa.config.config.auth));
        sa.state = P1State::AmSent2;
        // Until HASH_I: a lost message 2 is sent again when message 1 comes again.
        self.am_send(now, sa, payloads, false)
    }

    /// Message 2 (initiator) or 3 (responder) of an SA in Aggressive Mode.
    pub(super) fn aggressive_mode(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        message: &MessageV1,
        bytes: &[u8],
    ) -> Result<(), String> {
        match sa.state {
            P1State::AmSent1 => self.am_got2(now, sa, message, bytes),
            P1State::AmSent2 => self.am_got3(now, sa, message),
            _ => Ok(()),
        }
    }

    /// Message 2: the responder's choice and HASH_R; answer with HASH_I, then Quick Mode.
    fn am_got2(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        message: &MessageV1,
        bytes: &[u8],
    ) -> Result<(), String> {
        let p = message.payloads();
        let suite = find!(p, Sa)
            .and_then(|s| s.proposals.first())
            .filter(|p| p.transforms.len() == 1)
            .and_then(|p| p.transforms.first())
            .filter(|t| auth_of(t) == Some(auth_method(&sa.config.config.auth)))
            .and_then(p1_proposal)
            .filter(|s| sa.config.config.ike_proposals.iter().any(|o| same_p1(o, s)))
            .ok_or("the responder chose a transform we did not offer")?;
        let (Some(ke), Some(nr)) = (find!(p, Ke), find!(p, Nonce)) else {
            return Err("Aggressive Mode message 2 lacks KE or nonce".into());
        };
        sa.cookie_r = message.cookie_r;
        (sa.suite, sa.g_xr, sa.nr) = (Some(suite), ke.clone(), nr.clone());
        derive(sa)?;
        let id_body = raw_body(message, bytes, PayloadV1::ID).ok_or("no IDir payload")?;
        sa.peer_id = Some(expected_peer(sa, find!(p, Id))?);
        let want = phase1_hash(sa, Role::Responder, &id_body)?;
        sa.peer_auth = self.am_proof(sa, p, &want, "HASH_R")?;
        let mut our_id = Vec::new();
        PayloadBodyV1::Id(identity_payload(&sa.config.config.local_id))
            .encode(&mut our_id)
            .map_err(|e| e.to_string())?;
        let hash_i = phase1_hash(sa, Role::Initiator, &our_id)?;
        let proof = our_proof(&sa.config.config.auth, hash_i, self.rng.as_mut())?;
        let m = sa.header(ExchangeV1::AGGRESSIVE, 0, BodyV1::Payloads(proof));
        let out = m.to_bytes().map_err(|e| e.to_string())?;
        self.transmit(now, sa, out, false);
        self.initiator_done(now, sa)
    }

    /// Message 3: HASH_I (or certificates and SIG_I), in the clear or encrypted (as some
    /// peers send it).
    fn am_got3(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        message: &MessageV1,
    ) -> Result<(), String> {
        let payloads = match &message.body {
            BodyV1::Payloads(p) => p.clone(),
            BodyV1::Encrypted(ct) => {
                let o = open(&sa.enc_key()?, &sa.iv, message.next_payload, ct)
                    .map_err(|_| "Aggressive Mode message 3 does not decrypt: most likely the pre-shared keys differ".to_string())?;
                sa.iv = o.next_iv;
                // Only an encrypted INITIAL-CONTACT is the peer's word.
                sa.initial_contact = o.payloads.iter().any(is_initial_contact);
                o.payloads
            }
        };
        let body = sa.peer_id_body.clone();
        let want = phase1_hash(sa, Role::Initiator, &body)?;
        sa.peer_auth = self.am_proof(sa, &payloads, &want, "HASH_I")?;
        sa.state = P1State::Established;
        self.established(now, sa);
        Ok(())
    }

    /// The peer's proof of `want` in Aggressive Mode: `name` (HASH_R or HASH_I) with a
    /// pre-shared key, or certificates and a signature. How the peer authenticated.
    fn am_proof(
        &self,
        sa: &IsakmpSa,
        payloads: &[PayloadBodyV1],
        want: &[u8],
        name: &str,
    ) -> Result<String, String> {
        if let Auth::Psk(_) = &sa.config.config.auth {
            let hash = find!(payloads, Hash)
                .ok_or_else(|| format!("the Aggressive Mode message has no {name}"))?;
            if !ct_eq(want, hash) {
                return Err(format!(
                    "the {name} sent by {} does not match ours: most likely the pre-shared keys differ",
                    sa.peer
                ));
            }
            return Ok("psk".into());
        }
        let peer = sa.peer_id.clone().ok_or("no peer identity")?;
        check_proof(sa, payloads, want, (&peer, self.wall_clock))
    }
}
