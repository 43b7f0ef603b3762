// SPDX-License-Identifier: GPL-2.0
//! Inbound: the LOCAL_IN hook takes ESP and AH packets for this host, finds their SA (O(1),
//! lock-free), checks replay, authenticates (and decrypts) them, checks the inner packet against the inbound
//! policy the SA serves, then hands it back to the stack marked as decrypted. LOCAL_IN and
//! FORWARD drop plaintext that an inbound policy says must arrive protected. Every drop is
//! counted by reason, globally and per SA.
//!
//! Policy decisions see the real upper-layer protocol and ports, past IPv6 extension headers,
//! and ESP is found behind them too. Fragments arrive reassembled (netfilter's
//! defragmentation runs at PRE_ROUTING); one that was not, and that a protect or discard policy
//! may cover, is dropped (RFC 4301 §7). Decrypted fragments are reassembled in ripsec's own
//! queues, so a plaintext fragment can never complete a protected datagram; so are fragmented
//! ESP and AH packets themselves, before they are authenticated.

use crate::{
    ah, ah_icv, esp, events, expire,
    ffi::{self, Net, Rcu, Reinjection, Skb, Verdict, WritableSkb},
    headers::{self, Chain, ChainError},
    ip,
    net_state::NetState,
    packet::{self, count_drop},
    pmtu, replay,
    sad::{Sa, SaId, OUTER_FRAG_QUEUE},
    selector::{Decision, AF_INET6},
    spd::{Policy, SpdIndex},
    uapi::{self, DropReason},
    udp_encap::{self, Datagram, Endpoint},
};
use kernel::prelude::*;

/// The LOCAL_IN (`forward` false) and FORWARD hooks.
#[inline(always)]
pub(crate) fn hook(
    net: Net<'_>,
    state: &NetState,
    mut skb: Skb,
    forward: bool,
    rcu: Rcu<'_>,
) -> Verdict {
    let dir = if forward { uapi::DIR_FWD } else { uapi::DIR_IN };
    let spd = &state.spd;
    let guarded = !spd.is_empty(dir);
    // Transparent in a netns where ripsec holds no SA: its ESP is someone else's (XFRM).
    let ours = !forward && state.sad.len() != 0;
    if !guarded && !ours {
        return Verdict::Accept(skb);
    }
    // Every packet ripsec decrypts comes by again, checked against policy already.
    if skb.decrypted(&state.marker) && plainly_delivered(&mut skb) {
        if !forward {
            skb.spare_xfrm_check(net, &state.marker);
        }
        return Verdict::Accept(skb);
    }
    let chain = match packet::chain(&mut skb) {
        Ok(c) => c,
        Err(reason) if guarded => {
            count_drop(state, None, reason);
            return Verdict::Drop(skb);
        }
        Err(_) => return Verdict::Accept(skb),
    };
    if ours && (chain.proto == uapi::PROTO_ESP || chain.proto == uapi::PROTO_AH) {
        match skb.into_writable() {
            Ok(skb) if chain.is_fragment() => esp_fragment_in(net, state, skb, &chain, rcu),
            Ok(skb) => esp_in(net, state, skb, &chain, None, rcu),
            Err(_) => count_drop(state, None, DropReason::NoMem),
        }
        return Verdict::Stolen;
    }
    if ours {
        pmtu::note_icmp(net, state, &mut skb, &chain);
    }
    // ESP in UDP meets policy once decapsulated, on its way from the socket (`espinudp.rs`).
    if !forward && to_encap_socket(state, &mut skb, &chain) {
        return Verdict::Accept(skb);
    }
    // Decrypted packets were checked against policy before reinjection.
    if !guarded || skb.decrypted(&state.marker) {
        return Verdict::Accept(skb);
    }
    match plaintext_verdict(spd, dir, &chain, rcu) {
        Ok(()) => Verdict::Accept(skb),
        Err(reason) => {
            count_drop(state, None, reason);
            Verdict::Drop(skb)
        }
    }
}

