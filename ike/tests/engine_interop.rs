// SPDX-License-Identifier: GPL-2.0
//! A hand-written initiator, built from the RFC text with raw bytes, AES-GCM and HMAC rather
//! than the engine's own helpers, talks to the engine as responder. This catches mistakes the
//! engine would make symmetrically on both sides (AUTH octets, SK framing, AAD, KEYMAT order).
//! Over the IKE SA it sets up, it sends requests the engine's own initiator never would: with
//! an unknown critical payload or a payload that does not parse inside a valid SK payload
//! (answered, RFC 7296 §2.21.2), and the same with a bad ICV (never answered).

mod common;
mod engine_sim;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use engine_sim::*;
use ripsec_ike::crypto::{DhGroup, KeyExchange};
use ripsec_ike::engine::{CloseReason, Engine, Output};
use ripsec_ike::keys::{skeyseed, ChildSaKeys, IkeSaKeyLengths, IkeSaKeys, Prf};
use ripsec_ike::transform_ids::*;
use ripsec_ike::{
    build_inner_chain, parse_inner_chain, AuthMethod, AuthPayload, EncryptedPayload, ExchangeType,
    HeaderFlags, IdPayload, KePayload, Message, NotifyPayload, NotifyType, Payload, PayloadType,
    Proposal, ProtocolId, SaPayload, Transform, TransformType, TsPayload,
};

fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn sends(engine: &mut Engine) -> (Vec<Vec<u8>>, Vec<Output>) {
    let mut sent = Vec::new();
    let mut other = Vec::new();
    while let Some(out) = engine.poll_output() {
        match out {
            Output::Send { bytes, .. } => sent.push(bytes),
            o => other.push(o),
        }
    }
    (sent, other)
}

/// The hand-written initiator's view of an IKE SA after IKE_SA_INIT: both messages, the
/// nonces and SPIs, and the keys (RFC 7296 §2.14).
struct HandSa {
    spi_i: [u8; 8],
    spi_r: [u8; 8],
    ni: Vec<u8>,
    nr: Vec<u8>,
    m1: Vec<u8>,
    m2: Vec<u8>,
    keys: IkeSaKeys,
}

/// Runs IKE_SA_INIT by hand against `engine` (Curve25519, AES-GCM-256, HMAC-SHA-256).
fn hand_init(engine: &mut Engine) -> HandSa {
    let now = std::time::Duration::ZERO;
    let dh = KeyExchange::from_private(DhGroup::Curve25519, &[7; 32]).unwrap();
    let ni = vec![0x11; 32];
    let spi_i = [1, 2, 3, 4, 5, 6, 7, 8];
    let m1 = Message {
        spi_i,
        spi_r: [0; 8],
        exchange_type: ExchangeType::IKE_SA_INIT,
        flags: HeaderFlags {
            initiator: true,
            ..HeaderFlags::default()
        },
        message_id: 0,
        payloads: vec![
            Payload::Sa(SaPayload {
                proposals: vec![Proposal {
                    number: 1,
                    protocol: ProtocolId::IKE,
                    spi: vec![],
                    transforms: vec![
                        Transform::with_key_length(TransformType::ENCR, ENCR_AES_GCM_16, 256),
                        Transform::new(TransformType::PRF, PRF_HMAC_SHA2_256),
                        Transform::new(TransformType::DH, DH_CURVE_25519),
                    ],
                }],
            }),
            Payload::Ke(KePayload {
                group: DH_CURVE_25519,
                data: dh.public_value().to_vec(),
            }),
            Payload::Nonce(ni.clone()),
        ],
    }
    .to_bytes()
    .unwrap();
    engine.handle_datagram(now, addr(INITIATOR), addr(RESPONDER), &m1);
    let (sent, _) = sends(engine);
    let m2 = sent.into_iter().next().expect("IKE_SA_INIT response");
    let response = Message::parse(&m2).unwrap();
    assert!(response.flags.response && !response.flags.initiator);
    assert_eq!(response.spi_i, spi_i);
    let spi_r = response.spi_r;
    assert_ne!(spi_r, [0; 8]);
    let mut ke_r = None;
    let mut nr = None;
    for p in &response.payloads {
        match p {
            Payload::Ke(ke) => ke_r = Some(ke.data.clone()),
            Payload::Nonce(n) => nr = Some(n.clone()),
            Payload::Sa(sa) => {
                assert_eq!(sa.proposals.len(), 1);
                assert_eq!(sa.proposals[0].number, 1);
            }
            _ => {}
        }
    }
    let (ke_r, nr) = (ke_r.unwrap(), nr.unwrap());

    // Keys (RFC 7296 §2.14).
    let g_ir = dh.shared_secret(&ke_r).unwrap();
    let seed = skeyseed(Prf::HmacSha256, &ni, &nr, g_ir.as_bytes()).unwrap();
    let keys = IkeSaKeys::derive(
        Prf::HmacSha256,
        &seed,
        &ni,
        &nr,
        &spi_i,
        &spi_r,
        IkeSaKeyLengths { encr: 36, integ: 0 },
    )
    .unwrap();
    HandSa {
        spi_i,
        spi_r,
        ni,
        nr,
        m1,
        m2,
        keys,
    }
}

