// SPDX-License-Identifier: GPL-2.0
//! Two IKEv1 engines in-process: Main Mode with a PSK and Quick Mode (with and without PFS,
//! tunnel and transport), over a network that can lose, duplicate and reorder datagrams;
//! Deletes both ways; and the explanations of a PSK, ID and proposal mismatch.

mod common;
mod engine_sim;

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
        engines[RESPONDER].add_config(bob);
        let id = engines[INITIATOR].initiate(Duration::ZERO, alice, 0, addr(INITIATOR));
        let sim = Sim {
            engines,
            outputs: [Vec::new(), Vec::new()],
            now: Duration::ZERO,
            rng: XorShift(seed + 7),
            loss: 0,
            dup: 0,
        };
        (sim, id)
    }

    /// Delivers datagrams (losing, duplicating and swapping some) and runs timers until quiet.
    fn run(&mut self) {
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
            for (from, bytes) in flights {
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
                    self.engines[to].handle_datagram(self.now, addr(from), addr(to), &bytes);
                }
            }
        }
        panic!("the engines did not settle");
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
