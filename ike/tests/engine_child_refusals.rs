// SPDX-License-Identifier: GPL-2.0
//! One Child SA negotiation for IKE_AUTH and CREATE_CHILD_SA: the same refusal (traffic
//! selectors that fit no child, selectors needing too many policies, no acceptable ESP
//! proposal) is the same kind through either exchange, on both sides, explained the same way
//! except for the name of the exchange.

mod common;
mod engine_sim;

use engine_sim::*;
use ripsec_ike::engine::{
    ChildContext, ChildError, ChildExchange, ChildOp, Config, Error, EspCipher, EspProposal,
    RefusalDetail,
};
use ripsec_ike::{NotifyType, TrafficSelector};

/// alice's children: `a` (10.1.0.0/24 <-> 10.2.0.0/24), which bob also has, and `b`
/// (10.11.0.0/24 <-> 10.12.0.0/24), which bob refuses the way `refuse_b` makes it.
fn alice_and_bob(refuse_b: impl Fn(&mut Config, &mut Config)) -> (Config, Config) {
    let (mut alice, mut bob) = configs();
    alice.children = vec![
        child("a", net([10, 1, 0, 0], 255), net([10, 2, 0, 0], 255)),
        child("b", net([10, 11, 0, 0], 255), net([10, 12, 0, 0], 255)),
    ];
    bob.children = vec![
        child("a", net([10, 2, 0, 0], 255), net([10, 1, 0, 0], 255)),
        child("b", net([10, 12, 0, 0], 255), net([10, 11, 0, 0], 255)),
    ];
    refuse_b(&mut alice, &mut bob);
    (alice, bob)
}

/// How one side saw the refusal: the exchange, the error and its explanation.
struct Seen {
    context: ChildContext,
    error: ChildError,
    text: String,
}

/// The only Child SA failure in `failures`.
fn seen(failures: Vec<Error>) -> Seen {
    assert_eq!(failures.len(), 1, "{failures:?}");
    let text = failures[0].to_string();
    match failures.into_iter().next() {
        Some(Error::Child { context, error }) => Seen {
            context,
            error,
            text,
        },
        other => panic!("not a Child SA failure: {other:?}"),
    }
}

/// Alice asks for `b` in IKE_AUTH: (bob's refusal, alice's view of it).
fn through_ike_auth(seed: u64, (alice, bob): (Config, Config)) -> (Seen, Seen) {
    let mut sim = Sim::new(seed, vec![bob], Faults::default());
    sim.initiate_child(alice, 1);
    sim.run();
    assert!(sim.live(INITIATOR).is_empty() && sim.live(RESPONDER).is_empty());
    (seen(sim.failures(RESPONDER)), seen(sim.failures(INITIATOR)))
}

/// Alice asks for `b` with CREATE_CHILD_SA once `a` is up: (bob's refusal, alice's view).
fn through_create_child(seed: u64, (alice, bob): (Config, Config)) -> (Seen, Seen) {
    let mut sim = established(seed, alice, bob);
    let now = sim.now;
    let sa = sim.current_sa(INITIATOR).expect("established");
    assert!(sim.engines[INITIATOR].create_child(now, sa, 1));
    sim.run();
    // `a` stays up on both sides.
    assert_one_live_child(&sim);
    let responder = seen(sim.request_failures(RESPONDER));
    let initiator = seen(sim.request_failures(INITIATOR));
    (responder, initiator)
}

/// Both exchanges, with the contexts each must report.
fn both(seed: u64, configs: impl Fn() -> (Config, Config)) -> [(Seen, Seen); 2] {
    let auth = through_ike_auth(seed, configs());
    let ccsa = through_create_child(seed + 1, configs());
    let alice = ripsec_ike::Identity::Fqdn("alice.example".into());
    let bob = ripsec_ike::Identity::Fqdn("bob.example".into());
    assert_eq!(auth.0.context, ChildContext::RefusedInAuth { peer: alice });
    assert_eq!(auth.1.context, ChildContext::AnsweredInAuth { peer: bob });
    assert_eq!(ccsa.0.context, ChildContext::Refused);
    assert_eq!(ccsa.1.context, ChildContext::Answered(ChildOp::New));
    assert_eq!(auth.0.context.exchange(), ChildExchange::IkeAuth);
    assert_eq!(ccsa.0.context.exchange(), ChildExchange::CreateChildSa);
    [auth, ccsa]
}

/// The initiator saw the peer refuse with `notify`: the same in both exchanges.
fn assert_peer_refused(auth: &Seen, ccsa: &Seen, notify: NotifyType) {
    assert!(
        matches!(&auth.error, ChildError::PeerRefused { notify: n, .. } if *n == notify),
        "{:?}",
        auth.error
    );
    assert_eq!(auth.error, ccsa.error);
}

#[test]
fn selectors_no_child_allows_are_the_same_refusal_in_both_exchanges() {
    let configs = || {
        alice_and_bob(|_, bob| {
            bob.children[1].ts_remote = vec![net([10, 99, 0, 0], 255)];
        })
    };
    let [(auth_r, auth_i), (ccsa_r, ccsa_i)] = both(600, configs);
    assert!(matches!(auth_r.error, ChildError::TsUnacceptable { .. }));
    assert_eq!(auth_r.error, ccsa_r.error);
    let why = "the peer proposed TSi [10.11.0.0/24] TSr [10.12.0.0/24]; we allow child `a` \
               (remote [10.1.0.0/24] local [10.2.0.0/24]), child `b` (remote [10.99.0.0/24] \
               local [10.12.0.0/24])";
    assert_eq!(
        auth_r.text,
        format!(
            "peer alice.example authenticated, but the Child SA was refused: traffic \
             selectors unacceptable: {why}"
        )
    );
    assert_eq!(
        ccsa_r.text,
        format!("traffic selectors unacceptable in CREATE_CHILD_SA: {why}")
    );
    assert_peer_refused(&auth_i, &ccsa_i, NotifyType::TS_UNACCEPTABLE);
    let detail = "with TS_UNACCEPTABLE (38); we proposed TSi [10.11.0.0/24] TSr [10.12.0.0/24]";
    assert_eq!(
        auth_i.text,
        format!("peer bob.example authenticated, but it refused the Child SA {detail}")
    );
    assert_eq!(
        ccsa_i.text,
        format!("the peer refused the new Child SA {detail}")
    );
}

