// SPDX-License-Identifier: GPL-2.0
//! IKEv1 key derivation and HASHes against values strongSwan's charon computed in a real
//! exchange with ikeuser (fixtures/strongswan/ikev1-*.txt, captured by
//! tests/vm/capture-strongswan-kdf-v1.sh). Our side parses the datagrams as sent, decrypts them
//! with the keys and IVs it derives, and must arrive at charon's SKEYID*, cipher key, IVs,
//! HASH_I/HASH_R, Quick Mode HASH(1)/(2)/(3) and KEYMAT byte for byte. Only g^xy (and the PFS
//! g^xy) come from charon: nobody logs the private values.

mod swan_fixture;

use std::collections::HashMap;

use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use ripsec_ike::keys::Prf;
use ripsec_ike::v1::codes::p1_attr;
use ripsec_ike::v1::keys::{
    hash1, hash2, hash3, hash_i, hash_r, keymat, message_iv, phase1_iv, skeyid_psk, IsakmpKeys,
    Phase1HashInput,
};
use ripsec_ike::v1::{
    parse_chain, BodyV1, ExchangeV1, IdV1, MessageV1, PayloadBodyV1, PayloadV1, SaV1,
    ISAKMP_HEADER_LEN,
};
use ripsec_ike::TransformAttribute;

const PSK: &[u8] = b"a pre-shared key for the tests";
const BLOCK: usize = 16;

struct Capture {
    name: String,
    values: HashMap<String, Vec<u8>>,
}

impl Capture {
    fn load(text: &str) -> Self {
        let values = swan_fixture::values(text, &["name", "mode", "ike", "esp"]);
        let name = String::from_utf8(values["name"].clone()).expect("utf-8");
        Self { name, values }
    }

    fn get(&self, key: &str) -> &[u8] {
        self.values
            .get(key)
            .unwrap_or_else(|| panic!("{}: no {key}", self.name))
    }

    #[track_caller]
    fn assert_eq(&self, ours: &[u8], key: &str) {
        assert_eq!(ours, self.get(key), "{}: {key}", self.name);
    }
}

fn captures() -> Vec<Capture> {
    [
        include_str!("fixtures/strongswan/ikev1-main-aes128-sha256-modp2048.txt"),
        include_str!("fixtures/strongswan/ikev1-main-aes256-sha1-modp2048.txt"),
        include_str!("fixtures/strongswan/ikev1-aggressive-aes256-sha384-ecp384.txt"),
    ]
    .into_iter()
    .map(Capture::load)
    .collect()
}

/// The payloads of a chain as sent: each one's type and body (no generic header), and where
/// the chain ends (any padding follows). HASH payloads cover these bytes.
fn raw_chain(first: PayloadV1, chain: &[u8]) -> (Vec<(PayloadV1, &[u8])>, usize) {
    let (mut kind, mut at, mut out) = (first, 0, Vec::new());
    while kind != PayloadV1::NONE {
        let len = usize::from(u16::from_be_bytes([chain[at + 2], chain[at + 3]]));
        out.push((kind, &chain[at + 4..at + len]));
        kind = PayloadV1(chain[at]);
        at += len;
    }
    (out, at)
}

fn cbc_decrypt(key: &[u8], iv: &[u8], data: &mut [u8]) {
    let done = match key.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .expect("key and IV sizes")
            .decrypt_padded_mut::<NoPadding>(data)
            .map(|_| ()),
        32 => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .expect("key and IV sizes")
            .decrypt_padded_mut::<NoPadding>(data)
            .map(|_| ()),
        n => panic!("no {n}-byte AES key in these captures"),
    };
    done.expect("whole blocks");
}

/// One message of the capture, decrypted when it came encrypted.
#[derive(Clone)]
struct Msg {
    header: MessageV1,
    /// The payload chain: plaintext as sent, or as decrypted (padding included).
    chain: Vec<u8>,
    payloads: Vec<PayloadBodyV1>,
}

