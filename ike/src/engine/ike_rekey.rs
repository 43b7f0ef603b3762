// SPDX-License-Identifier: GPL-2.0
//! Rekeying the IKE SA with CREATE_CHILD_SA (RFC 7296 §1.3.2, §2.18): new SPIs, a new DH
//! exchange, SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr); the Child SAs move to the new
//! IKE SA and the rekey's initiator deletes the old one. When both peers rekey at once
//! (§2.8.2), each answers the other; once both exchanges are done, the new IKE SA of the
//! exchange with the lowest of the four nonces is deleted by its initiator, the other one
//! takes the Child SAs over, and the initiator of that survivor deletes the old IKE SA. Our
//! request is built in `requests.rs`.

use std::sync::Arc;
use std::time::Duration;

use super::base::{Engine, NONCE_LEN};
use super::error::{Error, IkeRekeyError};
use super::ike_sa::{
    lowest, Collision, Established, IkeRekeyRequest, IkeSa, Keys, Refused, Request, Sent, State,
};
use super::payloads;
use super::proposal::{accepted, select, IkeProposal};
use super::types::{FailedRequest, Output, Role, SaId, HALF_OPEN_TIMEOUT};
use crate::codes::{NotifyType, ProtocolId};
use crate::crypto::KeyExchange;
use crate::keys::{rekey_skeyseed, IkeSaKeyLengths, IkeSaKeys};
use crate::payload::{KePayload, NotifyPayload, Payload};
use crate::sa::{Proposal, SaPayload};
use crate::secret::Secret;

/// The parameters of a new IKE SA replacing an old one.
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

/// What the peer's answer to our rekey gives: its choice, SPI and nonce, and g^ir.
type Answered = (IkeProposal, [u8; 8], Vec<u8>, Secret);

impl Engine {
    /// The answer to our IKE SA rekey request.
    pub(super) fn ike_rekey_response(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        up: &Established,
        ex: IkeRekeyRequest,
        inner: &[Payload],
    ) {
        // The peer's colliding rekey, if its new IKE SA still waits for the outcome.
        let theirs = ex.collision.as_ref().and_then(|c| {
            self.sas
                .iter()
                .any(|s| {
                    s.id == c.sa && s.standby_for == Some(sa.id) && s.state.established().is_some()
                })
                .then(|| (c.sa, c.lowest.clone()))
        });
        let created = rekey_from_response(&ex, inner).and_then(|(chosen, spi_r, nr, shared)| {
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
            successor_of(now, sa, up, successor).map(|new| (new, ours))
        });
        let (mut new, ours) = match created {
            Ok(created) => created,
            Err(reason) => {
                if let Some((id, _)) = theirs {
                    // Only the peer's rekey completed (§2.8.2; e.g. it answered
                    // TEMPORARY_FAILURE because it finished first): its IKE SA takes over,
                    // and the peer deletes the old one.
                    self.hand_over(now, sa, id);
                } else if sa.rekeyed_to.is_none() {
                    self.outputs.push_back(Output::RequestFailed {
                        sa: sa.id,
                        reason: Error::IkeRekeyFailed(reason),
                        request: FailedRequest::IkeRekey,
                    });
                }
                return;
            }
        };
        // Already handed over, or our exchange has the lowest nonce: its IKE SA is redundant
        // and we, its initiator, delete it (§2.8.2).
        let lost =
            sa.rekeyed_to.is_some() || theirs.as_ref().is_some_and(|(_, lowest)| ours < *lowest);
        if lost {
            new.redundant = true;
            self.request(now, &mut new, Request::DeleteIke);
            self.sas.push(new);
            if let Some((id, _)) = theirs {
                self.hand_over(now, sa, id);
            }
            return;
        }
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
            .position(|s| s.id == old && s.rekeyed_to.is_none() && s.state.established().is_some())
        else {
            return;
        };
        let mut old = self.sas.swap_remove(index);
        self.take_over(now, &mut old, new);
        old.expires = Some(now.saturating_add(HALF_OPEN_TIMEOUT));
        self.sas.push(old);
    }

