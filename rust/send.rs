// SPDX-License-Identifier: GPL-2.0
//! Outbound: the POST_ROUTING hook matches packets against the SPD and encapsulates those a
//! protect policy covers in ESP (RFC 4303) through the SA's AEAD, or in AH (RFC 4302) through
//! its keyed hash, tunnel or transport mode.
//!
//! The SPD sees the packet's real upper-layer protocol and ports, past any IPv6 extension
//! headers. Fragments arrive reassembled (netfilter's defragmentation runs at LOCAL_OUT); one
//! that was not, and that a protect or discard policy may cover, is dropped (RFC 4301 §7).

use crate::{
    ah::{self, AH_HDR_LEN},
    ah_icv,
    alg::CryptoKind,
    esp, events, expire,
    ffi::{self, Net, Rcu, Skb, Verdict, WritableSkb},
    headers::{self, Chain},
    ip,
    net_state::NetState,
    packet::{self, count_drop, crypto_failure},
    pmtu, replay,
    sad::Sa,
    selector::{Decision, AF_INET, AF_INET6},
    spd::Template,
    uapi::{self, DropReason},
    udp_encap::{self, UDP_HDR_LEN},
};
use kernel::prelude::*;

/// Room left in front of an outer header for the link layer: Ethernet with VLAN tags (the
/// stack makes more for devices that need it), so that forwarded packets fit in place.
const LL_RESERVE: usize = 32;
/// Hop limit / TTL of outer headers.
const OUTER_TTL: u8 = 64;
/// Segments of a GSO packet sent with bottom halves off at a time.
const GSO_BATCH: usize = 64;