impl Msg {
    /// Parses `bytes` with our parser; an encrypted body is decrypted with `key` and `iv`, and
    /// `iv` moves on to its last ciphertext block (RFC 2409 appendix B).
    fn open(c: &Capture, bytes: &[u8], key: &[u8], iv: &mut Vec<u8>) -> Self {
        let header = MessageV1::parse(bytes).expect("charon's datagrams parse");
        let (chain, payloads) = match &header.body {
            BodyV1::Payloads(p) => (bytes[ISAKMP_HEADER_LEN..].to_vec(), p.clone()),
            BodyV1::Encrypted(ciphertext) => {
                let mut plain = ciphertext.clone();
                cbc_decrypt(key, iv, &mut plain);
                *iv = ciphertext[ciphertext.len() - BLOCK..].to_vec();
                let payloads = parse_chain(header.next_payload, &plain)
                    .unwrap_or_else(|e| panic!("{}: decrypted garbage: {e:?}", c.name));
                (plain, payloads)
            }
        };
        Self {
            header,
            chain,
            payloads,
        }
    }

    fn raw(&self, kind: PayloadV1) -> &[u8] {
        raw_chain(self.header.next_payload, &self.chain)
            .0
            .into_iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, body)| body)
            .expect("payload present")
    }

    fn find<T>(&self, f: impl Fn(&PayloadBodyV1) -> Option<T>) -> Option<T> {
        self.payloads.iter().find_map(f)
    }

    fn nonce(&self) -> Vec<u8> {
        self.find(|p| match p {
            PayloadBodyV1::Nonce(n) => Some(n.clone()),
            _ => None,
        })
        .expect("a nonce")
    }

    fn ke(&self) -> Option<Vec<u8>> {
        self.find(|p| match p {
            PayloadBodyV1::Ke(k) => Some(k.clone()),
            _ => None,
        })
    }

    fn hash(&self) -> Vec<u8> {
        self.find(|p| match p {
            PayloadBodyV1::Hash(h) => Some(h.clone()),
            _ => None,
        })
        .expect("a HASH payload")
    }

    fn sa(&self) -> SaV1 {
        self.find(|p| match p {
            PayloadBodyV1::Sa(sa) => Some(sa.clone()),
            _ => None,
        })
        .expect("an SA payload")
    }

    fn id(&self) -> IdV1 {
        self.find(|p| match p {
            PayloadBodyV1::Id(id) => Some(id.clone()),
            _ => None,
        })
        .expect("an ID payload")
    }

    /// What HASH(1) and HASH(2) cover: the payloads after the leading HASH, as sent.
    fn after_hash(&self) -> &[u8] {
        let (payloads, end) = raw_chain(self.header.next_payload, &self.chain);
        assert_eq!(payloads[0].0, PayloadV1::HASH, "HASH comes first");
        &self.chain[4 + payloads[0].1.len()..end]
    }
}

/// A value of the single transform of charon's SA answer.
fn attr(sa: &SaV1, kind: u16) -> u16 {
    let [proposal] = &sa.proposals[..] else {
        panic!("one proposal chosen")
    };
    let [t] = &proposal.transforms[..] else {
        panic!("one transform chosen")
    };
    t.attributes
        .iter()
        .find_map(|a| match a {
            TransformAttribute::Tv {
                attribute_type,
                value,
            } if *attribute_type == kind => Some(*value),
            _ => None,
        })
        .unwrap_or_else(|| panic!("attribute {kind}"))
}

/// What phase 1 sends in the clear: the PRF and cipher key size charon chose, cookies, nonces,
/// public values, and the initiator's SA payload body as sent.
struct Phase1 {
    aggressive: bool,
    prf: Prf,
    enc_len: usize,
    cookies: ([u8; 8], [u8; 8]),
    ni: Vec<u8>,
    nr: Vec<u8>,
    g_xi: Vec<u8>,
    g_xr: Vec<u8>,
    sa_i: Vec<u8>,
}

