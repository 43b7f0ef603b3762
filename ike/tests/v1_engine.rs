// SPDX-License-Identifier: GPL-2.0
//! Two IKEv1 engines in-process: Main Mode with a PSK and Quick Mode (with and without PFS,
//! tunnel and transport), over a network that can lose, duplicate and reorder datagrams;
//! Deletes both ways; and the explanations of a PSK, ID and proposal mismatch.

mod common;
mod engine_sim;
mod pki_common;

use std::net::SocketAddr;
use std::time::Duration;

use common::XorShift;
use engine_sim::{configs, net, TestRng, INITIATOR, RESPONDER};
use ripsec_ike::crypto::{DhGroup, SkCipher, SkInteg};
use ripsec_ike::engine::{
    ChildSa, Config, EspCipher, EspInteg, EspProposal, IkeProposal, Mode, Output, RetransmitPolicy,
    SaId,
};
use ripsec_ike::keys::Prf;
use ripsec_ike::v1::{ConfigV1, EngineV1};
use ripsec_ike::Secret;

fn addr(i: usize) -> SocketAddr {
    engine_sim::addr(i)
}

fn cbc(key_bits: u16, prf: Prf, dh: DhGroup) -> IkeProposal {
    IkeProposal {
        cipher: SkCipher::AesCbc {
            key_bits,
            integ: SkInteg::Sha256_128,
        },
        prf,
        dh,
    }
}

fn v1(config: Config, peer: usize) -> ConfigV1 {
    ConfigV1 {
        config,
        peer: addr(peer).ip(),
        isakmp_life: Duration::from_secs(10800),
        ipsec_life: Duration::from_secs(3600),
        aggressive: false,
    }
}

/// alice and bob with IKEv1-capable proposals: AES-256-CBC/SHA-256/MODP-2048 (bob also
/// takes AES-128/SHA-1/ECP-256), ESP AES-128-CBC with HMAC-SHA-256.
fn v1_configs() -> (ConfigV1, ConfigV1) {
    let (mut alice, mut bob) = configs();
    alice.ike_proposals = vec![cbc(256, Prf::HmacSha256, DhGroup::Modp2048)];
    bob.ike_proposals = vec![
        cbc(128, Prf::HmacSha1, DhGroup::Ecp256),
        cbc(256, Prf::HmacSha256, DhGroup::Modp2048),
    ];
    let esp = EspProposal {
        cipher: EspCipher::AesCbc {
            key_bits: 128,
            integ: EspInteg::Sha256_128,
        },
    };
    for c in [&mut alice, &mut bob] {
        c.children[0].esp_proposals = vec![esp];
    }
    (v1(alice, RESPONDER), v1(bob, INITIATOR))
}

struct Sim {
    engines: [EngineV1; 2],
    outputs: [Vec<Output>; 2],
    now: Duration,
    rng: XorShift,
    /// Percent of datagrams lost, and duplicated.
    loss: u64,
    dup: u64,
    /// A node that no longer answers (killed).
    dead: Option<usize>,
    /// The initiator sits behind a NAT: its private address is rewritten to its public one,
    /// and its ports 500/4500 to 40500/44500 (plus `remap`, when the NAT rebinds).
    nat: bool,
    remap: u16,
}

/// The initiator's private address behind the simulated NAT.
fn private() -> SocketAddr {
    SocketAddr::from(([10, 9, 0, 1], 500))
}

impl Sim {
    fn new(seed: u64, alice: ConfigV1, bob: ConfigV1) -> (Self, SaId) {
        let policy = RetransmitPolicy {
            initial_timeout: Duration::from_millis(500),
            max_transmissions: 8,
        };
        let mut engines = [
            EngineV1::new(Box::new(TestRng(XorShift(seed))), policy),
            EngineV1::new(Box::new(TestRng(XorShift(seed + 1000))), policy),
        ];
        for e in &mut engines {
            e.set_wall_clock(pki_common::NOW);
        }
        engines[RESPONDER].add_config(bob);
        let id = engines[INITIATOR].initiate(Duration::ZERO, alice, 0, addr(INITIATOR));
        let sim = Sim {
            engines,
            outputs: [Vec::new(), Vec::new()],
            now: Duration::ZERO,
            rng: XorShift(seed + 7),
            loss: 0,
            dup: 0,
            dead: None,
            nat: false,
            remap: 0,
        };
        (sim, id)
    }

    /// alice initiates from `private()`, behind the NAT.
    fn behind_nat(seed: u64, alice: ConfigV1, bob: ConfigV1) -> Self {
        let policy = RetransmitPolicy::default();
        let mut engines = [
            EngineV1::new(Box::new(TestRng(XorShift(seed))), policy),
            EngineV1::new(Box::new(TestRng(XorShift(seed + 1000))), policy),
        ];
        engines[RESPONDER].add_config(bob);
        engines[INITIATOR].initiate(Duration::ZERO, alice, 0, private());
        Sim {
            engines,
            outputs: [Vec::new(), Vec::new()],
            now: Duration::ZERO,
            rng: XorShift(seed + 7),
            loss: 0,
            dup: 0,
            dead: None,
            nat: true,
            remap: 0,
        }
    }

