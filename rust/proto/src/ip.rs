// SPDX-License-Identifier: GPL-2.0
//! IPv4/IPv6 header parsing and building for the data path: flow extraction for policy
//! lookups, and outer headers for tunnel mode.

use crate::selector::{Flow, AF_INET, AF_INET6};

/// IPv4 header length without options.
pub const IPV4_HDR_LEN: usize = 20;
/// IPv6 fixed header length.
pub const IPV6_HDR_LEN: usize = 40;
/// IP protocol number of IPv4-in-IP (tunnel mode, inner IPv4).
pub const PROTO_IPIP: u8 = 4;
/// IP protocol number of IPv6-in-IP (tunnel mode, inner IPv6).
pub const PROTO_IPV6: u8 = 41;

/// A parsed IP header: what the data path needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpHdr {
    /// AF_INET or AF_INET6.
    pub family: u8,
    /// Header length (IPv4 with options; IPv6 fixed header).
    pub hdr_len: usize,
    /// Total packet length claimed by the header.
    pub total_len: usize,
    /// Upper-layer protocol (IPv6: the first next header).
    pub proto: u8,
    /// Source address (IPv4 in the first 4 bytes).
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
    /// IPv4 don't-fragment flag (IPv6: always true).
    pub df: bool,
    /// IPv4 fragment offset or more-fragments set.
    pub fragment: bool,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Parses the IP header at the start of `pkt`; `None` if truncated or malformed.
pub fn parse(pkt: &[u8]) -> Option<IpHdr> {
    let version = pkt.first()? >> 4;
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    match version {
        4 => {
            let hdr_len = usize::from(pkt[0] & 0x0f) * 4;
            if hdr_len < IPV4_HDR_LEN || pkt.len() < hdr_len {
                return None;
            }
            let total_len = usize::from(be16(pkt, 2)?);
            if total_len < hdr_len {
                return None;
            }
            let frag = be16(pkt, 6)?;
            src[..4].copy_from_slice(pkt.get(12..16)?);
            dst[..4].copy_from_slice(pkt.get(16..20)?);
            Some(IpHdr {
                family: AF_INET,
                hdr_len,
                total_len,
                proto: pkt[9],
                src,
                dst,
                df: frag & 0x4000 != 0,
                fragment: frag & 0x3fff != 0,
            })
        }
        6 => {
            if pkt.len() < IPV6_HDR_LEN {
                return None;
            }
            src.copy_from_slice(pkt.get(8..24)?);
            dst.copy_from_slice(pkt.get(24..40)?);
            Some(IpHdr {
                family: AF_INET6,
                hdr_len: IPV6_HDR_LEN,
                total_len: IPV6_HDR_LEN + usize::from(be16(pkt, 4)?),
                proto: pkt[6],
                src,
                dst,
                df: true,
                fragment: false,
            })
        }
        _ => None,
    }
}

/// The flow (addresses, protocol, ports or ICMP type/code) of an IP packet.
pub fn flow(pkt: &[u8]) -> Option<Flow> {
    let h = parse(pkt)?;
    let l4 = pkt.get(h.hdr_len..).unwrap_or(&[]);
    let (sport, dport) = match h.proto {
        6 | 17 | 132 if !h.fragment => (be16(l4, 0).unwrap_or(0), be16(l4, 2).unwrap_or(0)),
        1 | 58 if !h.fragment => (
            u16::from(*l4.first().unwrap_or(&0)),
            u16::from(*l4.get(1).unwrap_or(&0)),
        ),
        _ => (0, 0),
    };
    Some(Flow {
        family: h.family,
        src: h.src,
        dst: h.dst,
        proto: h.proto,
        sport,
        dport,
    })
}

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
    }
    if let [last] = chunks.remainder() {
        sum = sum.wrapping_add(u32::from(*last) << 8);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The fields of an outer (tunnel) header.
#[derive(Clone, Copy, Debug)]
pub struct Outer<'a> {
    /// Bytes after the outer header (ESP header to ICV).
    pub payload_len: usize,
    /// TOS / traffic class, copied from the inner packet.
    pub tos: u8,
    /// IPv4 don't-fragment, copied from the inner packet.
    pub df: bool,
    /// TTL / hop limit.
    pub ttl: u8,
    /// Protocol / next header (ESP).
    pub proto: u8,
    /// Tunnel source.
    pub src: &'a [u8; 16],
    /// Tunnel destination.
    pub dst: &'a [u8; 16],
}

