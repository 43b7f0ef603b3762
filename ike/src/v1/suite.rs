// SPDX-License-Identifier: GPL-2.0
//! The suites IKEv1 negotiates, in the proposal types IKEv2 uses: a phase 1 transform is an
//! [`IkeProposal`] with AES-CBC (the hash gives the PRF and, for status, the integrity name),
//! a phase 2 transform an [`EspCipher`] with its encapsulation mode, lifetime and PFS group.

use std::time::Duration;

use super::codes::{p1_attr, p2_attr, proto};
use super::payload::TransformV1;
use crate::crypto::{DhGroup, SkCipher, SkInteg};
use crate::engine::{describe_suite, EspCipher, EspInteg, IkeProposal, LifeLimits, Mode};
use crate::keys::Prf;
use crate::sa::TransformAttribute;

/// KEY_IKE, the one phase 1 transform ID (RFC 2407 §4.4.2).
pub(crate) const KEY_IKE: u8 = 1;
/// Phase 1 Encryption Algorithm AES-CBC (RFC 3602 §5).
const ENCR_AES_CBC: u16 = 7;
/// Authentication Method: pre-shared key.
pub(crate) const AUTH_PSK: u16 = 1;
/// Authentication Method: RSA signatures.
pub(crate) const AUTH_RSA_SIG: u16 = 3;
/// Authentication Methods ECDSA on P-256 and on P-384 (RFC 4754 §3).
const AUTH_ECDSA_256: u16 = 9;
const AUTH_ECDSA_384: u16 = 10;

/// The Authentication Method a connection uses: a PSK, or signatures with its key's kind.
pub(crate) fn auth_method(auth: &crate::engine::Auth) -> u16 {
    match auth {
        crate::engine::Auth::Psk(_) => AUTH_PSK,
        crate::engine::Auth::PublicKey(pk) => match pk.key.ecdsa_bits() {
            None => AUTH_RSA_SIG,
            Some(256) => AUTH_ECDSA_256,
            Some(_) => AUTH_ECDSA_384,
        },
    }
}

/// The Authentication Method a phase 1 transform names.
pub(crate) fn auth_of(t: &TransformV1) -> Option<u16> {
    attr(t, p1_attr::AUTH_METHOD).and_then(|a| u16::try_from(a).ok())
}

/// How diagnostics name an Authentication Method.
pub(crate) fn auth_name(method: u16) -> String {
    match method {
        AUTH_PSK => "pre-shared keys".into(),
        AUTH_RSA_SIG => "RSA signatures".into(),
        AUTH_ECDSA_256 => "ECDSA signatures (P-256)".into(),
        AUTH_ECDSA_384 => "ECDSA signatures (P-384)".into(),
        n => format!("authentication method {n}"),
    }
}
/// Life Type seconds.
const LIFE_SECONDS: u16 = 1;

fn tv(attribute_type: u16, value: u16) -> TransformAttribute {
    TransformAttribute::Tv {
        attribute_type,
        value,
    }
}

/// A duration attribute: TV when it fits 16 bits, else a 4-byte TLV (RFC 2408 §3.3).
fn duration(attribute_type: u16, seconds: u64) -> TransformAttribute {
    let s = u32::try_from(seconds).unwrap_or(u32::MAX);
    match u16::try_from(s) {
        Ok(v) => tv(attribute_type, v),
        Err(_) => TransformAttribute::Tlv {
            attribute_type,
            value: s.to_be_bytes().to_vec(),
        },
    }
}

fn attr(t: &TransformV1, kind: u16) -> Option<u64> {
    t.attributes.iter().find_map(|a| value_of(a, kind))
}

/// The value of attribute `a` if it has type `kind` (a TLV of up to 8 bytes as a number).
fn value_of(a: &TransformAttribute, kind: u16) -> Option<u64> {
    match a {
        TransformAttribute::Tv {
            attribute_type,
            value,
        } if *attribute_type == kind => Some(u64::from(*value)),
        TransformAttribute::Tlv {
            attribute_type,
            value,
        } if *attribute_type == kind && value.len() <= 8 => {
            Some(value.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)))
        }
        _ => None,
    }
}