    /// Delivers datagrams (losing, duplicating and swapping some) and runs timers until quiet.
    fn run(&mut self) {
        for _ in 0..400 {
            let mut flights = Vec::new();
            for (i, e) in self.engines.iter_mut().enumerate() {
                while let Some(o) = e.poll_output() {
                    if let Output::Send { bytes, from, to } = &o {
                        flights.push((i, bytes.clone(), (*from, *to)));
                    }
                    self.outputs[i].push(o);
                }
            }
            if flights.is_empty() {
                match self.engines.iter().filter_map(EngineV1::next_timeout).min() {
                    Some(t) => {
                        self.now = self.now.max(t);
                        for e in &mut self.engines {
                            e.tick(self.now);
                        }
                        continue;
                    }
                    None => return,
                }
            }
            if flights.len() > 1 && self.rng.below(4) == 0 {
                flights.swap(0, 1);
            }
            for (from, bytes, ends) in flights {
                if self.rng.below(100) < self.loss as usize {
                    continue;
                }
                let copies = if (self.rng.below(100) as u64) < self.dup {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let to = 1 - from;
                    if self.dead == Some(to) {
                        continue;
                    }
                    let Some((src, dst)) = self.through_nat(from, ends) else {
                        continue;
                    };
                    self.engines[to].handle_datagram(self.now, src, dst, &bytes);
                }
            }
        }
        panic!("the engines did not settle");
    }

    /// The source and destination a datagram arrives with: as sent, or rewritten by the NAT in
    /// front of the initiator; `None` when the NAT has no mapping for it (any more).
    fn through_nat(
        &self,
        from: usize,
        (src, dst): (SocketAddr, SocketAddr),
    ) -> Option<(SocketAddr, SocketAddr)> {
        if !self.nat {
            let at = |i: usize, port: u16| SocketAddr::new(addr(i).ip(), port);
            return Some((at(from, src.port()), at(1 - from, dst.port())));
        }
        let offset = 40000 + self.remap;
        let public = |a: SocketAddr| SocketAddr::new(addr(INITIATOR).ip(), a.port() + offset);
        if from == INITIATOR {
            return Some((public(src), dst));
        }
        let port = dst.port().checked_sub(offset)?;
        [500, 4500]
            .contains(&port)
            .then(|| (src, SocketAddr::new(private().ip(), port)))
    }

    /// Runs until `until` (timers included), even while DPD keeps the engines busy.
    fn run_until(&mut self, until: Duration) {
        while self.now < until {
            let before = self.now;
            self.run_bounded(until);
            if self.now == before {
                break;
            }
        }
    }

    fn run_bounded(&mut self, until: Duration) {
        for _ in 0..400 {
            let mut flights = Vec::new();
            for (i, e) in self.engines.iter_mut().enumerate() {
                while let Some(o) = e.poll_output() {
                    if let Output::Send { bytes, .. } = &o {
                        flights.push((i, bytes.clone()));
                    }
                    self.outputs[i].push(o);
                }
            }
            if flights.is_empty() {
                match self.engines.iter().filter_map(EngineV1::next_timeout).min() {
                    Some(t) if t <= until => {
                        self.now = self.now.max(t);
                        for e in &mut self.engines {
                            e.tick(self.now);
                        }
                        continue;
                    }
                    _ => {
                        self.now = until;
                        return;
                    }
                }
            }
            for (from, bytes) in flights {
                let to = 1 - from;
                self.engines[to].handle_datagram(self.now, addr(from), addr(to), &bytes);
            }
        }
    }

    fn installed(&self, i: usize) -> Vec<&ChildSa> {
        let mut live: Vec<&ChildSa> = Vec::new();
        for o in &self.outputs[i] {
            match o {
                Output::InstallChild { child, .. } => live.push(child),
                Output::RemoveChild { inbound_spi, .. } => {
                    live.retain(|c| c.inbound.spi != *inbound_spi)
                }
                _ => {}
            }
        }
        live
    }

    fn failures(&self, i: usize) -> Vec<String> {
        self.outputs[i]
            .iter()
            .filter_map(|o| match o {
                Output::Failed { reason, .. } | Output::RequestFailed { reason, .. } => {
                    Some(reason.to_string())
                }
                Output::Warning { message, .. } => Some(message.clone()),
                _ => None,
            })
            .collect()
    }
}

/// alice (left.ripsec.test) and bob (right.ripsec.test) authenticating with these
/// certificates.
fn with_certificates(
    left: ripsec_ike::engine::Auth,
    right: ripsec_ike::engine::Auth,
) -> (ConfigV1, ConfigV1) {
    use ripsec_ike::Identity;
    let (mut alice, mut bob) = v1_configs();
    let (l, r) = (
        Identity::Fqdn("left.ripsec.test".into()),
        Identity::Fqdn("right.ripsec.test".into()),
    );
    (
        alice.config.auth,
        alice.config.local_id,
        alice.config.remote_id,
    ) = (left, l.clone(), r.clone());
    (bob.config.auth, bob.config.local_id, bob.config.remote_id) = (right, r, l);
    (alice, bob)
}

