// SPDX-License-Identifier: GPL-2.0
//! Two engines in-process, and messages forged with the keys of their ISAKMP SA, which the
//! tests in `ike/tests/` cannot reach: how a payload type nobody knows is answered when it
//! comes authenticated, and that nothing answers it when it does not.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::codes::{proto, ExchangeV1, NotifyV1, PayloadV1, DOI_IPSEC};
use super::crypt::open;
use super::engine::{ConfigV1, EngineV1, IsakmpSa};
use super::keys::{hash1, message_iv};
use super::message::{BodyV1, MessageV1};
use super::payload::{DeleteV1, NotifyPayloadV1, PayloadBodyV1};
use super::quick_payloads::{p2_sa, proposed_life, quick_ids, quick_payloads};
use super::suite::{p2_transform, P2Params};
use crate::crypto::{DhGroup, RandomSource, SkCipher, SkInteg};
use crate::engine::{
    Auth, ChildConfig, Config, EspCipher, EspInteg, EspProposal, IkeProposal, Mode, Output,
    RetransmitPolicy, SaId,
};
use crate::identity::Identity;
use crate::keys::Prf;
use crate::secret::Secret;
use crate::traffic_selector::TrafficSelector;

const INITIATOR: usize = 0;
const RESPONDER: usize = 1;
const NOW: Duration = Duration::ZERO;
/// Private use (RFC 2408 §3.1), unknown to the engine.
const UNKNOWN: PayloadV1 = PayloadV1(200);

struct XorShift(u64);

impl RandomSource for XorShift {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = self.0 as u8;
        }
    }
}

fn addr(node: usize) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1 + node as u8], 500))
}

fn subnet(node: usize) -> TrafficSelector {
    let third = node as u8 + 1;
    TrafficSelector::ipv4(
        Ipv4Addr::new(10, third, 0, 0),
        Ipv4Addr::new(10, third, 0, 255),
    )
}

/// Node `local`'s connection to node `peer`: PSK, AES-128-CBC/SHA-256/ECP-256, one child.
fn config(local: usize, peer: usize) -> ConfigV1 {
    let id = |node: usize| Identity::Fqdn(format!("node{node}.example"));
    let child = ChildConfig {
        name: "net".into(),
        ts_local: vec![subnet(local)],
        ts_remote: vec![subnet(peer)],
        mode: Mode::Tunnel,
        esp_proposals: vec![EspProposal {
            cipher: EspCipher::AesCbc {
                key_bits: 128,
                integ: EspInteg::Sha256_128,
            },
        }],
        pfs: false,
        life: Default::default(),
    };
    let ike = IkeProposal {
        cipher: SkCipher::AesCbc {
            key_bits: 128,
            integ: SkInteg::Sha256_128,
        },
        prf: Prf::HmacSha256,
        dh: DhGroup::Ecp256,
    };
    let config = Config {
        name: format!("to-node{peer}"),
        local_id: id(local),
        remote_id: id(peer),
        auth: Auth::Psk(Secret::from_slice(b"secret")),
        ike_proposals: vec![ike],
        children: vec![child],
        dpd_delay: None,
        encap: false,
    };
    ConfigV1 {
        config,
        peer: addr(peer).ip(),
        isakmp_life: Duration::from_secs(10800),
        ipsec_life: Duration::from_secs(3600),
        aggressive: false,
    }
}

/// Two engines with an ISAKMP SA between them, and everything each one output.
struct Pair {
    engines: [EngineV1; 2],
    id: SaId,
    outputs: [Vec<Output>; 2],
}

impl Pair {
    /// Main Mode and one Quick Mode, run to the end.
    fn established() -> Self {
        let engine = |seed| EngineV1::new(Box::new(XorShift(seed)), RetransmitPolicy::default());
        let mut engines = [engine(1), engine(2)];
        engines[RESPONDER].add_config(config(RESPONDER, INITIATOR));
        let alice = config(INITIATOR, RESPONDER);
        let id = engines[INITIATOR].initiate(NOW, alice, 0, addr(INITIATOR));
        let mut pair = Self {
            engines,
            id,
            outputs: Default::default(),
        };
        pair.run();
        assert_eq!(pair.installed(), [1, 1], "{:?}", pair.outputs);
        pair
    }

