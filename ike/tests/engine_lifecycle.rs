// SPDX-License-Identifier: GPL-2.0
//! Two engines after IKE_AUTH: INFORMATIONAL (DELETE, liveness checks), CREATE_CHILD_SA
//! (Child SA rekeys with and without PFS, collisions, new Child SAs), IKE SA rekeys, the SPI
//! allocator hook, half-open cleanup and COOKIE.

mod common;
mod engine_sim;

use std::net::IpAddr;
use std::time::Duration;

use engine_sim::*;
use ripsec_ike::crypto::DhGroup;
use ripsec_ike::engine::{
    ChildContext, ChildError, ChildOp, ChildSa, CloseReason, Config, Error, EspCipher, EspInteg,
    EspProposal, Mode, OurRequest, Output, RefusalDetail, RetransmitPolicy, Role, SaId,
    SpiAllocator, SpiError, HALF_OPEN_TIMEOUT,
};
use ripsec_ike::{ExchangeType, Message, NotifyType, Payload};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `node` asks for a new Child SA on its current IKE SA now, and the network runs.
fn create_child(sim: &mut Sim, node: usize) {
    let now = sim.now;
    let id = sa(sim, node);
    sim.engines[node].create_child(now, id, 0);
    sim.run();
}

fn sa(sim: &Sim, node: usize) -> SaId {
    sim.current_sa(node).expect("an established IKE SA")
}

fn first_inbound(sim: &Sim, node: usize) -> u32 {
    sim.live(node)[0].1.inbound.spi
}

fn count(sim: &Sim, node: usize, pred: impl Fn(&Output) -> bool) -> usize {
    sim.events[node].iter().filter(|e| pred(e)).count()
}

/// How many `IkeRekeyed` outputs `node` gave.
fn ike_rekeys(sim: &Sim, node: usize) -> usize {
    count(sim, node, |e| matches!(e, Output::IkeRekeyed { .. }))
}

/// [`configs`] with PFS on or off on both sides.
fn configs_with_pfs(pfs: bool) -> (Config, Config) {
    let (mut alice, mut bob) = configs();
    alice.children[0].pfs = pfs;
    bob.children[0].pfs = pfs;
    (alice, bob)
}

/// `node` starts a rekey of its first Child SA now (without running the network); returns the
/// inbound SPI of the Child SA being rekeyed.
fn start_child_rekey(sim: &mut Sim, node: usize) -> u32 {
    let now = sim.now;
    let id = sa(sim, node);
    let spi = first_inbound(sim, node);
    sim.engines[node].rekey_child(now, id, spi);
    spi
}

/// `node` deletes its current IKE SA now, and the network runs; returns the deleted SA.
fn delete_ike(sim: &mut Sim, node: usize) -> SaId {
    let now = sim.now;
    let id = sa(sim, node);
    sim.engines[node].delete(now, id);
    sim.run();
    id
}

/// Both sides closed their IKE SA once and have nothing left in their tables.
fn assert_both_closed(sim: &Sim, context: &str) {
    for node in [INITIATOR, RESPONDER] {
        let closed = sim.closed(node);
        assert_eq!(closed.len(), 1, "node {node}: {context}: {closed:?}");
        assert!(
            sim.engines[node].status().is_empty(),
            "node {node}: {context}"
        );
    }
}

/// A handshake with a patient retransmit policy over a clean network, run until `settled`;
/// then the network turns lossy (20 % loss, 20 % duplication, reordering).
fn established_then_lossy(seed: u64, alice: Config, bob: Config, settled: Duration) -> Sim {
    let policy = RetransmitPolicy {
        initial_timeout: Duration::from_millis(500),
        max_transmissions: 12,
    };
    let mut sim = Sim::with_policy(seed, vec![bob], Faults::default(), policy);
    sim.initiate(alice);
    sim.run_until(settled);
    assert_matching_children(&sim);
    sim.faults = Faults::lossy(20);
    sim
}

#[test]
fn delete_from_initiator_removes_everything_on_both_sides() {
    let (alice, bob) = configs();
    let mut sim = established(50, alice, bob);
    let id = delete_ike(&mut sim, INITIATOR);
    assert_eq!(
        sim.trace()[4..],
        ["INFORMATIONAL request 2", "INFORMATIONAL response 2"]
    );
    let i = sim.closed(INITIATOR);
    let r = sim.closed(RESPONDER);
    assert_eq!(i.len(), 1);
    assert!(matches!(i[0], CloseReason::DeletedByUs { .. }), "{i:?}");
    assert!(i[0].to_string().contains("we deleted the IKE SA"), "{i:?}");
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0],
        CloseReason::DeletedByPeer {
            peer: addr(INITIATOR)
        }
    );
    assert!(
        r[0].to_string()
            .contains("the peer 192.0.2.1:500 deleted the IKE SA"),
        "{r:?}"
    );
    assert!(sim.live(INITIATOR).is_empty() && sim.live(RESPONDER).is_empty());
    assert!(sim.engines[INITIATOR].status().is_empty());
    assert!(sim.engines[RESPONDER].status().is_empty());
    // Deleting again is a no-op.
    let now = sim.now;
    sim.engines[INITIATOR].delete(now, id);
    assert!(sim.engines[INITIATOR].poll_output().is_none());
}

#[test]
fn delete_from_responder_uses_its_own_message_ids() {
    let (alice, bob) = configs();
    let mut sim = established(51, alice, bob);
    delete_ike(&mut sim, RESPONDER);
    assert_eq!(
        sim.trace()[4..],
        ["INFORMATIONAL request 0", "INFORMATIONAL response 0"]
    );
    assert_both_closed(&sim, "the responder deleted the IKE SA");
}

#[test]
fn lost_delete_response_is_answered_from_cache() {
    let (alice, bob) = configs();
    let mut sim = Sim::new(52, vec![bob], Faults::dropping([5])).connect(alice);
    delete_ike(&mut sim, INITIATOR);
    assert_eq!(
        sim.trace()[4..],
        [
            "INFORMATIONAL request 2",
            "INFORMATIONAL response 2",
            "INFORMATIONAL request 2",
            "INFORMATIONAL response 2"
        ]
    );
    assert_eq!(sim.sent[5].bytes, sim.sent[7].bytes);
    let closed = sim.closed(INITIATOR);
    assert!(matches!(closed[0], CloseReason::DeletedByUs { .. }));
    assert!(closed[0].to_string().contains("we deleted"));
    assert_eq!(sim.closed(RESPONDER).len(), 1);
    // The responder forgot the closed IKE SA after a while.
    assert!(sim.engines[RESPONDER].status().is_empty());
    assert_eq!(sim.engines[RESPONDER].next_timeout(), None);
}

