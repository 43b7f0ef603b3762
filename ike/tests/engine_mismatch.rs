// SPDX-License-Identifier: GPL-2.0
//! Configuration mismatches: each fails with an explanation and installs no Child SA, except
//! a DH group mismatch that INVALID_KE_PAYLOAD resolves.

mod common;
mod engine_sim;

use engine_sim::*;
use ripsec_ike::crypto::{DhGroup, SkCipher, SkInteg};
use ripsec_ike::engine::{
    Auth, AuthError, ChildContext, ChildError, CloseReason, Config, Error, EspCipher, EspProposal,
    InitError, RefusalDetail,
};
use ripsec_ike::{Identity, Message, NotifyType, Secret, TrafficSelector};

fn run(alice: Config, bob: Config) -> Sim {
    let mut sim = Sim::new(7, vec![bob], Faults::default());
    sim.initiate(alice);
    sim.run();
    sim
}

fn assert_no_child(sim: &Sim) {
    assert!(sim.children(INITIATOR).is_empty());
    assert!(sim.children(RESPONDER).is_empty());
    assert_eq!(sim.established(INITIATOR), 0);
    assert_eq!(sim.established(RESPONDER), 0);
}

fn only_failure(sim: &Sim, node: usize) -> Error {
    let failures = sim.failures(node);
    assert_eq!(failures.len(), 1, "{failures:?}");
    failures[0].clone()
}

/// The initiator's failure when the responder answers IKE_AUTH with AUTHENTICATION_FAILED.
fn assert_rejected(sim: &Sim) -> String {
    let initiator = only_failure(sim, INITIATOR);
    assert!(
        matches!(initiator, Error::Auth(AuthError::Rejected { .. })),
        "{initiator:?}"
    );
    let initiator = initiator.to_string();
    assert!(initiator.contains("AUTHENTICATION_FAILED"), "{initiator}");
    initiator
}

/// The initiator's failure when the responder refused the Child SA of IKE_AUTH with `notify`.
fn assert_child_refused(sim: &Sim, notify: NotifyType) -> Error {
    let initiator = only_failure(sim, INITIATOR);
    assert!(
        matches!(
            &initiator,
            Error::Child {
                context: ChildContext::AnsweredInAuth { .. },
                error: ChildError::PeerRefused { notify: n, .. }
            } if *n == notify
        ),
        "{initiator:?}"
    );
    initiator
}

#[test]
fn ike_proposal_mismatch_explains_both_offers() {
    let (alice, mut bob) = configs();
    bob.ike_proposals = vec![ike(
        SkCipher::AesCbc {
            key_bits: 128,
            integ: SkInteg::Sha256_128,
        },
        DhGroup::Curve25519,
    )];
    let sim = run(alice, bob);
    assert_no_child(&sim);
    let responder = only_failure(&sim, RESPONDER);
    assert!(
        matches!(responder, Error::NoProposalFrom { .. }),
        "{responder:?}"
    );
    let responder = responder.to_string();
    assert!(
        responder.contains(
            "no proposal chosen for the IKE SA: we offered ENCR AES_CBC_128, PRF PRF_HMAC_SHA2_256, \
             INTEG HMAC_SHA2_256_128, DH CURVE_25519; the peer offered ENCR AES_GCM_16_256, \
             PRF PRF_HMAC_SHA2_256, DH CURVE_25519; no common ENCR, INTEG"
        ),
        "{responder}"
    );
    let initiator = only_failure(&sim, INITIATOR);
    assert!(
        matches!(initiator, Error::Init(InitError::NoProposalChosen { .. })),
        "{initiator:?}"
    );
    let initiator = initiator.to_string();
    assert!(
        initiator.contains("the peer accepted none of our offer (ENCR AES_GCM_16_256, PRF PRF_HMAC_SHA2_256, DH CURVE_25519)"),
        "{initiator}"
    );
    let answer = Message::parse(&sim.sent[1].bytes).unwrap();
    assert!(answer
        .notification(NotifyType::NO_PROPOSAL_CHOSEN)
        .is_some());
    assert_eq!(sim.sent.len(), 2, "the initiator stops retransmitting");
}

#[test]
fn dh_group_not_offered_at_all() {
    let (alice, mut bob) = configs();
    bob.ike_proposals = vec![ike(gcm256(), DhGroup::Modp2048)];
    let sim = run(alice, bob);
    assert_no_child(&sim);
    let responder = only_failure(&sim, RESPONDER);
    assert!(
        matches!(responder, Error::NoProposalFrom { .. }),
        "{responder:?}"
    );
    let responder = responder.to_string();
    assert!(responder.contains("DH MODP_2048"), "{responder}");
    assert!(
        responder.ends_with(
            "no common DH; closest: the peer's proposal 1 and our proposal 1 differ only in DH \
             (peer CURVE_25519, ours MODP_2048)"
        ),
        "{responder}"
    );
}