/// Both sides installed one Child SA whose keys and SPIs mirror each other.
fn assert_mirrored(sim: &Sim) -> (ChildSa, ChildSa) {
    let (i, r) = (sim.installed(INITIATOR), sim.installed(RESPONDER));
    assert_eq!(
        (i.len(), r.len()),
        (1, 1),
        "{:?} {:?}",
        sim.failures(0),
        sim.failures(1)
    );
    let (i, r) = (i[0].clone(), r[0].clone());
    assert_eq!(i.inbound.spi, r.outbound.spi);
    assert_eq!(i.outbound.spi, r.inbound.spi);
    let key = |d: &ripsec_ike::engine::ChildDirection| {
        [d.encr_key.as_bytes(), d.integ_key.as_bytes()].concat()
    };
    assert_eq!(key(&i.inbound), key(&r.outbound));
    assert_eq!(key(&i.outbound), key(&r.inbound));
    assert_ne!(key(&i.inbound), key(&i.outbound));
    assert_eq!(i.cipher, r.cipher);
    (i, r)
}

#[test]
fn main_mode_and_quick_mode_install_mirrored_child_sas() {
    let (alice, bob) = v1_configs();
    let (mut sim, id) = Sim::new(1, alice, bob);
    sim.run();
    let (i, r) = assert_mirrored(&sim);
    assert_eq!(i.outbound.encr_key.len(), 16);
    assert_eq!(i.outbound.integ_key.len(), 32);
    assert_eq!(i.ts_local, vec![net([10, 1, 0, 0], 255)]);
    assert_eq!(r.ts_local, vec![net([10, 2, 0, 0], 255)]);
    let status = sim.engines[INITIATOR].status();
    assert_eq!(
        status[0].proposal,
        "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
    );
    assert_eq!(status[0].children.len(), 1);
    assert!(status[0].state.contains("established"));
    let bob_status = sim.engines[RESPONDER].status();
    assert_eq!(
        bob_status[0].peer_id.as_ref().map(|i| i.to_string()),
        Some("alice.example".into())
    );
    // A Delete of the ISAKMP SA takes the Child SAs on both sides.
    let now = sim.now;
    sim.engines[INITIATOR].delete(now, id);
    sim.run();
    assert!(sim.installed(INITIATOR).is_empty());
    assert!(
        sim.installed(RESPONDER).is_empty(),
        "{:?}",
        sim.failures(RESPONDER)
    );
    assert!(sim.engines[RESPONDER].status().is_empty());
}

#[test]
fn loss_duplication_and_reordering_still_end_in_one_child_sa() {
    for seed in 10..30 {
        let (alice, bob) = v1_configs();
        let (mut sim, _) = Sim::new(seed, alice, bob);
        (sim.loss, sim.dup) = (25, 25);
        sim.run();
        assert_mirrored(&sim);
    }
}

#[test]
fn pfs_transport_and_a_child_deleted_by_the_responder() {
    let (mut alice, mut bob) = v1_configs();
    for c in [&mut alice.config, &mut bob.config] {
        c.children[0].pfs = true;
        c.children[0].mode = Mode::Transport;
        c.children[0].esp_proposals = vec![EspProposal {
            cipher: EspCipher::AesGcm {
                key_bits: 256,
                icv: 16,
            },
        }];
    }
    let (mut sim, _) = Sim::new(2, alice, bob);
    sim.run();
    let (i, r) = assert_mirrored(&sim);
    assert_eq!(i.mode, Mode::Transport);
    assert_eq!(i.outbound.encr_key.len(), 36);
    let now = sim.now;
    let bob_sa = sim.engines[RESPONDER].status()[0].id;
    sim.engines[RESPONDER].delete_child(now, bob_sa, r.inbound.spi);
    sim.run();
    assert!(sim.installed(INITIATOR).is_empty());
    assert!(sim.installed(RESPONDER).is_empty());
    assert_eq!(
        sim.engines[INITIATOR].status().len(),
        1,
        "the ISAKMP SA stays"
    );
}

#[test]
fn a_psk_mismatch_is_explained() {
    let (alice, mut bob) = v1_configs();
    bob.config.auth = ripsec_ike::engine::Auth::Psk(Secret::from_slice(b"another secret"));
    let (mut sim, _) = Sim::new(3, alice, bob);
    sim.run();
    assert!(sim.installed(INITIATOR).is_empty() && sim.installed(RESPONDER).is_empty());
    let r = sim.failures(RESPONDER);
    assert!(
        r.iter()
            .any(|f| f.contains("most likely the pre-shared key")),
        "{r:?}"
    );
    assert!(sim.engines[RESPONDER].status().is_empty());
}

#[test]
fn a_proposal_mismatch_names_both_sides() {
    let (alice, mut bob) = v1_configs();
    bob.config.ike_proposals = vec![cbc(128, Prf::HmacSha1, DhGroup::Ecp256)];
    let (mut sim, _) = Sim::new(4, alice, bob);
    sim.run();
    let r = sim.failures(RESPONDER);
    assert!(
        r.iter().any(|f| f.contains("the peer offered AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048; we accept AES_CBC_128/HMAC_SHA1_96/PRF_HMAC_SHA1/ECP_256")),
        "{r:?}"
    );
    assert_eq!(r.len(), 1, "{r:?}");
    let i = sim.failures(INITIATOR);
    assert_eq!(
        i,
        ["IKEv1: the peer answered Main Mode message 1 with NO-PROPOSAL-CHOSEN: it accepts none of our IKE proposals (AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048)"]
    );
}

