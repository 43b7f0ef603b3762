// SPDX-License-Identifier: GPL-2.0
//! IKE and ESP proposals: their transforms, choosing one of the peer's (RFC 7296 §2.7,
//! §3.3), and readable explanations of what did not match.

use super::esp_suite::{encr_integ_transforms, EspCipher};
use crate::codes::{ProtocolId, TransformType};
use crate::crypto::{DhGroup, SkCipher};
use crate::keys::Prf;
use crate::sa::{Proposal, Transform};
use crate::transform_ids::NO_ESN;

/// One IKE SA proposal: a cipher suite, a PRF and a DH group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IkeProposal {
    /// SK payload protection (ENCR, and INTEG for CBC).
    pub cipher: SkCipher,
    /// Pseudo-random function.
    pub prf: Prf,
    /// Diffie-Hellman group.
    pub dh: DhGroup,
}

/// One ESP proposal for a Child SA (ESN is always "no ESN" for now).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EspProposal {
    /// ENCR (and INTEG for the non-AEAD suites).
    pub cipher: EspCipher,
}

impl IkeProposal {
    pub(crate) fn transforms(&self) -> Vec<Transform> {
        let mut out = cipher_transforms(self.cipher);
        out.push(Transform::new(TransformType::PRF, self.prf.transform_id()));
        out.push(Transform::new(TransformType::DH, self.dh.id()));
        out
    }

    pub(crate) fn to_proposal(self, number: u8) -> Proposal {
        Proposal {
            number,
            protocol: ProtocolId::IKE,
            spi: Vec::new(),
            transforms: self.transforms(),
        }
    }
}

impl EspProposal {
    pub(crate) fn transforms(&self) -> Vec<Transform> {
        let mut out = self.cipher.transforms();
        out.push(Transform::new(TransformType::ESN, NO_ESN));
        out
    }

    /// The transforms, plus a DH transform for PFS in CREATE_CHILD_SA.
    pub(crate) fn transforms_with(&self, dh: Option<DhGroup>) -> Vec<Transform> {
        let mut out = self.transforms();
        if let Some(group) = dh {
            out.push(Transform::new(TransformType::DH, group.id()));
        }
        out
    }

    pub(crate) fn to_proposal_with(self, number: u8, spi: u32, dh: Option<DhGroup>) -> Proposal {
        Proposal {
            number,
            protocol: self.cipher.protocol(),
            spi: spi.to_be_bytes().to_vec(),
            transforms: self.transforms_with(dh),
        }
    }
}

/// "AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519".
pub(crate) fn describe_suite(transforms: &[Transform]) -> String {
    let names: Vec<String> = transforms.iter().map(Transform::name).collect();
    names.join("/")
}

pub(crate) fn cipher_transforms(cipher: SkCipher) -> Vec<Transform> {
    encr_integ_transforms(cipher.encr_id(), Some(cipher.key_bits()), cipher.integ_id())
}

/// True when `peer` (a proposal with possibly several transforms per type) allows exactly the
/// transforms `ours` (one per type) and asks for no type we do not have.
fn proposal_accepts(peer: &Proposal, ours: &[Transform]) -> bool {
    let relevant = |t: &&Transform| {
        let optional =
            t.transform_type == TransformType::INTEG || t.transform_type == TransformType::DH;
        t.id != 0 || !optional
    };
    let covers = ours.iter().all(|want| {
        peer.transforms.iter().any(|have| {
            have.transform_type == want.transform_type
                && have.id == want.id
                && have.key_length() == want.key_length()
        })
    });
    let no_extra_type = peer
        .transforms
        .iter()
        .filter(relevant)
        .all(|have| ours.iter().any(|t| t.transform_type == have.transform_type));
    covers && no_extra_type
}

