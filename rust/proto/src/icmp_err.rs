// SPDX-License-Identifier: GPL-2.0
//! ICMP errors about ripsec's own ESP and AH packets: a "fragmentation needed" (RFC 1191) or
//! "packet too big" (RFC 8201) that quotes an outbound ESP, ESP-in-UDP (RFC 3948) or AH
//! header names the SA (destination, SPI, protocol) whose path grew narrower, as XFRM's
//! `esp4_err`/`esp6_err` read it.

use crate::{
    headers::{PROTO_AH, PROTO_ESP},
    udp_encap::PROTO_UDP,
};

const ICMP_DEST_UNREACH: u8 = 3;
const ICMP_FRAG_NEEDED: u8 = 4;
const ICMPV6_PKT_TOOBIG: u8 = 2;
/// The ICMP header in front of the quoted packet.
const ICMP_HDR_LEN: usize = 8;
/// The smallest path MTU taken from an ICMP error: IPv4's 552 bytes (Linux's `min_pmtu`,
/// against forged tiny values) and IPv6's minimum link MTU (RFC 8200 §5).
pub const MIN_PMTU_V4: u32 = 552;
/// See [`MIN_PMTU_V4`].
pub const MIN_PMTU_V6: u32 = 1280;
/// Bytes from the ICMP header on that [`parse`] may read: the ICMP header, a quoted IPv6
/// header (or IPv4 with options), a UDP header and the SPI behind it.
pub const PARSE_LEN: usize = ICMP_HDR_LEN + 60 + 8 + 8;

/// What an ICMP "too big" error says about one of our packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooBig {
    /// The MTU of the hop that refused the packet.
    pub mtu: u32,
    /// The quoted packet's source (ours) and destination (the SA's peer); IPv4 in the first
    /// 4 bytes.
    pub src: [u8; 16],
    /// See `src`.
    pub dst: [u8; 16],
    /// ESP or AH (ESP also when it was in UDP).
    pub proto: u8,
    /// The SPI of the quoted header.
    pub spi: u32,
    /// The UDP ports (source, destination) when ESP was in UDP.
    pub udp: Option<(u16, u16)>,
}

/// Reads an ICMP (`v6` false) or ICMPv6 message, `icmp` from its header on, and returns what
/// it says if it is a "too big" error quoting ESP, ESP in UDP, or AH.
pub fn parse(icmp: &[u8], v6: bool) -> Option<TooBig> {
    let be32 = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let (ty, code) = (*icmp.first()?, *icmp.get(1)?);
    let quote = icmp.get(ICMP_HDR_LEN..)?;
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    let (mtu, proto, l4) = if v6 {
        if ty != ICMPV6_PKT_TOOBIG || code != 0 || quote.first()? >> 4 != 6 {
            return None;
        }
        src.copy_from_slice(quote.get(8..24)?);
        dst.copy_from_slice(quote.get(24..40)?);
        (be32(icmp, 4)?, *quote.get(6)?, quote.get(40..)?)
    } else {
        if ty != ICMP_DEST_UNREACH || code != ICMP_FRAG_NEEDED || quote.first()? >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(quote[0] & 0x0f) * 4;
        // Only a first fragment quotes the header behind IP.
        let frag_off = u16::from_be_bytes([*quote.get(6)?, *quote.get(7)?]) & 0x1fff;
        if ihl < 20 || frag_off != 0 {
            return None;
        }
        src[..4].copy_from_slice(quote.get(12..16)?);
        dst[..4].copy_from_slice(quote.get(16..20)?);
        let mtu = u16::from_be_bytes([icmp[6], icmp[7]]);
        (u32::from(mtu), *quote.get(9)?, quote.get(ihl..)?)
    };
    if mtu == 0 {
        return None;
    }
    let (proto, spi, udp) = match proto {
        PROTO_ESP => (PROTO_ESP, be32(l4, 0)?, None),
        PROTO_AH => (PROTO_AH, be32(l4, 4)?, None),
        PROTO_UDP => {
            let ports = (
                u16::from_be_bytes([*l4.first()?, *l4.get(1)?]),
                u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]),
            );
            (PROTO_ESP, be32(l4, 8)?, Some(ports))
        }
        _ => return None,
    };
    // SPI 0 is reserved (RFC 4303 §2.1); in UDP it marks IKE (RFC 3948 §2.2).
    if spi == 0 {
        return None;
    }
    Some(TooBig {
        mtu,
        src,
        dst,
        proto,
        spi,
        udp,
    })
}

