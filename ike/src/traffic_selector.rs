// SPDX-License-Identifier: GPL-2.0
//! TSi/TSr payloads (RFC 7296 §3.13).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::codes::{PayloadType, TsType};
use crate::error::{EncodeError, Item, ParseError};
use crate::wire::{u16_field, u8_field, Reader, WriteExt};

/// Type, IP protocol, length, start port, end port.
const SELECTOR_HEADER_LEN: usize = 8;
/// TS_IPV4_ADDR_RANGE length.
const IPV4_SELECTOR_LEN: usize = SELECTOR_HEADER_LEN + 2 * 4;
/// TS_IPV6_ADDR_RANGE length.
const IPV6_SELECTOR_LEN: usize = SELECTOR_HEADER_LEN + 2 * 16;

/// A TSi or TSr payload: the union of its selectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsPayload {
    /// Selectors, in wire order.
    pub selectors: Vec<TrafficSelector>,
}

/// One traffic selector: an address range, an IP protocol and a port range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficSelector {
    /// IP protocol (0: any).
    pub ip_protocol: u8,
    /// First port (0 with `end_port` 65535: any).
    pub start_port: u16,
    /// Last port.
    pub end_port: u16,
    /// Address range; its family gives the selector type.
    pub addresses: AddressRange,
}

/// An inclusive address range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressRange {
    /// TS_IPV4_ADDR_RANGE.
    V4 {
        /// First address.
        start: Ipv4Addr,
        /// Last address.
        end: Ipv4Addr,
    },
    /// TS_IPV6_ADDR_RANGE.
    V6 {
        /// First address.
        start: Ipv6Addr,
        /// Last address.
        end: Ipv6Addr,
    },
}

impl TrafficSelector {
    /// All protocols and ports between two IPv4 addresses.
    pub fn ipv4(start: Ipv4Addr, end: Ipv4Addr) -> Self {
        Self::any_port(AddressRange::V4 { start, end })
    }

    /// All protocols and ports between two IPv6 addresses.
    pub fn ipv6(start: Ipv6Addr, end: Ipv6Addr) -> Self {
        Self::any_port(AddressRange::V6 { start, end })
    }

    fn any_port(addresses: AddressRange) -> Self {
        Self {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            addresses,
        }
    }

    /// TS_IPV4_ADDR_RANGE or TS_IPV6_ADDR_RANGE.
    pub fn ts_type(&self) -> TsType {
        match self.addresses {
            AddressRange::V4 { .. } => TsType::IPV4_ADDR_RANGE,
            AddressRange::V6 { .. } => TsType::IPV6_ADDR_RANGE,
        }
    }
}

impl AddressRange {
    /// The fewest prefixes (address, length) that cover the range exactly, in order.
    pub fn prefixes(&self) -> Vec<(IpAddr, u8)> {
        let (start, end, width, v4) = match *self {
            AddressRange::V4 { start, end } => (
                u128::from(u32::from(start)),
                u128::from(u32::from(end)),
                32u32,
                true,
            ),
            AddressRange::V6 { start, end } => (u128::from(start), u128::from(end), 128, false),
        };
        let to_addr = |x: u128| -> IpAddr {
            if v4 {
                IpAddr::from(u32::try_from(x).unwrap_or(u32::MAX).to_be_bytes())
            } else {
                IpAddr::from(x.to_be_bytes())
            }
        };
        let span = |bits: u32| 1u128.checked_shl(bits).map_or(u128::MAX, |s| s - 1);
        let mut out = Vec::new();
        let mut cur = start;
        loop {
            // The largest aligned block starting at `cur` that stays within `end`: its size
            // is 2^bits, and `span` is its size minus one.
            let mut bits = cur.trailing_zeros().min(width);
            while bits > 0 && cur.checked_add(span(bits)).is_none_or(|last| last > end) {
                bits -= 1;
            }
            out.push((to_addr(cur), u8::try_from(width - bits).unwrap_or(0)));
            match cur.checked_add(span(bits)) {
                Some(last) if last < end => cur = last + 1,
                _ => break,
            }
        }
        out
    }
}

/// The IP protocol traffic between `l` and `r` can have (0: any), or `None` when no traffic
/// fits both (different families or protocols).
fn shared_protocol(l: &TrafficSelector, r: &TrafficSelector) -> Option<u8> {
    if l.ts_type() != r.ts_type() {
        return None;
    }
    match (l.ip_protocol, r.ip_protocol) {
        (0, p) | (p, 0) => Some(p),
        (p, q) if p == q => Some(p),
        _ => None,
    }
}

