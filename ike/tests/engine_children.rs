// SPDX-License-Identifier: GPL-2.0
//! Several child configurations per connection: the first Child SA in IKE_AUTH, the others
//! with CREATE_CHILD_SA, the responder choosing the child configuration by traffic selectors
//! and mode, rekeys that keep each Child SA's configuration, TS_UNACCEPTABLE naming them.

mod common;
mod engine_sim;

use engine_sim::*;
use ripsec_ike::engine::{
    Attempt, ChildConfig, ChildContext, ChildError, ChildOp, ChildSa, Config, Error, FailedRequest,
    Mode, Output, SaId,
};
use ripsec_ike::NotifyType;
use ripsec_ike::TrafficSelector;

/// alice's children `a` (10.1.0.0/24 <-> 10.2.0.0/24) and `b` (10.11.0.0/24 <->
/// 10.12.0.0/24); bob has the same two, mirrored, in the opposite order.
fn two_children() -> (Config, Config) {
    let (mut alice, mut bob) = configs();
    alice.children = vec![
        child("a", net([10, 1, 0, 0], 255), net([10, 2, 0, 0], 255)),
        child("b", net([10, 11, 0, 0], 255), net([10, 12, 0, 0], 255)),
    ];
    bob.children = vec![
        child("b", net([10, 12, 0, 0], 255), net([10, 11, 0, 0], 255)),
        child("a", net([10, 2, 0, 0], 255), net([10, 1, 0, 0], 255)),
    ];
    (alice, bob)
}

fn sa(sim: &Sim, node: usize) -> SaId {
    sim.current_sa(node).expect("an established IKE SA")
}

/// `node` asks for a Child SA of its child configuration `index`; the network runs.
fn create_child(sim: &mut Sim, node: usize, index: usize) {
    let now = sim.now;
    let id = sa(sim, node);
    assert!(sim.engines[node].create_child(now, id, index));
    sim.run();
}

/// The live Child SA of child configuration `name` (exactly one).
fn live_child(sim: &Sim, node: usize, name: &str) -> ChildSa {
    let found: Vec<ChildSa> = sim
        .live(node)
        .into_iter()
        .map(|(_, c)| c)
        .filter(|c| c.child == name)
        .collect();
    assert_eq!(found.len(), 1, "live Child SAs of `{name}` on node {node}");
    found.into_iter().next().unwrap()
}

fn both_up(sim: &Sim, name: &str, local: [u8; 4], remote: [u8; 4]) -> (ChildSa, ChildSa) {
    let i = live_child(sim, INITIATOR, name);
    let r = live_child(sim, RESPONDER, name);
    assert_mirror(&i, &r);
    assert_eq!(i.ts_local, vec![net(local, 255)], "{name}");
    assert_eq!(i.ts_remote, vec![net(remote, 255)], "{name}");
    (i, r)
}

#[test]
fn second_child_comes_with_create_child_sa_and_the_responder_picks_it_by_ts() {
    let (alice, bob) = two_children();
    let mut sim = established(300, alice, bob);
    assert_eq!(sim.live(INITIATOR).len(), 1);
    both_up(&sim, "a", [10, 1, 0, 0], [10, 2, 0, 0]);
    create_child(&mut sim, INITIATOR, 1);
    assert_eq!(sim.live(INITIATOR).len(), 2);
    assert_eq!(sim.live(RESPONDER).len(), 2);
    both_up(&sim, "a", [10, 1, 0, 0], [10, 2, 0, 0]);
    both_up(&sim, "b", [10, 11, 0, 0], [10, 12, 0, 0]);
    assert!(sim.request_failures(INITIATOR).is_empty());
    assert!(sim.request_failures(RESPONDER).is_empty());
    // status() names each Child SA's configuration.
    for node in [INITIATOR, RESPONDER] {
        let status = sim.engines[node].status();
        let mut names: Vec<&str> = status[0]
            .children
            .iter()
            .map(|c| c.child.as_str())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["a", "b"]);
    }
}