/// Whether a decrypted packet needs no more from this hook, seen without walking its headers:
/// IPv4 (ripsec reassembled it) that is neither ESP nor AH to open again nor ICMP that may
/// carry news of a path MTU. Anything else takes the long way.
fn plainly_delivered(skb: &mut Skb) -> bool {
    let Ok(head) = skb.head(ip::IPV4_HDR_LEN) else {
        return false;
    };
    match head {
        [0x45..=0x4f, _, _, _, _, _, _, _, _, proto, ..] => !matches!(
            *proto,
            uapi::PROTO_ESP | uapi::PROTO_AH | headers::PROTO_ICMP
        ),
        _ => false,
    }
}

/// IPv6 PRE_ROUTING, just before netfilter's defragmentation (which ripsec turned on): a
/// packet that it would hide from ripsec's hooks although it is malformed (a Fragment header
/// cut short, or behind AH; see `headers::hidden_by_defrag`) is dropped and counted here.
pub(crate) fn before_defrag(state: &NetState, mut skb: Skb) -> Verdict {
    if !state.defragmenting() {
        return Verdict::Accept(skb);
    }
    let len = skb.len();
    let mut want = ip::IPV6_HDR_LEN;
    loop {
        let Ok(head) = skb.head(want) else {
            return Verdict::Accept(skb);
        };
        match headers::hidden_by_defrag(head, len) {
            Ok(false) => return Verdict::Accept(skb),
            Ok(true) => {
                count_drop(state, None, DropReason::Malformed);
                return Verdict::Drop(skb);
            }
            // The walker asks for more than it had, never more than the packet.
            Err(ChainError::NeedMore(n)) if n > want && n <= len => want = n,
            Err(_) => return Verdict::Accept(skb),
        }
    }
}

/// Whether the packet is ESP in UDP (or a NAT keepalive) for one of the netns's encapsulation
/// sockets.
fn to_encap_socket(state: &NetState, skb: &mut Skb, chain: &Chain) -> bool {
    if chain.proto != udp_encap::PROTO_UDP || !state.is_encap_port(chain.ports.1) {
        return false;
    }
    let at = chain.l4_at;
    let Ok(head) = skb.head(at + udp_encap::UDP_HDR_LEN + udp_encap::CLASSIFY_LEN) else {
        return false;
    };
    // What the socket's handler counts as malformed goes there too.
    !matches!(
        head.get(at..).and_then(udp_encap::classify_datagram),
        Some((_, Datagram::Ike))
    )
}

/// Plaintext must not match an inbound protect (or discard) policy, nor may a fragment that
/// such a policy might cover pass.
fn plaintext_verdict(
    spd: &SpdIndex,
    dir: u8,
    chain: &Chain,
    rcu: Rcu<'_>,
) -> Result<(), DropReason> {
    match spd.decide(dir, &chain.flow(), chain.known, rcu) {
        Decision::Matched(p) if p.action == uapi::ACTION_PROTECT => Err(DropReason::Policy),
        Decision::Matched(p) if p.action == uapi::ACTION_DISCARD => Err(DropReason::Discard),
        Decision::Maybe(_) => Err(DropReason::Fragment),
        _ => Ok(()),
    }
}

/// Whether `p` protects its traffic with a template `sa` satisfies.
fn protects_with(p: &Policy, sa: &Sa) -> bool {
    p.action == uapi::ACTION_PROTECT
        && p.tmpl.is_some_and(|t| {
            t.proto == sa.id.proto
                && t.mode == sa.mode
                && (t.reqid == 0 || t.reqid == sa.reqid)
                && (t.mode != uapi::MODE_TUNNEL
                    || (t.family == sa.id.family && t.src == sa.src && t.dst == sa.id.dst))
        })
}

const INBOUND: [u8; 2] = [uapi::DIR_IN, uapi::DIR_FWD];