/// Life Type kilobytes. A kilobyte is 1000 bytes here, as strongSwan counts it.
const LIFE_KILOBYTES: u16 = 2;
const BYTES_PER_KILOBYTE: u64 = 1000;

/// The SA Life Type and Life Duration pairs of phase 2 limits.
pub(crate) fn life_attributes(life: LifeLimits) -> Vec<TransformAttribute> {
    let mut out = Vec::new();
    if let Some(s) = life.secs {
        out.push(tv(p2_attr::LIFE_TYPE, LIFE_SECONDS));
        out.push(duration(p2_attr::LIFE_DURATION, s));
    }
    if let Some(b) = life.bytes {
        out.push(tv(p2_attr::LIFE_TYPE, LIFE_KILOBYTES));
        out.push(duration(
            p2_attr::LIFE_DURATION,
            b.div_ceil(BYTES_PER_KILOBYTE),
        ));
    }
    out
}

/// The phase 2 limits in SA attributes: each Life Duration counts in the Life Type before it.
pub(crate) fn life_of(attributes: &[TransformAttribute]) -> LifeLimits {
    let mut life = LifeLimits::default();
    let mut kind = None;
    for a in attributes {
        if let Some(k) = value_of(a, p2_attr::LIFE_TYPE) {
            kind = Some(k);
        }
        match (kind, value_of(a, p2_attr::LIFE_DURATION).filter(|d| *d > 0)) {
            (Some(1), Some(d)) => life.secs = Some(d),
            (Some(2), Some(d)) => life.bytes = Some(d.saturating_mul(BYTES_PER_KILOBYTE)),
            _ => {}
        }
    }
    life
}

/// The Hash Algorithm attribute of a PRF (SHA 2, SHA2-256 4, -384 5, -512 6).
const fn hash_id(prf: Prf) -> Option<u16> {
    match prf {
        Prf::HmacSha1 => Some(2),
        Prf::HmacSha256 => Some(4),
        Prf::HmacSha384 => Some(5),
        Prf::HmacSha512 => Some(6),
        _ => None,
    }
}

/// The IKEv2 integrity transform a hash stands for in status lines.
const fn integ_of(prf: Prf) -> SkInteg {
    match prf {
        Prf::HmacSha1 => SkInteg::Sha1_96,
        Prf::HmacSha384 => SkInteg::Sha384_192,
        Prf::HmacSha512 => SkInteg::Sha512_256,
        _ => SkInteg::Sha256_128,
    }
}

/// The phase 1 transform of a proposal, `None` for what IKEv1 lacks (AES-GCM, AES-CMAC).
pub(crate) fn p1_transform(
    number: u8,
    p: &IkeProposal,
    life: Duration,
    auth: u16,
) -> Option<TransformV1> {
    let SkCipher::AesCbc { key_bits, .. } = p.cipher else {
        return None;
    };
    Some(TransformV1 {
        number,
        id: KEY_IKE,
        attributes: vec![
            tv(p1_attr::ENCRYPTION, ENCR_AES_CBC),
            tv(p1_attr::KEY_LENGTH, key_bits),
            tv(p1_attr::HASH, hash_id(p.prf)?),
            tv(p1_attr::AUTH_METHOD, auth),
            tv(p1_attr::GROUP, p.dh.id()),
            tv(p1_attr::LIFE_TYPE, LIFE_SECONDS),
            duration(p1_attr::LIFE_DURATION, life.as_secs()),
        ],
    })
}

/// The proposal a phase 1 transform offers (whatever its authentication method), if this
/// crate speaks it.
pub(crate) fn p1_proposal(t: &TransformV1) -> Option<IkeProposal> {
    if t.id != KEY_IKE || attr(t, p1_attr::ENCRYPTION)? != u64::from(ENCR_AES_CBC) {
        return None;
    }
    let key_bits = u16::try_from(attr(t, p1_attr::KEY_LENGTH)?).ok()?;
    let prf = [
        Prf::HmacSha1,
        Prf::HmacSha256,
        Prf::HmacSha384,
        Prf::HmacSha512,
    ]
    .into_iter()
    .find(|p| hash_id(*p).map(u64::from) == attr(t, p1_attr::HASH))?;
    let dh = DhGroup::from_id(u16::try_from(attr(t, p1_attr::GROUP)?).ok()?)?;
    matches!(key_bits, 128 | 192 | 256).then_some(IkeProposal {
        cipher: SkCipher::AesCbc {
            key_bits,
            integ: integ_of(prf),
        },
        prf,
        dh,
    })
}

