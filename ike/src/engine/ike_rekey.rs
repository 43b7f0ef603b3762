// SPDX-License-Identifier: GPL-2.0
//! Rekeying the IKE SA with CREATE_CHILD_SA (RFC 7296 §1.3.2, §2.18): new SPIs, a new DH
//! exchange, SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr); the Child SAs move to the new
//! IKE SA and the rekey's initiator deletes the old one. When both peers rekey at once
//! (§2.8.2), each answers the other; once both exchanges are done, the new IKE SA of the
//! exchange with the lowest of the four nonces is deleted by its initiator, the other one
//! takes the Child SAs over, and the initiator of that survivor deletes the old IKE SA.

use std::time::Duration;

use super::create_child::payload_proposals;
use super::exchange::{Request, Sent};
use super::negotiate::{accepted, explain_no_proposal, select};
use super::{
    Engine, FailedRequest, Failure, IkeProposal, IkeSa, Output, Role, SaId, State,
    HALF_OPEN_TIMEOUT, NONCE_LEN,
};
use crate::codes::{NotifyType, ProtocolId};
use crate::crypto::KeyExchange;
use crate::keys::{rekey_skeyseed, IkeSaKeyLengths, IkeSaKeys};
use crate::payload::{KePayload, NotifyPayload, Payload};
use crate::sa::{Proposal, SaPayload};
use crate::secret::Secret;

/// Our outstanding IKE SA rekey request.
#[derive(Debug)]
pub(super) struct IkeRekeyExchange {
    /// The id the new IKE SA gets.
    id: SaId,
    spi: [u8; 8],
    nonce: Vec<u8>,
    ke: KeyExchange,
    offered: Vec<IkeProposal>,
    /// The peer's rekey of the same IKE SA, answered while this one was outstanding.
    pub(super) collision: Option<Collision>,
}

/// A colliding rekey by the peer (RFC 7296 §2.8.2).
#[derive(Debug)]
pub(super) struct Collision {
    /// The new IKE SA it created, on standby (we are its responder).
    sa: SaId,
    /// The lower of its two nonces.
    lowest: Vec<u8>,
}

/// The lower of two nonces (compared as byte strings).
fn lowest(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.min(b).to_vec()
}

/// The parameters of a new IKE SA replacing `old`.
struct Successor {
    id: SaId,
    role: Role,
    spi_i: [u8; 8],
    spi_r: [u8; 8],
    chosen: IkeProposal,
    shared: Secret,
    ni: Vec<u8>,
    nr: Vec<u8>,
}

fn refuse(notify_type: NotifyType, data: Vec<u8>) -> NotifyPayload {
    NotifyPayload::new(notify_type, data)
}

fn ike_spi(proposal: Option<&Proposal>) -> Option<[u8; 8]> {
    proposal
        .and_then(|p| <[u8; 8]>::try_from(p.spi.as_slice()).ok())
        .filter(|spi| *spi != [0; 8])
}

impl Engine {
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

    /// Builds our IKE SA rekey request.
    pub(super) fn ike_rekey_request(
        &mut self,
        sa: &mut IkeSa,
        id: SaId,
    ) -> Result<Option<(Vec<Payload>, Sent)>, Failure> {
        let (Some(config), Some(negotiated)) = (sa.config.as_ref(), sa.negotiated) else {
            return Ok(None);
        };
        if sa.state != State::Established || sa.rekeyed_to.is_some() {
            return Ok(None);
        }
        // The current suite first: our KE uses its group.
        let offered: Vec<IkeProposal> = std::iter::once(negotiated)
            .chain(
                config
                    .ike_proposals
                    .iter()
                    .copied()
                    .filter(|p| *p != negotiated),
            )
            .collect();
        let ke = KeyExchange::generate(negotiated.dh, self.rng.as_mut())
            .map_err(|e| format!("cannot rekey the IKE SA: cannot generate a DH key: {e}"))?;
        let spi = self.random_spi();
        let nonce = self.random(NONCE_LEN);
        let proposals = offered
            .iter()
            .zip(1u8..)
            .map(|(p, n)| {
                let mut proposal = p.to_proposal(n);
                proposal.spi = spi.to_vec();
                proposal
            })
            .collect();
        let payloads = vec![
            Payload::Sa(SaPayload { proposals }),
            Payload::Nonce(nonce.clone()),
            Payload::Ke(KePayload {
                group: negotiated.dh.id(),
                data: ke.public_value().to_vec(),
            }),
        ];
        let exchange = IkeRekeyExchange {
            id,
            spi,
            nonce,
            ke,
            offered,
            collision: None,
        };
        Ok(Some((payloads, Sent::IkeRekey(Box::new(exchange)))))
    }

