// SPDX-License-Identifier: GPL-2.0
//! Look-ups in the payloads of a message: the first payload of a kind (a repeated one is
//! ignored), notifies by type, the proposals of the SA payloads, SPIs of the right size; and
//! the Delete payloads for Child SAs.

use crate::codes::{NotifyType, ProtocolId};
use crate::message::{notifications, Message};
use crate::payload::{
    AuthPayload, CertPayload, DeletePayload, IdPayload, KePayload, NotifyPayload, Payload,
};
use crate::sa::{Proposal, SaPayload};
use crate::traffic_selector::TrafficSelector;

/// Delete payloads for Child SAs by protocol and SPI: one per protocol (RFC 7296 §3.11).
pub(super) fn delete_children(spis: &[(ProtocolId, u32)]) -> Vec<Payload> {
    [ProtocolId::ESP, ProtocolId::AH]
        .into_iter()
        .filter_map(|protocol| {
            let these: Vec<u32> = spis
                .iter()
                .filter(|(p, _)| *p == protocol)
                .map(|(_, spi)| *spi)
                .collect();
            (!these.is_empty()).then_some(Payload::Delete(DeletePayload::ChildSas {
                protocol,
                spis: these,
            }))
        })
        .collect()
}

/// The first payload `pick` accepts.
fn first<'a, T>(payloads: &'a [Payload], pick: impl Fn(&'a Payload) -> Option<T>) -> Option<T> {
    payloads.iter().find_map(pick)
}

pub(super) fn id_i(payloads: &[Payload]) -> Option<&IdPayload> {
    first(payloads, |p| match p {
        Payload::IdI(id) => Some(id),
        _ => None,
    })
}

pub(super) fn id_r(payloads: &[Payload]) -> Option<&IdPayload> {
    first(payloads, |p| match p {
        Payload::IdR(id) => Some(id),
        _ => None,
    })
}

pub(super) fn auth(payloads: &[Payload]) -> Option<&AuthPayload> {
    first(payloads, |p| match p {
        Payload::Auth(a) => Some(a),
        _ => None,
    })
}

pub(super) fn nonce(payloads: &[Payload]) -> Option<&Vec<u8>> {
    first(payloads, |p| match p {
        Payload::Nonce(n) => Some(n),
        _ => None,
    })
}

pub(super) fn ke(payloads: &[Payload]) -> Option<&KePayload> {
    first(payloads, |p| match p {
        Payload::Ke(k) => Some(k),
        _ => None,
    })
}

/// The TSi and TSr selectors, if present.
pub(super) fn ts(
    payloads: &[Payload],
) -> (Option<Vec<TrafficSelector>>, Option<Vec<TrafficSelector>>) {
    let ts_i = first(payloads, |p| match p {
        Payload::TsI(ts) => Some(ts.selectors.clone()),
        _ => None,
    });
    let ts_r = first(payloads, |p| match p {
        Payload::TsR(ts) => Some(ts.selectors.clone()),
        _ => None,
    });
    (ts_i, ts_r)
}

/// The CERT payloads, in order.
pub(super) fn certs(payloads: &[Payload]) -> Vec<&CertPayload> {
    payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Cert(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// The proposals of every SA payload, in order.
pub(super) fn proposals(payloads: &[Payload]) -> Vec<Proposal> {
    payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Sa(sa) => Some(sa.proposals.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The first notify of this type.
pub(super) fn notify(payloads: &[Payload], notify_type: NotifyType) -> Option<&NotifyPayload> {
    notifications(payloads).find(|n| n.notify_type == notify_type)
}

pub(super) fn has_notify(payloads: &[Payload], notify_type: NotifyType) -> bool {
    notify(payloads, notify_type).is_some()
}

/// The first error notify (types below 16384).
pub(super) fn error_notify(payloads: &[Payload]) -> Option<&NotifyPayload> {
    notifications(payloads).find(|n| n.notify_type.is_error())
}

/// An ESP SPI: exactly 4 bytes.
pub(super) fn esp_spi(spi: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(spi).ok().map(u32::from_be_bytes)
}

/// An IKE SPI: exactly 8 bytes, not zero.
pub(super) fn ike_spi(proposal: Option<&Proposal>) -> Option<[u8; 8]> {
    proposal
        .and_then(|p| <[u8; 8]>::try_from(p.spi.as_slice()).ok())
        .filter(|spi| *spi != [0; 8])
}

/// The SA, KE and Nonce payloads an IKE_SA_INIT message must carry (the last of each kind).
pub(super) fn init_payloads(message: &Message) -> Option<(&SaPayload, &KePayload, &Vec<u8>)> {
    let (mut sa, mut ke, mut nonce) = (None, None, None);
    for payload in &message.payloads {
        match payload {
            Payload::Sa(p) => sa = Some(p),
            Payload::Ke(k) => ke = Some(k),
            Payload::Nonce(n) => nonce = Some(n),
            _ => {}
        }
    }
    Some((sa?, ke?, nonce?))
}