/// A proposal as IKEv1 sees it: the integrity name follows the hash.
pub(crate) fn normalized(p: IkeProposal) -> IkeProposal {
    let cipher = match p.cipher {
        SkCipher::AesCbc { key_bits, .. } => SkCipher::AesCbc {
            key_bits,
            integ: integ_of(p.prf),
        },
        other => other,
    };
    IkeProposal { cipher, ..p }
}

/// Our phase 1 proposals as IKEv1 names them.
pub(crate) fn describe_offer(ours: &[IkeProposal]) -> String {
    ours.iter()
        .filter(|p| matches!(p.cipher, SkCipher::AesCbc { .. }))
        .map(|p| describe_suite(&normalized(*p).transforms()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether two phase 1 proposals are the same suite (the integrity name is only cosmetic).
pub(crate) fn same_p1(a: &IkeProposal, b: &IkeProposal) -> bool {
    a.prf == b.prf && a.dh == b.dh && a.cipher.key_bits() == b.cipher.key_bits()
}

/// ESP transform IDs of the IPsec DOI (RFC 2407 §4.4.4, IANA).
const ESP_NULL: u8 = 11;
const ESP_AES: u8 = 12;
const ESP_AES_GCM_8: u8 = 18;
const ESP_AES_GCM_12: u8 = 19;
const ESP_AES_GCM_16: u8 = 20;
const ESP_NULL_AUTH_AES_GMAC: u8 = 23;

/// The Authentication Algorithm attribute of an integrity transform (RFC 2407 §4.5, IANA);
/// AES-CMAC has none in IKEv1.
const fn auth_id(integ: EspInteg) -> Option<u16> {
    match integ {
        EspInteg::Sha1_96 => Some(2),
        EspInteg::Sha256_128 => Some(5),
        EspInteg::Sha384_192 => Some(6),
        EspInteg::Sha512_256 => Some(7),
        EspInteg::AesXcbc96 => Some(9),
        EspInteg::AesCmac96 => None,
    }
}

/// IKEv1's AH transform IDs (RFC 2407 §4.4.3, RFC 4868 §4, RFC 3566): AH_SHA is 3, the
/// others equal their Authentication Algorithm.
const fn ah_id(integ: EspInteg) -> Option<u8> {
    match integ {
        EspInteg::Sha1_96 => Some(3),
        EspInteg::Sha256_128 => Some(5),
        EspInteg::Sha384_192 => Some(6),
        EspInteg::Sha512_256 => Some(7),
        EspInteg::AesXcbc96 => Some(9),
        EspInteg::AesCmac96 => None,
    }
}

/// The IPsec protocol whose proposals carry a cipher: AH or ESP.
pub(crate) fn protocol_of(c: EspCipher) -> u8 {
    if matches!(c, EspCipher::Ah { .. }) {
        proto::AH
    } else {
        proto::ESP
    }
}

/// The transform ID, key length and integrity of a cipher; `None` for what IKEv1 lacks.
fn esp_ids(c: EspCipher) -> Option<(u8, Option<u16>, Option<u16>)> {
    Some(match c {
        EspCipher::Ah { integ } => (ah_id(integ)?, None, Some(auth_id(integ)?)),
        EspCipher::AesCbc { key_bits, integ } => (ESP_AES, Some(key_bits), Some(auth_id(integ)?)),
        EspCipher::Null { integ } => (ESP_NULL, None, Some(auth_id(integ)?)),
        EspCipher::AesGcm { key_bits, icv } => {
            let id = match icv {
                8 => ESP_AES_GCM_8,
                12 => ESP_AES_GCM_12,
                _ => ESP_AES_GCM_16,
            };
            (id, Some(key_bits), None)
        }
        EspCipher::AesGmac { key_bits } => (ESP_NULL_AUTH_AES_GMAC, Some(key_bits), None),
        EspCipher::ChaCha20Poly1305 => return None,
    })
}

/// What a Quick Mode transform carries besides the cipher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct P2Params {
    /// Tunnel or transport.
    pub mode: Mode,
    /// The SA lifetime.
    pub life: LifeLimits,
    /// The PFS group.
    pub pfs: Option<DhGroup>,
    /// ESP in UDP (UDP-Tunnel, UDP-Transport of RFC 3947).
    pub udp: bool,
}

/// A Quick Mode ESP or AH transform.
pub(crate) fn p2_transform(number: u8, c: EspCipher, p: P2Params) -> Option<TransformV1> {
    let (id, bits, auth) = esp_ids(c)?;
    let mut attributes = life_attributes(p.life);
    attributes.push(tv(
        p2_attr::ENCAPSULATION,
        match (p.mode, p.udp) {
            (Mode::Tunnel, false) => 1,
            (Mode::Transport, false) => 2,
            (Mode::Tunnel, true) => 3,
            (Mode::Transport, true) => 4,
        },
    ));
    if let Some(g) = p.pfs {
        attributes.push(tv(p2_attr::GROUP, g.id()));
    }
    if let Some(a) = auth {
        attributes.push(tv(p2_attr::AUTH_ALGORITHM, a));
    }
    if let Some(b) = bits {
        attributes.push(tv(p2_attr::KEY_LENGTH, b));
    }
    Some(TransformV1 {
        number,
        id,
        attributes,
    })
}

/// The cipher and parameters of a Quick Mode transform of `protocol` (ESP or AH), if this
/// crate speaks them.
pub(crate) fn p2_cipher(protocol: u8, t: &TransformV1) -> Option<(EspCipher, P2Params)> {
    // 3 and 4 are RFC 3947's UDP-Tunnel and UDP-Transport, 61443/61444 the drafts' values.
    let (mode, udp) = match attr(t, p2_attr::ENCAPSULATION)? {
        1 => (Mode::Tunnel, false),
        2 => (Mode::Transport, false),
        3 | 61443 => (Mode::Tunnel, true),
        4 | 61444 => (Mode::Transport, true),
        _ => return None,
    };
    let pfs = match attr(t, p2_attr::GROUP) {
        Some(g) => Some(DhGroup::from_id(u16::try_from(g).ok()?)?),
        None => None,
    };
    let bits = attr(t, p2_attr::KEY_LENGTH).and_then(|b| u16::try_from(b).ok());
    let auth = attr(t, p2_attr::AUTH_ALGORITHM);
    let integ = || {
        EspInteg::ALL
            .into_iter()
            .find(|i| auth_id(*i).map(u64::from) == auth)
    };
    let cipher = match t.id {
        // AH's transform ID names the algorithm; its Authentication Algorithm must agree.
        id if protocol == proto::AH => {
            let by_id = EspInteg::ALL.into_iter().find(|i| ah_id(*i) == Some(id))?;
            if auth.is_some_and(|a| auth_id(by_id).map(u64::from) != Some(a)) {
                return None;
            }
            EspCipher::Ah { integ: by_id }
        }
        _ if protocol != proto::ESP => return None,
        ESP_AES => EspCipher::AesCbc {
            key_bits: bits?,
            integ: integ()?,
        },
        ESP_NULL => EspCipher::Null { integ: integ()? },
        ESP_AES_GCM_8 | ESP_AES_GCM_12 | ESP_AES_GCM_16 if auth.is_none() => EspCipher::AesGcm {
            key_bits: bits?,
            icv: match t.id {
                ESP_AES_GCM_8 => 8,
                ESP_AES_GCM_12 => 12,
                _ => 16,
            },
        },
        ESP_NULL_AUTH_AES_GMAC if auth.is_none() => EspCipher::AesGmac { key_bits: bits? },
        _ => return None,
    };
    if !matches!(cipher.key_length_attribute(), None | Some(128 | 192 | 256)) {
        return None;
    }
    Some((
        cipher,
        P2Params {
            mode,
            life: life_of(&t.attributes),
            pfs,
            udp,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase1_and_phase2_transforms_round_trip() {
        let p = IkeProposal {
            cipher: SkCipher::AesCbc {
                key_bits: 256,
                integ: SkInteg::Sha384_192,
            },
            prf: Prf::HmacSha384,
            dh: DhGroup::Modp2048,
        };
        let t = p1_transform(1, &p, Duration::from_secs(86400), AUTH_RSA_SIG).unwrap();
        assert_eq!(p1_proposal(&t), Some(p));
        assert_eq!(auth_of(&t), Some(AUTH_RSA_SIG));
        let gcm = IkeProposal {
            cipher: SkCipher::AesGcm16 { key_bits: 128 },
            ..p
        };
        assert!(p1_transform(1, &gcm, Duration::from_secs(1), AUTH_PSK).is_none());
        let params = P2Params {
            mode: Mode::Transport,
            life: LifeLimits {
                secs: Some(3600),
                bytes: Some(5_000_000),
            },
            pfs: Some(DhGroup::Ecp256),
            udp: true,
        };
        for c in [
            EspCipher::AesCbc {
                key_bits: 128,
                integ: EspInteg::Sha256_128,
            },
            EspCipher::AesGcm {
                key_bits: 256,
                icv: 16,
            },
            EspCipher::Null {
                integ: EspInteg::AesXcbc96,
            },
            EspCipher::AesGmac { key_bits: 192 },
        ] {
            let t = p2_transform(1, c, params).unwrap();
            assert_eq!(p2_cipher(proto::ESP, &t), Some((c, params)), "{c:?}");
        }
        for integ in [EspInteg::Sha1_96, EspInteg::Sha512_256, EspInteg::AesXcbc96] {
            let c = EspCipher::Ah { integ };
            let t = p2_transform(1, c, params).unwrap();
            assert_eq!(p2_cipher(proto::AH, &t), Some((c, params)), "{c:?}");
            // The same transform ID means something else in ESP (AH_SHA 3 is ESP_3DES).
            assert_ne!(p2_cipher(proto::ESP, &t), Some((c, params)));
        }
        let mut sha1 = p2_transform(
            1,
            EspCipher::Ah {
                integ: EspInteg::Sha1_96,
            },
            params,
        )
        .unwrap();
        assert_eq!(sha1.id, 3);
        sha1.id = 5;
        assert_eq!(
            p2_cipher(proto::AH, &sha1),
            None,
            "AH_SHA2_256 with HMAC-SHA-1"
        );
        assert!(p2_transform(1, EspCipher::ChaCha20Poly1305, params).is_none());
    }

    #[test]
    fn lifetimes_pair_each_duration_with_its_type() {
        let both = LifeLimits {
            secs: Some(100_000),
            bytes: Some(1_500),
        };
        let attrs = life_attributes(both);
        // 100000 s needs a 4-byte TLV; 1500 bytes round up to 2 kilobytes.
        assert!(matches!(attrs[1], TransformAttribute::Tlv { .. }));
        assert_eq!(
            life_of(&attrs),
            LifeLimits {
                secs: Some(100_000),
                bytes: Some(2_000),
            }
        );
        // Kilobytes first, then seconds, as some peers order them.
        let reversed = [
            attrs[2].clone(),
            attrs[3].clone(),
            attrs[0].clone(),
            attrs[1].clone(),
        ];
        assert_eq!(life_of(&reversed), life_of(&attrs));
        let bytes_only = life_attributes(LifeLimits {
            secs: None,
            bytes: Some(4_000_000),
        });
        assert_eq!(life_of(&bytes_only).secs, None);
        assert_eq!(life_of(&bytes_only).bytes, Some(4_000_000));
        // A duration of 0 or one without a type limits nothing.
        let zero = [
            tv(p2_attr::LIFE_TYPE, LIFE_SECONDS),
            tv(p2_attr::LIFE_DURATION, 0),
        ];
        assert_eq!(life_of(&zero), LifeLimits::default());
        assert_eq!(
            life_of(&[tv(p2_attr::LIFE_DURATION, 60)]),
            LifeLimits::default()
        );
    }
}
