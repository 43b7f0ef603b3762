// SPDX-License-Identifier: GPL-2.0
//! An initiator that refuses the responder's IKE_AUTH response (ID, AUTH or certificate) tells
//! the responder, which already installed its Child SA, with one INFORMATIONAL request carrying
//! N(AUTHENTICATION_FAILED) (RFC 7296 §2.21.2); the responder removes the IKE SA and its Child
//! SAs. Child SA refusals and the responder's own AUTHENTICATION_FAILED send nothing more.

mod common;
mod engine_sim;
mod pki_common;

use engine_sim::*;
use pki_common::*;
use ripsec_ike::engine::{
    Auth, AuthError, ChildContext, ChildError, CloseReason, Config, Error, Output,
};
use ripsec_ike::{ExchangeType, Identity, Message, NotifyType, PayloadType, Secret};

const CLOSED: &str = "the peer 192.0.2.1:500 rejected our authentication after IKE_AUTH (AUTHENTICATION_FAILED): it does not accept our AUTH or certificate; the IKE SA and its Child SAs are removed";

const SETUP: [&str; 4] = [
    "IKE_SA_INIT request 0",
    "IKE_SA_INIT response 0",
    "IKE_AUTH request 1",
    "IKE_AUTH response 1",
];

fn sim_with(alice: Config, bob: Config, faults: Faults) -> Sim {
    Sim::new(5, vec![bob], faults)
        .with_wall_clock(NOW)
        .connect(alice)
}

/// PSK: the responder authenticates alice but names itself eve.example.
fn responder_id_mismatch() -> (Config, Config) {
    let (alice, mut bob) = configs();
    bob.local_id = Identity::Fqdn("eve.example".into());
    (alice, bob)
}

/// Certificates: the responder trusts alice's CA, alice does not trust the responder's.
fn untrusted_responder() -> (Config, Config) {
    configs_with(
        pubkey("left-ec.crt", "left-ec.key", &["ca-ec.crt"]),
        "left.ripsec.test",
        pubkey("right-rsa.crt", "right-rsa.pkcs1.key", &["ca-ec.crt"]),
        "right.ripsec.test",
    )
}

/// Certificates: the responder claims an ID its certificate does not carry.
fn responder_id_not_in_certificate() -> (Config, Config) {
    configs_with(left_rsa(), "left.ripsec.test", right_rsa(), "10.0.0.9")
}