#[test]
fn an_id_mismatch_is_explained() {
    let (alice, mut bob) = v1_configs();
    bob.config.remote_id = ripsec_ike::Identity::Fqdn("carol.example".into());
    let (mut sim, _) = Sim::new(5, alice, bob);
    sim.run();
    let r = sim.failures(RESPONDER);
    assert!(
        r.iter().any(|f| f.contains(
            "identified as alice.example, but connection from-alice expects carol.example"
        )),
        "{r:?}"
    );
}

#[test]
fn aes_gcm_ike_proposals_cannot_start_main_mode() {
    let (mut alice, bob) = v1_configs();
    alice.config.ike_proposals = vec![IkeProposal {
        cipher: SkCipher::AesGcm16 { key_bits: 128 },
        prf: Prf::HmacSha256,
        dh: DhGroup::Ecp256,
    }];
    let (mut sim, _) = Sim::new(6, alice, bob);
    sim.run();
    let i = sim.failures(INITIATOR);
    assert!(
        i.iter()
            .any(|f| f.contains("no IKE proposal IKEv1 can carry")),
        "{i:?}"
    );
}

#[test]
fn aggressive_mode_when_both_ask_for_it() {
    for seed in [7, 31, 32, 33] {
        let (mut alice, mut bob) = v1_configs();
        (alice.aggressive, bob.aggressive) = (true, true);
        let (mut sim, _) = Sim::new(seed, alice, bob);
        if seed > 7 {
            (sim.loss, sim.dup) = (20, 20);
        }
        sim.run();
        assert_mirrored(&sim);
        let st = sim.engines[RESPONDER].status();
        assert_eq!(st[0].state, "established (IKEv1 Aggressive Mode)");
    }
}

#[test]
fn aggressive_mode_is_refused_unless_the_responder_allows_it() {
    let (mut alice, bob) = v1_configs();
    alice.aggressive = true;
    let (mut sim, _) = Sim::new(8, alice, bob);
    sim.run();
    let r = sim.failures(RESPONDER);
    assert!(
        r.iter().any(|f| f.contains("started Aggressive Mode, which exposes the PSK to offline guessing; connection from-alice takes Main Mode")),
        "{r:?}"
    );
    let i = sim.failures(INITIATOR);
    assert!(
        i.iter()
            .any(|f| f.contains("answered Aggressive Mode message 1 with AUTHENTICATION-FAILED")),
        "{i:?}"
    );
}

#[test]
fn aggressive_mode_psk_mismatch_is_explained() {
    let (mut alice, mut bob) = v1_configs();
    (alice.aggressive, bob.aggressive) = (true, true);
    bob.config.auth = ripsec_ike::engine::Auth::Psk(Secret::from_slice(b"other"));
    let (mut sim, _) = Sim::new(9, alice, bob);
    sim.run();
    let i = sim.failures(INITIATOR);
    assert!(
        i.iter().any(|f| f.contains("HASH_R sent by")
            && f.contains("most likely the pre-shared keys differ")),
        "{i:?}"
    );
    assert!(sim.installed(RESPONDER).is_empty());
}

/// A rekey from either side: a new Quick Mode installs new SAs, then the old ones are deleted
/// on both sides (make before break).
#[test]
fn child_sa_rekeys_from_either_side() {
    for (seed, who) in [(40, INITIATOR), (41, RESPONDER), (42, INITIATOR)] {
        let (alice, bob) = v1_configs();
        let (mut sim, _) = Sim::new(seed, alice, bob);
        if seed == 42 {
            (sim.loss, sim.dup) = (20, 20);
        }
        sim.run();
        let (old_i, old_r) = assert_mirrored(&sim);
        let old = if who == INITIATOR { &old_i } else { &old_r };
        let id = sim.engines[who].status()[0].id;
        let now = sim.now;
        assert!(sim.engines[who].rekey_child(now, id, old.inbound.spi));
        sim.run();
        let (new_i, _) = assert_mirrored(&sim);
        assert_ne!(new_i.inbound.spi, old_i.inbound.spi, "seed {seed}");
        assert_ne!(
            new_i.outbound.encr_key.as_bytes(),
            old_i.outbound.encr_key.as_bytes()
        );
        assert!(!sim.engines[who].rekey_child(sim.now, id, 0xdead));
    }
}

/// A Quick Mode the responder cannot take is refused with NO-PROPOSAL-CHOSEN; the initiator
/// says so with its offer, and the ISAKMP SA stays.
#[test]
fn a_quick_mode_mismatch_is_explained_on_both_sides() {
    let (alice, mut bob) = v1_configs();
    bob.config.children[0].esp_proposals = vec![EspProposal {
        cipher: EspCipher::AesGcm {
            key_bits: 256,
            icv: 16,
        },
    }];
    let (mut sim, _) = Sim::new(12, alice, bob);
    sim.run();
    assert!(sim.installed(INITIATOR).is_empty());
    let i = sim.failures(INITIATOR);
    assert!(
        i.iter().any(|f| f.contains("Quick Mode for child net: the peer answered NO-PROPOSAL-CHOSEN: it accepts none of our proposals (AES_CBC_128/HMAC_SHA2_256_128)")),
        "{i:?}"
    );
    let r = sim.failures(RESPONDER);
    assert!(
        r.iter()
            .any(|f| f.contains("no proposal chosen for child net: the peer offered AES_CBC_128/HMAC_SHA2_256_128 tunnel no PFS; the child takes AES_GCM_16_256 in tunnel mode")),
        "{r:?}"
    );
    assert_eq!(sim.engines[INITIATOR].status().len(), 1);
    assert_eq!(i.len(), 1, "{i:?}");
}

