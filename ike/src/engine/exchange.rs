// SPDX-License-Identifier: GPL-2.0
//! Exchanges over an established IKE SA (RFC 7296 §2.2, §2.3): separate message ID counters
//! for the requests we send and those we receive, window size 1 in both directions, a queue
//! of our requests, retransmission, liveness checks (DPD) and closing.

use std::time::Duration;

use super::create_child::ChildExchange;
use super::ike_rekey::IkeRekeyExchange;
use super::{
    sk_keys, Engine, FailedRequest, Failure, IkeSa, Output, Role, SaId, State, HALF_OPEN_TIMEOUT,
};
use crate::codes::ExchangeType;
use crate::header::HeaderFlags;
use crate::message::Message;
use crate::payload::Payload;
use crate::traffic_selector::TrafficSelector;

use super::{ChildSa, EspCipher, Mode};

/// A request we want to send once the previous one is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Request {
    /// Empty INFORMATIONAL.
    Liveness,
    /// INFORMATIONAL with a Delete payload for the IKE SA.
    DeleteIke,
    /// INFORMATIONAL deleting Child SAs, by our inbound SPIs.
    DeleteChildren(Vec<u32>),
    /// INFORMATIONAL deleting a Child SA the peer created but we refused (RFC 7296 §2.9), by
    /// the inbound SPI we had offered for it.
    DeleteRefused(u32),
    /// CREATE_CHILD_SA rekeying the Child SA with this inbound SPI.
    RekeyChild(u32),
    /// CREATE_CHILD_SA for an additional Child SA of this child configuration (index).
    NewChild(usize),
    /// CREATE_CHILD_SA rekeying the IKE SA; the new IKE SA gets this id.
    RekeyIke(SaId),
}

/// What an outstanding request was about (kept with its retransmission state).
#[derive(Debug)]
pub(super) enum Sent {
    /// IKE_SA_INIT or IKE_AUTH.
    Setup,
    Liveness,
    DeleteIke,
    DeleteChildren(Vec<u32>),
    Child(Box<ChildExchange>),
    IkeRekey(Box<IkeRekeyExchange>),
}

impl Sent {
    fn describe(&self) -> String {
        match self {
            Sent::Setup => "IKE_SA_INIT/IKE_AUTH".to_string(),
            Sent::Liveness => "a liveness check".to_string(),
            Sent::DeleteIke => "the DELETE of the IKE SA".to_string(),
            Sent::DeleteChildren(spis) => format!("the DELETE of Child SA {}", spi_list(spis)),
            Sent::Child(ex) => match ex.rekey {
                Some(old) => format!("the rekey of Child SA {old:08x}"),
                None => "the creation of a Child SA".to_string(),
            },
            Sent::IkeRekey(_) => "the rekey of the IKE SA".to_string(),
        }
    }

    fn exchange_type(&self) -> ExchangeType {
        match self {
            Sent::Setup => ExchangeType::IKE_AUTH,
            Sent::Liveness | Sent::DeleteIke | Sent::DeleteChildren(_) => {
                ExchangeType::INFORMATIONAL
            }
            Sent::Child(_) | Sent::IkeRekey(_) => ExchangeType::CREATE_CHILD_SA,
        }
    }
}

/// "0000abcd, 0000abce".
pub(super) fn spi_list(spis: &[u32]) -> String {
    let list: Vec<String> = spis.iter().map(|s| format!("{s:08x}")).collect();
    list.join(", ")
}

/// Where a Child SA stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ChildState {
    Installed,
    /// Replaced by a rekey the peer started; the peer deletes it.
    Rekeyed,
    /// Our DELETE for it is queued or sent.
    Deleting,
}

