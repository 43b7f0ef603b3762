// SPDX-License-Identifier: GPL-2.0
//! Two engines complete IKE_SA_INIT + IKE_AUTH over a simulated network, with and without
//! loss, duplication and reordering.

mod common;
mod engine_sim;

use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

use engine_sim::*;
use ripsec_ike::crypto::{DhGroup, SkCipher, SkInteg};
use ripsec_ike::engine::{
    Error, EspCipher, EspInteg, EspProposal, IkeProposal, Mode, Output, RetransmitPolicy,
};
use ripsec_ike::keys::Prf;
use ripsec_ike::{Identity, Message, TrafficSelector};

#[test]
fn clean_handshake_takes_four_messages() {
    let (alice, bob) = configs();
    let sim = established(1, alice, bob);
    assert_eq!(
        sim.trace(),
        [
            "IKE_SA_INIT request 0",
            "IKE_SA_INIT response 0",
            "IKE_AUTH request 1",
            "IKE_AUTH response 1"
        ]
    );
    let child = sim.children(INITIATOR)[0];
    assert_eq!(
        child.cipher,
        EspCipher::AesGcm {
            key_bits: 256,
            icv: 16
        }
    );
    assert_eq!(child.mode, Mode::Tunnel);
    assert_eq!(child.outbound.encr_key.len(), 36);
    assert!(child.outbound.integ_key.is_empty());
    assert_eq!(child.ts_local, vec![net([10, 1, 0, 0], 255)]);
    assert_eq!(child.ts_remote, vec![net([10, 2, 0, 0], 255)]);
    // Established names the authenticated peer.
    assert!(sim.events[RESPONDER].iter().any(|e| matches!(
        e,
        Output::Established { peer_id: Identity::Fqdn(n), .. } if n == "alice.example"
    )));
    // IKE_AUTH travels encrypted: the PSK-derived AUTH and IDs are not in clear.
    let auth = Message::parse(&sim.sent[2].bytes).unwrap();
    assert_eq!(auth.payloads.len(), 1);
    assert!(auth.encrypted().is_some());
    assert_eq!(sim.engines[INITIATOR].next_timeout(), None);
}

#[test]
fn cbc_ecp256_transport_ipv6_ids() {
    let (mut alice, mut bob) = configs();
    let cbc = SkCipher::AesCbc {
        key_bits: 128,
        integ: SkInteg::Sha256_128,
    };
    for c in [&mut alice, &mut bob] {
        c.ike_proposals = vec![ike(cbc, DhGroup::Ecp256)];
        c.children[0].esp_proposals = vec![EspProposal { cipher: cbc.into() }];
        c.children[0].mode = Mode::Transport;
    }
    alice.local_id = Identity::Ipv6(Ipv6Addr::LOCALHOST);
    bob.remote_id = Identity::Ipv6(Ipv6Addr::LOCALHOST);
    alice.remote_id = Identity::Ipv4([192, 0, 2, 2].into());
    bob.local_id = Identity::Ipv4([192, 0, 2, 2].into());
    let sim = established(2, alice, bob);
    let child = sim.children(RESPONDER)[0];
    assert_eq!(child.mode, Mode::Transport);
    assert_eq!(child.cipher, EspCipher::from(cbc));
    assert_eq!(child.outbound.encr_key.len(), 16);
    assert_eq!(child.outbound.integ_key.len(), 32);
    assert_eq!(sim.sent.len(), 4);
}

/// Each IKE integrity transform with the PRF strongSwan pairs with it (SHA-1 too, which a
/// configuration must name), AES-CBC with each key size: the IKE SA comes up, a rekey of it
/// too, and the Child SA gets the same integrity transform.
#[test]
fn every_ike_integrity_and_prf() {
    let suites = [
        (256, SkInteg::Sha1_96, Prf::HmacSha1),
        (256, SkInteg::Sha384_192, Prf::HmacSha384),
        (256, SkInteg::Sha512_256, Prf::HmacSha512),
        (256, SkInteg::Sha256_128, Prf::HmacSha1),
        (192, SkInteg::AesCmac96, Prf::AesCmac),
        (128, SkInteg::AesCmac96, Prf::HmacSha256),
        (192, SkInteg::Sha256_128, Prf::HmacSha256),
    ];
    for (seed, (key_bits, integ, prf)) in (60..).zip(suites) {
        let (mut alice, mut bob) = configs();
        let cbc = SkCipher::AesCbc { key_bits, integ };
        for c in [&mut alice, &mut bob] {
            c.ike_proposals = vec![IkeProposal {
                cipher: cbc,
                prf,
                dh: DhGroup::Ecp384,
            }];
            c.children[0].esp_proposals = vec![EspProposal { cipher: cbc.into() }];
        }
        let mut sim = established(seed, alice, bob);
        let (i, r) = assert_one_live_child(&sim);
        assert_eq!(i.cipher, EspCipher::from(cbc), "{integ:?}");
        assert_eq!(r.outbound.integ_key.len(), integ.key_len(), "{integ:?}");
        let now = sim.now;
        let id = sim.current_sa(INITIATOR).unwrap();
        sim.engines[INITIATOR].rekey_ike(now, id);
        sim.run();
        assert_eq!(
            sim.established(INITIATOR),
            1,
            "{integ:?} {prf:?}: IKE SA after its rekey"
        );
        assert!(
            sim.request_failures(INITIATOR).is_empty(),
            "{integ:?} {prf:?}"
        );
        assert_ne!(
            sim.current_sa(INITIATOR),
            Some(id),
            "{integ:?} {prf:?}: rekeyed"
        );
    }
}

