// SPDX-License-Identifier: GPL-2.0
//! Quick Mode (RFC 2409 §5.5), three encrypted messages under an ISAKMP SA:
//!
//! ```text
//! 1 I -> R  HASH(1), SA, Ni [, KE] [, IDci, IDcr]
//! 2 R -> I  HASH(2), SA, Nr [, KE] [, IDci, IDcr]
//! 3 I -> R  HASH(3)
//! ```
//!
//! Each direction's keys come from SKEYID_d, the protocol, the SPI its receiver chose and both
//! nonces (and g(qm)^xy with PFS). The initiator installs its Child SA when it sends HASH(3),
//! the responder when HASH(3) arrives.

use std::time::Duration;

use super::codes::{proto, ExchangeV1, DOI_IPSEC};
use super::crypt::{open, seal, Opened};
use super::engine::{ChildRecord, EngineV1, IsakmpSa, QuickExchange, NONCE_LEN};
use super::ids::{host_selector, selector_payload};
use super::informational::unknown_payload;
use super::keys::{hash1, hash2, hash3, message_iv};
use super::message::{encode_chain, BodyV1, MessageV1};
use super::nat_t;
use super::payload::{PayloadBodyV1, ProposalV1, SaV1, TransformV1};
use super::phase1::find;
use super::quick_payloads::{
    after_hash, agreed_life, answered_life, check_hash, child_keys, choose_p2, covers,
    describe_child_suite, explain_p2, has_ids, offers_udp_transport, p2_sa, peer_ids, pfs_exchange,
    proposed_life, quick_ids, quick_payloads, spi_of, udp_ports,
};
use super::suite::{p2_cipher, p2_transform, protocol_of, P2Params};
use crate::crypto::KeyExchange;
use crate::engine::{
    describe_suite, describe_ts, ChildSa, ChildStatus, Error, FailedRequest, Mode, Output, Role,
};
use crate::secret::Secret;

impl EngineV1 {
    /// Starts Quick Mode for child `index` of SA `id`; false unless the SA is established.
    pub fn create_child(&mut self, now: Duration, id: crate::engine::SaId, index: usize) -> bool {
        let Some(mut sa) = self.take(id) else {
            return false;
        };
        let up = sa.state == super::engine::P1State::Established;
        if up {
            let _ = self.start_quick_mode(now, &mut sa, index);
        }
        self.sas.push(sa);
        up
    }

    /// Starts Quick Mode for child `child` of an established SA (to replace the Child SA
    /// with inbound SPI `replaces`, for a rekey).
    pub(super) fn start_quick_mode(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        child: usize,
    ) -> Result<(), String> {
        self.quick_mode_for(now, sa, child, None);
        Ok(())
    }

    /// Rekeys a Child SA (by its inbound SPI): a new Quick Mode for its child; the old one is
    /// deleted once the new one is installed. False when there is no such Child SA.
    pub fn rekey_child(
        &mut self,
        now: Duration,
        id: crate::engine::SaId,
        inbound_spi: u32,
    ) -> bool {
        let Some(mut sa) = self.take(id) else {
            return false;
        };
        let child = sa
            .children
            .iter()
            .find(|c| c.inbound_spi == inbound_spi)
            .and_then(|c| {
                sa.config
                    .config
                    .children
                    .iter()
                    .position(|k| k.name == c.status.child)
            });
        if let Some(child) = child {
            self.quick_mode_for(now, &mut sa, child, Some(inbound_spi));
        }
        self.sas.push(sa);
        child.is_some()
    }

    fn quick_mode_for(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        child: usize,
        replaces: Option<u32>,
    ) {
        if let Err(why) = self.try_start_quick_mode(now, sa, child, replaces) {
            self.quick_failed(sa, child, replaces, why);
        }
    }

    /// Reports a Quick Mode that failed: a new Child SA, or the rekey of one.
    pub(super) fn quick_failed(
        &mut self,
        sa: &IsakmpSa,
        child: usize,
        replaces: Option<u32>,
        why: String,
    ) {
        let name = sa.child_name(child);
        let request = match replaces {
            Some(spi) => FailedRequest::ChildRekey {
                spi,
                child: name.clone(),
            },
            None => FailedRequest::NewChild(name.clone()),
        };
        self.outputs.push_back(Output::RequestFailed {
            sa: sa.id,
            reason: Error::Ikev1(format!("Quick Mode for child {name}: {why}")),
            request,
        });
    }