/// The path MTU after an error reporting `reported`, when the path MTU was `current` (0:
/// none learnt yet); `None` when it stays. Never below the family's minimum.
pub fn lowered(current: u32, reported: u32, v6: bool) -> Option<u32> {
    let new = floored(reported, v6);
    (current == 0 || new < current).then_some(new)
}

/// `reported`, raised to the family's minimum path MTU.
fn floored(reported: u32, v6: bool) -> u32 {
    reported.max(if v6 { MIN_PMTU_V6 } else { MIN_PMTU_V4 })
}

/// A path MTU learnt from ICMP and until when (monotonic seconds), in one word so that both
/// change together. It holds for the netns's `route.mtu_expires` seconds from the report
/// (as XFRM's route exceptions do), then the device's MTU is tried again; a repeated report
/// renews it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LearntMtu(u64);

impl LearntMtu {
    /// Nothing learnt.
    pub const NONE: Self = Self(0);

    /// From its bits (an atomic's value).
    pub const fn from_bits(bits: u64) -> Self {
        Self(bits)
    }

    pub const fn bits(self) -> u64 {
        self.0
    }

    /// The path MTU at `now` (0: none, or it expired).
    pub fn mtu(self, now: u64) -> u32 {
        let (mtu, until) = (self.0 as u32, (self.0 >> 32) as u32);
        // Seconds left, read across the wrap of the 32-bit clock.
        let left = until.wrapping_sub(now as u32) as i32;
        if left > 0 {
            mtu
        } else {
            0
        }
    }