#[test]
fn ike_auth_can_carry_any_child() {
    let (alice, bob) = two_children();
    let mut sim = Sim::new(301, vec![bob], Faults::default());
    sim.initiate_child(alice, 1);
    sim.run();
    assert_eq!(sim.live(INITIATOR).len(), 1);
    both_up(&sim, "b", [10, 11, 0, 0], [10, 12, 0, 0]);
    create_child(&mut sim, INITIATOR, 0);
    both_up(&sim, "a", [10, 1, 0, 0], [10, 2, 0, 0]);
}

#[test]
fn an_unknown_child_index_fails_cleanly() {
    let (alice, bob) = two_children();
    let mut sim = Sim::new(302, vec![bob], Faults::default());
    sim.initiate_child(alice.clone(), 2);
    sim.run();
    let failures = sim.failures(INITIATOR);
    assert_eq!(
        failures[0],
        Error::NoChild {
            connection: None,
            index: 2,
            count: 2
        }
    );
    assert!(
        failures[0].to_string().contains("no child number 2"),
        "{failures:?}"
    );
    let mut sim = established(303, alice, two_children().1);
    create_child(&mut sim, INITIATOR, 7);
    let failures = sim.request_failures(INITIATOR);
    let no_child = Error::NoChild {
        connection: Some("to-bob".into()),
        index: 7,
        count: 2,
    };
    assert_eq!(
        failures[0],
        Error::CannotStart {
            attempt: Attempt::Child(ChildOp::New),
            cause: Box::new(no_child)
        }
    );
    assert!(
        failures[0].to_string().contains("no child number 7"),
        "{failures:?}"
    );
    assert_eq!(sim.live(INITIATOR).len(), 1);
    // An IKE SA that is closing takes no new request, and says so.
    let now = sim.now;
    let id = sa(&sim, INITIATOR);
    sim.engines[INITIATOR].delete(now, id);
    assert!(!sim.engines[INITIATOR].create_child(now, id, 1));
    assert!(!sim.engines[INITIATOR].create_child(now, SaId(999), 1));
}

#[test]
fn children_rekey_independently_and_keep_their_configuration() {
    let (alice, bob) = two_children();
    let mut sim = established(304, alice, bob);
    create_child(&mut sim, INITIATOR, 1);
    let (a_i, _) = both_up(&sim, "a", [10, 1, 0, 0], [10, 2, 0, 0]);
    let (b_i, b_r) = both_up(&sim, "b", [10, 11, 0, 0], [10, 12, 0, 0]);
    // The initiator rekeys `b`: `a` stays as it was.
    let now = sim.now;
    let id = sa(&sim, INITIATOR);
    sim.engines[INITIATOR].rekey_child(now, id, b_i.inbound.spi);
    sim.run();
    let (a_i2, _) = both_up(&sim, "a", [10, 1, 0, 0], [10, 2, 0, 0]);
    let (b_i2, b_r2) = both_up(&sim, "b", [10, 11, 0, 0], [10, 12, 0, 0]);
    assert_eq!(a_i2.inbound.spi, a_i.inbound.spi);
    assert_ne!(b_i2.inbound.spi, b_i.inbound.spi);
    assert_ne!(b_r2.inbound.spi, b_r.inbound.spi);
    assert_eq!(
        sim.removed(INITIATOR),
        vec![(b_i.inbound.spi, b_i.outbound.spi)]
    );
    // The responder rekeys `a`: `b` stays.
    let now = sim.now;
    let id = sa(&sim, RESPONDER);
    let a_r = live_child(&sim, RESPONDER, "a");
    sim.engines[RESPONDER].rekey_child(now, id, a_r.inbound.spi);
    sim.run();
    let (a_i3, _) = both_up(&sim, "a", [10, 1, 0, 0], [10, 2, 0, 0]);
    let (b_i3, _) = both_up(&sim, "b", [10, 11, 0, 0], [10, 12, 0, 0]);
    assert_ne!(a_i3.inbound.spi, a_i.inbound.spi);
    assert_eq!(b_i3.inbound.spi, b_i2.inbound.spi);
    assert_eq!(sim.live(INITIATOR).len(), 2);
    assert!(sim.request_failures(INITIATOR).is_empty());
    assert!(sim.request_failures(RESPONDER).is_empty());
}