/// The responder's explanation names where the nearest offer differs: the mode, or PFS.
#[test]
fn a_quick_mode_mode_or_pfs_mismatch_is_named() {
    type Change = fn(&mut ripsec_ike::engine::ChildConfig);
    let cases: [(Change, &str); 2] = [
        (
            |c| c.mode = Mode::Transport,
            "in transport mode; the peer asks for tunnel mode, the child is transport",
        ),
        (
            |c| c.pfs = true,
            "in tunnel mode with PFS; the peer offers no PFS, the child requires it",
        ),
    ];
    for (n, (change, want)) in cases.into_iter().enumerate() {
        let (alice, mut bob) = v1_configs();
        change(&mut bob.config.children[0]);
        let (mut sim, _) = Sim::new(70 + n as u64, alice, bob);
        sim.run();
        assert!(sim.installed(INITIATOR).is_empty());
        let r = sim.failures(RESPONDER);
        assert!(r.iter().any(|f| f.contains(want)), "{r:?}");
    }
}

/// DPD (RFC 3706): R-U-THERE after `dpd_delay` of silence, answered while the peer lives; once
/// it is gone, the SA and its Child SAs are removed after the retransmissions.
#[test]
fn dpd_keeps_a_live_peer_and_detects_a_dead_one() {
    let (mut alice, bob) = v1_configs();
    alice.config.dpd_delay = Some(Duration::from_secs(10));
    let (mut sim, _) = Sim::new(13, alice, bob);
    sim.run_until(Duration::from_secs(35));
    assert_mirrored(&sim);
    let acks = sim.outputs[RESPONDER]
        .iter()
        .filter(|o| matches!(o, Output::Send { .. }))
        .count();
    // Messages 2, 4 and 6 of Main Mode and 2 of Quick Mode, then one R-U-THERE-ACK per 10 s of
    // silence (at 10, 20 and 30 s): not a flood.
    assert_eq!(acks, 7, "datagrams from bob");
    sim.dead = Some(RESPONDER);
    sim.run();
    assert!(sim.installed(INITIATOR).is_empty());
    let i = sim.failures(INITIATOR);
    assert!(
        i.iter()
            .any(|f| f.contains("R-U-THERE (DPD): the peer is gone")),
        "{i:?}"
    );
}

/// IKEv1 has no phase 1 rekey: a new ISAKMP SA is made, takes the Child SAs over on both sides,
/// and the old one is deleted without them; a Child SA rekey then runs under the new one.
#[test]
fn isakmp_sa_re_establishment_keeps_the_child_sas() {
    let (alice, bob) = v1_configs();
    let (mut sim, old) = Sim::new(14, alice, bob);
    sim.run();
    let (child_i, _) = assert_mirrored(&sim);
    let now = sim.now;
    let new = sim.engines[INITIATOR].rekey_ike(now, old).unwrap();
    sim.run();
    let (again, _) = assert_mirrored(&sim);
    assert_eq!(again.inbound.spi, child_i.inbound.spi, "the Child SA stays");
    for e in &sim.engines {
        let st = e.status();
        assert_eq!(st.len(), 1, "{st:?}");
        assert_eq!(st[0].children.len(), 1);
    }
    assert_eq!(sim.engines[INITIATOR].status()[0].id, new);
    assert!(sim.outputs[RESPONDER]
        .iter()
        .any(|o| matches!(o, Output::IkeRekeyed { .. })));
    let now = sim.now;
    assert!(sim.engines[INITIATOR].rekey_child(now, new, child_i.inbound.spi));
    sim.run();
    let (rekeyed, _) = assert_mirrored(&sim);
    assert_ne!(rekeyed.inbound.spi, child_i.inbound.spi);
    assert!(sim.failures(INITIATOR).is_empty() && sim.failures(RESPONDER).is_empty());
}

/// Main Mode with RSA signatures: CERT and SIG instead of HASH, SKEYID from the nonces and
/// g^xy, each side's certificate checked against the trusted CA and the identity.
#[test]
fn main_mode_with_rsa_certificates() {
    use ripsec_ike::Identity;
    let (alice, mut bob) = with_certificates(pki_common::left_rsa(), pki_common::right_rsa());
    let left = alice.config.local_id.clone();
    let (mut sim, _) = Sim::new(15, alice.clone(), bob.clone());
    sim.run();
    assert_mirrored(&sim);
    assert_eq!(
        sim.engines[RESPONDER].status()[0].peer_id.as_ref(),
        Some(&left)
    );
    // A certificate for another name than the one expected is refused, explained.
    bob.config.remote_id = Identity::Fqdn("other.ripsec.test".into());
    let (mut sim, _) = Sim::new(16, alice.clone(), bob.clone());
    sim.run();
    let r = sim.failures(RESPONDER);
    assert!(
        r.iter()
            .any(|f| f.contains("but connection from-alice expects other.ripsec.test")),
        "{r:?}"
    );
    // One side with a PSK, the other with certificates: no common authentication method.
    bob.config.remote_id = left;
    bob.config.auth = ripsec_ike::engine::Auth::Psk(Secret::from_slice(b"secret"));
    let (mut sim, _) = Sim::new(17, alice, bob);
    sim.run();
    let r = sim.failures(RESPONDER);
    assert!(
        r.iter()
            .any(|f| f
                .contains("(the peer authenticates with RSA signatures, we with pre-shared keys)")),
        "{r:?}"
    );
}