    fn try_start_quick_mode(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        child: usize,
        replaces: Option<u32>,
    ) -> Result<(), String> {
        let cfg = sa
            .config
            .config
            .children
            .get(child)
            .cloned()
            .ok_or("no such child")?;
        let suite = sa.suite.ok_or("no suite")?;
        let params = P2Params {
            mode: cfg.mode,
            life: proposed_life(sa, &cfg),
            pfs: cfg.pfs.then_some(suite.dh),
            udp: nat_t::encapsulated(sa),
        };
        let transforms: Vec<TransformV1> = (1..)
            .zip(&cfg.esp_proposals)
            .filter_map(|(n, p)| p2_transform(n, p.cipher, params))
            .collect();
        if transforms.is_empty() {
            return Err("no proposal IKEv1 can carry (no ChaCha20-Poly1305 or AES-CMAC)".into());
        }
        let spi_in = self.allocate_spi(sa.peer.ip())?;
        let ni = self.random(NONCE_LEN);
        let dh = match params.pfs {
            Some(g) => {
                Some(KeyExchange::generate(g, self.rng.as_mut()).map_err(|e| e.to_string())?)
            }
            None => None,
        };
        let ids = quick_ids(&cfg)?;
        let protocol = cfg
            .esp_proposals
            .first()
            .map_or(proto::ESP, |e| protocol_of(e.cipher));
        if protocol == proto::AH && params.udp {
            return Err("AH cannot cross the NAT found between the peers (it authenticates the IP addresses the NAT rewrites); use ESP".into());
        }
        let offer = PayloadBodyV1::Sa(p2_sa(protocol, spi_in, transforms));
        let mut rest = quick_payloads(offer, &ni, dh.as_ref(), ids);
        if params.udp && params.mode == Mode::Transport {
            rest.extend(nat_t::original_addresses(sa));
        }
        let message_id = self.message_id();
        let iv = message_iv(sa.prf()?, &sa.iv, message_id).map_err(|e| e.to_string())?;
        let h = |a: &Secret, bytes: &[u8]| hash1(suite.prf, a, message_id, bytes);
        let (bytes, next_iv) =
            self.seal_hashed(sa, (ExchangeV1::QUICK, message_id, &iv), rest, h)?;
        let sent = self.transmit(now, sa, bytes, true);
        sa.quick.push(QuickExchange {
            message_id,
            role: Role::Initiator,
            iv: next_iv,
            child,
            ni,
            nr: Vec::new(),
            spi_in,
            dh,
            pending: None,
            replaces,
            sent,
        });
        Ok(())
    }

    /// A random non-zero message ID.
    pub(super) fn message_id(&mut self) -> u32 {
        let mut b = [0u8; 4];
        while b == [0; 4] {
            self.rng.fill(&mut b);
        }
        u32::from_be_bytes(b)
    }

    /// Seals HASH(n) over `rest`, then `rest`, in a message of `exchange`: the datagram and
    /// the exchange's next IV.
    pub(super) fn seal_hashed(
        &mut self,
        sa: &IsakmpSa,
        (exchange, message_id, iv): (ExchangeV1, u32, &[u8]),
        rest: Vec<PayloadBodyV1>,
        hash: impl Fn(&Secret, &[u8]) -> Result<Secret, crate::keys::KeyError>,
    ) -> Result<(Vec<u8>, Vec<u8>), String> {
        let keys = sa.keys.as_ref().ok_or("no keys")?;
        let (_, rest_bytes) = encode_chain(&rest).map_err(|e| e.to_string())?;
        let h = hash(&keys.skeyid_a, &rest_bytes).map_err(|e| e.to_string())?;
        let mut payloads = vec![PayloadBodyV1::Hash(h.as_bytes().to_vec())];
        payloads.extend(rest);
        let (first, ct, next_iv) =
            seal(&sa.enc_key()?, iv, &payloads).map_err(|e| e.to_string())?;
        let mut m = sa.header(exchange, message_id, BodyV1::Encrypted(ct));
        m.next_payload = first;
        m.flags.encrypted = true;
        Ok((m.to_bytes().map_err(|e| e.to_string())?, next_iv))
    }

