// SPDX-License-Identifier: GPL-2.0
//! Traffic selectors: narrowing (RFC 7296 §2.9), checking the answer to our proposal, the
//! limit of policy selectors ripsec installs per Child SA, and readable lists.

use std::cmp::{max, min};
use std::fmt;
use std::net::IpAddr;

use crate::traffic_selector::{prefix_pair_count, AddressRange, TrafficSelector};

/// The intersection of two selectors, if not empty.
pub(crate) fn intersect(a: &TrafficSelector, b: &TrafficSelector) -> Option<TrafficSelector> {
    let ip_protocol = match (a.ip_protocol, b.ip_protocol) {
        (0, p) | (p, 0) => p,
        (x, y) if x == y => x,
        _ => return None,
    };
    let start_port = max(a.start_port, b.start_port);
    let end_port = min(a.end_port, b.end_port);
    if start_port > end_port {
        return None;
    }
    let addresses = match (a.addresses, b.addresses) {
        (AddressRange::V4 { start: s1, end: e1 }, AddressRange::V4 { start: s2, end: e2 }) => {
            let (start, end) = (max(s1, s2), min(e1, e2));
            (start <= end).then_some(AddressRange::V4 { start, end })?
        }
        (AddressRange::V6 { start: s1, end: e1 }, AddressRange::V6 { start: s2, end: e2 }) => {
            let (start, end) = (max(s1, s2), min(e1, e2));
            (start <= end).then_some(AddressRange::V6 { start, end })?
        }
        _ => return None,
    };
    Some(TrafficSelector {
        ip_protocol,
        start_port,
        end_port,
        addresses,
    })
}

/// Transport mode through a NAT (RFC 7296 §2.23.1): a host behind a NAT names its own
/// (private) address in its traffic selectors, which the other side sees as the NAT's. Both
/// sides read such host selectors as the address IKE sees, as strongSwan does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NatHosts {
    /// Our address, when we are behind a NAT.
    pub local: Option<IpAddr>,
    /// The peer's address as it reaches us, when it is behind a NAT.
    pub peer: Option<IpAddr>,
}

/// The address range of the single host `ip`.
fn host(ip: IpAddr) -> AddressRange {
    match ip {
        IpAddr::V4(a) => AddressRange::V4 { start: a, end: a },
        IpAddr::V6(a) => AddressRange::V6 { start: a, end: a },
    }
}

/// `list` with its host selectors (those of the same host as the first) set to `to`; wider
/// selectors are dropped, as a transport-mode Child SA through a NAT protects one host.
/// `None` leaves the list as it is.
pub(crate) fn behind_nat(list: &[TrafficSelector], to: Option<IpAddr>) -> Vec<TrafficSelector> {
    let Some(to) = to else {
        return list.to_vec();
    };
    let is_host = |a: &AddressRange| match a {
        AddressRange::V4 { start, end } => start == end,
        AddressRange::V6 { start, end } => start == end,
    };
    let Some(first) = list.iter().map(|t| t.addresses).find(is_host) else {
        return Vec::new();
    };
    let mut out: Vec<TrafficSelector> = Vec::new();
    for t in list.iter().filter(|t| t.addresses == first) {
        let moved = TrafficSelector {
            addresses: host(to),
            ..*t
        };
        if !out.contains(&moved) {
            out.push(moved);
        }
    }
    out
}

/// Narrows `proposed` to what `allowed` permits (RFC 7296 §2.9): all pairwise intersections.
pub(crate) fn narrow(
    proposed: &[TrafficSelector],
    allowed: &[TrafficSelector],
) -> Vec<TrafficSelector> {
    let mut out: Vec<TrafficSelector> = Vec::new();
    for p in proposed {
        for a in allowed {
            if let Some(x) = intersect(p, a) {
                if !out.contains(&x) {
                    out.push(x);
                }
            }
        }
    }
    out
}

/// True when every selector of `list` lies inside one of `allowed` (and `list` is not empty).
pub(crate) fn within(list: &[TrafficSelector], allowed: &[TrafficSelector]) -> bool {
    !list.is_empty()
        && list.iter().all(|ts| {
            allowed
                .iter()
                .any(|a| intersect(ts, a).as_ref() == Some(ts))
        })
}