/// Picks the first of the peer's proposals (in its order of preference) that one of ours
/// accepts; returns the peer's proposal number and our matching entry.
pub(crate) fn select<T: Copy>(
    protocol: ProtocolId,
    peer: &[Proposal],
    ours: &[T],
    transforms: impl Fn(&T) -> Vec<Transform>,
) -> Option<(u8, T)> {
    peer.iter()
        .filter(|p| p.protocol == protocol)
        .find_map(|p| {
            ours.iter()
                .find(|o| proposal_accepts(p, &transforms(o)))
                .map(|o| (p.number, *o))
        })
}

/// The single proposal of a response, if it is exactly one of ours.
pub(crate) fn accepted<T: Copy>(
    protocol: ProtocolId,
    peer: &[Proposal],
    ours: &[T],
    transforms: impl Fn(&T) -> Vec<Transform>,
) -> Option<T> {
    let [only] = peer else { return None };
    if only.protocol != protocol {
        return None;
    }
    ours.iter().copied().find(|o| {
        let mine = transforms(o);
        proposal_accepts(only, &mine) && only.transforms.len() == mine.len()
    })
}

const TYPES: [TransformType; 5] = [
    TransformType::ENCR,
    TransformType::PRF,
    TransformType::INTEG,
    TransformType::DH,
    TransformType::ESN,
];

/// Names offered per transform type across proposals, in first-seen order.
fn names_by_type(transforms: &[Vec<Transform>]) -> Vec<(TransformType, Vec<String>)> {
    TYPES
        .iter()
        .map(|kind| {
            let mut names: Vec<String> = Vec::new();
            for t in transforms.iter().flatten() {
                if t.transform_type == *kind {
                    let name = t.name();
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
            (*kind, names)
        })
        .filter(|(_, names)| !names.is_empty())
        .collect()
}

/// Describes an offer, e.g. "ENCR AES_GCM_16_256, PRF PRF_HMAC_SHA2_256, DH CURVE_25519".
pub(crate) fn describe(transforms: &[Vec<Transform>]) -> String {
    let parts: Vec<String> = names_by_type(transforms)
        .into_iter()
        .map(|(kind, names)| format!("{} {}", kind.name().unwrap_or("?"), names.join("|")))
        .collect();
    if parts.is_empty() {
        "nothing".to_string()
    } else {
        parts.join(", ")
    }
}

/// "no proposal chosen: we offered ...; the peer offered ...; no common ENCR, DH".
pub(crate) fn explain_no_proposal(
    what: &str,
    ours: &[Vec<Transform>],
    peer: &[Proposal],
) -> String {
    let peer_transforms: Vec<Vec<Transform>> = peer.iter().map(|p| p.transforms.clone()).collect();
    let ours_by_type = names_by_type(ours);
    let peer_by_type = names_by_type(&peer_transforms);
    let mut missing = Vec::new();
    for kind in TYPES {
        let mine = ours_by_type
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, n)| n);
        let theirs = peer_by_type
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, n)| n);
        let common = match (mine, theirs) {
            (Some(a), Some(b)) => a.iter().any(|n| b.contains(n)),
            (None, None) => true,
            // INTEG NONE on one side and nothing on the other is the same thing.
            (Some(a), None) | (None, Some(a)) => a.iter().all(|n| n == "NONE"),
        };
        if !common {
            missing.push(kind.name().unwrap_or("?"));
        }
    }
    let verdict = if missing.is_empty() {
        "every transform type has a common algorithm, but no single proposal combines them"
            .to_string()
    } else {
        format!("no common {}", missing.join(", "))
    };
    format!(
        "no proposal chosen for the {what}: we offered {}; the peer offered {}; {verdict}{}",
        describe(ours),
        describe(&peer_transforms),
        closest(ours, &peer_transforms),
    )
}