#[test]
fn unanswered_delete_still_closes() {
    let (alice, bob) = configs();
    let mut sim = established(53, alice, bob);
    sim.faults.drop_percent = 100;
    delete_ike(&mut sim, INITIATOR);
    let closed = sim.closed(INITIATOR);
    assert_eq!(closed.len(), 1);
    assert!(
        matches!(
            closed[0],
            CloseReason::NoAnswer {
                request: OurRequest::DeleteIke,
                ..
            }
        ),
        "{closed:?}"
    );
    assert!(
        closed[0]
            .to_string()
            .contains("no answer from 192.0.2.2:500 to the DELETE of the IKE SA"),
        "{closed:?}"
    );
    assert!(sim.engines[INITIATOR].status().is_empty());
}

#[test]
fn dpd_detects_a_silent_peer() {
    let (mut alice, bob) = configs();
    alice.dpd_delay = Some(secs(10));
    let mut sim = Sim::new(54, vec![bob], Faults::default());
    sim.initiate(alice);
    sim.run_until(secs(35));
    // A quiet but alive peer: a liveness check every 10 s, answered.
    assert!(sim.closed(INITIATOR).is_empty());
    let checks: Vec<_> = sim
        .sent
        .iter()
        .filter(|s| s.from == INITIATOR)
        .skip(2)
        .map(|s| s.at.as_secs())
        .collect();
    assert_eq!(checks, [10, 20, 30]);
    assert_eq!(sim.trace()[4], "INFORMATIONAL request 2");
    assert_eq!(sim.trace()[9], "INFORMATIONAL response 4");
    assert_eq!(sim.engines[INITIATOR].next_timeout(), Some(secs(40)));
    // The responder goes silent.
    sim.faults.drop_percent = 100;
    sim.run();
    let closed = sim.closed(INITIATOR);
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(
        closed[0],
        CloseReason::NoAnswer {
            peer: addr(RESPONDER),
            request: OurRequest::Liveness,
            transmissions: 6
        }
    );
    let closed = texts(&closed);
    assert!(
        closed[0]
            .contains("no answer from 192.0.2.2:500 to a liveness check after 6 transmissions"),
        "{closed:?}"
    );
    assert!(closed[0].contains("unreachable or lost the IKE SA"));
    assert_eq!(sim.now, secs(40) + Duration::from_millis(31500));
    assert!(sim.engines[INITIATOR].status().is_empty());
    assert!(sim.closed(RESPONDER).is_empty());
}

#[test]
fn peer_traffic_postpones_dpd() {
    let (mut alice, mut bob) = configs();
    alice.dpd_delay = Some(secs(10));
    bob.dpd_delay = Some(secs(4));
    let mut sim = Sim::new(55, vec![bob], Faults::default());
    sim.initiate(alice);
    sim.run_until(secs(30));
    // Bob's checks every 4 s keep Alice from ever sending one.
    assert!(sim.sent.iter().skip(4).all(|s| {
        let m = Message::parse(&s.bytes).unwrap();
        m.flags.response == (s.from == INITIATOR)
    }));
    assert!(sim.sent.len() > 10);
}

fn rekey_child_case(seed: u64, pfs: bool, from: usize) {
    let (alice, bob) = configs_with_pfs(pfs);
    let mut sim = established(seed, alice, bob);
    let (old_i, old_r) = assert_one_live_child(&sim);
    start_child_rekey(&mut sim, from);
    sim.run();
    let request_id = if from == INITIATOR { 2 } else { 0 };
    assert_eq!(
        sim.trace()[4..],
        [
            format!("CREATE_CHILD_SA request {request_id}"),
            format!("CREATE_CHILD_SA response {request_id}"),
            format!("INFORMATIONAL request {}", request_id + 1),
            format!("INFORMATIONAL response {}", request_id + 1),
        ]
    );
    let (new_i, new_r) = assert_one_live_child(&sim);
    assert_ne!(new_i.inbound.spi, old_i.inbound.spi);
    assert_ne!(
        new_i.outbound.encr_key.as_bytes(),
        old_i.outbound.encr_key.as_bytes()
    );
    assert_eq!(
        sim.removed(INITIATOR),
        [(old_i.inbound.spi, old_i.outbound.spi)]
    );
    assert_eq!(
        sim.removed(RESPONDER),
        [(old_r.inbound.spi, old_r.outbound.spi)]
    );
    // The new inbound SA is installed before the old one is removed.
    for node in [INITIATOR, RESPONDER] {
        let install = sim.events[node]
            .iter()
            .rposition(|e| matches!(e, Output::InstallChild { .. }))
            .unwrap();
        let remove = sim.events[node]
            .iter()
            .position(|e| matches!(e, Output::RemoveChild { .. }))
            .unwrap();
        assert!(install < remove);
    }
    assert_eq!(new_r.ts_local, old_r.ts_local);
    assert!(sim.request_failures(INITIATOR).is_empty());
    assert!(sim.request_failures(RESPONDER).is_empty());
    // The engines' tables agree with the outputs.
    let status = sim.engines[INITIATOR].status();
    assert_eq!(status[0].children.len(), 1);
    assert_eq!(status[0].children[0].inbound_spi, new_i.inbound.spi);
}

#[test]
fn child_rekey_without_pfs_from_initiator() {
    rekey_child_case(60, false, INITIATOR);
}

#[test]
fn child_rekey_with_pfs_from_initiator() {
    rekey_child_case(61, true, INITIATOR);
}

#[test]
fn child_rekey_with_pfs_from_responder() {
    rekey_child_case(62, true, RESPONDER);
}