#[test]
fn chacha20poly1305_and_null_sha256_child_sas() {
    let esp = |cipher| EspProposal { cipher };
    let gcm128 = EspCipher::AesGcm {
        key_bits: 128,
        icv: 16,
    };
    // Alice prefers AES-GCM, then ChaCha20-Poly1305; Bob allows NULL and ChaCha20-Poly1305.
    let (mut alice, mut bob) = configs();
    alice.children[0].esp_proposals = vec![esp(gcm128), esp(EspCipher::ChaCha20Poly1305)];
    bob.children[0].esp_proposals = vec![
        esp(EspCipher::Null {
            integ: EspInteg::Sha256_128,
        }),
        esp(EspCipher::ChaCha20Poly1305),
    ];
    let sim = established(4, alice, bob);
    let child = sim.children(RESPONDER)[0];
    assert_eq!(child.cipher, EspCipher::ChaCha20Poly1305);
    assert_eq!(child.inbound.encr_key.len(), 36);
    assert!(child.inbound.integ_key.is_empty());
    let status = sim.engines[INITIATOR].status();
    assert_eq!(status[0].children[0].cipher, "CHACHA20_POLY1305");

    // NULL + HMAC-SHA-256 in transport mode: integrity keys only.
    let (mut alice, mut bob) = configs();
    for c in [&mut alice, &mut bob] {
        c.children[0].esp_proposals = vec![esp(EspCipher::Null {
            integ: EspInteg::Sha256_128,
        })];
        c.children[0].mode = Mode::Transport;
    }
    let sim = established(5, alice, bob);
    let child = sim.children(INITIATOR)[0];
    assert_eq!(
        child.cipher,
        EspCipher::Null {
            integ: EspInteg::Sha256_128
        }
    );
    assert_eq!(child.mode, Mode::Transport);
    assert!(child.outbound.encr_key.is_empty());
    assert_eq!(child.outbound.integ_key.len(), 32);
    assert_ne!(
        child.outbound.integ_key.as_bytes(),
        child.inbound.integ_key.as_bytes()
    );
    let status = sim.engines[RESPONDER].status();
    assert_eq!(status[0].children[0].cipher, "NULL/HMAC_SHA2_256_128");
}

#[test]
fn modp2048_and_ipv4_ids() {
    let (mut alice, mut bob) = configs();
    for c in [&mut alice, &mut bob] {
        c.ike_proposals = vec![ike(SkCipher::AesGcm16 { key_bits: 128 }, DhGroup::Modp2048)];
    }
    alice.local_id = Identity::Ipv4([192, 0, 2, 1].into());
    bob.remote_id = Identity::Ipv4([192, 0, 2, 1].into());
    let sim = established(3, alice, bob);
    assert_eq!(sim.sent.len(), 4);
}

#[test]
fn responder_narrows_traffic_selectors() {
    let (mut alice, mut bob) = configs();
    // Alice asks for all of 10.0.0.0/8 on both sides; Bob allows two /24s.
    alice.children[0].ts_local = vec![
        net([10, 0, 0, 0], 255),
        TrafficSelector::ipv4([10, 0, 0, 0].into(), [10, 255, 255, 255].into()),
    ];
    alice.children[0].ts_remote = vec![TrafficSelector::ipv4(
        [10, 0, 0, 0].into(),
        [10, 255, 255, 255].into(),
    )];
    bob.children[0].ts_local = vec![net([10, 2, 0, 0], 255)];
    bob.children[0].ts_remote = vec![net([10, 1, 0, 0], 255)];
    let sim = established(4, alice, bob);
    let child = sim.children(INITIATOR)[0];
    assert_eq!(child.ts_local, vec![net([10, 1, 0, 0], 255)]);
    assert_eq!(child.ts_remote, vec![net([10, 2, 0, 0], 255)]);
}