/// Writes an outer IPv4 header (no options); `None` if the packet would exceed 64 KiB.
pub fn write_ipv4(out: &mut [u8; IPV4_HDR_LEN], o: &Outer<'_>) -> Option<()> {
    let total = u16::try_from(o.payload_len.checked_add(IPV4_HDR_LEN)?).ok()?;
    out.fill(0);
    out[0] = 0x45;
    out[1] = o.tos;
    out[2..4].copy_from_slice(&total.to_be_bytes());
    if o.df {
        out[6] = 0x40;
    }
    out[8] = o.ttl;
    out[9] = o.proto;
    out[12..16].copy_from_slice(&o.src[..4]);
    out[16..20].copy_from_slice(&o.dst[..4]);
    let sum = checksum(&out[..]);
    out[10..12].copy_from_slice(&sum.to_be_bytes());
    Some(())
}

/// Writes an outer IPv6 header; `None` if the payload exceeds 64 KiB.
pub fn write_ipv6(out: &mut [u8; IPV6_HDR_LEN], o: &Outer<'_>) -> Option<()> {
    let plen = u16::try_from(o.payload_len).ok()?;
    out.fill(0);
    out[0] = 0x60 | (o.tos >> 4);
    out[1] = o.tos << 4;
    out[4..6].copy_from_slice(&plen.to_be_bytes());
    out[6] = o.proto;
    out[7] = o.ttl;
    out[8..24].copy_from_slice(o.src);
    out[24..40].copy_from_slice(o.dst);
    Some(())
}

/// Rewrites the protocol (IPv4) or first next header (IPv6) and the length fields of the IP
/// header at the start of `pkt` for a packet of `total_len` bytes; fixes the IPv4 checksum.
/// `None` if the header is not there or the length does not fit.
pub fn set_proto_and_len(pkt: &mut [u8], proto: u8, total_len: usize) -> Option<()> {
    match pkt.first()? >> 4 {
        4 => {
            let hl = usize::from(pkt[0] & 0x0f) * 4;
            let len = u16::try_from(total_len).ok()?;
            let h = pkt.get_mut(..hl)?;
            h[2..4].copy_from_slice(&len.to_be_bytes());
            h[9] = proto;
            h[10..12].fill(0);
            let sum = checksum(h);
            h[10..12].copy_from_slice(&sum.to_be_bytes());
            Some(())
        }
        6 => {
            let plen = u16::try_from(total_len.checked_sub(IPV6_HDR_LEN)?).ok()?;
            let h = pkt.get_mut(..IPV6_HDR_LEN)?;
            h[4..6].copy_from_slice(&plen.to_be_bytes());
            h[6] = proto;
            Some(())
        }
        _ => None,
    }
}

/// The traffic class (IPv6) or TOS (IPv4) of a packet, to copy to the outer header.
pub fn tos(pkt: &[u8]) -> u8 {
    match pkt.first().map(|b| b >> 4) {
        Some(4) => *pkt.get(1).unwrap_or(&0),
        Some(6) => (pkt[0] << 4) | (pkt.get(1).unwrap_or(&0) >> 4),
        _ => 0,
    }
}

