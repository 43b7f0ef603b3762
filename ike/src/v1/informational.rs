// SPDX-License-Identifier: GPL-2.0
//! Informational exchanges (RFC 2408 §4.8, RFC 2409 §5.7): one message, HASH(1) then a Delete
//! or a notification, each with a message ID and IV of its own. Deleting an ISAKMP SA takes its
//! Child SAs along (the daemon could no longer rekey or delete them); DPD's R-U-THERE gets its
//! ACK (RFC 3706); INITIAL-CONTACT ends the peer's older SAs, which it has lost. An
//! authenticated message with a payload type we do not know is discarded (RFC 2408 §5) and,
//! unless it is informational itself, answered with INVALID-PAYLOAD-TYPE. Also the engine's
//! commands that end SAs, and its status.

use std::time::Duration;

use super::codes::{proto, ExchangeV1, NotifyV1, PayloadV1, DOI_IPSEC};
use super::crypt::{open, Opened};
use super::engine::{EngineV1, IsakmpSa, P1State};
use super::keys::{hash1, message_iv};
use super::message::{BodyV1, MessageV1};
use super::payload::{DeleteV1, NotifyPayloadV1, PayloadBodyV1};
use crate::crypto::ct_eq;
use crate::engine::{describe_suite, CloseReason, IkeSaStatus, Output, Role, SaId};

