// SPDX-License-Identifier: GPL-2.0
//! SK payload protection and Diffie-Hellman: round trips, tamper detection, known answers.

mod common;

use common::{hex, XorShift};
use ripsec_ike::crypto::{
    open, seal, CryptoError, DhGroup, KeyExchange, RandomSource, SkCipher, SkInteg, SkKeys,
};
use ripsec_ike::{
    ExchangeType, HeaderFlags, IdPayload, Message, NotifyPayload, NotifyType, Payload, Secret,
};

struct TestRng(XorShift);

impl RandomSource for TestRng {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.0.next() as u8;
        }
    }
}

fn keys(cipher: SkCipher) -> SkKeys {
    SkKeys {
        cipher,
        encr: Secret::new((0..cipher.encr_key_len() as u8).collect()),
        integ: Secret::new((100..100 + cipher.integ_key_len() as u8).collect()),
    }
}

fn header() -> Message {
    Message {
        spi_i: [1; 8],
        spi_r: [2; 8],
        exchange_type: ExchangeType::IKE_AUTH,
        flags: HeaderFlags {
            initiator: true,
            ..HeaderFlags::default()
        },
        message_id: 1,
        payloads: Vec::new(),
    }
}

fn inner() -> Vec<Payload> {
    vec![
        Payload::IdI(IdPayload::fqdn("alice.example")),
        Payload::Notify(NotifyPayload::new(NotifyType::INITIAL_CONTACT, Vec::new())),
    ]
}

const CIPHERS: [SkCipher; 9] = [
    SkCipher::AesGcm16 { key_bits: 128 },
    SkCipher::AesGcm16 { key_bits: 192 },
    SkCipher::AesCbc {
        key_bits: 192,
        integ: SkInteg::AesCmac96,
    },
    SkCipher::AesGcm16 { key_bits: 256 },
    SkCipher::AesCbc {
        key_bits: 128,
        integ: SkInteg::Sha256_128,
    },
    SkCipher::AesCbc {
        key_bits: 256,
        integ: SkInteg::Sha256_128,
    },
    SkCipher::AesCbc {
        key_bits: 128,
        integ: SkInteg::Sha1_96,
    },
    SkCipher::AesCbc {
        key_bits: 256,
        integ: SkInteg::Sha384_192,
    },
    SkCipher::AesCbc {
        key_bits: 256,
        integ: SkInteg::Sha512_256,
    },
];

#[test]
fn seal_open_round_trip_every_cipher() {
    let mut rng = TestRng(XorShift(7));
    for cipher in CIPHERS {
        let k = keys(cipher);
        let datagram = seal(&k, &header(), &inner(), &mut rng).unwrap();
        let parsed = Message::parse(&datagram).unwrap();
        assert_eq!(parsed.message_id, 1);
        let sk = parsed.encrypted().unwrap();
        let iv = if matches!(cipher, SkCipher::AesGcm16 { .. }) {
            8
        } else {
            16
        };
        if iv == 16 {
            assert_eq!(
                (sk.body.len() - 16 - cipher.icv_len()) % 16,
                0,
                "{cipher:?}: CBC block alignment"
            );
        }
        assert_eq!(open(&k, &datagram, &parsed).unwrap(), inner(), "{cipher:?}");
    }
}

/// The ICV of each HMAC suite is the HMAC of everything before it, truncated (RFC 4868 §2.1,
/// RFC 2404): checked with the `hmac` crate directly, independent of `seal`.
#[test]
fn cbc_icv_is_the_truncated_hmac_of_the_message() {
    use hmac::{Hmac, Mac};
    fn full<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).unwrap();
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
    let mut rng = TestRng(XorShift(13));
    for integ in SkInteg::ALL {
        let cipher = SkCipher::AesCbc {
            key_bits: 128,
            integ,
        };
        let k = keys(cipher);
        let datagram = seal(&k, &header(), &inner(), &mut rng).unwrap();
        let (covered, icv) = datagram.split_at(datagram.len() - integ.icv_len());
        let key = k.integ.as_bytes();
        let mac = match integ {
            SkInteg::Sha1_96 => full::<Hmac<sha1::Sha1>>(key, covered),
            SkInteg::Sha256_128 => full::<Hmac<sha2::Sha256>>(key, covered),
            SkInteg::Sha384_192 => full::<Hmac<sha2::Sha384>>(key, covered),
            SkInteg::Sha512_256 => full::<Hmac<sha2::Sha512>>(key, covered),
            SkInteg::AesCmac96 => full::<cmac::Cmac<aes::Aes128>>(key, covered),
        };
        assert_eq!(icv, &mac[..integ.icv_len()], "{integ:?}");
        assert_eq!(
            mac.len(),
            integ.key_len(),
            "{integ:?}: the key is the hash's size"
        );
    }
}

