// SPDX-License-Identifier: GPL-2.0
//! The IP header chain of a packet, as every hook and the ESP code see it: the fixed header,
//! IPv4 options, the IPv6 extension headers (hop-by-hop, routing, fragment, destination
//! options and the generic-format HIP and shim6 headers), the fragment state, and the
//! upper-layer protocol with its ports.
//!
//! [`walk`] works on a prefix of the packet (what the caller could pull into the linear
//! head) and asks for more with [`ChainError::NeedMore`]. It is bounded: at most
//! [`MAX_EXT_HEADERS`] extension headers and [`MAX_CHAIN_LEN`] bytes of them; longer chains
//! are [`ChainError::TooLong`] and malformed ones [`ChainError::Malformed`]. A hook drops
//! both (counted) rather than treating them as traffic that no policy matches.
//!
//! ESP and AH end the walk: they are the protocol ripsec looks for.

use crate::{
    ip::{IPV4_HDR_LEN, IPV6_HDR_LEN},
    selector::{Flow, Known, AF_INET, AF_INET6},
};

/// At most this many IPv6 extension headers before the upper-layer header.
pub const MAX_EXT_HEADERS: usize = 8;
/// At most this many bytes of IPv6 extension headers.
pub const MAX_CHAIN_LEN: usize = 1024;
/// What a caller pulls first: the fixed header, a short chain and the ports.
pub const FIRST_PULL: usize = 128;

/// IPv6 next-header values of the extension headers [`walk`] knows.
pub const NH_HOP_BY_HOP: u8 = 0;
/// IPv6 routing header.
pub const NH_ROUTING: u8 = 43;
/// IPv6 fragment header.
pub const NH_FRAGMENT: u8 = 44;
/// IPv6 destination options.
pub const NH_DEST_OPTS: u8 = 60;
/// Host Identity Protocol (RFC 7401), extension header format.
pub const NH_HIP: u8 = 139;
/// Shim6 (RFC 5533), extension header format.
pub const NH_SHIM6: u8 = 140;
/// ESP.
pub const PROTO_ESP: u8 = 50;
/// AH.
pub const PROTO_AH: u8 = 51;
/// ICMP.
pub const PROTO_ICMP: u8 = 1;
/// ICMPv6.
pub const PROTO_ICMPV6: u8 = 58;

/// Whether and which part of a fragmented datagram a packet is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fragment {
    /// A whole datagram, or an atomic fragment (RFC 6946: offset 0 and no more fragments).
    Whole,
    /// The first of several fragments (offset 0, more fragments).
    First,
    /// A later fragment: it carries no upper-layer header.
    Later,
}

/// The header chain of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chain {
    /// AF_INET or AF_INET6.
    pub family: u8,
    /// Source address (IPv4 in the first 4 bytes).
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
    /// Bytes the IP header says the packet has (at most the bytes there are).
    pub total_len: usize,
    /// Length of the fixed header (IPv4 with options).
    pub ip_hdr_len: usize,
    /// IPv4 don't-fragment flag (IPv6: always true).
    pub df: bool,
    /// Upper-layer protocol: ESP and AH end the walk; for a later fragment, the fragment
    /// header's next header.
    pub proto: u8,
    /// Offset of the byte that holds `proto` (IPv4: the protocol field; IPv6: the next-header
    /// field of the fixed header or of the last extension header).
    pub proto_at: usize,
    /// Offset of the upper-layer header (`total_len` for a later fragment).
    pub l4_at: usize,
    /// Fragment state.
    pub fragment: Fragment,
    /// What is known of the flow.
    pub known: Known,
    /// Source and destination port (ICMP: type and code); 0 when unknown or portless.
    pub ports: (u16, u16),
    /// End of the headers that stay in front of a transport-mode ESP header: IPv4 the header
    /// with options; IPv6 hop-by-hop, routing, and destination options before a routing
    /// header, as XFRM (`ip6_find_1stfragopt`) places it.
    pub unfrag_len: usize,
    /// Offset of the next-header byte that names the header at `unfrag_len`.
    pub unfrag_proto_at: usize,
}

/// Why [`walk`] gave no chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainError {
    /// The chain goes on past the prefix: call again with at least this many bytes.
    NeedMore(usize),
    /// Truncated, inconsistent or not IP.
    Malformed,
    /// More than [`MAX_EXT_HEADERS`] extension headers or [`MAX_CHAIN_LEN`] bytes of them.
    TooLong,
}