    /// After an error reporting `reported` at `now`, holding `expires` seconds: lowered, or
    /// renewed when it reports the same; `None` when it stays as it is.
    pub fn reported(self, reported: u32, v6: bool, now: u64, expires: u64) -> Option<Self> {
        let current = self.mtu(now);
        let same = floored(reported, v6) == current;
        let new = lowered(current, reported, v6).or(same.then_some(current))?;
        let until = (now as u32).wrapping_add(expires.min(i32::MAX as u64) as u32);
        Some(Self((u64::from(until) << 32) | u64::from(new)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_learnt_mtu_expires_and_a_repeated_report_renews_it() {
        let e = 600;
        let m = LearntMtu::NONE.reported(1400, false, 1000, e).unwrap();
        assert_eq!((m.mtu(1000), m.mtu(1599), m.mtu(1600)), (1400, 1400, 0));
        // Higher reports do not raise it; lower ones lower it; the same one renews it.
        assert_eq!(m.reported(1450, false, 1100, e), None);
        let lower = m.reported(1300, false, 1100, e).unwrap();
        assert_eq!((lower.mtu(1699), lower.mtu(1700)), (1300, 0));
        let renewed = m.reported(1400, false, 1500, e).unwrap();
        assert_eq!(renewed.mtu(2099), 1400);
        // Once expired, any report is learnt afresh, even a higher one.
        assert_eq!(m.reported(1450, false, 1700, e).unwrap().mtu(1700), 1450);
        // Floors, an expiry of 0 (gone at once) and the wrap of the 32-bit clock.
        assert_eq!(
            LearntMtu::NONE.reported(100, true, 5, e).unwrap().mtu(5),
            1280
        );
        assert_eq!(
            LearntMtu::NONE.reported(1400, false, 5, 0).unwrap().mtu(5),
            0
        );
        let near = u64::from(u32::MAX) - 5;
        let wrap = LearntMtu::NONE.reported(1400, false, near, e).unwrap();
        assert_eq!((wrap.mtu(near + 10), wrap.mtu(near + 600)), (1400, 0));
        assert_eq!(LearntMtu::from_bits(wrap.bits()), wrap);
        assert_eq!(LearntMtu::NONE.mtu(0), 0);
        assert_eq!(LearntMtu::NONE.mtu(12345), 0);
    }

    fn v4_error(code: u8, mtu: u16, proto: u8, l4: &[u8]) -> std::vec::Vec<u8> {
        let mut m = std::vec![ICMP_DEST_UNREACH, code, 0, 0, 0, 0];
        m.extend_from_slice(&mtu.to_be_bytes());
        let mut ip = std::vec![0x45, 0, 5, 0xdc, 0, 1, 0x40, 0, 64, proto, 0, 0];
        ip.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        m.extend_from_slice(&ip);
        m.extend_from_slice(l4);
        m
    }

    #[test]
    fn reads_ipv4_frag_needed_for_esp_ah_and_udp() {
        let esp = [0, 0, 0x10, 0, 0, 0, 0, 7];
        let t = parse(&v4_error(4, 1400, 50, &esp), false).unwrap();
        assert_eq!(
            (t.mtu, t.proto, t.spi, t.udp),
            (1400, PROTO_ESP, 0x1000, None)
        );
        assert_eq!(
            (&t.src[..4], &t.dst[..4]),
            (&[10, 0, 0, 1][..], &[10, 0, 0, 2][..])
        );
        let ah = [50, 4, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 1];
        let t = parse(&v4_error(4, 1300, 51, &ah), false).unwrap();
        assert_eq!((t.proto, t.spi), (PROTO_AH, 0x2000));
        let udp = [
            0x11, 0x94, 0x11, 0x94, 0, 30, 0, 0, 0, 0, 0x30, 0, 0, 0, 0, 1,
        ];
        let t = parse(&v4_error(4, 1300, 17, &udp), false).unwrap();
        assert_eq!(
            (t.proto, t.spi, t.udp),
            (PROTO_ESP, 0x3000, Some((4500, 4500)))
        );
        // IKE in UDP (non-ESP marker), another code, no MTU, other protocols, truncation.
        let ike = [0x11, 0x94, 0x11, 0x94, 0, 30, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse(&v4_error(4, 1300, 17, &ike), false), None);
        assert_eq!(parse(&v4_error(3, 1300, 50, &esp), false), None);
        assert_eq!(parse(&v4_error(4, 0, 50, &esp), false), None);
        assert_eq!(parse(&v4_error(4, 1300, 6, &esp), false), None);
        assert_eq!(parse(&v4_error(4, 1300, 50, &esp[..3]), false), None);
        assert_eq!(parse(&v4_error(4, 1300, 50, &esp), true), None);
        // A later fragment quotes no ESP header.
        let mut later = v4_error(4, 1300, 50, &esp);
        later[ICMP_HDR_LEN + 7] = 0x10;
        assert_eq!(parse(&later, false), None);
    }

    #[test]
    fn reads_ipv6_packet_too_big() {
        let mut m = std::vec![ICMPV6_PKT_TOOBIG, 0, 0, 0];
        m.extend_from_slice(&1400u32.to_be_bytes());
        let mut ip = std::vec![0x60, 0, 0, 0, 0x05, 0xa0, 50, 64];
        ip.extend_from_slice(&[0xfd; 16]);
        ip.extend_from_slice(&[0xfe; 16]);
        m.extend_from_slice(&ip);
        m.extend_from_slice(&[0, 0, 0x10, 0, 0, 0, 0, 1]);
        let t = parse(&m, true).unwrap();
        assert_eq!((t.mtu, t.proto, t.spi), (1400, PROTO_ESP, 0x1000));
        assert_eq!((t.src, t.dst), ([0xfd; 16], [0xfe; 16]));
        assert_eq!(parse(&m, false), None);
        m[1] = 1;
        assert_eq!(parse(&m, true), None);
    }

    #[test]
    fn lowers_only_and_not_below_the_minimum() {
        assert_eq!(lowered(0, 1400, false), Some(1400));
        assert_eq!(lowered(1400, 1300, false), Some(1300));
        assert_eq!(lowered(1300, 1400, false), None);
        assert_eq!(lowered(1300, 1300, false), None);
        assert_eq!(lowered(0, 100, false), Some(MIN_PMTU_V4));
        assert_eq!(lowered(0, 1000, true), Some(MIN_PMTU_V6));
        assert_eq!(lowered(MIN_PMTU_V6, 1000, true), None);
    }
}
