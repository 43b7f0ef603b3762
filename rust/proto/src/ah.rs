//! AH (RFC 4302): the header, its length and alignment, and the ICV input: a copy of the
//! headers in front of the payload with every field a router may change zeroed (§3.3.3 and
//! appendix A), the ICV field zeroed, and with ESN the high sequence bits after the packet.
//!
//! IPv4 AH is 32-bit aligned (RFC 4302 §3.3.3.2.1); Linux XFRM aligns it to 64 bits unless the
//! SA has `XFRM_STATE_ALIGN4` (which strongSwan and Libreswan set) and drops AH of the other
//! length. ripsec sends either ([`ah_len`]) and accepts both ([`len_ok`]).

use crate::{
    headers::{NH_DEST_OPTS, NH_HOP_BY_HOP, NH_ROUTING},
    ip::{IPV4_HDR_LEN, IPV6_HDR_LEN},
    selector::AF_INET6,
};

/// The fixed part of the AH header: next header, length, reserved, SPI, sequence number.
pub const AH_HDR_LEN: usize = 12;
/// The longest ICV field (HMAC-SHA-512-256, padded to 64 bits).
pub const MAX_ICV_FIELD: usize = 32;

/// Why a packet's headers cannot be authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

/// A parsed AH header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// What follows AH.
    pub next_header: u8,
    /// Length of AH with its ICV field and padding, in bytes.
    pub len: usize,
    /// The SPI.
    pub spi: u32,
    /// The low 32 bits of the sequence number.
    pub seq_lo: u32,
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// The length of AH with an ICV of `icv_len` bytes: 64-bit aligned for IPv6 or when `align8`
/// (XFRM's IPv4 default), else 32-bit aligned.
pub fn ah_len(icv_len: usize, ipv6: bool, align8: bool) -> usize {
    let align = if ipv6 || align8 { 8 } else { 4 };
    round_up(AH_HDR_LEN + icv_len, align)
}

/// Whether an AH header of `len` bytes fits an ICV of `icv_len`: IPv6 only 64-bit aligned;
/// IPv4 either alignment, so both XFRM settings interoperate.
pub fn len_ok(len: usize, icv_len: usize, ipv6: bool) -> bool {
    len == ah_len(icv_len, ipv6, true) || (!ipv6 && len == ah_len(icv_len, false, false))
}

/// Writes the AH header of `out.len()` bytes with a zero ICV field.
pub fn write_header(out: &mut [u8], next_header: u8, spi: u32, seq_lo: u32) -> Option<()> {
    let words = u8::try_from(out.len() / 4).ok()?.checked_sub(2)?;
    if !out.len().is_multiple_of(4) || out.len() < AH_HDR_LEN {
        return None;
    }
    out.fill(0);
    out[0] = next_header;
    out[1] = words;
    out[4..8].copy_from_slice(&spi.to_be_bytes());
    out[8..12].copy_from_slice(&seq_lo.to_be_bytes());
    Some(())
}

/// Reads the AH header at the start of `pkt`; `None` if it is truncated.
pub fn parse_header(pkt: &[u8]) -> Option<Header> {
    let h = pkt.get(..AH_HDR_LEN)?;
    let len = (usize::from(h[1]) + 2) * 4;
    (pkt.len() >= len).then_some(Header {
        next_header: h[0],
        len,
        spi: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        seq_lo: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
    })
}

/// Turns `front`, a copy of the packet up to the end of the AH header at `ah_at`, into the
/// ICV input: mutable IP fields and options zeroed, the `icv_len` bytes of the ICV zeroed.
/// The padding after the ICV counts as it is: its content is the sender's choice (RFC 4302
/// §3.3.3.2.1), and XFRM leaves whatever the buffer held there.
pub fn icv_front(
    front: &mut [u8],
    family: u8,
    ah_at: usize,
    icv_len: usize,
) -> Result<(), Malformed> {
    let ah = front.get_mut(ah_at..).ok_or(Malformed)?;
    ah.get_mut(AH_HDR_LEN..AH_HDR_LEN + icv_len)
        .ok_or(Malformed)?
        .fill(0);
    let ip = &mut front[..ah_at];
    if family == AF_INET6 {
        zero_ipv6(ip)
    } else {
        zero_ipv4(ip)
    }
}