impl EngineV1 {
    /// An informational message under an established SA: `Err` ends the SA, a Delete of the
    /// ISAKMP SA closes it.
    pub(super) fn informational(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        m: &MessageV1,
    ) -> Result<(), String> {
        let BodyV1::Encrypted(ct) = &m.body else {
            return Ok(());
        };
        let (Ok(prf), Ok(key)) = (sa.prf(), sa.enc_key()) else {
            return Ok(());
        };
        let Ok(iv) = message_iv(prf, &sa.iv, m.message_id) else {
            return Ok(());
        };
        let Ok(o) = open(&key, &iv, m.next_payload, ct) else {
            self.debug(
                sa,
                "an informational message that does not decrypt; dropped".into(),
            );
            return Ok(());
        };
        let rest = o
            .spans
            .get(1)
            .zip(o.spans.last())
            .and_then(|(a, b)| o.plaintext.get(a.start..b.end))
            .unwrap_or_default();
        let a = &sa.keys.as_ref().ok_or("no keys")?.skeyid_a;
        let want = hash1(prf, a, m.message_id, rest).map_err(|e| e.to_string())?;
        match o.payloads.first() {
            Some(PayloadBodyV1::Hash(h)) if ct_eq(h, want.as_bytes()) => {}
            _ => {
                self.debug(
                    sa,
                    "an informational message with a bad HASH(1); dropped".into(),
                );
                return Ok(());
            }
        }
        if !sa.first_time(m.message_id) {
            self.debug(sa, "a replayed informational message; dropped".into());
            return Ok(());
        }
        sa.last_heard = now;
        self.proven(sa);
        if let Some(kind) = unknown_payload(&o.payloads) {
            // No INVALID-PAYLOAD-TYPE: two implementations could answer each other forever.
            let why = format!("{}; discarded, not answered", carries_unknown(kind));
            self.warn(sa, ExchangeV1::INFORMATIONAL, m.message_id, why);
            return Ok(());
        }
        for p in &o.payloads {
            match p {
                PayloadBodyV1::Delete(d) => self.peer_deleted(sa, d),
                PayloadBodyV1::Notify(n) if n.notify == NotifyV1::R_U_THERE => {
                    self.dpd_ack(now, sa, n)
                }
                PayloadBodyV1::Notify(n) if n.notify == NotifyV1::INITIAL_CONTACT => {
                    self.forget_peer_state(sa)
                }
                PayloadBodyV1::Notify(n) if n.notify == NotifyV1::R_U_THERE_ACK => {
                    let seq = n.data.get(..4).and_then(|d| <[u8; 4]>::try_from(d).ok());
                    if sa.dpd.as_ref().map(|d| d.0.to_be_bytes()) == seq {
                        sa.dpd = None;
                    }
                }
                PayloadBodyV1::Notify(n) if n.notify.0 < 16384 && n.protocol != proto::ISAKMP => {
                    self.quick_refused(sa, n)
                }
                PayloadBodyV1::Notify(n) => {
                    let text = format!("the peer notified {}", n.notify.name());
                    self.debug(sa, text);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A Delete from the peer: Child SAs by the SPIs we send to, or the ISAKMP SA itself.
    fn peer_deleted(&mut self, sa: &mut IsakmpSa, d: &DeleteV1) {
        if d.protocol == proto::ISAKMP {
            self.remove_children(sa);
            sa.state = P1State::Closed;
            self.outputs.push_back(Output::Closed {
                sa: sa.id,
                reason: CloseReason::DeletedByPeer { peer: sa.peer },
            });
            return;
        }
        for spi in &d.spis {
            let Ok(spi) = <[u8; 4]>::try_from(spi.as_slice()).map(u32::from_be_bytes) else {
                continue;
            };
            let ours =
                |c: &super::engine::ChildRecord| c.outbound_spi == spi && c.protocol == d.protocol;
            if let Some(i) = sa.children.iter().position(ours) {
                let c = sa.children.swap_remove(i);
                self.child_removed(sa, &c);
            }
        }
    }

    /// Answers R-U-THERE with R-U-THERE-ACK and the same sequence number (RFC 3706 §5.1).
    fn dpd_ack(&mut self, now: Duration, sa: &mut IsakmpSa, n: &NotifyPayloadV1) {
        let ack = PayloadBodyV1::Notify(NotifyPayloadV1 {
            notify: NotifyV1::R_U_THERE_ACK,
            ..n.clone()
        });
        self.send_informational(now, sa, vec![ack]);
    }

    /// An R-U-THERE with sequence number `seq`, sealed in a new informational exchange.
    pub(super) fn r_u_there(&mut self, sa: &mut IsakmpSa, seq: u32) -> Option<Vec<u8>> {
        let n = isakmp_notify(sa, NotifyV1::R_U_THERE, seq.to_be_bytes().to_vec());
        self.seal_informational(sa, vec![n])
    }

    /// Refuses an authenticated Quick Mode message that carries a payload type we do not
    /// know: INVALID-PAYLOAD-TYPE naming it, in an informational exchange. `Err` says why
    /// the message was discarded; the SA stays.
    pub(super) fn refuse_unknown(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        o: &Opened,
    ) -> Result<(), String> {
        let Some(kind) = unknown_payload(&o.payloads) else {
            return Ok(());
        };
        let n = isakmp_notify(sa, NotifyV1::INVALID_PAYLOAD_TYPE, vec![kind.0]);
        self.send_informational(now, sa, vec![n]);
        Err(format!(
            "{}; discarded and answered with INVALID-PAYLOAD-TYPE",
            carries_unknown(kind)
        ))
    }

    /// Tells the operator about a message of the peer's that did not go through.
    pub(super) fn warn(&mut self, sa: &IsakmpSa, exchange: ExchangeV1, id: u32, why: String) {
        self.outputs.push_back(Output::Warning {
            sa: sa.id,
            message: format!("IKEv1 {} {id:#x} with {}: {why}", exchange.name(), sa.peer),
        });
    }

    /// HASH(1) and `payloads` sealed in a new informational exchange.
    fn seal_informational(
        &mut self,
        sa: &IsakmpSa,
        payloads: Vec<PayloadBodyV1>,
    ) -> Option<Vec<u8>> {
        let message_id = self.message_id();
        let prf = sa.prf().ok()?;
        let iv = message_iv(prf, &sa.iv, message_id).ok()?;
        let h = |a: &crate::secret::Secret, bytes: &[u8]| hash1(prf, a, message_id, bytes);
        self.seal_hashed(
            sa,
            (ExchangeV1::INFORMATIONAL, message_id, &iv),
            payloads,
            h,
        )
        .ok()
        .map(|(bytes, _)| bytes)
    }

    /// Sends HASH(1) and `payloads` in a new informational exchange.
    pub(super) fn send_informational(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        payloads: Vec<PayloadBodyV1>,
    ) {
        match self.seal_informational(sa, payloads) {
            // Informational messages are not answered, so not retransmitted either.
            Some(bytes) => {
                self.transmit_unanswered(now, sa, bytes, false);
            }
            None => self.debug(sa, "an informational message does not encode".into()),
        }
    }

    /// Deletes one Child SA (by its inbound SPI): tells the peer, removes it here.
    pub fn delete_child(&mut self, now: Duration, id: SaId, inbound_spi: u32) {
        let Some(mut sa) = self.take(id) else { return };
        self.retire(now, &mut sa, inbound_spi);
        self.sas.push(sa);
    }

    /// Sends a Delete for a Child SA of ours and removes it (after a rekey, or on request).
    pub(super) fn retire(&mut self, now: Duration, sa: &mut IsakmpSa, inbound_spi: u32) {
        let Some(i) = sa
            .children
            .iter()
            .position(|c| c.inbound_spi == inbound_spi)
        else {
            return;
        };
        let c = sa.children.swap_remove(i);
        self.send_informational(now, sa, deletes(std::slice::from_ref(&c)));
        self.child_removed(sa, &c);
    }

    /// Deletes an ISAKMP SA with its Child SAs: Deletes for the children, then for itself.
    pub fn delete(&mut self, now: Duration, id: SaId) {
        let Some(mut sa) = self.take(id) else { return };
        if sa.state == P1State::Established {
            if !sa.children.is_empty() {
                let payloads = deletes(&sa.children);
                self.send_informational(now, &mut sa, payloads);
            }
            self.delete_isakmp(now, &mut sa);
        }
        self.remove_children(&mut sa);
        self.outputs.push_back(Output::Closed {
            sa: sa.id,
            reason: CloseReason::DeletedByUs { peer: sa.peer },
        });
    }

    /// Sends the Delete of an ISAKMP SA itself (its Child SAs are not named).
    pub(super) fn delete_isakmp(&mut self, now: Duration, sa: &mut IsakmpSa) {
        let cookies = [sa.cookie_i, sa.cookie_r].concat();
        let d = PayloadBodyV1::Delete(DeleteV1 {
            doi: DOI_IPSEC,
            protocol: proto::ISAKMP,
            spi_size: 16,
            spis: vec![cookies],
        });
        self.send_informational(now, sa, vec![d]);
    }

    /// The ISAKMP SAs and their Child SAs.
    pub fn status(&self) -> Vec<IkeSaStatus> {
        self.sas.iter().map(status_of).collect()
    }
}

/// Delete payloads for Child SAs: one per protocol (ESP, AH), each with the inbound SPIs.
fn deletes(children: &[super::engine::ChildRecord]) -> Vec<PayloadBodyV1> {
    [proto::ESP, proto::AH]
        .into_iter()
        .filter_map(|protocol| {
            let spis: Vec<Vec<u8>> = children
                .iter()
                .filter(|c| c.protocol == protocol)
                .map(|c| c.inbound_spi.to_be_bytes().to_vec())
                .collect();
            (!spis.is_empty()).then_some(PayloadBodyV1::Delete(DeleteV1 {
                doi: DOI_IPSEC,
                protocol,
                spi_size: 4,
                spis,
            }))
        })
        .collect()
}

fn status_of(sa: &IsakmpSa) -> IkeSaStatus {
    let (local_spi, remote_spi) = match sa.role {
        Role::Initiator => (sa.cookie_i, sa.cookie_r),
        Role::Responder => (sa.cookie_r, sa.cookie_i),
    };
    IkeSaStatus {
        id: sa.id,
        config: sa.config.config.name.clone(),
        role: sa.role,
        state: match (sa.state == P1State::Established, sa.config.aggressive) {
            (true, false) => "established (IKEv1 Main Mode)",
            (true, true) => "established (IKEv1 Aggressive Mode)",
            (false, false) => "connecting (IKEv1 Main Mode)",
            (false, true) => "connecting (IKEv1 Aggressive Mode)",
        },
        local_spi,
        remote_spi,
        peer: sa.peer,
        local: sa.local,
        nat: sa.nat,
        encap: super::nat_t::encapsulated(sa),
        peer_id: sa.peer_id.clone(),
        auth: sa.peer_auth.clone(),
        proposal: sa
            .suite
            .map(|p| describe_suite(&p.transforms()))
            .unwrap_or_default(),
        established_at: sa.established_at,
        children: sa.children.iter().map(|c| c.status.clone()).collect(),
    }
}

impl EngineV1 {
    /// No other ISAKMP SA with the peer's address exists, and `sa` replaces none: we tell
    /// the peer with INITIAL-CONTACT that whatever it still holds with us is stale.
    pub(super) fn first_contact(&self, sa: &IsakmpSa) -> bool {
        sa.replaces.is_none() && !self.sas.iter().any(|o| o.peer.ip() == sa.peer.ip())
    }

    /// The peer proved with INITIAL-CONTACT in `sa` that it lost its earlier state: every
    /// other ISAKMP SA with the same identity and connection goes, with its Child SAs, and
    /// without Deletes the peer could not read.
    pub(super) fn forget_peer_state(&mut self, sa: &IsakmpSa) {
        let stale = |o: &IsakmpSa| {
            o.id != sa.id
                && o.config.config.name == sa.config.config.name
                && o.peer_id.is_some()
                && o.peer_id == sa.peer_id
        };
        let (gone, kept): (Vec<IsakmpSa>, Vec<IsakmpSa>) =
            std::mem::take(&mut self.sas).into_iter().partition(stale);
        self.sas = kept;
        for mut old in gone {
            self.remove_children(&mut old);
            self.outputs.push_back(Output::Closed {
                sa: old.id,
                reason: CloseReason::InitialContact { peer: sa.peer },
            });
        }
    }
}

/// A notify about the ISAKMP SA `sa` itself, its SPI both cookies.
fn isakmp_notify(sa: &IsakmpSa, notify: NotifyV1, data: Vec<u8>) -> PayloadBodyV1 {
    PayloadBodyV1::Notify(NotifyPayloadV1 {
        doi: DOI_IPSEC,
        protocol: proto::ISAKMP,
        notify,
        spi: [sa.cookie_i, sa.cookie_r].concat(),
        data,
    })
}

/// An INITIAL-CONTACT notify for `sa` (RFC 2407 §4.6.3.3).
pub(super) fn initial_contact(sa: &IsakmpSa) -> PayloadBodyV1 {
    isakmp_notify(sa, NotifyV1::INITIAL_CONTACT, Vec::new())
}

/// The first payload of a type we do not know: RFC 2408 §5 discards its whole message.
pub(super) fn unknown_payload(payloads: &[PayloadBodyV1]) -> Option<PayloadV1> {
    payloads.iter().find_map(|p| match p {
        PayloadBodyV1::Unknown(kind, _) => Some(*kind),
        _ => None,
    })
}

fn carries_unknown(kind: PayloadV1) -> String {
    format!(
        "the message carries {}, a payload type we do not know",
        kind.name()
    )
}

pub(super) fn is_initial_contact(p: &PayloadBodyV1) -> bool {
    matches!(p, PayloadBodyV1::Notify(n) if n.notify == NotifyV1::INITIAL_CONTACT)
}
