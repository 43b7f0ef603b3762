// SPDX-License-Identifier: GPL-2.0
//! Inbound: the LOCAL_IN hook takes ESP packets for this host, finds their SA (O(1), lock-free),
//! checks replay, authenticates and decrypts them, checks the inner packet against the inbound
//! policy the SA serves, then hands it back to the stack marked as decrypted. LOCAL_IN and
//! FORWARD drop plaintext that an inbound policy says must arrive protected. Every drop is
//! counted by reason, globally and per SA.

use crate::{
    esp, expire,
    ffi::{Net, Skb},
    ip,
    net_state::NetState,
    replay,
    sad::{Sa, SaId},
    selector::{Flow, AF_INET6},
    send::Verdict,
    spd::Spd,
    uapi::{self, stats_attr as st},
};

/// The LOCAL_IN (`forward` false) and FORWARD hooks.
pub(crate) fn hook(net: Net<'_>, mut skb: Skb, forward: bool) -> Verdict {
    let state = NetState::of(net);
    let esp = matches!(ip::parse(skb.data()), Some(h) if h.proto == uapi::PROTO_ESP);
    if esp && !forward {
        // Transparent in a netns where ripsec holds no SA: its ESP is someone else's (XFRM).
        if state.sad.len() == 0 {
            return Verdict::Accept(skb);
        }
        return match receive(state, &mut skb) {
            Ok(ipv6) => {
                if skb.reinject(ipv6, &state.marker).is_err() {
                    state.counters.add(st::DROP_NOMEM, 1);
                }
                Verdict::Stolen
            }
            Err((reason, sa)) => {
                state.counters.add(reason, 1);
                if let Some(sa) = sa {
                    sa.counters.add(reason, 1);
                }
                Verdict::Drop(skb)
            }
        };
    }
    // Decrypted packets were checked against policy before reinjection.
    if skb.decrypted(&state.marker) {
        return Verdict::Accept(skb);
    }
    let dir = if forward { uapi::DIR_FWD } else { uapi::DIR_IN };
    match plaintext_verdict(state, dir, skb.data()) {
        Ok(()) => Verdict::Accept(skb),
        Err(reason) => {
            state.counters.add(reason, 1);
            Verdict::Drop(skb)
        }
    }
}

/// Plaintext must not match an inbound protect (or discard) policy.
fn plaintext_verdict(state: &NetState, dir: u8, pkt: &[u8]) -> Result<(), u16> {
    let Some(spd) = state.spd() else {
        return Ok(());
    };
    if spd.is_empty(dir) {
        return Ok(());
    }
    let Some(flow) = ip::flow(pkt) else {
        return Ok(());
    };
    match spd.lookup(dir, &flow).map(|p| p.action) {
        Some(uapi::ACTION_PROTECT) => Err(st::DROP_POLICY),
        Some(uapi::ACTION_DISCARD) => Err(st::DROP_DISCARD),
        _ => Ok(()),
    }
}

/// Whether `sa` may carry `flow`: the winning inbound (or forward) policy for the decrypted
/// packet protects it with a template this SA satisfies (RFC 4301 §5.2, step 4).
fn allowed(spd: Option<&Spd>, sa: &Sa, flow: &Flow) -> bool {
    let Some(spd) = spd else {
        return false;
    };
    [uapi::DIR_IN, uapi::DIR_FWD].into_iter().any(|dir| {
        spd.lookup(dir, flow).is_some_and(|p| {
            p.action == uapi::ACTION_PROTECT
                && p.tmpl.is_some_and(|t| {
                    t.proto == sa.id.proto
                        && t.mode == sa.mode
                        && (t.reqid == 0 || t.reqid == sa.reqid)
                        && (t.mode != uapi::MODE_TUNNEL
                            || (t.family == sa.id.family && t.src == sa.src && t.dst == sa.id.dst))
                })
        })
    })
}

type Drop = (u16, Option<kernel::sync::Arc<Sa>>);

/// Decapsulates in place; `Ok(ipv6)`: reinject the inner packet, of that family.
fn receive(state: &NetState, skb: &mut Skb) -> Result<bool, Drop> {
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
    if sa.expired() {
        return Err(fail(st::DROP_EXPIRED));
    }
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
        let at = hdr.hdr_len;
        let d = skb.data();
        let mut iv = [0u8; 16];
        iv[..iv_len].copy_from_slice(&d[at + esp::ESP_HDR_LEN..at + esp_hdr]);
        let cryptlen = esp_len - esp_hdr;
        let r = if sa.esn {
            // The IP header's last 4 bytes hold the SPI meanwhile (`esp::esn_prepare`).
            let saved =
                esp::esn_prepare(d, at, replay::seq_hi(seq)).ok_or(fail(st::DROP_MALFORMED))?;
            let r = aead.crypt(
                &mut d[at - 4..],
                esp_hdr + 4,
                cryptlen,
                &mut iv[..iv_len],
                false,
            );
            esp::esn_restore(d, at, saved).ok_or(fail(st::DROP_MALFORMED))?;
            r
        } else {
            aead.crypt(&mut d[at..], esp_hdr, cryptlen, &mut iv[..iv_len], false)
        };
        r.map_err(|_| fail(st::DROP_AUTH))?;
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
    expire::note_use(state, &sa);
    let ipv6 = if sa.mode == uapi::MODE_TUNNEL {
        let inner_v6 = match next_header {
            ip::PROTO_IPIP => false,
            ip::PROTO_IPV6 => true,
            _ => return Err(fail(st::DROP_POLICY)),
        };
        skb.pull(hdr.hdr_len + esp_hdr)
            .map_err(|_| fail(st::DROP_MALFORMED))?;
        skb.trim(inner_len).map_err(|_| fail(st::DROP_MALFORMED))?;
        inner_v6
    } else {
        // Transport mode: the IP header moves down over the ESP header and takes its protocol.
        let hl = hdr.hdr_len;
        skb.data().copy_within(0..hl, esp_hdr);
        skb.pull(esp_hdr).map_err(|_| fail(st::DROP_MALFORMED))?;
        skb.trim(hl + inner_len)
            .map_err(|_| fail(st::DROP_MALFORMED))?;
        ip::set_proto_and_len(skb.data(), next_header, hl + inner_len)
            .ok_or(fail(st::DROP_MALFORMED))?;
        hdr.family == AF_INET6
    };
    let flow = ip::flow(skb.data()).ok_or(fail(st::DROP_MALFORMED))?;
    if !allowed(state.spd().as_deref(), &sa, &flow) {
        return Err(fail(st::DROP_POLICY));
    }
    Ok(ipv6)
}
