// SPDX-License-Identifier: GPL-2.0
//! IPv4/IPv6 header building for the data path: outer headers for tunnel mode, the rewrites
//! of transport mode, checksums and TOS. Parsing is `headers`.

/// IPv4 header length without options.
pub const IPV4_HDR_LEN: usize = 20;
/// IPv6 fixed header length.
pub const IPV6_HDR_LEN: usize = 40;
/// IP protocol number of IPv4-in-IP (tunnel mode, inner IPv4).
pub const PROTO_IPIP: u8 = 4;
/// IP protocol number of IPv6-in-IP (tunnel mode, inner IPv6).
pub const PROTO_IPV6: u8 = 41;

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
    *out = [0; IPV4_HDR_LEN];
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
    *out = [0; IPV6_HDR_LEN];
    out[0] = 0x60 | (o.tos >> 4);
    out[1] = o.tos << 4;
    out[4..6].copy_from_slice(&plen.to_be_bytes());
    out[6] = o.proto;
    out[7] = o.ttl;
    out[8..24].copy_from_slice(o.src);
    out[24..40].copy_from_slice(o.dst);
    Some(())
}

/// Transport mode: sets the next-protocol byte at `proto_at` (IPv4: the protocol field;
/// IPv6: the next-header field naming the header that follows) to `proto`, and the length
/// fields of the IP header at the start of `pkt` for a packet of `total_len` bytes; fixes the
/// IPv4 checksum. `None` if the header is not there or the length does not fit.
pub fn set_proto_and_len(
    pkt: &mut [u8],
    proto_at: usize,
    proto: u8,
    total_len: usize,
) -> Option<()> {
    *pkt.get_mut(proto_at)? = proto;
    match pkt.first()? >> 4 {
        4 => {
            let hl = usize::from(pkt[0] & 0x0f) * 4;
            let len = u16::try_from(total_len).ok()?;
            let h = pkt.get_mut(..hl)?;
            h[2..4].copy_from_slice(&len.to_be_bytes());
            h[10..12].fill(0);
            let sum = checksum(h);
            h[10..12].copy_from_slice(&sum.to_be_bytes());
            Some(())
        }
        6 => {
            let plen = u16::try_from(total_len.checked_sub(IPV6_HDR_LEN)?).ok()?;
            pkt.get_mut(4..6)?.copy_from_slice(&plen.to_be_bytes());
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

    fn be16(b: &[u8], at: usize) -> usize {
        usize::from(u16::from_be_bytes([b[at], b[at + 1]]))
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
        assert_eq!(be16(&h, 2), 100);
        assert!(write_ipv4(
            &mut h,
            &Outer {
                payload_len: 65_516,
                ..o
            }
        )
        .is_none());
        assert_eq!(h[9], 50);
        // RFC 1071 example: 0x0001 0xf203 0xf4f5 0xf6f7 -> sum 0xddf2, checksum 0x220d.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
    }

    #[test]
    fn transport_mode_header_rewrite() {
        let mut p = PING4;
        set_proto_and_len(&mut p, 9, 50, 120).unwrap();
        assert_eq!((p[9], be16(&p, 2)), (50, 120));
        assert_eq!(checksum(&p[..20]), 0, "checksum fixed");
        // IPv6 with a hop-by-hop header: the byte that names ESP is the extension header's.
        let mut v6 = [0u8; 48];
        v6[0] = 0x60;
        set_proto_and_len(&mut v6, 40, 50, 140).unwrap();
        assert_eq!((v6[6], v6[40], be16(&v6, 4)), (0, 50, 100));
        assert!(set_proto_and_len(&mut v6, 40, 50, 10).is_none());
        assert!(set_proto_and_len(&mut v6, 48, 50, 140).is_none());
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
        assert_eq!((h[6], be16(&h, 4) + 40), (50, 104));
        assert_eq!((&h[8..24], &h[24..40]), (&s[..], &d[..]));
        assert_eq!(tos(&h), 0xb8);
    }
}
