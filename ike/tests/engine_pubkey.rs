// SPDX-License-Identifier: GPL-2.0
//! Certificate authentication between two engines (RFC 7296 §2.15, RFC 7427): RSA, ECDSA and
//! mixed, DN and FQDN identities; each certificate problem fails with a sentence naming it and
//! installs no Child SA on the side that refused.

mod common;
mod engine_sim;
mod pki_common;

use std::sync::Arc;

use engine_sim::*;
use pki_common::*;
use ripsec_ike::engine::{Auth, AuthError, Config, Error};
use ripsec_ike::pki::PublicKeyAuth;
use ripsec_ike::{CertEncoding, Message, NotifyType, Payload, Secret};

const LEFT_ID: &str = "left.ripsec.test";
const RIGHT_ID: &str = "right.ripsec.test";

/// alice (initiator, left) and bob (responder, right) after their exchange.
fn exchange(alice: Config, bob: Config) -> Sim {
    Sim::new(11, vec![bob], Faults::default())
        .with_wall_clock(NOW)
        .connect(alice)
}

/// [`exchange`] with the given credentials and IDs.
fn run(alice_auth: Auth, alice_id: &str, bob_auth: Auth, bob_id: &str) -> Sim {
    let (alice, bob) = configs_with(alice_auth, alice_id, bob_auth, bob_id);
    exchange(alice, bob)
}

fn assert_established(sim: &Sim, alice_sees: &str, bob_sees: &str) {
    assert_eq!(
        sim.established(INITIATOR),
        1,
        "{:?}",
        sim.failures(INITIATOR)
    );
    assert_eq!(
        sim.established(RESPONDER),
        1,
        "{:?}",
        sim.failures(RESPONDER)
    );
    assert_one_live_child(sim);
    let status = |node: usize| sim.engines[node].status()[0].auth.clone();
    assert_eq!(status(INITIATOR), format!("pubkey {alice_sees}"));
    assert_eq!(status(RESPONDER), format!("pubkey {bob_sees}"));
}

/// The kind of an authentication failure.
type Kind = fn(&AuthError) -> bool;

fn untrusted(e: &AuthError) -> bool {
    matches!(e, AuthError::Untrusted(_))
}

fn not_in_certificate(e: &AuthError) -> bool {
    matches!(e, AuthError::NotInCertificate(_))
}

fn rejected(e: &AuthError) -> bool {
    matches!(e, AuthError::Rejected { .. })
}

/// `node`'s only failure, an authentication failure of kind `kind`; it installed no Child SA
/// and established nothing. Returns its explanation.
fn only_failure(sim: &Sim, node: usize, kind: Kind) -> String {
    let failures = sim.failures(node);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        matches!(&failures[0], Error::Auth(e) if kind(e)),
        "node {node}: {failures:?}"
    );
    assert!(sim.children(node).is_empty(), "a Child SA was installed");
    assert_eq!(sim.established(node), 0);
    failures[0].to_string()
}

/// `node` failed (see [`only_failure`]) with exactly `expected`.
fn assert_failure(sim: &Sim, node: usize, kind: Kind, expected: &str) {
    assert_eq!(only_failure(sim, node, kind), expected, "node {node}");
}

/// `node` failed (see [`only_failure`]) with a reason that contains `part`.
fn assert_failure_mentions(sim: &Sim, node: usize, kind: Kind, part: &str) {
    let failure = only_failure(sim, node, kind);
    assert!(failure.contains(part), "node {node}: {failure}");
}

/// left presents `cert_file` (with left's RSA key) to right, which trusts the RSA CA: right
/// refuses it (`kind`) with `reason`, and left fails on right's AUTHENTICATION_FAILED.
fn left_certificate_refused(cert_file: &str, kind: Kind, reason: &str) -> Sim {
    let alice_auth = pubkey(cert_file, "left-rsa.key", &["ca-rsa.crt"]);
    let sim = run(alice_auth, LEFT_ID, right_rsa(), RIGHT_ID);
    assert_failure(&sim, RESPONDER, kind, reason);
    assert_failure_mentions(&sim, INITIATOR, rejected, "AUTHENTICATION_FAILED");
    sim
}

const LEFT_RSA: &str = "CN=left.ripsec.test, O=ripsec";
const RIGHT_RSA: &str = "CN=right.ripsec.test, O=ripsec";
const LEFT_EC: &str = "C=CH, O=ripsec, CN=left.ripsec.test";
const RIGHT_EC: &str = "C=CH, O=ripsec, CN=right.ripsec.test";

#[test]
fn rsa_with_fqdn_identities() {
    let sim = run(left_rsa(), LEFT_ID, right_rsa(), RIGHT_ID);
    assert_established(&sim, RIGHT_RSA, LEFT_RSA);
}

