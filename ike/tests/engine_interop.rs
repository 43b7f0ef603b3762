// SPDX-License-Identifier: GPL-2.0
//! A hand-written initiator, built from the RFC text with raw bytes, AES-GCM and HMAC rather
//! than the engine's own helpers, talks to the engine as responder. This catches mistakes the
//! engine would make symmetrically on both sides (AUTH octets, SK framing, AAD, KEYMAT order).

mod common;
mod engine_sim;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use engine_sim::*;
use ripsec_ike::crypto::{DhGroup, KeyExchange};
use ripsec_ike::engine::{Engine, Output};
use ripsec_ike::keys::{skeyseed, ChildSaKeys, IkeSaKeyLengths, IkeSaKeys, Prf};
use ripsec_ike::transform_ids::*;
use ripsec_ike::{
    build_inner_chain, parse_inner_chain, AuthMethod, AuthPayload, EncryptedPayload, ExchangeType,
    HeaderFlags, IdPayload, KePayload, Message, Payload, PayloadType, Proposal, ProtocolId,
    SaPayload, Transform, TransformType, TsPayload,
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

#[test]
fn hand_written_initiator_against_engine_responder() {
    let (_, bob) = configs();
    let mut engine = Engine::new(Box::new(TestRng(common::XorShift(99))));
    engine.add_config(bob);
    let now = std::time::Duration::ZERO;

    // IKE_SA_INIT request.
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
    let (sent, _) = sends(&mut engine);
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

    // AUTH (RFC 7296 §2.15), with the IDi body written out by hand: type FQDN, 3 reserved.
    let id_i_body = [&[2u8, 0, 0, 0][..], b"alice.example"].concat();
    let pad = hmac256(b"secret", &[b"Key Pad for IKEv2"]);
    let auth = hmac256(
        &pad,
        &[&m1, &nr, &hmac256(keys.sk_pi.as_bytes(), &[&id_i_body])],
    );
    let inner = vec![
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
    ];

    // SK payload by hand (RFC 5282): IV 8 | ciphertext | ICV 16; pad length byte 0;
    // nonce = salt (last 4 bytes of SK_ei) | IV; AAD = IKE header + SK generic header.
    let (first, mut plaintext) = build_inner_chain(&inner).unwrap();
    plaintext.push(0);
    let iv = [0x42u8; 8];
    let body_len = 8 + plaintext.len() + 16;
    let mut m3 = Message {
        spi_i,
        spi_r,
        exchange_type: ExchangeType::IKE_AUTH,
        flags: HeaderFlags {
            initiator: true,
            ..HeaderFlags::default()
        },
        message_id: 1,
        payloads: vec![Payload::Encrypted(EncryptedPayload {
            first_inner: first,
            body: vec![0; body_len],
        })],
    }
    .to_bytes()
    .unwrap();
    assert_eq!(m3.len(), 28 + 4 + body_len);
    let (key, salt) = keys.sk_ei.as_bytes().split_at(32);
    let nonce: Vec<u8> = [salt, &iv].concat();
    let aad = m3[..32].to_vec();
    let tag = Aes256Gcm::new_from_slice(key)
        .unwrap()
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), &aad, &mut plaintext)
        .unwrap();
    m3[32..40].copy_from_slice(&iv);
    m3[40..40 + plaintext.len()].copy_from_slice(&plaintext);
    m3[40 + plaintext.len()..].copy_from_slice(&tag);

    engine.handle_datagram(now, addr(INITIATOR), addr(RESPONDER), &m3);
    let (sent, events) = sends(&mut engine);
    assert_eq!(sent.len(), 1);
    let m4 = &sent[0];
    let parsed = Message::parse(m4).unwrap();
    assert_eq!(parsed.message_id, 1);
    let sk = parsed.encrypted().unwrap();
    let (key, salt) = keys.sk_er.as_bytes().split_at(32);
    let (iv, rest) = sk.body.split_at(8);
    let (ct, icv) = rest.split_at(rest.len() - 16);
    let mut pt = ct.to_vec();
    let nonce: Vec<u8> = [salt, iv].concat();
    Aes256Gcm::new_from_slice(key)
        .unwrap()
        .decrypt_in_place_detached(
            Nonce::from_slice(&nonce),
            &m4[..m4.len() - sk.body.len()],
            &mut pt,
            Tag::from_slice(icv),
        )
        .expect("the engine's SK payload verifies under the RFC 5282 framing");
    let pad_len = *pt.last().unwrap() as usize;
    pt.truncate(pt.len() - 1 - pad_len);
    let answer = parse_inner_chain(sk.first_inner, &pt).unwrap();
    assert_eq!(sk.first_inner, PayloadType::IDR);

    // The responder's AUTH over RealMessage2 | Ni | prf(SK_pr, IDr body).
    let id_r_body = [&[2u8, 0, 0, 0][..], b"bob.example"].concat();
    let expected_auth = hmac256(
        &pad,
        &[&m2, &ni, &hmac256(keys.sk_pr.as_bytes(), &[&id_r_body])],
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
    let keymat = ChildSaKeys::derive(Prf::HmacSha256, &keys.sk_d, None, &ni, &nr, 36, 0).unwrap();
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
