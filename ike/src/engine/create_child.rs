// SPDX-License-Identifier: GPL-2.0
//! CREATE_CHILD_SA for Child SAs (RFC 7296 §1.3.1, §1.3.3): new and rekeyed Child SAs in
//! both roles, the new Child SA installed before the old one is deleted, and rekey
//! collisions (§2.8.1: the exchange with the lowest nonce loses, and its initiator deletes
//! its new Child SA). The negotiation itself is `child.rs`'s; our request is built there.

use std::time::Duration;

use super::base::Engine;
use super::child::{accept, Asked, InitiatorKeymat, ResponderKeymat};
use super::child_error::{ChildContext, ChildError};
use super::error::Error;
use super::ike_sa::{
    lowest, ChildEntry, ChildRequest, ChildState, Established, IkeSa, Refused, Request, Sent,
};
use super::payloads;
use super::types::Output;
use crate::codes::{NotifyType, ProtocolId};
use crate::payload::{NotifyPayload, Payload};
use crate::sa::Proposal;

impl Engine {
    /// The answer to our CREATE_CHILD_SA request for a Child SA.
    pub(super) fn child_response(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        up: &Established,
        request: ChildRequest,
        inner: &[Payload],
    ) {
        if let (Some(error), Some(old)) = (payloads::error_notify(inner), request.rekey) {
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
        let keymat = InitiatorKeymat::Fresh {
            ni: &request.nonce,
            ke: request.ke.as_ref(),
        };
        let keys = (up.keys.suite.prf, &up.keys.sk.sk_d);
        let (child, nr) = match accept(
            &request.offer,
            inner,
            keys,
            keymat,
            (sa.peer, sa.nat_hosts()),
        ) {
            Ok(accepted) => accepted,
            Err(error) => {
                let refused = matches!(error, ChildError::PeerRefused { .. });
                let reason = Error::Child {
                    context: ChildContext::Answered(request.op()),
                    error,
                };
                self.outputs.push_back(Output::RequestFailed {
                    sa: sa.id,
                    reason,
                    request: sa.failed_child_request(request.rekey, Some(request.offer.index)),
                });
                if !refused {
                    // The peer installed what it answered: have it remove that again.
                    let protocol = request
                        .offer
                        .offered
                        .first()
                        .map_or(ProtocolId::ESP, |(p, _)| p.cipher.protocol());
                    sa.queue
                        .push_back(Request::DeleteRefused(protocol, request.offer.inbound_spi));
                }
                return;
            }
        };
        let new_inbound = child.inbound.spi;
        sa.children
            .push(ChildEntry::new(&child, request.offer.index, now));
        self.install_child(sa, child);
        let Some(old) = request.rekey else {
            return;
        };
        let lost = request
            .collision
            .as_ref()
            .is_some_and(|theirs| lowest(&request.nonce, &nr) < *theirs);
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

    /// Answers the peer's CREATE_CHILD_SA request for a new or rekeyed Child SA.
    pub(super) fn answer_child_request(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        up: &Established,
        inner: &[Payload],
        proposals: &[Proposal],
    ) -> Result<Vec<Payload>, Refused> {
        let old = self.rekeyed_child(sa, inner)?;
        let asked = Asked {
            payloads: inner,
            proposals,
            children: &up.config.children,
            only: old.map(|(_, index)| index),
            prf: up.keys.suite.prf,
            sk_d: &up.keys.sk.sk_d,
            keymat: ResponderKeymat::Fresh {
                group: up.keys.suite.dh,
            },
            peer: sa.peer,
            nat: sa.nat_hosts(),
        };
        let answer = self.answer_child(asked).map_err(|refusal| {
            let why = Error::Child {
                context: ChildContext::Refused,
                error: refusal.why,
            };
            (refusal.notify, Some(why))
        })?;
        sa.children
            .push(ChildEntry::new(&answer.child, answer.index, now));
        self.install_child(sa, answer.child);
        if let Some((old, _)) = old {
            if let Some(entry) = sa.child_by_inbound(old) {
                entry.state = ChildState::Rekeyed;
            }
            if let Some(pending) = sa.pending.as_mut() {
                if let Sent::Child(ours) = &mut pending.kind {
                    if ours.rekey == Some(old) {
                        ours.collision = answer.lowest_nonce;
                    }
                }
            }
        }
        Ok(answer.reply)
    }

    /// The Child SA the request rekeys (REKEY_SA), as (inbound SPI, child configuration).
    fn rekeyed_child(
        &self,
        sa: &IkeSa,
        inner: &[Payload],
    ) -> Result<Option<(u32, usize)>, Refused> {
        let refused = |error| {
            Some(Error::Child {
                context: ChildContext::Refused,
                error,
            })
        };
        let Some(rekey) = payloads::notify(inner, NotifyType::REKEY_SA) else {
            return Ok(None);
        };
        let Some(spi) = payloads::esp_spi(&rekey.spi) else {
            let notify = NotifyPayload::new(NotifyType::INVALID_SYNTAX, Vec::new());
            return Err((notify, refused(ChildError::RequestRekeySpi)));
        };
        let named =
            |c: &&ChildEntry| c.outbound_spi == spi && c.cipher.protocol() == rekey.protocol;
        let Some(child) = sa.children.iter().find(named) else {
            let notify = NotifyPayload {
                protocol: rekey.protocol,
                spi: rekey.spi.clone(),
                notify_type: NotifyType::CHILD_SA_NOT_FOUND,
                data: Vec::new(),
            };
            return Err((notify, refused(ChildError::UnknownChild { spi })));
        };
        if child.state != ChildState::Installed {
            // Already rekeyed or being deleted (§2.8.1, §2.25): routine, not reported.
            let notify = NotifyPayload::new(NotifyType::TEMPORARY_FAILURE, Vec::new());
            return Err((notify, None));
        }
        Ok(Some((child.inbound_spi, child.child)))
    }
}