/// The most policy selectors (prefix pairs, per direction) ripsec installs for one Child SA.
pub const MAX_SELECTOR_PAIRS: usize = 64;

/// Selectors that would need more than [`MAX_SELECTOR_PAIRS`] policy selectors: address
/// ranges that are not CIDR prefixes split into many.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooManySelectors {
    /// Our side.
    pub local: Vec<TrafficSelector>,
    /// The peer's side.
    pub remote: Vec<TrafficSelector>,
    /// The policy selectors they would need.
    pub needed: usize,
}

impl fmt::Display for TooManySelectors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "local [{}] remote [{}] would need {} policy selectors (ranges that are not CIDR prefixes split into many), and ripsec installs at most {MAX_SELECTOR_PAIRS} per Child SA: use prefixes",
            describe_ts(&self.local),
            describe_ts(&self.remote),
            self.needed
        )
    }
}

/// Refuses negotiated selectors that would need more than [`MAX_SELECTOR_PAIRS`] policy
/// selectors.
pub(crate) fn installable(
    ts_local: &[TrafficSelector],
    ts_remote: &[TrafficSelector],
) -> Result<(), TooManySelectors> {
    let needed = prefix_pair_count(ts_local, ts_remote);
    if needed > MAX_SELECTOR_PAIRS {
        return Err(TooManySelectors {
            local: ts_local.to_vec(),
            remote: ts_remote.to_vec(),
            needed,
        });
    }
    Ok(())
}

/// What is wrong with the TSi/TSr of the answer to our Child SA request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnsweredTs {
    /// Wider than what we proposed.
    NotWithin {
        /// The answer's TSi and TSr.
        answered: (Vec<TrafficSelector>, Vec<TrafficSelector>),
        /// Our TSi and TSr.
        proposed: (Vec<TrafficSelector>, Vec<TrafficSelector>),
    },
    /// Within our proposal, but ripsec cannot install them.
    NotInstallable(TooManySelectors),
}

impl fmt::Display for AnsweredTs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnsweredTs::NotWithin { answered, proposed } => write!(
                f,
                "the peer's traffic selectors TSi [{}] TSr [{}] are not within our proposal TSi [{}] TSr [{}]",
                describe_ts(&answered.0),
                describe_ts(&answered.1),
                describe_ts(&proposed.0),
                describe_ts(&proposed.1)
            ),
            AnsweredTs::NotInstallable(e) => {
                write!(f, "the peer's traffic selectors cannot be installed: {e}")
            }
        }
    }
}

/// Checks the TSi/TSr of the answer to our Child SA request against what we proposed.
pub(crate) fn check_answered_ts(
    (ts_i, ts_r): (&[TrafficSelector], &[TrafficSelector]),
    (ours_i, ours_r): (&[TrafficSelector], &[TrafficSelector]),
) -> Result<(), AnsweredTs> {
    if !within(ts_i, ours_i) || !within(ts_r, ours_r) {
        return Err(AnsweredTs::NotWithin {
            answered: (ts_i.to_vec(), ts_r.to_vec()),
            proposed: (ours_i.to_vec(), ours_r.to_vec()),
        });
    }
    installable(ts_i, ts_r).map_err(AnsweredTs::NotInstallable)
}

/// `start/len` when the range is exactly one prefix, else `start-end`.
fn describe_range(start: u128, end: u128, width: u32, show: impl Fn(u128) -> String) -> String {
    let diff = start ^ end;
    let size = diff.checked_add(1);
    match size {
        Some(n) if end >= start && n.is_power_of_two() && start & diff == 0 => {
            format!("{}/{}", show(start), width - n.trailing_zeros())
        }
        None if start == 0 && width == 128 => format!("{}/0", show(0)),
        _ => format!("{}-{}", show(start), show(end)),
    }
}