/// The PSK pad of RFC 7296 §2.15 for the secret both configurations share.
fn psk_pad() -> Vec<u8> {
    hmac256(b"secret", &[b"Key Pad for IKEv2"])
}

/// The IKE_AUTH request's payloads: IDi, AUTH, one ESP proposal and the selectors.
fn auth_request(sa: &HandSa) -> Vec<Payload> {
    // AUTH (RFC 7296 §2.15), with the IDi body written out by hand: type FQDN, 3 reserved.
    let id_i_body = [&[2u8, 0, 0, 0][..], b"alice.example"].concat();
    let auth = hmac256(
        &psk_pad(),
        &[
            &sa.m1,
            &sa.nr,
            &hmac256(sa.keys.sk_pi.as_bytes(), &[&id_i_body]),
        ],
    );
    vec![
        Payload::IdI(IdPayload::fqdn("alice.example")),
        Payload::Auth(AuthPayload {
            method: AuthMethod::SHARED_KEY_MIC,
            data: auth,
        }),
        Payload::Sa(SaPayload {
            proposals: vec![Proposal {
                number: 1,
                protocol: ProtocolId::ESP,
                spi: vec![0xca, 0xfe, 0x00, 0x01],
                transforms: vec![
                    Transform::with_key_length(TransformType::ENCR, ENCR_AES_GCM_16, 256),
                    Transform::new(TransformType::ESN, NO_ESN),
                ],
            }],
        }),
        Payload::TsI(TsPayload {
            selectors: vec![net([10, 1, 0, 0], 255)],
        }),
        Payload::TsR(TsPayload {
            selectors: vec![net([10, 2, 0, 0], 255)],
        }),
    ]
}

/// A request of the initiator with an SK payload framed by hand (RFC 5282): IV 8 |
/// ciphertext | ICV 16; pad length byte 0; nonce = salt (last 4 bytes of SK_ei) | IV;
/// AAD = IKE header + SK generic header. `chain` is the serialized inner payload chain
/// starting with a payload of type `first`.
fn seal_request(
    sa: &HandSa,
    (exchange_type, message_id): (ExchangeType, u32),
    first: PayloadType,
    chain: &[u8],
) -> Vec<u8> {
    let mut plaintext = [chain, &[0]].concat();
    let iv = [0x42u8; 8];
    let body_len = 8 + plaintext.len() + 16;
    let mut bytes = Message {
        spi_i: sa.spi_i,
        spi_r: sa.spi_r,
        exchange_type,
        flags: HeaderFlags {
            initiator: true,
            ..HeaderFlags::default()
        },
        message_id,
        payloads: vec![Payload::Encrypted(EncryptedPayload {
            first_inner: first,
            body: vec![0; body_len],
        })],
    }
    .to_bytes()
    .unwrap();
    assert_eq!(bytes.len(), 28 + 4 + body_len);
    let (key, salt) = sa.keys.sk_ei.as_bytes().split_at(32);
    let nonce: Vec<u8> = [salt, &iv].concat();
    let aad = bytes[..32].to_vec();
    let tag = Aes256Gcm::new_from_slice(key)
        .unwrap()
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), &aad, &mut plaintext)
        .unwrap();
    bytes[32..40].copy_from_slice(&iv);
    bytes[40..40 + plaintext.len()].copy_from_slice(&plaintext);
    bytes[40 + plaintext.len()..].copy_from_slice(&tag);
    bytes
}