fn plain(c: &Capture, key: &str) -> Msg {
    Msg::open(c, c.get(key), &[], &mut Vec::new())
}

fn phase1(c: &Capture) -> Phase1 {
    let aggressive = c.get("mode") == b"aggressive";
    let (m1, m2) = (plain(c, "p1_1"), plain(c, "p1_2"));
    let want = if aggressive {
        ExchangeV1::AGGRESSIVE
    } else {
        ExchangeV1::MAIN
    };
    assert_eq!(m1.header.exchange, want, "{}", c.name);
    // Main Mode: KE and nonces in messages 3 and 4; Aggressive Mode: in 1 and 2.
    let (ke_i, ke_r) = if aggressive {
        (m1.clone(), m2.clone())
    } else {
        (plain(c, "p1_3"), plain(c, "p1_4"))
    };
    let chosen = m2.sa();
    let prf = match attr(&chosen, p1_attr::HASH) {
        2 => Prf::HmacSha1,
        4 => Prf::HmacSha256,
        5 => Prf::HmacSha384,
        6 => Prf::HmacSha512,
        n => panic!("hash {n}"),
    };
    Phase1 {
        aggressive,
        prf,
        enc_len: usize::from(attr(&chosen, p1_attr::KEY_LENGTH)) / 8,
        cookies: (m2.header.cookie_i, m2.header.cookie_r),
        ni: ke_i.nonce(),
        nr: ke_r.nonce(),
        g_xi: ke_i.ke().expect("g^xi"),
        g_xr: ke_r.ke().expect("g^xr"),
        sa_i: m1.raw(PayloadV1::SA).to_vec(),
    }
}

fn isakmp_keys(c: &Capture, p: &Phase1) -> IsakmpKeys {
    let skeyid = skeyid_psk(p.prf, PSK, &p.ni, &p.nr).unwrap();
    let (ci, cr) = (&p.cookies.0, &p.cookies.1);
    IsakmpKeys::derive(p.prf, skeyid, c.get("g_xy"), (ci, cr), p.enc_len).unwrap()
}

/// The rest of the exchange, decrypted with the keys and IVs our side derives.
struct Exchange {
    p: Phase1,
    keys: IsakmpKeys,
    /// IDii and IDir bodies as sent, as parsed, and the HASH_I and HASH_R payloads.
    ids: [Vec<u8>; 2],
    id_payloads: [IdV1; 2],
    hashes_sent: [Vec<u8>; 2],
    mid: u32,
    qm_iv: Vec<u8>,
    qm: [Msg; 3],
}

fn exchange(c: &Capture) -> Exchange {
    let p = phase1(c);
    let keys = isakmp_keys(c, &p);
    let key = keys.enc_key.as_bytes();
    // Main Mode encrypts messages 5 and 6, Aggressive Mode message 3; the IV runs on from
    // hash(g^xi | g^xr) through each of them into Quick Mode.
    let mut iv = phase1_iv(p.prf, &p.g_xi, &p.g_xr, BLOCK).unwrap();
    let (with_id_i, with_hash_i, with_id_r) = if p.aggressive {
        let m3 = Msg::open(c, c.get("p1_3"), key, &mut iv);
        (plain(c, "p1_1"), m3, plain(c, "p1_2"))
    } else {
        let m5 = Msg::open(c, c.get("p1_5"), key, &mut iv);
        let m6 = Msg::open(c, c.get("p1_6"), key, &mut iv);
        (m5.clone(), m5, m6)
    };
    let mid = MessageV1::parse(c.get("qm_1")).expect("QM").message_id;
    let qm_iv = message_iv(p.prf, &iv, mid).unwrap();
    let mut iv = qm_iv.clone();
    let qm = ["qm_1", "qm_2", "qm_3"].map(|k| Msg::open(c, c.get(k), key, &mut iv));
    Exchange {
        ids: [
            with_id_i.raw(PayloadV1::ID).to_vec(),
            with_id_r.raw(PayloadV1::ID).to_vec(),
        ],
        id_payloads: [with_id_i.id(), with_id_r.id()],
        hashes_sent: [with_hash_i.hash(), with_id_r.hash()],
        p,
        keys,
        mid,
        qm_iv,
        qm,
    }
}

