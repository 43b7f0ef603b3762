// SPDX-License-Identifier: GPL-2.0
//! CREATE_CHILD_SA for Child SAs (RFC 7296 §1.3.1, §1.3.3): new and rekeyed Child SAs in both
//! roles, optional PFS, KEYMAT from the exchange's nonces (§2.17) and rekey collisions
//! (§2.8.1).

use std::time::Duration;

use super::exchange::{After, ChildEntry, ChildState, Request, Sent};
use super::negotiate::{
    self, accepted, choose_child, describe_allowed, explain_no_proposal, select,
};
use super::{
    describe_ts, ChildSa, Engine, EspProposal, FailedRequest, Failure, IkeSa, Mode, Output, SaId,
    State, NONCE_LEN,
};
use crate::codes::{NotifyType, ProtocolId};
use crate::crypto::{DhGroup, KeyExchange};
use crate::keys::ChildSaKeys;
use crate::payload::{KePayload, NotifyPayload, Payload};
use crate::sa::{Proposal, SaPayload};
use crate::secret::Secret;
use crate::traffic_selector::{TrafficSelector, TsPayload};

/// An ESP proposal with the DH group it carries for PFS, if any.
type Offer = (EspProposal, Option<DhGroup>);

/// Our outstanding CREATE_CHILD_SA request for a Child SA.
#[derive(Debug)]
pub(super) struct ChildExchange {
    /// The inbound SPI of the Child SA being rekeyed.
    pub(super) rekey: Option<u32>,
    inbound_spi: u32,
    nonce: Vec<u8>,
    ke: Option<KeyExchange>,
    offered: Vec<Offer>,
    mode: Mode,
    ts_local: Vec<TrafficSelector>,
    ts_remote: Vec<TrafficSelector>,
    /// The index of the child configuration.
    child: usize,
    /// The lowest nonce of the peer's rekey of the same Child SA, which we answered while
    /// this request was outstanding (RFC 7296 §2.8.1).
    pub(super) collision: Option<Vec<u8>>,
}

impl ChildExchange {
    /// What this exchange asked for, to report its failure.
    pub(super) fn request(&self, sa: &IkeSa) -> FailedRequest {
        sa.failed_child_request(self.rekey, Some(self.child))
    }
}

/// The lower of two nonces (compared as byte strings).
fn lowest(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.min(b).to_vec()
}

fn payload_nonce(inner: &[Payload]) -> Option<&Vec<u8>> {
    inner.iter().find_map(|p| match p {
        Payload::Nonce(n) => Some(n),
        _ => None,
    })
}

fn payload_ke(inner: &[Payload]) -> Option<&KePayload> {
    inner.iter().find_map(|p| match p {
        Payload::Ke(k) => Some(k),
        _ => None,
    })
}