/// A Child SA as the engine remembers it (no keys).
#[derive(Clone, Debug)]
pub(super) struct ChildEntry {
    pub(super) inbound_spi: u32,
    pub(super) outbound_spi: u32,
    pub(super) cipher: EspCipher,
    pub(super) mode: Mode,
    pub(super) ts_local: Vec<TrafficSelector>,
    pub(super) ts_remote: Vec<TrafficSelector>,
    /// The index of its child configuration (kept by rekeys).
    pub(super) child: usize,
    pub(super) installed_at: Duration,
    pub(super) state: ChildState,
}

impl ChildEntry {
    pub(super) fn new(child: &ChildSa, index: usize, now: Duration) -> Self {
        Self {
            inbound_spi: child.inbound.spi,
            outbound_spi: child.outbound.spi,
            cipher: child.cipher,
            mode: child.mode,
            ts_local: child.ts_local.clone(),
            ts_remote: child.ts_remote.clone(),
            child: index,
            installed_at: now,
            state: ChildState::Installed,
        }
    }
}

/// What to do after answering a request.
pub(super) enum After {
    Nothing,
    /// Close the IKE SA (the peer deleted it) with this reason.
    Close(String),
}

impl IkeSa {
    /// How the failure of our CREATE_CHILD_SA request for child configuration `index`
    /// (rekeying the Child SA with inbound SPI `rekey`, or creating a new one) is reported.
    pub(super) fn failed_child_request(
        &self,
        rekey: Option<u32>,
        index: Option<usize>,
    ) -> FailedRequest {
        let name = index
            .and_then(|i| self.child_config(i).ok())
            .map(|c| c.name.clone());
        match rekey {
            Some(spi) => FailedRequest::ChildRekey {
                spi,
                child: name.unwrap_or_default(),
            },
            None => name.map_or(FailedRequest::Other, FailedRequest::NewChild),
        }
    }

    pub(super) fn child_by_inbound(&mut self, spi: u32) -> Option<&mut ChildEntry> {
        self.children.iter_mut().find(|c| c.inbound_spi == spi)
    }

    /// Removes a Child SA and reports it.
    pub(super) fn remove_child(
        &mut self,
        inbound_spi: u32,
        out: &mut std::collections::VecDeque<Output>,
    ) {
        if let Some(index) = self
            .children
            .iter()
            .position(|c| c.inbound_spi == inbound_spi)
        {
            let child = self.children.remove(index);
            out.push_back(Output::RemoveChild {
                sa: self.id,
                inbound_spi: child.inbound_spi,
                outbound_spi: child.outbound_spi,
            });
        }
    }

    /// When the liveness check is due, if one is configured and nothing is outstanding.
    fn dpd_deadline(&self) -> Option<Duration> {
        let delay = self.config.as_ref()?.dpd_delay?;
        (self.state == State::Established
            && self.rekeyed_to.is_none()
            && self.standby_for.is_none()
            && !self.redundant
            && self.pending.is_none()
            && self.queue.is_empty())
        .then(|| self.last_received.saturating_add(delay))
    }
}