    /// Delivers what each engine sends to the other until both are quiet.
    fn run(&mut self) {
        let mut flights: Vec<(usize, Vec<u8>)> = [INITIATOR, RESPONDER]
            .into_iter()
            .flat_map(|from| sends(&self.poll(from)).into_iter().map(move |b| (from, b)))
            .collect();
        for _ in 0..50 {
            let Some((from, bytes)) = flights.pop() else {
                return;
            };
            let answers = sends(&self.deliver(from, &bytes));
            flights.extend(answers.into_iter().map(|b| (1 - from, b)));
        }
        panic!("the engines did not settle");
    }

    /// Hands `bytes` from node `from` to the other one, and returns what that one output.
    fn deliver(&mut self, from: usize, bytes: &[u8]) -> Vec<Output> {
        let to = 1 - from;
        self.engines[to].handle_datagram(NOW, addr(from), addr(to), bytes);
        self.poll(to)
    }

    /// Engine `node`'s new outputs (also kept in `outputs`).
    fn poll(&mut self, node: usize) -> Vec<Output> {
        let new: Vec<Output> = std::iter::from_fn(|| self.engines[node].poll_output()).collect();
        self.outputs[node].extend(new.iter().cloned());
        new
    }

    fn installed(&self) -> [usize; 2] {
        let count = |o: &Vec<Output>| {
            o.iter()
                .filter(|o| matches!(o, Output::InstallChild { .. }))
                .count()
        };
        [count(&self.outputs[0]), count(&self.outputs[1])]
    }

    fn sa(&self, node: usize) -> &IsakmpSa {
        &self.engines[node].sas[0]
    }

    /// What follows HASH(1) in a Quick Mode message 1 of the initiator for its child.
    fn quick_offer(&self) -> Vec<PayloadBodyV1> {
        let sa = self.sa(INITIATOR);
        let child = &sa.config.config.children[0];
        let params = P2Params {
            mode: child.mode,
            life: proposed_life(sa, child),
            pfs: None,
            udp: false,
        };
        let transform = p2_transform(1, child.esp_proposals[0].cipher, params).unwrap();
        let offer = PayloadBodyV1::Sa(p2_sa(proto::ESP, 0x1000, vec![transform]));
        quick_payloads(offer, &[9; 32], None, quick_ids(child).unwrap())
    }

    /// A message of `exchange` from the initiator under the ISAKMP SA: HASH(1) over
    /// `payloads`, computed with `skeyid_a` (the SA's own when `None`), then `payloads`.
    fn forge(
        &mut self,
        exchange: ExchangeV1,
        payloads: Vec<PayloadBodyV1>,
        skeyid_a: Option<&Secret>,
    ) -> Vec<u8> {
        let engine = &mut self.engines[INITIATOR];
        let sa = engine.take(self.id).unwrap();
        let message_id = engine.message_id();
        let prf = sa.prf().unwrap();
        let iv = message_iv(prf, &sa.iv, message_id).unwrap();
        let h = |a: &Secret, bytes: &[u8]| hash1(prf, skeyid_a.unwrap_or(a), message_id, bytes);
        let sealed = engine.seal_hashed(&sa, (exchange, message_id, &iv), payloads, h);
        engine.sas.push(sa);
        sealed.unwrap().0
    }
}

fn sends(outputs: &[Output]) -> Vec<Vec<u8>> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .collect()
}

fn warned(outputs: &[Output], text: &str) -> bool {
    outputs
        .iter()
        .any(|o| matches!(o, Output::Warning { message, .. } if message == text))
}

fn message_id(datagram: &[u8]) -> u32 {
    MessageV1::parse(datagram).unwrap().message_id
}

fn unknown() -> PayloadBodyV1 {
    PayloadBodyV1::Unknown(UNKNOWN, vec![1, 2, 3, 4])
}

/// The payloads of an encrypted informational message under `sa`.
fn open_informational(sa: &IsakmpSa, bytes: &[u8]) -> Vec<PayloadBodyV1> {
    let m = MessageV1::parse(bytes).unwrap();
    assert_eq!(
        (m.exchange, m.flags.encrypted),
        (ExchangeV1::INFORMATIONAL, true)
    );
    let BodyV1::Encrypted(ct) = &m.body else {
        panic!("not encrypted")
    };
    let iv = message_iv(sa.prf().unwrap(), &sa.iv, m.message_id).unwrap();
    open(&sa.enc_key().unwrap(), &iv, m.next_payload, ct)
        .unwrap()
        .payloads
}