    /// The answer to our IKE SA rekey request.
    pub(super) fn ike_rekey_response(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        ex: IkeRekeyExchange,
        inner: &[Payload],
    ) {
        // The peer's colliding rekey, if its new IKE SA still waits for the outcome.
        let theirs = ex.collision.as_ref().and_then(|c| {
            self.sas
                .iter()
                .any(|s| s.id == c.sa && s.standby_for == Some(sa.id) && s.state.usable())
                .then(|| (c.sa, c.lowest.clone()))
        });
        let created =
            Self::rekey_from_response(&ex, inner).and_then(|(chosen, spi_r, nr, shared)| {
                let ours = lowest(&ex.nonce, &nr);
                let successor = Successor {
                    id: ex.id,
                    role: Role::Initiator,
                    spi_i: ex.spi,
                    spi_r,
                    chosen,
                    shared,
                    ni: ex.nonce,
                    nr,
                };
                Self::successor(now, sa, successor).map(|new| (new, ours))
            });
        match created {
            Err(reason) => {
                if let Some((id, _)) = theirs {
                    // Only the peer's rekey completed (§2.8.2; e.g. it answered
                    // TEMPORARY_FAILURE because it finished first): its IKE SA takes over,
                    // and the peer deletes the old one.
                    self.hand_over(now, sa, id);
                } else if sa.rekeyed_to.is_none() {
                    self.outputs.push_back(Output::RequestFailed {
                        sa: sa.id,
                        reason: format!("the rekey of the IKE SA failed: {reason}"),
                        request: FailedRequest::IkeRekey,
                    });
                }
            }
            Ok((mut new, ours)) => {
                // Already handed over, or our exchange has the lowest nonce: its IKE SA is
                // redundant and we, its initiator, delete it (§2.8.2).
                let lost = sa.rekeyed_to.is_some()
                    || theirs.as_ref().is_some_and(|(_, lowest)| ours < *lowest);
                if lost {
                    new.redundant = true;
                    self.request(now, &mut new, Request::DeleteIke);
                    self.sas.push(new);
                    if let Some((id, _)) = theirs {
                        self.hand_over(now, sa, id);
                    }
                } else {
                    if let Some((id, _)) = theirs {
                        // The peer deletes its redundant IKE SA; forget it anyway if not.
                        if let Some(s) = self.sas.iter_mut().find(|s| s.id == id) {
                            s.standby_for = None;
                            s.redundant = true;
                            s.expires = Some(now.saturating_add(HALF_OPEN_TIMEOUT));
                        }
                    }
                    self.take_over(now, sa, &mut new);
                    self.sas.push(new);
                    self.request(now, sa, Request::DeleteIke);
                }
            }
        }
    }

    /// Hands the Child SAs of `old` over to the new IKE SA `new` that the peer's colliding
    /// rekey created (§2.8.2); the peer deletes `old`, which is forgotten anyway if it does not.
    fn hand_over(&mut self, now: Duration, old: &mut IkeSa, new: SaId) {
        let Some(index) = self
            .sas
            .iter()
            .position(|s| s.id == new && s.standby_for == Some(old.id))
        else {
            return;
        };
        let mut new = self.sas.swap_remove(index);
        self.take_over(now, old, &mut new);
        self.sas.push(new);
        old.expires = Some(now.saturating_add(HALF_OPEN_TIMEOUT));
    }

    /// The peer deletes `sa` while our rekey of it collided with the peer's: the peer's new
    /// IKE SA won (§2.8.2) and takes the Child SAs over before `sa` closes.
    pub(super) fn collision_before_delete(&mut self, now: Duration, sa: &mut IkeSa) {
        let standby = match sa.pending.as_ref().map(|p| &p.kind) {
            Some(Sent::IkeRekey(ex)) => ex.collision.as_ref().map(|c| c.sa),
            _ => None,
        };
        if let Some(id) = standby.filter(|_| sa.rekeyed_to.is_none()) {
            self.hand_over(now, sa, id);
        }
    }