#[test]
fn selectors_needing_too_many_policies_are_the_same_refusal_in_both_exchanges() {
    // .1-.254 splits into 14 prefixes each: 196 policy selectors.
    let range = |a: [u8; 4], b: [u8; 4]| {
        TrafficSelector::ipv4(std::net::Ipv4Addr::from(a), std::net::Ipv4Addr::from(b))
    };
    let configs = || {
        alice_and_bob(|alice, _| {
            alice.children[1].ts_local = vec![range([10, 11, 0, 1], [10, 11, 0, 254])];
            alice.children[1].ts_remote = vec![range([10, 12, 0, 1], [10, 12, 0, 254])];
        })
    };
    let [(auth_r, auth_i), (ccsa_r, ccsa_i)] = both(610, configs);
    assert!(
        matches!(&auth_r.error, ChildError::TooManySelectors { narrowed, .. } if narrowed.needed == 196)
    );
    assert_eq!(auth_r.error, ccsa_r.error);
    let why = "the peer proposed TSi [10.11.0.1-10.11.0.254] TSr [10.12.0.1-10.12.0.254], \
               narrowed to local [10.12.0.1-10.12.0.254] remote [10.11.0.1-10.11.0.254] would \
               need 196 policy selectors (ranges that are not CIDR prefixes split into many), \
               and ripsec installs at most 64 per Child SA: use prefixes";
    assert_eq!(
        auth_r.text,
        format!(
            "peer alice.example authenticated, but the Child SA was refused: traffic \
             selectors unacceptable: {why}"
        )
    );
    assert_eq!(
        ccsa_r.text,
        format!("traffic selectors unacceptable in CREATE_CHILD_SA: {why}")
    );
    assert_peer_refused(&auth_i, &ccsa_i, NotifyType::TS_UNACCEPTABLE);
}

#[test]
fn no_acceptable_esp_proposal_is_the_same_refusal_in_both_exchanges() {
    let configs = || {
        alice_and_bob(|alice, bob| {
            alice.children[1].esp_proposals = vec![EspProposal {
                cipher: EspCipher::AesGcm {
                    key_bits: 128,
                    icv: 16,
                },
            }];
            // With PFS, bob's CREATE_CHILD_SA offer is the IKE_AUTH one with the DH group.
            bob.children[1].pfs = true;
        })
    };
    let [(auth_r, auth_i), (ccsa_r, ccsa_i)] = both(620, configs);
    for seen in [&auth_r, &ccsa_r] {
        assert!(
            matches!(seen.error, ChildError::NoProposalChosen { .. }),
            "{:?}",
            seen.error
        );
    }
    // The peer's proposals are the same (their SPIs aside); ours differ only by the DH group
    // that PFS adds in CREATE_CHILD_SA.
    let transforms = |e: &ChildError| match e {
        ChildError::NoProposalChosen { theirs, .. } => theirs
            .iter()
            .map(|p| p.transforms.clone())
            .collect::<Vec<_>>(),
        _ => Vec::new(),
    };
    assert_eq!(transforms(&auth_r.error), transforms(&ccsa_r.error));
    let theirs = "the peer offered ENCR AES_GCM_16_128, ESN NO_ESN";
    assert_eq!(
        auth_r.text,
        format!(
            "peer alice.example authenticated, but the Child SA was refused: no proposal \
             chosen for the Child SA (ESP): we offered ENCR AES_GCM_16_256, ESN NO_ESN; \
             {theirs}; no common ENCR; closest: the peer's proposal 1 and our proposal 1 \
             differ only in ENCR (peer AES_GCM_16_128, ours AES_GCM_16_256)"
        )
    );
    assert_eq!(
        ccsa_r.text,
        format!(
            "no proposal chosen for the Child SA (ESP, CREATE_CHILD_SA): we offered ENCR \
             AES_GCM_16_256, DH CURVE_25519, ESN NO_ESN; {theirs}; no common ENCR, DH; \
             closest: the peer's proposal 1 and our proposal 1 differ only in ENCR (peer \
             AES_GCM_16_128, ours AES_GCM_16_256), DH (peer none, ours CURVE_25519)"
        )
    );
    assert_peer_refused(&auth_i, &ccsa_i, NotifyType::NO_PROPOSAL_CHOSEN);
    assert!(matches!(
        &auth_i.error,
        ChildError::PeerRefused {
            detail: RefusalDetail::Offered(_, _),
            ..
        }
    ));
    let detail = "with NO_PROPOSAL_CHOSEN (14); we offered ESP ENCR AES_GCM_16_128, ESN NO_ESN";
    assert_eq!(
        auth_i.text,
        format!("peer bob.example authenticated, but it refused the Child SA {detail}")
    );
    assert_eq!(
        ccsa_i.text,
        format!("the peer refused the new Child SA {detail}")
    );
}
