// SPDX-License-Identifier: GPL-2.0
//! A tiny deterministic network joining two engines, able to drop, duplicate and reorder.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ripsec_ike::crypto::{DhGroup, RandomSource, SkCipher};
use ripsec_ike::engine::{
    Auth, ChildConfig, ChildDirection, ChildSa, CloseReason, Config, Engine, Error, EspProposal,
    IkeProposal, Mode, Output, RetransmitPolicy, SaId,
};
use ripsec_ike::keys::Prf;
use ripsec_ike::{Identity, Message, Secret, TrafficSelector};

use crate::common::XorShift;

/// Deterministic randomness for the engines.
pub struct TestRng(pub XorShift);

impl RandomSource for TestRng {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.0.next() as u8;
        }
    }
}

/// A datagram on its way: sender and receiver node, bytes, source and destination port.
type Flight = (usize, usize, Vec<u8>, (u16, u16));

pub const INITIATOR: usize = 0;
pub const RESPONDER: usize = 1;

pub fn addr(i: usize) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1 + i as u8), 500))
}

pub fn gcm256() -> SkCipher {
    SkCipher::AesGcm16 { key_bits: 256 }
}

pub fn ike(cipher: SkCipher, dh: DhGroup) -> IkeProposal {
    IkeProposal {
        cipher,
        prf: Prf::HmacSha256,
        dh,
    }
}

pub fn net(a: [u8; 4], prefix_last: u8) -> TrafficSelector {
    let start = Ipv4Addr::from(a);
    let end = Ipv4Addr::from([a[0], a[1], a[2], prefix_last]);
    TrafficSelector::ipv4(start, end)
}

/// Matching configurations: initiator alice.example (10.1.0.0/24) and responder
/// bob.example (10.2.0.0/24), PSK "secret", AES-GCM-256/SHA-256/Curve25519.
pub fn configs() -> (Config, Config) {
    let alice = Config {
        name: "to-bob".into(),
        local_id: Identity::Fqdn("alice.example".into()),
        remote_id: Identity::Fqdn("bob.example".into()),
        auth: Auth::Psk(Secret::from_slice(b"secret")),
        ike_proposals: vec![ike(gcm256(), DhGroup::Curve25519)],
        children: vec![child(
            "net",
            net([10, 1, 0, 0], 255),
            net([10, 2, 0, 0], 255),
        )],
        dpd_delay: None,
        encap: false,
    };
    let bob = Config {
        name: "from-alice".into(),
        local_id: Identity::Fqdn("bob.example".into()),
        remote_id: Identity::Fqdn("alice.example".into()),
        auth: Auth::Psk(Secret::from_slice(b"secret")),
        ike_proposals: vec![ike(gcm256(), DhGroup::Curve25519)],
        children: vec![child(
            "net",
            net([10, 2, 0, 0], 255),
            net([10, 1, 0, 0], 255),
        )],
        dpd_delay: None,
        encap: false,
    };
    (alice, bob)
}

/// A tunnel-mode child `name` protecting `local` <-> `remote` with AES-GCM-256, no PFS.
pub fn child(name: &str, local: TrafficSelector, remote: TrafficSelector) -> ChildConfig {
    ChildConfig {
        name: name.into(),
        ts_local: vec![local],
        ts_remote: vec![remote],
        mode: Mode::Tunnel,
        esp_proposals: vec![EspProposal {
            cipher: gcm256().into(),
        }],
        pfs: false,
        life: ripsec_ike::engine::LifeLimits::default(),
    }
}

/// A clean handshake between alice (initiator) and a responder with `bob`; both sides installed
/// mirror-image Child SAs.
pub fn established(seed: u64, alice: Config, bob: Config) -> Sim {
    let sim = Sim::new(seed, vec![bob], Faults::default()).connect(alice);
    assert_matching_children(&sim);
    sim
}

/// [`configs`] with the given credentials and IDs: alice (initiator) and bob (responder) each
/// expect the other's ID.
pub fn configs_with(
    alice_auth: Auth,
    alice_id: &str,
    bob_auth: Auth,
    bob_id: &str,
) -> (Config, Config) {
    let (mut alice, mut bob) = configs();
    alice.auth = alice_auth;
    bob.auth = bob_auth;
    alice.local_id = Identity::parse(alice_id).unwrap();
    bob.remote_id = alice.local_id.clone();
    bob.local_id = Identity::parse(bob_id).unwrap();
    alice.remote_id = bob.local_id.clone();
    (alice, bob)
}

/// Fault model: probabilities in percent, plus explicit drops/duplicates by datagram index
/// (0-based, counting every datagram any engine sends).
#[derive(Default, Clone)]
pub struct Faults {
    pub drop_percent: usize,
    pub duplicate_percent: usize,
    pub reorder: bool,
    pub drop_indices: Vec<usize>,
    pub duplicate_indices: Vec<usize>,
    /// Datagrams kept back until [`Sim::release_held`].
    pub hold_indices: Vec<usize>,
}

