// SPDX-License-Identifier: GPL-2.0
//! ESP in UDP (RFC 3948): what a datagram on an encapsulation socket is, the UDP header in
//! front of outbound ESP, and when a peer's new address is worth a MAPPING event.

/// UDP header length.
pub const UDP_HDR_LEN: usize = 8;
/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// The IKE NAT traversal port (RFC 7296 §2.23).
pub const NAT_T_PORT: u16 = 4500;
/// Seconds during which a peer's same new address is reported once.
pub const MAPPING_INTERVAL_SECS: u64 = 5;

/// What a datagram to an encapsulation socket carries (RFC 3948 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Datagram {
    /// A NAT keepalive (one 0xFF byte): dropped.
    Keepalive,
    /// IKE behind the non-ESP marker (four zero bytes): for the socket's owner.
    Ike,
    /// ESP: its first four bytes are a non-zero SPI.
    Esp,
    /// Neither: too short for the marker or for an ESP header.
    Malformed,
}

/// Classifies the UDP payload `p`.
pub fn classify(p: &[u8]) -> Datagram {
    match p {
        [0xff] => Datagram::Keepalive,
        [0, 0, 0, 0, ..] => Datagram::Ike,
        // An ESP header (SPI, sequence number) and at least one byte more.
        _ if p.len() > 8 && p[..4] != [0; 4] => Datagram::Esp,
        _ => Datagram::Malformed,
    }
}

/// The ports and length of the UDP header at the start of `h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpHeader {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Length field: header and payload.
    pub len: u16,
}

/// Reads the UDP header at the start of `h`.
pub fn parse(h: &[u8]) -> Option<UdpHeader> {
    let h = h.get(..UDP_HDR_LEN)?;
    let be = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    Some(UdpHeader {
        sport: be(0),
        dport: be(2),
        len: be(4),
    })
}

/// How many bytes of a UDP payload [`classify`] needs to see (an ESP header and one byte).
pub const CLASSIFY_LEN: usize = 9;

/// Reads the UDP header at the start of `d` and classifies its payload, as far as `d` and the
/// header's length field go (`d` holds at least [`CLASSIFY_LEN`] payload bytes where the
/// datagram has them). `None`: no UDP header.
pub fn classify_datagram(d: &[u8]) -> Option<(UdpHeader, Datagram)> {
    let udp = parse(d)?;
    let payload_len = usize::from(udp.len).saturating_sub(UDP_HDR_LEN);
    let payload = &d[UDP_HDR_LEN..];
    Some((udp, classify(&payload[..payload.len().min(payload_len)])))
}

/// Writes a UDP header for `payload_len` bytes with a zero checksum (RFC 3948 §2.1 allows it
/// for IPv4; IPv6 fills it in afterwards). `None` past 64 KiB.
pub fn write(
    out: &mut [u8; UDP_HDR_LEN],
    sport: u16,
    dport: u16,
    payload_len: usize,
) -> Option<()> {
    let len = u16::try_from(payload_len.checked_add(UDP_HDR_LEN)?).ok()?;
    out[0..2].copy_from_slice(&sport.to_be_bytes());
    out[2..4].copy_from_slice(&dport.to_be_bytes());
    out[4..6].copy_from_slice(&len.to_be_bytes());
    out[6..8].fill(0);
    Some(())
}

/// The ports of an encapsulating SA, packed for an atomic: source in the high half.
pub const fn pack_ports(sport: u16, dport: u16) -> u32 {
    ((sport as u32) << 16) | dport as u32
}

/// `(sport, dport)` from [`pack_ports`].
pub const fn unpack_ports(p: u32) -> (u16, u16) {
    ((p >> 16) as u16, p as u16)
}

/// Where authenticated ESP in UDP came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Address (IPv4 in the first 4 bytes).
    pub addr: [u8; 16],
    /// UDP port.
    pub port: u16,
}

/// Rate-limits MAPPING events of one SA: a new endpoint is reported at once, the same one
/// again after [`MAPPING_INTERVAL_SECS`], as XFRM's mapping timer does.
#[derive(Clone, Copy, Debug, Default)]
pub struct MappingLimiter {
    last: Option<(Endpoint, u64)>,
}