/// Verifies and decrypts a response of the engine by hand; returns its header fields and
/// its inner payloads.
fn open_response(sa: &HandSa, bytes: &[u8]) -> (Message, Vec<Payload>) {
    let parsed = Message::parse(bytes).unwrap();
    let sk = parsed.encrypted().unwrap();
    let (key, salt) = sa.keys.sk_er.as_bytes().split_at(32);
    let (iv, rest) = sk.body.split_at(8);
    let (ct, icv) = rest.split_at(rest.len() - 16);
    let mut pt = ct.to_vec();
    let nonce: Vec<u8> = [salt, iv].concat();
    Aes256Gcm::new_from_slice(key)
        .unwrap()
        .decrypt_in_place_detached(
            Nonce::from_slice(&nonce),
            &bytes[..bytes.len() - sk.body.len()],
            &mut pt,
            Tag::from_slice(icv),
        )
        .expect("the engine's SK payload verifies under the RFC 5282 framing");
    let pad_len = *pt.last().unwrap() as usize;
    pt.truncate(pt.len() - 1 - pad_len);
    let inner = parse_inner_chain(sk.first_inner, &pt).unwrap();
    (parsed, inner)
}

/// An engine as responder with a bob configuration.
fn responder_engine() -> Engine {
    let (_, bob) = configs();
    let mut engine = Engine::new(Box::new(TestRng(common::XorShift(99))));
    engine.add_config(bob);
    engine
}

#[test]
fn hand_written_initiator_against_engine_responder() {
    let mut engine = responder_engine();
    let now = std::time::Duration::ZERO;
    let sa = hand_init(&mut engine);
    let (first, chain) = build_inner_chain(&auth_request(&sa)).unwrap();
    let m3 = seal_request(&sa, (ExchangeType::IKE_AUTH, 1), first, &chain);

    engine.handle_datagram(now, addr(INITIATOR), addr(RESPONDER), &m3);
    let (sent, events) = sends(&mut engine);
    assert_eq!(sent.len(), 1);
    let (parsed, answer) = open_response(&sa, &sent[0]);
    assert_eq!(parsed.message_id, 1);
    assert_eq!(parsed.encrypted().unwrap().first_inner, PayloadType::IDR);

    // The responder's AUTH over RealMessage2 | Ni | prf(SK_pr, IDr body).
    let id_r_body = [&[2u8, 0, 0, 0][..], b"bob.example"].concat();
    let expected_auth = hmac256(
        &psk_pad(),
        &[
            &sa.m2,
            &sa.ni,
            &hmac256(sa.keys.sk_pr.as_bytes(), &[&id_r_body]),
        ],
    );
    let mut child_spi = None;
    for p in &answer {
        match p {
            Payload::IdR(id) => assert_eq!(id, &IdPayload::fqdn("bob.example")),
            Payload::Auth(a) => {
                assert_eq!(a.method, AuthMethod::SHARED_KEY_MIC);
                assert_eq!(a.data, expected_auth);
            }
            Payload::Sa(sa) => {
                child_spi = Some(u32::from_be_bytes(
                    sa.proposals[0].spi[..].try_into().unwrap(),
                ))
            }
            Payload::Notify(n) => panic!("unexpected notify {n:?}"),
            _ => {}
        }
    }
    let child_spi = child_spi.expect("SA in the response");

    // KEYMAT (RFC 7296 §2.17): initiator-to-responder keys first.
    let keymat =
        ChildSaKeys::derive(Prf::HmacSha256, &sa.keys.sk_d, None, &sa.ni, &sa.nr, 36, 0).unwrap();
    let child = events
        .iter()
        .find_map(|e| match e {
            Output::InstallChild { child, .. } => Some(child),
            _ => None,
        })
        .expect("InstallChild");
    assert_eq!(child.inbound.spi, child_spi);
    assert_eq!(child.outbound.spi, 0xcafe_0001);
    assert_eq!(child.inbound.encr_key.as_bytes(), keymat.encr_i.as_bytes());
    assert_eq!(child.outbound.encr_key.as_bytes(), keymat.encr_r.as_bytes());
    assert_ne!(keymat.encr_i.as_bytes(), keymat.encr_r.as_bytes());
}