#[test]
fn a_child_matching_no_configuration_gets_ts_unacceptable_naming_the_children() {
    let (mut alice, bob) = two_children();
    alice.children.push(child(
        "c",
        net([10, 21, 0, 0], 255),
        net([10, 22, 0, 0], 255),
    ));
    let mut sim = established(305, alice.clone(), bob.clone());
    create_child(&mut sim, INITIATOR, 2);
    assert_eq!(sim.live(INITIATOR).len(), 1);
    let responder = sim.request_failures(RESPONDER);
    assert!(
        matches!(
            &responder[..],
            [Error::Child {
                context: ChildContext::Refused,
                error: ChildError::TsUnacceptable { .. }
            }]
        ),
        "{responder:?}"
    );
    assert_eq!(
        texts(&responder),
        vec![
            "traffic selectors unacceptable in CREATE_CHILD_SA: the peer proposed TSi [10.21.0.0/24] \
             TSr [10.22.0.0/24]; we allow child `b` (remote [10.11.0.0/24] local [10.12.0.0/24]), \
             child `a` (remote [10.1.0.0/24] local [10.2.0.0/24])"
                .to_string()
        ]
    );
    let refused = sim.events[INITIATOR].iter().find_map(|e| match e {
        Output::RequestFailed {
            reason, request, ..
        } => Some((reason.clone(), request.clone())),
        _ => None,
    });
    let (reason, child_name) = refused.expect("a RequestFailed");
    assert!(
        matches!(
            &reason,
            Error::Child {
                context: ChildContext::Answered(ChildOp::New),
                error: ChildError::PeerRefused {
                    notify: NotifyType::TS_UNACCEPTABLE,
                    ..
                }
            }
        ),
        "{reason:?}"
    );
    assert!(reason.to_string().contains("TS_UNACCEPTABLE"), "{reason}");
    assert_eq!(child_name, FailedRequest::NewChild("c".to_string()));
    // The responder refused the peer's request: reported as such, not as a failure of ours.
    assert!(sim.events[RESPONDER].iter().any(|e| matches!(
        e,
        Output::RequestFailed {
            request: FailedRequest::Peer,
            ..
        }
    )));
    // In IKE_AUTH, the same refusal fails the IKE SA.
    let mut sim = Sim::new(306, vec![bob], Faults::default());
    sim.initiate_child(alice, 2);
    sim.run();
    let responder = sim.failures(RESPONDER);
    assert!(
        matches!(
            &responder[0],
            Error::Child {
                context: ChildContext::RefusedInAuth { .. },
                error: ChildError::TsUnacceptable { .. }
            }
        ),
        "{responder:?}"
    );
    let responder = texts(&responder);
    assert!(
        responder[0].ends_with(
            "traffic selectors unacceptable: the peer proposed TSi [10.21.0.0/24] TSr \
             [10.22.0.0/24]; we allow child `b` (remote [10.11.0.0/24] local [10.12.0.0/24]), \
             child `a` (remote [10.1.0.0/24] local [10.2.0.0/24])"
        ),
        "{responder:?}"
    );
    let initiator = sim.failures(INITIATOR);
    assert!(matches!(
        &initiator[0],
        Error::Child {
            context: ChildContext::AnsweredInAuth { .. },
            error: ChildError::PeerRefused {
                notify: NotifyType::TS_UNACCEPTABLE,
                ..
            }
        }
    ));
    assert!(initiator[0].to_string().contains("TS_UNACCEPTABLE"));
}