#[test]
fn ecdsa_with_dn_identities() {
    // The DNs are typed differently from the certificates' encoding (case, spaces).
    let sim = run(
        pubkey("left-ec.crt", "left-ec.key", &["ca-ec.crt"]),
        "c=ch,o=RIPSEC,cn=left.ripsec.test",
        pubkey("right-ec.crt", "right-ec.sec1.key", &["ca-ec.crt"]),
        "C=CH, O=ripsec, CN=right.ripsec.test",
    );
    assert_established(&sim, RIGHT_EC, LEFT_EC);
}

#[test]
fn mixed_rsa_and_ecdsa_with_address_identities() {
    let trusted = ["ca-rsa.crt", "ca-ec.crt"];
    let sim = run(
        pubkey("left-rsa.crt", "left-rsa.key", &trusted),
        "10.0.0.1",
        pubkey("right-ec.crt", "right-ec.sec1.key", &trusted),
        "10.0.0.2",
    );
    assert_established(&sim, RIGHT_EC, LEFT_RSA);
}

#[test]
fn p384_end_entity_sent_with_its_intermediate() {
    let bob_auth = Auth::PublicKey(Arc::new(credentials(
        "leaf-p384.crt",
        "leaf-p384.key",
        &["intermediate.crt"],
        &["ca-rsa.crt"],
    )));
    let sim = run(left_rsa(), "left@ripsec.test", bob_auth, "leaf.ripsec.test");
    assert_established(&sim, "CN=leaf.ripsec.test, O=ripsec", LEFT_RSA);
}