impl Engine {
    /// The earliest time [`Engine::tick`] has something to do: a retransmission, a liveness
    /// check or forgetting an expired IKE SA.
    pub fn next_timeout(&self) -> Option<Duration> {
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

    /// Advances time: retransmits requests whose timeout passed and gives up after the last
    /// one, sends due liveness checks, forgets half-open and closed IKE SAs that expired.
    pub fn tick(&mut self, now: Duration) {
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
                    self.outputs.push_back(Output::Send {
                        to: sa.peer,
                        bytes: pending.bytes.clone(),
                    });
                    continue;
                }
                if matches!(pending.kind, Sent::Setup) {
                    let reason = format!(
                        "no response from {} after {} transmissions of message {}",
                        sa.peer, pending.transmissions, pending.message_id
                    );
                    self.fail_sa(sa, reason);
                } else {
                    let reason = format!(
                        "no answer from {} to {} after {} transmissions; the peer is unreachable or lost the IKE SA",
                        sa.peer,
                        pending.kind.describe(),
                        pending.transmissions
                    );
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

    /// Closes an established IKE SA and reports it (quietly when it was rekeyed, or is a new
    /// IKE SA of a rekey collision that never took over, RFC 7296 §2.8.2). With
    /// `linger`, it is kept a while to answer retransmissions of the last request.
    pub(super) fn close_sa(&mut self, now: Duration, sa: &mut IkeSa, reason: String, linger: bool) {
        if sa.state == State::Closed {
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

    /// Queues a request and sends it if nothing else is outstanding.
    pub(super) fn request(&mut self, now: Duration, sa: &mut IkeSa, request: Request) {
        if request == Request::DeleteIke {
            sa.queue
                .retain(|r| !matches!(r, Request::RekeyIke(_) | Request::Liveness));
            sa.queue.push_front(request);
            sa.state = State::Deleting;
        } else if !sa.queue.contains(&request) {
            sa.queue.push_back(request);
        }
        self.send_next(now, sa);
    }

    /// Sends the next queued request if none is outstanding (window size 1).
    pub(super) fn send_next(&mut self, now: Duration, sa: &mut IkeSa) {
        while sa.pending.is_none() && sa.state.usable() {
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
            let built = match request {
                Request::Liveness => Ok(Some((Vec::new(), Sent::Liveness))),
                Request::DeleteIke => Ok(Some((
                    vec![Payload::Delete(crate::payload::DeletePayload::IkeSa)],
                    Sent::DeleteIke,
                ))),
                Request::DeleteChildren(spis) => Ok(self.delete_children_request(sa, spis)),
                Request::DeleteRefused(spi) => {
                    Ok(Some(super::informational::child_delete(vec![spi])))
                }
                Request::RekeyChild(spi) => self.child_request(sa, Some(spi), 0),
                Request::NewChild(child) => self.child_request(sa, None, child),
                Request::RekeyIke(id) => self.ike_rekey_request(sa, id),
            };
            match built {
                Ok(Some((payloads, kind))) => {
                    let id = sa.next_message_id;
                    let exchange = kind.exchange_type();
                    match self.seal(sa, exchange, id, false, &payloads) {
                        Ok(bytes) => {
                            sa.next_message_id = id.wrapping_add(1);
                            self.send_request(now, sa, id, bytes, kind);
                        }
                        Err(reason) => self.outputs.push_back(Output::RequestFailed {
                            sa: sa.id,
                            reason: format!("cannot send {}: {reason}", kind.describe()),
                            request: failed,
                        }),
                    }
                }
                Ok(None) => {}
                Err(reason) => self.outputs.push_back(Output::RequestFailed {
                    sa: sa.id,
                    reason,
                    request: failed,
                }),
            }
        }
    }

    /// Encrypts a message of this IKE SA.
    pub(super) fn seal(
        &mut self,
        sa: &IkeSa,
        exchange_type: ExchangeType,
        message_id: u32,
        response: bool,
        payloads: &[Payload],
    ) -> Result<Vec<u8>, Failure> {
        let (Some(keys), Some(negotiated)) = (sa.keys.as_ref(), sa.negotiated) else {
            return Err("internal error: no IKE SA keys".to_string());
        };
        let message = Message {
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            exchange_type,
            flags: HeaderFlags {
                initiator: sa.role == Role::Initiator,
                response,
                ..HeaderFlags::default()
            },
            message_id,
            payloads: Vec::new(),
        };
        let keys = sk_keys(negotiated.cipher, keys, sa.role);
        crate::crypto::seal(&keys, &message, payloads, self.rng.as_mut())
            .map_err(|e| format!("cannot encrypt {exchange_type}: {e}"))
    }

    /// Decrypts a message from the peer of this IKE SA.
    fn open_from_peer(sa: &IkeSa, message: &Message, raw: &[u8]) -> Option<Vec<Payload>> {
        let (keys, negotiated) = (sa.keys.as_ref()?, sa.negotiated?);
        let peer = match sa.role {
            Role::Initiator => Role::Responder,
            Role::Responder => Role::Initiator,
        };
        crate::crypto::open(&sk_keys(negotiated.cipher, keys, peer), raw, message).ok()
    }

    /// A request from the peer of an existing IKE SA.
    pub(super) fn handle_request(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        request: &Message,
        raw: &[u8],
    ) {
        if let Some((id, bytes)) = &sa.cached_response {
            if *id == request.message_id {
                self.outputs.push_back(Output::Send {
                    to: sa.peer,
                    bytes: bytes.clone(),
                });
                return;
            }
        }
        if sa.state == State::AuthPending && sa.role == Role::Responder {
            self.responder_request(now, sa, request, raw);
            return;
        }
        let exchange = request.exchange_type;
        if !sa.state.usable()
            || request.message_id != sa.next_request_id
            || !(exchange == ExchangeType::INFORMATIONAL
                || exchange == ExchangeType::CREATE_CHILD_SA)
        {
            return;
        }
        let Some(inner) = Self::open_from_peer(sa, request, raw) else {
            return; // not authentic: drop silently
        };
        sa.next_request_id = sa.next_request_id.wrapping_add(1);
        sa.last_received = now;
        let deletes_ike = inner.iter().any(|p| match p {
            Payload::Delete(crate::payload::DeletePayload::IkeSa) => true,
            Payload::Notify(n) => {
                exchange == ExchangeType::INFORMATIONAL
                    && n.notify_type == crate::codes::NotifyType::AUTHENTICATION_FAILED
            }
            _ => false,
        });
        if sa.standby_for.is_some() && !deletes_ike {
            // The peer uses this new IKE SA of a rekey collision: it survives (§2.8.2).
            self.adopt_standby(now, sa);
        }
        let (reply, after) = if exchange == ExchangeType::INFORMATIONAL {
            self.informational_request(sa, &inner)
        } else {
            self.create_child_request(now, sa, &inner)
        };
        match self.seal(sa, exchange, request.message_id, true, &reply) {
            Ok(bytes) => {
                sa.cached_response = Some((request.message_id, bytes.clone()));
                self.outputs.push_back(Output::Send { to: sa.peer, bytes });
            }
            Err(reason) => {
                self.outputs.push_back(Output::RequestFailed {
                    sa: sa.id,
                    reason,
                    request: FailedRequest::Peer,
                });
            }
        }
        match after {
            After::Nothing => self.send_next(now, sa),
            After::Close(reason) => {
                self.collision_before_delete(now, sa);
                self.close_sa(now, sa, reason, true);
            }
        }
    }

    /// A response from the peer of an existing IKE SA.
    pub(super) fn handle_response(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        response: &Message,
        raw: &[u8],
    ) {
        let Some(pending) = sa.pending.as_ref() else {
            return; // nothing outstanding: a late duplicate
        };
        if pending.message_id != response.message_id
            || pending.kind.exchange_type() != response.exchange_type
        {
            return;
        }
        if matches!(pending.kind, Sent::Setup) {
            self.initiator_response(now, sa, response, raw);
            return;
        }
        if !sa.state.usable() {
            return;
        }
        let Some(inner) = Self::open_from_peer(sa, response, raw) else {
            return; // not authentic: drop, keep retransmitting
        };
        let Some(pending) = sa.pending.take() else {
            return;
        };
        sa.last_received = now;
        match pending.kind {
            Sent::Setup | Sent::Liveness => {}
            Sent::DeleteIke => {
                let reason = format!("we deleted the IKE SA with {}", sa.peer);
                self.close_sa(now, sa, reason, false);
                return;
            }
            Sent::DeleteChildren(spis) => {
                for spi in spis {
                    sa.remove_child(spi, &mut self.outputs);
                }
            }
            Sent::Child(ex) => self.child_response(now, sa, *ex, &inner),
            Sent::IkeRekey(ex) => self.ike_rekey_response(now, sa, *ex, &inner),
        }
        self.send_next(now, sa);
    }
}