#[test]
fn any_flipped_bit_is_rejected() {
    let mut rng = TestRng(XorShift(9));
    for cipher in CIPHERS {
        let k = keys(cipher);
        let datagram = seal(&k, &header(), &inner(), &mut rng).unwrap();
        // Every byte of the header (AAD / MAC coverage), IV, ciphertext and ICV is protected.
        for index in [0, 20, 27, 30, 33, datagram.len() / 2, datagram.len() - 1] {
            let mut bad = datagram.clone();
            bad[index] ^= 0x01;
            let Ok(parsed) = Message::parse(&bad) else {
                continue;
            };
            if parsed.encrypted().is_none() {
                continue;
            }
            assert!(open(&k, &bad, &parsed).is_err(), "{cipher:?} byte {index}");
        }
    }
}

#[test]
fn wrong_key_fails_integrity() {
    let mut rng = TestRng(XorShift(11));
    for cipher in CIPHERS {
        let k = keys(cipher);
        let datagram = seal(&k, &header(), &inner(), &mut rng).unwrap();
        let parsed = Message::parse(&datagram).unwrap();
        let mut other = keys(cipher);
        other.encr = Secret::new(vec![0x55; cipher.encr_key_len()]);
        if cipher.integ_key_len() > 0 {
            other.integ = Secret::new(vec![0x55; cipher.integ_key_len()]);
        }
        assert_eq!(
            open(&other, &datagram, &parsed).unwrap_err(),
            CryptoError::IntegrityCheckFailed
        );
    }
}

#[test]
fn wrong_key_size_is_an_error_not_a_panic() {
    let mut k = keys(SkCipher::AesGcm16 { key_bits: 256 });
    k.encr = Secret::new(vec![0; 20]);
    let mut rng = TestRng(XorShift(3));
    assert!(matches!(
        seal(&k, &header(), &inner(), &mut rng),
        Err(CryptoError::KeySize {
            expected: 36,
            actual: 20
        })
    ));
}

/// RFC 4494 §4: AES-CMAC-96, the IKE SA's integrity with `aescmac`.
#[test]
fn aes_cmac_96_rfc4494_known_answer() {
    let key = hex("2b7e151628aed2a6abf7158809cf4f3c");
    let message = hex(concat!(
        "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51",
        "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
    ));
    for (len, mac) in [
        (0, "bb1d6929e95937287fa37d12"),
        (16, "070a16b46b4d4144f79bdd9d"),
        (40, "dfa66747de9ae63030ca3261"),
        (64, "51f0bebf7e3b9d92fc497417"),
    ] {
        let icv = SkInteg::AesCmac96.icv(&key, &message[..len]).unwrap();
        assert_eq!(icv, hex(mac), "{len}-byte message");
    }
    assert!(SkInteg::AesCmac96.icv(&key[..15], b"x").is_err());
}

/// RFC 7748 §6.2: X448, the public values and K of Alice and Bob (OpenSSL agrees).
#[test]
fn x448_rfc7748_known_answer() {
    let alice = KeyExchange::from_private(
        DhGroup::Curve448,
        &hex(concat!(
            "9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28d",
            "d9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b"
        )),
    )
    .unwrap();
    assert_eq!(
        alice.public_value(),
        hex(concat!(
            "9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c",
            "22c5d9bbc836647241d953d40c5b12da88120d53177f80e532c41fa0"
        ))
    );
    let bob = KeyExchange::from_private(
        DhGroup::Curve448,
        &hex(concat!(
            "1c306a7ac2a0e2e0990b294470cba339e6453772b075811d8fad0d1d",
            "6927c120bb5ee8972b0d3e21374c9c921b09d1b0366f10b65173992d"
        )),
    )
    .unwrap();
    assert_eq!(
        bob.public_value(),
        hex(concat!(
            "3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b430",
            "27d8b972fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609"
        ))
    );
    let k = hex(concat!(
        "07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282b",
        "b60c0b56fd2464c335543936521c24403085d59a449a5037514a879d"
    ));
    assert_eq!(
        alice.shared_secret(bob.public_value()).unwrap().as_bytes(),
        k
    );
    assert_eq!(
        bob.shared_secret(alice.public_value()).unwrap().as_bytes(),
        k
    );
    // Points of small order (0 and 1) and values of the wrong length are refused.
    assert!(alice.shared_secret(&[0; 56]).is_err());
    let mut one = [0u8; 56];
    one[0] = 1;
    assert!(alice.shared_secret(&one).is_err());
    assert!(alice.shared_secret(&bob.public_value()[..55]).is_err());
    assert!(KeyExchange::from_private(DhGroup::Curve448, &[1; 32]).is_err());
}