    /// A Quick Mode message under an established SA.
    pub(super) fn quick_mode(&mut self, now: Duration, sa: &mut IsakmpSa, m: &MessageV1) {
        let BodyV1::Encrypted(ct) = &m.body else {
            return;
        };
        let at = sa.quick.iter().position(|q| q.message_id == m.message_id);
        let iv = match at.and_then(|i| sa.quick.get(i)) {
            Some(q) => q.iv.clone(),
            None => match sa
                .prf()
                .and_then(|p| message_iv(p, &sa.iv, m.message_id).map_err(|e| e.to_string()))
            {
                Ok(iv) => iv,
                Err(_) => return,
            },
        };
        let Ok(key) = sa.enc_key() else { return };
        let Ok(opened) = open(&key, &iv, m.next_payload, ct) else {
            self.debug(
                sa,
                format!(
                    "Quick Mode message {:#x} does not decrypt; dropped",
                    m.message_id
                ),
            );
            return;
        };
        sa.last_heard = now;
        let result = match at {
            None if sa.seen.contains(&m.message_id) => {
                let text = format!("a replayed Quick Mode {:#x}; dropped", m.message_id);
                self.debug(sa, text);
                Ok(())
            }
            None => {
                let r = self.quick_request(now, sa, m.message_id, &opened);
                // An unknown payload got INVALID-PAYLOAD-TYPE, or nothing when unauthenticated.
                if r.is_err() && unknown_payload(&opened.payloads).is_none() {
                    self.refuse_quick(now, sa, &opened);
                }
                sa.first_time(m.message_id);
                r
            }
            Some(i) => {
                let q = sa.quick.swap_remove(i);
                match q.role {
                    Role::Initiator => self.quick_answer(now, sa, q, &opened),
                    Role::Responder => self.quick_done(now, sa, q, &opened),
                }
            }
        };
        if let Err(why) = result {
            self.warn(sa, ExchangeV1::QUICK, m.message_id, why);
        }
    }

    /// Tells the initiator of a Quick Mode we cannot answer: NO-PROPOSAL-CHOSEN for the SPI
    /// it proposed, so it can stop and say why.
    fn refuse_quick(&mut self, now: Duration, sa: &mut IsakmpSa, o: &Opened) {
        let (protocol, spi) = find!(o.payloads, Sa)
            .and_then(|s| s.proposals.first())
            .map_or((proto::ESP, Vec::new()), |p| (p.protocol, p.spi.clone()));
        let n = PayloadBodyV1::Notify(super::payload::NotifyPayloadV1 {
            doi: DOI_IPSEC,
            protocol,
            notify: super::codes::NotifyV1::NO_PROPOSAL_CHOSEN,
            spi,
            data: Vec::new(),
        });
        self.send_informational(now, sa, vec![n]);
    }

    /// The peer refused a Quick Mode of ours (by the SPI we proposed): it fails, explained.
    pub(super) fn quick_refused(&mut self, sa: &mut IsakmpSa, n: &super::payload::NotifyPayloadV1) {
        let spi = <[u8; 4]>::try_from(n.spi.as_slice())
            .ok()
            .map(u32::from_be_bytes);
        let Some(i) = sa
            .quick
            .iter()
            .position(|q| q.role == Role::Initiator && Some(q.spi_in) == spi)
        else {
            return;
        };
        let q = sa.quick.swap_remove(i);
        let offered: Vec<String> = sa
            .config
            .config
            .children
            .get(q.child)
            .map(|c| {
                c.esp_proposals
                    .iter()
                    .map(|p| describe_child_suite(p.cipher))
                    .collect()
            })
            .unwrap_or_default();
        let why = format!(
            "the peer answered {}: it accepts none of our proposals ({}), or not our traffic selectors, mode or PFS group",
            n.notify.name(),
            offered.join(", ")
        );
        self.quick_failed(sa, q.child, q.replaces, why);
    }

    pub(super) fn debug(&mut self, sa: &IsakmpSa, message: String) {
        self.outputs.push_back(Output::Debug { sa: sa.id, message });
    }

