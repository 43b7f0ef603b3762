// SPDX-License-Identifier: GPL-2.0
//! Our requests over an established IKE SA (RFC 7296 §2.1-§2.4): what each carries, built
//! when its turn comes (a Child SA's offer is `child.rs`'s); one outstanding at a time
//! (window size 1) and the others queued; retransmission with exponential backoff, then
//! giving up; liveness checks (DPD) after silence; closing.

use std::time::Duration;

use super::base::{Engine, NONCE_LEN};
use super::child::offer_payloads;
use super::child_error::ChildOp;
use super::error::{Attempt, CloseReason, Error, LocalError};
use super::ike_sa::{
    ChildOffer, ChildRequest, ChildState, Established, IkeRekeyRequest, IkeSa, Keys, Request, Sent,
    State,
};
use super::payloads::delete_children;
use super::types::{FailedRequest, Output, SaId, HALF_OPEN_TIMEOUT};
use crate::codes::{ExchangeType, NotifyType, ProtocolId};
use crate::crypto::KeyExchange;
use crate::payload::{DeletePayload, KePayload, NotifyPayload, Payload};
use crate::sa::SaPayload;

/// A request's payloads and what is kept of it until the answer; `None`: nothing to send.
type Built = Option<(Vec<Payload>, Sent)>;

impl Engine {
    /// Queues a request and sends it if nothing else is outstanding.
    pub(super) fn request(&mut self, now: Duration, sa: &mut IkeSa, request: Request) {
        if request == Request::DeleteIke {
            sa.queue
                .retain(|r| !matches!(r, Request::RekeyIke(_) | Request::Liveness));
            sa.queue.push_front(request);
            if let State::Established(up) = &sa.state {
                sa.state = State::Deleting(up.clone());
            }
        } else if !sa.queue.contains(&request) {
            sa.queue.push_back(request);
        }
        self.send_next(now, sa);
    }

    /// Sends the next queued request if none is outstanding (window size 1).
    pub(super) fn send_next(&mut self, now: Duration, sa: &mut IkeSa) {
        while sa.pending.is_none() {
            let Some(up) = sa.established() else {
                return;
            };
            let Some(request) = sa.queue.pop_front() else {
                return;
            };
            let failed = match &request {
                Request::NewChild(index) => sa.failed_child_request(None, Some(*index)),
                Request::RekeyChild(spi) => {
                    let index = sa.children.iter().find(|c| c.inbound_spi == *spi);
                    sa.failed_child_request(Some(*spi), index.map(|c| c.child))
                }
                Request::RekeyIke(_) => FailedRequest::IkeRekey,
                _ => FailedRequest::Other,
            };
            let reason = match self.build_request(sa, &up, request) {
                Ok(Some((payloads, kind))) => {
                    let id = sa.next_message_id;
                    let header = (kind.exchange_type(), id, false);
                    match sa.seal(&up.keys, header, &payloads, self.rng.as_mut()) {
                        Ok(bytes) => {
                            sa.next_message_id = id.wrapping_add(1);
                            self.send_request(now, sa, id, bytes, kind);
                            continue;
                        }
                        Err(e) => Error::CannotSend {
                            request: kind.describe(),
                            error: LocalError::Encrypt {
                                exchange: kind.exchange_type(),
                                error: e.to_string(),
                            },
                        },
                    }
                }
                Ok(None) => continue,
                Err(reason) => reason,
            };
            self.outputs.push_back(Output::RequestFailed {
                sa: sa.id,
                reason,
                request: failed,
            });
        }
    }

    /// What a queued request carries.
    fn build_request(
        &mut self,
        sa: &mut IkeSa,
        up: &Established,
        request: Request,
    ) -> Result<Built, Error> {
        Ok(match request {
            Request::Liveness => Some((Vec::new(), Sent::Liveness)),
            Request::DeleteIke => {
                Some((vec![Payload::Delete(DeletePayload::IkeSa)], Sent::DeleteIke))
            }
            Request::DeleteChildren(spis) => delete_children_request(sa, spis),
            Request::DeleteRefused(protocol, spi) => Some(child_delete(vec![(protocol, spi)])),
            Request::RekeyChild(spi) => return self.child_request(sa, up, Some(spi), 0),
            Request::NewChild(child) => return self.child_request(sa, up, None, child),
            Request::RekeyIke(id) => return self.ike_rekey_request(sa, up, id),
        })
    }