/// RFC 7748 §6.1.
#[test]
fn x25519_rfc7748_known_answer() {
    let alice = KeyExchange::from_private(
        DhGroup::Curve25519,
        &hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
    )
    .unwrap();
    assert_eq!(
        alice.public_value(),
        hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    );
    let bob = KeyExchange::from_private(
        DhGroup::Curve25519,
        &hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
    )
    .unwrap();
    assert_eq!(
        bob.public_value(),
        hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    );
    let expected = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_eq!(
        alice.shared_secret(bob.public_value()).unwrap().as_bytes(),
        expected
    );
    assert_eq!(
        bob.shared_secret(alice.public_value()).unwrap().as_bytes(),
        expected
    );
    // An all-zero (low-order) peer value gives a non-contributory result and is refused.
    assert!(alice.shared_secret(&[0; 32]).is_err());
}

/// Known-answer check for a NIST curve group: private values i and r (hex), their public
/// values x || y, and the shared secret x. Both sides must agree on it, and a peer value off
/// the curve or of another length is refused.
fn nist_known_answer(group: DhGroup, i: &str, gi: &str, r: &str, gr: &str, girx: &str) {
    let i = KeyExchange::from_private(group, &hex(i)).unwrap();
    assert_eq!(i.public_value(), hex(gi), "{group:?} g^i");
    let r = KeyExchange::from_private(group, &hex(r)).unwrap();
    assert_eq!(r.public_value(), hex(gr), "{group:?} g^r");
    let girx = hex(girx);
    assert_eq!(i.shared_secret(r.public_value()).unwrap().as_bytes(), girx);
    assert_eq!(r.shared_secret(i.public_value()).unwrap().as_bytes(), girx);
    let mut off_curve = r.public_value().to_vec();
    if let Some(last) = off_curve.last_mut() {
        *last ^= 1;
    }
    assert!(i.shared_secret(&off_curve).is_err(), "{group:?} off curve");
    let short = &r.public_value()[..r.public_value().len() - 2];
    assert!(i.shared_secret(short).is_err(), "{group:?} short value");
}

/// RFC 5903 §8.1: 256-bit random ECP group; public value is x || y, shared secret x.
#[test]
fn ecp256_rfc5903_known_answer() {
    nist_known_answer(
        DhGroup::Ecp256,
        "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433",
        concat!(
            "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180",
            "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3"
        ),
        "C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53",
        concat!(
            "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63",
            "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB"
        ),
        "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE",
    );
}

/// RFC 5903 §8.2: 384-bit random ECP group.
#[test]
fn ecp384_rfc5903_known_answer() {
    nist_known_answer(
        DhGroup::Ecp384,
        concat!(
            "099F3C7034D4A2C699884D73A375A67F7624EF7C6B3C0F160647B67414DCE655",
            "E35B538041E649EE3FAEF896783AB194"
        ),
        concat!(
            "667842D7D180AC2CDE6F74F37551F55755C7645C20EF73E31634FE72B4C55EE6",
            "DE3AC808ACB4BDB4C88732AEE95F41AA9482ED1FC0EEB9CAFC4984625CCFC23F",
            "65032149E0E144ADA024181535A0F38EEB9FCFF3C2C947DAE69B4C634573A81C"
        ),
        concat!(
            "41CB0779B4BDB85D47846725FBEC3C9430FAB46CC8DC5060855CC9BDA0AA2942",
            "E0308312916B8ED2960E4BD55A7448FC"
        ),
        concat!(
            "E558DBEF53EECDE3D3FCCFC1AEA08A89A987475D12FD950D83CFA41732BC509D",
            "0D1AC43A0336DEF96FDA41D0774A3571DCFBEC7AACF3196472169E838430367F",
            "66EEBE3C6E70C416DD5F0C68759DD1FFF83FA40142209DFF5EAAD96DB9E6386C"
        ),
        concat!(
            "11187331C279962D93D604243FD592CB9D0A926F422E47187521287E7156C5C4",
            "D603135569B9E9D09CF5D4A270F59746"
        ),
    );
}