/// The pairs of a negotiated local and remote selector list that carry traffic (same family,
/// compatible protocols), with the protocol they share (0: any).
pub fn selector_pairs<'a>(
    local: &'a [TrafficSelector],
    remote: &'a [TrafficSelector],
) -> impl Iterator<Item = (&'a TrafficSelector, &'a TrafficSelector, u8)> {
    local.iter().flat_map(move |l| {
        remote
            .iter()
            .filter_map(move |r| shared_protocol(l, r).map(|proto| (l, r, proto)))
    })
}

/// How many (source prefix, destination prefix) policy entries the selector lists need per
/// direction in an SPD that matches prefixes, as ripsec's does. Each selector is split once.
pub fn prefix_pair_count(local: &[TrafficSelector], remote: &[TrafficSelector]) -> usize {
    let split = |list: &[TrafficSelector]| -> Vec<usize> {
        list.iter()
            .map(|ts| ts.addresses.prefixes().len())
            .collect()
    };
    let remote_counts = split(remote);
    let mut total = 0usize;
    for (l, l_count) in local.iter().zip(split(local)) {
        for (r, r_count) in remote.iter().zip(&remote_counts) {
            if shared_protocol(l, r).is_some() {
                total = total.saturating_add(l_count.saturating_mul(*r_count));
            }
        }
    }
    total
}

/// Parses a TSi/TSr payload body.
pub(crate) fn parse_ts(payload: PayloadType, body: &[u8]) -> Result<TsPayload, ParseError> {
    let mut r = Reader::new(body);
    let (Some(declared), Some(_reserved)) = (r.u8(), r.array::<3>()) else {
        return Err(ParseError::BodyTooShort {
            payload,
            needed: 4,
            actual: body.len(),
        });
    };
    let mut selectors = Vec::new();
    while !r.is_empty() {
        let index = selectors.len().saturating_add(1);
        selectors.push(parse_selector(&mut r, index)?);
    }
    if selectors.len() != usize::from(declared) {
        return Err(ParseError::TsCount {
            declared,
            found: selectors.len(),
        });
    }
    Ok(TsPayload { selectors })
}

fn parse_selector(r: &mut Reader<'_>, index: usize) -> Result<TrafficSelector, ParseError> {
    let item = Item::TrafficSelector(index);
    let remaining = r.remaining();
    let truncated = ParseError::ItemTruncated {
        item,
        needed: SELECTOR_HEADER_LEN,
        remaining,
    };
    let (Some(ts_type), Some(ip_protocol), Some(length)) = (r.u8(), r.u8(), r.u16()) else {
        return Err(truncated);
    };
    let ts_type = TsType(ts_type);
    let length = usize::from(length);
    let expected = match ts_type {
        TsType::IPV4_ADDR_RANGE => IPV4_SELECTOR_LEN,
        TsType::IPV6_ADDR_RANGE => IPV6_SELECTOR_LEN,
        _ => return Err(ParseError::UnknownTsType { index, ts_type }),
    };
    if length != expected {
        return Err(ParseError::TsLength {
            index,
            ts_type,
            length,
            expected,
        });
    }
    if length > remaining {
        return Err(ParseError::ItemOverrun {
            item,
            length,
            remaining,
        });
    }
    let (Some(start_port), Some(end_port)) = (r.u16(), r.u16()) else {
        return Err(truncated);
    };
    let addresses = if ts_type == TsType::IPV4_ADDR_RANGE {
        let (Some(start), Some(end)) = (r.array::<4>(), r.array::<4>()) else {
            return Err(truncated);
        };
        AddressRange::V4 {
            start: start.into(),
            end: end.into(),
        }
    } else {
        let (Some(start), Some(end)) = (r.array::<16>(), r.array::<16>()) else {
            return Err(truncated);
        };
        AddressRange::V6 {
            start: start.into(),
            end: end.into(),
        }
    };
    Ok(TrafficSelector {
        ip_protocol,
        start_port,
        end_port,
        addresses,
    })
}

/// Appends a TSi/TSr payload body.
pub(crate) fn encode_ts(ts: &TsPayload, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.put_u8(u8_field(ts.selectors.len(), "traffic selector count")?);
    out.extend_from_slice(&[0; 3]);
    for selector in &ts.selectors {
        let length = match selector.addresses {
            AddressRange::V4 { .. } => IPV4_SELECTOR_LEN,
            AddressRange::V6 { .. } => IPV6_SELECTOR_LEN,
        };
        out.put_u8(selector.ts_type().0);
        out.put_u8(selector.ip_protocol);
        out.put_u16(u16_field(length, "traffic selector length")?);
        out.put_u16(selector.start_port);
        out.put_u16(selector.end_port);
        match selector.addresses {
            AddressRange::V4 { start, end } => {
                out.extend_from_slice(&start.octets());
                out.extend_from_slice(&end.octets());
            }
            AddressRange::V6 { start, end } => {
                out.extend_from_slice(&start.octets());
                out.extend_from_slice(&end.octets());
            }
        }
    }
    Ok(())
}