#[test]
fn a_new_child_needing_too_many_policy_selectors_is_refused_and_the_rest_stays() {
    let (mut alice, bob) = two_children();
    // 10.11.0.1-10.11.0.254 and 10.12.0.1-10.12.0.254 split into 14 prefixes each.
    let range = |a: [u8; 4], b: [u8; 4]| {
        TrafficSelector::ipv4(std::net::Ipv4Addr::from(a), std::net::Ipv4Addr::from(b))
    };
    alice.children[1].ts_local = vec![range([10, 11, 0, 1], [10, 11, 0, 254])];
    alice.children[1].ts_remote = vec![range([10, 12, 0, 1], [10, 12, 0, 254])];
    let mut sim = established(307, alice, bob);
    create_child(&mut sim, INITIATOR, 1);
    assert_eq!(sim.live(INITIATOR).len(), 1);
    assert_eq!(sim.live(RESPONDER).len(), 1);
    let responder = sim.request_failures(RESPONDER);
    assert!(
        matches!(
            &responder[..],
            [Error::Child {
                context: ChildContext::Refused,
                error: ChildError::TooManySelectors { .. }
            }]
        ),
        "{responder:?}"
    );
    assert_eq!(
        texts(&responder),
        vec![
            "traffic selectors unacceptable in CREATE_CHILD_SA: the peer proposed TSi \
             [10.11.0.1-10.11.0.254] TSr [10.12.0.1-10.12.0.254], narrowed to local \
             [10.12.0.1-10.12.0.254] remote [10.11.0.1-10.11.0.254] would need 196 policy \
             selectors (ranges that are not CIDR prefixes split into many), and ripsec installs \
             at most 64 per Child SA: use prefixes"
                .to_string()
        ]
    );
    let failures = sim.request_failures(INITIATOR);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        matches!(
            &failures[0],
            Error::Child {
                error: ChildError::PeerRefused {
                    notify: NotifyType::TS_UNACCEPTABLE,
                    ..
                },
                ..
            }
        ),
        "{failures:?}"
    );
    assert!(
        failures[0].to_string().contains("TS_UNACCEPTABLE"),
        "{failures:?}"
    );
}

#[test]
fn a_new_child_we_refuse_after_the_peer_installed_it_is_deleted_there() {
    let (mut alice, bob) = two_children();
    // We want `b` in transport mode; bob answers in tunnel mode, which we refuse.
    alice.children[1].mode = Mode::Transport;
    let mut sim = established(308, alice, bob);
    create_child(&mut sim, INITIATOR, 1);
    let failures = sim.request_failures(INITIATOR);
    assert_eq!(
        failures,
        [Error::Child {
            context: ChildContext::Answered(ChildOp::New),
            error: ChildError::TransportRefused
        }]
    );
    assert_eq!(
        texts(&failures),
        vec!["the new Child SA failed: the peer does not accept transport mode"]
    );
    // Bob installed it, then removed it on our DELETE; `a` stays on both sides.
    assert_eq!(sim.children(RESPONDER).len(), 2);
    assert_eq!(sim.removed(RESPONDER).len(), 1);
    assert_eq!(sim.live(RESPONDER).len(), 1);
    assert_eq!(sim.live(INITIATOR).len(), 1);
    assert_eq!(sim.established(RESPONDER), 1);
    assert!(sim.closed(RESPONDER).is_empty());
}

fn with_mode(mut c: ChildConfig, name: &str, mode: Mode) -> ChildConfig {
    c.name = name.into();
    c.mode = mode;
    c
}

#[test]
fn the_responder_picks_the_child_whose_mode_matches() {
    let (mut alice, mut bob) = configs();
    let ours = alice.children[0].clone();
    let theirs = bob.children[0].clone();
    alice.children = vec![
        with_mode(ours.clone(), "tun", Mode::Tunnel),
        with_mode(ours, "tra", Mode::Transport),
    ];
    // Same selectors; the tunnel child first, then the transport one.
    bob.children = vec![
        with_mode(theirs.clone(), "tun", Mode::Tunnel),
        with_mode(theirs.clone(), "tra", Mode::Transport),
    ];
    for (seed, responder_order) in [(310, false), (311, true)] {
        let mut bob = bob.clone();
        if responder_order {
            bob.children.reverse();
        }
        // IKE_AUTH with the transport child, then the tunnel one.
        let mut sim = Sim::new(seed, vec![bob], Faults::default());
        sim.initiate_child(alice.clone(), 1);
        sim.run();
        let (i, r) = (
            live_child(&sim, INITIATOR, "tra"),
            live_child(&sim, RESPONDER, "tra"),
        );
        assert_eq!((i.mode, r.mode), (Mode::Transport, Mode::Transport));
        create_child(&mut sim, INITIATOR, 0);
        let (i, r) = (
            live_child(&sim, INITIATOR, "tun"),
            live_child(&sim, RESPONDER, "tun"),
        );
        assert_eq!((i.mode, r.mode), (Mode::Tunnel, Mode::Tunnel));
    }
}