#[test]
fn pfs_mismatch_is_refused_and_the_old_child_stays() {
    let (alice, mut bob) = configs();
    bob.children[0].pfs = true;
    let mut sim = established(63, alice, bob);
    start_child_rekey(&mut sim, INITIATOR);
    sim.run();
    assert_one_live_child(&sim);
    let i = sim.request_failures(INITIATOR);
    assert_eq!(i.len(), 1);
    assert!(
        matches!(
            &i[0],
            Error::Child {
                context: ChildContext::Answered(ChildOp::Rekey(_)),
                error: ChildError::PeerRefused {
                    notify: NotifyType::NO_PROPOSAL_CHOSEN,
                    detail: RefusalDetail::Offered(_, _)
                }
            }
        ),
        "{i:?}"
    );
    let i = texts(&i);
    assert!(i[0].contains("NO_PROPOSAL_CHOSEN"), "{i:?}");
    assert!(i[0].contains("we offered ESP"), "{i:?}");
    let r = sim.request_failures(RESPONDER);
    assert_eq!(r.len(), 1);
    assert!(
        matches!(
            &r[0],
            Error::Child {
                context: ChildContext::Refused,
                error: ChildError::NoProposalChosen { .. }
            }
        ),
        "{r:?}"
    );
    assert!(r[0].to_string().contains("no common DH"), "{r:?}");
}

#[test]
fn responder_without_pfs_accepts_a_pfs_rekey() {
    let (mut alice, bob) = configs();
    alice.children[0].pfs = true;
    let mut sim = established(64, alice, bob);
    let spi = start_child_rekey(&mut sim, INITIATOR);
    sim.run();
    let (new_i, _) = assert_one_live_child(&sim);
    assert_ne!(new_i.inbound.spi, spi);
    assert!(sim.request_failures(RESPONDER).is_empty());
}

#[test]
fn ecp256_transport_rekey_keeps_mode() {
    let (mut alice, mut bob) = configs();
    for c in [&mut alice, &mut bob] {
        c.ike_proposals = vec![ike(gcm256(), DhGroup::Ecp256)];
        c.children[0].mode = Mode::Transport;
        c.children[0].pfs = true;
    }
    let mut sim = established(65, alice, bob);
    start_child_rekey(&mut sim, RESPONDER);
    sim.run();
    let (new_i, _) = assert_one_live_child(&sim);
    assert_eq!(new_i.mode, Mode::Transport);
}

#[test]
fn every_other_group_ike_sa_and_pfs_child_rekey_then_ike_rekey() {
    for (seed, group, id, ke_len) in [
        (67, DhGroup::Ecp384, 20, 96),
        (68, DhGroup::Ecp521, 21, 132),
        (69, DhGroup::Modp3072, 15, 384),
        (70, DhGroup::Modp4096, 16, 512),
        (71, DhGroup::Curve448, 32, 56),
        (72, DhGroup::Modp1024, 2, 128),
        (73, DhGroup::Modp1536, 5, 192),
    ] {
        let (mut alice, mut bob) = configs();
        for c in [&mut alice, &mut bob] {
            c.ike_proposals = vec![ike(gcm256(), group)];
            c.children[0].pfs = true;
        }
        let mut sim = established(seed, alice, bob);
        // IKE_SA_INIT carries the public value x || y.
        let init = ripsec_ike::Message::parse(&sim.sent[0].bytes).unwrap();
        assert!(init.payloads.iter().any(|p| matches!(
            p,
            ripsec_ike::Payload::Ke(ke) if ke.group == id && ke.data.len() == ke_len
        )));
        let spi = start_child_rekey(&mut sim, INITIATOR);
        sim.run();
        let (new_i, _) = assert_one_live_child(&sim);
        assert_ne!(new_i.inbound.spi, spi, "{group:?}");
        let now = sim.now;
        let old = sa(&sim, INITIATOR);
        assert!(sim.engines[INITIATOR].rekey_ike(now, old).is_some());
        sim.run();
        assert_eq!(ike_rekeys(&sim, INITIATOR), 1, "{group:?}");
        assert!(sim.request_failures(RESPONDER).is_empty(), "{group:?}");
    }
}

#[test]
fn chacha20poly1305_null_and_aes_mac_children_rekey_with_pfs() {
    for (seed, cipher) in [
        (66, EspCipher::ChaCha20Poly1305),
        (
            67,
            EspCipher::Null {
                integ: EspInteg::Sha256_128,
            },
        ),
        (
            68,
            EspCipher::AesCbc {
                key_bits: 192,
                integ: EspInteg::AesXcbc96,
            },
        ),
        (
            69,
            EspCipher::Null {
                integ: EspInteg::AesCmac96,
            },
        ),
        (
            70,
            EspCipher::Ah {
                integ: EspInteg::AesXcbc96,
            },
        ),
    ] {
        let (mut alice, mut bob) = configs();
        for c in [&mut alice, &mut bob] {
            c.children[0].esp_proposals = vec![EspProposal { cipher }];
            c.children[0].pfs = true;
        }
        let mut sim = established(seed, alice, bob);
        let (old_i, _) = assert_one_live_child(&sim);
        start_child_rekey(&mut sim, RESPONDER);
        sim.run();
        let (new_i, new_r) = assert_one_live_child(&sim);
        assert_ne!(new_i.inbound.spi, old_i.inbound.spi, "{cipher:?}");
        assert_eq!((new_i.cipher, new_r.cipher), (cipher, cipher));
        assert_eq!(new_i.outbound.encr_key.len(), cipher.encr_key_len());
        assert_eq!(new_i.outbound.integ_key.len(), cipher.integ_key_len());
        let keys = |c: &ChildSa| {
            [
                c.outbound.encr_key.as_bytes(),
                c.outbound.integ_key.as_bytes(),
            ]
            .concat()
        };
        assert_ne!(keys(&new_i), keys(&old_i), "{cipher:?}");
        assert!(sim.request_failures(INITIATOR).is_empty(), "{cipher:?}");
        assert!(sim.request_failures(RESPONDER).is_empty(), "{cipher:?}");
    }
}

#[test]
fn simultaneous_rekeys_end_with_exactly_one_new_child() {
    for seed in 0..12 {
        for pfs in [false, true] {
            let (alice, bob) = configs_with_pfs(pfs);
            let mut sim = established(70 + seed, alice, bob);
            let (old_i, _) = assert_one_live_child(&sim);
            for node in [INITIATOR, RESPONDER] {
                start_child_rekey(&mut sim, node);
            }
            sim.run();
            let (new_i, _) = assert_one_live_child(&sim);
            assert_ne!(new_i.inbound.spi, old_i.inbound.spi);
            // Each side saw two new Child SAs and removed the old and the redundant one.
            for node in [INITIATOR, RESPONDER] {
                let installs = count(&sim, node, |e| matches!(e, Output::InstallChild { .. }));
                assert_eq!(installs, 3, "seed {seed}: {:?}", sim.trace());
                assert_eq!(sim.removed(node).len(), 2);
                assert!(sim.request_failures(node).is_empty());
                assert_eq!(sim.engines[node].status()[0].children.len(), 1);
            }
        }
    }
}