/// RFC 3947 NAT traversal: the initiator behind a NAT (address and ports rewritten); NAT-D
/// finds it on both sides, Main Mode moves to port 4500 and the Child SAs carry ESP in UDP
/// between the ports each side sees.
#[test]
fn nat_traversal_moves_to_4500_and_encapsulates() {
    let (alice, bob) = v1_configs();
    let mut sim = Sim::behind_nat(18, alice, bob);
    sim.run();
    let (i, r) = assert_mirrored(&sim);
    assert_eq!(i.encap, Some((4500, 4500)));
    assert_eq!(
        r.encap,
        Some((4500, 44500)),
        "the NAT's port for the initiator's 4500"
    );
    let (si, sr) = (
        sim.engines[INITIATOR].status(),
        sim.engines[RESPONDER].status(),
    );
    assert!(si[0].nat.local_behind_nat && !si[0].nat.peer_behind_nat);
    assert!(sr[0].nat.peer_behind_nat && !sr[0].nat.local_behind_nat);
    assert_eq!(sr[0].peer.port(), 44500);
    assert!(si[0].encap && sr[0].encap);
    // The NAT rebinds: the next authenticated message (a Child SA rekey) moves the responder's
    // view of the peer, and it says so; the new Child SA goes to the new port.
    sim.remap = 5000;
    let now = sim.now;
    assert!(sim.engines[INITIATOR].rekey_child(now, si[0].id, i.inbound.spi));
    sim.run();
    assert!(sim.outputs[RESPONDER].iter().any(|o| matches!(
        o,
        Output::PeerMoved { peer, .. } if peer.port() == 49500
    )));
    assert_eq!(sim.engines[RESPONDER].status()[0].peer.port(), 49500);
    let (_, moved) = assert_mirrored(&sim);
    assert_eq!(moved.encap, Some((4500, 49500)));
    // A datagram from yet another port that proves nothing (garbage with the right cookies)
    // moves nothing.
    sim.remap = 6000;
    let mut forged = sim.outputs[INITIATOR]
        .iter()
        .rev()
        .find_map(|o| match o {
            Output::Send { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .unwrap();
    let replayed = forged.clone();
    let last = forged.len() - 1;
    forged[last] ^= 0xff;
    let (src, dst) = sim
        .through_nat(INITIATOR, (private(), addr(RESPONDER)))
        .unwrap();
    let now = sim.now;
    sim.engines[RESPONDER].handle_datagram(now, src, dst, &forged);
    assert_eq!(sim.engines[RESPONDER].status()[0].peer.port(), 49500);
    // Nor does an authenticated message replayed from there (the Delete alice sent last).
    sim.engines[RESPONDER].handle_datagram(now, src, dst, &replayed);
    assert_eq!(sim.engines[RESPONDER].status()[0].peer.port(), 49500);
    assert!(!sim.engines[RESPONDER]
        .poll_output()
        .into_iter()
        .any(|o| matches!(o, Output::PeerMoved { .. })));
    // Without a NAT nothing is encapsulated.
    let (alice, bob) = v1_configs();
    let (mut sim, _) = Sim::new(19, alice, bob);
    sim.run();
    let (i, _) = assert_mirrored(&sim);
    assert_eq!(i.encap, None);
    assert!(sim.engines[INITIATOR].status()[0].nat.checked);
}

/// A responder whose initiator never finishes phase 1 (a probe, a spoofed source) drops the
/// half-open SA after the timeout; nothing is reported as a failure.
#[test]
fn half_open_responder_sas_are_dropped() {
    let (alice, bob) = v1_configs();
    let (mut sim, _) = Sim::new(20, alice, bob);
    sim.dead = Some(INITIATOR);
    sim.run();
    assert!(sim.engines[RESPONDER].status().is_empty());
    assert!(
        sim.failures(RESPONDER).is_empty(),
        "{:?}",
        sim.failures(RESPONDER)
    );
}

/// Quick Mode agrees on the shorter lifetime of each kind: the responder answers the offered
/// transform unchanged and names its own shorter limits in RESPONDER-LIFETIME, which the
/// initiator honours; a child that names none gets the connection's default (seconds only).
#[test]
fn quick_mode_agrees_on_the_shorter_lifetime() {
    use ripsec_ike::engine::LifeLimits;
    let life = |secs, bytes| LifeLimits { secs, bytes };
    let cases = [
        // alice's child, bob's child, what both install
        (life(None, None), life(None, None), life(Some(3600), None)),
        (
            life(Some(600), Some(5_000_000)),
            life(Some(300), None),
            life(Some(300), Some(5_000_000)),
        ),
        (
            life(None, None),
            life(None, Some(1_000_000)),
            life(Some(3600), Some(1_000_000)),
        ),
        (
            life(Some(200), Some(1_000_000)),
            life(Some(900), Some(9_000_000)),
            life(Some(200), Some(1_000_000)),
        ),
    ];
    for (n, (ours, theirs, agreed)) in cases.into_iter().enumerate() {
        let (mut alice, mut bob) = v1_configs();
        alice.config.children[0].life = ours;
        bob.config.children[0].life = theirs;
        let (mut sim, _) = Sim::new(40 + n as u64, alice, bob);
        sim.run();
        let (i, r) = assert_mirrored(&sim);
        assert_eq!((i.life, r.life), (agreed, agreed), "case {n}");
    }
}

/// A peer that restarted says INITIAL-CONTACT in its new Main Mode: the responder drops the
/// SAs it still held with it (their Child SAs too), instead of keeping keys nobody has.
#[test]
fn initial_contact_ends_the_state_a_restarted_peer_lost() {
    use ripsec_ike::engine::CloseReason;
    let (alice, bob) = v1_configs();
    let (mut sim, _) = Sim::new(50, alice.clone(), bob);
    sim.run();
    let (old, _) = assert_mirrored(&sim);
    // A second ISAKMP SA from the running alice is no first contact: nothing is dropped.
    let now = sim.now;
    sim.engines[INITIATOR].initiate(now, alice.clone(), 0, addr(INITIATOR));
    sim.run();
    let dropped = |sim: &Sim| {
        sim.outputs[RESPONDER]
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    Output::Closed {
                        reason: CloseReason::InitialContact { .. },
                        ..
                    }
                )
            })
            .count()
    };
    assert_eq!(dropped(&sim), 0);
    assert_eq!(sim.installed(RESPONDER).len(), 2);
    // alice restarts with no state and connects again.
    sim.engines[INITIATOR] = EngineV1::new(
        Box::new(TestRng(XorShift(77))),
        RetransmitPolicy {
            initial_timeout: Duration::from_millis(500),
            max_transmissions: 8,
        },
    );
    sim.outputs[INITIATOR].clear();
    let now = sim.now;
    sim.engines[INITIATOR].initiate(now, alice, 0, addr(INITIATOR));
    sim.run();
    // bob's second SA took the first one's Child SA over; both Child SAs go with it.
    assert_eq!(dropped(&sim), 1, "{:?}", sim.failures(RESPONDER));
    let (new, _) = assert_mirrored(&sim);
    assert_ne!(new.inbound.spi, old.inbound.spi);
    assert_eq!(sim.engines[RESPONDER].status().len(), 1);
}

