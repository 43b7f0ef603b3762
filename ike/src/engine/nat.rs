// SPDX-License-Identifier: GPL-2.0
//! NAT detection (RFC 7296 §2.23): NAT_DETECTION_SOURCE_IP and NAT_DETECTION_DESTINATION_IP
//! notifies in IKE_SA_INIT, checked in both roles. What they find moves the IKE SA to the
//! NAT traversal port and its Child SAs to ESP in UDP (RFC 3948; `base.rs`).

use std::net::{IpAddr, SocketAddr};

use sha1::{Digest, Sha1};

use crate::codes::NotifyType;
use crate::crypto::ct_eq;
use crate::message::Message;
use crate::payload::{NotifyPayload, Payload};

/// Length of the NAT detection hash (SHA-1).
const HASH_LEN: usize = 20;

/// What NAT detection found for an IKE SA (RFC 7296 §2.23).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NatState {
    /// The peer sent NAT detection notifies we could check; without them nothing is known
    /// and both flags stay false.
    pub checked: bool,
    /// Our address or port is translated on the way to the peer: we are behind a NAT.
    pub local_behind_nat: bool,
    /// The peer's address or port is translated on the way to us: the peer is behind a NAT.
    pub peer_behind_nat: bool,
}

impl NatState {
    /// A NAT was found on either side.
    pub fn detected(&self) -> bool {
        self.local_behind_nat || self.peer_behind_nat
    }

    /// "no NAT", "the peer is behind a NAT", ... ("not checked" without NAT-D notifies).
    pub fn describe(&self) -> &'static str {
        match (self.checked, self.local_behind_nat, self.peer_behind_nat) {
            (false, _, _) => "not checked (the peer sent no NAT detection notifies)",
            (true, false, false) => "no NAT",
            (true, true, false) => "we are behind a NAT",
            (true, false, true) => "the peer is behind a NAT",
            (true, true, true) => "both sides are behind a NAT",
        }
    }

    /// The warning to give when a NAT was found, as a plain sentence.
    pub(super) fn warning(&self, local: SocketAddr, peer: SocketAddr) -> Option<String> {
        let found = match (self.local_behind_nat, self.peer_behind_nat) {
            (false, false) => return None,
            (false, true) => format!("the peer {peer} is behind a NAT"),
            (true, false) => format!("we ({local}) are behind a NAT on the way to the peer {peer}"),
            (true, true) => format!("both the peer {peer} and we ({local}) are behind a NAT"),
        };
        Some(format!(
            "NAT detected: {found}; IKE continues on UDP port {}, and ESP goes in UDP (RFC 3948)",
            local.port()
        ))
    }
}

/// SHA-1(SPIi | SPIr | IP | Port), the data of both NAT detection notifies (RFC 7296 §2.23);
/// the IP address is 4 or 16 bytes, the port 2 bytes in network order.
pub fn nat_detection_hash(spi_i: &[u8; 8], spi_r: &[u8; 8], addr: SocketAddr) -> [u8; 20] {
    let mut hash = Sha1::new();
    hash.update(spi_i);
    hash.update(spi_r);
    match addr.ip() {
        IpAddr::V4(ip) => hash.update(ip.octets()),
        IpAddr::V6(ip) => hash.update(ip.octets()),
    }
    hash.update(addr.port().to_be_bytes());
    hash.finalize().into()
}

/// The source address to hash when encapsulation is forced: one no NAT_DETECTION check can
/// match, so the peer sees us behind a NAT (strongSwan's `encap = yes`).
pub(super) const UNMATCHABLE_SOURCE: SocketAddr =
    SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

/// The two notifies of a message with these SPIs, sent from `local` to `peer`.
pub(super) fn notifies(
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    local: SocketAddr,
    peer: SocketAddr,
) -> [Payload; 2] {
    [
        Payload::Notify(NotifyPayload::new(
            NotifyType::NAT_DETECTION_SOURCE_IP,
            nat_detection_hash(spi_i, spi_r, local).to_vec(),
        )),
        Payload::Notify(NotifyPayload::new(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            nat_detection_hash(spi_i, spi_r, peer).to_vec(),
        )),
    ]
}

/// Whether `message` carries any NAT detection notify.
pub(super) fn present(message: &Message) -> bool {
    message.notifications().any(|n| {
        n.notify_type == NotifyType::NAT_DETECTION_SOURCE_IP
            || n.notify_type == NotifyType::NAT_DETECTION_DESTINATION_IP
    })
}

/// Checks the NAT detection notifies of an IKE_SA_INIT message received from `from` on our
/// address `to`, with the SPIs of its header. Malformed notifies are skipped; each one gives
/// a note for a debug log.
pub(super) fn check(
    message: &Message,
    from: SocketAddr,
    to: SocketAddr,
) -> (NatState, Vec<String>) {
    let mut notes = Vec::new();
    let mut state = NatState::default();
    // The peer may send several source notifies (one per address it might use): one match
    // is enough. A destination mismatch means our address was translated.
    let mut source = None::<bool>;
    let mut destination = None::<bool>;
    for notify in message.notifications() {
        let (slot, addr) = match notify.notify_type {
            NotifyType::NAT_DETECTION_SOURCE_IP => (&mut source, from),
            NotifyType::NAT_DETECTION_DESTINATION_IP => (&mut destination, to),
            _ => continue,
        };
        if notify.data.len() != HASH_LEN {
            notes.push(format!(
                "ignored a {} notify from {from} with {} bytes of data instead of {HASH_LEN}",
                notify.notify_type,
                notify.data.len()
            ));
            continue;
        }
        let expected = nat_detection_hash(&message.spi_i, &message.spi_r, addr);
        let matches = ct_eq(&expected, &notify.data);
        *slot = Some(slot.unwrap_or(false) || matches);
    }
    if let Some(matched) = source {
        state.checked = true;
        state.peer_behind_nat = !matched;
    }
    if let Some(matched) = destination {
        state.checked = true;
        state.local_behind_nat = !matched;
    }
    (state, notes)
}
