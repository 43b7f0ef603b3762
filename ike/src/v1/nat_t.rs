// SPDX-License-Identifier: GPL-2.0
//! NAT traversal for IKEv1 (RFC 3947): both sides announce it with a Vendor ID in messages 1
//! and 2, send NAT-D payloads (a hash of cookies, address and port as each side sees them) in
//! messages 3 and 4, and when a NAT is found, Main Mode goes on at UDP 4500 and Quick Mode
//! asks for UDP-encapsulated ESP (RFC 3948). A peer whose NAT mapping changes is followed
//! once a message from its new address proves to be its own.

use std::net::{IpAddr, SocketAddr};

use super::engine::{EngineV1, IsakmpSa, P1State};
use super::ids::host_selector;
use super::keys::hash;
use super::payload::PayloadBodyV1;
use crate::engine::{NatState, Output, Role, SaId};
use crate::traffic_selector::TrafficSelector;

/// ID types of NAT-OA payloads (RFC 2407 §4.6.2.1).
const ID_IPV4_ADDR: u8 = 1;
const ID_IPV6_ADDR: u8 = 5;

/// The RFC 3947 Vendor ID: MD5("RFC 3947").
const RFC3947_VID: [u8; 16] = [
    0x4a, 0x13, 0x1c, 0x81, 0x07, 0x03, 0x58, 0x45, 0x5c, 0x57, 0x28, 0xf2, 0x0e, 0x95, 0x45, 0x2f,
];

/// The Vendor ID payload that announces RFC 3947 NAT traversal.
pub(super) fn vendor_id() -> PayloadBodyV1 {
    PayloadBodyV1::VendorId(RFC3947_VID.to_vec())
}

/// Whether the peer announced RFC 3947 in its message 1 or 2.
pub(super) fn announced(payloads: &[PayloadBodyV1]) -> bool {
    payloads
        .iter()
        .any(|p| matches!(p, PayloadBodyV1::VendorId(v) if v.as_slice() == RFC3947_VID))
}

/// HASH(CKY-I | CKY-R | IP | Port) with the phase 1 hash (RFC 3947 §3.2).
fn nat_d(sa: &IsakmpSa, addr: SocketAddr) -> Option<Vec<u8>> {
    let ip = match addr.ip() {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let port = addr.port().to_be_bytes();
    let prf = sa.suite?.prf;
    hash(prf, &[&sa.cookie_i, &sa.cookie_r, &ip, &port]).ok()
}

/// Our NAT-D payloads for message 3 or 4: the peer's address as we see it, then ours. With
/// `encap = true`, ours is the hash of an address we do not have, so that the peer finds us
/// behind a NAT and both sides carry ESP in UDP (what strongSwan's `encap = yes` does).
pub(super) fn payloads(sa: &IsakmpSa) -> Vec<PayloadBodyV1> {
    if !sa.natt {
        return Vec::new();
    }
    let ours = if sa.config.config.encap {
        let nowhere: IpAddr = match sa.local.ip() {
            IpAddr::V4(_) => std::net::Ipv4Addr::UNSPECIFIED.into(),
            IpAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
        };
        SocketAddr::new(nowhere, 0)
    } else {
        sa.local
    };
    [sa.peer, ours]
        .into_iter()
        .filter_map(|a| nat_d(sa, a).map(PayloadBodyV1::NatD))
        .collect()
}

/// What the peer's NAT-D payloads say: its first is our address as it saw it (a mismatch puts
/// us behind a NAT), the others its own addresses (none matching where its datagrams come
/// from puts it behind one).
pub(super) fn detect(sa: &IsakmpSa, payloads: &[PayloadBodyV1]) -> NatState {
    let hashes: Vec<&Vec<u8>> = payloads
        .iter()
        .filter_map(|p| match p {
            PayloadBodyV1::NatD(h) => Some(h),
            _ => None,
        })
        .collect();
    let (Some(first), Some(ours), Some(theirs)) =
        (hashes.first(), nat_d(sa, sa.local), nat_d(sa, sa.peer))
    else {
        return NatState::default();
    };
    NatState {
        checked: true,
        local_behind_nat: **first != ours,
        peer_behind_nat: !hashes.iter().skip(1).any(|h| **h == theirs),
    }
}

/// Whether Child SAs of this SA carry ESP in UDP: a NAT was found, or we forced it (and the
/// peer speaks NAT traversal).
pub(super) fn encapsulated(sa: &IsakmpSa) -> bool {
    sa.nat.local_behind_nat || sa.nat.peer_behind_nat || (sa.natt && sa.config.config.encap)
}

/// NAT-OA payloads for a transport-mode Quick Mode across a NAT (RFC 3947 §5.2): the
/// initiator's address, then the responder's, each as this side sees them. They only report;
/// the addresses that count are the IKE ones ([`transport_ids`]).
pub(super) fn original_addresses(sa: &IsakmpSa) -> Vec<PayloadBodyV1> {
    let (i, r) = match sa.role {
        Role::Initiator => (sa.local.ip(), sa.peer.ip()),
        Role::Responder => (sa.peer.ip(), sa.local.ip()),
    };
    [i, r]
        .into_iter()
        .map(|ip| match ip {
            IpAddr::V4(a) => PayloadBodyV1::NatOa(ID_IPV4_ADDR, a.octets().to_vec()),
            IpAddr::V6(a) => PayloadBodyV1::NatOa(ID_IPV6_ADDR, a.octets().to_vec()),
        })
        .collect()
}

/// Behind a NAT, transport-mode IDs name addresses the NAT rewrote: the peers' IKE addresses
/// stand in for them, with the IDs' protocol and ports (as strongSwan does).
pub(super) fn transport_ids(
    sa: &IsakmpSa,
    (ts_i, ts_r): (TrafficSelector, TrafficSelector),
) -> (TrafficSelector, TrafficSelector) {
    let host = |ts: TrafficSelector, ip| TrafficSelector {
        addresses: host_selector(ip).addresses,
        ..ts
    };
    (host(ts_i, sa.peer.ip()), host(ts_r, sa.local.ip()))
}

impl EngineV1 {
    /// The message being handled for an established `sa` is the peer's (its HASH checks
    /// out): if the peer is behind a NAT whose mapping changed, follow it before answering and
    /// tell the caller, whose Child SAs' ESP in UDP then goes there.
    pub(super) fn proven(&mut self, sa: &mut IsakmpSa) {
        let (from, to) = sa.arrived;
        // Only to our NAT traversal port: ESP in UDP cannot follow the peer to port 500.
        let moved = from != sa.peer && to == sa.local;
        if !moved || sa.state != P1State::Established || !encapsulated(sa) {
            return;
        }
        (sa.peer, sa.local) = (from, to);
        self.outputs.push_back(Output::PeerMoved {
            sa: sa.id,
            peer: from,
            local: to,
        });
    }

    /// The data path saw authenticated ESP in UDP of `sa`'s Child SAs arrive from `peer`: its
    /// NAT mapping moved to another port, and IKE follows (a new address waits for the next
    /// authenticated ISAKMP message).
    pub fn follow_peer_port(&mut self, sa: SaId, peer: SocketAddr) {
        if let Some(s) = self.sas.iter_mut().find(|s| s.id == sa) {
            if encapsulated(s) && s.peer.ip() == peer.ip() {
                s.peer = peer;
            }
        }
    }
}
