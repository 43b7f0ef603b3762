// SPDX-License-Identifier: GPL-2.0
//! Outbound: the POST_ROUTING hook matches packets against the SPD and encapsulates those a
//! protect policy covers in ESP (RFC 4303), tunnel or transport mode, through the SA's AEAD.

use crate::{
    alg::CryptoKind,
    esp, events, expire,
    ffi::{self, Net, Skb},
    ip,
    net_state::NetState,
    replay,
    sad::Sa,
    selector::AF_INET6,
    spd::Template,
    uapi::{self, stats_attr as st},
};
use kernel::{prelude::*, sync::Arc};

/// What the hook tells netfilter.
pub(crate) enum Verdict {
    /// Let the packet continue.
    Accept(Skb),
    /// Drop it (netfilter frees it).
    Drop(Skb),
    /// ripsec took it (sent or freed it).
    Stolen,
}

/// Room left in front of an outer header for the link layer.
const LL_RESERVE: usize = 128;
/// Hop limit / TTL of outer headers.
const OUTER_TTL: u8 = 64;

/// The POST_ROUTING hook.
pub(crate) fn hook(net: Net<'_>, mut skb: Skb) -> Verdict {
    let state = NetState::of(net);
    let Some(spd) = state.spd() else {
        return Verdict::Accept(skb);
    };
    if spd.is_empty(uapi::DIR_OUT) {
        return Verdict::Accept(skb);
    }
    let Some(flow) = ip::flow(skb.data()) else {
        return Verdict::Accept(skb);
    };
    // IPsec packets (ours included) are never protected again.
    if flow.proto == uapi::PROTO_ESP || flow.proto == uapi::PROTO_AH {
        return Verdict::Accept(skb);
    }
    let Some(policy) = spd.lookup(uapi::DIR_OUT, &flow) else {
        return Verdict::Accept(skb);
    };
    let tmpl = match (policy.action, policy.tmpl) {
        (uapi::ACTION_PROTECT, Some(t)) => t,
        (uapi::ACTION_DISCARD, _) => {
            state.counters.add(st::DROP_DISCARD, 1);
            return Verdict::Drop(skb);
        }
        _ => return Verdict::Accept(skb),
    };
    let want_dst = if tmpl.mode == uapi::MODE_TUNNEL {
        tmpl.dst
    } else {
        flow.dst
    };
    let fits = |sa: &Sa| sa.id.proto == tmpl.proto && sa.mode == tmpl.mode && sa.id.dst == want_dst;
    let sa = state
        .sad
        .find_out(tmpl.reqid, &want_dst, |sa| fits(sa) && !sa.expired());
    let Some(sa) = sa.filter(|sa| sa.id.proto == uapi::PROTO_ESP) else {
        // No usable SA: ask the key manager for one, and drop the packet.
        events::acquire(net, policy, &flow, ffi::seconds());
        match state.sad.find_out(tmpl.reqid, &want_dst, fits) {
            Some(old) => count_drop(state, &old, st::DROP_EXPIRED),
            None => state.counters.add(st::DROP_NO_SA, 1),
        }
        return Verdict::Drop(skb);
    };
    if skb.is_gso() {
        let Ok(segs) = skb.segment() else {
            count_drop(state, &sa, st::DROP_NOMEM);
            return Verdict::Drop(skb);
        };
        drop(skb);
        for seg in segs {
            send(net, state, &sa, &tmpl, seg);
        }
        return Verdict::Stolen;
    }
    send(net, state, &sa, &tmpl, skb);
    Verdict::Stolen
}

fn count_drop(state: &NetState, sa: &Sa, reason: u16) {
    state.counters.add(reason, 1);
    sa.counters.add(reason, 1);
}

/// Encapsulates and sends one packet; on failure counts the reason and frees it.
fn send(net: Net<'_>, state: &NetState, sa: &Arc<Sa>, tmpl: &Template, skb: Skb) {
    if let Err(reason) = encapsulate(net, state, sa, tmpl, skb) {
        count_drop(state, sa, reason);
    }
}