impl Chain {
    /// The flow for SPD lookups; ports are 0 unless [`Chain::known`] is [`Known::All`].
    pub fn flow(&self) -> Flow {
        Flow {
            family: self.family,
            src: self.src,
            dst: self.dst,
            proto: self.proto,
            sport: self.ports.0,
            dport: self.ports.1,
        }
    }

    /// Whether the packet is one fragment of several.
    pub fn is_fragment(&self) -> bool {
        self.fragment != Fragment::Whole
    }
}

/// A bounds-checked reader over the prefix: a byte past the prefix but inside the packet
/// asks for more, one past the packet is malformed.
struct Bytes<'a> {
    head: &'a [u8],
    /// Bytes that exist (the packet, or what the IP header claims once known).
    len: usize,
    /// A GSO super-packet: a length field of 0 means the packet's length.
    gso: bool,
}

impl Bytes<'_> {
    #[inline]
    fn need(&self, end: usize) -> Result<(), ChainError> {
        if end > self.len {
            Err(ChainError::Malformed)
        } else if end > self.head.len() {
            Err(ChainError::NeedMore(end))
        } else {
            Ok(())
        }
    }

    #[inline]
    fn u8(&self, at: usize) -> Result<u8, ChainError> {
        self.need(at + 1)?;
        Ok(self.head[at])
    }

    #[inline]
    fn u16(&self, at: usize) -> Result<u16, ChainError> {
        self.need(at + 2)?;
        Ok(u16::from_be_bytes([self.head[at], self.head[at + 1]]))
    }

    /// The `N`-byte address at `at` (`N` <= 16), zero-padded to 16 bytes. `N` is a constant so
    /// that the copy is a few moves, not a call to `memcpy`.
    #[inline(always)]
    fn addr<const N: usize>(&self, at: usize) -> Result<[u8; 16], ChainError> {
        self.need(at + N)?;
        let mut a = [0u8; 16];
        let src = self.head.get(at..).and_then(|s| s.first_chunk::<N>());
        match (a.first_chunk_mut::<N>(), src) {
            (Some(d), Some(s)) => *d = *s,
            _ => return Err(ChainError::Malformed),
        }
        Ok(a)
    }
}

/// Walks the header chain of the packet of `pkt_len` bytes whose first bytes are `head`.
pub fn walk(head: &[u8], pkt_len: usize) -> Result<Chain, ChainError> {
    walk_with(head, pkt_len, false)
}

/// [`walk`] for a GSO/GRO super-packet: over 64 KiB (BIG TCP) its length field is 0, and
/// the packet's length counts.
pub fn walk_gso(head: &[u8], pkt_len: usize) -> Result<Chain, ChainError> {
    walk_with(head, pkt_len, true)
}

fn walk_with(head: &[u8], pkt_len: usize, gso: bool) -> Result<Chain, ChainError> {
    let b = Bytes {
        head: head.get(..pkt_len).unwrap_or(head),
        len: pkt_len,
        gso,
    };
    match b.u8(0)? >> 4 {
        4 => walk_v4(b),
        6 => walk_v6(b),
        _ => Err(ChainError::Malformed),
    }
}

fn walk_v4(mut b: Bytes<'_>) -> Result<Chain, ChainError> {
    let ip_hdr_len = usize::from(b.u8(0)? & 0x0f) * 4;
    let total_len = match usize::from(b.u16(2)?) {
        0 if b.gso => b.len,
        n => n,
    };
    if ip_hdr_len < IPV4_HDR_LEN || total_len < ip_hdr_len || total_len > b.len {
        return Err(ChainError::Malformed);
    }
    b.need(ip_hdr_len)?;
    b.len = total_len;
    let frag = b.u16(6)?;
    let (offset, more) = (frag & 0x1fff, frag & 0x2000 != 0);
    let fragment = match (offset, more) {
        (0, false) => Fragment::Whole,
        (0, true) => Fragment::First,
        _ => Fragment::Later,
    };
    let mut c = Chain {
        family: AF_INET,
        src: b.addr::<4>(12)?,
        dst: b.addr::<4>(16)?,
        total_len,
        ip_hdr_len,
        df: frag & 0x4000 != 0,
        proto: b.u8(9)?,
        proto_at: 9,
        l4_at: ip_hdr_len,
        fragment,
        known: Known::All,
        ports: (0, 0),
        unfrag_len: ip_hdr_len,
        unfrag_proto_at: 9,
    };
    if fragment == Fragment::Later {
        c.l4_at = total_len;
        c.known = Known::Proto;
        return Ok(c);
    }
    read_ports(&b, &mut c)?;
    Ok(c)
}

/// Where the walk through IPv6 extension headers stands.
struct Cursor {
    /// Next header value of the header at `at`.
    nh: u8,
    /// Offset of the byte holding `nh`.
    nh_at: usize,
    /// Offset of the header `nh` names.
    at: usize,
}