/// Group 21 (NIST P-521, RFC 5903): coordinates of 66 bytes. The values were computed with
/// OpenSSL (python3-cryptography), from private scalars that are SHA-512 of "ripsec ecp521 i"
/// and "ripsec ecp521 r".
#[test]
fn ecp521_known_answer() {
    nist_known_answer(
        DhGroup::Ecp521,
        concat!(
            "0000711942F7850FA823EFECCEEB2DA29A8F2164B6D0F6F0D7E26B287E2A8407",
            "CF142264ED439C5853EFC4185625592551D978B5B4A25712C6F430A4DB8EB8C0",
            "0D76"
        ),
        concat!(
            "0140C033FDBA2AFBAC4A225CFCA9F0B1C54143F98158D6DED40346BD3079ECA7",
            "EEF56B899AF555F7AC85E2106724F714D808582B2C7AB7FC0515AA3BDEC58510",
            "549C00DA1FE332D58068C50F8C6C184CBCD261820D29814EB03943F574C90BA0",
            "F13A61474B1C2AC67B331283E756100CF4EB40E0F70F0AB55B9B2D8A5E804947",
            "681429B5"
        ),
        concat!(
            "0000F87B21A8A8C50E0186683E235FC13F6752D42621B4F26957C8A6A0C460C9",
            "E1CCE0B529ECC2218A4AD1737FD325A5DA0E630B8F54BFE6AC0E735FDB47BE72",
            "E94E"
        ),
        concat!(
            "00B76849FB030028B3088EFEB93D9A89F52AB8F1EA5BA6E3089F38623280938D",
            "0963AA6F0A49CA875DC77EA18BA12AB24CDF0965466385C15E1DADC3B7ED280A",
            "184100FE2E526610DED4D9F728F1B9F25B93E659D8EDB4A1DAFC32E4E0A5FEC5",
            "30B79C38AAB1E50875D5F45F0E88B30F28F5B6B34148FC02CEF9D2FBBA675ADF",
            "796ECC80"
        ),
        concat!(
            "0184837C71ABDAB74BDF1B575181B65C9204137863F139B88FB3E9B48E211F93",
            "2B26DA05439DA84994D8AF03FDBF7859B28ECE75AC391F132779355D08D5607A",
            "BE5E"
        ),
    );
}

#[test]
fn modp2048_agrees_and_validates() {
    let mut rng = TestRng(XorShift(5));
    let a = KeyExchange::generate(DhGroup::Modp2048, &mut rng).unwrap();
    let b = KeyExchange::generate(DhGroup::Modp2048, &mut rng).unwrap();
    assert_eq!(a.public_value().len(), 256);
    let s1 = a.shared_secret(b.public_value()).unwrap();
    let s2 = b.shared_secret(a.public_value()).unwrap();
    assert_eq!(s1.as_bytes(), s2.as_bytes());
    assert_eq!(s1.len(), 256);
    let mut one = vec![0u8; 256];
    one[255] = 1;
    assert!(a.shared_secret(&one).is_err());
    assert!(a.shared_secret(&[0xff; 256]).is_err());
    // Known answer: private exponent 1 gives public value g = 2.
    let mut x = vec![0u8; 256];
    x[255] = 1;
    let g = KeyExchange::from_private(DhGroup::Modp2048, &x).unwrap();
    let mut two = vec![0u8; 256];
    two[255] = 2;
    assert_eq!(g.public_value(), two);
}

#[test]
fn generated_pairs_agree_for_every_group() {
    let mut rng = TestRng(XorShift(13));
    for group in [
        DhGroup::Curve25519,
        DhGroup::Curve448,
        DhGroup::Modp1024,
        DhGroup::Ecp256,
        DhGroup::Ecp384,
        DhGroup::Ecp521,
    ] {
        let a = KeyExchange::generate(group, &mut rng).unwrap();
        let b = KeyExchange::generate(group, &mut rng).unwrap();
        assert_eq!(
            a.shared_secret(b.public_value()).unwrap().as_bytes(),
            b.shared_secret(a.public_value()).unwrap().as_bytes()
        );
        assert_eq!(DhGroup::from_id(group.id()), Some(group));
    }
}