impl MappingLimiter {
    /// Whether authenticated traffic from `seen` (not the SA's configured peer) at `now`
    /// (seconds) is reported; if so, it is remembered.
    pub fn report(&mut self, seen: Endpoint, now: u64) -> bool {
        let due = match self.last {
            Some((e, t)) => e != seen || now.saturating_sub(t) >= MAPPING_INTERVAL_SECS,
            None => true,
        };
        if due {
            self.last = Some((seen, now));
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_a_datagram_within_its_length_field() {
        let mut d = [0u8; UDP_HDR_LEN + CLASSIFY_LEN];
        write(
            (&mut d[..UDP_HDR_LEN]).try_into().unwrap(),
            4500,
            4500,
            CLASSIFY_LEN,
        )
        .unwrap();
        d[UDP_HDR_LEN..].copy_from_slice(&[0, 0, 1, 0, 0, 0, 0, 1, 0xab]);
        let (udp, kind) = classify_datagram(&d).unwrap();
        assert_eq!((udp.sport, udp.len, kind), (4500, 17, Datagram::Esp));
        // The length field says one payload byte: whatever follows is not the datagram's.
        d[4..6].copy_from_slice(&9u16.to_be_bytes());
        d[UDP_HDR_LEN] = 0xff;
        assert_eq!(classify_datagram(&d).unwrap().1, Datagram::Keepalive);
        // A length below the header's own: an empty payload.
        d[4..6].copy_from_slice(&3u16.to_be_bytes());
        assert_eq!(classify_datagram(&d).unwrap().1, Datagram::Malformed);
        assert_eq!(classify_datagram(&d[..7]), None);
    }

    #[test]
    fn classifies_rfc3948_datagrams() {
        assert_eq!(classify(&[0xff]), Datagram::Keepalive);
        assert_eq!(classify(&[0, 0, 0, 0]), Datagram::Ike);
        assert_eq!(classify(&[0, 0, 0, 0, 1, 2, 3]), Datagram::Ike);
        assert_eq!(classify(&[0, 0, 0, 1, 0, 0, 0, 1, 9]), Datagram::Esp);
        // Too short for the marker, or for an ESP header and payload.
        for p in [
            &[][..],
            &[0],
            &[0, 0, 0],
            &[0xfe],
            &[0xff, 0xff],
            &[1, 2, 3, 4, 5, 6, 7, 8],
        ] {
            assert_eq!(classify(p), Datagram::Malformed, "{p:?}");
        }
        // SPI 0 is reserved: such a datagram is not ESP even when long.
        assert_eq!(classify(&[0, 0, 0, 0, 0, 0, 0, 1, 9]), Datagram::Ike);
    }

    #[test]
    fn udp_header_round_trips() {
        let mut h = [0xaa; UDP_HDR_LEN];
        write(&mut h, 4500, 4501, 100).unwrap();
        assert_eq!(h, [0x11, 0x94, 0x11, 0x95, 0, 108, 0, 0]);
        assert_eq!(
            parse(&h),
            Some(UdpHeader {
                sport: 4500,
                dport: 4501,
                len: 108
            })
        );
        assert_eq!(parse(&h[..7]), None);
        assert_eq!(write(&mut h, 1, 2, 65528), None);
        assert!(write(&mut h, 1, 2, 65527).is_some());
    }

    #[test]
    fn ports_pack() {
        assert_eq!(unpack_ports(pack_ports(4500, 65535)), (4500, 65535));
        assert_eq!(unpack_ports(pack_ports(0, 1)), (0, 1));
    }

    #[test]
    fn mapping_reports_new_endpoints_and_repeats_slowly() {
        let a = Endpoint {
            addr: [1; 16],
            port: 4500,
        };
        let b = Endpoint { port: 1024, ..a };
        let mut m = MappingLimiter::default();
        assert!(m.report(a, 100));
        assert!(!m.report(a, 101));
        assert!(!m.report(a, 104));
        assert!(m.report(b, 104), "a different endpoint is reported at once");
        assert!(m.report(a, 104));
        assert!(!m.report(a, 108));
        assert!(m.report(a, 109), "the same one again after the interval");
    }
}
