// SPDX-License-Identifier: GPL-2.0
//! NAT detection (RFC 7296 §2.23): the NAT_DETECTION_*_IP hash, the notifies on the wire,
//! and what each side concludes when a NAT in the simulator rewrites addresses.

mod common;
mod engine_sim;

use std::net::SocketAddr;
use std::time::Duration;

use engine_sim::*;
use ripsec_ike::engine::{nat_detection_hash, Engine, Mode, NatState, Output};
use ripsec_ike::{Message, NotifyPayload, NotifyType, Payload};
use sha1::{Digest, Sha1};

use crate::common::hex;

fn nat_d(message: &Message, kind: NotifyType) -> Vec<&NotifyPayload> {
    message
        .notifications()
        .filter(|n| n.notify_type == kind)
        .collect()
}

fn warnings(sim: &Sim, node: usize) -> Vec<String> {
    sim.events[node]
        .iter()
        .filter_map(|e| match e {
            Output::Warning { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

fn nat(sim: &Sim, node: usize) -> NatState {
    let status = sim.engines[node].status();
    assert_eq!(status.len(), 1, "{status:?}");
    status[0].nat
}

#[test]
fn hash_is_sha1_of_spis_address_and_port() {
    let spi_i = [1, 2, 3, 4, 5, 6, 7, 8];
    let spi_r = [0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18];
    for addr in ["192.0.2.1:500", "198.51.100.7:4500", "[2001:db8::1]:4500"] {
        let addr: SocketAddr = addr.parse().unwrap();
        let ip = match addr.ip() {
            std::net::IpAddr::V4(a) => a.octets().to_vec(),
            std::net::IpAddr::V6(a) => a.octets().to_vec(),
        };
        let data = [&spi_i[..], &spi_r[..], &ip, &addr.port().to_be_bytes()].concat();
        let expected: [u8; 20] = Sha1::digest(&data).into();
        assert_eq!(nat_detection_hash(&spi_i, &spi_r, addr), expected, "{addr}");
    }
}

#[test]
fn hash_matches_vectors_computed_with_openssl() {
    // printf '\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00\x00\x00\x00\x00\x00\x00\xc0\x00\x02\x01\x01\xf4' | openssl sha1
    let spi_i = [1, 2, 3, 4, 5, 6, 7, 8];
    assert_eq!(
        nat_detection_hash(&spi_i, &[0; 8], "192.0.2.1:500".parse().unwrap()).to_vec(),
        hex("644b4575455bd6fcc1efe2be8162a9218e448e5f")
    );
    // The same SPIi, SPIr 1112131415161718, [2001:db8::1]:4500.
    let spi_r = [0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18];
    assert_eq!(
        nat_detection_hash(&spi_i, &spi_r, "[2001:db8::1]:4500".parse().unwrap()).to_vec(),
        hex("1ee24423bf8f59515e0265c6d0f08be3d038f7e5")
    );
}

#[test]
fn ike_sa_init_carries_both_notifies_with_the_right_hashes() {
    let (alice, bob) = configs();
    let sim = established(600, alice, bob);
    let request = Message::parse(&sim.sent[0].bytes).unwrap();
    let response = Message::parse(&sim.sent[1].bytes).unwrap();
    assert_eq!(request.spi_r, [0; 8]);
    let check = |m: &Message, source: SocketAddr, destination: SocketAddr| {
        let s = nat_d(m, NotifyType::NAT_DETECTION_SOURCE_IP);
        let d = nat_d(m, NotifyType::NAT_DETECTION_DESTINATION_IP);
        assert_eq!(s.len(), 1, "{m:?}");
        assert_eq!(d.len(), 1, "{m:?}");
        assert_eq!(s[0].data, nat_detection_hash(&m.spi_i, &m.spi_r, source));
        assert_eq!(
            d[0].data,
            nat_detection_hash(&m.spi_i, &m.spi_r, destination)
        );
    };
    check(&request, addr(INITIATOR), addr(RESPONDER));
    check(&response, addr(RESPONDER), addr(INITIATOR));
    // After the Nonce, as the RFC's examples show.
    let nonce = request
        .payloads
        .iter()
        .position(|p| matches!(p, Payload::Nonce(_)))
        .unwrap();
    assert!(matches!(&request.payloads[nonce + 1], Payload::Notify(n)
        if n.notify_type == NotifyType::NAT_DETECTION_SOURCE_IP));
    for node in [INITIATOR, RESPONDER] {
        assert!(warnings(&sim, node).is_empty());
        assert_eq!(
            nat(&sim, node),
            NatState {
                checked: true,
                local_behind_nat: false,
                peer_behind_nat: false,
            }
        );
        assert_eq!(nat(&sim, node).describe(), "no NAT");
    }
}

#[test]
fn cookie_retry_recomputes_the_notifies() {
    let (alice, bob) = configs();
    let mut sim = Sim::new(601, vec![bob], Faults::default());
    sim.engines[RESPONDER].set_cookie_threshold(0);
    let sim = sim.connect(alice);
    assert_matching_children(&sim);
    let retry = Message::parse(&sim.sent[2].bytes).unwrap();
    assert!(retry.notification(NotifyType::COOKIE).is_some());
    let s = nat_d(&retry, NotifyType::NAT_DETECTION_SOURCE_IP);
    assert_eq!(s.len(), 1);
    assert_eq!(
        s[0].data,
        nat_detection_hash(&retry.spi_i, &[0; 8], addr(INITIATOR))
    );
    for node in [INITIATOR, RESPONDER] {
        assert!(warnings(&sim, node).is_empty());
        assert!(!nat(&sim, node).detected());
    }
}

#[test]
fn initiator_behind_a_nat_is_detected_by_both_and_the_sa_still_establishes() {
    let (alice, bob) = configs();
    let mut sim = Sim::new(602, vec![bob], Faults::default());
    let public: SocketAddr = "198.51.100.7:500".parse().unwrap();
    sim.nat[INITIATOR] = Some(public);
    sim.initiate(alice);
    sim.run();
    assert_eq!(sim.established(INITIATOR), 1);
    assert_eq!(sim.established(RESPONDER), 1);
    // Both moved to the NAT traversal port (the simulated NAT keeps ports), and the Child
    // SAs carry ESP in UDP between the ports of the IKE SA.
    let (i, r) = assert_one_live_child(&sim);
    assert_eq!(r.peer, "198.51.100.7:4500".parse().unwrap());
    assert_eq!(i.peer, SocketAddr::new(addr(RESPONDER).ip(), 4500));
    assert_eq!((i.encap, r.encap), (Some((4500, 4500)), Some((4500, 4500))));
    assert_eq!(
        nat(&sim, RESPONDER),
        NatState {
            checked: true,
            local_behind_nat: false,
            peer_behind_nat: true,
        }
    );
    assert_eq!(
        nat(&sim, INITIATOR),
        NatState {
            checked: true,
            local_behind_nat: true,
            peer_behind_nat: false,
        }
    );
    let r = warnings(&sim, RESPONDER);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(
        r[0],
        "NAT detected: the peer 198.51.100.7:4500 is behind a NAT; IKE continues on UDP port 4500, and ESP goes in UDP (RFC 3948)"
    );
    let i = warnings(&sim, INITIATOR);
    assert_eq!(i.len(), 1, "{i:?}");
    assert!(
        i[0].starts_with("NAT detected: we (192.0.2.1:4500) are behind a NAT"),
        "{i:?}"
    );
    // The warning follows Established.
    let established = sim.events[RESPONDER]
        .iter()
        .position(|e| matches!(e, Output::Established { .. }));
    let warning = sim.events[RESPONDER]
        .iter()
        .position(|e| matches!(e, Output::Warning { .. }));
    assert_eq!(warning, established.map(|e| e + 1));

    // A rekeyed IKE SA keeps what was found, without a second warning.
    let now = sim.now;
    let id = sim.current_sa(RESPONDER).unwrap();
    sim.engines[RESPONDER].rekey_ike(now, id).unwrap();
    sim.run();
    assert_one_live_child(&sim);
    assert!(nat(&sim, RESPONDER).peer_behind_nat);
    assert!(nat(&sim, INITIATOR).local_behind_nat);
    assert_eq!(warnings(&sim, RESPONDER).len(), 1);
}

#[test]
fn responder_behind_a_nat_is_detected_by_both() {
    let (alice, bob) = configs();
    let mut sim = Sim::new(603, vec![bob], Faults::default());
    sim.nat[RESPONDER] = Some("203.0.113.9:500".parse().unwrap());
    sim.initiate(alice);
    sim.run();
    assert_one_live_child(&sim);
    assert!(nat(&sim, INITIATOR).peer_behind_nat);
    assert!(!nat(&sim, INITIATOR).local_behind_nat);
    assert!(nat(&sim, RESPONDER).local_behind_nat);
    assert!(!nat(&sim, RESPONDER).peer_behind_nat);
    assert!(warnings(&sim, INITIATOR)[0].contains("the peer 203.0.113.9:4500 is behind a NAT"));
    let (i, r) = assert_one_live_child(&sim);
    assert_eq!((i.encap, r.encap), (Some((4500, 4500)), Some((4500, 4500))));
    assert_eq!(warnings(&sim, RESPONDER).len(), 1);
}

#[test]
fn forced_encapsulation_without_a_nat_moves_both_to_udp() {
    let (mut alice, bob) = configs();
    alice.encap = true;
    let mut sim = Sim::new(605, vec![bob], Faults::default());
    sim.initiate(alice);
    sim.run();
    let (i, r) = assert_one_live_child(&sim);
    assert_eq!((i.encap, r.encap), (Some((4500, 4500)), Some((4500, 4500))));
    assert_eq!(r.peer, SocketAddr::new(addr(INITIATOR).ip(), 4500));
    // Our faked source hash makes the responder see us behind a NAT; we see none.
    assert!(nat(&sim, RESPONDER).peer_behind_nat);
    assert!(!nat(&sim, INITIATOR).detected());
}

#[test]
fn without_a_nat_nothing_moves_or_encapsulates() {
    let (alice, bob) = configs();
    let sim = established(606, alice, bob);
    let (i, r) = assert_one_live_child(&sim);
    assert_eq!((i.encap, r.encap), (None, None));
    assert_eq!((i.peer, r.peer), (addr(RESPONDER), addr(INITIATOR)));
}

#[test]
fn responder_follows_the_initiators_new_nat_mapping() {
    let (alice, bob) = configs();
    let mut sim = Sim::new(607, vec![bob], Faults::default());
    sim.nat[INITIATOR] = Some("198.51.100.7:500".parse().unwrap());
    sim.initiate(alice);
    sim.run();
    assert_one_live_child(&sim);
    // The NAT rebinds to another public address; the initiator's next request comes from it.
    sim.nat[INITIATOR] = Some("198.51.100.8:500".parse().unwrap());
    let now = sim.now;
    let id = sim.current_sa(INITIATOR).unwrap();
    let spi = sim.engines[INITIATOR].status()[0].children[0].inbound_spi;
    assert!(sim.engines[INITIATOR].rekey_child(now, id, spi));
    sim.run();
    let moved: Vec<_> = sim.events[RESPONDER]
        .iter()
        .filter_map(|e| match e {
            Output::PeerMoved { peer, local, .. } => Some((*peer, *local)),
            _ => None,
        })
        .collect();
    let new: SocketAddr = "198.51.100.8:4500".parse().unwrap();
    assert_eq!(
        moved,
        vec![(new, SocketAddr::new(addr(RESPONDER).ip(), 4500))]
    );
    // The rekeyed Child SA goes to the new mapping.
    let (_, r) = assert_one_live_child(&sim);
    assert_eq!(r.peer, new);
    assert_eq!(sim.engines[RESPONDER].status()[0].peer, new);
}

/// The initiator's IKE_SA_INIT request with its payloads changed by `edit`, answered by a
/// fresh responder engine; returns the response, the responder's outputs and what its only
/// IKE SA concluded about NATs.
fn answer_edited_request(edit: impl Fn(&mut Vec<Payload>)) -> (Message, Vec<Output>, NatState) {
    let (alice, bob) = configs();
    let mut sim = Sim::new(604, vec![bob.clone()], Faults::default());
    sim.initiate(alice);
    sim.run_until(Duration::ZERO);
    let mut request = Message::parse(&sim.sent[0].bytes).unwrap();
    edit(&mut request.payloads);
    let mut responder = Engine::new(Box::new(TestRng(common::XorShift(7))));
    responder.add_config(bob);
    responder.handle_datagram(
        Duration::ZERO,
        addr(INITIATOR),
        addr(RESPONDER),
        &request.to_bytes().unwrap(),
    );
    let outputs: Vec<Output> = std::iter::from_fn(|| responder.poll_output()).collect();
    let response = outputs
        .iter()
        .find_map(|o| match o {
            Output::Send { bytes, .. } => Some(Message::parse(bytes).unwrap()),
            _ => None,
        })
        .expect("an IKE_SA_INIT response");
    let status = responder.status();
    assert_eq!(status.len(), 1);
    (response, outputs, status[0].nat)
}

/// Applies `edit` to the data of each notify of type `kind`.
fn edit_notifies(payloads: &mut [Payload], kind: NotifyType, edit: impl Fn(&mut Vec<u8>)) {
    for p in payloads {
        if let Payload::Notify(n) = p {
            if n.notify_type == kind {
                edit(&mut n.data);
            }
        }
    }
}

#[test]
fn a_peer_without_nat_detection_gets_none_and_no_warning() {
    let (response, outputs, _) = answer_edited_request(|payloads| {
        payloads.retain(|p| !matches!(p, Payload::Notify(_)));
    });
    assert!(response.notifications().next().is_none(), "{response:?}");
    assert!(!outputs
        .iter()
        .any(|o| matches!(o, Output::Warning { .. } | Output::Debug { .. })));
}

#[test]
fn malformed_nat_detection_notifies_are_ignored_with_a_debug_note() {
    let (response, outputs, _) = answer_edited_request(|payloads| {
        edit_notifies(payloads, NotifyType::NAT_DETECTION_SOURCE_IP, |data| {
            data.truncate(19)
        });
    });
    // Still answered in kind.
    assert_eq!(
        nat_d(&response, NotifyType::NAT_DETECTION_SOURCE_IP).len(),
        1
    );
    let notes: Vec<&String> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Debug { message, .. } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(notes.len(), 1, "{outputs:?}");
    assert!(
        notes[0].contains("NAT_DETECTION_SOURCE_IP") && notes[0].contains("19 bytes"),
        "{notes:?}"
    );
}

#[test]
fn a_nat_detection_mismatch_in_the_request_is_found_by_the_responder() {
    let (_, _, nat) = answer_edited_request(|payloads| {
        edit_notifies(payloads, NotifyType::NAT_DETECTION_DESTINATION_IP, |data| {
            data[0] ^= 1
        });
    });
    assert!(nat.checked && nat.local_behind_nat && !nat.peer_behind_nat);
}

#[test]
fn transport_mode_through_a_nat_reads_host_selectors_as_the_addresses_ike_sees() {
    // RFC 7296 §2.23.1: alice (192.0.2.1) is behind a NAT (198.51.100.7) and names her own
    // address; bob's configuration names the NAT's, which is what he sees.
    let host = |a: [u8; 4]| net(a, a[3]);
    let (mut alice, mut bob) = configs();
    alice.children[0].mode = Mode::Transport;
    alice.children[0].ts_local = vec![host([192, 0, 2, 1])];
    alice.children[0].ts_remote = vec![host([192, 0, 2, 2])];
    bob.children[0].mode = Mode::Transport;
    bob.children[0].ts_local = vec![host([192, 0, 2, 2])];
    bob.children[0].ts_remote = vec![host([198, 51, 100, 7])];
    let mut sim = Sim::new(608, vec![bob], Faults::default());
    sim.nat[INITIATOR] = Some("198.51.100.7:500".parse().unwrap());
    sim.initiate(alice);
    sim.run();
    let check = |sim: &Sim| {
        let (i, r) = (sim.live(INITIATOR), sim.live(RESPONDER));
        assert_eq!((i.len(), r.len()), (1, 1), "{:?}", sim.events);
        let (i, r) = (&i[0].1, &r[0].1);
        assert_eq!((i.mode, r.mode), (Mode::Transport, Mode::Transport));
        assert_eq!(i.ts_local, vec![host([192, 0, 2, 1])]);
        assert_eq!(i.ts_remote, vec![host([192, 0, 2, 2])]);
        assert_eq!(r.ts_local, vec![host([192, 0, 2, 2])]);
        assert_eq!(r.ts_remote, vec![host([198, 51, 100, 7])]);
        assert_eq!(
            (i.outbound.spi, i.inbound.spi),
            (r.inbound.spi, r.outbound.spi)
        );
        assert_eq!((i.encap, r.encap), (Some((4500, 4500)), Some((4500, 4500))));
    };
    check(&sim);
    // A rekey from the public side (CREATE_CHILD_SA) reads them the same way.
    let now = sim.now;
    let id = sim.current_sa(RESPONDER).unwrap();
    let spi = sim.engines[RESPONDER].status()[0].children[0].inbound_spi;
    assert!(sim.engines[RESPONDER].rekey_child(now, id, spi));
    sim.run();
    check(&sim);
}

#[test]
fn a_responder_forcing_encapsulation_moves_both_to_udp() {
    let run = |seed, peers: Vec<std::net::IpAddr>| {
        let (alice, bob) = configs();
        let mut sim = Sim::new(seed, vec![bob], Faults::default());
        sim.engines[RESPONDER].set_encap_peers(peers);
        sim.initiate(alice);
        sim.run();
        sim
    };
    let sim = run(609, vec![addr(INITIATOR).ip()]);
    let (i, r) = assert_one_live_child(&sim);
    assert_eq!((i.encap, r.encap), (Some((4500, 4500)), Some((4500, 4500))));
    assert_eq!(i.peer, SocketAddr::new(addr(RESPONDER).ip(), 4500));
    // Our faked source hash makes the initiator see us behind a NAT; we see none.
    assert!(nat(&sim, INITIATOR).peer_behind_nat);
    assert!(!nat(&sim, RESPONDER).detected());
    // Another initiator is not forced.
    let sim = run(610, vec!["192.0.2.99".parse().unwrap()]);
    let (i, r) = assert_one_live_child(&sim);
    assert_eq!((i.encap, r.encap), (None, None));
}