/// Two ISAKMP SAs of one connection at once (as `ikeuser bench-setup` runs them): the
/// responder keeps both, each with its own Child SA, rather than taking the first one for
/// replaced while its Quick Mode still runs.
#[test]
fn parallel_isakmp_sas_of_one_connection_each_get_their_child() {
    let (alice, bob) = v1_configs();
    let (mut sim, _) = Sim::new(60, alice.clone(), bob);
    sim.engines[INITIATOR].initiate(Duration::ZERO, alice, 0, addr(INITIATOR));
    sim.run();
    assert_eq!(sim.installed(INITIATOR).len(), 2, "{:?}", sim.failures(0));
    assert_eq!(sim.installed(RESPONDER).len(), 2, "{:?}", sim.failures(1));
    assert_eq!(sim.engines[RESPONDER].status().len(), 2);
}

/// AH children over IKEv1: an AH proposal in Quick Mode (KEYMAT for protocol AH, integrity
/// key only), rekeyed with PFS and deleted with an AH Delete; an ESP-only peer refuses one
/// and the explanation names both.
#[test]
fn ah_children_negotiate_rekey_and_delete() {
    let ah = |integ| EspProposal {
        cipher: EspCipher::Ah { integ },
    };
    let (mut alice, mut bob) = v1_configs();
    alice.config.children[0].esp_proposals = vec![ah(EspInteg::Sha512_256)];
    bob.config.children[0].esp_proposals = vec![ah(EspInteg::Sha256_128), ah(EspInteg::Sha512_256)];
    for c in [&mut alice.config, &mut bob.config] {
        c.children[0].pfs = true;
    }
    let (mut sim, id) = Sim::new(80, alice.clone(), bob);
    sim.run();
    let (i, r) = assert_mirrored(&sim);
    assert_eq!(
        i.cipher,
        EspCipher::Ah {
            integ: EspInteg::Sha512_256
        }
    );
    assert!(i.outbound.encr_key.is_empty());
    assert_eq!(i.outbound.integ_key.len(), 64);
    let now = sim.now;
    let bob_sa = sim.engines[RESPONDER].status()[0].id;
    assert!(sim.engines[RESPONDER].rekey_child(now, bob_sa, r.inbound.spi));
    sim.run();
    let (again, _) = assert_mirrored(&sim);
    assert_ne!(again.inbound.spi, i.inbound.spi);
    let now = sim.now;
    sim.engines[INITIATOR].delete_child(now, id, again.inbound.spi);
    sim.run();
    assert!(sim.installed(RESPONDER).is_empty(), "{:?}", sim.failures(1));
    let (_, mut esp_only) = v1_configs();
    esp_only.config.children[0].pfs = false;
    let (mut sim, _) = Sim::new(81, alice, esp_only);
    sim.run();
    assert!(sim.installed(INITIATOR).is_empty());
    let r = sim.failures(RESPONDER);
    assert!(
        r.iter().any(|f| f.contains(
            "the peer offered AH HMAC_SHA2_512_256 tunnel PFS MODP_2048; the child takes AES_CBC_128/HMAC_SHA2_256_128"
        )),
        "{r:?}"
    );
}