/// IPv4 (RFC 4302 appendix A.1): TOS, flags and fragment offset, TTL and checksum are
/// zeroed, and every option but the security and router-alert ones; with source routing the
/// destination is the final one.
fn zero_ipv4(ip: &mut [u8]) -> Result<(), Malformed> {
    let hl = usize::from(*ip.first().ok_or(Malformed)? & 0x0f) * 4;
    if hl < IPV4_HDR_LEN || ip.len() < hl {
        return Err(Malformed);
    }
    let (fixed, options) = ip[..hl].split_at_mut(IPV4_HDR_LEN);
    fixed[1] = 0;
    fixed[6..9].fill(0);
    fixed[10..12].fill(0);
    let mut at = 0;
    while at < options.len() {
        match options[at] {
            OPT_END => break,
            OPT_NOOP => {
                at += 1;
                continue;
            }
            _ => (),
        }
        let len = usize::from(*options.get(at + 1).ok_or(Malformed)?);
        if len < 2 || at + len > options.len() {
            return Err(Malformed);
        }
        let opt = &mut options[at..at + len];
        if !IMMUTABLE_V4_OPTIONS.contains(&opt[0]) {
            if opt[0] == OPT_LSRR || opt[0] == OPT_SSRR {
                // Type, length, pointer, then at least one address.
                if len < 7 {
                    return Err(Malformed);
                }
                fixed[16..20].copy_from_slice(&opt[len - 4..]);
            }
            opt.fill(0);
        }
        at += len;
    }
    Ok(())
}

const OPT_END: u8 = 0;
const OPT_NOOP: u8 = 1;
const OPT_LSRR: u8 = 131;
const OPT_SSRR: u8 = 137;
/// Security (130), extended security (133), CIPSO (134), router alert (148) and
/// sender-directed multi-destination delivery (149).
const IMMUTABLE_V4_OPTIONS: [u8; 5] = [130, 133, 134, 148, 149];

/// IPv6 (RFC 4302 appendix A.2): traffic class, flow label and hop limit are zeroed; in the
/// hop-by-hop and destination options, the data of options marked mutable (type bit 0x20);
/// a routing header takes its final-destination form.
fn zero_ipv6(ip: &mut [u8]) -> Result<(), Malformed> {
    if ip.len() < IPV6_HDR_LEN {
        return Err(Malformed);
    }
    ip[..4].copy_from_slice(&[0x60, 0, 0, 0]);
    ip[7] = 0;
    let mut next = ip[6];
    let mut at = IPV6_HDR_LEN;
    while at < ip.len() {
        let hdr_len = (usize::from(*ip.get(at + 1).ok_or(Malformed)?) + 1) * 8;
        if at + hdr_len > ip.len() {
            return Err(Malformed);
        }
        match next {
            NH_HOP_BY_HOP | NH_DEST_OPTS => zero_mutable_options(&mut ip[at + 2..at + hdr_len])?,
            NH_ROUTING => final_destination(ip, at, hdr_len)?,
            _ => (),
        }
        next = ip[at];
        at += hdr_len;
    }
    Ok(())
}

/// Zeroes the data of the options (type-length-value, RFC 8200 §4.2) whose type says they
/// may change en route.
fn zero_mutable_options(opts: &mut [u8]) -> Result<(), Malformed> {
    const PAD1: u8 = 0;
    const MUTABLE: u8 = 0x20;
    let mut at = 0;
    while at < opts.len() {
        if opts[at] == PAD1 {
            at += 1;
            continue;
        }
        let len = usize::from(*opts.get(at + 1).ok_or(Malformed)?);
        let mutable = opts[at] & MUTABLE != 0;
        let data = opts.get_mut(at + 2..at + 2 + len).ok_or(Malformed)?;
        if mutable {
            data.fill(0);
        }
        at += 2 + len;
    }
    Ok(())
}