/// Whether `sa` may carry the whole packet `chain`: the winning inbound (or forward) policy
/// protects it with a template this SA satisfies (RFC 4301 §5.2, step 4).
fn allowed(spd: &SpdIndex, sa: &Sa, chain: &Chain, rcu: Rcu<'_>) -> bool {
    let flow = chain.flow();
    INBOUND.into_iter().any(|dir| {
        matches!(spd.decide(dir, &flow, chain.known, rcu), Decision::Matched(p) if protects_with(p, sa))
    })
}

/// Whether `sa` may carry a fragment of `chain`'s datagram: some inbound policy that may
/// cover it protects it with this SA. The whole datagram is checked once reassembled.
fn may_carry(spd: &SpdIndex, sa: &Sa, chain: &Chain) -> bool {
    let flow = chain.flow();
    INBOUND
        .into_iter()
        .any(|dir| spd.any_candidate(dir, &flow, chain.known, |p| protects_with(p, sa)))
}

type Drop<'g> = (DropReason, Option<&'g Sa>);

/// A fragment of an ESP or AH packet for this host (a peer's IP fragmented it, as IPv6 does
/// before netfilter's reassembly would see it): reassembled in ripsec's own queue for outer
/// packets, then authenticated whole. Its bytes mean nothing until the ICV says so.
fn esp_fragment_in(net: Net<'_>, state: &NetState, skb: WritableSkb, chain: &Chain, rcu: Rcu<'_>) {
    let v6 = chain.family == AF_INET6;
    let mut whole = match skb.defrag(net, v6, OUTER_FRAG_QUEUE) {
        Ok(Some(whole)) => whole,
        Ok(None) => return,
        Err(_) => return count_drop(state, None, DropReason::Fragment),
    };
    let chain = match packet::chain(&mut whole) {
        Ok(c) if !c.is_fragment() && (c.proto == uapi::PROTO_ESP || c.proto == uapi::PROTO_AH) => c,
        Ok(_) => return count_drop(state, None, DropReason::Fragment),
        Err(reason) => return count_drop(state, None, reason),
    };
    match whole.into_writable() {
        Ok(skb) => esp_in(net, state, skb, &chain, None, rcu),
        Err(_) => count_drop(state, None, DropReason::NoMem),
    }
}

/// Decapsulates an ESP or AH packet for this host (ESP may have arrived in UDP from `via`)
/// and delivers what it carries.
pub(crate) fn esp_in(
    net: Net<'_>,
    state: &NetState,
    skb: WritableSkb,
    outer: &Chain,
    via: Option<Endpoint>,
    rcu: Rcu<'_>,
) {
    // The SA and policies are borrowed under `rcu`: no shared reference count is written.
    match decapsulate(net, state, skb, outer, via, rcu) {
        Ok(Some((sa, skb, inner_v6))) => {
            if let Err(reason) = deliver(net, state, sa, skb, inner_v6, rcu) {
                count_drop(state, Some(sa), reason);
            }
        }
        // A dummy packet (RFC 4303 §2.6): authenticated, counted, and discarded.
        Ok(None) => (),
        Err((reason, sa)) => count_drop(state, sa, reason),
    }
}

