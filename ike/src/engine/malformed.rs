// SPDX-License-Identifier: GPL-2.0
//! The peer's authenticated requests whose payloads do not parse (RFC 7296 §2.21.2, §2.5).
//! Only requests whose SK payload verified get here: unauthenticated garbage is never
//! answered, so nothing is reflected to a spoofed source. The answer uses the request's
//! message ID and counts as its response (retransmissions get it again).

use std::time::Duration;

use super::base::Engine;
use super::error::{CloseReason, Error};
use super::ike_sa::{IkeSa, Keys};
use super::types::{FailedRequest, Output};
use crate::error::ParseError;
use crate::message::Message;
use crate::payload::{NotifyPayload, Payload};

impl Engine {
    /// Answers `request`, whose SK contents failed to parse with `error`. An unknown critical
    /// payload gets N(UNSUPPORTED_CRITICAL_PAYLOAD) with its type, and the IKE SA goes on;
    /// anything else N(INVALID_SYNTAX), and the IKE SA is removed, as strongSwan does.
    pub(super) fn answer_malformed(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        keys: &Keys,
        request: &Message,
        error: ParseError,
    ) {
        sa.next_request_id = sa.next_request_id.wrapping_add(1);
        sa.last_received = now;
        let unsupported = match error {
            ParseError::UnsupportedCriticalPayload { payload } => Some(payload),
            _ => None,
        };
        let data = unsupported.map(|p| vec![p.0]).unwrap_or_default();
        let notify = NotifyPayload::new(error.suggested_notify(), data);
        let header = (request.exchange_type, request.message_id, true);
        let sealed = sa.seal(keys, header, &[Payload::Notify(notify)], self.rng.as_mut());
        if let Ok(bytes) = sealed {
            self.respond(sa, request.message_id, bytes);
        }
        let (peer, exchange) = (sa.peer, request.exchange_type);
        match unsupported {
            Some(payload) => {
                self.outputs.push_back(Output::RequestFailed {
                    sa: sa.id,
                    reason: Error::UnsupportedCritical {
                        peer,
                        exchange,
                        payload,
                    },
                    request: FailedRequest::Peer,
                });
                self.send_next(now, sa);
            }
            None => {
                let reason = CloseReason::InvalidSyntax {
                    peer,
                    exchange,
                    error,
                };
                self.close_sa(now, sa, reason, true);
            }
        }
    }
}