#[test]
fn invalid_ke_retry_with_the_group_the_responder_wants() {
    let (mut alice, mut bob) = configs();
    alice.ike_proposals = vec![
        ike(gcm256(), DhGroup::Curve25519),
        ike(gcm256(), DhGroup::Ecp256),
    ];
    bob.ike_proposals = vec![ike(gcm256(), DhGroup::Ecp256)];
    let sim = run(alice, bob);
    assert_matching_children(&sim);
    assert_eq!(
        sim.trace(),
        [
            "IKE_SA_INIT request 0",
            "IKE_SA_INIT response 0",
            "IKE_SA_INIT request 0",
            "IKE_SA_INIT response 0",
            "IKE_AUTH request 1",
            "IKE_AUTH response 1"
        ]
    );
    let invalid_ke = Message::parse(&sim.sent[1].bytes).unwrap();
    let notify = invalid_ke
        .notification(NotifyType::INVALID_KE_PAYLOAD)
        .expect("INVALID_KE_PAYLOAD");
    assert_eq!(notify.data, 19u16.to_be_bytes());
    let second = Message::parse(&sim.sent[2].bytes).unwrap();
    assert!(second
        .payloads
        .iter()
        .any(|p| matches!(p, ripsec_ike::Payload::Ke(ke) if ke.group == 19)));
}

#[test]
fn psk_mismatch_is_named_by_the_responder() {
    let (alice, mut bob) = configs();
    bob.auth = Auth::Psk(Secret::from_slice(b"other secret"));
    let sim = run(alice, bob);
    assert_no_child(&sim);
    let responder = only_failure(&sim, RESPONDER);
    assert_eq!(
        responder,
        Error::Auth(AuthError::PskMismatch {
            peer: Identity::Fqdn("alice.example".into())
        })
    );
    assert_eq!(
        responder.to_string(),
        "authentication failed: AUTH from peer alice.example does not verify (pre-shared key mismatch)"
    );
    let initiator = assert_rejected(&sim);
    assert!(initiator.contains("alice.example"), "{initiator}");
}

#[test]
fn unknown_initiator_id_is_named_by_the_responder() {
    let (mut alice, bob) = configs();
    alice.local_id = Identity::Fqdn("mallory.example".into());
    let sim = run(alice, bob);
    assert_no_child(&sim);
    let responder = only_failure(&sim, RESPONDER);
    assert!(
        matches!(responder, Error::Auth(AuthError::UnknownPeer { .. })),
        "{responder:?}"
    );
    assert_eq!(
        responder.to_string(),
        "authentication failed: unknown peer ID mallory.example (configured peers: alice.example)"
    );
    assert_rejected(&sim);
}

#[test]
fn unexpected_responder_id_is_named_by_the_initiator() {
    let (alice, mut bob) = configs();
    bob.local_id = Identity::Fqdn("eve.example".into());
    let sim = run(alice, bob);
    assert!(sim.children(INITIATOR).is_empty());
    let initiator = only_failure(&sim, INITIATOR);
    assert!(
        matches!(initiator, Error::Auth(AuthError::UnexpectedPeer { .. })),
        "{initiator:?}"
    );
    assert_eq!(
        initiator.to_string(),
        "the peer identified as eve.example, but we expect bob.example"
    );
}

#[test]
fn esp_proposal_mismatch_explains_both_offers() {
    let (alice, mut bob) = configs();
    bob.children[0].esp_proposals = vec![EspProposal {
        cipher: EspCipher::AesGcm {
            key_bits: 128,
            icv: 16,
        },
    }];
    let sim = run(alice, bob);
    assert_no_child(&sim);
    let responder = only_failure(&sim, RESPONDER);
    assert!(
        matches!(
            responder,
            Error::Child {
                context: ChildContext::RefusedInAuth { .. },
                error: ChildError::NoProposalChosen { .. }
            }
        ),
        "{responder:?}"
    );
    let responder = responder.to_string();
    assert!(
        responder.contains(
            "no proposal chosen for the Child SA (ESP): we offered ENCR AES_GCM_16_128, ESN NO_ESN; \
             the peer offered ENCR AES_GCM_16_256, ESN NO_ESN; no common ENCR"
        ),
        "{responder}"
    );
    let initiator = assert_child_refused(&sim, NotifyType::NO_PROPOSAL_CHOSEN).to_string();
    assert!(
        initiator.contains("refused the Child SA with NO_PROPOSAL_CHOSEN (14); we offered ESP ENCR AES_GCM_16_256, ESN NO_ESN"),
        "{initiator}"
    );
}