/// Each case, the kind of the initiator's failure, and its explanation.
type Case = ((Config, Config), fn(&AuthError) -> bool, &'static str);

fn cases() -> [Case; 3] {
    [
        (
            responder_id_mismatch(),
            |e| matches!(e, AuthError::UnexpectedPeer { .. }),
            "the peer identified as eve.example, but we expect bob.example",
        ),
        (
            untrusted_responder(),
            |e| matches!(e, AuthError::Untrusted(_)),
            "authentication failed: certificate 'CN=right.ripsec.test, O=ripsec' is not signed by a trusted CA: its issuer is 'CN=ripsec test CA, O=ripsec', we trust 'C=CH, O=ripsec, CN=ripsec ECDSA CA'",
        ),
        (
            responder_id_not_in_certificate(),
            |e| matches!(e, AuthError::NotInCertificate(_)),
            "authentication failed: peer's ID 10.0.0.9 is not in its certificate (subject 'CN=right.ripsec.test, O=ripsec', SANs DNS:right.ripsec.test, IP:10.0.0.2)",
        ),
    ]
}

/// The responder's close when the initiator rejects its authentication.
fn assert_closed_by_authentication_failed(sim: &Sim) {
    let closed = sim.closed(RESPONDER);
    assert_eq!(
        closed,
        [CloseReason::AuthenticationFailed {
            peer: addr(INITIATOR)
        }]
    );
    assert_eq!(texts(&closed), [CLOSED]);
}

/// INFORMATIONAL requests the initiator sent.
fn informational_requests(sim: &Sim) -> usize {
    sim.sent
        .iter()
        .filter(|s| s.from == INITIATOR)
        .filter_map(|s| Message::parse(&s.bytes).ok())
        .filter(|m| m.exchange_type == ExchangeType::INFORMATIONAL && !m.flags.response)
        .count()
}

fn position(sim: &Sim, node: usize, what: impl Fn(&Output) -> bool) -> Option<usize> {
    sim.events[node].iter().position(what)
}

fn assert_nothing_left(sim: &Sim) {
    for node in [INITIATOR, RESPONDER] {
        assert!(
            sim.live(node).is_empty(),
            "node {node}: {:?}",
            sim.live(node)
        );
        assert!(sim.engines[node].status().is_empty(), "node {node}");
        assert_eq!(sim.engines[node].next_timeout(), None, "node {node}");
    }
}

#[test]
fn responder_removes_its_child_sa_when_the_initiator_rejects_its_auth() {
    for ((alice, bob), kind, failure) in cases() {
        let sim = sim_with(alice, bob, Faults::default());
        // The initiator's report is unchanged; it never established anything.
        let failures = sim.failures(INITIATOR);
        assert!(
            matches!(&failures[..], [Error::Auth(e)] if kind(e)),
            "{failures:?}"
        );
        assert_eq!(texts(&failures), [failure]);
        assert_eq!(sim.established(INITIATOR), 0);
        assert!(sim.children(INITIATOR).is_empty());
        assert!(sim.closed(INITIATOR).is_empty());
        // The responder installed its Child SA, then removed it with the IKE SA.
        assert_eq!(sim.established(RESPONDER), 1, "{failure}");
        assert_eq!(sim.children(RESPONDER).len(), 1);
        assert!(sim.failures(RESPONDER).is_empty());
        assert_closed_by_authentication_failed(&sim);
        let installed = position(&sim, RESPONDER, |e| {
            matches!(e, Output::InstallChild { .. })
        });
        let closed = position(&sim, RESPONDER, |e| matches!(e, Output::Closed { .. }));
        assert!(installed < closed, "{:?}", sim.events[RESPONDER]);
        let mut trace = SETUP.to_vec();
        trace.extend(["INFORMATIONAL request 2", "INFORMATIONAL response 2"]);
        assert_eq!(sim.trace(), trace);
        assert_eq!(informational_requests(&sim), 1);
        assert_nothing_left(&sim);
    }
}

#[test]
fn authentication_failed_is_sent_once_and_not_retransmitted() {
    // Datagram 4 is the INFORMATIONAL: lost, it is not sent again.
    let (alice, bob) = responder_id_mismatch();
    let sim = sim_with(alice, bob, Faults::dropping([4]));
    let mut trace = SETUP.to_vec();
    trace.push("INFORMATIONAL request 2");
    assert_eq!(sim.trace(), trace);
    assert_eq!(informational_requests(&sim), 1);
    assert!(sim.engines[INITIATOR].status().is_empty());
    assert_eq!(sim.engines[INITIATOR].next_timeout(), None);
    // The responder keeps its IKE SA until something else removes it.
    assert_eq!(sim.live(RESPONDER).len(), 1);
    assert!(sim.closed(RESPONDER).is_empty());
}

#[test]
fn authentication_failed_is_protected_with_the_ike_sa_keys() {
    let (alice, bob) = untrusted_responder();
    let mut sim = sim_with(alice, bob, Faults::holding([4]));
    assert_eq!(sim.sent.len(), 5);
    let auth_response = Message::parse(&sim.sent[3].bytes).unwrap();
    let bytes = sim.sent[4].bytes.clone();
    let message = Message::parse(&bytes).unwrap();
    assert_eq!(message.exchange_type, ExchangeType::INFORMATIONAL);
    assert_eq!(message.message_id, 2);
    assert!(message.flags.initiator && !message.flags.response);
    assert_eq!(message.spi_i, auth_response.spi_i);
    assert_eq!(message.spi_r, auth_response.spi_r);
    // Only an SK payload in the clear, with a single Notify inside.
    assert_eq!(message.payloads.len(), 1);
    let sk = message.encrypted().expect("SK payload");
    assert_eq!(sk.first_inner, PayloadType::NOTIFY);
    // AES-GCM: IV 8 | Notify 8 | pad length 1 | ICV 16.
    assert_eq!(sk.body.len(), 8 + 8 + 1 + 16);

    // Held back: the responder still has its Child SA.
    assert_eq!(sim.live(RESPONDER).len(), 1);
    assert_eq!(sim.engines[RESPONDER].status().len(), 1);

    // A tampered copy does not authenticate: ignored.
    let mut forged = bytes.clone();
    if let Some(last) = forged.last_mut() {
        *last ^= 1;
    }
    let now = sim.now;
    sim.engines[RESPONDER].handle_datagram(now, addr(INITIATOR), addr(RESPONDER), &forged);
    assert!(sim.engines[RESPONDER].poll_output().is_none());
    assert_eq!(sim.engines[RESPONDER].status()[0].state, "established");

    // The genuine one decrypts with the responder's keys and closes the IKE SA.
    sim.release_held();
    sim.run();
    assert_closed_by_authentication_failed(&sim);
    let answer = Message::parse(&sim.sent[5].bytes).unwrap();
    assert_eq!(answer.exchange_type, ExchangeType::INFORMATIONAL);
    assert_eq!(answer.message_id, 2);
    assert!(answer.flags.response && !answer.flags.initiator);
    // Empty response: an SK payload with nothing inside.
    assert_eq!(answer.encrypted().unwrap().first_inner, PayloadType::NONE);
    assert_nothing_left(&sim);
}

#[test]
fn nothing_is_sent_when_the_responder_refused_us_or_the_child_sa() {
    // The responder refused our AUTH: it has no IKE SA to tell.
    let (alice, mut bob) = configs();
    bob.auth = Auth::Psk(Secret::from_slice(b"other secret"));
    let sim = sim_with(alice, bob, Faults::default());
    let failures = sim.failures(INITIATOR);
    assert!(matches!(
        failures[0],
        Error::Auth(AuthError::Rejected { .. })
    ));
    assert!(failures[0].to_string().contains("AUTHENTICATION_FAILED"));
    assert_eq!(sim.trace(), SETUP);

    // Authenticated, but the Child SA was refused: the IKE SA is not an authentication
    // failure.
    let (alice, mut bob) = configs();
    bob.children[0].ts_remote = vec![net([10, 9, 0, 0], 255)];
    let sim = sim_with(alice, bob, Faults::default());
    let failures = sim.failures(INITIATOR);
    assert!(matches!(
        &failures[0],
        Error::Child {
            context: ChildContext::AnsweredInAuth { .. },
            error: ChildError::PeerRefused {
                notify: NotifyType::TS_UNACCEPTABLE,
                ..
            }
        }
    ));
    assert!(failures[0].to_string().contains("TS_UNACCEPTABLE"));
    assert_eq!(sim.trace(), SETUP);
    assert_eq!(informational_requests(&sim), 0);
}