/// Checks the decrypted packet against inbound policy and hands it back to the stack.
/// Fragments are first reassembled in ripsec's own queues.
fn deliver(
    net: Net<'_>,
    state: &NetState,
    sa: &Sa,
    mut skb: WritableSkb,
    v6: bool,
    rcu: Rcu<'_>,
) -> Result<(), DropReason> {
    let spd = &state.spd;
    let chain = headers::walk_all(skb.data()).map_err(|_| DropReason::Malformed)?;
    if (chain.family == AF_INET6) != v6 {
        return Err(DropReason::Malformed);
    }
    pmtu::clamp_inbound(state, &mut skb, sa, &chain, rcu);
    let (skb, chain, reassembled) = if chain.is_fragment() {
        if !may_carry(spd, sa, &chain) {
            return Err(DropReason::Policy);
        }
        let queued = skb.defrag(net, v6, sa.frag_queue);
        let Some(mut whole) = queued.map_err(|_| DropReason::Fragment)? else {
            return Ok(());
        };
        let chain = packet::chain(&mut whole)?;
        if chain.is_fragment() {
            return Err(DropReason::Fragment);
        }
        (whole, chain, true)
    } else {
        (skb.into_skb(), chain, false)
    };
    if !allowed(spd, sa, &chain, rcu) {
        return Err(DropReason::Policy);
    }
    let how = Reinjection {
        reassembled,
        checksum_ok: sa.encap.is_some() && sa.mode == uapi::MODE_TRANSPORT,
    };
    skb.reinject(v6, &state.marker, how).map_err(|e| match e {
        kernel::error::code::ELOOP => DropReason::Nesting,
        _ => DropReason::NoMem,
    })
}

