// SPDX-License-Identifier: GPL-2.0
//! Traffic selectors (RFC 4301 §4.4.1.1) and SPD precedence.
//!
//! A [`Selector`] matches a [`Flow`] when the family is equal, both addresses lie in their
//! prefixes, the protocol is equal (or the selector's is 0, any) and both ports lie in their
//! ranges. Flows of protocols without ports carry port 0, and ICMP/ICMPv6 flows carry the type
//! as source port and the code as destination port, as XFRM does.
//!
//! Precedence among matching policies ([`precedence`]), a deterministic total order:
//! 1. lower priority value first (as XFRM);
//! 2. then higher [`Selector::specificity`];
//! 3. then lower id (the older policy).

use core::cmp::Ordering;

/// IPv4 address family (Linux `AF_INET`).
pub const AF_INET: u8 = 2;
/// IPv6 address family (Linux `AF_INET6`).
pub const AF_INET6: u8 = 10;

/// An address prefix; IPv4 addresses use the first 4 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    /// Address, network byte order.
    pub addr: [u8; 16],
    /// Prefix length in bits.
    pub len: u8,
}

/// An inclusive port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// Lowest port.
    pub lo: u16,
    /// Highest port.
    pub hi: u16,
}

/// A traffic selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selector {
    /// [`AF_INET`] or [`AF_INET6`].
    pub family: u8,
    /// Source prefix.
    pub src: Prefix,
    /// Destination prefix.
    pub dst: Prefix,
    /// IP protocol; 0 = any.
    pub proto: u8,
    /// Source ports (ICMP type).
    pub sport: PortRange,
    /// Destination ports (ICMP code).
    pub dport: PortRange,
}

/// A packet's flow, as matched against selectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// [`AF_INET`] or [`AF_INET6`].
    pub family: u8,
    /// Source address; IPv4 in the first 4 bytes.
    pub src: [u8; 16],
    /// Destination address; IPv4 in the first 4 bytes.
    pub dst: [u8; 16],
    /// IP protocol.
    pub proto: u8,
    /// Source port; ICMP/ICMPv6 type; 0 without ports.
    pub sport: u16,
    /// Destination port; ICMP/ICMPv6 code; 0 without ports.
    pub dport: u16,
}

/// Why a selector is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectorError {
    /// Family neither [`AF_INET`] nor [`AF_INET6`].
    BadFamily,
    /// Source prefix longer than the address.
    SrcPrefixLen,
    /// Destination prefix longer than the address.
    DstPrefixLen,
    /// Source port range with `lo > hi`.
    SrcPortRange,
    /// Destination port range with `lo > hi`.
    DstPortRange,
    /// An address has bits set past its prefix (or past byte 4 for IPv4): rejected rather than
    /// masked, so that what is stored is what is shown. [`Prefix::masked`] clears them.
    HostBitsSet,
}

/// Address length in bits for a family, or `None`.
fn family_bits(family: u8) -> Option<u8> {
    match family {
        AF_INET => Some(32),
        AF_INET6 => Some(128),
        _ => None,
    }
}

/// The bits of a 128-bit address (network order) that lie inside a `len`-bit prefix.
fn prefix_mask(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128u32.saturating_sub(u32::from(len)))
        .unwrap_or(0)
}

impl PortRange {
    /// Every port.
    pub const ANY: PortRange = PortRange { lo: 0, hi: 65535 };

    /// Whether `port` is in the range.
    pub fn contains(&self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }

    /// 0 (any port) ..= 16 (one port): 16 minus the bits the range spans, rounded up.
    fn narrowness(&self) -> u32 {
        if self.lo > self.hi {
            return 0;
        }
        // width - 1 in 0..=65535; ceil(log2(width)) = 32 - leading_zeros(width - 1).
        let span = u32::from(self.hi - self.lo);
        16u32.saturating_sub(32 - span.leading_zeros())
    }
}