/// The captures exercise what they are here for: appendix B's expansion of SKEYID_e and of
/// KEYMAT, Quick Mode with and without PFS, and both phase 1 modes.
#[test]
fn captures_cover_expansion_pfs_and_both_modes() {
    let cs = captures();
    let any = |f: &dyn Fn(&Capture) -> bool| cs.iter().any(f);
    assert!(any(&|c| c.get("skeyid_e").len() < c.get("enc_key").len()));
    assert!(any(&|c| {
        let keymat = c.get("encryption_initiator").len() + c.get("integrity_initiator").len();
        keymat > c.get("skeyid_d").len()
    }));
    assert!(any(&|c| c.get("qm_g_xy").is_empty()));
    assert!(any(&|c| !c.get("qm_g_xy").is_empty()));
    assert!(any(&|c| c.get("mode") == b"main"));
    assert!(any(&|c| c.get("mode") == b"aggressive"));
}

/// SKEYID = prf(PSK, Ni_b | Nr_b), SKEYID_d/a/e, the cipher key Ka (SKEYID_e truncated, or
/// expanded when the PRF output is shorter than the key) and the phase 1 IV.
#[test]
fn isakmp_keys_match_charon() {
    for c in captures() {
        let p = phase1(&c);
        let keys = isakmp_keys(&c, &p);
        c.assert_eq(keys.skeyid.as_bytes(), "skeyid");
        c.assert_eq(keys.skeyid_d.as_bytes(), "skeyid_d");
        c.assert_eq(keys.skeyid_a.as_bytes(), "skeyid_a");
        c.assert_eq(keys.enc_key.as_bytes(), "enc_key");
        // IsakmpKeys keeps only Ka; SKEYID_e by §5's formula with the same PRF.
        let (ci, cr) = (&p.cookies.0[..], &p.cookies.1[..]);
        let data = [keys.skeyid_a.as_bytes(), c.get("g_xy"), ci, cr, &[2]];
        let skeyid_e = p.prf.prf(keys.skeyid.as_bytes(), &data).unwrap();
        c.assert_eq(skeyid_e.as_bytes(), "skeyid_e");
        let iv = phase1_iv(p.prf, &p.g_xi, &p.g_xr, BLOCK).unwrap();
        c.assert_eq(&iv, "initial_iv");
    }
}

/// HASH_I and HASH_R over the IDs as sent (decrypted in Main Mode): equal to what charon
/// computed, over the same input, and to the HASH payloads on the wire.
#[test]
fn phase1_hashes_match_charon() {
    for c in captures() {
        let x = exchange(&c);
        let p = &x.p;
        let (ci, cr) = (&p.cookies.0[..], &p.cookies.1[..]);
        let (g_xi, g_xr, sa_i) = (&p.g_xi[..], &p.g_xr[..], &p.sa_i[..]);
        c.assert_eq(
            &[g_xi, g_xr, ci, cr, sa_i, &x.ids[0]].concat(),
            "hash_i_data",
        );
        c.assert_eq(
            &[g_xr, g_xi, cr, ci, sa_i, &x.ids[1]].concat(),
            "hash_r_data",
        );
        let h = Phase1HashInput {
            g_xi,
            g_xr,
            cookies: (&p.cookies.0, &p.cookies.1),
            sa_i,
        };
        let ours_i = hash_i(p.prf, &x.keys.skeyid, &h, &x.ids[0]).unwrap();
        let ours_r = hash_r(p.prf, &x.keys.skeyid, &h, &x.ids[1]).unwrap();
        c.assert_eq(ours_i.as_bytes(), "hash_i");
        c.assert_eq(ours_r.as_bytes(), "hash_r");
        c.assert_eq(&x.hashes_sent[0], "hash_i");
        c.assert_eq(&x.hashes_sent[1], "hash_r");
        // ID_IPV4_ADDR of each side: the IDs came out of the right payloads.
        for (id, addr) in x.id_payloads.iter().zip([[10, 0, 0, 1], [10, 0, 0, 2]]) {
            assert_eq!((id.id_type, &id.data[..]), (1, &addr[..]), "{}", c.name);
        }
    }
}