pub(super) fn payload_proposals(inner: &[Payload]) -> Vec<Proposal> {
    inner
        .iter()
        .filter_map(|p| match p {
            Payload::Sa(sa) => Some(sa.proposals.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The TSi and TSr selectors of a message, if present.
pub(super) fn payload_ts(
    inner: &[Payload],
) -> (Option<Vec<TrafficSelector>>, Option<Vec<TrafficSelector>>) {
    let ts_i = inner.iter().find_map(|p| match p {
        Payload::TsI(ts) => Some(ts.selectors.clone()),
        _ => None,
    });
    let ts_r = inner.iter().find_map(|p| match p {
        Payload::TsR(ts) => Some(ts.selectors.clone()),
        _ => None,
    });
    (ts_i, ts_r)
}

fn spi_u32(spi: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(spi).ok().map(u32::from_be_bytes)
}

fn notify(notify_type: NotifyType, data: Vec<u8>) -> NotifyPayload {
    NotifyPayload::new(notify_type, data)
}

/// A refusal: the notify to answer with and, unless it is routine, why.
type Refusal = (NotifyPayload, Option<String>);

impl Engine {
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
                .any(|c| c.inbound_spi == inbound_spi && c.state == ChildState::Installed);
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

    /// Negotiates one more Child SA over an established IKE SA (CREATE_CHILD_SA), with the
    /// proposals, traffic selectors and mode of child configuration `child` (an index into
    /// [`super::Config::children`]; an unknown one is reported with [`Output::RequestFailed`]).
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

    /// Runs `f` on an established (not rekeyed, not closing) IKE SA, if there is one.
    pub(super) fn with_established(
        &mut self,
        now: Duration,
        sa: SaId,
        f: impl FnOnce(&mut Self, &mut IkeSa),
    ) {
        let Some(index) = self.sas.iter().position(|s| {
            s.id == sa
                && s.state == State::Established
                && s.rekeyed_to.is_none()
                && s.standby_for.is_none()
                && !s.redundant
        }) else {
            return;
        };
        let mut ike = self.sas.swap_remove(index);
        f(self, &mut ike);
        self.put_back(now, ike);
    }

    /// Builds our CREATE_CHILD_SA request; `None` when it became pointless.
    pub(super) fn child_request(
        &mut self,
        sa: &mut IkeSa,
        rekey: Option<u32>,
        new_child: usize,
    ) -> Result<Option<(Vec<Payload>, Sent)>, Failure> {
        let Some(negotiated) = sa.negotiated else {
            return Ok(None);
        };
        let (index, mode, ts_local, ts_remote) = match rekey {
            Some(spi) => {
                let Some(child) = sa
                    .children
                    .iter()
                    .find(|c| c.inbound_spi == spi && c.state == ChildState::Installed)
                else {
                    return Ok(None);
                };
                let ts = (child.ts_local.clone(), child.ts_remote.clone());
                (child.child, child.mode, ts.0, ts.1)
            }
            None => {
                let c = sa
                    .child_config(new_child)
                    .map_err(|e| format!("cannot create a Child SA: {e}"))?;
                (new_child, c.mode, c.ts_local.clone(), c.ts_remote.clone())
            }
        };
        let what = match rekey {
            Some(spi) => format!("rekey Child SA {spi:08x}"),
            None => "create a Child SA".to_string(),
        };
        let config = sa
            .child_config(index)
            .map_err(|e| format!("cannot {what}: {e}"))?
            .clone();
        let inbound_spi = self
            .allocate_child_spi(sa.peer)
            .map_err(|e| format!("cannot {what}: {e}"))?;
        let dh = config.pfs.then_some(negotiated.dh);
        let ke = match dh {
            Some(group) => Some(
                KeyExchange::generate(group, self.rng.as_mut())
                    .map_err(|e| format!("cannot {what}: cannot generate a DH key: {e}"))?,
            ),
            None => None,
        };
        let nonce = self.random(NONCE_LEN);
        let offered: Vec<Offer> = config.esp_proposals.iter().map(|p| (*p, dh)).collect();
        let mut payloads = Vec::new();
        if let Some(old) = rekey {
            payloads.push(Payload::Notify(NotifyPayload {
                protocol: ProtocolId::ESP,
                spi: old.to_be_bytes().to_vec(),
                notify_type: NotifyType::REKEY_SA,
                data: Vec::new(),
            }));
        }
        if mode == Mode::Transport {
            payloads.push(Payload::Notify(notify(
                NotifyType::USE_TRANSPORT_MODE,
                Vec::new(),
            )));
        }
        payloads.push(Payload::Sa(SaPayload {
            proposals: offered
                .iter()
                .zip(1u8..)
                .map(|((p, dh), n)| p.to_proposal_with(n, inbound_spi, *dh))
                .collect(),
        }));
        payloads.push(Payload::Nonce(nonce.clone()));
        if let Some(ke) = &ke {
            payloads.push(Payload::Ke(KePayload {
                group: ke.group().id(),
                data: ke.public_value().to_vec(),
            }));
        }
        payloads.push(Payload::TsI(TsPayload {
            selectors: ts_local.clone(),
        }));
        payloads.push(Payload::TsR(TsPayload {
            selectors: ts_remote.clone(),
        }));
        let exchange = ChildExchange {
            rekey,
            inbound_spi,
            nonce,
            ke,
            offered,
            mode,
            ts_local,
            ts_remote,
            child: index,
            collision: None,
        };
        Ok(Some((payloads, Sent::Child(Box::new(exchange)))))
    }

    /// The answer to our CREATE_CHILD_SA request for a Child SA.
    pub(super) fn child_response(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        ex: ChildExchange,
        inner: &[Payload],
    ) {
        let what = match ex.rekey {
            Some(spi) => format!("the rekey of Child SA {spi:08x}"),
            None => "the new Child SA".to_string(),
        };
        if let Some(error) = crate::message::notifications(inner).find(|n| n.notify_type.is_error())
        {
            if let Some(old) = ex.rekey {
                // The peer rekeyed or deleted it first (§2.8.1, §2.25): nothing to report.
                let superseded = sa
                    .children
                    .iter()
                    .find(|c| c.inbound_spi == old)
                    .is_none_or(|c| c.state != ChildState::Installed);
                let routine = error.notify_type == NotifyType::TEMPORARY_FAILURE
                    || error.notify_type == NotifyType::CHILD_SA_NOT_FOUND;
                if superseded && routine {
                    return;
                }
            }
            let detail = match error.notify_type {
                NotifyType::NO_PROPOSAL_CHOSEN => {
                    let ours: Vec<_> = ex
                        .offered
                        .iter()
                        .map(|(p, dh)| p.transforms_with(*dh))
                        .collect();
                    format!("; we offered ESP {}", negotiate::describe(&ours))
                }
                NotifyType::INVALID_KE_PAYLOAD => format!(
                    "; it wants DH group {} (PFS settings or groups differ)",
                    <[u8; 2]>::try_from(error.data.as_slice())
                        .map_or_else(|_| "?".to_string(), |g| u16::from_be_bytes(g).to_string())
                ),
                NotifyType::TS_UNACCEPTABLE => format!(
                    "; we proposed TSi [{}] TSr [{}]",
                    describe_ts(&ex.ts_local),
                    describe_ts(&ex.ts_remote)
                ),
                _ => String::new(),
            };
            self.outputs.push_back(Output::RequestFailed {
                sa: sa.id,
                reason: format!("the peer refused {what} with {}{detail}", error.notify_type),
                request: ex.request(sa),
            });
            return;
        }
        let (child, nr) = match self.child_from_response(sa, &ex, inner) {
            Ok(result) => result,
            Err(reason) => {
                self.outputs.push_back(Output::RequestFailed {
                    sa: sa.id,
                    reason: format!("{what} failed: {reason}"),
                    request: ex.request(sa),
                });
                // The peer installed what it answered: have it remove that again.
                sa.queue.push_back(Request::DeleteRefused(ex.inbound_spi));
                return;
            }
        };
        let new_inbound = child.inbound.spi;
        sa.children.push(ChildEntry::new(&child, ex.child, now));
        self.outputs
            .push_back(Output::InstallChild { sa: sa.id, child });
        let Some(old) = ex.rekey else {
            return;
        };
        let lost = ex
            .collision
            .as_ref()
            .is_some_and(|theirs| lowest(&ex.nonce, &nr) < *theirs);
        if lost {
            // Our exchange has the lowest nonce: its Child SA is redundant (§2.8.1).
            self.delete_children(now, sa, vec![new_inbound]);
        } else if sa
            .children
            .iter()
            .any(|c| c.inbound_spi == old && c.state != ChildState::Deleting)
        {
            self.delete_children(now, sa, vec![old]);
        }
    }

    fn child_from_response(
        &mut self,
        sa: &IkeSa,
        ex: &ChildExchange,
        inner: &[Payload],
    ) -> Result<(ChildSa, Vec<u8>), Failure> {
        let (Some(negotiated), Some(keys)) = (sa.negotiated, sa.keys.as_ref()) else {
            return Err("internal error: no IKE SA keys".to_string());
        };
        let proposals = payload_proposals(inner);
        let (chosen, dh) = accepted(ProtocolId::ESP, &proposals, &ex.offered, |(p, dh)| {
            p.transforms_with(*dh)
        })
        .ok_or("the peer chose an ESP proposal we did not offer")?;
        let peer_spi = proposals
            .first()
            .and_then(|p| spi_u32(&p.spi))
            .ok_or("the peer's ESP proposal has no 4-byte SPI")?;
        let nr = payload_nonce(inner)
            .ok_or("the response has no Nonce")?
            .clone();
        let shared = match (dh, ex.ke.as_ref()) {
            (None, _) => None,
            (Some(group), Some(ours)) if ours.group() == group => {
                let theirs = payload_ke(inner)
                    .filter(|k| k.group == group.id())
                    .ok_or("the response lacks a KE payload of the chosen group")?;
                Some(
                    ours.shared_secret(&theirs.data)
                        .map_err(|e| format!("the peer's KE payload is unusable: {e}"))?,
                )
            }
            (Some(_), _) => return Err("the peer chose a DH group we did not send".to_string()),
        };
        let (ts_i, ts_r) = payload_ts(inner);
        let (Some(ts_i), Some(ts_r)) = (ts_i, ts_r) else {
            return Err("the response lacks TSi/TSr".to_string());
        };
        negotiate::check_answered_ts((&ts_i, &ts_r), (&ex.ts_local, &ex.ts_remote))?;
        let transport = crate::message::notifications(inner)
            .any(|n| n.notify_type == NotifyType::USE_TRANSPORT_MODE);
        let mode = negotiate::answered_mode(ex.mode, transport)?;
        let child_keys = ChildSaKeys::derive(
            negotiated.prf,
            &keys.sk_d,
            shared.as_ref().map(Secret::as_bytes),
            &ex.nonce,
            &nr,
            chosen.cipher.encr_key_len(),
            chosen.cipher.integ_key_len(),
        )
        .map_err(|e| format!("Child SA key derivation failed: {e}"))?;
        let child = ChildSa {
            cipher: chosen.cipher,
            mode,
            inbound: child_keys.inbound(true, ex.inbound_spi),
            outbound: child_keys.outbound(true, peer_spi),
            ts_local: ts_i,
            ts_remote: ts_r,
            peer: sa.peer,
            child: sa
                .child_config(ex.child)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
        };
        Ok((child, nr))
    }

    /// Answers a CREATE_CHILD_SA request (a new or rekeyed Child SA, or an IKE SA rekey).
    pub(super) fn create_child_request(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        inner: &[Payload],
    ) -> (Vec<Payload>, After) {
        let proposals = payload_proposals(inner);
        let outcome = if sa.state != State::Established || sa.rekeyed_to.is_some() || sa.redundant {
            Err((notify(NotifyType::TEMPORARY_FAILURE, Vec::new()), None))
        } else if proposals.iter().any(|p| p.protocol == ProtocolId::IKE) {
            self.ike_rekey_answer(now, sa, inner, &proposals)
        } else {
            self.answer_child(now, sa, inner, &proposals)
        };
        match outcome {
            Ok(reply) => (reply, After::Nothing),
            Err((refusal, reason)) => {
                if let Some(reason) = reason {
                    self.outputs.push_back(Output::RequestFailed {
                        sa: sa.id,
                        reason,
                        request: FailedRequest::Peer,
                    });
                }
                (vec![Payload::Notify(refusal)], After::Nothing)
            }
        }
    }

    fn answer_child(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        inner: &[Payload],
        proposals: &[Proposal],
    ) -> Result<Vec<Payload>, Refusal> {
        let syntax = |what: &str| {
            (
                notify(NotifyType::INVALID_SYNTAX, Vec::new()),
                Some(format!("the peer's CREATE_CHILD_SA request {what}")),
            )
        };
        let (Some(config), Some(negotiated)) = (sa.config.clone(), sa.negotiated) else {
            return Err((notify(NotifyType::TEMPORARY_FAILURE, Vec::new()), None));
        };
        let rekey =
            crate::message::notifications(inner).find(|n| n.notify_type == NotifyType::REKEY_SA);
        let old = match rekey {
            None => None,
            Some(n) => {
                let spi =
                    spi_u32(&n.spi).ok_or_else(|| syntax("has a REKEY_SA without a 4-byte SPI"))?;
                let Some(child) = sa.children.iter().find(|c| c.outbound_spi == spi) else {
                    let refusal = NotifyPayload {
                        protocol: n.protocol,
                        spi: n.spi.clone(),
                        notify_type: NotifyType::CHILD_SA_NOT_FOUND,
                        data: Vec::new(),
                    };
                    let reason = format!(
                        "the peer asked to rekey Child SA {spi:08x} (our outbound SPI), which we do not have"
                    );
                    return Err((refusal, Some(reason)));
                };
                if child.state != ChildState::Installed {
                    // Already rekeyed or being deleted (§2.8.1, §2.25).
                    return Err((notify(NotifyType::TEMPORARY_FAILURE, Vec::new()), None));
                }
                Some((child.inbound_spi, child.child))
            }
        };
        // The child configuration: the rekeyed Child SA's, or the first that fits.
        let (ts_i, ts_r) = payload_ts(inner);
        let (ts_i, ts_r) = (ts_i.unwrap_or_default(), ts_r.unwrap_or_default());
        let wants_transport = crate::message::notifications(inner)
            .any(|n| n.notify_type == NotifyType::USE_TRANSPORT_MODE);
        let candidates_ts = match old {
            Some((_, index)) => config.children.get(index..=index).unwrap_or_default(),
            None => config.children.as_slice(),
        };
        let Some((found, narrowed_i, narrowed_r)) =
            choose_child(candidates_ts, &ts_i, &ts_r, wants_transport)
        else {
            let reason = format!(
                "traffic selectors unacceptable in CREATE_CHILD_SA: the peer proposed TSi [{}] TSr [{}]; we allow {}",
                describe_ts(&ts_i),
                describe_ts(&ts_r),
                describe_allowed(candidates_ts),
            );
            return Err((
                notify(NotifyType::TS_UNACCEPTABLE, Vec::new()),
                Some(reason),
            ));
        };
        if let Err(reason) = negotiate::installable(&narrowed_r, &narrowed_i) {
            let reason = format!(
                "traffic selectors unacceptable in CREATE_CHILD_SA: the peer proposed TSi [{}] TSr [{}], narrowed to {reason}",
                describe_ts(&ts_i),
                describe_ts(&ts_r),
            );
            return Err((
                notify(NotifyType::TS_UNACCEPTABLE, Vec::new()),
                Some(reason),
            ));
        }
        let index = old.map_or(found, |(_, index)| index);
        let old = old.map(|(spi, _)| spi);
        let Some(child_config) = config.children.get(index) else {
            return Err((notify(NotifyType::TEMPORARY_FAILURE, Vec::new()), None));
        };
        let group = negotiated.dh;
        let mut candidates: Vec<Offer> = child_config
            .esp_proposals
            .iter()
            .map(|p| (*p, Some(group)))
            .collect();
        if !child_config.pfs {
            candidates = child_config
                .esp_proposals
                .iter()
                .map(|p| (*p, None))
                .chain(candidates)
                .collect();
        }
        let Some((number, (chosen, dh))) =
            select(ProtocolId::ESP, proposals, &candidates, |(p, dh)| {
                p.transforms_with(*dh)
            })
        else {
            let ours: Vec<_> = candidates
                .iter()
                .map(|(p, dh)| p.transforms_with(*dh))
                .collect();
            let reason = explain_no_proposal("Child SA (ESP, CREATE_CHILD_SA)", &ours, proposals);
            return Err((
                notify(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new()),
                Some(reason),
            ));
        };
        let peer_spi = proposals
            .iter()
            .find(|p| p.number == number && p.protocol == ProtocolId::ESP)
            .and_then(|p| spi_u32(&p.spi))
            .ok_or_else(|| syntax("has an ESP proposal without a 4-byte SPI"))?;
        let ni = payload_nonce(inner)
            .ok_or_else(|| syntax("has no Nonce"))?
            .clone();
        let mut our_ke = None;
        let mut shared = None;
        if let Some(group) = dh {
            let theirs = payload_ke(inner).filter(|k| k.group == group.id());
            let Some(theirs) = theirs else {
                let refusal = notify(
                    NotifyType::INVALID_KE_PAYLOAD,
                    group.id().to_be_bytes().to_vec(),
                );
                let reason = format!(
                    "the peer's CREATE_CHILD_SA request lacks a KE payload of DH group {}",
                    group.id()
                );
                return Err((refusal, Some(reason)));
            };
            let ke = KeyExchange::generate(group, self.rng.as_mut())
                .map_err(|_| (notify(NotifyType::TEMPORARY_FAILURE, Vec::new()), None))?;
            shared = Some(
                ke.shared_secret(&theirs.data)
                    .map_err(|_| syntax("has an invalid KE public value"))?,
            );
            our_ke = Some(ke);
        }
        let mode = if wants_transport && child_config.mode == Mode::Transport {
            Mode::Transport
        } else {
            Mode::Tunnel
        };
        let our_spi = self
            .allocate_child_spi(sa.peer)
            .map_err(|e| (notify(NotifyType::TEMPORARY_FAILURE, Vec::new()), Some(e)))?;
        let nr = self.random(NONCE_LEN);
        let keys = sa
            .keys
            .as_ref()
            .ok_or((notify(NotifyType::TEMPORARY_FAILURE, Vec::new()), None))?;
        let child_keys = ChildSaKeys::derive(
            negotiated.prf,
            &keys.sk_d,
            shared.as_ref().map(Secret::as_bytes),
            &ni,
            &nr,
            chosen.cipher.encr_key_len(),
            chosen.cipher.integ_key_len(),
        )
        .map_err(|e| {
            let reason = format!("Child SA key derivation failed: {e}");
            (
                notify(NotifyType::TEMPORARY_FAILURE, Vec::new()),
                Some(reason),
            )
        })?;
        let child = ChildSa {
            cipher: chosen.cipher,
            mode,
            inbound: child_keys.inbound(false, our_spi),
            outbound: child_keys.outbound(false, peer_spi),
            ts_local: narrowed_r.clone(),
            ts_remote: narrowed_i.clone(),
            peer: sa.peer,
            child: child_config.name.clone(),
        };
        sa.children.push(ChildEntry::new(&child, index, now));
        self.outputs
            .push_back(Output::InstallChild { sa: sa.id, child });
        if let Some(old) = old {
            if let Some(entry) = sa.child_by_inbound(old) {
                entry.state = ChildState::Rekeyed;
            }
            if let Some(pending) = sa.pending.as_mut() {
                if let Sent::Child(ours) = &mut pending.kind {
                    if ours.rekey == Some(old) {
                        ours.collision = Some(lowest(&ni, &nr));
                    }
                }
            }
        }
        let mut reply = Vec::new();
        if mode == Mode::Transport {
            reply.push(Payload::Notify(notify(
                NotifyType::USE_TRANSPORT_MODE,
                Vec::new(),
            )));
        }
        reply.push(Payload::Sa(SaPayload {
            proposals: vec![chosen.to_proposal_with(number, our_spi, dh)],
        }));
        reply.push(Payload::Nonce(nr));
        if let Some(ke) = our_ke {
            reply.push(Payload::Ke(KePayload {
                group: ke.group().id(),
                data: ke.public_value().to_vec(),
            }));
        }
        reply.push(Payload::TsI(TsPayload {
            selectors: narrowed_i,
        }));
        reply.push(Payload::TsR(TsPayload {
            selectors: narrowed_r,
        }));
        Ok(reply)
    }
}