#[test]
fn rekey_and_delete_with_loss_duplication_and_reordering() {
    for seed in 0..20 {
        let (alice, bob) = configs_with_pfs(seed % 2 == 0);
        let mut sim = established_then_lossy(200 + seed, alice, bob, secs(600));
        for node in [INITIATOR, RESPONDER] {
            if seed % 3 == 0 || node == INITIATOR {
                start_child_rekey(&mut sim, node);
            }
        }
        sim.run();
        assert_one_live_child(&sim);
        delete_ike(&mut sim, RESPONDER);
        assert_both_closed(&sim, &format!("seed {seed}"));
        assert!(sim.live(INITIATOR).is_empty() && sim.live(RESPONDER).is_empty());
    }
}

#[test]
fn delete_child_from_either_side() {
    let (alice, bob) = configs();
    let mut sim = established(80, alice, bob);
    create_child(&mut sim, INITIATOR);
    assert_eq!(sim.live(INITIATOR).len(), 2);
    assert_eq!(sim.live(RESPONDER).len(), 2);
    let now = sim.now;
    let id = sa(&sim, RESPONDER);
    let spi = first_inbound(&sim, RESPONDER);
    sim.engines[RESPONDER].delete_child(now, id, spi);
    sim.run();
    assert_one_live_child(&sim);
    assert_eq!(sim.removed(RESPONDER)[0].0, spi);
    assert_eq!(sim.removed(INITIATOR)[0].1, spi);
    // Both delete the remaining one at the same time.
    let now = sim.now;
    for node in [INITIATOR, RESPONDER] {
        let id = sa(&sim, node);
        let spi = first_inbound(&sim, node);
        sim.engines[node].delete_child(now, id, spi);
    }
    sim.run();
    assert!(sim.live(INITIATOR).is_empty() && sim.live(RESPONDER).is_empty());
    assert_eq!(sim.removed(INITIATOR).len(), 2);
    assert_eq!(sim.removed(RESPONDER).len(), 2);
    // The IKE SA is still usable.
    create_child(&mut sim, INITIATOR);
    assert_one_live_child(&sim);
}

#[test]
fn rekey_of_a_child_the_responder_no_longer_has_gets_child_sa_not_found() {
    let (alice, bob) = configs();
    let mut sim = established(81, alice, bob);
    let now = sim.now;
    let spi = first_inbound(&sim, INITIATOR);
    let id = sa(&sim, INITIATOR);
    // The rekey request is held back while the responder deletes the Child SA.
    sim.faults.hold_indices = vec![4];
    sim.engines[INITIATOR].rekey_child(now, id, spi);
    let id_r = sa(&sim, RESPONDER);
    let spi_r = first_inbound(&sim, RESPONDER);
    sim.engines[RESPONDER].delete_child(now, id_r, spi_r);
    sim.run_until(now + Duration::from_millis(100));
    assert!(sim.live(RESPONDER).is_empty());
    sim.release_held();
    sim.run();
    let r = sim.request_failures(RESPONDER);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(
        matches!(
            &r[0],
            Error::Child {
                context: ChildContext::Refused,
                error: ChildError::UnknownChild { .. }
            }
        ),
        "{r:?}"
    );
    assert!(r[0].to_string().contains("which we do not have"), "{r:?}");
    // The initiator knows it deleted the Child SA: nothing to report, nothing installed.
    assert!(sim.request_failures(INITIATOR).is_empty());
    assert!(sim.live(INITIATOR).is_empty());
    assert!(sim.engines[INITIATOR].status()[0].children.is_empty());
}

#[test]
fn ike_rekey_moves_children_and_the_new_sa_works() {
    for from in [INITIATOR, RESPONDER] {
        let (alice, bob) = configs_with_pfs(true);
        let mut sim = established(90 + from as u64, alice, bob);
        let (old_child, _) = assert_one_live_child(&sim);
        let now = sim.now;
        let old = sa(&sim, from);
        let new = sim.engines[from]
            .rekey_ike(now, old)
            .expect("rekey started");
        assert_ne!(new, old);
        sim.run();
        let request_id = if from == INITIATOR { 2 } else { 0 };
        assert_eq!(
            sim.trace()[4..],
            [
                format!("CREATE_CHILD_SA request {request_id}"),
                format!("CREATE_CHILD_SA response {request_id}"),
                format!("INFORMATIONAL request {}", request_id + 1),
                format!("INFORMATIONAL response {}", request_id + 1),
            ]
        );
        for node in [INITIATOR, RESPONDER] {
            assert_eq!(ike_rekeys(&sim, node), 1);
            assert!(sim.closed(node).is_empty(), "{:?}", sim.closed(node));
            assert!(sim.removed(node).is_empty());
            let status = sim.engines[node].status();
            assert_eq!(status.len(), 1, "{status:?}");
            assert_eq!(status[0].state, "established");
            assert_eq!(status[0].children.len(), 1);
            let expected = if node == from {
                Role::Initiator
            } else {
                Role::Responder
            };
            assert_eq!(status[0].role, expected);
        }
        assert_eq!(sa(&sim, from), new);
        let (child, _) = assert_one_live_child(&sim);
        assert_eq!(child.inbound.spi, old_child.inbound.spi);
        let i_status = &sim.engines[INITIATOR].status()[0];
        let r_status = &sim.engines[RESPONDER].status()[0];
        assert_eq!(i_status.local_spi, r_status.remote_spi);
        assert_eq!(i_status.remote_spi, r_status.local_spi);

        // The new IKE SA carries a child rekey (message IDs restart at 0) and a DELETE:
        // both engines derived the same keys.
        let sent_before = sim.sent.len();
        start_child_rekey(&mut sim, 1 - from);
        sim.run();
        assert_eq!(
            sim.trace()[sent_before..],
            [
                "CREATE_CHILD_SA request 0",
                "CREATE_CHILD_SA response 0",
                "INFORMATIONAL request 1",
                "INFORMATIONAL response 1"
            ]
        );
        let (rekeyed, _) = assert_one_live_child(&sim);
        assert_ne!(rekeyed.inbound.spi, child.inbound.spi);
        delete_ike(&mut sim, from);
        assert_both_closed(&sim, &format!("from {from}"));
    }
}