/// A routing header with segments left is put in the form it will have at the final
/// destination, as Linux's `ipv6_rearrange_rthdr` does (type 0 address layout).
fn final_destination(ip: &mut [u8], at: usize, hdr_len: usize) -> Result<(), Malformed> {
    let left = usize::from(ip[at + 3]);
    if left == 0 {
        return Ok(());
    }
    let segments = usize::from(ip[at + 1]) / 2;
    if left > segments || 8 + segments * 16 > hdr_len {
        return Err(Malformed);
    }
    ip[at + 3] = 0;
    let addrs = at + 8;
    let addr = |i: usize| addrs + i * 16;
    let mut final_addr = [0u8; 16];
    final_addr.copy_from_slice(&ip[addr(segments - 1)..addr(segments)]);
    let first = segments - left;
    ip.copy_within(addr(first)..addr(segments - 1), addr(first + 1));
    ip.copy_within(24..40, addr(first));
    ip[24..40].copy_from_slice(&final_addr);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selector::AF_INET;

    #[test]
    fn lengths_follow_both_alignments() {
        // HMAC-SHA-256-128: 28 bytes 32-bit aligned, 32 bytes 64-bit aligned.
        assert_eq!(ah_len(16, false, false), 28);
        assert_eq!(ah_len(16, false, true), 32);
        assert_eq!(ah_len(16, true, false), 32);
        // SHA-1-96 is 24 bytes either way; SHA-512-256 44 or 48.
        assert_eq!(ah_len(12, false, false), 24);
        assert_eq!(ah_len(32, true, false), 48);
        assert!(len_ok(28, 16, false) && len_ok(32, 16, false));
        assert!(!len_ok(28, 16, true) && len_ok(32, 16, true));
        assert!(!len_ok(24, 16, false) && !len_ok(36, 16, false));
    }

    #[test]
    fn header_round_trips() {
        let mut h = [0xaau8; 28];
        write_header(&mut h, 6, 0x1234_5678, 9).unwrap();
        assert_eq!(h[1], 5, "length in 32-bit words minus 2");
        assert!(h[12..].iter().all(|&b| b == 0));
        let p = parse_header(&h).unwrap();
        assert_eq!(
            (p.next_header, p.len, p.spi, p.seq_lo),
            (6, 28, 0x1234_5678, 9)
        );
        assert_eq!(parse_header(&h[..27]), None, "truncated ICV");
        assert_eq!(parse_header(&h[..11]), None);
        assert_eq!(write_header(&mut [0u8; 10], 6, 1, 1), None);
        assert_eq!(write_header(&mut [0u8; 26], 6, 1, 1), None);
    }

    fn ipv4(options: &[u8]) -> std::vec::Vec<u8> {
        let hl = IPV4_HDR_LEN + options.len();
        let mut p = std::vec![0u8; hl + 28];
        p[0] = 0x40 | (hl / 4) as u8;
        p[1] = 0xb8;
        p[6] = 0x40;
        p[8] = 63;
        p[9] = 51;
        p[10] = 0xbe;
        p[11] = 0xef;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        p[20..hl].copy_from_slice(options);
        write_header(&mut p[hl..], 6, 7, 1).unwrap();
        p[hl + 12..].fill(0x55);
        p
    }

    #[test]
    fn ipv4_mutable_fields_are_zeroed_and_immutable_ones_kept() {
        let mut p = ipv4(&[]);
        icv_front(&mut p, AF_INET, 20, 16).unwrap();
        assert_eq!((p[1], p[6], p[8], p[10], p[11]), (0, 0, 0, 0, 0));
        assert_eq!((p[0], p[9]), (0x45, 51));
        assert_eq!(&p[16..20], &[10, 0, 0, 2]);
        assert!(p[32..].iter().all(|&b| b == 0), "ICV field zeroed");
        // Padding after the ICV is kept.
        let mut padded = ipv4(&[]);
        icv_front(&mut padded, AF_INET, 20, 12).unwrap();
        assert!(padded[32..44].iter().all(|&b| b == 0));
        assert!(padded[44..].iter().all(|&b| b == 0x55));
        // A router changing TTL or TOS changes nothing; a changed address does.
        let (mut a, mut b) = (ipv4(&[]), ipv4(&[]));
        b[8] = 1;
        b[1] = 0;
        icv_front(&mut a, AF_INET, 20, 16).unwrap();
        icv_front(&mut b, AF_INET, 20, 16).unwrap();
        assert_eq!(a, b);
        b = ipv4(&[]);
        b[15] = 9;
        icv_front(&mut b, AF_INET, 20, 16).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn ipv4_options_follow_appendix_a() {
        // Router alert (kept), NOP, record route (zeroed), loose source route to 10.0.0.9.
        let opts = [
            148, 4, 0, 0, 1, 7, 7, 4, 1, 2, 3, 4, 131, 7, 4, 10, 0, 0, 9, 0,
        ];
        let mut p = ipv4(&opts);
        icv_front(&mut p, AF_INET, 40, 16).unwrap();
        assert_eq!(&p[20..25], &[148, 4, 0, 0, 1]);
        assert!(p[25..40].iter().all(|&b| b == 0));
        assert_eq!(
            &p[16..20],
            &[10, 0, 0, 9],
            "final destination of the source route"
        );
        let mut bad = ipv4(&[7, 9, 0, 0]);
        assert_eq!(icv_front(&mut bad, AF_INET, 24, 16), Err(Malformed));
        let mut short = ipv4(&[131, 3, 4, 0]);
        assert_eq!(icv_front(&mut short, AF_INET, 24, 16), Err(Malformed));
    }

    fn ipv6(ext: &[u8], first: u8) -> std::vec::Vec<u8> {
        let mut p = std::vec![0u8; IPV6_HDR_LEN + ext.len() + 24];
        p[..4].copy_from_slice(&[0x6b, 0x81, 0x23, 0x45]);
        p[6] = first;
        p[7] = 17;
        p[8] = 0x20;
        p[24] = 0xfd;
        p[39] = 2;
        p[40..40 + ext.len()].copy_from_slice(ext);
        let ah = 40 + ext.len();
        write_header(&mut p[ah..], 6, 7, 1).unwrap();
        p[ah + 12..].fill(0x55);
        p
    }

    #[test]
    fn ipv6_fixed_header_and_option_bits() {
        // Hop-by-hop: a mutable option (type 0x3e) and an immutable one (0x1e), then AH.
        let ext = [51, 0, 0x3e, 1, 0xaa, 0x1e, 1, 0xbb];
        let mut p = ipv6(&ext, NH_HOP_BY_HOP);
        icv_front(&mut p, AF_INET6, 48, 12).unwrap();
        assert_eq!(&p[..4], &[0x60, 0, 0, 0]);
        assert_eq!((p[6], p[7]), (NH_HOP_BY_HOP, 0));
        assert_eq!(&p[40..48], &[51, 0, 0x3e, 1, 0, 0x1e, 1, 0xbb]);
        let mut bad = ipv6(&[51, 0, 0x3e, 9, 0, 0, 0, 0], NH_HOP_BY_HOP);
        assert_eq!(icv_front(&mut bad, AF_INET6, 48, 12), Err(Malformed));
    }

    #[test]
    fn ipv6_routing_header_takes_its_final_form() {
        // Type 0, two addresses (::a, ::b), one segment left; the packet goes to ::a now.
        let mut ext = [0u8; 40];
        ext[..4].copy_from_slice(&[51, 4, 0, 1]);
        ext[23] = 0xa;
        ext[39] = 0xb;
        let mut p = ipv6(&ext, NH_ROUTING);
        p[24..40].copy_from_slice(&[0; 16]);
        p[39] = 0xa;
        icv_front(&mut p, AF_INET6, 80, 12).unwrap();
        assert_eq!(p[39], 0xb, "destination is the final one");
        assert_eq!(p[43], 0, "no segments left");
        assert_eq!((p[63], p[79]), (0xa, 0xa));
        // Arriving at the final destination, the header is already in that form.
        let mut arrived = ipv6(&ext, NH_ROUTING);
        arrived[24..40].copy_from_slice(&[0; 16]);
        arrived[39] = 0xb;
        arrived[43] = 0;
        arrived[63] = 0xa;
        arrived[79] = 0xa;
        icv_front(&mut arrived, AF_INET6, 80, 12).unwrap();
        assert_eq!(p, arrived);
    }

    #[test]
    fn truncated_fronts_are_malformed() {
        let mut p = ipv4(&[]);
        assert_eq!(icv_front(&mut p[..30], AF_INET, 20, 16), Err(Malformed));
        assert_eq!(icv_front(&mut p, AF_INET, 16, 16), Err(Malformed));
        let mut q = ipv6(&[], 51);
        assert_eq!(icv_front(&mut q, AF_INET6, 30, 12), Err(Malformed));
    }
}