    /// Message 1 from the peer: pick a child and a transform, answer with HASH(2).
    fn quick_request(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        message_id: u32,
        o: &Opened,
    ) -> Result<(), String> {
        let prf = sa.prf()?;
        let a = sa
            .keys
            .as_ref()
            .ok_or("no keys")?
            .skeyid_a
            .as_bytes()
            .to_vec();
        let rest = after_hash(o)?;
        let want = hash1(prf, &Secret::new(a), message_id, rest).map_err(|e| e.to_string())?;
        check_hash(o, &want, 1)?;
        self.proven(sa);
        self.refuse_unknown(now, sa, o)?;
        let offer = find!(o.payloads, Sa).ok_or("no SA payload")?;
        let ni = find!(o.payloads, Nonce).ok_or("no nonce")?.clone();
        let (ids_i, ids_r) = peer_ids(sa, &o.payloads)?;
        let (ts_i, ts_r) = if offers_udp_transport(offer) && nat_t::encapsulated(sa) {
            nat_t::transport_ids(sa, (ids_i.clone(), ids_r.clone()))
        } else {
            (ids_i.clone(), ids_r.clone())
        };
        let (child, cfg) = sa
            .config
            .config
            .children
            .iter()
            .enumerate()
            .find(|(_, c)| covers(&c.ts_remote, &ts_i) && covers(&c.ts_local, &ts_r))
            .map(|(i, c)| (i, c.clone()))
            .ok_or_else(|| {
                format!(
                    "no child covers {} === {}",
                    describe_ts(std::slice::from_ref(&ts_i)),
                    describe_ts(std::slice::from_ref(&ts_r))
                )
            })?;
        let (proposal, transform, cipher, params) =
            choose_p2(offer, &cfg).ok_or_else(|| explain_p2(offer, &cfg))?;
        let spi_out = spi_of(&proposal)?;
        let spi_in = self.allocate_spi(sa.peer.ip())?;
        let (life, shortened) = agreed_life(params.life, cfg.life, (proposal.protocol, spi_in))?;
        let nr = self.random(NONCE_LEN);
        let (dh, g_qm) = pfs_exchange(self, params.pfs, find!(o.payloads, Ke))?;
        let keys = child_keys(sa, cipher, g_qm.as_ref(), (spi_in, spi_out), (&ni, &nr))?;
        let child_sa = ChildSa {
            cipher,
            mode: params.mode,
            inbound: keys.0,
            outbound: keys.1,
            ts_local: vec![ts_r.clone()],
            ts_remote: vec![ts_i.clone()],
            peer: sa.peer,
            child: cfg.name.clone(),
            encap: udp_ports(sa),
            life,
        };
        let answer = PayloadBodyV1::Sa(SaV1 {
            proposals: vec![ProposalV1 {
                spi: spi_in.to_be_bytes().to_vec(),
                transforms: vec![transform],
                ..proposal
            }],
            ..offer.clone()
        });
        let echo =
            has_ids(&o.payloads).then(|| (selector_payload(&ids_i), selector_payload(&ids_r)));
        let ids = echo.and_then(|(i, r)| Some((i?, r?)));
        let mut rest = quick_payloads(answer, &nr, dh.as_ref(), ids);
        if params.udp && params.mode == Mode::Transport {
            rest.extend(nat_t::original_addresses(sa));
        }
        rest.extend(shortened);
        let iv = o.next_iv.clone();
        let h = |a: &Secret, bytes: &[u8]| hash2(prf, a, message_id, &ni, bytes);
        let (bytes, next_iv) =
            self.seal_hashed(sa, (ExchangeV1::QUICK, message_id, &iv), rest, h)?;
        // Until HASH(3) arrives: if it was lost, the initiator answers this again with it.
        let sent = self.transmit(now, sa, bytes, true);
        sa.quick.push(QuickExchange {
            message_id,
            role: Role::Responder,
            iv: next_iv,
            child,
            ni,
            nr,
            spi_in,
            dh,
            pending: Some(child_sa),
            replaces: None,
            sent,
        });
        Ok(())
    }