#[test]
fn rekey_ike_on_unknown_sa_is_none() {
    let (alice, bob) = configs();
    let mut sim = established(95, alice, bob);
    let now = sim.now;
    assert_eq!(sim.engines[INITIATOR].rekey_ike(now, SaId(999)), None);
    sim.engines[INITIATOR].rekey_child(now, SaId(999), 1);
    sim.engines[INITIATOR].delete(now, SaId(999));
    let id = sa(&sim, INITIATOR);
    sim.engines[INITIATOR].rekey_child(now, id, 12345);
    assert!(sim.engines[INITIATOR].poll_output().is_none());
}

struct Counter(u32, Option<String>);

impl SpiAllocator for Counter {
    fn allocate(&mut self, peer: IpAddr) -> Result<u32, String> {
        if let Some(e) = &self.1 {
            return Err(e.clone());
        }
        assert!(peer == addr(0).ip() || peer == addr(1).ip());
        self.0 += 1;
        Ok(self.0)
    }
}

#[test]
fn spi_allocator_chooses_inbound_spis() {
    let (alice, bob) = configs();
    let mut sim = Sim::new(100, vec![bob], Faults::default());
    sim.engines[INITIATOR].set_spi_allocator(Box::new(Counter(0x1000, None)));
    sim.engines[RESPONDER].set_spi_allocator(Box::new(Counter(0x2000, None)));
    sim.initiate(alice);
    sim.run();
    let (i, r) = assert_one_live_child(&sim);
    assert_eq!(i.inbound.spi, 0x1001);
    assert_eq!(r.inbound.spi, 0x2001);
    let now = sim.now;
    let id = sa(&sim, INITIATOR);
    sim.engines[INITIATOR].rekey_child(now, id, 0x1001);
    sim.run();
    let (i, r) = assert_one_live_child(&sim);
    assert_eq!(i.inbound.spi, 0x1002);
    assert_eq!(r.inbound.spi, 0x2002);
}

#[test]
fn spi_allocation_failure_fails_the_negotiation() {
    // Responder side: IKE_AUTH answers NO_PROPOSAL_CHOSEN.
    let (alice, bob) = configs();
    let mut sim = Sim::new(101, vec![bob], Faults::default());
    sim.engines[RESPONDER].set_spi_allocator(Box::new(Counter(0, Some("netlink says no".into()))));
    sim.initiate(alice);
    sim.run();
    assert!(sim.children(INITIATOR).is_empty());
    let r = sim.failures(RESPONDER);
    assert!(
        matches!(
            &r[0],
            Error::Child {
                context: ChildContext::RefusedInAuth { .. },
                error: ChildError::Spi(SpiError::Refused(e))
            } if e == "netlink says no"
        ),
        "{r:?}"
    );
    assert!(
        r[0].to_string()
            .contains("cannot allocate an inbound SPI: netlink says no"),
        "{r:?}"
    );
    let i = sim.failures(INITIATOR);
    assert!(matches!(
        &i[0],
        Error::Child {
            context: ChildContext::AnsweredInAuth { .. },
            error: ChildError::PeerRefused {
                notify: NotifyType::NO_PROPOSAL_CHOSEN,
                ..
            }
        }
    ));
    assert!(i[0].to_string().contains("NO_PROPOSAL_CHOSEN"));
    // Initiator side: fails at once, nothing sent, nothing kept.
    let (alice, bob) = configs();
    let mut sim = Sim::new(102, vec![bob], Faults::default());
    sim.engines[INITIATOR].set_spi_allocator(Box::new(Counter(0, Some("no SPI".into()))));
    sim.initiate(alice);
    sim.run();
    assert!(sim.sent.is_empty());
    let i = sim.failures(INITIATOR);
    assert_eq!(i[0], Error::Spi(SpiError::Refused("no SPI".into())));
    assert!(i[0].to_string().contains("no SPI"));
    assert!(sim.engines[INITIATOR].status().is_empty());
}

#[test]
fn half_open_and_failed_sas_are_forgotten() {
    let (alice, bob) = configs();
    // Every IKE_AUTH request is lost.
    let mut sim = Sim::new(110, vec![bob], Faults::dropping(2..10));
    sim.initiate(alice);
    sim.run_until(secs(10));
    assert_eq!(sim.engines[INITIATOR].status().len(), 1);
    let r = sim.engines[RESPONDER].status();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].state, "authenticating");
    assert_eq!(r[0].role, Role::Responder);
    assert_eq!(
        sim.engines[RESPONDER].next_timeout(),
        Some(HALF_OPEN_TIMEOUT)
    );
    sim.run();
    assert!(sim.engines[RESPONDER].status().is_empty());
    assert!(sim.engines[INITIATOR].status().is_empty());
    assert_eq!(sim.failures(INITIATOR).len(), 1);
    assert!(sim.failures(RESPONDER).is_empty());
    assert_eq!(sim.engines[INITIATOR].next_timeout(), None);
    assert_eq!(sim.engines[RESPONDER].next_timeout(), None);
}

#[test]
fn cookie_round_trip() {
    let (alice, bob) = configs();
    let mut sim = Sim::new(120, vec![bob], Faults::default());
    sim.engines[RESPONDER].set_cookie_threshold(0);
    sim.initiate(alice);
    sim.run();
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
    let demand = Message::parse(&sim.sent[1].bytes).unwrap();
    assert_eq!(demand.spi_r, [0; 8]);
    let cookie = demand
        .notification(NotifyType::COOKIE)
        .unwrap()
        .data
        .clone();
    assert!(!cookie.is_empty());
    let retry = Message::parse(&sim.sent[2].bytes).unwrap();
    match &retry.payloads[0] {
        Payload::Notify(n) => {
            assert_eq!(n.notify_type, NotifyType::COOKIE);
            assert_eq!(n.data, cookie);
        }
        other => panic!("COOKIE must come first, got {other:?}"),
    }
}

#[test]
fn duplicate_cookie_demands_are_answered_once() {
    // The first request and the COOKIE answer are both duplicated: three identical demands
    // reach the initiator, which resends with the cookie once and sets up the IKE SA.
    let (alice, bob) = configs();
    let faults = Faults {
        duplicate_indices: vec![0, 1],
        ..Faults::default()
    };
    let mut sim = Sim::new(123, vec![bob], faults);
    sim.engines[RESPONDER].set_cookie_threshold(0);
    sim.initiate(alice);
    sim.run();
    assert_matching_children(&sim);
    let with_cookie = sim
        .sent
        .iter()
        .filter_map(|d| Message::parse(&d.bytes).ok())
        .filter(|m| m.exchange_type == ExchangeType::IKE_SA_INIT && !m.flags.response)
        .filter(|m| m.notification(NotifyType::COOKIE).is_some())
        .count();
    assert_eq!(with_cookie, 1, "{:?}", sim.trace());
}