fn walk_v6(mut b: Bytes<'_>) -> Result<Chain, ChainError> {
    let plen = match usize::from(b.u16(4)?) {
        0 if b.gso => b.len.saturating_sub(IPV6_HDR_LEN),
        n => n,
    };
    // Otherwise a payload length of 0 is a jumbogram (RFC 2675), which ripsec does not carry.
    let total_len = IPV6_HDR_LEN + plen;
    if plen == 0 || total_len > b.len {
        return Err(ChainError::Malformed);
    }
    b.len = total_len;
    let mut c = Chain {
        family: AF_INET6,
        src: b.addr::<16>(8)?,
        dst: b.addr::<16>(24)?,
        total_len,
        ip_hdr_len: IPV6_HDR_LEN,
        df: true,
        proto: 0,
        proto_at: 6,
        l4_at: IPV6_HDR_LEN,
        fragment: Fragment::Whole,
        known: Known::All,
        ports: (0, 0),
        unfrag_len: IPV6_HDR_LEN,
        unfrag_proto_at: 6,
    };
    let mut cur = Cursor {
        nh: b.u8(6)?,
        nh_at: 6,
        at: IPV6_HDR_LEN,
    };
    // Whether the unfragmentable part (`unfrag_len`) still grows, and a routing header seen.
    let (mut unfrag_open, mut routing_seen, mut fragment_seen) = (true, false, false);
    for count in 0.. {
        // A first fragment that ends inside the chain (RFC 8200 §4.5 forbids it): what
        // follows is in another fragment.
        let cut = |c: &mut Chain, end: usize| {
            let cut = c.fragment == Fragment::First && end > total_len;
            if cut {
                (c.proto, c.proto_at, c.l4_at) = (cur.nh, cur.nh_at, total_len);
                c.known = Known::Addresses;
            }
            cut
        };
        if is_extension(cur.nh) && cut(&mut c, cur.at + 2) {
            return Ok(c);
        }
        let len = match cur.nh {
            NH_HOP_BY_HOP if cur.at != IPV6_HDR_LEN => return Err(ChainError::Malformed),
            NH_HOP_BY_HOP | NH_ROUTING | NH_DEST_OPTS | NH_HIP | NH_SHIM6 => {
                (usize::from(b.u8(cur.at + 1)?) + 1) * 8
            }
            NH_FRAGMENT if fragment_seen => return Err(ChainError::Malformed),
            NH_FRAGMENT => 8,
            _ => break,
        };
        if count >= MAX_EXT_HEADERS || cur.at + len - IPV6_HDR_LEN > MAX_CHAIN_LEN {
            return Err(ChainError::TooLong);
        }
        if cut(&mut c, cur.at + len) {
            return Ok(c);
        }
        b.need(cur.at + len)?;
        if unfrag_open {
            unfrag_open = match cur.nh {
                NH_HOP_BY_HOP => true,
                NH_ROUTING => {
                    routing_seen = true;
                    true
                }
                NH_DEST_OPTS => !routing_seen,
                _ => false,
            };
            if unfrag_open {
                c.unfrag_len = cur.at + len;
                c.unfrag_proto_at = cur.at;
            }
        }
        if cur.nh == NH_FRAGMENT {
            fragment_seen = true;
            let off_flags = b.u16(cur.at + 2)?;
            c.fragment = match (off_flags >> 3, off_flags & 1 != 0) {
                (0, false) => Fragment::Whole,
                (0, true) => Fragment::First,
                _ => Fragment::Later,
            };
            if c.fragment == Fragment::Later {
                c.proto = b.u8(cur.at)?;
                c.proto_at = cur.at;
                c.l4_at = total_len;
                // Reassembly takes the protocol from the first fragment and ignores a later
                // one's (IPv4 keys its queues on it, IPv6 does not): it may be forged.
                c.known = Known::Addresses;
                return Ok(c);
            }
        }
        cur = Cursor {
            nh: b.u8(cur.at)?,
            nh_at: cur.at,
            at: cur.at + len,
        };
    }
    c.proto = cur.nh;
    c.proto_at = cur.nh_at;
    c.l4_at = cur.at;
    read_ports(&b, &mut c)?;
    Ok(c)
}

/// Whether `nh` is an IPv6 extension header [`walk`] steps over.
fn is_extension(nh: u8) -> bool {
    matches!(
        nh,
        NH_HOP_BY_HOP | NH_ROUTING | NH_FRAGMENT | NH_DEST_OPTS | NH_HIP | NH_SHIM6
    )
}