    /// Message 2: check HASH(2), install the Child SA, send HASH(3).
    fn quick_answer(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        q: QuickExchange,
        o: &Opened,
    ) -> Result<(), String> {
        let prf = sa.prf()?;
        let a = Secret::from_slice(sa.keys.as_ref().ok_or("no keys")?.skeyid_a.as_bytes());
        let want =
            hash2(prf, &a, q.message_id, &q.ni, after_hash(o)?).map_err(|e| e.to_string())?;
        check_hash(o, &want, 2)?;
        self.proven(sa);
        self.refuse_unknown(now, sa, o)?;
        let cfg = sa
            .config
            .config
            .children
            .get(q.child)
            .cloned()
            .ok_or("no such child")?;
        let answer = find!(o.payloads, Sa)
            .and_then(|s| s.proposals.first())
            .ok_or("no SA payload")?;
        let (cipher, params) = answer
            .transforms
            .first()
            .and_then(|t| p2_cipher(answer.protocol, t))
            .filter(|(c, p)| cfg.esp_proposals.iter().any(|e| e.cipher == *c) && p.mode == cfg.mode)
            .ok_or("the responder chose a transform we did not offer")?;
        let nr = find!(o.payloads, Nonce).ok_or("no nonce")?.clone();
        let g_qm = match (&q.dh, find!(o.payloads, Ke)) {
            (Some(dh), Some(ke)) => Some(dh.shared_secret(ke).map_err(|e| e.to_string())?),
            (Some(_), None) => return Err("PFS was asked for but the answer has no KE".into()),
            _ => None,
        };
        let spi_out = spi_of(answer)?;
        let proposed = proposed_life(sa, &cfg);
        let life = answered_life(proposed, params.life, &o.payloads);
        if life != proposed {
            self.debug(
                sa,
                format!(
                    "child {}: the responder shortened its lifetime to {life:?} (we proposed {proposed:?})",
                    cfg.name
                ),
            );
        }
        let keys = child_keys(sa, cipher, g_qm.as_ref(), (q.spi_in, spi_out), (&q.ni, &nr))?;
        let (ts_l, ts_r) = (
            cfg.ts_local
                .first()
                .cloned()
                .unwrap_or_else(|| host_selector(sa.local.ip())),
            cfg.ts_remote
                .first()
                .cloned()
                .unwrap_or_else(|| host_selector(sa.peer.ip())),
        );
        let h3 = hash3(prf, &a, q.message_id, &q.ni, &nr).map_err(|e| e.to_string())?;
        let (first, ct, _) = seal(
            &sa.enc_key()?,
            &o.next_iv,
            &[PayloadBodyV1::Hash(h3.as_bytes().to_vec())],
        )
        .map_err(|e| e.to_string())?;
        let mut m = sa.header(ExchangeV1::QUICK, q.message_id, BodyV1::Encrypted(ct));
        m.next_payload = first;
        m.flags.encrypted = true;
        let bytes = m.to_bytes().map_err(|e| e.to_string())?;
        self.transmit(now, sa, bytes, false);
        let child = ChildSa {
            cipher,
            mode: params.mode,
            inbound: keys.0,
            outbound: keys.1,
            ts_local: vec![ts_l],
            ts_remote: vec![ts_r],
            peer: sa.peer,
            child: cfg.name,
            encap: udp_ports(sa),
            life,
        };
        self.install(now, sa, child);
        if let Some(old) = q.replaces {
            self.retire(now, sa, old);
        }
        Ok(())
    }

    /// Message 3: HASH(3) checks out, so the responder installs its Child SA.
    fn quick_done(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        q: QuickExchange,
        o: &Opened,
    ) -> Result<(), String> {
        let prf = sa.prf()?;
        let a = Secret::from_slice(sa.keys.as_ref().ok_or("no keys")?.skeyid_a.as_bytes());
        let want = hash3(prf, &a, q.message_id, &q.ni, &q.nr).map_err(|e| e.to_string())?;
        check_hash(o, &want, 3)?;
        self.proven(sa);
        self.refuse_unknown(now, sa, o)?;
        if let Some(mut child) = q.pending {
            // The peer may have moved (a NAT rebinding) since message 1.
            (child.peer, child.encap) = (sa.peer, udp_ports(sa));
            self.install(now, sa, child);
        }
        Ok(())
    }

    fn install(&mut self, now: Duration, sa: &mut IsakmpSa, child: ChildSa) {
        sa.children.push(ChildRecord {
            protocol: protocol_of(child.cipher),
            inbound_spi: child.inbound.spi,
            outbound_spi: child.outbound.spi,
            status: ChildStatus {
                child: child.child.clone(),
                inbound_spi: child.inbound.spi,
                outbound_spi: child.outbound.spi,
                cipher: describe_suite(&child.cipher.transforms()),
                mode: child.mode,
                ts_local: describe_ts(&child.ts_local),
                ts_remote: describe_ts(&child.ts_remote),
                installed_at: now,
            },
        });
        self.outputs
            .push_back(Output::InstallChild { sa: sa.id, child });
    }
}

impl IsakmpSa {
    pub(super) fn child_name(&self, child: usize) -> String {
        self.config
            .config
            .children
            .get(child)
            .map_or_else(|| format!("#{child}"), |c| c.name.clone())
    }
}