#[test]
fn ike_sa_init_carries_hash_algorithms_and_certreq() {
    let trusted = ["ca-rsa.crt", "ca-ec.crt"];
    let bob_auth = pubkey("right-ec.crt", "right-ec.sec1.key", &trusted);
    let sim = run(left_rsa(), LEFT_ID, bob_auth, RIGHT_ID);
    let request = Message::parse(&sim.sent[0].bytes).unwrap();
    let response = Message::parse(&sim.sent[1].bytes).unwrap();
    for message in [&request, &response] {
        let notify = message
            .notification(NotifyType::SIGNATURE_HASH_ALGORITHMS)
            .expect("SIGNATURE_HASH_ALGORITHMS");
        assert_eq!(notify.data, [0, 2, 0, 3, 0, 4]);
    }
    let certreq = |m: &Message| {
        m.payloads
            .iter()
            .filter_map(|p| match p {
                Payload::CertReq(c) => Some(c.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    // The initiator's CERTREQ travels in IKE_AUTH; the responder's in IKE_SA_INIT.
    assert!(certreq(&request).is_empty());
    let answer = certreq(&response);
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0].encoding, CertEncoding::X509_CERT_SIGNATURE);
    let mut hashes = fixture("ca-rsa.spki-sha1");
    hashes.extend(fixture("ca-ec.spki-sha1"));
    assert_eq!(answer[0].data, hashes);
}

#[test]
fn psk_only_ike_sa_init_is_unchanged() {
    let (alice, bob) = configs();
    let sim = exchange(alice, bob);
    for sent in &sim.sent[..2] {
        let message = Message::parse(&sent.bytes).unwrap();
        assert!(message
            .notification(NotifyType::SIGNATURE_HASH_ALGORITHMS)
            .is_none());
        assert!(!message
            .payloads
            .iter()
            .any(|p| matches!(p, Payload::CertReq(_))));
    }
    assert_eq!(sim.engines[INITIATOR].status()[0].auth, "psk");
}

#[test]
fn untrusted_ca_is_named_by_the_responder() {
    let sim = left_certificate_refused(
        "untrusted.crt",
        untrusted,
        "authentication failed: certificate 'CN=left.ripsec.test, O=ripsec' is not signed by a trusted CA: its issuer is 'CN=Other CA, O=elsewhere', we trust 'CN=ripsec test CA, O=ripsec'",
    );
    assert_failure(
        &sim,
        INITIATOR,
        rejected,
        "the peer rejected our authentication (AUTHENTICATION_FAILED): either it does not know our ID left.ripsec.test or it does not trust our certificate 'CN=left.ripsec.test, O=ripsec' (check its CA and our certificate's validity and SANs)",
    );
}

#[test]
fn untrusted_responder_is_named_by_the_initiator() {
    let alice_auth = pubkey("left-ec.crt", "left-ec.key", &["ca-ec.crt"]);
    let bob_auth = pubkey("right-rsa.crt", "right-rsa.pkcs1.key", &["ca-ec.crt"]);
    let sim = run(alice_auth, LEFT_ID, bob_auth, RIGHT_ID);
    assert_failure(
        &sim,
        INITIATOR,
        untrusted,
        "authentication failed: certificate 'CN=right.ripsec.test, O=ripsec' is not signed by a trusted CA: its issuer is 'CN=ripsec test CA, O=ripsec', we trust 'C=CH, O=ripsec, CN=ripsec ECDSA CA'",
    );
}

#[test]
fn expired_certificate_is_named() {
    left_certificate_refused(
        "expired.crt",
        untrusted,
        "authentication failed: certificate 'CN=left.ripsec.test, O=ripsec' expired on 2021-01-01 00:00:00 UTC",
    );
}

#[test]
fn id_not_in_certificate_is_named() {
    left_certificate_refused(
        "nosan.crt",
        not_in_certificate,
        "authentication failed: peer's ID left.ripsec.test is not in its certificate (subject 'CN=left.ripsec.test, O=ripsec', SANs none)",
    );
    // The responder claims an ID its certificate does not carry.
    let sim = run(left_rsa(), LEFT_ID, right_rsa(), "10.0.0.9");
    assert_failure(
        &sim,
        INITIATOR,
        not_in_certificate,
        "authentication failed: peer's ID 10.0.0.9 is not in its certificate (subject 'CN=right.ripsec.test, O=ripsec', SANs DNS:right.ripsec.test, IP:10.0.0.2)",
    );
}

#[test]
fn wrong_key_is_refused_before_any_exchange() {
    let e = PublicKeyAuth::new(
        cert("left-rsa.crt"),
        vec![],
        key("right-rsa.pkcs1.key"),
        vec![cert("ca-rsa.crt")],
    )
    .unwrap_err();
    assert_eq!(
        e,
        "the private key (RSA 2048) does not belong to certificate 'CN=left.ripsec.test, O=ripsec': its public key differs"
    );
}

#[test]
fn psk_initiator_meets_pubkey_responder() {
    let psk = Auth::Psk(Secret::from_slice(b"secret"));
    let (mut alice, bob) = configs_with(psk, LEFT_ID, right_rsa(), RIGHT_ID);
    alice.name = "psk".into();
    let sim = exchange(alice, bob);
    assert_failure(
        &sim,
        RESPONDER,
        |e| matches!(e, AuthError::NotSignature { .. }),
        "authentication failed: peer left.ripsec.test used a pre-shared key (SHARED_KEY_MESSAGE_INTEGRITY_CODE (2)), we expect a certificate signature (public-key authentication)",
    );
    assert_failure_mentions(&sim, INITIATOR, rejected, "or our pre-shared keys differ");
}

#[test]
fn pubkey_initiator_meets_psk_responder() {
    let psk = Auth::Psk(Secret::from_slice(b"secret"));
    let sim = run(left_rsa(), LEFT_ID, psk, RIGHT_ID);
    // A PSK-only responder sends no SIGNATURE_HASH_ALGORITHMS: the initiator signs with the
    // RFC 7296 method.
    assert_failure(
        &sim,
        RESPONDER,
        |e| matches!(e, AuthError::NotPsk { .. }),
        "authentication failed: peer left.ripsec.test used RSA_DIGITAL_SIGNATURE (1), we expect a pre-shared key",
    );
    assert_failure_mentions(&sim, INITIATOR, rejected, "does not trust our certificate");
}

#[test]
fn missing_wall_clock_is_an_internal_error() {
    let (alice, bob) = configs_with(left_rsa(), LEFT_ID, right_rsa(), RIGHT_ID);
    let mut sim = Sim::new(3, vec![bob], Faults::default());
    sim.engines[INITIATOR].set_wall_clock(NOW);
    let sim = sim.connect(alice);
    assert_failure(
        &sim,
        RESPONDER,
        |e| matches!(e, AuthError::NoWallClock { .. }),
        "internal error: no wall clock (Engine::set_wall_clock was never called), cannot check the validity of certificate 'CN=left.ripsec.test, O=ripsec' from peer left.ripsec.test",
    );
}

#[test]
fn auth_debug_output_hides_the_key() {
    let auth = pubkey("left-ec.crt", "left-ec.key", &["ca-ec.crt"]);
    let text = format!("{auth:?}");
    assert_eq!(
        text,
        "PublicKey(\"C=CH, O=ripsec, CN=left.ripsec.test\", 1 trusted)"
    );
    let pk = credentials("left-ec.crt", "left-ec.key", &[], &[]);
    let text = format!("{pk:?}");
    assert!(text.contains("PrivateKey(ECDSA P-256)"), "{text}");
    let pem = String::from_utf8(fixture("left-ec.key")).unwrap();
    let secret_line = pem.lines().nth(1).unwrap();
    assert!(!text.contains(secret_line));
}