/// Bytes of the upper-layer header that hold its ports (or ICMP type and code).
fn port_bytes(proto: u8) -> usize {
    match proto {
        // TCP, UDP, DCCP, SCTP, UDP-Lite: source and destination port.
        6 | 17 | 33 | 132 | 136 => 4,
        // ICMP, ICMPv6: type and code, matched as ports (as XFRM does).
        PROTO_ICMP | PROTO_ICMPV6 => 2,
        _ => 0,
    }
}

/// Fills in the ports. A whole packet too short for them is malformed; a first fragment too
/// short for them (a tiny first fragment) leaves them unknown.
#[inline]
fn read_ports(b: &Bytes<'_>, c: &mut Chain) -> Result<(), ChainError> {
    let n = port_bytes(c.proto);
    if n == 0 {
        return Ok(());
    }
    if c.l4_at + n > b.len {
        if c.fragment == Fragment::First {
            c.known = Known::Proto;
            return Ok(());
        }
        return Err(ChainError::Malformed);
    }
    c.ports = if n == 4 {
        (b.u16(c.l4_at)?, b.u16(c.l4_at + 2)?)
    } else {
        (u16::from(b.u8(c.l4_at)?), u16::from(b.u8(c.l4_at + 1)?))
    };
    Ok(())
}

/// Walks a packet that is entirely in `pkt` (the tests, and packets already linear).
pub fn walk_all(pkt: &[u8]) -> Result<Chain, ChainError> {
    match walk(pkt, pkt.len()) {
        Err(ChainError::NeedMore(_)) => Err(ChainError::Malformed),
        r => r,
    }
}