impl Prefix {
    /// Whether `addr` of `family` lies in this prefix. False for an unknown family or a prefix
    /// longer than the family's addresses. Bits past the prefix are ignored.
    pub fn contains(&self, family: u8, addr: &[u8; 16]) -> bool {
        let Some(bits) = family_bits(family) else {
            return false;
        };
        if self.len > bits {
            return false;
        }
        let diff = u128::from_be_bytes(self.addr) ^ u128::from_be_bytes(*addr);
        diff & prefix_mask(self.len) == 0
    }

    /// This prefix with the bits past its length cleared.
    pub fn masked(&self) -> Prefix {
        Prefix {
            addr: (u128::from_be_bytes(self.addr) & prefix_mask(self.len)).to_be_bytes(),
            len: self.len,
        }
    }

    /// Whether a bit past the prefix (for IPv4 with `len <= 32`, past byte 4 too) is set.
    fn has_host_bits(&self) -> bool {
        self.masked() != *self
    }
}

impl Selector {
    /// Checks the family, the prefix lengths (at most 32 or 128), that no host bits are set,
    /// and that port ranges have `lo <= hi`, in that order.
    pub fn validate(&self) -> Result<(), SelectorError> {
        let bits = family_bits(self.family).ok_or(SelectorError::BadFamily)?;
        if self.src.len > bits {
            return Err(SelectorError::SrcPrefixLen);
        }
        if self.dst.len > bits {
            return Err(SelectorError::DstPrefixLen);
        }
        if self.src.has_host_bits() || self.dst.has_host_bits() {
            return Err(SelectorError::HostBitsSet);
        }
        if self.sport.lo > self.sport.hi {
            return Err(SelectorError::SrcPortRange);
        }
        if self.dport.lo > self.dport.hi {
            return Err(SelectorError::DstPortRange);
        }
        Ok(())
    }

    /// Whether `flow` matches (see the module doc). A family mismatch never matches.
    pub fn matches(&self, flow: &Flow) -> bool {
        self.family == flow.family
            && self.src.contains(flow.family, &flow.src)
            && self.dst.contains(flow.family, &flow.dst)
            && (self.proto == 0 || self.proto == flow.proto)
            && self.sport.contains(flow.sport)
            && self.dport.contains(flow.dport)
    }

    /// How specific the selector is; higher is more specific. Compared as a number it orders
    /// lexicographically by, in turn: destination prefix length (bits 24..32), source prefix
    /// length (bits 16..24), protocol set (bit 10), destination port narrowness (bits 5..10)
    /// and source port narrowness (bits 0..5). A port range's narrowness is
    /// `16 - ceil(log2(hi - lo + 1))`: 16 for one port, 0 for any (0 if `lo > hi`).
    pub fn specificity(&self) -> u32 {
        (u32::from(self.dst.len) << 24)
            | (u32::from(self.src.len) << 16)
            | (u32::from(self.proto != 0) << 10)
            | (self.dport.narrowness() << 5)
            | self.sport.narrowness()
    }
}

/// How much of a packet's flow is known. A fragment that reached a hook without being
/// reassembled has its ports (or even its protocol) in another fragment: OPAQUE in RFC 4301
/// §4.4.1.1's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// Addresses, protocol and ports.
    All,
    /// Addresses and protocol.
    Proto,
    /// Addresses only.
    Addresses,
}

impl Known {
    fn proto(self) -> bool {
        self != Known::Addresses
    }

    fn ports(self) -> bool {
        self == Known::All
    }
}

impl Selector {
    /// Whether a packet of `flow`, of which only `known` is certain, could match.
    pub fn may_match(&self, flow: &Flow, known: Known) -> bool {
        self.family == flow.family
            && self.src.contains(flow.family, &flow.src)
            && self.dst.contains(flow.family, &flow.dst)
            && (!known.proto() || self.proto == 0 || self.proto == flow.proto)
            && (!known.ports()
                || (self.sport.contains(flow.sport) && self.dport.contains(flow.dport)))
    }

    /// Whether a packet of `flow` matches whatever its unknown fields hold.
    pub fn surely_matches(&self, flow: &Flow, known: Known) -> bool {
        self.may_match(flow, known)
            && (known.proto() || self.proto == 0)
            && (known.ports() || (self.sport == PortRange::ANY && self.dport == PortRange::ANY))
    }
}

