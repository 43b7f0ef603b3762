// SPDX-License-Identifier: GPL-2.0
//! INFORMATIONAL exchanges (RFC 7296 §1.4): liveness checks and DELETE of the IKE SA or of
//! Child SAs, in both directions.

use std::time::Duration;

use super::exchange::{After, ChildState, Request, Sent};
use super::{Engine, IkeSa, Output, SaId, State};
use crate::codes::{ExchangeType, NotifyType, ProtocolId};
use crate::payload::{DeletePayload, NotifyPayload, Payload};

impl Engine {
    /// Deletes an IKE SA and with it all its Child SAs (INFORMATIONAL with a Delete payload).
    /// [`super::Output::Closed`] follows when the peer answers or the retransmissions give up. An IKE
    /// SA still being set up (as initiator) is abandoned at once with [`super::Output::Failed`];
    /// unknown or already closing IKE SAs are ignored.
    pub fn delete(&mut self, now: Duration, sa: SaId) {
        let Some(index) = self.sas.iter().position(|s| s.id == sa) else {
            return;
        };
        let mut ike = self.sas.swap_remove(index);
        match ike.state {
            State::Established => self.request(now, &mut ike, Request::DeleteIke),
            State::InitSent | State::AuthPending if ike.role == super::Role::Initiator => {
                self.fail_sa(&mut ike, "deleted before it was established".to_string());
            }
            _ => {}
        }
        self.put_back(now, ike);
    }

    /// Deletes one Child SA (INFORMATIONAL with a Delete payload for its inbound SPI);
    /// [`super::Output::RemoveChild`] follows when the peer answers. Unknown SAs are ignored.
    pub fn delete_child(&mut self, now: Duration, sa: SaId, inbound_spi: u32) {
        self.with_established(now, sa, |engine, ike| {
            let known = ike
                .children
                .iter()
                .any(|c| c.inbound_spi == inbound_spi && c.state != ChildState::Deleting);
            if known {
                engine.delete_children(now, ike, vec![inbound_spi]);
            }
        });
    }

    /// The Delete payload for our Child SAs with these inbound SPIs, if any still exists.
    pub(super) fn delete_children_request(
        &mut self,
        sa: &mut IkeSa,
        spis: Vec<u32>,
    ) -> Option<(Vec<Payload>, Sent)> {
        let spis: Vec<u32> = spis
            .into_iter()
            .filter(|spi| sa.children.iter().any(|c| c.inbound_spi == *spi))
            .collect();
        if spis.is_empty() {
            return None;
        }
        for spi in &spis {
            if let Some(child) = sa.child_by_inbound(*spi) {
                child.state = ChildState::Deleting;
            }
        }
        Some(child_delete(spis))
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

    /// Tells the peer that we reject its authentication, after its IKE_AUTH response (RFC 7296
    /// §2.21.2): one INFORMATIONAL request with N(AUTHENTICATION_FAILED), protected with the
    /// IKE SA's keys, sent once; no answer is awaited (the caller drops the IKE SA).
    pub(super) fn send_auth_failed(&mut self, sa: &mut IkeSa) {
        let notify = NotifyPayload::new(NotifyType::AUTHENTICATION_FAILED, Vec::new());
        self.send_once(sa, &[Payload::Notify(notify)], "AUTHENTICATION_FAILED");
    }

    /// Tells the peer, once and without waiting for an answer, that we deleted the IKE SA
    /// it considers up (e.g. we refused the Child SA of its IKE_AUTH answer).
    pub(super) fn send_ike_delete(&mut self, sa: &mut IkeSa) {
        self.send_once(
            sa,
            &[Payload::Delete(DeletePayload::IkeSa)],
            "a DELETE of the IKE SA",
        );
    }

    fn send_once(&mut self, sa: &mut IkeSa, payloads: &[Payload], what: &str) {
        let id = sa.next_message_id;
        let message = match self.seal(sa, ExchangeType::INFORMATIONAL, id, false, payloads) {
            Ok(bytes) => {
                sa.next_message_id = id.wrapping_add(1);
                self.outputs.push_back(Output::Send { to: sa.peer, bytes });
                format!("sent {what} to {} in INFORMATIONAL request {id}", sa.peer)
            }
            Err(reason) => format!("cannot send {what} to {}: {reason}", sa.peer),
        };
        self.outputs.push_back(Output::Debug { sa: sa.id, message });
    }

    /// Answers an INFORMATIONAL request: an empty one is a liveness check; Delete payloads
    /// remove the IKE SA or Child SAs (RFC 7296 §1.4.1); N(AUTHENTICATION_FAILED) (the peer
    /// refused our AUTH after IKE_AUTH, §2.21.2) removes the IKE SA like a Delete.
    pub(super) fn informational_request(
        &mut self,
        sa: &mut IkeSa,
        inner: &[Payload],
    ) -> (Vec<Payload>, After) {
        let mut ours = Vec::new();
        for payload in inner {
            match payload {
                Payload::Delete(DeletePayload::IkeSa) => {
                    let reason = format!("the peer {} deleted the IKE SA", sa.peer);
                    return (Vec::new(), After::Close(reason));
                }
                Payload::Notify(n) if n.notify_type == NotifyType::AUTHENTICATION_FAILED => {
                    let reason = format!(
                        "the peer {} rejected our authentication after IKE_AUTH (AUTHENTICATION_FAILED): it does not accept our AUTH or certificate; the IKE SA and its Child SAs are removed",
                        sa.peer
                    );
                    return (Vec::new(), After::Close(reason));
                }
                Payload::Delete(DeletePayload::ChildSas { protocol, spis })
                    if *protocol == ProtocolId::ESP =>
                {
                    for spi in spis {
                        let Some(child) = sa.children.iter().find(|c| c.outbound_spi == *spi)
                        else {
                            continue;
                        };
                        let inbound = child.inbound_spi;
                        // A Child SA we are deleting too is not named again (§1.4.1).
                        let we_delete_it = sa.pending.as_ref().is_some_and(
                            |p| matches!(&p.kind, Sent::DeleteChildren(s) if s.contains(&inbound)),
                        );
                        if !we_delete_it {
                            ours.push(inbound);
                        }
                        sa.remove_child(inbound, &mut self.outputs);
                    }
                }
                _ => {}
            }
        }
        let reply = if ours.is_empty() {
            Vec::new()
        } else {
            vec![Payload::Delete(DeletePayload::ChildSas {
                protocol: ProtocolId::ESP,
                spis: ours,
            })]
        };
        (reply, After::Nothing)
    }
}

/// An INFORMATIONAL request deleting the ESP Child SAs with these (our inbound) SPIs.
pub(super) fn child_delete(spis: Vec<u32>) -> (Vec<Payload>, Sent) {
    let payload = Payload::Delete(DeletePayload::ChildSas {
        protocol: ProtocolId::ESP,
        spis: spis.clone(),
    });
    (vec![payload], Sent::DeleteChildren(spis))
}