/// Whether the IPv6 packet of `pkt_len` bytes whose first bytes are `head` is malformed in a
/// way netfilter's defragmentation would hide from every later hook. It looks for a Fragment
/// header behind hop-by-hop, routing, destination options and AH headers (as its
/// `find_prev_fhdr` walks), and one that is
/// - cut short, it drops, counted nowhere;
/// - behind AH, it queues (a lone fragment until its queue times out). AH covers whole
///   datagrams (RFC 4302 §3.1), so such a packet can never be authentic.
///
/// ripsec, which turned the defragmentation on, drops and counts these first.
/// `Err(NeedMore(n))`: call again with `n` bytes.
pub fn hidden_by_defrag(head: &[u8], pkt_len: usize) -> Result<bool, ChainError> {
    let b = Bytes {
        head: head.get(..pkt_len).unwrap_or(head),
        len: pkt_len,
        gso: false,
    };
    // A jumbogram (payload length 0) is not defragmented.
    if b.u16(4)? == 0 {
        return Ok(false);
    }
    let mut next = b.u8(6)?;
    let mut at = IPV6_HDR_LEN;
    let mut behind_ah = false;
    while next != NH_FRAGMENT {
        if !matches!(next, NH_HOP_BY_HOP | NH_ROUTING | NH_DEST_OPTS | PROTO_AH) || at + 2 > pkt_len
        {
            return Ok(false);
        }
        let words = usize::from(b.u8(at + 1)?);
        let len = if next == PROTO_AH {
            (words + 2) * 4
        } else {
            (words + 1) * 8
        };
        behind_ah |= next == PROTO_AH;
        next = b.u8(at)?;
        at += len;
    }
    Ok(at <= pkt_len && (pkt_len < at + 8 || behind_ah))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv6 header (payload length set) followed by `rest`, whose first header is `next`.
    fn v6_raw(next: u8, rest: &[u8]) -> std::vec::Vec<u8> {
        let mut p = std::vec![0u8; 40];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&(rest.len() as u16).to_be_bytes());
        p[6] = next;
        p.extend_from_slice(rest);
        p
    }

    #[test]
    fn fragment_headers_hidden_by_defrag_as_netfilter_finds_them() {
        let cut = |p: &[u8]| hidden_by_defrag(p, p.len());
        // AH of 232 bytes naming a Fragment header, then 7 of its 8 bytes (found by the packet
        // fuzzer: netfilter dropped it and nothing counted it).
        let mut ah = std::vec![0u8; 232];
        ah[0] = NH_FRAGMENT;
        ah[1] = 56;
        let mut p = v6_raw(PROTO_AH, &ah);
        p.extend_from_slice(&[PROTO_ESP, 0, 0, 0, 0, 0, 0]);
        assert_eq!(cut(&p), Ok(true));
        p.push(0);
        assert_eq!(cut(&p), Ok(true), "a whole Fragment header behind AH");
        let mut whole = v6_raw(NH_DEST_OPTS, &[NH_FRAGMENT, 0, 1, 4, 0, 0, 0, 0]);
        whole.extend_from_slice(&[PROTO_ESP, 0, 0, 0, 0, 0, 0, 1, 0]);
        whole[4..6].copy_from_slice(&17u16.to_be_bytes());
        assert_eq!(
            cut(&whole),
            Ok(false),
            "a whole Fragment header behind options"
        );
        // Right behind the fixed header, and behind destination options.
        assert_eq!(cut(&v6_raw(NH_FRAGMENT, &[PROTO_ESP, 0, 0, 0])), Ok(true));
        let opts = [NH_FRAGMENT, 0, 1, 4, 0, 0, 0, 0, PROTO_ESP, 0];
        assert_eq!(cut(&v6_raw(NH_DEST_OPTS, &opts)), Ok(true));
        // Where netfilter does not look: behind ESP, no Fragment header, a header past the end.
        assert_eq!(cut(&v6_raw(PROTO_ESP, &[NH_FRAGMENT, 0, 0])), Ok(false));
        assert_eq!(cut(&v6_raw(17, &[0; 8])), Ok(false), "UDP");
        assert_eq!(
            cut(&v6_raw(NH_DEST_OPTS, &[NH_FRAGMENT, 1, 0, 0])),
            Ok(false)
        );
        // A jumbogram is not defragmented.
        let mut jumbo = v6_raw(NH_FRAGMENT, &[PROTO_ESP, 0, 0, 0]);
        jumbo[4..6].copy_from_slice(&[0, 0]);
        assert_eq!(cut(&jumbo), Ok(false));
        // A head too short for the walk asks for more.
        assert_eq!(
            hidden_by_defrag(&p[..40], p.len()),
            Err(ChainError::NeedMore(42))
        );
    }

    /// An IPv6 packet fd00::2 -> fd00::1: `exts` are (next header value, header bytes after
    /// the next-header byte), then `proto` and its `l4` bytes.
    fn v6(exts: &[(u8, &[u8])], proto: u8, l4: &[u8]) -> std::vec::Vec<u8> {
        let mut p = std::vec![0u8; 40];
        p[0] = 0x60;
        p[8] = 0xfd;
        p[23] = 2;
        p[24] = 0xfd;
        p[39] = 1;
        let mut nh_at = 6;
        for (nh, body) in exts {
            p[nh_at] = *nh;
            nh_at = p.len();
            p.push(0);
            p.extend_from_slice(body);
        }
        p[nh_at] = proto;
        p.extend_from_slice(l4);
        let plen = (p.len() - 40) as u16;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
        p
    }

    /// Body of an 8-byte options header (hop-by-hop, destination options): length 0, PadN.
    const OPTS8: &[u8] = &[0, 1, 4, 0, 0, 0, 0];
    /// Body of a routing header (type 4, segments left 0, one address).
    const ROUTING24: &[u8] = &[
        2, 4, 0, 0, 0, 0, 0, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    ];
    const UDP: &[u8] = &[0x03, 0xe8, 0x1e, 0x61, 0, 12, 0, 0, b'h', b'i', b'!', b'!'];

    fn frag(offset: u16, more: bool) -> [u8; 7] {
        let f = (offset << 3) | u16::from(more);
        let [a, b] = f.to_be_bytes();
        [0, a, b, 0, 0, 0x12, 0x34]
    }

    fn v4(ihl: u8, frag_field: u16, proto: u8, l4: &[u8]) -> std::vec::Vec<u8> {
        let hl = usize::from(ihl) * 4;
        let mut p = std::vec![0u8; hl];
        p[0] = 0x40 | ihl;
        p[6..8].copy_from_slice(&frag_field.to_be_bytes());
        p[8] = 64;
        p[9] = proto;
        p[12..16].copy_from_slice(&[10, 0, 0, 2]);
        p[16..20].copy_from_slice(&[10, 0, 0, 1]);
        for b in &mut p[20..] {
            *b = 1; // NOP options
        }
        p.extend_from_slice(l4);
        let len = p.len() as u16;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        p
    }

    fn hex(s: &str) -> std::vec::Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn the_reported_hop_by_hop_probe_has_udp_ports() {
        // From the security report: hop-by-hop with PadN, then UDP 1000 -> 7777.
        let p = hex("60000000001f0040fd000000000000000000000000000002fd000000000000000000000000000001110001040000000003e81e61001784ad706c61696e746578742d70726f6265");
        let c = walk_all(&p).unwrap();
        assert_eq!((c.proto, c.ports, c.known), (17, (1000, 7777), Known::All));
        assert_eq!(
            (c.proto_at, c.l4_at, c.unfrag_len, c.unfrag_proto_at),
            (40, 48, 48, 40)
        );
        assert_eq!(c.flow().dport, 7777);
    }

    #[test]
    fn every_extension_header_is_stepped_over() {
        for (nh, body) in [
            (NH_HOP_BY_HOP, OPTS8),
            (NH_DEST_OPTS, OPTS8),
            (NH_ROUTING, ROUTING24),
            (NH_HIP, OPTS8),
            (NH_SHIM6, OPTS8),
        ] {
            let p = v6(&[(nh, body)], 17, UDP);
            let c = walk_all(&p).unwrap();
            let end = 40 + 1 + body.len();
            assert_eq!(
                (c.proto, c.ports, c.l4_at, c.proto_at),
                (17, (1000, 7777), end, 40),
                "nh {nh}"
            );
            assert_eq!(c.fragment, Fragment::Whole);
        }
    }

    #[test]
    fn several_headers_and_where_transport_esp_goes() {
        // HBH, DEST, ROUTING, DEST, UDP: ESP goes after the routing header (the second
        // destination options header is end-to-end and gets encrypted).
        let p = v6(
            &[
                (NH_HOP_BY_HOP, OPTS8),
                (NH_DEST_OPTS, OPTS8),
                (NH_ROUTING, ROUTING24),
                (NH_DEST_OPTS, OPTS8),
            ],
            17,
            UDP,
        );
        let c = walk_all(&p).unwrap();
        assert_eq!((c.proto, c.l4_at, c.proto_at), (17, 88, 80));
        assert_eq!((c.unfrag_len, c.unfrag_proto_at), (80, 56));
        // Destination options without a routing header stay in front, as XFRM places ESP.
        let c = walk_all(&v6(&[(NH_DEST_OPTS, OPTS8)], 6, UDP)).unwrap();
        assert_eq!((c.unfrag_len, c.unfrag_proto_at, c.proto), (48, 40, 6));
        // No extension header: ESP follows the fixed header.
        let c = walk_all(&v6(&[], 17, UDP)).unwrap();
        assert_eq!((c.unfrag_len, c.unfrag_proto_at, c.l4_at), (40, 6, 40));
    }

    #[test]
    fn esp_and_ah_end_the_walk() {
        let esp = [0, 0, 0x10, 0, 0, 0, 0, 1];
        let c = walk_all(&v6(&[(NH_DEST_OPTS, OPTS8)], PROTO_ESP, &esp)).unwrap();
        assert_eq!(
            (c.proto, c.l4_at, c.proto_at, c.ports),
            (PROTO_ESP, 48, 40, (0, 0))
        );
        let c = walk_all(&v6(
            &[(NH_HOP_BY_HOP, OPTS8)],
            PROTO_AH,
            &[17, 4, 0, 0, 0, 0, 0, 1],
        ))
        .unwrap();
        assert_eq!((c.proto, c.l4_at), (PROTO_AH, 48));
        let c = walk_all(&v6(&[], 59, &[0; 8])).unwrap();
        assert_eq!((c.proto, c.ports), (59, (0, 0)));
    }

    #[test]
    fn malformed_chains() {
        // Hop-by-hop anywhere but first.
        let p = v6(&[(NH_DEST_OPTS, OPTS8), (NH_HOP_BY_HOP, OPTS8)], 17, UDP);
        assert_eq!(walk_all(&p), Err(ChainError::Malformed));
        // A header length that runs past the packet.
        let mut p = v6(&[(NH_DEST_OPTS, OPTS8)], 17, UDP);
        p[41] = 5;
        assert_eq!(walk_all(&p), Err(ChainError::Malformed));
        // Two fragment headers.
        let p = v6(
            &[
                (NH_FRAGMENT, &frag(0, false)),
                (NH_FRAGMENT, &frag(0, false)),
            ],
            17,
            UDP,
        );
        assert_eq!(walk_all(&p), Err(ChainError::Malformed));
        // A payload length past the packet, a jumbogram, another version, a UDP header cut short.
        let mut p = v6(&[], 17, UDP);
        p[5] += 1;
        assert_eq!(walk_all(&p), Err(ChainError::Malformed));
        p[4..6].fill(0);
        assert_eq!(walk_all(&p), Err(ChainError::Malformed));
        assert_eq!(walk_all(&[0x50; 60]), Err(ChainError::Malformed));
        assert_eq!(
            walk_all(&v6(&[(NH_DEST_OPTS, OPTS8)], 17, &UDP[..3])),
            Err(ChainError::Malformed)
        );
        assert_eq!(walk_all(&[]), Err(ChainError::Malformed));
    }

    #[test]
    fn every_truncation_is_malformed_and_never_panics() {
        let p = v6(
            &[
                (NH_HOP_BY_HOP, OPTS8),
                (NH_ROUTING, ROUTING24),
                (NH_DEST_OPTS, OPTS8),
            ],
            6,
            UDP,
        );
        for len in 0..p.len() {
            // Cut, but the header still claims the full length.
            assert_eq!(
                walk_all(&p[..len]),
                Err(ChainError::Malformed),
                "cut at {len}"
            );
        }
        let q = v4(6, 0, 17, UDP);
        for len in 0..q.len() {
            assert_eq!(
                walk_all(&q[..len]),
                Err(ChainError::Malformed),
                "cut at {len}"
            );
        }
    }

    #[test]
    fn too_many_or_too_long_headers() {
        let eight = [(NH_DEST_OPTS, OPTS8); MAX_EXT_HEADERS];
        assert!(walk_all(&v6(&eight, 17, UDP)).is_ok());
        let nine = [(NH_DEST_OPTS, OPTS8); MAX_EXT_HEADERS + 1];
        assert_eq!(walk_all(&v6(&nine, 17, UDP)), Err(ChainError::TooLong));
        // One destination options header of 1032 bytes.
        let mut big = std::vec![0u8; 1031];
        big[0] = 128;
        big[1] = 1;
        big[2] = 255;
        big[258] = 1;
        big[259] = 255;
        big[515] = 1;
        big[516] = 255;
        big[772] = 1;
        big[773] = 255;
        let p = v6(&[(NH_DEST_OPTS, &big)], 17, UDP);
        assert_eq!(walk_all(&p), Err(ChainError::TooLong));
    }

    #[test]
    fn ipv6_fragments() {
        // First fragment with the UDP header: ports known.
        let c = walk_all(&v6(&[(NH_FRAGMENT, &frag(0, true))], 17, UDP)).unwrap();
        assert_eq!(
            (c.fragment, c.known, c.ports, c.l4_at),
            (Fragment::First, Known::All, (1000, 7777), 48)
        );
        // A first fragment that ends inside an extension header (of 16 bytes, 8 of them
        // here): only the addresses are known.
        let mut p = v6(
            &[(NH_FRAGMENT, &frag(0, true)), (NH_DEST_OPTS, OPTS8)],
            17,
            &[],
        );
        p[49] = 1;
        let c = walk_all(&p).unwrap();
        assert_eq!(
            (c.fragment, c.known, c.proto),
            (Fragment::First, Known::Addresses, NH_DEST_OPTS)
        );
        assert_eq!((c.proto_at, c.l4_at), (40, 56));
        // A tiny first fragment: the ports are in the next fragment.
        let c = walk_all(&v6(&[(NH_FRAGMENT, &frag(0, true))], 17, &UDP[..2])).unwrap();
        assert_eq!(
            (c.fragment, c.known, c.ports),
            (Fragment::First, Known::Proto, (0, 0))
        );
        // Middle and last fragments: no upper-layer header, and their next header may lie
        // (reassembly takes the first fragment's): only the addresses are known.
        for more in [true, false] {
            let c = walk_all(&v6(
                &[(NH_HOP_BY_HOP, OPTS8), (NH_FRAGMENT, &frag(2, more))],
                17,
                UDP,
            ))
            .unwrap();
            assert_eq!(
                (c.fragment, c.known, c.proto, c.proto_at),
                (Fragment::Later, Known::Addresses, 17, 48)
            );
            assert_eq!((c.l4_at, c.ports), (c.total_len, (0, 0)));
        }
        // A later fragment whose next header is an extension header: only addresses known.
        let c = walk_all(&v6(
            &[(NH_FRAGMENT, &frag(1, false)), (NH_DEST_OPTS, OPTS8)],
            17,
            UDP,
        ))
        .unwrap();
        assert_eq!((c.known, c.proto), (Known::Addresses, NH_DEST_OPTS));
        // An atomic fragment (RFC 6946) is a whole packet.
        let c = walk_all(&v6(&[(NH_FRAGMENT, &frag(0, false))], 17, UDP)).unwrap();
        assert_eq!(
            (c.fragment, c.known, c.ports, c.l4_at),
            (Fragment::Whole, Known::All, (1000, 7777), 48)
        );
        assert!(!c.is_fragment());
        assert_eq!((c.unfrag_len, c.unfrag_proto_at), (40, 6));
    }

    #[test]
    fn gso_super_packets_take_the_packet_length() {
        // BIG TCP: over 64 KiB, the length field is 0.
        let mut p = v6(&[], 6, UDP);
        p[4..6].fill(0);
        assert_eq!(walk_all(&p), Err(ChainError::Malformed));
        let c = walk_gso(&p, p.len()).unwrap();
        assert_eq!((c.total_len, c.ports), (p.len(), (1000, 7777)));
        let mut q = v4(5, 0x4000, 6, UDP);
        q[2..4].fill(0);
        assert_eq!(walk_all(&q), Err(ChainError::Malformed));
        assert_eq!(walk_gso(&q, q.len()).unwrap().total_len, q.len());
    }

    #[test]
    fn ipv4_options_and_fragments() {
        let c = walk_all(&v4(6, 0x4000, 17, UDP)).unwrap();
        assert_eq!(
            (c.ip_hdr_len, c.l4_at, c.proto_at, c.unfrag_len, c.df),
            (24, 24, 9, 24, true)
        );
        assert_eq!(
            (c.ports, c.total_len, c.fragment),
            ((1000, 7777), 36, Fragment::Whole)
        );
        assert_eq!(&c.dst[..4], &[10, 0, 0, 1]);
        let c = walk_all(&v4(5, 0x2000, 17, UDP)).unwrap();
        assert_eq!(
            (c.fragment, c.known, c.ports),
            (Fragment::First, Known::All, (1000, 7777))
        );
        let c = walk_all(&v4(5, 0x2000, 17, &UDP[..3])).unwrap();
        assert_eq!((c.fragment, c.known), (Fragment::First, Known::Proto));
        for field in [0x0001, 0x2001] {
            let c = walk_all(&v4(5, field, 6, UDP)).unwrap();
            assert_eq!(
                (c.fragment, c.known, c.proto, c.ports),
                (Fragment::Later, Known::Proto, 6, (0, 0))
            );
        }
        // ICMP type and code are its ports.
        let c = walk_all(&v4(5, 0, 1, &[8, 0, 0, 0])).unwrap();
        assert_eq!(c.ports, (8, 0));
        // Trailing link-layer padding is not part of the packet.
        let mut p = v4(5, 0, 17, UDP);
        p.extend_from_slice(&[0; 10]);
        assert_eq!(walk_all(&p).unwrap().total_len, 32);
        // IHL below 5, a total length below the header, or past the packet.
        let mut bad = v4(5, 0, 17, UDP);
        bad[0] = 0x44;
        assert_eq!(walk_all(&bad), Err(ChainError::Malformed));
        let mut bad = v4(5, 0, 17, UDP);
        bad[3] = 16;
        assert_eq!(walk_all(&bad), Err(ChainError::Malformed));
        let mut bad = v4(5, 0, 17, UDP);
        bad[3] = 40;
        assert_eq!(walk_all(&bad), Err(ChainError::Malformed));
    }

    #[test]
    fn a_prefix_asks_for_exactly_what_it_needs() {
        let packets = [
            v6(
                &[
                    (NH_HOP_BY_HOP, OPTS8),
                    (NH_ROUTING, ROUTING24),
                    (NH_DEST_OPTS, OPTS8),
                ],
                6,
                UDP,
            ),
            v6(&[(NH_FRAGMENT, &frag(3, true))], 17, UDP),
            v4(15, 0, 17, UDP),
        ];
        for p in &packets {
            let whole = walk_all(p).unwrap();
            for cut in 0..=p.len() {
                match walk(&p[..cut], p.len()) {
                    Ok(c) => assert_eq!(c, whole, "cut {cut}"),
                    Err(ChainError::NeedMore(n)) => {
                        assert!(n > cut && n <= p.len(), "cut {cut}: {n}")
                    }
                    Err(e) => panic!("cut {cut}: {e:?}"),
                }
            }
        }
    }

    #[test]
    fn mutated_chains_never_panic() {
        let base = v6(
            &[
                (NH_HOP_BY_HOP, OPTS8),
                (NH_FRAGMENT, &frag(0, true)),
                (NH_DEST_OPTS, OPTS8),
            ],
            17,
            UDP,
        );
        let mut x: u32 = 0x1234_5678;
        for _ in 0..20_000 {
            let mut p = base.clone();
            for _ in 0..3 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let at = (x as usize) % p.len();
                p[at] = (x >> 8) as u8;
            }
            let cut = (x as usize >> 16) % (p.len() + 1);
            if let Ok(c) = walk(&p[..cut], p.len()) {
                assert!(c.l4_at <= c.total_len && c.total_len <= p.len());
                assert!(c.proto_at < c.l4_at.max(c.proto_at + 1) && c.unfrag_len <= c.total_len);
            }
        }
    }
}