    /// The peer sent a request other than its DELETE over `new`, a standby IKE SA: it made
    /// `new` its survivor (§2.8.2), so `new` takes the Child SAs of the old IKE SA over.
    pub(super) fn adopt_standby(&mut self, now: Duration, new: &mut IkeSa) {
        let Some(old) = new.standby_for else {
            return;
        };
        let Some(index) = self
            .sas
            .iter()
            .position(|s| s.id == old && s.rekeyed_to.is_none() && s.state.usable())
        else {
            return;
        };
        let mut old = self.sas.swap_remove(index);
        self.take_over(now, &mut old, new);
        old.expires = Some(now.saturating_add(HALF_OPEN_TIMEOUT));
        self.sas.push(old);
    }

    fn rekey_from_response(
        ex: &IkeRekeyExchange,
        inner: &[Payload],
    ) -> Result<(IkeProposal, [u8; 8], Vec<u8>, Secret), Failure> {
        if let Some(error) = crate::message::notifications(inner).find(|n| n.notify_type.is_error())
        {
            let hint = if error.notify_type == NotifyType::TEMPORARY_FAILURE {
                " (it is busy, e.g. rekeying itself; try again later)"
            } else {
                ""
            };
            return Err(format!("the peer answered {}{hint}", error.notify_type));
        }
        let proposals = payload_proposals(inner);
        let chosen = accepted(
            ProtocolId::IKE,
            &proposals,
            &ex.offered,
            IkeProposal::transforms,
        )
        .ok_or("the peer chose an IKE proposal we did not offer")?;
        let spi_r = ike_spi(proposals.first()).ok_or("the peer's proposal has no 8-byte SPI")?;
        let nr = inner
            .iter()
            .find_map(|p| match p {
                Payload::Nonce(n) => Some(n.clone()),
                _ => None,
            })
            .ok_or("the response has no Nonce")?;
        let ke = inner
            .iter()
            .find_map(|p| match p {
                Payload::Ke(k) => Some(k),
                _ => None,
            })
            .ok_or("the response has no KE payload")?;
        if ke.group != chosen.dh.id() || ex.ke.group() != chosen.dh {
            return Err(format!(
                "the peer's KE uses group {} but we sent group {}",
                ke.group,
                ex.ke.group().id()
            ));
        }
        let shared = ex
            .ke
            .shared_secret(&ke.data)
            .map_err(|e| format!("the peer's KE payload is unusable: {e}"))?;
        Ok((chosen, spi_r, nr, shared))
    }

    /// Answers the peer's IKE SA rekey request.
    pub(super) fn ike_rekey_answer(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        inner: &[Payload],
        proposals: &[Proposal],
    ) -> Result<Vec<Payload>, (NotifyPayload, Option<String>)> {
        // Our own rekey of this IKE SA is outstanding: a collision (§2.8.2), answered.
        let collision = sa
            .pending
            .as_ref()
            .is_some_and(|p| matches!(&p.kind, Sent::IkeRekey(ex) if ex.collision.is_none()));
        let busy = sa
            .pending
            .as_ref()
            .is_some_and(|p| !matches!(p.kind, Sent::Liveness));
        if busy && !collision {
            // Another of our exchanges is outstanding.
            return Err((refuse(NotifyType::TEMPORARY_FAILURE, Vec::new()), None));
        }
        let Some(config) = sa.config.as_ref() else {
            return Err((refuse(NotifyType::TEMPORARY_FAILURE, Vec::new()), None));
        };
        let Some((number, chosen)) = select(
            ProtocolId::IKE,
            proposals,
            &config.ike_proposals,
            IkeProposal::transforms,
        ) else {
            let ours: Vec<_> = config
                .ike_proposals
                .iter()
                .map(IkeProposal::transforms)
                .collect();
            let reason = explain_no_proposal("IKE SA rekey", &ours, proposals);
            return Err((
                refuse(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new()),
                Some(reason),
            ));
        };
        let syntax = |what: &str| {
            (
                refuse(NotifyType::INVALID_SYNTAX, Vec::new()),
                Some(format!("the peer's IKE SA rekey request {what}")),
            )
        };
        let spi_i = ike_spi(
            proposals
                .iter()
                .find(|p| p.number == number && p.protocol == ProtocolId::IKE),
        )
        .ok_or_else(|| syntax("has no 8-byte SPI"))?;
        let ni = inner
            .iter()
            .find_map(|p| match p {
                Payload::Nonce(n) => Some(n.clone()),
                _ => None,
            })
            .ok_or_else(|| syntax("has no Nonce"))?;
        let theirs = inner.iter().find_map(|p| match p {
            Payload::Ke(k) => Some(k),
            _ => None,
        });
        let Some(theirs) = theirs.filter(|k| k.group == chosen.dh.id()) else {
            let data = chosen.dh.id().to_be_bytes().to_vec();
            return Err((refuse(NotifyType::INVALID_KE_PAYLOAD, data), None));
        };
        let ke = KeyExchange::generate(chosen.dh, self.rng.as_mut())
            .map_err(|_| (refuse(NotifyType::TEMPORARY_FAILURE, Vec::new()), None))?;
        let shared = ke
            .shared_secret(&theirs.data)
            .map_err(|_| syntax("has an invalid KE public value"))?;
        let spi_r = self.random_spi();
        let nr = self.random(NONCE_LEN);
        let id = self.new_id();
        let their_lowest = lowest(&ni, &nr);
        let successor = Successor {
            id,
            role: Role::Responder,
            spi_i,
            spi_r,
            chosen,
            shared,
            ni,
            nr: nr.clone(),
        };
        let mut new = Self::successor(now, sa, successor).map_err(|reason| {
            (
                refuse(NotifyType::TEMPORARY_FAILURE, Vec::new()),
                Some(format!("the rekey of the IKE SA failed: {reason}")),
            )
        })?;
        if collision {
            // The new IKE SA waits until our own exchange tells which one survives.
            new.standby_for = Some(sa.id);
            if let Some(Sent::IkeRekey(ours)) = sa.pending.as_mut().map(|p| &mut p.kind) {
                ours.collision = Some(Collision {
                    sa: new.id,
                    lowest: their_lowest,
                });
            }
        } else {
            self.take_over(now, sa, &mut new);
            // The peer deletes the old IKE SA; forget it anyway if it does not.
            sa.expires = Some(now.saturating_add(HALF_OPEN_TIMEOUT));
        }
        self.sas.push(new);
        let mut proposal = chosen.to_proposal(number);
        proposal.spi = spi_r.to_vec();
        Ok(vec![
            Payload::Sa(SaPayload {
                proposals: vec![proposal],
            }),
            Payload::Nonce(nr),
            Payload::Ke(KePayload {
                group: chosen.dh.id(),
                data: ke.public_value().to_vec(),
            }),
        ])
    }