    /// Our IKE SA rekey request (RFC 7296 §1.3.2): the current suite first, as our KE uses
    /// its group. `None` once the IKE SA is closing or replaced.
    fn ike_rekey_request(
        &mut self,
        sa: &IkeSa,
        up: &Established,
        id: SaId,
    ) -> Result<Built, Error> {
        if !matches!(sa.state, State::Established(_)) || sa.rekeyed_to.is_some() {
            return Ok(None);
        }
        let current = up.keys.suite;
        let offered: Vec<_> = std::iter::once(current)
            .chain(
                up.config
                    .ike_proposals
                    .iter()
                    .copied()
                    .filter(|p| *p != current),
            )
            .collect();
        let ke = KeyExchange::generate(current.dh, self.rng.as_mut()).map_err(|e| {
            Error::CannotStart {
                attempt: Attempt::IkeRekey,
                cause: Box::new(Error::Local(LocalError::DhKey(e.to_string()))),
            }
        })?;
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
                group: current.dh.id(),
                data: ke.public_value().to_vec(),
            }),
        ];
        let request = IkeRekeyRequest {
            id,
            spi,
            nonce,
            ke,
            offered,
            collision: None,
        };
        Ok(Some((payloads, Sent::IkeRekey(Box::new(request)))))
    }

    /// Builds our CREATE_CHILD_SA request for a Child SA: a rekey of the one with inbound SPI
    /// `rekey` (same configuration, mode and selectors), or a new one of child configuration
    /// `new_child`. `None` when it became pointless (the Child SA is gone or replaced).
    fn child_request(
        &mut self,
        sa: &IkeSa,
        up: &Established,
        rekey: Option<u32>,
        new_child: usize,
    ) -> Result<Built, Error> {
        let op = rekey.map_or(ChildOp::New, ChildOp::Rekey);
        let cannot = |cause| Error::CannotStart {
            attempt: Attempt::Child(op),
            cause: Box::new(cause),
        };
        let entry = match rekey {
            None => None,
            Some(spi) => {
                let installed = sa
                    .children
                    .iter()
                    .find(|c| c.inbound_spi == spi && c.state == ChildState::Installed);
                let Some(entry) = installed else {
                    return Ok(None);
                };
                Some(entry)
            }
        };
        let index = entry.map_or(new_child, |e| e.child);
        let protocol = entry.map_or(ProtocolId::ESP, |e| e.cipher.protocol());
        let children = &up.config.children;
        let config = children.get(index).ok_or_else(|| {
            cannot(Error::NoChild {
                connection: Some(up.config.name.clone()),
                index,
                count: children.len(),
            })
        })?;
        let inbound_spi = self
            .allocate_child_spi(sa.peer)
            .map_err(|e| cannot(Error::Spi(e)))?;
        let dh = config.pfs.then_some(up.keys.suite.dh);
        let ke = match dh {
            Some(group) => Some(
                KeyExchange::generate(group, self.rng.as_mut())
                    .map_err(|e| cannot(Error::Local(LocalError::DhKey(e.to_string()))))?,
            ),
            None => None,
        };
        let nonce = self.random(NONCE_LEN);
        let mut offer = ChildOffer::of(index, config, inbound_spi, dh);
        if let Some(entry) = entry {
            offer.mode = entry.mode;
            offer.ts_local = entry.ts_local.clone();
            offer.ts_remote = entry.ts_remote.clone();
        }
        let mut payloads: Vec<Payload> = rekey
            .map(|old| {
                Payload::Notify(NotifyPayload {
                    protocol,
                    spi: old.to_be_bytes().to_vec(),
                    notify_type: NotifyType::REKEY_SA,
                    data: Vec::new(),
                })
            })
            .into_iter()
            .collect();
        payloads.extend(offer_payloads(&offer, Some((&nonce, ke.as_ref()))));
        let request = ChildRequest {
            offer,
            rekey,
            nonce,
            ke,
            collision: None,
        };
        Ok(Some((payloads, Sent::Child(Box::new(request)))))
    }

    /// Queues the DELETE of our Child SAs with these inbound SPIs.
    pub(super) fn delete_children(&mut self, now: Duration, sa: &mut IkeSa, spis: Vec<u32>) {
        for spi in &spis {
            if let Some(child) = sa.child_by_inbound(*spi) {
                child.state = ChildState::Deleting;
            }
        }
        self.request(now, sa, Request::DeleteChildren(spis));
    }

    /// Sends one INFORMATIONAL request with `payloads`, protected with `keys`, without
    /// waiting for an answer (`what` names it in the debug output).
    pub(super) fn send_once(
        &mut self,
        sa: &mut IkeSa,
        keys: &Keys,
        payloads: &[Payload],
        what: &str,
    ) {
        let id = sa.next_message_id;
        let header = (ExchangeType::INFORMATIONAL, id, false);
        let message = match sa.seal(keys, header, payloads, self.rng.as_mut()) {
            Ok(bytes) => {
                sa.next_message_id = id.wrapping_add(1);
                self.send_to_peer(sa, bytes);
                format!("sent {what} to {} in INFORMATIONAL request {id}", sa.peer)
            }
            Err(e) => {
                let reason = LocalError::Encrypt {
                    exchange: ExchangeType::INFORMATIONAL,
                    error: e.to_string(),
                };
                format!("cannot send {what} to {}: {reason}", sa.peer)
            }
        };
        self.outputs.push_back(Output::Debug { sa: sa.id, message });
    }

    /// Closes an established IKE SA and reports it (quietly when it was rekeyed, or is a new
    /// IKE SA of a rekey collision that never took over, RFC 7296 §2.8.2). With `linger`, it
    /// is kept a while to answer retransmissions of the last request.
    pub(super) fn close_sa(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        reason: CloseReason,
        linger: bool,
    ) {
        if matches!(sa.state, State::Closed) {
            return;
        }
        sa.state = State::Closed;
        sa.pending = None;
        sa.queue.clear();
        sa.children.clear();
        sa.expires = Some(if linger {
            now.saturating_add(HALF_OPEN_TIMEOUT)
        } else {
            now
        });
        if sa.rekeyed_to.is_none() && sa.standby_for.is_none() && !sa.redundant {
            self.outputs.push_back(Output::Closed { sa: sa.id, reason });
        }
    }

    /// The earliest time `run_timers` has something to do.
    pub(super) fn earliest_timer(&self) -> Option<Duration> {
        self.sas
            .iter()
            .flat_map(|sa| {
                [
                    sa.pending.as_ref().map(|p| p.deadline),
                    sa.dpd_deadline(),
                    sa.expires,
                ]
            })
            .flatten()
            .min()
    }

    /// Retransmits requests whose timeout passed and gives up after the last one, sends due
    /// liveness checks, forgets half-open and closed IKE SAs that expired.
    pub(super) fn run_timers(&mut self, now: Duration) {
        let mut sas = std::mem::take(&mut self.sas);
        for sa in &mut sas {
            if sa.expires.is_some_and(|t| now >= t) {
                continue; // purged below
            }
            if let Some(pending) = sa.pending.as_mut() {
                if now < pending.deadline {
                    continue;
                }
                if pending.transmissions < self.policy.max_transmissions {
                    pending.transmissions = pending.transmissions.saturating_add(1);
                    pending.interval = pending.interval.saturating_mul(2);
                    pending.deadline = now.saturating_add(pending.interval);
                    let bytes = pending.bytes.clone();
                    self.send_to_peer(sa, bytes);
                    continue;
                }
                if matches!(pending.kind, Sent::Setup) {
                    let reason = Error::NoResponse {
                        peer: sa.peer,
                        transmissions: pending.transmissions,
                        message_id: pending.message_id,
                    };
                    self.fail_sa(sa, reason);
                } else {
                    let reason = CloseReason::NoAnswer {
                        peer: sa.peer,
                        request: pending.kind.describe(),
                        transmissions: pending.transmissions,
                    };
                    self.close_sa(now, sa, reason, false);
                }
                continue;
            }
            if sa.dpd_deadline().is_some_and(|t| now >= t) {
                self.request(now, sa, Request::Liveness);
            }
        }
        self.sas = sas;
        self.purge(now);
    }
}

/// The Delete payload for our Child SAs with these inbound SPIs, if any still exists.
fn delete_children_request(sa: &mut IkeSa, spis: Vec<u32>) -> Built {
    let spis: Vec<u32> = spis
        .into_iter()
        .filter(|spi| sa.children.iter().any(|c| c.inbound_spi == *spi))
        .collect();
    if spis.is_empty() {
        return None;
    }
    let mut named = Vec::new();
    for spi in spis {
        if let Some(child) = sa.child_by_inbound(spi) {
            child.state = ChildState::Deleting;
            named.push((child.cipher.protocol(), spi));
        }
    }
    Some(child_delete(named))
}

/// An INFORMATIONAL request deleting our Child SAs with these protocols and inbound SPIs: one
/// Delete payload per protocol (RFC 7296 §3.11).
fn child_delete(spis: Vec<(ProtocolId, u32)>) -> (Vec<Payload>, Sent) {
    let payloads = delete_children(&spis);
    (
        payloads,
        Sent::DeleteChildren(spis.into_iter().map(|(_, spi)| spi).collect()),
    )
}
