// SPDX-License-Identifier: GPL-2.0
//! Path MTU, per SA: the largest packet an SA carries is computed from the device's MTU,
//! lowered by ICMP errors that come back for the SA's own ESP or AH packets (as XFRM's
//! `esp4_err`/`esp6_err` do), and TCP SYNs through an SA offer no larger segments than that
//! (`tcp_mss`), both ways, so a new connection loses no segment to the MTU check.

use crate::{
    ah, esp,
    ffi::{Net, Rcu, Skb, WritableSkb},
    headers::{Chain, PROTO_ICMP, PROTO_ICMPV6},
    icmp_err, ip,
    net_state::NetState,
    sad::{Sa, SaId},
    selector::AF_INET6,
    tcp_mss, uapi,
    udp_encap::UDP_HDR_LEN,
};

/// The largest IP packet `sa` carries within `path_mtu` once encapsulated (0: unknown).
/// `front_len` bytes go in front of the ESP or AH header: the outer header (tunnel mode), or
/// the packet's own headers that stay (transport mode); `front_v6`: they are IPv6 (AH's
/// padding depends on it).
#[inline]
pub(crate) fn max_packet(
    sa: &Sa,
    path_mtu: usize,
    tunnel: bool,
    front_len: usize,
    front_v6: bool,
) -> usize {
    if path_mtu == 0 {
        return 0;
    }
    let alg = sa.alg;
    let udp_len = if sa.encap.is_some() { UDP_HDR_LEN } else { 0 };
    let payload = if sa.id.proto == uapi::PROTO_AH {
        let ah_len = ah::ah_len(usize::from(alg.icv_len), front_v6, sa.ah_align8);
        path_mtu.saturating_sub(front_len + ah_len)
    } else {
        let fixed = front_len + udp_len + esp::ESP_HDR_LEN + usize::from(alg.iv_len + alg.icv_len);
        esp::inner_mtu(path_mtu, fixed, alg.pad_align())
    };
    if tunnel {
        payload
    } else {
        payload + front_len
    }
}

/// Lowers the MSS a TCP SYN at `chain` offers to what fits in `max_packet` bytes.
pub(crate) fn clamp_mss(skb: &mut WritableSkb, chain: &Chain, max_packet: usize) {
    if max_packet == 0 || chain.proto != tcp_mss::PROTO_TCP || chain.is_fragment() {
        return;
    }
    let mss = tcp_mss::mss_for_mtu(max_packet, chain.family == AF_INET6);
    if let Some(tcp) = skb.data().get_mut(chain.l4_at..chain.total_len) {
        tcp_mss::clamp(tcp, mss);
    }
}

/// A decrypted TCP SYN offers no more than fits the way back: through the SA that sends to
/// the same peer with the same reqid (or, lacking one, with `sa`'s overhead), on the device
/// the SYN came in through.
pub(crate) fn clamp_inbound(
    state: &NetState,
    skb: &mut WritableSkb,
    sa: &Sa,
    chain: &Chain,
    rcu: Rcu<'_>,
) {
    if chain.proto != tcp_mss::PROTO_TCP || chain.is_fragment() {
        return;
    }
    let is_syn = skb
        .data()
        .get(chain.l4_at..chain.total_len)
        .is_some_and(tcp_mss::is_syn);
    if !is_syn {
        return;
    }
    let fits = |o: &Sa| o.id.proto == sa.id.proto && o.mode == sa.mode && o.src == sa.id.dst;
    let back = state.sad.find_out(sa.reqid, &sa.src, fits, rcu);
    let out = back.map_or(sa, |o| &**o);
    let tunnel = out.mode == uapi::MODE_TUNNEL;
    let (front_len, front_v6) = if tunnel {
        let v6 = out.id.family == AF_INET6;
        (
            if v6 {
                ip::IPV6_HDR_LEN
            } else {
                ip::IPV4_HDR_LEN
            },
            v6,
        )
    } else {
        (chain.unfrag_len, chain.family == AF_INET6)
    };
    let mtu = out.path_mtu(skb.in_dev_mtu());
    let max = max_packet(out, mtu, tunnel, front_len, front_v6);
    clamp_mss(skb, chain, max);
}

/// An ICMP "fragmentation needed" or "packet too big" for this host that quotes one of its
/// ESP or AH packets lowers the sending SA's path MTU. The error goes on to the stack either
/// way.
pub(crate) fn note_icmp(net: Net<'_>, state: &NetState, skb: &mut Skb, chain: &Chain) {
    let v6 = chain.family == AF_INET6;
    let icmp = if v6 { PROTO_ICMPV6 } else { PROTO_ICMP };
    if chain.proto != icmp || chain.is_fragment() {
        return;
    }
    let Ok(head) = skb.head(chain.l4_at + icmp_err::PARSE_LEN) else {
        return;
    };
    let Some(err) = head.get(chain.l4_at..).and_then(|m| icmp_err::parse(m, v6)) else {
        return;
    };
    let id = SaId {
        spi: err.spi,
        proto: err.proto,
        family: chain.family,
        dst: err.dst,
    };
    let Some(sa) = state.sad.get(&id) else {
        return;
    };
    // Our own outbound SA, as it sends: from its source, in UDP exactly when it encapsulates.
    let encap_ok = match (&sa.encap, err.udp) {
        (Some(e), Some(ports)) => e.ports() == ports,
        (None, None) => true,
        _ => false,
    };
    if sa.src == err.src && encap_ok {
        sa.note_too_big(err.mtu, net.mtu_expires(v6));
    }
}