/// Readable selector list, e.g. "10.0.0.0/24" or "10.0.0.0/24 proto 6 port 80, fd00::/64".
pub fn describe_ts(list: &[TrafficSelector]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|ts| {
            let mut out = match ts.addresses {
                AddressRange::V4 { start, end } => {
                    describe_range(u32::from(start).into(), u32::from(end).into(), 32, |x| {
                        std::net::Ipv4Addr::from(u32::try_from(x).unwrap_or(0)).to_string()
                    })
                }
                AddressRange::V6 { start, end } => {
                    describe_range(start.into(), end.into(), 128, |x| {
                        std::net::Ipv6Addr::from(x).to_string()
                    })
                }
            };
            if ts.ip_protocol != 0 {
                out.push_str(&format!(" proto {}", ts.ip_protocol));
            }
            if ts.start_port == ts.end_port {
                out.push_str(&format!(" port {}", ts.start_port));
            } else if !(ts.start_port == 0 && ts.end_port == u16::MAX) {
                out.push_str(&format!(" ports {}-{}", ts.start_port, ts.end_port));
            }
            out
        })
        .collect();
    if items.is_empty() {
        "(none)".to_string()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4], b: [u8; 4]) -> TrafficSelector {
        TrafficSelector::ipv4(std::net::Ipv4Addr::from(a), std::net::Ipv4Addr::from(b))
    }

    #[test]
    fn answers_must_be_within_our_proposal_and_installable() {
        let ours_i = [v4([10, 1, 0, 0], [10, 1, 0, 255])];
        let ours_r = [v4([10, 2, 0, 0], [10, 2, 0, 255])];
        // Narrowed to ranges of 4 prefixes each: 16 policy selectors, fine.
        let small_i = [v4([10, 1, 0, 1], [10, 1, 0, 6])];
        let small_r = [v4([10, 2, 0, 1], [10, 2, 0, 6])];
        assert_eq!(
            check_answered_ts((&small_i, &small_r), (&ours_i, &ours_r)),
            Ok(())
        );
        // .1-.254 splits into 14 prefixes: 196 pairs.
        let odd_i = [v4([10, 1, 0, 1], [10, 1, 0, 254])];
        let odd_r = [v4([10, 2, 0, 1], [10, 2, 0, 254])];
        assert_eq!(
            check_answered_ts((&odd_i, &odd_r), (&ours_i, &ours_r)),
            Err(AnsweredTs::NotInstallable(TooManySelectors {
                local: odd_i.to_vec(),
                remote: odd_r.to_vec(),
                needed: 196
            }))
        );
        assert_eq!(
            check_answered_ts((&odd_i, &odd_r), (&ours_i, &ours_r))
                .unwrap_err()
                .to_string(),
            "the peer's traffic selectors cannot be installed: local [10.1.0.1-10.1.0.254] \
             remote [10.2.0.1-10.2.0.254] would need 196 policy selectors (ranges that are \
             not CIDR prefixes split into many), and ripsec installs at most 64 per Child \
             SA: use prefixes"
        );
        // Wider than proposed.
        let wide = [v4([10, 1, 0, 0], [10, 1, 1, 255])];
        let wider = check_answered_ts((&wide, &ours_r), (&ours_i, &ours_r));
        assert!(matches!(wider, Err(AnsweredTs::NotWithin { .. })));
        assert!(wider.is_err_and(|e| e.to_string().contains("are not within our proposal")));
    }

    #[test]
    fn host_selectors_behind_a_nat_become_the_address_ike_sees() {
        let private = v4([192, 168, 1, 2], [192, 168, 1, 2]);
        let tcp = TrafficSelector {
            ip_protocol: 6,
            ..private.clone()
        };
        let subnet = v4([192, 168, 1, 0], [192, 168, 1, 255]);
        let public: IpAddr = [10, 0, 0, 254].into();
        let all = [private.clone(), subnet.clone(), tcp.clone()];
        let expect = |t: &TrafficSelector| TrafficSelector {
            addresses: host(public),
            ..t.clone()
        };
        assert_eq!(
            behind_nat(&all, Some(public)),
            vec![expect(&private), expect(&tcp)]
        );
        assert_eq!(behind_nat(&all, None), all.to_vec());
        assert!(
            behind_nat(&[subnet], Some(public)).is_empty(),
            "no host selector"
        );
    }
}