impl Faults {
    /// Drops the datagrams with these indices.
    pub fn dropping(indices: impl IntoIterator<Item = usize>) -> Self {
        Self {
            drop_indices: indices.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Holds the datagrams with these indices back until [`Sim::release_held`].
    pub fn holding(indices: impl IntoIterator<Item = usize>) -> Self {
        Self {
            hold_indices: indices.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Drops and duplicates `percent` % of the datagrams each, and reorders them.
    pub fn lossy(percent: usize) -> Self {
        Self {
            drop_percent: percent,
            duplicate_percent: percent,
            reorder: true,
            ..Self::default()
        }
    }
}

pub struct Sent {
    pub at: Duration,
    pub from: usize,
    pub bytes: Vec<u8>,
}

pub struct Sim {
    pub now: Duration,
    /// The address a NAT in front of each node gives its datagrams (RFC 7296 §2.23): the
    /// other node sees it as the source and sends to it. `None`: no NAT.
    pub nat: [Option<SocketAddr>; 2],
    pub engines: [Engine; 2],
    pub events: [Vec<Output>; 2],
    pub sent: Vec<Sent>,
    in_flight: Vec<Flight>,
    held: Vec<Flight>,
    rng: XorShift,
    pub faults: Faults,
    pub sa: Option<SaId>,
}

impl Sim {
    pub fn new(seed: u64, responder_configs: Vec<Config>, faults: Faults) -> Self {
        Self::with_policy(seed, responder_configs, faults, RetransmitPolicy::default())
    }

    pub fn with_policy(
        seed: u64,
        responder_configs: Vec<Config>,
        faults: Faults,
        policy: RetransmitPolicy,
    ) -> Self {
        let i = Engine::with_policy(Box::new(TestRng(XorShift(seed * 2 + 1))), policy);
        let mut r = Engine::with_policy(Box::new(TestRng(XorShift(seed * 2 + 2))), policy);
        for c in responder_configs {
            r.add_config(c);
        }
        Self {
            now: Duration::ZERO,
            nat: [None, None],
            engines: [i, r],
            events: [Vec::new(), Vec::new()],
            sent: Vec::new(),
            in_flight: Vec::new(),
            held: Vec::new(),
            rng: XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            faults,
            sa: None,
        }
    }

    /// Sets both engines' wall clock (seconds since the Unix epoch), which certificate checks
    /// need.
    pub fn with_wall_clock(mut self, unix_seconds: u64) -> Self {
        for engine in &mut self.engines {
            engine.set_wall_clock(unix_seconds);
        }
        self
    }

    /// The initiator starts `config`; the network then runs until it settles.
    pub fn connect(mut self, config: Config) -> Self {
        self.initiate(config);
        self.run();
        self
    }

    pub fn initiate(&mut self, config: Config) {
        let now = self.now;
        let peer = self.public(RESPONDER);
        self.sa = Some(self.engines[INITIATOR].initiate(now, config, peer, addr(INITIATOR)));
    }

    /// Like [`Sim::initiate`], with child configuration `child` in IKE_AUTH.
    pub fn initiate_child(&mut self, config: Config, child: usize) {
        let now = self.now;
        let peer = self.public(RESPONDER);
        let engine = &mut self.engines[INITIATOR];
        self.sa = Some(engine.initiate_child(now, config, child, peer, addr(INITIATOR)));
    }

    /// The address the other node sees for `node` (its NAT's, if any).
    pub fn public(&self, node: usize) -> SocketAddr {
        self.nat[node].unwrap_or_else(|| addr(node))
    }

    fn chance(&mut self, percent: usize) -> bool {
        percent > 0 && self.rng.below(100) < percent
    }

    fn drain(&mut self) {
        for node in 0..2 {
            while let Some(out) = self.engines[node].poll_output() {
                match out {
                    Output::Send { from, to, bytes } => {
                        let index = self.sent.len();
                        let ports = (from.port(), to.port());
                        let dest = if to.ip() == addr(0).ip()
                            || Some(to.ip()) == self.nat[0].map(|n| n.ip())
                        {
                            0
                        } else {
                            1
                        };
                        self.sent.push(Sent {
                            at: self.now,
                            from: node,
                            bytes: bytes.clone(),
                        });
                        if self.faults.hold_indices.contains(&index) {
                            self.held.push((node, dest, bytes, ports));
                            continue;
                        }
                        let drop = self.faults.drop_indices.contains(&index)
                            || self.chance(self.faults.drop_percent);
                        if drop {
                            continue;
                        }
                        let copies = if self.faults.duplicate_indices.contains(&index)
                            || self.chance(self.faults.duplicate_percent)
                        {
                            2
                        } else {
                            1
                        };
                        for _ in 0..copies {
                            self.in_flight.push((node, dest, bytes.clone(), ports));
                        }
                    }
                    other => self.events[node].push(other),
                }
            }
        }
    }

    /// Delivers the held datagrams (next, in order).
    pub fn release_held(&mut self) {
        let held = std::mem::take(&mut self.held);
        self.in_flight.extend(held);
    }

    /// Runs until nothing is in flight and no timer is pending, or 600 s pass.
    pub fn run(&mut self) {
        self.run_until(Duration::from_secs(600));
    }

    /// Runs until nothing is in flight and no timer is pending before `limit`.
    pub fn run_until(&mut self, limit: Duration) {
        for _ in 0..100_000 {
            self.drain();
            if !self.in_flight.is_empty() {
                let index = if self.faults.reorder {
                    self.rng.below(self.in_flight.len())
                } else {
                    0
                };
                let (from, to, bytes, (sport, dport)) = self.in_flight.remove(index);
                let now = self.now;
                // A NAT rewrites the sender's address (not its port) and gives the receiver
                // its own back.
                let source = SocketAddr::new(self.public(from).ip(), sport);
                let local = SocketAddr::new(addr(to).ip(), dport);
                self.engines[to].handle_datagram(now, source, local, &bytes);
                continue;
            }
            let next = [0, 1]
                .iter()
                .filter_map(|n| self.engines[*n].next_timeout())
                .min();
            match next {
                Some(t) if t <= limit => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    for e in &mut self.engines {
                        e.tick(now);
                    }
                }
                _ => return,
            }
        }
        panic!("simulation did not settle");
    }

    pub fn children(&self, node: usize) -> Vec<&ChildSa> {
        self.events[node]
            .iter()
            .filter_map(|e| match e {
                Output::InstallChild { child, .. } => Some(child),
                _ => None,
            })
            .collect()
    }

    pub fn established(&self, node: usize) -> usize {
        self.events[node]
            .iter()
            .filter(|e| matches!(e, Output::Established { .. }))
            .count()
    }

    /// Reasons of `Closed` outputs.
    pub fn closed(&self, node: usize) -> Vec<CloseReason> {
        self.events[node]
            .iter()
            .filter_map(|e| match e {
                Output::Closed { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }

    /// Reasons of `RequestFailed` outputs.
    pub fn request_failures(&self, node: usize) -> Vec<Error> {
        self.events[node]
            .iter()
            .filter_map(|e| match e {
                Output::RequestFailed { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }

    /// (inbound, outbound) SPIs of `RemoveChild` outputs.
    pub fn removed(&self, node: usize) -> Vec<(u32, u32)> {
        self.events[node]
            .iter()
            .filter_map(|e| match e {
                Output::RemoveChild {
                    inbound_spi,
                    outbound_spi,
                    ..
                } => Some((*inbound_spi, *outbound_spi)),
                _ => None,
            })
            .collect()
    }

    /// The Child SAs a caller following the outputs would have installed now, by IKE SA.
    pub fn live(&self, node: usize) -> Vec<(SaId, ChildSa)> {
        let mut live: Vec<(SaId, ChildSa)> = Vec::new();
        for e in &self.events[node] {
            match e {
                Output::InstallChild { sa, child } => live.push((*sa, child.clone())),
                Output::RemoveChild {
                    sa,
                    inbound_spi,
                    outbound_spi,
                } => {
                    let before = live.len();
                    live.retain(|(s, c)| {
                        !(s == sa
                            && c.inbound.spi == *inbound_spi
                            && c.outbound.spi == *outbound_spi)
                    });
                    assert_eq!(live.len() + 1, before, "RemoveChild of an unknown child");
                }
                Output::Closed { sa, .. } => live.retain(|(s, _)| s != sa),
                Output::IkeRekeyed { old, new } => {
                    for (s, _) in &mut live {
                        if s == old {
                            *s = *new;
                        }
                    }
                }
                _ => {}
            }
        }
        live
    }

    /// The node's current IKE SA: the established one, followed through rekeys.
    pub fn current_sa(&self, node: usize) -> Option<SaId> {
        let mut current = None;
        for e in &self.events[node] {
            match e {
                Output::Established { sa, .. } => current = Some(*sa),
                Output::IkeRekeyed { old, new } if Some(*old) == current => current = Some(*new),
                _ => {}
            }
        }
        current
    }

    /// Reasons of `Failed` outputs.
    pub fn failures(&self, node: usize) -> Vec<Error> {
        self.events[node]
            .iter()
            .filter_map(|e| match e {
                Output::Failed { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }

    /// Exchange type and response flag of every datagram sent, in order.
    pub fn trace(&self) -> Vec<String> {
        self.sent
            .iter()
            .map(|s| {
                let m = Message::parse(&s.bytes).expect("engines send valid messages");
                format!(
                    "{}{} {}",
                    m.exchange_type.name().unwrap_or("?"),
                    if m.flags.response {
                        " response"
                    } else {
                        " request"
                    },
                    m.message_id
                )
            })
            .collect()
    }
}

/// The explanations of failures or close reasons.
pub fn texts<T: ToString>(reasons: &[T]) -> Vec<String> {
    reasons.iter().map(ToString::to_string).collect()
}

/// One direction's keys, encryption then integrity (either may be empty: AEAD, ENCR_NULL).
fn key_material(d: &ChildDirection) -> Vec<u8> {
    [d.encr_key.as_bytes(), d.integ_key.as_bytes()].concat()
}

/// Asserts that two Child SAs are mirror images of each other (SPIs, keys, selectors).
pub fn assert_mirror(i: &ChildSa, r: &ChildSa) {
    assert_eq!(i.outbound.spi, r.inbound.spi);
    assert_eq!(i.inbound.spi, r.outbound.spi);
    assert_eq!(
        i.outbound.encr_key.as_bytes(),
        r.inbound.encr_key.as_bytes()
    );
    assert_eq!(
        i.outbound.integ_key.as_bytes(),
        r.inbound.integ_key.as_bytes()
    );
    assert_eq!(
        i.inbound.encr_key.as_bytes(),
        r.outbound.encr_key.as_bytes()
    );
    assert_eq!(
        i.inbound.integ_key.as_bytes(),
        r.outbound.integ_key.as_bytes()
    );
    assert_ne!(key_material(&i.inbound), key_material(&i.outbound));
    assert_eq!(i.cipher, r.cipher);
    assert_eq!(i.mode, r.mode);
    assert_eq!(i.ts_local, r.ts_remote);
    assert_eq!(i.ts_remote, r.ts_local);
}

/// Asserts that both sides have exactly one live Child SA and that they match.
pub fn assert_one_live_child(sim: &Sim) -> (ChildSa, ChildSa) {
    let i = sim.live(INITIATOR);
    let r = sim.live(RESPONDER);
    assert_eq!(i.len(), 1, "initiator: {:?}", sim.events[INITIATOR]);
    assert_eq!(r.len(), 1, "responder: {:?}", sim.events[RESPONDER]);
    assert_mirror(&i[0].1, &r[0].1);
    (i[0].1.clone(), r[0].1.clone())
}

/// Asserts that the two sides installed mirror-image Child SAs.
pub fn assert_matching_children(sim: &Sim) {
    let i = sim.children(INITIATOR);
    let r = sim.children(RESPONDER);
    assert_eq!(
        i.len(),
        1,
        "initiator children; failures {:?}",
        sim.failures(INITIATOR)
    );
    assert_eq!(
        r.len(),
        1,
        "responder children; failures {:?}",
        sim.failures(RESPONDER)
    );
    let (i, r) = (i[0], r[0]);
    assert_eq!(i.outbound.spi, r.inbound.spi);
    assert_eq!(i.inbound.spi, r.outbound.spi);
    assert_ne!(i.inbound.spi, i.outbound.spi);
    assert_eq!(
        i.outbound.encr_key.as_bytes(),
        r.inbound.encr_key.as_bytes()
    );
    assert_eq!(
        i.outbound.integ_key.as_bytes(),
        r.inbound.integ_key.as_bytes()
    );
    assert_eq!(
        i.inbound.encr_key.as_bytes(),
        r.outbound.encr_key.as_bytes()
    );
    assert_eq!(
        i.inbound.integ_key.as_bytes(),
        r.outbound.integ_key.as_bytes()
    );
    assert_ne!(key_material(&i.inbound), key_material(&i.outbound));
    assert_eq!(i.outbound.encr_key.len(), i.cipher.encr_key_len());
    assert_eq!(i.outbound.integ_key.len(), i.cipher.integ_key_len());
    assert_eq!(i.cipher, r.cipher);
    assert_eq!(i.mode, r.mode);
    assert_eq!(i.ts_local, r.ts_remote);
    assert_eq!(i.ts_remote, r.ts_local);
    assert_eq!(i.peer, addr(RESPONDER));
    assert_eq!(r.peer, addr(INITIATOR));
    assert_eq!(sim.established(INITIATOR), 1);
    assert_eq!(sim.established(RESPONDER), 1);
    assert!(sim.failures(INITIATOR).is_empty());
    assert!(sim.failures(RESPONDER).is_empty());
}
