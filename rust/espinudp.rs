// SPDX-License-Identifier: GPL-2.0
//! ESP in UDP (RFC 3948): the key manager's UDP sockets, attached by ENCAP_ATTACH and
//! detached when they close, when the netns goes or when the module unloads, and what arrives
//! on them. A NAT keepalive is counted and dropped, IKE behind the non-ESP marker goes on to
//! the socket, and ESP loses its UDP header and is processed like ESP that came natively.

use crate::{
    ffi::{EncapSocket, Net, Rcu, Skb, SocketId},
    headers, ip,
    net_state::{Config, NetState, MAX_ENCAP_SOCKETS},
    packet::{self, count_drop},
    receive,
    uapi::{self, stats_attr as st, DropReason},
    udp_encap::{self, Datagram, Endpoint, CLASSIFY_LEN, UDP_HDR_LEN},
};
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// Adds an attached socket; `ENOSPC` when the netns has [`MAX_ENCAP_SOCKETS`] already (the
/// socket is then detached again).
pub(crate) fn add(state: &NetState, sock: EncapSocket) -> Result {
    let mut cfg = state.config.lock();
    if cfg.encap.len() >= MAX_ENCAP_SOCKETS {
        return Err(ENOSPC);
    }
    cfg.encap.push(sock, GFP_KERNEL)?;
    publish_ports(state, &cfg);
    Ok(())
}

/// Mirrors the sockets' ports for the data path.
fn publish_ports(state: &NetState, cfg: &Config) {
    for (i, slot) in state.encap_ports.iter().enumerate() {
        let port = cfg.encap.get(i).map_or(0, EncapSocket::port);
        slot.store(port, Ordering::Relaxed);
    }
}

/// A socket of `net` is being closed: ripsec lets go of it.
pub(crate) fn closed(net: Net<'_>, sk: SocketId) {
    let state = NetState::of(net);
    let gone = {
        let mut cfg = state.config.lock();
        let Some(i) = cfg.encap.iter().position(|s| s.id() == sk) else {
            return;
        };
        let gone = cfg.encap.remove(i).ok();
        publish_ports(state, &cfg);
        gone
    };
    // Detaching waits for packets in flight, outside the lock.
    drop(gone);
}

/// Detaches every socket (pernet exit, also on unload).
pub(crate) fn detach_all(state: &NetState) {
    let all = {
        let mut cfg = state.config.lock();
        let all = core::mem::take(&mut cfg.encap);
        publish_ports(state, &cfg);
        all
    };
    drop(all);
}

/// A datagram to an attached socket, from its IP header: `Some` goes on to the socket.
pub(crate) fn receive(net: Net<'_>, mut skb: Skb) -> Option<Skb> {
    let state = NetState::of(net);
    let chain = match packet::chain(&mut skb) {
        Ok(c) if c.proto == udp_encap::PROTO_UDP && !c.is_fragment() => c,
        // UDP already checked the datagram: what is not ours stays the socket's.
        _ => return Some(skb),
    };
    let at = chain.l4_at;
    let Ok(head) = skb.head(at + UDP_HDR_LEN + CLASSIFY_LEN) else {
        count_drop(state, None, DropReason::NoMem);
        return None;
    };
    let Some((udp, kind)) = head.get(at..).and_then(udp_encap::classify_datagram) else {
        count_drop(state, None, DropReason::Malformed);
        return None;
    };
    let payload_len = usize::from(udp.len).saturating_sub(UDP_HDR_LEN);
    match kind {
        Datagram::Ike => return Some(skb),
        Datagram::Keepalive => state.counters.add(st::KEEPALIVES_IN, 1),
        Datagram::Malformed => count_drop(state, None, DropReason::Malformed),
        Datagram::Esp => {
            let from = Endpoint {
                addr: chain.src,
                port: udp.sport,
            };
            if let Err(reason) = esp(net, state, skb, at, chain.proto_at, payload_len, from) {
                count_drop(state, None, reason);
            }
        }
    }
    None
}

/// Removes the UDP header in front of the ESP at `at` (the IP headers move up over it and now
/// name ESP) and processes the ESP packet.
fn esp(
    net: Net<'_>,
    state: &NetState,
    skb: Skb,
    at: usize,
    proto_at: usize,
    payload_len: usize,
    from: Endpoint,
) -> Result<(), DropReason> {
    let mut skb = skb.into_writable().map_err(|_| DropReason::NoMem)?;
    let end = at + UDP_HDR_LEN + payload_len;
    if end > skb.len() {
        return Err(DropReason::Malformed);
    }
    skb.data().copy_within(0..at, UDP_HDR_LEN);
    skb.keep(UDP_HDR_LEN, end - UDP_HDR_LEN)
        .map_err(|_| DropReason::Malformed)?;
    let len = skb.len();
    ip::set_proto_and_len(skb.data(), proto_at, uapi::PROTO_ESP, len)
        .ok_or(DropReason::Malformed)?;
    let outer = headers::walk_all(skb.data()).map_err(|_| DropReason::Malformed)?;
    if outer.proto != uapi::PROTO_ESP {
        return Err(DropReason::Malformed);
    }
    let guard = kernel::sync::rcu::read_lock();
    receive::esp_in(net, state, skb, &outer, Some(from), Rcu::of(&guard));
    Ok(())
}