/// The POST_ROUTING hook.
#[inline(always)]
pub(crate) fn hook(net: Net<'_>, state: &NetState, mut skb: Skb, rcu: Rcu<'_>) -> Verdict {
    let spd = &state.spd;
    if spd.is_empty(uapi::DIR_OUT) {
        return Verdict::Accept(skb);
    }
    // What an IPsec transform (ours or XFRM's) just made is not protected again; asked before
    // the header chain is walked, since every packet ripsec sends comes by twice.
    if skb.transformed() {
        return Verdict::Accept(skb);
    }
    let (chain, gso) = match packet::chain_gso(&mut skb) {
        Ok(c) => c,
        Err(reason) => {
            count_drop(state, None, reason);
            return Verdict::Drop(skb);
        }
    };
    let flow = chain.flow();
    // Policies and SAs are borrowed under `rcu`: no shared reference count is written.
    let policy = match spd.decide(uapi::DIR_OUT, &flow, chain.known, rcu) {
        Decision::Matched(p) if !chain.is_fragment() || p.action == uapi::ACTION_BYPASS => p,
        // A fragment netfilter did not reassemble is never protected (its other fragments
        // would leave differently), nor let out when a policy may want it protected.
        Decision::Matched(_) | Decision::Maybe(_) => {
            count_drop(state, None, DropReason::Fragment);
            return Verdict::Drop(skb);
        }
        Decision::Unmatched => return Verdict::Accept(skb),
    };
    let tmpl = match (policy.action, policy.tmpl) {
        (uapi::ACTION_PROTECT, Some(t)) => t,
        (uapi::ACTION_DISCARD, _) => {
            count_drop(state, None, DropReason::Discard);
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
        .find_out(tmpl.reqid, &want_dst, |sa| fits(sa) && !sa.expired(), rcu);
    let Some(sa) = sa else {
        // No usable SA: ask the key manager for one, and drop the packet.
        events::acquire(net, policy, &flow, ffi::seconds());
        match state.sad.find_out(tmpl.reqid, &want_dst, fits, rcu) {
            Some(old) => count_drop(state, Some(old), DropReason::Expired),
            None => count_drop(state, None, DropReason::NoSa),
        }
        return Verdict::Drop(skb);
    };
    // Segments share the packet's route and control block.
    let (may_fragment, dev_mtu) = skb.out_limits(chain.family == AF_INET6);
    let out = Outbound {
        net,
        state,
        sa,
        tmpl: &tmpl,
        may_fragment,
        dev_mtu,
    };
    if gso {
        let Ok(segs) = skb.segment() else {
            count_drop(state, Some(sa), DropReason::NoMem);
            return Verdict::Drop(skb);
        };
        drop(skb);
        out.send_segments(segs);
        return Verdict::Stolen;
    }
    out.send(skb, Some(chain));
    Verdict::Stolen
}

/// What every packet of one hook call is sent with.
struct Outbound<'a> {
    net: Net<'a>,
    state: &'a NetState,
    sa: &'a Sa,
    tmpl: &'a Template,
    /// The packet may be fragmented (a local datagram the stack would fragment) or was
    /// reassembled from fragments by netfilter: its sender will not make it smaller, so the
    /// ESP packet is fragmented instead of the sender told "too big".
    may_fragment: bool,
    /// MTU of the device the route leaves through (0: no route).
    dev_mtu: usize,
}

/// The inner packet's headers and where its ESP header goes.
struct Layout {
    chain: Chain,
    tunnel: bool,
    /// Bytes protected: the whole packet (tunnel) or what follows `chain.unfrag_len`.
    payload_len: usize,
    /// The ESP trailer's next header.
    next_header: u8,
    /// Bytes in front of the ESP header: the outer header, or the inner headers that stay
    /// (without the UDP header of an encapsulating SA).
    front_len: usize,
    /// The UDP header's length if the SA encapsulates, else 0.
    udp_len: usize,
}

impl Outbound<'_> {
    /// Encapsulates and sends one packet (whose header chain the hook may have walked
    /// already); on failure counts the reason and frees it.
    fn send(&self, skb: Skb, chain: Option<Chain>) {
        // From the sequence number to the wire, nothing else on this CPU may send on the SA
        // (a softirq would overtake this packet, and the peer's replay window drop it); the
        // per-CPU crypto request room needs bottom halves off too.
        let bh = ffi::BottomHalvesOff::new();
        if let Err(reason) = self.encapsulate(skb, chain, &bh) {
            count_drop(self.state, Some(self.sa), reason);
        }
    }

    /// Sends a GSO packet's segments. Softirqs wait until a batch of them is out: a receiver
    /// on this host (a veth peer, a netns) then takes them together, which GRO merges again,
    /// instead of one by one. A batch fits the 256 packets a veth peer in NAPI mode holds; a
    /// BIG TCP packet can have more segments.
    fn send_segments(&self, segs: impl Iterator<Item = Skb>) {
        let mut segs = segs.peekable();
        while segs.peek().is_some() {
            let _bh = ffi::BottomHalvesOff::new();
            for seg in segs.by_ref().take(GSO_BATCH) {
                self.send(seg, None);
            }
        }
    }

    fn encapsulate(
        &self,
        skb: Skb,
        chain: Option<Chain>,
        bh: &ffi::BottomHalvesOff,
    ) -> Result<(), DropReason> {
        let sa = self.sa;
        if sa.expired() {
            return Err(DropReason::Expired);
        }
        let mut skb = skb
            .into_writable_to_encrypt()
            .map_err(|_| DropReason::NoMem)?;
        let layout = self.layout(&mut skb, chain)?;
        let inner_len = layout.chain.total_len;
        let outer_tos = ip::outer_tos(ip::tos(skb.data()));
        let max_packet = self.check_mtu(&mut skb, &layout)?;
        pmtu::clamp_mss(&mut skb, &layout.chain, max_packet);
        let seq = sa.next_seq().map_err(|_| DropReason::SeqOverflow)?;
        let ah = sa.id.proto == uapi::PROTO_AH;
        if ah {
            self.insert_ah(&mut skb, &layout, seq)?;
        } else {
            self.protect(&mut skb, &layout, seq, bh)?;
        }
        self.add_front(&mut skb, &layout, outer_tos)?;
        packet::count_packet(self.state, sa, true, inner_len);
        expire::note_use(self.state, sa);
        let c = &layout.chain;
        let (src, dst, v6) = if layout.tunnel {
            (sa.src, sa.id.dst, sa.id.family == AF_INET6)
        } else {
            (c.src, c.dst, c.family == AF_INET6)
        };
        // Transport mode shares the sender's route, so a PMTU learnt from us would also
        // limit the ESP packet: there IP fragments the ESP packet instead (see `check_mtu`).
        let ignore_df = !layout.tunnel || self.may_fragment;
        if ah {
            self.sign_ah(&mut skb, &layout, seq, ignore_df)?;
        }
        // The packet is counted as sent above; a routing or device failure is counted here.
        skb.output((self.net, &sa.route), v6, &src, &dst, (ignore_df, ah))
            .map_err(|_| DropReason::NoRoute)
    }

    fn layout(&self, skb: &mut WritableSkb, chain: Option<Chain>) -> Result<Layout, DropReason> {
        // Making the packet writable moved no byte: a chain walked before still holds. Bytes
        // past the chain's length go when `protect` or `insert_ah` grows the packet.
        let chain = match chain {
            Some(c) => c,
            None => headers::walk_all(skb.data()).map_err(|_| DropReason::Malformed)?,
        };
        let tunnel = self.tmpl.mode == uapi::MODE_TUNNEL;
        let udp_len = if self.sa.encap.is_some() {
            UDP_HDR_LEN
        } else {
            0
        };
        Ok(if tunnel {
            let next_header = if chain.family == AF_INET6 {
                ip::PROTO_IPV6
            } else {
                ip::PROTO_IPIP
            };
            Layout {
                chain,
                tunnel,
                payload_len: chain.total_len,
                next_header,
                front_len: if self.sa.id.family == AF_INET6 {
                    ip::IPV6_HDR_LEN
                } else {
                    ip::IPV4_HDR_LEN
                },
                udp_len,
            }
        } else {
            Layout {
                chain,
                tunnel,
                payload_len: chain.total_len - chain.unfrag_len,
                next_header: skb.data()[chain.unfrag_proto_at],
                front_len: chain.unfrag_len,
                udp_len,
            }
        })
    }

    /// Path MTU: a packet that may not be fragmented and would not fit once encapsulated is
    /// refused with ICMP. Returns the largest packet that fits (0: unknown).
    ///
    /// Transport mode shares the sender's route, so a PMTU the sender learns from us also
    /// limits the ESP packet, which IP then fragments: the sender is told only once ICMP said
    /// the path is narrower than the device, where the whole ESP packet would not get through.
    fn check_mtu(&self, skb: &mut WritableSkb, l: &Layout) -> Result<usize, DropReason> {
        let dev_mtu = self.dev_mtu;
        let mtu = self.sa.path_mtu(dev_mtu);
        let max = pmtu::max_packet(self.sa, mtu, l.tunnel, l.front_len, self.front_v6(l));
        let v6 = l.chain.family == AF_INET6;
        // IPv6 senders never go below 1280 bytes: below that, fragmenting the ESP packet is
        // the only way through.
        let no_frag = (l.chain.df || v6) && !self.may_fragment && !(v6 && max < 1280);
        let tell = l.tunnel || mtu < dev_mtu;
        if tell && mtu != 0 && l.chain.total_len > max && no_frag {
            skb.icmp_too_big(max, v6);
            return Err(DropReason::Mtu);
        }
        Ok(max)
    }

    /// Adds the ESP header, IV and trailer around the payload and encrypts it. In transport
    /// mode the headers in front of the payload move up to make room.
    fn protect(
        &self,
        skb: &mut WritableSkb,
        l: &Layout,
        seq: u64,
        bh: &ffi::BottomHalvesOff,
    ) -> Result<(), DropReason> {
        let sa = self.sa;
        let aead = sa.aead().ok_or(DropReason::NoSa)?;
        let alg = sa.alg;
        let (iv_len, icv_len) = (usize::from(alg.iv_len), usize::from(alg.icv_len));
        let pad = esp::pad_len(l.payload_len, alg.pad_align());
        let trailer = pad + esp::TRAILER_MIN;
        let esp_hdr = esp::ESP_HDR_LEN + iv_len;
        let front = if l.tunnel { l.front_len } else { 0 };
        let room = (
            LL_RESERVE + front + l.udp_len + esp_hdr + 4,
            trailer + icv_len,
        );
        skb.grow(l.chain.total_len, room, esp_hdr, trailer + icv_len)
            .map_err(|_| DropReason::NoMem)?;
        let end = skb.len();
        esp::write_trailer(
            &mut skb.data()[end - icv_len - trailer..end - icv_len],
            l.next_header,
        )
        .map_err(|_| DropReason::Malformed)?;
        if !l.tunnel {
            skb.data().copy_within(esp_hdr..esp_hdr + l.front_len, 0);
        }
        // With ESN the associated data starts 4 bytes before the ESP header
        // (`esp::esn_prepare`); in tunnel mode those 4 bytes are borrowed from the headroom.
        let borrowed = if sa.esn && l.tunnel { 4 } else { 0 };
        skb.push(borrowed).map_err(|_| DropReason::NoMem)?;
        let esp_at = if l.tunnel { borrowed } else { l.front_len };
        let mut iv = [0u8; 16];
        let iv = &mut iv[..iv_len];
        match alg.kind {
            // Counter-based IVs (RFC 4106 §3, RFC 7634 §2): the sequence number, unique per key.
            CryptoKind::Aead => esp::copy_iv(iv, &seq.to_be_bytes()[..iv_len]),
            // CBC needs unpredictable IVs (RFC 3602 §2.3).
            _ => ffi::random_bytes(iv),
        }
        let d = skb.data();
        let mut h = [0u8; esp::ESP_HDR_LEN];
        esp::write_header(&mut h, sa.id.spi, replay::seq_lo(seq));
        d[esp_at..esp_at + esp::ESP_HDR_LEN].copy_from_slice(&h);
        esp::copy_iv(&mut d[esp_at + esp::ESP_HDR_LEN..esp_at + esp_hdr], iv);
        let cryptlen = l.payload_len + trailer;
        if sa.esn {
            let saved =
                esp::esn_prepare(d, esp_at, replay::seq_hi(seq)).ok_or(DropReason::Malformed)?;
            let r = aead.crypt(&mut d[esp_at - 4..], esp_hdr + 4, cryptlen, iv, true, bh);
            esp::esn_restore(d, esp_at, saved).ok_or(DropReason::Malformed)?;
            r.map_err(crypto_failure)?;
        } else {
            aead.crypt(&mut d[esp_at..], esp_hdr, cryptlen, iv, true, bh)
                .map_err(crypto_failure)?;
        }
        skb.pull(borrowed).map_err(|_| DropReason::NoMem)
    }

    /// Whether the header in front of ESP or AH is IPv6.
    fn front_v6(&self, l: &Layout) -> bool {
        if l.tunnel {
            self.sa.id.family == AF_INET6
        } else {
            l.chain.family == AF_INET6
        }
    }

    /// The length of the SA's AH header in front of this packet.
    fn ah_len(&self, l: &Layout) -> usize {
        let sa = self.sa;
        ah::ah_len(usize::from(sa.alg.icv_len), self.front_v6(l), sa.ah_align8)
    }

    /// Inserts the AH header, its ICV field zeroed, where ESP's would go.
    fn insert_ah(&self, skb: &mut WritableSkb, l: &Layout, seq: u64) -> Result<(), DropReason> {
        let len = self.ah_len(l);
        let front = if l.tunnel { l.front_len } else { 0 };
        skb.grow(l.chain.total_len, (LL_RESERVE + front + len, 0), len, 0)
            .map_err(|_| DropReason::NoMem)?;
        let at = if l.tunnel {
            0
        } else {
            skb.data().copy_within(len..len + l.front_len, 0);
            l.front_len
        };
        let h = skb
            .data()
            .get_mut(at..at + len)
            .ok_or(DropReason::Malformed)?;
        ah::write_header(h, l.next_header, self.sa.id.spi, replay::seq_lo(seq))
            .ok_or(DropReason::Malformed)
    }

    /// Writes the ICV of the finished AH packet. An outer IPv4 header gets its ID first:
    /// the ICV covers it.
    fn sign_ah(
        &self,
        skb: &mut WritableSkb,
        l: &Layout,
        seq: u64,
        ignore_df: bool,
    ) -> Result<(), DropReason> {
        let v6 = self.front_v6(l);
        if l.tunnel && !v6 {
            skb.select_ip_ident(self.net, ignore_df)
                .map_err(|_| DropReason::Malformed)?;
        }
        let family = if v6 { AF_INET6 } else { AF_INET };
        let (at, icv_len) = (l.front_len, usize::from(self.sa.alg.icv_len));
        let icv = ah_icv::icv(self.sa, skb.data(), family, at, self.ah_len(l), seq)?;
        let field = at + AH_HDR_LEN;
        let d = skb.data();
        d.get_mut(field..field + icv_len)
            .ok_or(DropReason::Malformed)?
            .copy_from_slice(&icv[..icv_len]);
        Ok(())
    }

    /// Tunnel mode: the outer header. Transport mode: the headers that stay now name ESP or
    /// AH. An encapsulating SA's UDP header goes between them and ESP.
    #[inline(always)]
    fn add_front(&self, skb: &mut WritableSkb, l: &Layout, tos: u8) -> Result<(), DropReason> {
        let sa = self.sa;
        let proto = if l.udp_len != 0 {
            udp_encap::PROTO_UDP
        } else {
            sa.id.proto
        };
        if !l.tunnel {
            self.add_udp(skb, l.front_len)?;
            let total = skb.len();
            ip::set_proto_and_len(skb.data(), l.chain.unfrag_proto_at, proto, total)
                .ok_or(DropReason::Mtu)?;
            let v6 = l.chain.family == AF_INET6;
            return self.udp_checksum(skb, l, v6, &l.chain.src, &l.chain.dst);
        }
        self.add_udp(skb, 0)?;
        let o = ip::Outer {
            payload_len: skb.len(),
            tos,
            df: l.chain.df && !self.may_fragment,
            ttl: OUTER_TTL,
            proto,
            src: &sa.src,
            dst: &sa.id.dst,
        };
        skb.push(l.front_len).map_err(|_| DropReason::NoMem)?;
        let d = skb.data();
        let v6 = sa.id.family == AF_INET6;
        if v6 {
            let h: &mut [u8; ip::IPV6_HDR_LEN] = (&mut d[..ip::IPV6_HDR_LEN])
                .try_into()
                .map_err(|_| DropReason::NoMem)?;
            ip::write_ipv6(h, &o).ok_or(DropReason::Mtu)?;
        } else {
            let h: &mut [u8; ip::IPV4_HDR_LEN] = (&mut d[..ip::IPV4_HDR_LEN])
                .try_into()
                .map_err(|_| DropReason::NoMem)?;
            ip::write_ipv4(h, &o).ok_or(DropReason::Mtu)?;
        }
        self.udp_checksum(skb, l, v6, &sa.src, &sa.id.dst)
    }

    /// For an encapsulating SA, inserts the UDP header in front of the ESP header, behind the
    /// `keep` bytes of headers that stay in front.
    fn add_udp(&self, skb: &mut WritableSkb, keep: usize) -> Result<(), DropReason> {
        let Some(encap) = &self.sa.encap else {
            return Ok(());
        };
        let esp_len = skb.len() - keep;
        skb.push(UDP_HDR_LEN).map_err(|_| DropReason::NoMem)?;
        let d = skb.data();
        d.copy_within(UDP_HDR_LEN..UDP_HDR_LEN + keep, 0);
        let (sport, dport) = encap.ports();
        let h: &mut [u8; UDP_HDR_LEN] = (&mut d[keep..keep + UDP_HDR_LEN])
            .try_into()
            .map_err(|_| DropReason::NoMem)?;
        udp_encap::write(h, sport, dport, esp_len).ok_or(DropReason::Mtu)
    }

    /// IPv6 UDP needs a checksum (RFC 8200 §8.1); IPv4's stays zero (RFC 3948 §2.1).
    fn udp_checksum(
        &self,
        skb: &mut WritableSkb,
        l: &Layout,
        v6: bool,
        src: &[u8; 16],
        dst: &[u8; 16],
    ) -> Result<(), DropReason> {
        if l.udp_len == 0 || !v6 {
            return Ok(());
        }
        let udp = skb
            .data()
            .get_mut(l.front_len..)
            .ok_or(DropReason::Malformed)?;
        ffi::udp6_checksum(udp, src, dst).map_err(|_| DropReason::Malformed)
    }
}
