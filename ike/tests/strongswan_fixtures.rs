// SPDX-License-Identifier: GPL-2.0
//! Key derivation and PSK AUTH against values strongSwan's charon computed in a real exchange
//! with ikeuser (fixtures/strongswan/*.txt but ikev1-*, captured by
//! tests/vm/capture-strongswan-kdf.sh).
//! Our side parses charon's own IKE_SA_INIT messages, picks key sizes from the chosen
//! proposal, and must arrive at charon's SKEYSEED, SK_* and Child SA keys byte for byte.

mod swan_fixture;

use std::collections::HashMap;

use ripsec_ike::crypto::SkCipher;
use ripsec_ike::keys::{skeyseed, ChildSaKeys, IkeSaKeyLengths, IkeSaKeys, Prf};
use ripsec_ike::{Message, Payload, Secret, TransformType};

const PSK: &[u8] = b"a pre-shared key for the tests";
const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

struct Capture {
    name: &'static str,
    values: HashMap<String, Vec<u8>>,
}

impl Capture {
    fn load(name: &'static str, text: &str) -> Self {
        let values = swan_fixture::values(text, &["proposal"]);
        Self { name, values }
    }

    fn get(&self, key: &str) -> &[u8] {
        self.values
            .get(key)
            .unwrap_or_else(|| panic!("{}: no {key}", self.name))
    }

    fn secret(&self, key: &str) -> Secret {
        Secret::from_slice(self.get(key))
    }

    /// Each of `ours` equals charon's value of the same name.
    fn assert_values(&self, ours: &[(&str, &Secret)]) {
        for (name, value) in ours {
            assert_eq!(value.as_bytes(), self.get(name), "{}: {name}", self.name);
        }
    }
}

fn captures() -> Vec<Capture> {
    vec![
        Capture::load(
            "aes128gcm16-prfsha256-ecp256",
            include_str!("fixtures/strongswan/aes128gcm16-prfsha256-ecp256.txt"),
        ),
        Capture::load(
            "aes256-sha256-prfsha384-modp2048",
            include_str!("fixtures/strongswan/aes256-sha256-prfsha384-modp2048.txt"),
        ),
        Capture::load(
            "aes256gcm16-prfsha512-curve25519",
            include_str!("fixtures/strongswan/aes256gcm16-prfsha512-curve25519.txt"),
        ),
    ]
}

/// SPIs, nonce and (for a response) the chosen PRF and SK cipher, read with our own parser.
struct Init {
    spi_i: [u8; 8],
    spi_r: [u8; 8],
    nonce: Vec<u8>,
    transforms: Vec<(TransformType, u16, Option<u16>)>,
}

fn parse_init(bytes: &[u8]) -> Init {
    let m = Message::parse(bytes).expect("charon's IKE_SA_INIT parses");
    let mut init = Init {
        spi_i: m.spi_i,
        spi_r: m.spi_r,
        nonce: Vec::new(),
        transforms: Vec::new(),
    };
    for p in &m.payloads {
        match p {
            Payload::Nonce(n) => init.nonce = n.clone(),
            Payload::Sa(sa) if sa.proposals.len() == 1 => {
                init.transforms = sa.proposals[0]
                    .transforms
                    .iter()
                    .map(|t| (t.transform_type, t.id, t.key_length()))
                    .collect();
            }
            _ => {}
        }
    }
    init
}

fn chosen(init: &Init, kind: TransformType) -> Option<(u16, Option<u16>)> {
    init.transforms
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, id, bits)| (*id, *bits))
}

fn negotiated(c: &Capture) -> (Init, Init, Prf, SkCipher) {
    let request = parse_init(c.get("init_request"));
    let response = parse_init(c.get("init_response"));
    let (prf_id, _) = chosen(&response, TransformType::PRF).expect("PRF chosen");
    let prf = Prf::from_transform_id(prf_id).expect("supported PRF");
    let (encr, bits) = chosen(&response, TransformType::ENCR).expect("ENCR chosen");
    let integ = chosen(&response, TransformType::INTEG).map(|(id, _)| id);
    let cipher = SkCipher::from_transforms(encr, bits, integ).expect("supported SK cipher");
    (request, response, prf, cipher)
}

#[test]
fn ike_sa_keys_match_charon() {
    for c in captures() {
        let (request, response, prf, cipher) = negotiated(&c);
        assert_eq!(request.spi_i, response.spi_i, "{}", c.name);
        let seed = skeyseed(prf, &request.nonce, &response.nonce, c.get("g_ir")).unwrap();
        assert_eq!(seed.as_bytes(), c.get("skeyseed"), "{}: SKEYSEED", c.name);
        let keys = IkeSaKeys::derive(
            prf,
            &seed,
            &request.nonce,
            &response.nonce,
            &response.spi_i,
            &response.spi_r,
            IkeSaKeyLengths {
                encr: cipher.encr_key_len(),
                integ: cipher.integ_key_len(),
            },
        )
        .unwrap();
        c.assert_values(&[
            ("sk_d", &keys.sk_d),
            ("sk_ai", &keys.sk_ai),
            ("sk_ar", &keys.sk_ar),
            ("sk_ei", &keys.sk_ei),
            ("sk_er", &keys.sk_er),
            ("sk_pi", &keys.sk_pi),
            ("sk_pr", &keys.sk_pr),
        ]);
    }
}

#[test]
fn child_sa_keys_match_charon() {
    for c in captures() {
        let (request, response, prf, _) = negotiated(&c);
        let encr = c.get("child_encryption_initiator").len();
        let integ = c.get("child_integrity_initiator").len();
        assert!(encr >= 20, "{}: child key sizes", c.name);
        let keys = ChildSaKeys::derive(
            prf,
            &c.secret("sk_d"),
            None,
            &request.nonce,
            &response.nonce,
            encr,
            integ,
        )
        .unwrap();
        c.assert_values(&[
            ("child_encryption_initiator", &keys.encr_i),
            ("child_encryption_responder", &keys.encr_r),
            ("child_integrity_initiator", &keys.integ_i),
            ("child_integrity_responder", &keys.integ_r),
        ]);
    }
}

/// AUTH = prf(prf(PSK, "Key Pad for IKEv2"), RealMessage | Nonce | prf(SK_p, IDx')), both ways:
/// ikeuser's AUTH (which charon accepted) and charon's own.
#[test]
fn psk_auth_matches_charon() {
    for c in captures() {
        let (request, response, prf, _) = negotiated(&c);
        let pad = prf.prf(PSK, &[KEY_PAD]).unwrap();
        for (message, nonce, sk_p, id, auth) in [
            (
                "init_request",
                &response.nonce,
                "sk_pi",
                "id_i_body",
                "auth_i",
            ),
            (
                "init_response",
                &request.nonce,
                "sk_pr",
                "id_r_body",
                "auth_r",
            ),
        ] {
            let maced_id = prf.prf(c.get(sk_p), &[c.get(id)]).unwrap();
            let ours = prf
                .prf(
                    pad.as_bytes(),
                    &[c.get(message), nonce, maced_id.as_bytes()],
                )
                .unwrap();
            assert_eq!(ours.as_bytes(), c.get(auth), "{}: {auth}", c.name);
        }
    }
}
