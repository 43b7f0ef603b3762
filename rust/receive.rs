// SPDX-License-Identifier: GPL-2.0
//! Inbound: the LOCAL_IN hook takes ESP packets for this host, finds their SA (O(1), lock-free),
//! checks replay, authenticates and decrypts them, then hands the inner packet back to the
//! stack. Every drop is counted by reason, globally and per SA.

use crate::{
    esp,
    ffi::{Net, Skb},
    ip,
    net_state::NetState,
    sad::{Sa, SaId},
    selector::AF_INET6,
    send::Verdict,
    uapi::{self, stats_attr as st},
};

/// The LOCAL_IN hook.
pub(crate) fn hook(net: Net<'_>, mut skb: Skb) -> Verdict {
    match ip::parse(skb.data()) {
        Some(h) if h.proto == uapi::PROTO_ESP => {}
        _ => return Verdict::Accept(skb),
    }
    let state = NetState::of(net);
    // Transparent in a netns where ripsec holds no SA: its ESP is someone else's (XFRM).
    if state.sad.len() == 0 {
        return Verdict::Accept(skb);
    }
    match receive(state, &mut skb) {
        Ok(Some(ipv6)) => {
            skb.reinject(ipv6);
            Verdict::Stolen
        }
        Ok(None) => Verdict::Accept(skb),
        Err((reason, sa)) => {
            state.counters.add(reason, 1);
            if let Some(sa) = sa {
                sa.counters.add(reason, 1);
            }
            Verdict::Drop(skb)
        }
    }
}

type Drop = (u16, Option<kernel::sync::Arc<Sa>>);

/// Decapsulates in place. `Ok(Some(ipv6))`: reinject the inner packet; `Ok(None)`: not ours.
fn receive(state: &NetState, skb: &mut Skb) -> Result<Option<bool>, Drop> {
    let malformed = (st::DROP_MALFORMED, None);
    skb.make_writable().map_err(|_| (st::DROP_NOMEM, None))?;
    let hdr = ip::parse(skb.data()).ok_or(malformed.clone())?;
    if hdr.total_len > skb.len() || hdr.fragment {
        return Err(malformed);
    }
    skb.trim(hdr.total_len)
        .map_err(|_| (st::DROP_MALFORMED, None))?;
    let (spi, seq_lo) =
        esp::parse_header(&skb.data()[hdr.hdr_len..]).ok_or((st::DROP_MALFORMED, None))?;
    let id = SaId {
        spi,
        proto: uapi::PROTO_ESP,
        family: hdr.family,
        dst: hdr.dst,
    };
    let sa = state.sad.get(&id).ok_or((st::DROP_NO_SA, None))?;
    let fail = |reason| (reason, Some(sa.clone()));
    let alg = sa.alg;
    let (iv_len, icv_len) = (usize::from(alg.iv_len), usize::from(alg.icv_len));
    let esp_hdr = esp::ESP_HDR_LEN + iv_len;
    let esp_len = hdr.total_len - hdr.hdr_len;
    if esp_len < esp_hdr + esp::TRAILER_MIN + icv_len {
        return Err(fail(st::DROP_MALFORMED));
    }
    let seq = sa
        .rt
        .lock()
        .replay
        .check(seq_lo)
        .map_err(|_| fail(st::DROP_REPLAY))?;
    let aead = sa.aead().ok_or(fail(st::DROP_NO_SA))?;
    {
        let d = &mut skb.data()[hdr.hdr_len..];
        let mut iv = [0u8; 16];
        iv[..iv_len].copy_from_slice(&d[esp::ESP_HDR_LEN..esp_hdr]);
        aead.crypt(d, esp_hdr, esp_len - esp_hdr, &mut iv[..iv_len], false)
            .map_err(|_| fail(st::DROP_AUTH))?;
    }
    // Authenticated: now the window may move.
    sa.rt
        .lock()
        .replay
        .accept(seq)
        .map_err(|_| fail(st::DROP_REPLAY))?;
    let plain_end = hdr.total_len - icv_len;
    let (inner_len, next_header) =
        esp::parse_trailer(&skb.data()[hdr.hdr_len + esp_hdr..plain_end])
            .map_err(|_| fail(st::DROP_TRAILER))?;
    sa.counters.add(st::PACKETS_IN, 1);
    sa.counters.add(st::BYTES_IN, inner_len as u64);
    state.counters.add(st::PACKETS_IN, 1);
    state.counters.add(st::BYTES_IN, inner_len as u64);
    if sa.mode == uapi::MODE_TUNNEL {
        let inner_v6 = match next_header {
            ip::PROTO_IPIP => false,
            ip::PROTO_IPV6 => true,
            _ => return Err(fail(st::DROP_POLICY)),
        };
        skb.pull(hdr.hdr_len + esp_hdr)
            .map_err(|_| fail(st::DROP_MALFORMED))?;
        skb.trim(inner_len).map_err(|_| fail(st::DROP_MALFORMED))?;
        return Ok(Some(inner_v6));
    }
    // Transport mode: the IP header moves down over the ESP header and takes its protocol.
    let hl = hdr.hdr_len;
    skb.data().copy_within(0..hl, esp_hdr);
    skb.pull(esp_hdr).map_err(|_| fail(st::DROP_MALFORMED))?;
    skb.trim(hl + inner_len)
        .map_err(|_| fail(st::DROP_MALFORMED))?;
    ip::set_proto_and_len(skb.data(), next_header, hl + inner_len)
        .ok_or(fail(st::DROP_MALFORMED))?;
    Ok(Some(hdr.family == AF_INET6))
}
