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

use super::codes::{proto, ExchangeV1, PayloadV1, DOI_IPSEC, SIT_IDENTITY_ONLY};
use super::crypt::{open, seal, Opened};
use super::engine::{ChildRecord, EngineV1, IsakmpSa, QuickExchange, NONCE_LEN};
use super::ids::{host_selector, selector_of, selector_payload};
use super::keys::{hash1, hash2, hash3, keymat, message_iv};
use super::main_mode::find;
use super::message::{encode_chain, BodyV1, MessageV1};
use super::payload::{PayloadBodyV1, ProposalV1, SaV1, TransformV1};
use super::suite::{p2_cipher, p2_transform, P2Params};
use crate::crypto::{ct_eq, KeyExchange};
use crate::engine::{
    describe_suite, describe_ts, ChildConfig, ChildDirection, ChildSa, ChildStatus, Error,
    FailedRequest, Output, Role,
};
use crate::secret::Secret;
use crate::traffic_selector::TrafficSelector;

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

    /// Starts Quick Mode for child `child` of an established SA.
    pub(super) fn start_quick_mode(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        child: usize,
    ) -> Result<(), String> {
        if let Err(why) = self.try_start_quick_mode(now, sa, child) {
            let name = sa.child_name(child);
            self.outputs.push_back(Output::RequestFailed {
                sa: sa.id,
                reason: Error::Ikev1(format!("Quick Mode for child {name}: {why}")),
                request: FailedRequest::NewChild(name),
            });
        }
        Ok(())
    }

    fn try_start_quick_mode(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        child: usize,
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
            life_secs: sa.config.ipsec_life.as_secs(),
            pfs: cfg.pfs.then_some(suite.dh),
        };
        let transforms: Vec<TransformV1> = (1..)
            .zip(&cfg.esp_proposals)
            .filter_map(|(n, p)| p2_transform(n, p.cipher, params))
            .collect();
        if transforms.is_empty() {
            return Err(
                "no ESP proposal IKEv1 can carry (no ChaCha20-Poly1305, AES-CMAC or AH yet)".into(),
            );
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
        let offer = PayloadBodyV1::Sa(esp_sa(spi_in, transforms));
        let rest = quick_payloads(offer, &ni, dh.as_ref(), ids);
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
        let result = match at {
            None => self.quick_request(now, sa, m.message_id, &opened),
            Some(i) => {
                let q = sa.quick.swap_remove(i);
                match q.role {
                    Role::Initiator => self.quick_answer(now, sa, q, &opened),
                    Role::Responder => self.quick_done(now, sa, q, &opened),
                }
            }
        };
        if let Err(why) = result {
            self.outputs.push_back(Output::Warning {
                sa: sa.id,
                message: format!(
                    "IKEv1 Quick Mode {:#x} with {}: {why}",
                    m.message_id, sa.peer
                ),
            });
        }
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
        let offer = find!(o.payloads, Sa).ok_or("no SA payload")?;
        let ni = find!(o.payloads, Nonce).ok_or("no nonce")?.clone();
        let (ts_i, ts_r) = peer_ids(sa, &o.payloads)?;
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
        let (proposal, transform, cipher, params) = choose_p2(offer, &cfg)
            .ok_or_else(|| format!("no proposal chosen for child {}: the peer's transforms match none of ours or our mode/PFS", cfg.name))?;
        let spi_out = spi_of(&proposal)?;
        let spi_in = self.allocate_spi(sa.peer.ip())?;
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
            encap: None,
        };
        let answer = PayloadBodyV1::Sa(SaV1 {
            proposals: vec![ProposalV1 {
                spi: spi_in.to_be_bytes().to_vec(),
                transforms: vec![transform],
                ..proposal
            }],
            ..offer.clone()
        });
        let echo = has_ids(&o.payloads).then(|| (selector_payload(&ts_i), selector_payload(&ts_r)));
        let ids = echo.and_then(|(i, r)| Some((i?, r?)));
        let rest = quick_payloads(answer, &nr, dh.as_ref(), ids);
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
            .and_then(p2_cipher)
            .filter(|(c, p)| cfg.esp_proposals.iter().any(|e| e.cipher == *c) && p.mode == cfg.mode)
            .ok_or("the responder chose a transform we did not offer")?;
        let nr = find!(o.payloads, Nonce).ok_or("no nonce")?.clone();
        let g_qm = match (&q.dh, find!(o.payloads, Ke)) {
            (Some(dh), Some(ke)) => Some(dh.shared_secret(ke).map_err(|e| e.to_string())?),
            (Some(_), None) => return Err("PFS was asked for but the answer has no KE".into()),
            _ => None,
        };
        let spi_out = spi_of(answer)?;
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
            encap: None,
        };
        self.install(now, sa, child);
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
        if let Some(child) = q.pending {
            self.install(now, sa, child);
        }
        Ok(())
    }

    fn install(&mut self, now: Duration, sa: &mut IsakmpSa, child: ChildSa) {
        sa.children.push(ChildRecord {
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

/// An SA payload with one ESP proposal.
fn esp_sa(spi: u32, transforms: Vec<TransformV1>) -> SaV1 {
    SaV1 {
        doi: DOI_IPSEC,
        situation: SIT_IDENTITY_ONLY,
        proposals: vec![ProposalV1 {
            number: 1,
            protocol: proto::ESP,
            spi: spi.to_be_bytes().to_vec(),
            transforms,
        }],
    }
}

/// SA, nonce, KE (with PFS) and the two IDs: what follows HASH(1) and HASH(2).
fn quick_payloads(
    sa: PayloadBodyV1,
    nonce: &[u8],
    dh: Option<&KeyExchange>,
    ids: Option<(super::payload::IdV1, super::payload::IdV1)>,
) -> Vec<PayloadBodyV1> {
    let mut out = vec![sa, PayloadBodyV1::Nonce(nonce.to_vec())];
    if let Some(dh) = dh {
        out.push(PayloadBodyV1::Ke(dh.public_value().to_vec()));
    }
    if let Some((i, r)) = ids {
        out.push(PayloadBodyV1::Id(i));
        out.push(PayloadBodyV1::Id(r));
    }
    out
}

/// IDci and IDcr of a child: its first local and remote selector.
fn quick_ids(
    cfg: &ChildConfig,
) -> Result<Option<(super::payload::IdV1, super::payload::IdV1)>, String> {
    let (Some(l), Some(r)) = (cfg.ts_local.first(), cfg.ts_remote.first()) else {
        return Ok(None);
    };
    let id = |ts| selector_payload(ts).ok_or("a port range IKEv1 cannot carry (one port or all)");
    Ok(Some((id(l)?, id(r)?)))
}

/// The plaintext after the HASH payload, which HASH(1) and HASH(2) cover.
fn after_hash(o: &Opened) -> Result<&[u8], String> {
    let start = o.spans.get(1).map(|r| r.start);
    let end = o.spans.last().map(|r| r.end);
    match (start, end) {
        (Some(s), Some(e)) => o.plaintext.get(s..e).ok_or_else(|| "bad spans".into()),
        _ => Err("a message with nothing after its HASH".into()),
    }
}

/// The first payload must be HASH(n) and equal `want`.
fn check_hash(o: &Opened, want: &Secret, n: u8) -> Result<(), String> {
    match o.payloads.first() {
        Some(PayloadBodyV1::Hash(h)) if ct_eq(h, want.as_bytes()) => Ok(()),
        Some(PayloadBodyV1::Hash(_)) => Err(format!("HASH({n}) does not match: dropped")),
        _ => Err(format!("the first payload is not HASH({n})")),
    }
}

fn has_ids(payloads: &[PayloadBodyV1]) -> bool {
    payloads
        .iter()
        .filter(|p| p.payload_type() == PayloadV1::ID)
        .count()
        == 2
}

/// IDci and IDcr as selectors; without them, the peers' own addresses.
fn peer_ids(
    sa: &IsakmpSa,
    payloads: &[PayloadBodyV1],
) -> Result<(TrafficSelector, TrafficSelector), String> {
    let ids: Vec<_> = payloads
        .iter()
        .filter_map(|p| match p {
            PayloadBodyV1::Id(id) => Some(id),
            _ => None,
        })
        .collect();
    match ids.as_slice() {
        [] => Ok((host_selector(sa.peer.ip()), host_selector(sa.local.ip()))),
        [i, r] => Ok((
            selector_of(i).ok_or("IDci is no selector ripsec takes")?,
            selector_of(r).ok_or("IDcr is no selector ripsec takes")?,
        )),
        _ => Err("Quick Mode takes no or two ID payloads".into()),
    }
}

/// Whether `inner` lies within one of `outer`.
fn covers(outer: &[TrafficSelector], inner: &TrafficSelector) -> bool {
    use crate::traffic_selector::AddressRange::{V4, V6};
    outer.iter().any(|o| {
        let addresses = match (o.addresses, inner.addresses) {
            (V4 { start: a, end: b }, V4 { start: c, end: d }) => a <= c && d <= b,
            (V6 { start: a, end: b }, V6 { start: c, end: d }) => a <= c && d <= b,
            _ => false,
        };
        addresses
            && (o.ip_protocol == 0 || o.ip_protocol == inner.ip_protocol)
            && o.start_port <= inner.start_port
            && inner.end_port <= o.end_port
    })
}

/// The peer's first transform (in its order) that one of our proposals, our mode and our PFS
/// setting accept.
fn choose_p2(
    offer: &SaV1,
    cfg: &ChildConfig,
) -> Option<(ProposalV1, TransformV1, crate::engine::EspCipher, P2Params)> {
    let proposal = offer.proposals.iter().find(|p| p.protocol == proto::ESP)?;
    proposal.transforms.iter().find_map(|t| {
        let (cipher, params) = p2_cipher(t)?;
        let ok = params.mode == cfg.mode
            && (params.pfs.is_some() || !cfg.pfs)
            && cfg.esp_proposals.iter().any(|e| e.cipher == cipher);
        ok.then(|| (proposal.clone(), t.clone(), cipher, params))
    })
}

fn spi_of(p: &ProposalV1) -> Result<u32, String> {
    <[u8; 4]>::try_from(p.spi.as_slice())
        .map(u32::from_be_bytes)
        .map_err(|_| format!("an ESP SPI of {} bytes", p.spi.len()))
}

/// With PFS, our key pair and g(qm)^xy from the peer's KE.
fn pfs_exchange(
    engine: &mut EngineV1,
    group: Option<crate::crypto::DhGroup>,
    ke: Option<&Vec<u8>>,
) -> Result<(Option<KeyExchange>, Option<Secret>), String> {
    let Some(group) = group else {
        return Ok((None, None));
    };
    let ke = ke.ok_or("PFS named in the SA but no KE payload")?;
    let dh = KeyExchange::generate(group, engine.rng.as_mut()).map_err(|e| e.to_string())?;
    let shared = dh.shared_secret(ke).map_err(|e| e.to_string())?;
    Ok((Some(dh), Some(shared)))
}

/// Both directions' keys: KEYMAT with the receiver's SPI, split into cipher and integrity key.
fn child_keys(
    sa: &IsakmpSa,
    cipher: crate::engine::EspCipher,
    g_qm: Option<&Secret>,
    (spi_in, spi_out): (u32, u32),
    nonces: (&[u8], &[u8]),
) -> Result<(ChildDirection, ChildDirection), String> {
    let prf = sa.prf()?;
    let d = &sa.keys.as_ref().ok_or("no keys")?.skeyid_d;
    let (enc, integ) = (cipher.encr_key_len(), cipher.integ_key_len());
    let dir = |spi: u32| -> Result<ChildDirection, String> {
        let g = g_qm.map(Secret::as_bytes);
        let k = keymat(
            prf,
            d,
            g,
            proto::ESP,
            spi.to_be_bytes(),
            nonces,
            enc + integ,
        )
        .map_err(|e| e.to_string())?;
        let (e, i) = k.as_bytes().split_at(enc);
        Ok(ChildDirection {
            spi,
            encr_key: Secret::from_slice(e),
            integ_key: Secret::from_slice(i),
        })
    };
    Ok((dir(spi_in)?, dir(spi_out)?))
}