/// The outer header's TOS / traffic class for tunnel mode (RFC 4301 §5.1.2.1, RFC 6040
/// normal mode): DSCP copied; ECN copied, except that CE becomes ECT(0) as XFRM does.
pub fn outer_tos(inner: u8) -> u8 {
    if inner & 3 == 3 {
        inner & !1
    } else {
        inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outer_tos_copies_dscp_and_ecn_but_not_ce() {
        assert_eq!(outer_tos(0xb8), 0xb8); // EF, not ECT
        assert_eq!(outer_tos(0xb9), 0xb9); // ECT(1)
        assert_eq!(outer_tos(0xba), 0xba); // ECT(0)
        assert_eq!(outer_tos(0xbb), 0xba); // CE -> ECT(0)
    }

    // A real ICMP echo request 10.1.0.1 -> 10.2.0.1 (from a capture), checksum included.
    const PING4: [u8; 28] = [
        0x45, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01, 0x00, 0x00, 10, 1, 0, 1, 10, 2,
        0, 1, 8, 0, 0xf7, 0xff, 0, 0, 0, 0,
    ];

    #[test]
    fn parses_ipv4_and_its_flow() {
        let h = parse(&PING4).unwrap();
        assert_eq!(
            (h.family, h.hdr_len, h.total_len, h.proto, h.df),
            (AF_INET, 20, 84, 1, true)
        );
        let f = flow(&PING4).unwrap();
        assert_eq!((f.proto, f.sport, f.dport), (1, 8, 0));
        assert_eq!(&f.dst[..4], &[10, 2, 0, 1]);
        assert!(parse(&PING4[..19]).is_none());
        let mut bad = PING4;
        bad[0] = 0x44; // IHL below 5
        assert!(parse(&bad).is_none());
    }

    #[test]
    fn tcp_ports_and_ipv6() {
        let mut p = [0u8; 60];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&20u16.to_be_bytes());
        p[6] = 6;
        p[8] = 0xfd;
        p[24] = 0xfd;
        p[39] = 2;
        p[40..42].copy_from_slice(&1234u16.to_be_bytes());
        p[42..44].copy_from_slice(&80u16.to_be_bytes());
        let f = flow(&p).unwrap();
        assert_eq!(
            (f.family, f.proto, f.sport, f.dport),
            (AF_INET6, 6, 1234, 80)
        );
        assert_eq!(parse(&p).unwrap().total_len, 60);
    }

    #[test]
    fn ipv4_header_checksum_verifies() {
        let mut h = [0u8; IPV4_HDR_LEN];
        let mut s = [0u8; 16];
        let mut d = [0u8; 16];
        s[..4].copy_from_slice(&[192, 0, 2, 1]);
        d[..4].copy_from_slice(&[192, 0, 2, 2]);
        let o = Outer {
            payload_len: 80,
            tos: 0,
            df: true,
            ttl: 64,
            proto: 50,
            src: &s,
            dst: &d,
        };
        write_ipv4(&mut h, &o).unwrap();
        assert_eq!(checksum(&h), 0, "a header with its checksum sums to zero");
        assert_eq!(parse(&h).unwrap().total_len, 100);
        assert!(write_ipv4(
            &mut h,
            &Outer {
                payload_len: 65_516,
                ..o
            }
        )
        .is_none());
        assert_eq!(parse(&h).unwrap().proto, 50);
        // RFC 1071 example: 0x0001 0xf203 0xf4f5 0xf6f7 -> sum 0xddf2, checksum 0x220d.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
    }

    #[test]
    fn transport_mode_header_rewrite() {
        let mut p = PING4;
        set_proto_and_len(&mut p, 50, 120).unwrap();
        let h = parse(&p).unwrap();
        assert_eq!((h.proto, h.total_len), (50, 120));
        assert_eq!(checksum(&p[..20]), 0, "checksum fixed");
        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        set_proto_and_len(&mut v6, 50, 140).unwrap();
        assert_eq!(parse(&v6).unwrap().total_len, 140);
        assert!(set_proto_and_len(&mut v6, 50, 10).is_none());
    }

    #[test]
    fn ipv6_header_round_trip() {
        let mut h = [0u8; IPV6_HDR_LEN];
        let s = [0xfd; 16];
        let d = [0xfe; 16];
        let o = Outer {
            payload_len: 64,
            tos: 0xb8,
            df: true,
            ttl: 64,
            proto: 50,
            src: &s,
            dst: &d,
        };
        write_ipv6(&mut h, &o).unwrap();
        let p = parse(&h).unwrap();
        assert_eq!((p.proto, p.total_len, p.src, p.dst), (50, 104, s, d));
        assert_eq!(tos(&h), 0xb8);
    }
}