#[test]
fn cookie_demanded_only_above_the_threshold() {
    let (alice, bob) = configs();
    let mut sim = Sim::new(121, vec![bob], Faults::default());
    sim.engines[RESPONDER].set_cookie_threshold(1);
    sim.initiate(alice.clone());
    sim.run();
    assert_eq!(sim.sent.len(), 4, "no half-open SA: no cookie");
    let responder = &sim.engines[RESPONDER];
    assert_eq!(responder.cookie_threshold(), 1);
    assert_eq!(
        (responder.half_open(), responder.cookies_demanded()),
        (0, false)
    );
    // A half-open SA exists while the second initiator talks.
    let (alice, bob) = configs();
    let mut sim = Sim::new(122, vec![bob], Faults::holding([2]));
    sim.engines[RESPONDER].set_cookie_threshold(1);
    sim.initiate(alice.clone());
    sim.run_until(Duration::from_millis(100));
    let responder = &sim.engines[RESPONDER];
    assert_eq!(
        (responder.half_open(), responder.cookies_demanded()),
        (1, true)
    );
    let now = sim.now;
    sim.engines[INITIATOR].initiate(now, alice, addr(RESPONDER), addr(INITIATOR));
    sim.run_until(Duration::from_millis(200));
    // sent[2] is the first initiator's held IKE_AUTH request.
    let trace = sim.trace();
    assert_eq!(
        trace[3..5],
        ["IKE_SA_INIT request 0", "IKE_SA_INIT response 0"]
    );
    assert!(Message::parse(&sim.sent[4].bytes)
        .unwrap()
        .notification(NotifyType::COOKIE)
        .is_some());
    assert_eq!(
        trace[5..],
        [
            "IKE_SA_INIT request 0",
            "IKE_SA_INIT response 0",
            "IKE_AUTH request 1",
            "IKE_AUTH response 1"
        ]
    );
    // The held IKE_AUTH still completes the first IKE SA.
    sim.release_held();
    sim.run();
    assert_eq!(sim.established(INITIATOR), 2);
    assert_eq!(sim.established(RESPONDER), 2);
    let responder = &sim.engines[RESPONDER];
    assert_eq!(
        (responder.half_open(), responder.cookies_demanded()),
        (0, false)
    );
}

#[test]
fn status_describes_the_sas() {
    let (alice, bob) = configs();
    let sim = established(130, alice, bob);
    let i = sim.engines[INITIATOR].status();
    let r = sim.engines[RESPONDER].status();
    assert_eq!(i.len(), 1);
    assert_eq!(i[0].config, "to-bob");
    assert_eq!(r[0].config, "from-alice");
    assert_eq!(i[0].role.to_string(), "initiator");
    assert_eq!(r[0].role.to_string(), "responder");
    assert_eq!(i[0].state, "established");
    assert_eq!(
        i[0].proposal,
        "AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519"
    );
    assert_eq!(i[0].local_spi, r[0].remote_spi);
    assert_eq!(i[0].peer, addr(RESPONDER));
    assert_eq!(i[0].peer_id.as_ref().unwrap().to_string(), "bob.example");
    assert_eq!(i[0].established_at, Some(Duration::ZERO));
    let c = &i[0].children[0];
    assert_eq!(c.cipher, "AES_GCM_16_256");
    assert_eq!(c.mode, Mode::Tunnel);
    assert_eq!(c.ts_local, "10.1.0.0/24");
    assert_eq!(c.inbound_spi, r[0].children[0].outbound_spi);
    assert!(sim.events[INITIATOR].iter().any(|e| matches!(
        e,
        Output::Established { config, .. } if config == "to-bob"
    )));
}

#[test]
fn simultaneous_deletes_close_once_on_each_side() {
    let (alice, bob) = configs();
    let mut sim = established(140, alice, bob);
    let now = sim.now;
    for node in [INITIATOR, RESPONDER] {
        let id = sa(&sim, node);
        sim.engines[node].delete(now, id);
    }
    sim.run();
    assert_both_closed(&sim, "both deleted the IKE SA");
}

/// (local SPI, remote SPI) of a node's only IKE SA.
fn ike_spis(sim: &Sim, node: usize) -> ([u8; 8], [u8; 8]) {
    let status = sim.engines[node].status();
    assert_eq!(status.len(), 1, "{status:?}");
    (status[0].local_spi, status[0].remote_spi)
}

/// Both nodes start an IKE SA rekey at the same instant.
fn rekey_ike_on_both_sides(sim: &mut Sim) {
    let now = sim.now;
    for node in [INITIATOR, RESPONDER] {
        let id = sa(sim, node);
        assert!(sim.engines[node].rekey_ike(now, id).is_some());
    }
}

/// After an IKE SA rekey collision (RFC 7296 §2.8.2): each side has exactly one IKE SA, the
/// same one, established, holding the Child SA it had before; the old and the redundant new
/// IKE SA are gone without being reported. Returns the node that initiated the survivor.
fn assert_one_survivor(sim: &Sim, old_child: &ChildSa, context: &str) -> usize {
    for node in [INITIATOR, RESPONDER] {
        assert_eq!(
            ike_rekeys(sim, node),
            1,
            "{context}: {:?}",
            sim.events[node]
        );
        assert!(
            sim.closed(node).is_empty(),
            "{context}: {:?}",
            sim.closed(node)
        );
        assert!(sim.failures(node).is_empty(), "{context}");
        let failures = sim.request_failures(node);
        assert!(failures.is_empty(), "{context}: {failures:?}");
        assert!(sim.removed(node).is_empty(), "{context}");
        let status = sim.engines[node].status();
        assert_eq!(status.len(), 1, "{context}: {status:?}");
        assert_eq!(status[0].state, "established", "{context}");
        assert_eq!(status[0].children.len(), 1, "{context}");
        // The survivor is the IKE SA the outputs point to.
        assert_eq!(Some(status[0].id), sim.current_sa(node), "{context}");
    }
    let (i_local, i_remote) = ike_spis(sim, INITIATOR);
    let (r_local, r_remote) = ike_spis(sim, RESPONDER);
    assert_eq!((i_local, i_remote), (r_remote, r_local), "{context}");
    let roles = [
        sim.engines[INITIATOR].status()[0].role,
        sim.engines[RESPONDER].status()[0].role,
    ];
    assert_ne!(roles[0], roles[1], "{context}");
    let (child, _) = assert_one_live_child(sim);
    assert_eq!(child.inbound.spi, old_child.inbound.spi, "{context}");
    if roles[0] == Role::Initiator {
        INITIATOR
    } else {
        RESPONDER
    }
}