#[test]
fn traffic_selector_mismatch_names_both_sets() {
    let (alice, mut bob) = configs();
    bob.children[0].ts_remote = vec![net([10, 9, 0, 0], 255)];
    let sim = run(alice, bob);
    assert_no_child(&sim);
    let responder = only_failure(&sim, RESPONDER);
    assert!(
        matches!(
            responder,
            Error::Child {
                context: ChildContext::RefusedInAuth { .. },
                error: ChildError::TsUnacceptable { .. }
            }
        ),
        "{responder:?}"
    );
    let responder = responder.to_string();
    assert!(
        responder.contains(
            "traffic selectors unacceptable: the peer proposed TSi [10.1.0.0/24] \
             TSr [10.2.0.0/24]; we allow remote [10.9.0.0/24] \
             local [10.2.0.0/24]"
        ),
        "{responder}"
    );
    let initiator = assert_child_refused(&sim, NotifyType::TS_UNACCEPTABLE);
    assert!(matches!(
        &initiator,
        Error::Child {
            error: ChildError::PeerRefused {
                detail: RefusalDetail::Proposed(..),
                ..
            },
            ..
        }
    ));
    let initiator = initiator.to_string();
    assert!(initiator.contains("TS_UNACCEPTABLE"), "{initiator}");
    assert!(
        initiator.contains("we proposed TSi [10.1.0.0/24] TSr [10.2.0.0/24]"),
        "{initiator}"
    );
}

#[test]
fn selectors_needing_too_many_policies_are_refused() {
    use std::net::Ipv4Addr;
    let range =
        |a: [u8; 4], b: [u8; 4]| TrafficSelector::ipv4(Ipv4Addr::from(a), Ipv4Addr::from(b));
    // .1-.254 splits into 14 prefixes each: 196 policy selectors, more than ripsec installs.
    let (mut alice, bob) = configs();
    alice.children[0].ts_local = vec![range([10, 1, 0, 1], [10, 1, 0, 254])];
    alice.children[0].ts_remote = vec![range([10, 2, 0, 1], [10, 2, 0, 254])];
    let sim = run(alice, bob);
    assert_no_child(&sim);
    let responder = only_failure(&sim, RESPONDER);
    assert!(
        matches!(
            responder,
            Error::Child {
                context: ChildContext::RefusedInAuth { .. },
                error: ChildError::TooManySelectors { .. }
            }
        ),
        "{responder:?}"
    );
    let responder = responder.to_string();
    assert!(
        responder.contains(
            "traffic selectors unacceptable: the peer proposed TSi [10.1.0.1-10.1.0.254] \
             TSr [10.2.0.1-10.2.0.254], narrowed to local [10.2.0.1-10.2.0.254] \
             remote [10.1.0.1-10.1.0.254] would need 196 policy selectors"
        ),
        "{responder}"
    );
    let initiator = assert_child_refused(&sim, NotifyType::TS_UNACCEPTABLE);
    assert!(initiator.to_string().contains("TS_UNACCEPTABLE"));
    // A range of 4 prefixes against a prefix: 4 policy selectors, accepted.
    let (mut alice, bob) = configs();
    alice.children[0].ts_local = vec![range([10, 1, 0, 1], [10, 1, 0, 6])];
    let sim = run(alice, bob);
    assert_eq!(sim.children(RESPONDER).len(), 1);
    assert_eq!(sim.children(INITIATOR).len(), 1);
}

#[test]
fn transport_mode_refused() {
    let (mut alice, bob) = configs();
    alice.children[0].mode = ripsec_ike::engine::Mode::Transport;
    let sim = run(alice, bob);
    assert!(sim.children(INITIATOR).is_empty());
    let initiator = only_failure(&sim, INITIATOR);
    assert!(
        matches!(
            initiator,
            Error::Child {
                context: ChildContext::AnsweredInAuth { .. },
                error: ChildError::TransportRefused
            }
        ),
        "{initiator:?}"
    );
    assert_eq!(
        initiator.to_string(),
        "the peer does not accept transport mode"
    );
    // The responder had installed a tunnel-mode Child SA: our DELETE of the IKE SA removes
    // it there too.
    assert_eq!(sim.children(RESPONDER).len(), 1);
    let closed = sim.closed(RESPONDER);
    assert_eq!(
        closed,
        [CloseReason::DeletedByPeer {
            peer: addr(INITIATOR)
        }]
    );
    assert_eq!(
        texts(&closed),
        vec!["the peer 192.0.2.1:500 deleted the IKE SA".to_string()]
    );
}