/// Groups 2, 5, 15, 16, 17 and 18 (RFC 2409 §6.2, RFC 3526 §2, §4-7): public values and g^ir
/// of fixed private exponents, checked by SHA-256 of the values Python's own big integers
/// computed (`pow(2, a, p)`), with the primes OpenSSL has built in (15, 16) or computed from
/// the RFCs' formula 2^n - 2^(n-64) - 1 + 2^64 * (floor(2^(n-130) pi) + k) (2, 5, 17, 18).
#[test]
fn modp_known_answers() {
    use sha2::{Digest, Sha256};
    let digest = |b: &[u8]| {
        hex(&Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>())
    };
    for (group, len, a_hash, b_hash, shared_hash) in [
        (
            DhGroup::Modp1024,
            128,
            "bac5089e9c5b8a3b872c0c63c622dd7a23e299c0c970cdaf1c5da70316b501b7",
            "0ad943d496b59f4265b55b02143f22dbf727a406d304a9b71141c4fa61abc5b6",
            "6fdffd2818a4568435a44b17907b5c2b5e48995653fe361472bf47f6a893160f",
        ),
        (
            DhGroup::Modp1536,
            192,
            "f4891481e91ed0f2df7d5e2fb0695fb0cef8d6d034b26a3f8f107908d58cdbe1",
            "516b5b29ac684e3a970aafc166d2ef2c7707fd39c3bb1a868d6d045cb9c2aa76",
            "b868a4684634e2446eb9451b3a006b940ff144320deb1550cb4128172c8c2d46",
        ),
        (
            DhGroup::Modp6144,
            768,
            "8f57169ff2febaeb0233e5431fb4e182ccc0b141cee3aaaeb074daef792920c2",
            "58522fe5941ca7e0cfadae28a7f100c4e918c7518c61b978404860a7c79155e8",
            "545d63c32f341cb41c95bafff7e17dedf9ee113ff3b9b3deed82e29b60b74ec2",
        ),
        (
            DhGroup::Modp8192,
            1024,
            "03718831b35e7b9698babc5e926f5f3efe8ead89ac0b80aefba6f4f8b26d0a0a",
            "1d06ac6ea48d273d6da8ee32e491e6efdaea51af449d28352aceb7cdf82018e8",
            "a5e321efdb0f7747460d965340f1620e923acdaa65fb6d1f8982932eb9bdc770",
        ),
        (
            DhGroup::Modp3072,
            384,
            "cfb6e2d41c182ee4e064f60a2ec3fbe8372e904ecdcf5eba7663e62eec9fa699",
            "178a147bd786f7aaf495fb57f9a072f788c9ece66e45f2966e3757a3d05f29d2",
            "99b6e8e6e47a3c05238411b732e075aabae9e67d3989541c7d4b12387a77c63c",
        ),
        (
            DhGroup::Modp4096,
            512,
            "80d690bab363db427151497a62adcfc5c6ce724cd8584cbb1218b54525ae1d94",
            "7783c9812ce1fa2e9533444f9f32e38790458dfdecc1fd6eedf825fe00b6be5d",
            "17d8b4fdf2664c05ca7b638c56aeaf22df68554d327f0b952db5980a5a54fae9",
        ),
    ] {
        let a: Vec<u8> = (0..len).map(|i| ((i * 7 + 1) & 0xff) as u8).collect();
        let b: Vec<u8> = (0..len).map(|i| ((i * 13 + 5) & 0xff) as u8).collect();
        let ka = KeyExchange::from_private(group, &a).unwrap();
        let kb = KeyExchange::from_private(group, &b).unwrap();
        assert_eq!(digest(ka.public_value()), hex(a_hash), "{group:?}");
        assert_eq!(digest(kb.public_value()), hex(b_hash), "{group:?}");
        let shared = ka.shared_secret(kb.public_value()).unwrap();
        assert_eq!(digest(shared.as_bytes()), hex(shared_hash), "{group:?}");
        // 1 and p - 1 are refused (RFC 6989 §2.1).
        let mut one = vec![0u8; len];
        one[len - 1] = 1;
        assert!(ka.shared_secret(&one).is_err());
        assert!(ka.shared_secret(&one[1..]).is_err(), "short value");
    }
}