/// The surviving IKE SA carries a Child SA rekey from each side, then a DELETE.
fn assert_survivor_works(sim: &mut Sim, context: &str) {
    sim.faults = Faults::default();
    for node in [RESPONDER, INITIATOR] {
        let before = start_child_rekey(sim, node);
        sim.run();
        let (new_i, _) = assert_one_live_child(sim);
        assert_ne!(new_i.inbound.spi, before, "{context}");
        for node in [INITIATOR, RESPONDER] {
            assert!(sim.request_failures(node).is_empty(), "{context}");
        }
    }
    delete_ike(sim, INITIATOR);
    assert_both_closed(sim, context);
    for node in [INITIATOR, RESPONDER] {
        assert!(sim.live(node).is_empty(), "{context}");
    }
}

#[test]
fn simultaneous_ike_rekeys_keep_exactly_one_new_ike_sa() {
    let mut winners = [0; 2];
    for seed in 0..16 {
        let (mut alice, mut bob) = configs();
        alice.dpd_delay = Some(secs(20));
        bob.dpd_delay = Some(secs(20));
        let mut sim = established(400 + seed, alice, bob);
        let (old_child, _) = assert_one_live_child(&sim);
        let old_spis = ike_spis(&sim, INITIATOR);
        let sent_before = sim.sent.len();
        rekey_ike_on_both_sides(&mut sim);
        sim.run_until(sim.now + secs(5));
        let context = format!("seed {seed}: {:?}", sim.trace());
        let winner = assert_one_survivor(&sim, &old_child, &context);
        winners[winner] += 1;
        let survivor = ike_spis(&sim, INITIATOR);
        // Two rekeys, then two DELETEs: the loser deletes its redundant new IKE SA over
        // that SA, the winner deletes the old IKE SA over the old SA.
        let trace: Vec<&str> = sim.trace()[sent_before..]
            .iter()
            .map(|t| t.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .map(|t| if t.starts_with("CREATE") { "C" } else { "I" })
            .collect();
        assert_eq!(trace, ["C", "C", "C", "C", "I", "I", "I", "I"], "{context}");
        // Which IKE SAs the DELETEs went over (SPIs as an unordered pair), and who sent them.
        let pair = |a: [u8; 8], b: [u8; 8]| if a < b { [a, b] } else { [b, a] };
        let deleted: Vec<(usize, [[u8; 8]; 2])> = sim.sent[sent_before..]
            .iter()
            .filter_map(|sent| {
                let m = Message::parse(&sent.bytes).unwrap();
                (m.exchange_type == ExchangeType::INFORMATIONAL && !m.flags.response)
                    .then(|| (sent.from, pair(m.spi_i, m.spi_r)))
            })
            .collect();
        let loser = 1 - winner;
        let survivor = pair(survivor.0, survivor.1);
        let old = pair(old_spis.0, old_spis.1);
        assert_eq!(deleted.len(), 2, "{context}");
        assert!(deleted.contains(&(winner, old)), "{context}: {deleted:?}");
        let redundant = deleted.iter().find(|d| d.0 == loser).map(|d| d.1);
        let redundant = redundant.expect("the loser deletes its redundant IKE SA");
        assert_ne!(redundant, survivor, "{context}: the survivor was deleted");
        assert_ne!(redundant, old, "{context}");
        assert_survivor_works(&mut sim, &context);
    }
    // Depending on the nonces, either side's exchange survives.
    assert!(
        winners[INITIATOR] > 0 && winners[RESPONDER] > 0,
        "{winners:?}"
    );
}

#[test]
fn simultaneous_ike_rekeys_with_loss_duplication_and_reordering() {
    for seed in 0..30 {
        let (alice, bob) = configs_with_pfs(seed % 2 == 0);
        let mut sim = established_then_lossy(500 + seed, alice, bob, secs(600));
        let (old_child, _) = assert_one_live_child(&sim);
        rekey_ike_on_both_sides(&mut sim);
        sim.run();
        let context = format!("seed {seed}: {:?}", sim.trace());
        assert_one_survivor(&sim, &old_child, &context);
        assert_survivor_works(&mut sim, &context);
    }
}

/// Predictable "random" bytes: each fill repeats one byte, `base` plus the number of earlier
/// fills (at most 63), so every nonce of an engine with a lower base is the lower one.
struct Rising {
    base: u8,
    fills: u8,
}

impl ripsec_ike::crypto::RandomSource for Rising {
    fn fill(&mut self, buf: &mut [u8]) {
        buf.fill(self.base.saturating_add(self.fills));
        self.fills = self.fills.saturating_add(1).min(63);
    }
}

/// A handshake between engines with [`Rising`] randomness: every nonce of `low` is lower than
/// any of its peer's.
fn rising_handshake(seed: u64, low: usize) -> Sim {
    let (alice, bob) = configs();
    let mut sim = Sim::new(seed, Vec::new(), Faults::default());
    for node in [INITIATOR, RESPONDER] {
        let base = if node == low { 0x01 } else { 0x80 };
        let rng = Rising { base, fills: 0 };
        sim.engines[node] = ripsec_ike::engine::Engine::new(Box::new(rng));
    }
    sim.engines[RESPONDER].add_config(bob);
    let sim = sim.connect(alice);
    assert_matching_children(&sim);
    sim
}

#[test]
fn ike_rekey_collision_keeps_the_sa_without_the_lowest_nonce() {
    for low in [INITIATOR, RESPONDER] {
        let mut sim = rising_handshake(143, low);
        let (old_child, _) = assert_one_live_child(&sim);
        rekey_ike_on_both_sides(&mut sim);
        sim.run();
        let context = format!("low {low}: {:?}", sim.trace());
        // `low`'s own request nonce is the lowest of the four: its exchange's IKE SA goes
        // (RFC 7296 §2.8.2), the peer's survives.
        let winner = assert_one_survivor(&sim, &old_child, &context);
        assert_eq!(winner, 1 - low, "{context}");
        assert_survivor_works(&mut sim, &context);
    }
}

#[test]
fn ike_rekey_collision_survivor_used_before_the_loser_concluded() {
    let mut sim = rising_handshake(144, INITIATOR);
    let (old_child, _) = assert_one_live_child(&sim);
    // Held: the answer to the initiator's rekey (sent[6]) and the responder's DELETE of
    // the old IKE SA (sent[8]). The responder's exchange wins (the initiator's nonces are
    // lower), and the responder uses its new IKE SA at once.
    sim.faults.hold_indices = vec![6, 8];
    rekey_ike_on_both_sides(&mut sim);
    let now = sim.now;
    sim.run_until(now + Duration::from_millis(100));
    assert_eq!(ike_rekeys(&sim, INITIATOR), 0);
    let id = sa(&sim, RESPONDER);
    let spi = first_inbound(&sim, RESPONDER);
    sim.engines[RESPONDER].rekey_child(now, id, spi);
    sim.run_until(now + Duration::from_millis(200));
    let context = format!("{:?}", sim.trace());
    // The initiator let the new IKE SA take the Child SAs over when the request came.
    assert_eq!(ike_rekeys(&sim, INITIATOR), 1, "{context}");
    let (new_child, _) = assert_one_live_child(&sim);
    assert_ne!(new_child.inbound.spi, old_child.inbound.spi);
    sim.release_held();
    sim.run();
    let context = format!("{:?}", sim.trace());
    for node in [INITIATOR, RESPONDER] {
        assert_eq!(ike_rekeys(&sim, node), 1, "{context}");
        assert!(sim.closed(node).is_empty(), "{context}");
        assert!(sim.request_failures(node).is_empty(), "{context}");
        assert_eq!(sim.engines[node].status().len(), 1, "{context}");
    }
    assert_eq!(sim.engines[RESPONDER].status()[0].role, Role::Initiator);
    let (i_local, i_remote) = ike_spis(&sim, INITIATOR);
    assert_eq!((i_remote, i_local), ike_spis(&sim, RESPONDER));
    assert_one_live_child(&sim);
    assert_survivor_works(&mut sim, &context);
}

/// Both sides of a fresh IKE SA start rekeying it at the same instant, over a network with
/// `faults`; returns the simulation (not run since) and the Child SA before.
fn colliding_ike_rekeys(seed: u64, faults: Faults) -> (Sim, ChildSa) {
    let (alice, bob) = configs();
    let mut sim = established(seed, alice, bob);
    let (old_child, _) = assert_one_live_child(&sim);
    sim.faults = faults;
    rekey_ike_on_both_sides(&mut sim);
    (sim, old_child)
}

/// What is sent when both sides start an IKE SA rekey and the initiator's request (2) is lost:
/// the responder's rekey (0) completes, and it deletes the old IKE SA (1).
const LOST_REKEY: [&str; 4] = [
    "CREATE_CHILD_SA request 2",
    "CREATE_CHILD_SA request 0",
    "CREATE_CHILD_SA response 0",
    "INFORMATIONAL request 1",
];

/// The datagrams sent after the handshake's four are `expected`, concatenated.
fn assert_sent_after_handshake(sim: &Sim, expected: &[&[&str]]) {
    let trace = sim.trace();
    assert_eq!(trace[4..], expected.concat(), "{trace:?}");
}

/// After a collision, the responder's new IKE SA is the one left on both sides, and it works.
fn assert_responder_survives(sim: &mut Sim, old_child: &ChildSa) {
    let context = format!("{:?}", sim.trace());
    assert_eq!(assert_one_survivor(sim, old_child, &context), RESPONDER);
    assert_survivor_works(sim, &context);
}

#[test]
fn ike_rekey_collision_with_a_lost_request() {
    // sent[4] is the initiator's rekey request, sent[5] the responder's.
    let (mut sim, old_child) = colliding_ike_rekeys(141, Faults::dropping([4]));
    sim.run();
    assert_sent_after_handshake(&sim, &[&LOST_REKEY[..], &["INFORMATIONAL response 1"]]);
    // Only the responder's rekey completed: its IKE SA took over on both sides, and the
    // initiator stopped retransmitting once the old IKE SA was deleted.
    assert_responder_survives(&mut sim, &old_child);
}

#[test]
fn ike_rekey_collision_answered_after_the_peer_finished() {
    // The initiator's first rekey request is lost, the responder's DELETE of the old IKE SA
    // held back (its first retransmission lost): the initiator's retransmission reaches a
    // responder whose rekey is done, and is answered TEMPORARY_FAILURE.
    let faults = Faults {
        hold_indices: vec![7],
        ..Faults::dropping([4, 9])
    };
    let (mut sim, old_child) = colliding_ike_rekeys(142, faults);
    let now = sim.now;
    sim.run_until(now + secs(1));
    let context = format!("{:?}", sim.trace());
    assert_sent_after_handshake(
        &sim,
        &[
            &LOST_REKEY[..],
            &[
                "CREATE_CHILD_SA request 2",
                "INFORMATIONAL request 1",
                "CREATE_CHILD_SA response 2",
            ],
        ],
    );
    let answer = Message::parse(&sim.sent[10].bytes).unwrap();
    assert_eq!(answer.exchange_type, ExchangeType::CREATE_CHILD_SA);
    // The TEMPORARY_FAILURE answer is routine here: the peer's new IKE SA took over.
    for node in [INITIATOR, RESPONDER] {
        assert!(sim.request_failures(node).is_empty(), "{context}");
        assert_eq!(ike_rekeys(&sim, node), 1, "{context}");
    }
    sim.release_held();
    sim.run();
    assert_responder_survives(&mut sim, &old_child);
}

#[test]
fn ike_rekey_with_loss_and_duplication() {
    for seed in 0..15 {
        let (mut alice, mut bob) = configs();
        alice.dpd_delay = Some(secs(20));
        bob.ike_proposals.push(ike(gcm256(), DhGroup::Ecp256));
        let mut sim = established_then_lossy(300 + seed, alice, bob, secs(1));
        let now = sim.now;
        let from = (seed % 2) as usize;
        let id = sa(&sim, from);
        sim.engines[from].rekey_ike(now, id);
        sim.run_until(secs(60));
        for node in [INITIATOR, RESPONDER] {
            assert!(
                sim.closed(node).is_empty(),
                "seed {seed}: {:?}",
                sim.closed(node)
            );
            let status = sim.engines[node].status();
            assert_eq!(status.len(), 1, "seed {seed}: {status:?}");
            assert_eq!(status[0].children.len(), 1);
        }
        assert_one_live_child(&sim);
    }
}