    /// Answers the peer's IKE SA rekey request.
    pub(super) fn answer_ike_rekey(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        up: &Established,
        inner: &[Payload],
        proposals: &[Proposal],
    ) -> Result<Vec<Payload>, Refused> {
        let refuse = |notify_type, why: Option<IkeRekeyError>| {
            let notify = NotifyPayload::new(notify_type, Vec::new());
            (notify, why.map(Error::IkeRekeyRefused))
        };
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
            return Err(refuse(NotifyType::TEMPORARY_FAILURE, None));
        }
        let ours = &up.config.ike_proposals;
        let Some((number, chosen)) =
            select(ProtocolId::IKE, proposals, ours, IkeProposal::transforms)
        else {
            let why = IkeRekeyError::NoProposalChosen {
                ours: ours.iter().map(IkeProposal::transforms).collect(),
                theirs: proposals.to_vec(),
            };
            return Err(refuse(NotifyType::NO_PROPOSAL_CHOSEN, Some(why)));
        };
        let syntax = |why| refuse(NotifyType::INVALID_SYNTAX, Some(why));
        let spi_i = payloads::ike_spi(
            proposals
                .iter()
                .find(|p| p.number == number && p.protocol == ProtocolId::IKE),
        )
        .ok_or_else(|| syntax(IkeRekeyError::RequestSpi))?;
        let ni = payloads::nonce(inner)
            .ok_or_else(|| syntax(IkeRekeyError::RequestNonce))?
            .clone();
        let Some(theirs) = payloads::ke(inner).filter(|k| k.group == chosen.dh.id()) else {
            let data = chosen.dh.id().to_be_bytes().to_vec();
            return Err((
                NotifyPayload::new(NotifyType::INVALID_KE_PAYLOAD, data),
                None,
            ));
        };
        let ke = KeyExchange::generate(chosen.dh, self.rng.as_mut())
            .map_err(|_| refuse(NotifyType::TEMPORARY_FAILURE, None))?;
        let shared = ke
            .shared_secret(&theirs.data)
            .map_err(|_| syntax(IkeRekeyError::RequestInvalidKe))?;
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
        let mut new = successor_of(now, sa, up, successor).map_err(|reason| {
            let notify = NotifyPayload::new(NotifyType::TEMPORARY_FAILURE, Vec::new());
            (notify, Some(Error::IkeRekeyFailed(reason)))
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

/// Checks the peer's answer to our IKE SA rekey request.
fn rekey_from_response(ex: &IkeRekeyRequest, inner: &[Payload]) -> Result<Answered, IkeRekeyError> {
    if let Some(error) = payloads::error_notify(inner) {
        return Err(IkeRekeyError::PeerAnswered(error.notify_type));
    }
    let proposals = payloads::proposals(inner);
    let chosen = accepted(
        ProtocolId::IKE,
        &proposals,
        &ex.offered,
        IkeProposal::transforms,
    )
    .ok_or(IkeRekeyError::NotOffered)?;
    let spi_r = payloads::ike_spi(proposals.first()).ok_or(IkeRekeyError::AnswerSpi)?;
    let nr = payloads::nonce(inner)
        .ok_or(IkeRekeyError::AnswerNonce)?
        .clone();
    let ke = payloads::ke(inner).ok_or(IkeRekeyError::AnswerKe)?;
    if ke.group != chosen.dh.id() || ex.ke.group() != chosen.dh {
        return Err(IkeRekeyError::AnswerKeGroup {
            theirs: ke.group,
            ours: ex.ke.group().id(),
        });
    }
    let shared = ex
        .ke
        .shared_secret(&ke.data)
        .map_err(|e| IkeRekeyError::AnswerKeUnusable(e.to_string()))?;
    Ok((chosen, spi_r, nr, shared))
}

/// The IKE SA replacing `old` (RFC 7296 §2.18), established, without Child SAs.
fn successor_of(
    now: Duration,
    old: &IkeSa,
    up: &Established,
    new: Successor,
) -> Result<IkeSa, IkeRekeyError> {
    let failed = |e: crate::keys::KeyError| IkeRekeyError::KeyDerivation(e.to_string());
    // The rekey belongs to the old IKE SA, so SKEYSEED uses its PRF.
    let seed = rekey_skeyseed(
        up.keys.suite.prf,
        &up.keys.sk.sk_d,
        new.shared.as_bytes(),
        &new.ni,
        &new.nr,
    )
    .map_err(failed)?;
    let sk = IkeSaKeys::derive(
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
    .map_err(failed)?;
    let state = State::Established(Arc::new(Established {
        config: up.config.clone(),
        keys: Keys {
            suite: new.chosen,
            sk,
        },
        peer_id: up.peer_id.clone(),
        peer_auth: up.peer_auth.clone(),
        at: now,
    }));
    let mut sa = IkeSa::new(new.id, new.role, state, (old.local, old.peer), now);
    sa.nat = old.nat;
    sa.encap = old.encap;
    sa.spi_i = new.spi_i;
    sa.spi_r = new.spi_r;
    Ok(sa)
}