/// The outcome of [`decide`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision<T> {
    /// This policy wins for the packet, whatever its unknown fields hold.
    Matched(T),
    /// This policy, which does not bypass, may win: the packet might be traffic it covers.
    Maybe(T),
    /// No policy can match.
    Unmatched,
}

/// Decides which policy a packet of `flow` meets when only `known` of it is certain
/// (RFC 4301 §7: never let through in the clear what a protect policy might cover).
/// `policies` are `(policy, selector, bypasses)` in precedence order. A bypass policy that
/// only may match is passed over: if it does not match, a later policy decides.
pub fn decide<'a, T>(
    policies: impl IntoIterator<Item = (T, &'a Selector, bool)>,
    flow: &Flow,
    known: Known,
) -> Decision<T> {
    for (p, sel, bypass) in policies {
        if sel.surely_matches(flow, known) {
            return Decision::Matched(p);
        }
        if !bypass && sel.may_match(flow, known) {
            return Decision::Maybe(p);
        }
    }
    Decision::Unmatched
}

/// Orders policy `a` against policy `b`; `Less` means `a` wins. See the module doc.
pub fn precedence(
    a_prio: u32,
    a_sel: &Selector,
    a_id: u32,
    b_prio: u32,
    b_sel: &Selector,
    b_id: u32,
) -> Ordering {
    a_prio
        .cmp(&b_prio)
        .then_with(|| b_sel.specificity().cmp(&a_sel.specificity()))
        .then_with(|| a_id.cmp(&b_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut x = [0u8; 16];
        x[..4].copy_from_slice(&a);
        x
    }

    fn v6(s: &str) -> [u8; 16] {
        let ip: std::net::Ipv6Addr = s.parse().unwrap();
        ip.octets()
    }

    fn p4(a: [u8; 4], len: u8) -> Prefix {
        Prefix { addr: v4(a), len }
    }

    fn p6(s: &str, len: u8) -> Prefix {
        Prefix { addr: v6(s), len }
    }

    fn ports(lo: u16, hi: u16) -> PortRange {
        PortRange { lo, hi }
    }

    fn sel4(src: Prefix, dst: Prefix) -> Selector {
        Selector {
            family: AF_INET,
            src,
            dst,
            proto: 0,
            sport: PortRange::ANY,
            dport: PortRange::ANY,
        }
    }

    fn flow4(src: [u8; 4], dst: [u8; 4], proto: u8, sport: u16, dport: u16) -> Flow {
        Flow {
            family: AF_INET,
            src: v4(src),
            dst: v4(dst),
            proto,
            sport,
            dport,
        }
    }

    #[test]
    fn v4_prefixes() {
        let any = p4([0, 0, 0, 0], 0);
        assert!(any.contains(AF_INET, &v4([1, 2, 3, 4])));
        assert!(any.contains(AF_INET, &v4([255, 255, 255, 255])));
        let host = p4([10, 0, 0, 1], 32);
        assert!(host.contains(AF_INET, &v4([10, 0, 0, 1])));
        assert!(!host.contains(AF_INET, &v4([10, 0, 0, 2])));
        // /23: 192.168.2.0 - 192.168.3.255.
        let p23 = p4([192, 168, 2, 0], 23);
        assert!(p23.contains(AF_INET, &v4([192, 168, 2, 0])));
        assert!(p23.contains(AF_INET, &v4([192, 168, 3, 255])));
        assert!(!p23.contains(AF_INET, &v4([192, 168, 1, 255])));
        assert!(!p23.contains(AF_INET, &v4([192, 168, 4, 0])));
        // /1 and /31.
        assert!(p4([128, 0, 0, 0], 1).contains(AF_INET, &v4([200, 0, 0, 0])));
        assert!(!p4([128, 0, 0, 0], 1).contains(AF_INET, &v4([127, 255, 255, 255])));
        assert!(p4([10, 0, 0, 2], 31).contains(AF_INET, &v4([10, 0, 0, 3])));
        assert!(!p4([10, 0, 0, 2], 31).contains(AF_INET, &v4([10, 0, 0, 4])));
        // Bytes past the IPv4 address are ignored in flows.
        let mut odd = v4([10, 0, 0, 1]);
        odd[10] = 0xff;
        assert!(host.contains(AF_INET, &odd));
        // Too long for the family, and unknown families.
        assert!(!p4([10, 0, 0, 1], 33).contains(AF_INET, &v4([10, 0, 0, 1])));
        assert!(!any.contains(0, &v4([10, 0, 0, 1])));
        assert!(!any.contains(AF_INET6 + 1, &v4([10, 0, 0, 1])));
    }

    #[test]
    fn v6_prefixes() {
        let any = p6("::", 0);
        assert!(any.contains(AF_INET6, &v6("2001:db8::1")));
        let host = p6("2001:db8::1", 128);
        assert!(host.contains(AF_INET6, &v6("2001:db8::1")));
        assert!(!host.contains(AF_INET6, &v6("2001:db8::2")));
        assert!(!host.contains(AF_INET6, &v6("2001:db8::1:1")));
        // /57: the top bit of byte 7.
        let p57 = p6("2001:db8:0:80::", 57);
        assert!(p57.contains(AF_INET6, &v6("2001:db8:0:80::1")));
        assert!(p57.contains(AF_INET6, &v6("2001:db8:0:ff:ffff:ffff:ffff:ffff")));
        assert!(!p57.contains(AF_INET6, &v6("2001:db8:0:7f::1")));
        assert!(!p57.contains(AF_INET6, &v6("2001:db8:0:100::")));
        let p64 = p6("2001:db8:1:2::", 64);
        assert!(p64.contains(AF_INET6, &v6("2001:db8:1:2:aaaa:bbbb:cccc:dddd")));
        assert!(!p64.contains(AF_INET6, &v6("2001:db8:1:3::")));
        assert!(!p6("::", 129).contains(AF_INET6, &v6("::")));
        // A v6 prefix longer than 32 is meaningless for v4.
        assert!(!p6("::", 64).contains(AF_INET, &v6("::")));
    }

    #[test]
    fn masked() {
        assert_eq!(p4([10, 1, 2, 3], 8).masked(), p4([10, 0, 0, 0], 8));
        assert_eq!(p4([192, 168, 3, 7], 23).masked(), p4([192, 168, 2, 0], 23));
        assert_eq!(
            p6("2001:db8:0:ff::1", 57).masked(),
            p6("2001:db8:0:80::", 57)
        );
        assert_eq!(p6("ffff::1", 128).masked(), p6("ffff::1", 128));
        assert_eq!(p6("ffff::1", 0).masked(), p6("::", 0));
    }

    #[test]
    fn ports_and_proto() {
        let mut s = sel4(p4([10, 0, 0, 0], 8), p4([10, 0, 0, 0], 8));
        s.proto = 6;
        s.dport = ports(443, 443);
        assert!(s.matches(&flow4([10, 1, 1, 1], [10, 2, 2, 2], 6, 40000, 443)));
        assert!(!s.matches(&flow4([10, 1, 1, 1], [10, 2, 2, 2], 6, 40000, 444)));
        assert!(!s.matches(&flow4([10, 1, 1, 1], [10, 2, 2, 2], 17, 40000, 443)));
        assert!(!s.matches(&flow4([11, 1, 1, 1], [10, 2, 2, 2], 6, 40000, 443)));
        assert!(!s.matches(&flow4([10, 1, 1, 1], [11, 2, 2, 2], 6, 40000, 443)));
        s.sport = ports(1024, 65535);
        assert!(s.matches(&flow4([10, 1, 1, 1], [10, 2, 2, 2], 6, 1024, 443)));
        assert!(s.matches(&flow4([10, 1, 1, 1], [10, 2, 2, 2], 6, 65535, 443)));
        assert!(!s.matches(&flow4([10, 1, 1, 1], [10, 2, 2, 2], 6, 1023, 443)));
        // Proto any.
        let any = sel4(p4([0, 0, 0, 0], 0), p4([0, 0, 0, 0], 0));
        for proto in [0u8, 1, 6, 17, 50, 255] {
            assert!(any.matches(&flow4([1, 2, 3, 4], [5, 6, 7, 8], proto, 0, 0)));
        }
        // ICMP echo request: type 8 as sport, code 0 as dport.
        let mut icmp = any;
        icmp.proto = 1;
        icmp.sport = ports(8, 8);
        assert!(icmp.matches(&flow4([1, 2, 3, 4], [5, 6, 7, 8], 1, 8, 0)));
        assert!(!icmp.matches(&flow4([1, 2, 3, 4], [5, 6, 7, 8], 1, 0, 0)));
    }

    #[test]
    fn family_mismatch_never_matches() {
        let s4 = sel4(p4([0, 0, 0, 0], 0), p4([0, 0, 0, 0], 0));
        let mut f6 = flow4([0, 0, 0, 0], [0, 0, 0, 0], 6, 1, 1);
        f6.family = AF_INET6;
        assert!(!s4.matches(&f6));
        let mut s6 = s4;
        s6.family = AF_INET6;
        assert!(s6.matches(&f6));
        assert!(!s6.matches(&flow4([0, 0, 0, 0], [0, 0, 0, 0], 6, 1, 1)));
        let mut bad = s4;
        bad.family = 7;
        let mut f7 = f6;
        f7.family = 7;
        assert!(!bad.matches(&f7));
    }

    #[test]
    fn validate_errors() {
        let ok = sel4(p4([10, 0, 0, 0], 8), p4([192, 168, 2, 0], 23));
        assert_eq!(ok.validate(), Ok(()));
        let mut s = ok;
        s.family = 0;
        assert_eq!(s.validate(), Err(SelectorError::BadFamily));
        let mut s = ok;
        s.src.len = 33;
        assert_eq!(s.validate(), Err(SelectorError::SrcPrefixLen));
        let mut s = ok;
        s.dst.len = 64;
        assert_eq!(s.validate(), Err(SelectorError::DstPrefixLen));
        let mut s = ok;
        s.sport = ports(2, 1);
        assert_eq!(s.validate(), Err(SelectorError::SrcPortRange));
        let mut s = ok;
        s.dport = ports(65535, 0);
        assert_eq!(s.validate(), Err(SelectorError::DstPortRange));
        let mut s = ok;
        s.dst = p4([192, 168, 3, 0], 23);
        assert_eq!(s.validate(), Err(SelectorError::HostBitsSet));
        let mut s = ok;
        s.src.addr[4] = 1; // past the IPv4 address
        assert_eq!(s.validate(), Err(SelectorError::HostBitsSet));
        let v6ok = Selector {
            family: AF_INET6,
            src: p6("2001:db8::", 32),
            dst: p6("2001:db8:0:80::", 57),
            proto: 58,
            sport: ports(128, 128),
            dport: PortRange::ANY,
        };
        assert_eq!(v6ok.validate(), Ok(()));
        let mut s = v6ok;
        s.src.len = 128;
        assert_eq!(s.validate(), Ok(()));
        s.src.len = 129;
        assert_eq!(s.validate(), Err(SelectorError::SrcPrefixLen));
        let mut s = v6ok;
        s.dst = p6("2001:db8:0:c0::", 57);
        assert_eq!(s.validate(), Err(SelectorError::HostBitsSet));
        // Order: family before lengths before ports.
        let mut s = ok;
        s.sport = ports(2, 1);
        s.src.len = 40;
        assert_eq!(s.validate(), Err(SelectorError::SrcPrefixLen));
    }

    #[test]
    fn specificity_formula() {
        let any = sel4(p4([0, 0, 0, 0], 0), p4([0, 0, 0, 0], 0));
        assert_eq!(any.specificity(), 0);
        let mut s = sel4(p4([10, 0, 0, 0], 8), p4([10, 1, 0, 0], 16));
        assert_eq!(s.specificity(), (16 << 24) | (8 << 16));
        s.proto = 6;
        assert_eq!(s.specificity(), (16 << 24) | (8 << 16) | (1 << 10));
        s.dport = ports(443, 443);
        s.sport = ports(1024, 2047); // 1024 ports: 10 bits
        assert_eq!(
            s.specificity(),
            (16 << 24) | (8 << 16) | (1 << 10) | (16 << 5) | 6
        );
        assert_eq!(ports(0, 1).narrowness(), 15);
        assert_eq!(ports(0, 2).narrowness(), 14);
        assert_eq!(ports(0, 3).narrowness(), 14);
        assert_eq!(ports(0, 32767).narrowness(), 1);
        assert_eq!(ports(0, 32768).narrowness(), 0);
        assert_eq!(PortRange::ANY.narrowness(), 0);
        assert_eq!(ports(5, 4).narrowness(), 0);
        // Lexicographic: one more dst bit beats everything below it.
        let a = sel4(p4([0, 0, 0, 0], 0), p4([10, 0, 0, 0], 9));
        let mut b = sel4(p4([1, 2, 3, 4], 32), p4([10, 0, 0, 0], 8));
        b.proto = 6;
        b.sport = ports(1, 1);
        b.dport = ports(1, 1);
        assert!(a.specificity() > b.specificity());
        let v6 = Selector {
            family: AF_INET6,
            src: p6("::", 128),
            dst: p6("::", 128),
            proto: 255,
            sport: ports(0, 0),
            dport: ports(0, 0),
        };
        assert_eq!(
            v6.specificity(),
            (128 << 24) | (128 << 16) | (1 << 10) | (16 << 5) | 16
        );
    }

    #[test]
    fn precedence_rules() {
        let wide = sel4(p4([0, 0, 0, 0], 0), p4([0, 0, 0, 0], 0));
        let narrow = sel4(p4([10, 0, 0, 0], 8), p4([10, 0, 0, 0], 24));
        // Priority first, even against specificity.
        assert_eq!(precedence(1, &wide, 9, 2, &narrow, 1), Ordering::Less);
        assert_eq!(precedence(2, &narrow, 1, 1, &wide, 9), Ordering::Greater);
        // Same priority: specificity.
        assert_eq!(precedence(5, &narrow, 9, 5, &wide, 1), Ordering::Less);
        assert_eq!(precedence(5, &wide, 1, 5, &narrow, 9), Ordering::Greater);
        // Same priority and specificity: older (lower id) wins.
        assert_eq!(precedence(5, &wide, 1, 5, &wide, 2), Ordering::Less);
        assert_eq!(precedence(5, &wide, 3, 5, &wide, 2), Ordering::Greater);
        assert_eq!(precedence(5, &wide, 3, 5, &wide, 3), Ordering::Equal);
        // A total order: sorting a set picks the same winner whatever the input order.
        let mut tcp = narrow;
        tcp.proto = 6;
        let mut pols = std::vec![
            (7u32, wide, 1u32),
            (5, wide, 2),
            (5, narrow, 3),
            (5, tcp, 4),
            (5, tcp, 0),
            (6, tcp, 5),
        ];
        let want = [0u32, 4, 3, 2, 5, 1];
        for rot in 0..pols.len() {
            pols.rotate_left(1);
            let mut v = pols.clone();
            v.sort_by(|a, b| precedence(a.0, &a.1, a.2, b.0, &b.1, b.2));
            let ids: std::vec::Vec<u32> = v.iter().map(|p| p.2).collect();
            assert_eq!(ids, want, "rotation {rot}");
        }
    }

    #[test]
    fn first_match_lookup() {
        // A tiny SPD: a bypass for IKE over everything, a tunnel for 10/8, a catch-all drop.
        let mut ike = sel4(p4([0, 0, 0, 0], 0), p4([0, 0, 0, 0], 0));
        ike.proto = 17;
        ike.sport = ports(500, 500);
        ike.dport = ports(500, 500);
        let tunnel = sel4(p4([10, 0, 0, 0], 8), p4([10, 0, 0, 0], 8));
        let drop = sel4(p4([0, 0, 0, 0], 0), p4([0, 0, 0, 0], 0));
        let spd = [(100u32, tunnel, 2u32), (100, drop, 3), (100, ike, 1)];
        let lookup = |f: &Flow| {
            spd.iter()
                .filter(|p| p.1.matches(f))
                .min_by(|a, b| precedence(a.0, &a.1, a.2, b.0, &b.1, b.2))
                .map(|p| p.2)
        };
        assert_eq!(
            lookup(&flow4([10, 0, 0, 1], [10, 0, 0, 2], 6, 1, 80)),
            Some(2)
        );
        assert_eq!(
            lookup(&flow4([1, 0, 0, 1], [2, 0, 0, 2], 6, 1, 80)),
            Some(3)
        );
        // The IKE bypass is less specific than the tunnel on dst, so the tunnel wins there;
        // elsewhere the bypass beats the catch-all on protocol and ports.
        assert_eq!(
            lookup(&flow4([10, 0, 0, 1], [10, 0, 0, 2], 17, 500, 500)),
            Some(2)
        );
        assert_eq!(
            lookup(&flow4([1, 0, 0, 1], [2, 0, 0, 2], 17, 500, 500)),
            Some(1)
        );
    }

    #[test]
    fn opaque_flows_meet_every_policy_that_may_cover_them() {
        let a = p4([10, 0, 0, 1], 32);
        let b = p4([10, 0, 0, 2], 32);
        let mut udp7777 = sel4(a, b);
        udp7777.proto = 17;
        udp7777.dport = ports(7777, 7777);
        let mut udp = sel4(a, b);
        udp.proto = 17;
        let all = sel4(a, b);
        let f = flow4([10, 0, 0, 1], [10, 0, 0, 2], 17, 0, 0);
        // Ports unknown: a port-specific protect policy may cover the packet.
        assert!(udp7777.may_match(&f, Known::Proto) && !udp7777.surely_matches(&f, Known::Proto));
        assert!(!udp7777.matches(&f));
        assert!(udp.surely_matches(&f, Known::Proto) && !udp.surely_matches(&f, Known::Addresses));
        assert!(all.surely_matches(&f, Known::Addresses));
        let mut tcp = f;
        tcp.proto = 6;
        assert!(
            !udp7777.may_match(&tcp, Known::Proto) && udp7777.may_match(&tcp, Known::Addresses)
        );
        // (policy, selector, bypasses) in precedence order.
        let protect7777 = [(1, &udp7777, false), (2, &all, true)];
        assert_eq!(decide(protect7777, &f, Known::Proto), Decision::Maybe(1));
        assert_eq!(
            decide(protect7777, &tcp, Known::Proto),
            Decision::Matched(2)
        );
        assert_eq!(
            decide(protect7777, &tcp, Known::Addresses),
            Decision::Maybe(1)
        );
        // A bypass that only may match is passed over; what follows decides.
        let bypass_then_protect = [(1, &udp7777, true), (2, &udp, false)];
        assert_eq!(
            decide(bypass_then_protect, &f, Known::Proto),
            Decision::Matched(2)
        );
        let bypass_only = [(1, &udp7777, true)];
        assert_eq!(decide(bypass_only, &f, Known::Proto), Decision::Unmatched);
        // Other addresses: nothing may match.
        let other = flow4([10, 0, 0, 9], [10, 0, 0, 2], 17, 0, 0);
        assert_eq!(
            decide(protect7777, &other, Known::Addresses),
            Decision::Unmatched
        );
        // With everything known, decide is the ordinary first match.
        let whole = flow4([10, 0, 0, 1], [10, 0, 0, 2], 17, 1000, 7777);
        assert_eq!(
            decide(protect7777, &whole, Known::All),
            Decision::Matched(1)
        );
        let other_port = flow4([10, 0, 0, 1], [10, 0, 0, 2], 17, 1000, 53);
        assert_eq!(
            decide(protect7777, &other_port, Known::All),
            Decision::Matched(2)
        );
    }
}