/// `encap = true` on either side, without a NAT: its NAT-D hides its own address, so both
/// find a NAT, move to 4500 and carry ESP in UDP.
#[test]
fn forced_encapsulation_from_either_side() {
    for (n, forced) in [INITIATOR, RESPONDER].into_iter().enumerate() {
        let (mut alice, mut bob) = v1_configs();
        [&mut alice, &mut bob][forced].config.encap = true;
        let (mut sim, _) = Sim::new(90 + n as u64, alice, bob);
        sim.run();
        let (i, r) = assert_mirrored(&sim);
        assert_eq!((i.encap, r.encap), (Some((4500, 4500)), Some((4500, 4500))));
        assert!(sim.engines[INITIATOR].status()[0].encap);
    }
}

/// Transport mode across the NAT: alice's IDs name its private address, which bob takes as
/// the NAT's public one (the address IKE comes from); both carry NAT-OA and ESP in UDP.
#[test]
fn transport_mode_across_a_nat() {
    let (mut alice, mut bob) = v1_configs();
    let host = |a: SocketAddr| match a.ip() {
        std::net::IpAddr::V4(v) => net(v.octets(), v.octets()[3]),
        std::net::IpAddr::V6(_) => unreachable!("IPv4 only here"),
    };
    alice.config.children[0].ts_local = vec![host(private())];
    alice.config.children[0].ts_remote = vec![host(addr(RESPONDER))];
    bob.config.children[0].ts_local = vec![host(addr(RESPONDER))];
    bob.config.children[0].ts_remote = vec![host(addr(INITIATOR))];
    for c in [&mut alice.config, &mut bob.config] {
        c.children[0].mode = Mode::Transport;
    }
    let mut sim = Sim::behind_nat(95, alice, bob);
    sim.run();
    let (i, r) = assert_mirrored(&sim);
    assert_eq!((i.mode, i.encap), (Mode::Transport, Some((4500, 4500))));
    assert_eq!(i.ts_local, vec![host(private())]);
    assert_eq!(
        r.ts_remote,
        vec![host(addr(INITIATOR))],
        "the NAT's address"
    );
    assert_eq!(r.ts_local, vec![host(addr(RESPONDER))]);
}

/// Main Mode with ECDSA certificates (Authentication Method 9 for P-256): SIG holds r and s
/// over the hash. A peer with RSA signatures has no method in common.
#[test]
fn main_mode_with_ecdsa_certificates() {
    let (alice, bob) = with_certificates(
        pki_common::pubkey("left-ec.crt", "left-ec.key", &["ca-ec.crt"]),
        pki_common::pubkey("right-ec.crt", "right-ec.sec1.key", &["ca-ec.crt"]),
    );
    let (mut sim, _) = Sim::new(96, alice, bob.clone());
    sim.run();
    assert_mirrored(&sim);
    let status = sim.engines[RESPONDER].status();
    assert!(status[0].auth.contains("pubkey"), "{:?}", status[0].auth);
    let (rsa, _) = with_certificates(pki_common::left_rsa(), pki_common::right_rsa());
    let (mut sim, _) = Sim::new(97, rsa, bob);
    sim.run();
    let r = sim.failures(RESPONDER);
    assert!(
        r.iter().any(|f| f.contains(
            "(the peer authenticates with RSA signatures, we with ECDSA signatures (P-256))"
        )),
        "{r:?}"
    );
}

/// Aggressive Mode with certificates: CERT and SIG_R in message 2, CERT and SIG_I in message 3
/// (in the clear: the signatures prove the keys, no PSK hash to guess at).
#[test]
fn aggressive_mode_with_certificates() {
    use ripsec_ike::Identity;
    let (mut alice, mut bob) = with_certificates(pki_common::left_rsa(), pki_common::right_rsa());
    (alice.aggressive, bob.aggressive) = (true, true);
    let (mut sim, _) = Sim::new(98, alice.clone(), bob.clone());
    sim.run();
    assert_mirrored(&sim);
    let st = sim.engines[RESPONDER].status();
    assert_eq!(st[0].state, "established (IKEv1 Aggressive Mode)");
    assert!(st[0].auth.contains("pubkey"), "{:?}", st[0].auth);
    assert!(sim.engines[INITIATOR].status()[0].auth.contains("pubkey"));
    // A certificate that does not name the expected identity is refused, explained.
    alice.config.remote_id = Identity::Fqdn("other.ripsec.test".into());
    let (mut sim, _) = Sim::new(99, alice, bob);
    sim.run();
    assert!(sim.installed(INITIATOR).is_empty());
    let i = sim.failures(INITIATOR);
    assert!(i.iter().any(|f| f.contains("other.ripsec.test")), "{i:?}");
}
