// SPDX-License-Identifier: GPL-2.0
//! Identification payloads of the IPsec DOI (RFC 2407 §4.6.2): phase 1 identities (the same
//! [`Identity`] IKEv2 uses, with protocol and port zero) and Quick Mode's IDci/IDcr, which carry
//! one traffic selector each as an address, a subnet or a range.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::payload::IdV1;
use crate::identity::Identity;
use crate::payload::IdPayload;
use crate::traffic_selector::{AddressRange, TrafficSelector};
use crate::IdType;

/// ID_IPV4_ADDR_SUBNET
const IPV4_SUBNET: u8 = 4;
/// ID_IPV6_ADDR_SUBNET
const IPV6_SUBNET: u8 = 6;
/// ID_IPV4_ADDR_RANGE
const IPV4_RANGE: u8 = 7;
/// ID_IPV6_ADDR_RANGE
const IPV6_RANGE: u8 = 8;

/// The phase 1 ID payload of an identity.
pub(crate) fn identity_payload(id: &Identity) -> IdV1 {
    let p = id.to_payload();
    IdV1 {
        id_type: p.id_type.0,
        protocol: 0,
        port: 0,
        data: p.data,
    }
}

/// The identity of a phase 1 ID payload (protocol and port are not compared).
pub(crate) fn identity_of(id: &IdV1) -> Option<Identity> {
    Identity::from_payload(&IdPayload {
        id_type: IdType(id.id_type),
        data: id.data.clone(),
    })
}

/// IDci/IDcr for a selector: a single address, a subnet when the range is one prefix, else a
/// range. IKEv1 carries one port, so a port range other than "any" cannot be expressed: `None`.
pub(crate) fn selector_payload(ts: &TrafficSelector) -> Option<IdV1> {
    let port = match (ts.start_port, ts.end_port) {
        (0, u16::MAX) => 0,
        (a, b) if a == b => a,
        _ => return None,
    };
    let (id_type, data) = match (ts.addresses, ts.addresses.prefixes().as_slice()) {
        (AddressRange::V4 { start, end }, _) if start == end => (1, start.octets().to_vec()),
        (AddressRange::V6 { start, end }, _) if start == end => (5, start.octets().to_vec()),
        (AddressRange::V4 { start, .. }, [(_, len)]) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
            (IPV4_SUBNET, [start.octets(), mask.to_be_bytes()].concat())
        }
        (AddressRange::V6 { start, .. }, [(_, len)]) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(*len)).unwrap_or(0);
            (
                IPV6_SUBNET,
                [start.octets().to_vec(), mask.to_be_bytes().to_vec()].concat(),
            )
        }
        (AddressRange::V4 { start, end }, _) => {
            (IPV4_RANGE, [start.octets(), end.octets()].concat())
        }
        (AddressRange::V6 { start, end }, _) => (
            IPV6_RANGE,
            [start.octets().to_vec(), end.octets().to_vec()].concat(),
        ),
    };
    Some(IdV1 {
        id_type,
        protocol: ts.ip_protocol,
        port,
        data,
    })
}

/// The selector an IDci/IDcr payload names; `None` for other ID types, bad lengths, or a
/// subnet mask that is not a prefix.
pub(crate) fn selector_of(id: &IdV1) -> Option<TrafficSelector> {
    let d = id.data.as_slice();
    let addresses = match (id.id_type, d.len()) {
        (1, 4) => v4_range(d, d)?,
        (5, 16) => v6_range(d, d)?,
        (IPV4_RANGE, 8) => v4_range(d.get(..4)?, d.get(4..)?)?,
        (IPV6_RANGE, 32) => v6_range(d.get(..16)?, d.get(16..)?)?,
        (IPV4_SUBNET, 8) => {
            let addr = u32::from_be_bytes(d.get(..4)?.try_into().ok()?);
            let mask = u32::from_be_bytes(d.get(4..)?.try_into().ok()?);
            if mask.leading_ones() + mask.trailing_zeros() != 32 {
                return None;
            }
            let start = addr & mask;
            AddressRange::V4 {
                start: Ipv4Addr::from(start),
                end: Ipv4Addr::from(start | !mask),
            }
        }
        (IPV6_SUBNET, 32) => {
            let addr = u128::from_be_bytes(d.get(..16)?.try_into().ok()?);
            let mask = u128::from_be_bytes(d.get(16..)?.try_into().ok()?);
            if mask.leading_ones() + mask.trailing_zeros() != 128 {
                return None;
            }
            let start = addr & mask;
            AddressRange::V6 {
                start: Ipv6Addr::from(start),
                end: Ipv6Addr::from(start | !mask),
            }
        }
        _ => return None,
    };
    let (start_port, end_port) = if id.port == 0 {
        (0, u16::MAX)
    } else {
        (id.port, id.port)
    };
    Some(TrafficSelector {
        ip_protocol: id.protocol,
        start_port,
        end_port,
        addresses,
    })
}

fn v4_range(a: &[u8], b: &[u8]) -> Option<AddressRange> {
    let start = Ipv4Addr::from(<[u8; 4]>::try_from(a).ok()?);
    let end = Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?);
    (start <= end).then_some(AddressRange::V4 { start, end })
}

fn v6_range(a: &[u8], b: &[u8]) -> Option<AddressRange> {
    let start = Ipv6Addr::from(<[u8; 16]>::try_from(a).ok()?);
    let end = Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?);
    (start <= end).then_some(AddressRange::V6 { start, end })
}

/// The host selector of an address (Quick Mode without IDs covers the peers' addresses).
pub(crate) fn host_selector(ip: IpAddr) -> TrafficSelector {
    match ip {
        IpAddr::V4(a) => TrafficSelector::ipv4(a, a),
        IpAddr::V6(a) => TrafficSelector::ipv6(a, a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_round_trip_as_address_subnet_and_range() {
        let cases = [
            TrafficSelector::ipv4([10, 1, 0, 0].into(), [10, 1, 0, 255].into()),
            TrafficSelector::ipv4([10, 1, 0, 7].into(), [10, 1, 0, 7].into()),
            TrafficSelector::ipv4([10, 1, 0, 1].into(), [10, 1, 0, 9].into()),
            TrafficSelector::ipv6("fd00::".parse().unwrap(), "fd00::ffff".parse().unwrap()),
            TrafficSelector::ipv6("fd00::1".parse().unwrap(), "fd00::1".parse().unwrap()),
        ];
        let types = [IPV4_SUBNET, 1, IPV4_RANGE, IPV6_SUBNET, 5];
        for (ts, want) in cases.iter().zip(types) {
            let id = selector_payload(ts).unwrap();
            assert_eq!(id.id_type, want, "{ts:?}");
            assert_eq!(selector_of(&id).as_ref(), Some(ts));
        }
        let mut tcp = cases[0].clone();
        (tcp.ip_protocol, tcp.start_port, tcp.end_port) = (6, 443, 443);
        assert_eq!(
            selector_of(&selector_payload(&tcp).unwrap()),
            Some(tcp.clone())
        );
        tcp.end_port = 444;
        assert_eq!(selector_payload(&tcp), None);
        // A mask with a hole is no subnet.
        let bad = IdV1 {
            id_type: IPV4_SUBNET,
            protocol: 0,
            port: 0,
            data: vec![10, 0, 0, 0, 255, 0, 255, 0],
        };
        assert_eq!(selector_of(&bad), None);
    }
}