/// The engine as responder with an IKE SA the hand-written initiator set up (message ID 1
/// used), its outputs drained.
fn established_by_hand() -> (Engine, HandSa) {
    let mut engine = responder_engine();
    let sa = hand_init(&mut engine);
    let (first, chain) = build_inner_chain(&auth_request(&sa)).unwrap();
    let m3 = seal_request(&sa, (ExchangeType::IKE_AUTH, 1), first, &chain);
    engine.handle_datagram(Duration::ZERO, addr(INITIATOR), addr(RESPONDER), &m3);
    let (sent, events) = sends(&mut engine);
    assert_eq!(sent.len(), 1);
    assert!(events
        .iter()
        .any(|e| matches!(e, Output::Established { .. })));
    (engine, sa)
}

/// A private-use payload type (RFC 7296 §3.2) the engine does not know.
const UNKNOWN_TYPE: u8 = 200;

/// An inner chain of one unknown payload with 4 body bytes, critical or not.
fn unknown_payload(critical: bool) -> Vec<u8> {
    vec![0, if critical { 0x80 } else { 0 }, 0, 8, 1, 2, 3, 4]
}

/// Feeds `bytes` to the engine at `at` seconds; returns what it sent and its other outputs.
fn feed(engine: &mut Engine, at: u64, bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<Output>) {
    let now = Duration::from_secs(at);
    engine.handle_datagram(now, addr(INITIATOR), addr(RESPONDER), bytes);
    sends(engine)
}

/// The one response among `sent`, opened: its message ID, exchange and inner payloads.
fn only_response(sa: &HandSa, sent: &[Vec<u8>]) -> (u32, ExchangeType, Vec<Payload>) {
    assert_eq!(sent.len(), 1, "exactly one response");
    let (header, inner) = open_response(sa, &sent[0]);
    assert!(header.flags.response && !header.flags.initiator);
    (header.message_id, header.exchange_type, inner)
}

/// A liveness check (empty INFORMATIONAL) with message ID `id` is answered with that ID.
fn assert_alive(engine: &mut Engine, sa: &HandSa, id: u32) {
    let request = seal_request(
        sa,
        (ExchangeType::INFORMATIONAL, id),
        PayloadType::NONE,
        &[],
    );
    let (sent, _) = feed(engine, 3, &request);
    let (answered, _, inner) = only_response(sa, &sent);
    assert_eq!((answered, inner), (id, vec![]));
}