/// The first Quick Mode IV, hash(last phase 1 block | M-ID), and HASH(1)/(2)/(3) over the
/// decrypted messages: equal to charon's and to the HASH payloads sent.
#[test]
fn quick_mode_hashes_match_charon() {
    for c in captures() {
        let x = exchange(&c);
        c.assert_eq(&x.qm_iv, "qm_iv");
        let (prf, a, mid) = (x.p.prf, &x.keys.skeyid_a, x.mid);
        let [q1, q2, q3] = &x.qm;
        let (ni, nr) = (q1.nonce(), q2.nonce());
        let ours = [
            hash1(prf, a, mid, q1.after_hash()).unwrap(),
            hash2(prf, a, mid, &ni, q2.after_hash()).unwrap(),
            hash3(prf, a, mid, &ni, &nr).unwrap(),
        ];
        for (n, (ours, sent)) in ours.iter().zip([q1, q2, q3]).enumerate() {
            let key = format!("qm_hash{}", n + 1);
            c.assert_eq(ours.as_bytes(), &key);
            c.assert_eq(&sent.hash(), &key);
        }
    }
}

/// KEYMAT (RFC 2409 §5.5) of each direction, with the PFS g^xy where there is one: its seed
/// equal to charon's, then the keys.
#[test]
fn keymat_matches_charon() {
    for c in captures() {
        let x = exchange(&c);
        let [q1, q2, _] = &x.qm;
        let (ni, nr) = (q1.nonce(), q2.nonce());
        let spi = |m: &Msg| {
            let sa = m.sa();
            let [proposal] = &sa.proposals[..] else {
                panic!("{}: one proposal", c.name)
            };
            let spi: [u8; 4] = proposal.spi[..].try_into().expect("4-byte SPI");
            (proposal.protocol, spi)
        };
        let ((protocol, spi_i), (protocol_r, spi_r)) = (spi(q1), spi(q2));
        assert_eq!((protocol, protocol_r), (3, 3), "{}: ESP", c.name);
        let g = c.get("qm_g_xy");
        assert_eq!(q1.ke().is_some(), !g.is_empty(), "{}: PFS", c.name);
        assert_eq!(q2.ke().is_some(), !g.is_empty(), "{}: PFS", c.name);
        let pfs = (!g.is_empty()).then_some(g);
        // The initiator's outbound keys take the SPI the responder chose, and back.
        for (spi, who) in [(spi_r, "initiator"), (spi_i, "responder")] {
            c.assert_eq(
                &[g, &[protocol], &spi, &ni, &nr].concat(),
                &format!("{who}_sa_seed"),
            );
            let encr = c.get(&format!("encryption_{who}")).len();
            let integ = c.get(&format!("integrity_{who}")).len();
            assert!(encr >= 16, "{}: {who} key sizes", c.name);
            let k = keymat(
                x.p.prf,
                &x.keys.skeyid_d,
                pfs,
                protocol,
                spi,
                (&ni, &nr),
                encr + integ,
            )
            .unwrap();
            let (e, i) = k.as_bytes().split_at(encr);
            c.assert_eq(e, &format!("encryption_{who}"));
            c.assert_eq(i, &format!("integrity_{who}"));
        }
    }
}
