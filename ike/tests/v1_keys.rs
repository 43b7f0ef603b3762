// SPDX-License-Identifier: GPL-2.0
//! IKEv1 key derivation (RFC 2409 §5, §5.5, appendix B) against values Python's own `hmac` and
//! `hashlib` computed from the RFC's formulas, for HMAC-SHA-1 (whose 20-byte output makes the
//! AES-256 key and the KEYMAT need appendix B's expansion) and HMAC-SHA-256.

mod common;

use common::hex;
use ripsec_ike::keys::{KeyError, Prf};
use ripsec_ike::v1::keys::{
    hash1, hash2, hash3, hash_i, hash_r, keymat, message_iv, phase1_iv, skeyid_psk,
    skeyid_signature, IsakmpKeys, Phase1HashInput,
};

struct Want {
    prf: Prf,
    skeyid: &'static str,
    skeyid_d: &'static str,
    skeyid_a: &'static str,
    enc_key: &'static str,
    skeyid_sig: &'static str,
    iv1: &'static str,
    iv2: &'static str,
    hash_i: &'static str,
    hash_r: &'static str,
    hashes: [&'static str; 3],
    keymat: [&'static str; 2],
}

const SHA1: Want = Want {
    prf: Prf::HmacSha1,
    skeyid: "19b32e3d4c2868d3a0429167f7abf9818661b03a",
    skeyid_d: "076a4bc7020befd7b2a6e33553588d1a5c52d07e",
    skeyid_a: "307c459b63b7cc6074f0d4c0e73a72e7119687d9",
    enc_key: "e7c7a39c6a1b731585efd7d2c36be7691bdf77a9ac86776f21348ac7e6c852aa",
    skeyid_sig: "f6155895cf91401a27c1c2588e3975061e02ce64",
    iv1: "2e42591c7434efb5f6a4e77048182b4f",
    iv2: "4ff2bf32696986fbfa7fe4756667ff18",
    hash_i: "8eb364fded8334937004075a1b9b5ad55ae4b74a",
    hash_r: "23f85d1da35cc57c70e059bf98c2901a1a73d754",
    hashes: [
        "0c87ad16f322bebba6de24856153cca78063d2e2",
        "1600e3cf33d0a64aed4a70f26ba485c479381635",
        "24431347aeb7bcf98016052b8f0a8b92574c2673",
    ],
    keymat: [
        "ded10a178d0a50703a47c23546f3205d9321ae6d372a40e498d9056c69a3d44ec19c6174",
        "6ba738bcd147d33865220eda5e93e402039002215c1171e2c2f999f64c91db7750b42eea",
    ],
};

const SHA256: Want = Want {
    prf: Prf::HmacSha256,
    skeyid: "323c40d77f250c55edb2b2d9bf6ba60b7d7356f0e907e3b939f563d9d24afb15",
    skeyid_d: "47c2facd2d494ef02e3628b53b4f8075a6939df111f7b3207683e2ea30280074",
    skeyid_a: "2dacfd2c9cd2ae733ac306996da357f11feedb6b1d41c5ed54c7534a9e33d3d6",
    enc_key: "8f8ff4576edc1488936d3d1b739d1571d2f23b0791f928991326e45d50809183",
    skeyid_sig: "91cd1af01fe41d0d63e0983e10e501e838561abace4b4210b8cba088dd088f7d",
    iv1: "8759177b6e8fc901106d7264cbbe88d5",
    iv2: "81046a4ac91a1632c5966240dbaa1431",
    hash_i: "4d3bee57c9d6766ed3cd2755e962f0cd4d845e85c64b4d1c1ee97b2089b9db5b",
    hash_r: "1d3e5636f2ee30bb43e692bc8870a56487d62cb8022900fc474de937d805b80f",
    hashes: [
        "fd337c39945db07753764edb605ca9de13ef0256be50651f558a76d12d6f5058",
        "a4affb76084fd5220ff5a08ad540b68ab88557dda18ace849eedfb85fc330798",
        "5668eba40b22b05e19fc0e6d875f8107ba7813bb8aebb7582e9aee6d2e47f6a4",
    ],
    keymat: [
        "ccde09b2aedeb0fc87cc84a76c3d8352fc62ed0e30e3a4a89dc97b8b12722f97cb0e63cb",
        "dd39eac0c126a824da4ea18d80baed3a57f34ee7bbcbbedba491725145bd629bff4b099f",
    ],
};

#[test]
fn derivations_match_the_rfc_formulas() {
    let ni: Vec<u8> = (0..16).collect();
    let nr: Vec<u8> = (16..32).collect();
    let (g_xy, g_xi, g_xr) = ([0xab; 128], [0x11; 128], [0x22; 128]);
    let (ci, cr) = ([1u8; 8], [2u8; 8]);
    let mid = 0x0102_0304;
    for w in [SHA1, SHA256] {
        let prf = w.prf;
        let skeyid = skeyid_psk(prf, b"a pre-shared key", &ni, &nr).unwrap();
        assert_eq!(skeyid.as_bytes(), hex(w.skeyid), "{prf:?}");
        let sig = skeyid_signature(prf, &ni, &nr, &g_xy).unwrap();
        assert_eq!(sig.as_bytes(), hex(w.skeyid_sig), "{prf:?}");
        let keys = IsakmpKeys::derive(prf, skeyid, &g_xy, (&ci, &cr), 32).unwrap();
        assert_eq!(keys.skeyid_d.as_bytes(), hex(w.skeyid_d), "{prf:?}");
        assert_eq!(keys.skeyid_a.as_bytes(), hex(w.skeyid_a), "{prf:?}");
        assert_eq!(keys.enc_key.as_bytes(), hex(w.enc_key), "{prf:?}");
        assert_eq!(phase1_iv(prf, &g_xi, &g_xr, 16).unwrap(), hex(w.iv1));
        assert_eq!(message_iv(prf, &[0x33; 16], mid).unwrap(), hex(w.iv2));
        let h = Phase1HashInput {
            g_xi: &g_xi,
            g_xr: &g_xr,
            cookies: (&ci, &cr),
            sa_i: b"SA body",
        };
        let hi = hash_i(prf, &keys.skeyid, &h, b"IDii").unwrap();
        assert_eq!(hi.as_bytes(), hex(w.hash_i), "{prf:?}");
        let hr = hash_r(prf, &keys.skeyid, &h, b"IDir").unwrap();
        assert_eq!(hr.as_bytes(), hex(w.hash_r), "{prf:?}");
        let a = &keys.skeyid_a;
        assert_eq!(
            hash1(prf, a, mid, b"rest").unwrap().as_bytes(),
            hex(w.hashes[0])
        );
        assert_eq!(
            hash2(prf, a, mid, &ni, b"rest").unwrap().as_bytes(),
            hex(w.hashes[1])
        );
        assert_eq!(
            hash3(prf, a, mid, &ni, &nr).unwrap().as_bytes(),
            hex(w.hashes[2])
        );
        let spi = [0xc0, 0, 0, 1];
        for (pfs, want) in [(None, w.keymat[0]), (Some(&[0x44; 32][..]), w.keymat[1])] {
            let k = keymat(prf, &keys.skeyid_d, pfs, 3, spi, (&ni, &nr), 36).unwrap();
            assert_eq!(k.as_bytes(), hex(want), "{prf:?} pfs {}", pfs.is_some());
        }
    }
}

#[test]
fn aes_cmac_is_no_ikev1_prf() {
    assert_eq!(
        phase1_iv(Prf::AesCmac, &[1], &[2], 16).unwrap_err(),
        KeyError::NotAnIkev1Prf
    );
}