#[test]
fn an_authenticated_unknown_payload_gets_invalid_payload_type_and_the_sa_stays() {
    let mut pair = Pair::established();
    // A Quick Mode offer the responder would take, but for the unknown payload.
    let mut payloads = pair.quick_offer();
    payloads.push(unknown());
    let request = pair.forge(ExchangeV1::QUICK, payloads, None);
    let out = pair.deliver(INITIATOR, &request);
    let answer = match sends(&out).as_slice() {
        [one] => one.clone(),
        _ => panic!("not one answer: {out:?}"),
    };
    assert_eq!(pair.installed(), [1, 1]);
    let sa = pair.sa(RESPONDER);
    let notify = PayloadBodyV1::Notify(NotifyPayloadV1 {
        doi: DOI_IPSEC,
        protocol: proto::ISAKMP,
        notify: NotifyV1::INVALID_PAYLOAD_TYPE,
        spi: [sa.cookie_i, sa.cookie_r].concat(),
        data: vec![UNKNOWN.0],
    });
    let payloads = open_informational(sa, &answer);
    assert_eq!(payloads.get(1..), Some(&[notify][..]), "{payloads:?}");
    let why = format!(
        "IKEv1 Quick Mode {:#x} with {}: the message carries payload 200, a payload type we do not know; discarded and answered with INVALID-PAYLOAD-TYPE",
        message_id(&request),
        addr(INITIATOR)
    );
    assert!(warned(&out, &why), "{out:?}");
    // The initiator's engine takes the answer (its HASH(1) holds) and answers nothing.
    let back = pair.deliver(RESPONDER, &answer);
    assert!(sends(&back).is_empty(), "{back:?}");
    let notified = "the peer notified INVALID-PAYLOAD-TYPE";
    let took = |o: &Output| matches!(o, Output::Debug { message, .. } if message == notified);
    assert!(back.iter().any(took), "{back:?}");
    // The ISAKMP SA still carries a Quick Mode.
    assert!(pair.engines[INITIATOR].create_child(NOW, pair.id, 0));
    pair.run();
    assert_eq!(pair.installed(), [2, 2], "{:?}", pair.outputs);
}

#[test]
fn an_informational_with_an_unknown_payload_is_discarded_without_an_answer() {
    let mut pair = Pair::established();
    let sa = pair.sa(INITIATOR);
    let delete = PayloadBodyV1::Delete(DeleteV1 {
        doi: DOI_IPSEC,
        protocol: proto::ISAKMP,
        spi_size: 16,
        spis: vec![[sa.cookie_i, sa.cookie_r].concat()],
    });
    let request = pair.forge(ExchangeV1::INFORMATIONAL, vec![delete, unknown()], None);
    let out = pair.deliver(INITIATOR, &request);
    assert!(sends(&out).is_empty(), "{out:?}");
    let why = format!(
        "IKEv1 Informational {:#x} with {}: the message carries payload 200, a payload type we do not know; discarded, not answered",
        message_id(&request),
        addr(INITIATOR)
    );
    assert!(warned(&out, &why), "{out:?}");
    // The Delete beside the unknown payload did not act either.
    assert_eq!(pair.engines[RESPONDER].status().len(), 1);
}

#[test]
fn unauthenticated_unknown_payloads_get_no_answer() {
    let mut pair = Pair::established();
    let (cookie_i, cookie_r) = (pair.sa(RESPONDER).cookie_i, pair.sa(RESPONDER).cookie_r);
    let plain = |cookies: ([u8; 8], [u8; 8]), exchange| {
        let m = MessageV1 {
            cookie_i: cookies.0,
            cookie_r: cookies.1,
            next_payload: UNKNOWN,
            exchange,
            flags: Default::default(),
            message_id: 0,
            body: BodyV1::Payloads(vec![unknown()]),
        };
        m.to_bytes().unwrap()
    };
    let not_skeyid_a = Secret::from_slice(b"not SKEYID_a");
    let messages = [
        plain(([7; 8], [0; 8]), ExchangeV1::MAIN),
        plain((cookie_i, cookie_r), ExchangeV1::INFORMATIONAL),
        // Encrypted under the SA, but its HASH(1) is not the peer's.
        pair.forge(ExchangeV1::QUICK, vec![unknown()], Some(&not_skeyid_a)),
    ];
    for bytes in messages {
        let out = pair.deliver(INITIATOR, &bytes);
        assert!(sends(&out).is_empty(), "{out:?}");
    }
    assert_eq!(pair.engines[RESPONDER].status().len(), 1);
}