#[test]
fn critical_unknown_payload_in_an_authenticated_request_is_refused_and_the_sa_survives() {
    let (mut engine, sa) = established_by_hand();
    for exchange in [ExchangeType::INFORMATIONAL, ExchangeType::CREATE_CHILD_SA] {
        let id = if exchange == ExchangeType::INFORMATIONAL {
            2
        } else {
            3
        };
        let chain = unknown_payload(true);
        let request = seal_request(&sa, (exchange, id), PayloadType(UNKNOWN_TYPE), &chain);
        let (sent, events) = feed(&mut engine, 1, &request);
        let (answered, kind, inner) = only_response(&sa, &sent);
        assert_eq!((answered, kind), (id, exchange));
        let notify =
            NotifyPayload::new(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![UNKNOWN_TYPE]);
        assert_eq!(inner, vec![Payload::Notify(notify)]);
        let reported = events.iter().any(|e| {
            matches!(e, Output::RequestFailed { reason, .. }
                if reason.to_string().contains("critical payload type"))
        });
        assert!(reported, "{events:?}");
        // A retransmission of the request gets the same answer again.
        assert_eq!(feed(&mut engine, 2, &request).0, sent);
    }
    assert_alive(&mut engine, &sa, 4);
    assert_eq!(engine.status().len(), 1);
}

#[test]
fn non_critical_unknown_payload_is_ignored() {
    let (mut engine, sa) = established_by_hand();
    let chain = unknown_payload(false);
    let request = seal_request(
        &sa,
        (ExchangeType::INFORMATIONAL, 2),
        PayloadType(UNKNOWN_TYPE),
        &chain,
    );
    let (sent, _) = feed(&mut engine, 1, &request);
    assert_eq!(only_response(&sa, &sent).2, vec![]);
}

#[test]
fn authenticated_request_that_does_not_parse_gets_invalid_syntax_and_closes_the_sa() {
    let (mut engine, sa) = established_by_hand();
    // A Notify payload whose body is shorter than its fixed fields.
    let chain = [0, 0, 0, 6, 0, 0];
    let request = seal_request(
        &sa,
        (ExchangeType::INFORMATIONAL, 2),
        PayloadType::NOTIFY,
        &chain,
    );
    let (sent, events) = feed(&mut engine, 1, &request);
    let (answered, kind, inner) = only_response(&sa, &sent);
    assert_eq!((answered, kind), (2, ExchangeType::INFORMATIONAL));
    let notify = NotifyPayload::new(NotifyType::INVALID_SYNTAX, vec![]);
    assert_eq!(inner, vec![Payload::Notify(notify)]);
    let closed = events.iter().find_map(|e| match e {
        Output::Closed { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(
        matches!(closed, Some(CloseReason::InvalidSyntax { .. })),
        "{events:?}"
    );
    assert!(engine.status().is_empty());
    // The answer is repeated for a retransmission, and the closed SA answers nothing else.
    assert_eq!(feed(&mut engine, 2, &request).0, sent);
    let next = seal_request(
        &sa,
        (ExchangeType::INFORMATIONAL, 3),
        PayloadType::NONE,
        &[],
    );
    assert!(feed(&mut engine, 3, &next).0.is_empty());
}

#[test]
fn unauthenticated_malformed_requests_get_nothing() {
    let (mut engine, sa) = established_by_hand();
    let critical = seal_request(
        &sa,
        (ExchangeType::INFORMATIONAL, 2),
        PayloadType(UNKNOWN_TYPE),
        &unknown_payload(true),
    );
    let syntax = seal_request(
        &sa,
        (ExchangeType::INFORMATIONAL, 2),
        PayloadType::NOTIFY,
        &[0, 0, 0, 6, 0, 0],
    );
    for mut request in [critical, syntax] {
        // A bad ICV: the last byte of the tag flipped.
        *request.last_mut().unwrap() ^= 1;
        let (sent, events) = feed(&mut engine, 1, &request);
        assert!(sent.is_empty() && events.is_empty(), "{sent:?} {events:?}");
    }
    // Nothing was consumed: message ID 2 is still the next one, and the SA is up.
    assert_alive(&mut engine, &sa, 2);
    assert_eq!(engine.status().len(), 1);
}