/// Transform types in which two single proposals have no algorithm in common, with both
/// sides' names.
fn differences(ours: &[Transform], theirs: &[Transform]) -> Vec<String> {
    let mine = names_by_type(std::slice::from_ref(&ours.to_vec()));
    let peer = names_by_type(std::slice::from_ref(&theirs.to_vec()));
    let mut out = Vec::new();
    for kind in TYPES {
        let get = |list: &[(TransformType, Vec<String>)]| {
            list.iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, n)| n.clone())
                .unwrap_or_default()
        };
        let (a, b) = (get(&mine), get(&peer));
        let none = |v: &[String]| v.iter().all(|n| n == "NONE");
        if a.iter().any(|n| b.contains(n)) || (none(&a) && none(&b)) {
            continue;
        }
        let show = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join("/")
            }
        };
        out.push(format!(
            "{} (peer {}, ours {})",
            kind.name().unwrap_or("?"),
            show(&b),
            show(&a)
        ));
    }
    out
}

/// "; closest: ..." naming the pair of proposals that differ in the fewest transform types.
fn closest(ours: &[Vec<Transform>], theirs: &[Vec<Transform>]) -> String {
    let mut best: Option<(usize, usize, Vec<String>)> = None;
    for (i, o) in ours.iter().enumerate() {
        for (j, t) in theirs.iter().enumerate() {
            let d = differences(o, t);
            if !d.is_empty() && best.as_ref().is_none_or(|b| d.len() < b.2.len()) {
                best = Some((i, j, d));
            }
        }
    }
    best.map_or_else(String::new, |(i, j, d)| {
        format!(
            "; closest: the peer's proposal {} and our proposal {} differ only in {}",
            j + 1,
            i + 1,
            d.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::esp_suite::EspInteg;
    use super::*;
    use crate::crypto::SkInteg;
    use crate::transform_ids::{
        AUTH_HMAC_SHA2_256_128, ENCR_AES_GCM_16, ENCR_CHACHA20_POLY1305, ENCR_NULL, ESN,
    };

    #[test]
    fn ike_suites_offer_the_same_transforms_for_esp() {
        for sk in [
            SkCipher::AesGcm16 { key_bits: 128 },
            SkCipher::AesGcm16 { key_bits: 256 },
            SkCipher::AesCbc {
                key_bits: 128,
                integ: SkInteg::Sha256_128,
            },
            SkCipher::AesCbc {
                key_bits: 256,
                integ: SkInteg::Sha256_128,
            },
        ] {
            assert_eq!(
                EspCipher::from(sk).transforms(),
                cipher_transforms(sk),
                "{sk:?}"
            );
        }
    }

    const CHACHA: EspProposal = EspProposal {
        cipher: EspCipher::ChaCha20Poly1305,
    };
    const NULL: EspProposal = EspProposal {
        cipher: EspCipher::Null {
            integ: EspInteg::Sha256_128,
        },
    };
    const GCM128: EspProposal = EspProposal {
        cipher: EspCipher::AesGcm {
            key_bits: 128,
            icv: 16,
        },
    };

    fn esp(number: u8, transforms: Vec<Transform>) -> Proposal {
        Proposal {
            number,
            protocol: ProtocolId::ESP,
            spi: vec![0, 0, 0x10, number],
            transforms,
        }
    }

    fn encr(id: u16) -> Transform {
        Transform::new(TransformType::ENCR, id)
    }

    fn integ(id: u16) -> Transform {
        Transform::new(TransformType::INTEG, id)
    }

    fn no_esn() -> Transform {
        Transform::new(TransformType::ESN, NO_ESN)
    }

    #[test]
    fn esp_transforms_follow_the_rfcs() {
        // RFC 7634 §3: no Key Length attribute.
        assert_eq!(
            CHACHA.transforms(),
            [encr(ENCR_CHACHA20_POLY1305), no_esn()]
        );
        assert_eq!(
            NULL.transforms(),
            [encr(ENCR_NULL), integ(AUTH_HMAC_SHA2_256_128), no_esn()]
        );
        assert_eq!(
            GCM128.transforms(),
            [
                Transform::with_key_length(TransformType::ENCR, ENCR_AES_GCM_16, 128),
                no_esn()
            ]
        );
        let pfs = CHACHA.to_proposal_with(2, 0x1234, Some(DhGroup::Curve25519));
        assert_eq!((pfs.number, pfs.protocol), (2, ProtocolId::ESP));
        assert_eq!(pfs.spi, [0, 0, 0x12, 0x34]);
        assert_eq!(pfs.transforms.len(), 3);
        assert_eq!(
            describe_suite(&pfs.transforms),
            "CHACHA20_POLY1305/NO_ESN/CURVE_25519"
        );
        assert_eq!(
            describe(&[CHACHA.transforms(), NULL.transforms()]),
            "ENCR CHACHA20_POLY1305|NULL, INTEG HMAC_SHA2_256_128, ESN NO_ESN"
        );
    }

    #[test]
    fn selection_picks_chacha20poly1305_and_null() {
        // A strongSwan-style offer: gcm128, then chacha20poly1305, then null-sha256.
        let peer = [
            esp(
                1,
                vec![
                    Transform::with_key_length(TransformType::ENCR, ENCR_AES_GCM_16, 128),
                    no_esn(),
                ],
            ),
            esp(2, vec![encr(ENCR_CHACHA20_POLY1305), no_esn()]),
            esp(
                3,
                vec![encr(ENCR_NULL), integ(AUTH_HMAC_SHA2_256_128), no_esn()],
            ),
        ];
        let pick =
            |ours: &[EspProposal]| select(ProtocolId::ESP, &peer, ours, EspProposal::transforms);
        assert_eq!(pick(&[NULL, CHACHA]), Some((2, CHACHA)));
        assert_eq!(pick(&[NULL]), Some((3, NULL)));
        assert_eq!(pick(&[GCM128, CHACHA]), Some((1, GCM128)));
        // The responder's single answer is recognised by the initiator.
        let only = |p: &Proposal| {
            accepted(
                ProtocolId::ESP,
                std::slice::from_ref(p),
                &[GCM128, CHACHA, NULL],
                EspProposal::transforms,
            )
        };
        assert_eq!(only(&peer[1]), Some(CHACHA));
        assert_eq!(only(&peer[2]), Some(NULL));
        // A peer allowing ESN as well still gets NO_ESN.
        let both_esn = esp(
            1,
            vec![
                encr(ENCR_CHACHA20_POLY1305),
                no_esn(),
                Transform::new(TransformType::ESN, ESN),
            ],
        );
        assert_eq!(
            select(
                ProtocolId::ESP,
                &[both_esn],
                &[CHACHA],
                EspProposal::transforms
            ),
            Some((1, CHACHA))
        );
    }

    #[test]
    fn malformed_chacha20poly1305_and_null_are_not_accepted() {
        // ChaCha20-Poly1305 with a Key Length attribute (RFC 7634 §3 forbids it).
        let keyed = esp(
            1,
            vec![
                Transform::with_key_length(TransformType::ENCR, ENCR_CHACHA20_POLY1305, 256),
                no_esn(),
            ],
        );
        // NULL without integrity protection: ripsec has no such SA.
        let bare_null = esp(2, vec![encr(ENCR_NULL), no_esn()]);
        let peer = [keyed, bare_null];
        let ours = [CHACHA, NULL];
        assert_eq!(
            select(ProtocolId::ESP, &peer, &ours, EspProposal::transforms),
            None
        );
        let ours_t: Vec<_> = ours.iter().map(EspProposal::transforms).collect();
        let why = explain_no_proposal("Child SA (ESP)", &ours_t, &peer);
        assert_eq!(
            why,
            "no proposal chosen for the Child SA (ESP): we offered ENCR CHACHA20_POLY1305|NULL, \
             INTEG HMAC_SHA2_256_128, ESN NO_ESN; the peer offered ENCR CHACHA20_POLY1305_256|NULL, \
             ESN NO_ESN; no common INTEG; closest: the peer's proposal 1 and our proposal 1 \
             differ only in ENCR (peer CHACHA20_POLY1305_256, ours CHACHA20_POLY1305)"
        );
    }
}