#[test]
fn loss_of_each_message_is_recovered() {
    for lost in 0..4 {
        let (alice, bob) = configs();
        let faults = Faults {
            drop_indices: vec![lost],
            ..Faults::default()
        };
        let mut sim = Sim::new(10 + lost as u64, vec![bob], faults);
        sim.initiate(alice);
        sim.run();
        assert_matching_children(&sim);
        // A lost request costs one retransmission; a lost response also its repetition.
        let expected = if lost % 2 == 0 { 5 } else { 6 };
        assert_eq!(
            sim.sent.len(),
            expected,
            "message {lost} lost: {:?}",
            sim.trace()
        );
        // The retransmission came 0.5 s after the original.
        let original = lost - lost % 2;
        let retransmit = lost + 1;
        assert_eq!(sim.sent[retransmit].bytes, sim.sent[original].bytes);
        assert_eq!(
            sim.sent[retransmit].at,
            sim.sent[original].at + Duration::from_millis(500)
        );
        assert_eq!(sim.sent[retransmit].from, INITIATOR);
        if lost % 2 == 1 {
            // A lost response: the responder answered the retransmission from its cache.
            assert_eq!(sim.sent[lost].bytes, sim.sent[lost + 2].bytes);
        }
    }
}

#[test]
fn duplicates_are_answered_from_cache_without_state_change() {
    for duplicated in 0..4 {
        let (alice, bob) = configs();
        let faults = Faults {
            duplicate_indices: vec![duplicated],
            ..Faults::default()
        };
        let mut sim = Sim::new(20 + duplicated as u64, vec![bob], faults);
        sim.initiate(alice);
        sim.run();
        assert_matching_children(&sim);
        let expected = if duplicated % 2 == 0 { 5 } else { 4 };
        assert_eq!(
            sim.sent.len(),
            expected,
            "dup {duplicated}: {:?}",
            sim.trace()
        );
        if duplicated % 2 == 0 {
            // The duplicated request's answer is a byte-identical copy of the first one.
            assert_eq!(
                sim.sent[duplicated + 1].bytes,
                sim.sent[duplicated + 2].bytes
            );
        }
    }
}

#[test]
fn replayed_ike_auth_request_after_establishment_gets_cached_response() {
    let (alice, bob) = configs();
    let mut sim = established(30, alice, bob);
    let request = sim.sent[2].bytes.clone();
    let now = sim.now;
    sim.engines[RESPONDER].handle_datagram(now, addr(INITIATOR), addr(RESPONDER), &request);
    let out: Vec<Output> = std::iter::from_fn(|| sim.engines[RESPONDER].poll_output()).collect();
    assert_eq!(out.len(), 1);
    let Output::Send { to, bytes, .. } = &out[0] else {
        panic!("expected a Send, got {out:?}");
    };
    assert_eq!(*to, addr(INITIATOR));
    assert_eq!(bytes, &sim.sent[3].bytes);
    // The initiator ignores the late duplicate response.
    sim.engines[INITIATOR].handle_datagram(now, addr(RESPONDER), addr(INITIATOR), bytes);
    assert!(sim.engines[INITIATOR].poll_output().is_none());
    // A forged message from elsewhere is ignored too.
    let stranger: SocketAddr = "203.0.113.9:500".parse().unwrap();
    sim.engines[RESPONDER].handle_datagram(now, stranger, addr(RESPONDER), &[0u8; 10]);
    assert!(sim.engines[RESPONDER].poll_output().is_none());
}

#[test]
fn random_loss_duplication_and_reordering() {
    for seed in 0..40 {
        let (alice, bob) = configs();
        let faults = Faults {
            drop_percent: 25,
            duplicate_percent: 25,
            reorder: true,
            ..Faults::default()
        };
        let policy = RetransmitPolicy {
            initial_timeout: Duration::from_millis(500),
            max_transmissions: 12,
        };
        let mut sim = Sim::with_policy(100 + seed, vec![bob], faults, policy);
        sim.initiate(alice);
        sim.run();
        assert_matching_children(&sim);
    }
}

#[test]
fn total_loss_gives_up_after_backoff() {
    let (alice, bob) = configs();
    let faults = Faults {
        drop_percent: 100,
        ..Faults::default()
    };
    let mut sim = Sim::new(40, vec![bob], faults);
    sim.initiate(alice);
    sim.run();
    let times: Vec<u128> = sim.sent.iter().map(|s| s.at.as_millis()).collect();
    assert_eq!(times, [0, 500, 1500, 3500, 7500, 15500]);
    let failures = sim.failures(INITIATOR);
    assert_eq!(failures.len(), 1);
    assert_eq!(
        failures[0],
        Error::NoResponse {
            peer: addr(RESPONDER),
            transmissions: 6,
            message_id: 0
        }
    );
    assert!(
        failures[0]
            .to_string()
            .contains("no response from 192.0.2.2:500 after 6 transmissions"),
        "{failures:?}"
    );
    assert_eq!(sim.now, Duration::from_millis(31500));
    assert!(sim.children(INITIATOR).is_empty());
}