fn encapsulate(
    net: Net<'_>,
    state: &NetState,
    sa: &Sa,
    tmpl: &Template,
    mut skb: Skb,
) -> Result<(), u16> {
    let aead = sa.aead().ok_or(st::DROP_NO_SA)?;
    if sa.expired() {
        return Err(st::DROP_EXPIRED);
    }
    skb.make_writable().map_err(|_| st::DROP_NOMEM)?;
    skb.finish_checksum().map_err(|_| st::DROP_NOMEM)?;
    let hdr = ip::parse(skb.data()).ok_or(st::DROP_MALFORMED)?;
    let outer_tos = ip::outer_tos(ip::tos(skb.data()));
    let tunnel = tmpl.mode == uapi::MODE_TUNNEL;
    let outer_v6 = sa.id.family == AF_INET6;
    let alg = sa.alg;
    let (iv_len, icv_len) = (usize::from(alg.iv_len), usize::from(alg.icv_len));
    let inner_len = hdr.total_len.min(skb.len());
    skb.trim(inner_len).map_err(|_| st::DROP_MALFORMED)?;
    // Tunnel mode protects the whole packet; transport mode what follows the IP header.
    let (payload_len, next_header, outer_hdr_len) = if tunnel {
        let nh = if hdr.family == AF_INET6 {
            ip::PROTO_IPV6
        } else {
            ip::PROTO_IPIP
        };
        let ohl = if outer_v6 {
            ip::IPV6_HDR_LEN
        } else {
            ip::IPV4_HDR_LEN
        };
        (inner_len, nh, ohl)
    } else {
        (inner_len - hdr.hdr_len, hdr.proto, hdr.hdr_len)
    };
    // Path MTU: a DF packet that would not fit once encapsulated is refused with ICMP.
    let mtu = skb.dev_mtu();
    let fixed = if tunnel { outer_hdr_len } else { 0 } + esp::ESP_HDR_LEN + iv_len + icv_len;
    let max_inner = esp::inner_mtu(mtu, fixed, alg.pad_align());
    // Transport mode shares the sender's route, so a PMTU learnt from us would also limit the
    // ESP packet: there IP fragments the ESP packet instead (see `output` below).
    if tunnel && mtu != 0 && inner_len > max_inner && (hdr.df || hdr.family == AF_INET6) {
        skb.icmp_too_big(max_inner, hdr.family == AF_INET6);
        return Err(st::DROP_MTU);
    }
    let pad = esp::pad_len(payload_len, alg.pad_align());
    let trailer = pad + esp::TRAILER_MIN;
    let esp_hdr = esp::ESP_HDR_LEN + iv_len;
    let seq = sa.rt.lock().out.next().map_err(|_| st::DROP_SEQ_OVERFLOW)?;
    skb.make_room(LL_RESERVE + outer_hdr_len + esp_hdr, trailer + icv_len)
        .map_err(|_| st::DROP_NOMEM)?;
    // Trailer (and room for the ICV) at the end.
    skb.put(trailer + icv_len).map_err(|_| st::DROP_NOMEM)?;
    let end = skb.len();
    esp::write_trailer(
        &mut skb.data()[end - icv_len - trailer..end - icv_len],
        next_header,
    )
    .map_err(|_| st::DROP_MALFORMED)?;
    // ESP header and IV in front of the payload; in transport mode the IP header moves up.
    skb.push(esp_hdr).map_err(|_| st::DROP_NOMEM)?;
    if !tunnel {
        skb.data().copy_within(esp_hdr..esp_hdr + outer_hdr_len, 0);
    }
    // With ESN the associated data starts 4 bytes before the ESP header (`esp::esn_prepare`);
    // in tunnel mode those 4 bytes are borrowed from the headroom.
    let borrowed = if sa.esn && tunnel { 4 } else { 0 };
    skb.push(borrowed).map_err(|_| st::DROP_NOMEM)?;
    let esp_at = if tunnel { borrowed } else { outer_hdr_len };
    let mut iv = [0u8; 16];
    let iv = &mut iv[..iv_len];
    match alg.kind {
        // Counter-based IVs (RFC 4106 §3, RFC 7634 §2): the sequence number, unique per key.
        CryptoKind::Aead => iv.copy_from_slice(&seq.to_be_bytes()[..iv_len]),
        // CBC needs unpredictable IVs (RFC 3602 §2.3).
        _ => crate::ffi::random_bytes(iv),
    }
    {
        let d = skb.data();
        let mut h = [0u8; esp::ESP_HDR_LEN];
        esp::write_header(&mut h, sa.id.spi, replay::seq_lo(seq));
        d[esp_at..esp_at + esp::ESP_HDR_LEN].copy_from_slice(&h);
        d[esp_at + esp::ESP_HDR_LEN..esp_at + esp_hdr].copy_from_slice(iv);
        let cryptlen = payload_len + trailer;
        if sa.esn {
            let saved = esp::esn_prepare(d, esp_at, replay::seq_hi(seq)).ok_or(st::DROP_NOMEM)?;
            let r = aead.crypt(&mut d[esp_at - 4..], esp_hdr + 4, cryptlen, iv, true);
            esp::esn_restore(d, esp_at, saved).ok_or(st::DROP_NOMEM)?;
            r.map_err(|_| st::DROP_NOMEM)?;
        } else {
            aead.crypt(&mut d[esp_at..], esp_hdr, cryptlen, iv, true)
                .map_err(|_| st::DROP_NOMEM)?;
        }
    }
    skb.pull(borrowed).map_err(|_| st::DROP_NOMEM)?;
    if tunnel {
        let o = ip::Outer {
            payload_len: skb.len(),
            tos: outer_tos,
            df: hdr.df,
            ttl: OUTER_TTL,
            proto: uapi::PROTO_ESP,
            src: &sa.src,
            dst: &sa.id.dst,
        };
        skb.push(outer_hdr_len).map_err(|_| st::DROP_NOMEM)?;
        let d = skb.data();
        if outer_v6 {
            let h: &mut [u8; ip::IPV6_HDR_LEN] = (&mut d[..ip::IPV6_HDR_LEN])
                .try_into()
                .map_err(|_| st::DROP_NOMEM)?;
            ip::write_ipv6(h, &o).ok_or(st::DROP_MTU)?;
        } else {
            let h: &mut [u8; ip::IPV4_HDR_LEN] = (&mut d[..ip::IPV4_HDR_LEN])
                .try_into()
                .map_err(|_| st::DROP_NOMEM)?;
            ip::write_ipv4(h, &o).ok_or(st::DROP_MTU)?;
        }
    } else {
        let total = skb.len();
        ip::set_proto_and_len(skb.data(), uapi::PROTO_ESP, total).ok_or(st::DROP_MTU)?;
    }
    sa.counters.add(st::PACKETS_OUT, 1);
    sa.counters.add(st::BYTES_OUT, inner_len as u64);
    state.counters.add(st::PACKETS_OUT, 1);
    state.counters.add(st::BYTES_OUT, inner_len as u64);
    expire::note_use(state, sa);
    let (src, dst) = if tunnel {
        (sa.src, sa.id.dst)
    } else {
        (hdr.src, hdr.dst)
    };
    let v6 = if tunnel {
        outer_v6
    } else {
        hdr.family == AF_INET6
    };
    // The packet is counted as sent above; a routing or device failure is counted here.
    skb.output(net, v6, &src, &dst, !tunnel)
        .map_err(|_| st::DROP_NO_ROUTE)
}
