// SPDX-License-Identifier: GPL-2.0
//! TCP maximum segment size clamping: the MSS option of a SYN (RFC 9293 §3.7.1) lowered to
//! what fits an SA's inner MTU, so neither end of a new connection ever sends a segment that
//! would be too big once encapsulated, not even its first.

/// TCP's protocol number.
pub const PROTO_TCP: u8 = 6;
/// TCP's fixed header length.
pub const TCP_HDR_LEN: usize = 20;
/// The SYN flag, in byte 13 of the TCP header.
const SYN: u8 = 0x02;
/// Option kinds (RFC 9293 §3.2).
const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;
const OPT_MSS_LEN: usize = 4;

/// The MSS for an inner MTU: what is left after the IP (IPv4 20, IPv6 40 bytes) and TCP
/// fixed headers (RFC 9293 §3.7.1 counts neither's options). 0 if nothing is left.
pub fn mss_for_mtu(mtu: usize, ipv6: bool) -> u16 {
    let ip = if ipv6 { 40 } else { 20 };
    let mss = mtu.saturating_sub(ip + TCP_HDR_LEN);
    u16::try_from(mss).unwrap_or(u16::MAX)
}

/// Whether the TCP segment at `tcp` is a SYN (or SYN-ACK).
pub fn is_syn(tcp: &[u8]) -> bool {
    tcp.len() >= TCP_HDR_LEN && tcp[13] & SYN != 0
}

/// Lowers the MSS option of the TCP segment at `tcp` (its header with options, or more) to
/// `max` if it is a SYN that offers more, updating the checksum incrementally (RFC 1624).
/// Returns whether the segment changed. A malformed option list is left alone.
pub fn clamp(tcp: &mut [u8], max: u16) -> bool {
    if !is_syn(tcp) {
        return false;
    }
    let hdr_len = usize::from(tcp[12] >> 4) * 4;
    if hdr_len < TCP_HDR_LEN || hdr_len > tcp.len() {
        return false;
    }
    let Some(at) = find_mss(&tcp[TCP_HDR_LEN..hdr_len]).map(|o| TCP_HDR_LEN + o) else {
        return false;
    };
    let old = u16::from_be_bytes([tcp[at], tcp[at + 1]]);
    if old <= max {
        return false;
    }
    // The 16-bit words (from the header's start) the two bytes fall in.
    let start = at & !1;
    let end = (at + 2 + 1) & !1;
    let mut before = [0u8; 4];
    before[..end - start].copy_from_slice(&tcp[start..end]);
    tcp[at..at + 2].copy_from_slice(&max.to_be_bytes());
    let mut check = u16::from_be_bytes([tcp[16], tcp[17]]);
    for (i, w) in (start..end).step_by(2).enumerate() {
        let m = u16::from_be_bytes([before[2 * i], before[2 * i + 1]]);
        let m2 = u16::from_be_bytes([tcp[w], tcp[w + 1]]);
        check = csum_replace(check, m, m2);
    }
    tcp[16..18].copy_from_slice(&check.to_be_bytes());
    true
}

/// Where the MSS option's value is in `opts` (the TCP options), if there is one.
fn find_mss(opts: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            OPT_END => return None,
            OPT_NOP => i += 1,
            kind => {
                let len = usize::from(*opts.get(i + 1)?);
                if len < 2 || i + len > opts.len() {
                    return None;
                }
                if kind == OPT_MSS {
                    return (len == OPT_MSS_LEN).then_some(i + 2);
                }
                i += len;
            }
        }
    }
    None
}