    /// Creates the IKE SA replacing `old` (RFC 7296 §2.18), established, without Child SAs.
    fn successor(now: Duration, old: &IkeSa, new: Successor) -> Result<IkeSa, Failure> {
        let (Some(old_negotiated), Some(old_keys)) = (old.negotiated, old.keys.as_ref()) else {
            return Err("internal error: no IKE SA keys".to_string());
        };
        // The rekey belongs to the old IKE SA, so SKEYSEED uses its PRF.
        let seed = rekey_skeyseed(
            old_negotiated.prf,
            &old_keys.sk_d,
            new.shared.as_bytes(),
            &new.ni,
            &new.nr,
        )
        .map_err(|e| format!("key derivation failed: {e}"))?;
        let keys = IkeSaKeys::derive(
            new.chosen.prf,
            &seed,
            &new.ni,
            &new.nr,
            &new.spi_i,
            &new.spi_r,
            IkeSaKeyLengths {
                encr: new.chosen.cipher.encr_key_len(),
                integ: new.chosen.cipher.integ_key_len(),
            },
        )
        .map_err(|e| format!("key derivation failed: {e}"))?;
        let mut sa = IkeSa::new(
            new.id,
            new.role,
            State::Established,
            (old.local, old.peer),
            now,
        );
        sa.nat = old.nat;
        sa.spi_i = new.spi_i;
        sa.spi_r = new.spi_r;
        sa.config = old.config.clone();
        sa.nonce_i = new.ni;
        sa.nonce_r = new.nr;
        sa.negotiated = Some(new.chosen);
        sa.keys = Some(keys);
        sa.established_at = Some(now);
        sa.peer_id = old.peer_id.clone();
        sa.peer_auth = old.peer_auth.clone();
        sa.peer_hashes = old.peer_hashes.clone();
        Ok(sa)
    }

    /// Moves the Child SAs and queued requests of `old` to `new` and reports
    /// [`Output::IkeRekeyed`].
    fn take_over(&mut self, now: Duration, old: &mut IkeSa, new: &mut IkeSa) {
        new.children = std::mem::take(&mut old.children);
        new.queue = old
            .queue
            .drain(..)
            .filter(|r| !matches!(r, Request::DeleteIke | Request::RekeyIke(_)))
            .collect();
        new.standby_for = None;
        new.expires = None;
        old.rekeyed_to = Some(new.id);
        self.outputs.push_back(Output::IkeRekeyed {
            old: old.id,
            new: new.id,
        });
        self.send_next(now, new);
    }
}
