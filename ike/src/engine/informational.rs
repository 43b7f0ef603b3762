// SPDX-License-Identifier: GPL-2.0
//! The peer's INFORMATIONAL requests (RFC 7296 §1.4): an empty one is a liveness check;
//! Delete payloads remove the IKE SA or Child SAs (§1.4.1); N(AUTHENTICATION_FAILED) after
//! IKE_AUTH (§2.21.2) removes the IKE SA like a Delete. Ours are built in `requests.rs`.

use super::base::Engine;
use super::error::CloseReason;
use super::ike_sa::{ChildEntry, IkeSa, Sent};
use super::payloads::delete_children;
use crate::codes::{NotifyType, ProtocolId};
use crate::payload::{DeletePayload, Payload};

impl Engine {
    /// Answers the peer's INFORMATIONAL request; with a reason when it closes the IKE SA.
    pub(super) fn informational_request(
        &mut self,
        sa: &mut IkeSa,
        inner: &[Payload],
    ) -> (Vec<Payload>, Option<CloseReason>) {
        let mut ours = Vec::new();
        for payload in inner {
            match payload {
                Payload::Delete(DeletePayload::IkeSa) => {
                    let reason = CloseReason::DeletedByPeer { peer: sa.peer };
                    return (Vec::new(), Some(reason));
                }
                Payload::Notify(n) if n.notify_type == NotifyType::AUTHENTICATION_FAILED => {
                    let reason = CloseReason::AuthenticationFailed { peer: sa.peer };
                    return (Vec::new(), Some(reason));
                }
                Payload::Delete(DeletePayload::ChildSas { protocol, spis })
                    if *protocol == ProtocolId::ESP || *protocol == ProtocolId::AH =>
                {
                    for spi in spis {
                        let named = |c: &&ChildEntry| {
                            c.outbound_spi == *spi && c.cipher.protocol() == *protocol
                        };
                        let Some(child) = sa.children.iter().find(named) else {
                            continue;
                        };
                        let inbound = child.inbound_spi;
                        // A Child SA we are deleting too is not named again (§1.4.1).
                        let we_delete_it = sa.pending.as_ref().is_some_and(
                            |p| matches!(&p.kind, Sent::DeleteChildren(s) if s.contains(&inbound)),
                        );
                        if !we_delete_it {
                            ours.push((*protocol, inbound));
                        }
                        sa.remove_child(inbound, &mut self.outputs);
                    }
                }
                _ => {}
            }
        }
        (delete_children(&ours), None)
    }
}