/// The checksum `check` after one 16-bit word of what it covers changed from `old` to `new`:
/// HC' = ~(~HC + ~m + m') in one's complement arithmetic (RFC 1624, eqn. 3).
fn csum_replace(check: u16, old: u16, new: u16) -> u16 {
    let mut sum = u32::from(!check) + u32::from(!old) + u32::from(new);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one's complement sum over a TCP segment with an IPv4 pseudo-header.
    fn checksum(src: [u8; 4], dst: [u8; 4], seg: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        let mut add = |b: &[u8]| {
            for c in b.chunks(2) {
                let hi = u32::from(c[0]) << 8;
                sum += hi | c.get(1).map_or(0, |&lo| u32::from(lo));
            }
        };
        add(&src);
        add(&dst);
        add(&[0, 6]);
        add(&(seg.len() as u16).to_be_bytes());
        add(seg);
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// A SYN with `opts` (padded to 4 bytes) and a payload, its checksum valid.
    fn syn(opts: &[u8], flags: u8) -> std::vec::Vec<u8> {
        let mut opts = opts.to_vec();
        while !opts.len().is_multiple_of(4) {
            opts.push(OPT_END);
        }
        let mut s = std::vec![0u8; TCP_HDR_LEN];
        s[0..4].copy_from_slice(&[0x9c, 0x40, 0x13, 0x89]);
        s[4..8].copy_from_slice(&[1, 2, 3, 4]);
        s[12] = (((TCP_HDR_LEN + opts.len()) / 4) as u8) << 4;
        s[13] = flags;
        s[14..16].copy_from_slice(&[0xfa, 0xf0]);
        s.extend_from_slice(&opts);
        s.extend_from_slice(&[0xab, 0xcd, 0xef]);
        let c = checksum([10, 0, 0, 1], [10, 0, 0, 2], &s);
        s[16..18].copy_from_slice(&c.to_be_bytes());
        s
    }

    fn valid(s: &[u8]) -> bool {
        checksum([10, 0, 0, 1], [10, 0, 0, 2], s) == 0
    }

    #[test]
    fn mss_for_mtu_counts_fixed_headers() {
        assert_eq!(mss_for_mtu(1500, false), 1460);
        assert_eq!(mss_for_mtu(1500, true), 1440);
        assert_eq!(mss_for_mtu(30, false), 0);
        assert_eq!(mss_for_mtu(100_000, false), u16::MAX);
    }

    #[test]
    fn clamps_syn_and_keeps_checksum_valid() {
        // MSS first (even offset), then after a NOP (odd offset), then after SACK-permitted.
        for opts in [
            &[2u8, 4, 0x05, 0xb4, 1, 3, 3, 7][..],
            &[1, 2, 4, 0x05, 0xb4],
            &[4, 2, 1, 1, 1, 2, 4, 0x05, 0xb4],
            &[1, 1, 1, 2, 4, 0x05, 0xb4],
        ] {
            let mut s = syn(opts, SYN);
            assert!(valid(&s));
            assert!(clamp(&mut s, 1400), "{opts:?}");
            assert!(valid(&s), "{opts:?}");
            let at = TCP_HDR_LEN + find_mss(&s[TCP_HDR_LEN..TCP_HDR_LEN + opts.len()]).unwrap();
            assert_eq!(u16::from_be_bytes([s[at], s[at + 1]]), 1400);
            // Already small enough: unchanged.
            let before = s.clone();
            assert!(!clamp(&mut s, 1400));
            assert_eq!(s, before);
        }
        // SYN-ACK too.
        let mut s = syn(&[2, 4, 0xff, 0xff], SYN | 0x10);
        assert!(clamp(&mut s, 1));
        assert!(valid(&s));
    }

    #[test]
    fn leaves_other_segments_alone() {
        for (opts, flags) in [
            (&[2u8, 4, 0x05, 0xb4][..], 0x10),
            (&[1, 1, 1, 1], SYN),
            (&[0, 2, 4, 0x05, 0xb4], SYN),
            (&[2, 3, 0x05, 0xb4], SYN),
            (&[3, 0], SYN),
            (&[3, 9, 1, 1], SYN),
        ] {
            let mut s = syn(opts, flags);
            let before = s.clone();
            assert!(!clamp(&mut s, 1000), "{opts:?}");
            assert_eq!(s, before);
        }
        // Truncated headers.
        let mut s = syn(&[2, 4, 0x05, 0xb4], SYN);
        assert!(!clamp(&mut s[..22], 1000));
        assert!(!clamp(&mut s[..10], 1000));
        s[12] = 0x10;
        assert!(!clamp(&mut s, 1000));
    }
}