/// Decapsulates in place; `Ok(Some((sa, inner, ipv6)))`: the inner packet, of that family;
/// `Ok(None)`: a dummy packet, consumed.
fn decapsulate<'g>(
    net: Net<'_>,
    state: &'g NetState,
    mut skb: WritableSkb,
    outer: &Chain,
    via: Option<Endpoint>,
    rcu: Rcu<'g>,
) -> Result<Option<(&'g Sa, WritableSkb, bool)>, Drop<'g>> {
    let malformed = (DropReason::Malformed, None);
    // Making the packet writable moved no byte: the chain's offsets still hold. Bytes past
    // the chain's length (link-layer padding) go with the headers, once decapsulated.
    let at = outer.l4_at;
    let proto = if via.is_some() {
        uapi::PROTO_ESP
    } else {
        outer.proto
    };
    let hdr = skb.data().get(at..).ok_or(malformed)?;
    let spi = if proto == uapi::PROTO_AH {
        ah::parse_header(hdr).map(|h| h.spi)
    } else {
        esp::parse_header(hdr).map(|(spi, _)| spi)
    };
    let id = SaId {
        spi: spi.ok_or(malformed)?,
        proto,
        family: outer.family,
        dst: outer.dst,
    };
    let sa: &Sa = state.sad.lookup(&id, rcu).ok_or((DropReason::NoSa, None))?;
    let fail = |reason| (reason, Some(sa));
    if sa.expired() {
        return Err(fail(DropReason::Expired));
    }
    // Encapsulated or not, as the SA says (as XFRM checks).
    if sa.encap.is_some() != via.is_some() {
        return Err(fail(DropReason::Encap));
    }
    let opened = if proto == uapi::PROTO_AH {
        ah_icv::authenticate(sa, skb.data(), outer)
    } else {
        decrypt(sa, &mut skb, outer)
    };
    let ah_icv::Opened {
        inner_len,
        next_header,
        hdr_len,
    } = opened.map_err(fail)?;
    if let Some(from) = via {
        note_mapping(net, sa, from);
    }
    packet::count_packet(state, sa, false, inner_len);
    expire::note_use(state, sa);
    if next_header == NO_NEXT_HEADER {
        return Ok(None);
    }
    let ipv6 = if sa.mode == uapi::MODE_TUNNEL {
        let inner_v6 = match next_header {
            ip::PROTO_IPIP => false,
            ip::PROTO_IPV6 => true,
            _ => return Err(fail(DropReason::Policy)),
        };
        skb.keep(at + hdr_len, inner_len)
            .map_err(|_| fail(DropReason::Malformed))?;
        inner_v6
    } else {
        // Transport mode: the headers in front move down over the ESP or AH header, and the
        // one that named it names what it carried.
        skb.data().copy_within(0..at, hdr_len);
        skb.keep(hdr_len, at + inner_len)
            .map_err(|_| fail(DropReason::Malformed))?;
        ip::set_proto_and_len(skb.data(), outer.proto_at, next_header, at + inner_len)
            .ok_or(fail(DropReason::Malformed))?;
        outer.family == AF_INET6
    };
    Ok(Some((sa, skb, ipv6)))
}

/// Authenticated ESP in UDP from another address or port than the SA's peer: the peer's NAT
/// mapping changed. The key manager hears of it (rate-limited); the SA keeps its peer.
fn note_mapping(net: Net<'_>, sa: &Sa, from: Endpoint) {
    let Some(encap) = &sa.encap else {
        return;
    };
    if from.addr == sa.src && from.port == encap.ports().0 {
        return;
    }
    let due = sa.runtime().mapping.report(from, ffi::seconds());
    if due {
        events::mapping(net, sa, &from);
    }
}

/// The next header of an ESP dummy packet (RFC 4303 §2.6).
const NO_NEXT_HEADER: u8 = 59;

/// Checks replay, authenticates and decrypts the ESP at `outer.l4_at` in place; returns the
/// inner length and the trailer's next header.
fn decrypt(sa: &Sa, skb: &mut WritableSkb, outer: &Chain) -> Result<ah_icv::Opened, DropReason> {
    let alg = sa.alg;
    let (iv_len, icv_len) = (usize::from(alg.iv_len), usize::from(alg.icv_len));
    let esp_hdr = esp::ESP_HDR_LEN + iv_len;
    let at = outer.l4_at;
    let esp_len = outer.total_len - at;
    if !esp::len_ok(esp_len, alg) {
        return Err(DropReason::Malformed);
    }
    let esp = skb.data().get(at..).ok_or(DropReason::Malformed)?;
    let (_, seq_lo) = esp::parse_header(esp).ok_or(DropReason::Malformed)?;
    // Off once for both looks at the replay window and the crypto in between, which uses
    // this CPU's request room (the receive path runs in a softirq, so this costs nothing).
    let bh = ffi::BottomHalvesOff::new();
    let seq = sa
        .runtime_under(&bh)
        .replay
        .check(seq_lo)
        .map_err(|_| DropReason::Replay)?;
    let aead = sa.aead().ok_or(DropReason::NoSa)?;
    let d = skb
        .data()
        .get_mut(..outer.total_len)
        .ok_or(DropReason::Malformed)?;
    let mut iv = [0u8; 16];
    esp::copy_iv(&mut iv[..iv_len], &d[at + esp::ESP_HDR_LEN..at + esp_hdr]);
    let cryptlen = esp_len - esp_hdr;
    let r = if sa.esn {
        // The 4 bytes in front of the ESP header hold the high sequence bits meanwhile
        // (`esp::esn_prepare`).
        let saved = esp::esn_prepare(d, at, replay::seq_hi(seq)).ok_or(DropReason::Malformed)?;
        let r = aead.crypt(
            &mut d[at - 4..],
            esp_hdr + 4,
            cryptlen,
            &mut iv[..iv_len],
            false,
            &bh,
        );
        esp::esn_restore(d, at, saved).ok_or(DropReason::Malformed)?;
        r
    } else {
        aead.crypt(
            &mut d[at..],
            esp_hdr,
            cryptlen,
            &mut iv[..iv_len],
            false,
            &bh,
        )
    };
    r.map_err(|e| match e {
        // The ICV did not match.
        e if e == EBADMSG => DropReason::Auth,
        e if e == ENOMEM => DropReason::NoMem,
        _ => DropReason::Crypto,
    })?;
    // Authenticated: now the window may move.
    sa.runtime_under(&bh)
        .replay
        .accept(seq)
        .map_err(|_| DropReason::Replay)?;
    let plain_end = outer.total_len - icv_len;
    let (inner_len, next_header) = esp::parse_trailer(&skb.data()[at + esp_hdr..plain_end])
        .map_err(|_| DropReason::Trailer)?;
    Ok(ah_icv::Opened {
        inner_len,
        next_header,
        hdr_len: esp_hdr,
    })
}
