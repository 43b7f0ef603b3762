// SPDX-License-Identifier: GPL-2.0
//! The payloads of Quick Mode: our SA offer, nonce, KE and IDci/IDcr; the HASH checks; the
//! peer's selectors and the child and transform we take for them; the Child SA keys.

use super::codes::{NotifyV1, PayloadV1, DOI_IPSEC, SIT_IDENTITY_ONLY};
use super::crypt::Opened;
use super::engine::{EngineV1, IsakmpSa};
use super::ids::{host_selector, selector_of, selector_payload};
use super::keys::keymat;
use super::nat_t;
use super::payload::{
    encode_attributes, parse_attributes, NotifyPayloadV1, PayloadBodyV1, ProposalV1, SaV1,
    TransformV1,
};
use super::suite::{life_attributes, life_of, p2_cipher, protocol_of, P2Params};
use crate::codes::TransformType;
use crate::crypto::{ct_eq, KeyExchange};
use crate::engine::{describe_suite, ChildConfig, ChildDirection, EspCipher, LifeLimits};
use crate::secret::Secret;
use crate::traffic_selector::TrafficSelector;
use crate::transform_ids::transform_name;

/// The UDP ports of ESP in UDP, when a NAT was found.
pub(super) fn udp_ports(sa: &IsakmpSa) -> Option<(u16, u16)> {
    nat_t::encapsulated(sa).then(|| (sa.local.port(), sa.peer.port()))
}

/// An SA payload with one ESP or AH proposal.
pub(super) fn p2_sa(protocol: u8, spi: u32, transforms: Vec<TransformV1>) -> SaV1 {
    SaV1 {
        doi: DOI_IPSEC,
        situation: SIT_IDENTITY_ONLY,
        proposals: vec![ProposalV1 {
            number: 1,
            protocol,
            spi: spi.to_be_bytes().to_vec(),
            transforms,
        }],
    }
}

/// SA, nonce, KE (with PFS) and the two IDs: what follows HASH(1) and HASH(2).
pub(super) fn quick_payloads(
    sa: PayloadBodyV1,
    nonce: &[u8],
    dh: Option<&KeyExchange>,
    ids: Option<(super::payload::IdV1, super::payload::IdV1)>,
) -> Vec<PayloadBodyV1> {
    let mut out = vec![sa, PayloadBodyV1::Nonce(nonce.to_vec())];
    if let Some(dh) = dh {
        out.push(PayloadBodyV1::Ke(dh.public_value().to_vec()));
    }
    if let Some((i, r)) = ids {
        out.push(PayloadBodyV1::Id(i));
        out.push(PayloadBodyV1::Id(r));
    }
    out
}

/// IDci and IDcr of a child: its first local and remote selector.
pub(super) fn quick_ids(
    cfg: &ChildConfig,
) -> Result<Option<(super::payload::IdV1, super::payload::IdV1)>, String> {
    let (Some(l), Some(r)) = (cfg.ts_local.first(), cfg.ts_remote.first()) else {
        return Ok(None);
    };
    let id = |ts| selector_payload(ts).ok_or("a port range IKEv1 cannot carry (one port or all)");
    Ok(Some((id(l)?, id(r)?)))
}

/// The plaintext after the HASH payload, which HASH(1) and HASH(2) cover.
pub(super) fn after_hash(o: &Opened) -> Result<&[u8], String> {
    let start = o.spans.get(1).map(|r| r.start);
    let end = o.spans.last().map(|r| r.end);
    match (start, end) {
        (Some(s), Some(e)) => o.plaintext.get(s..e).ok_or_else(|| "bad spans".into()),
        _ => Err("a message with nothing after its HASH".into()),
    }
}

/// The first payload must be HASH(n) and equal `want`.
pub(super) fn check_hash(o: &Opened, want: &Secret, n: u8) -> Result<(), String> {
    match o.payloads.first() {
        Some(PayloadBodyV1::Hash(h)) if ct_eq(h, want.as_bytes()) => Ok(()),
        Some(PayloadBodyV1::Hash(_)) => Err(format!("HASH({n}) does not match: dropped")),
        _ => Err(format!("the first payload is not HASH({n})")),
    }
}

pub(super) fn has_ids(payloads: &[PayloadBodyV1]) -> bool {
    payloads
        .iter()
        .filter(|p| p.payload_type() == PayloadV1::ID)
        .count()
        == 2
}

/// IDci and IDcr as selectors; without them, the peers' own addresses.
pub(super) fn peer_ids(
    sa: &IsakmpSa,
    payloads: &[PayloadBodyV1],
) -> Result<(TrafficSelector, TrafficSelector), String> {
    let ids: Vec<_> = payloads
        .iter()
        .filter_map(|p| match p {
            PayloadBodyV1::Id(id) => Some(id),
            _ => None,
        })
        .collect();
    match ids.as_slice() {
        [] => Ok((host_selector(sa.peer.ip()), host_selector(sa.local.ip()))),
        [i, r] => Ok((
            selector_of(i).ok_or("IDci is no selector ripsec takes")?,
            selector_of(r).ok_or("IDcr is no selector ripsec takes")?,
        )),
        _ => Err("Quick Mode takes no or two ID payloads".into()),
    }
}

/// Whether `inner` lies within one of `outer`.
pub(super) fn covers(outer: &[TrafficSelector], inner: &TrafficSelector) -> bool {
    use crate::traffic_selector::AddressRange::{V4, V6};
    outer.iter().any(|o| {
        let addresses = match (o.addresses, inner.addresses) {
            (V4 { start: a, end: b }, V4 { start: c, end: d }) => a <= c && d <= b,
            (V6 { start: a, end: b }, V6 { start: c, end: d }) => a <= c && d <= b,
            _ => false,
        };
        addresses
            && (o.ip_protocol == 0 || o.ip_protocol == inner.ip_protocol)
            && o.start_port <= inner.start_port
            && inner.end_port <= o.end_port
    })
}

/// The peer's first transform (in its order) that one of our proposals, our mode and our PFS
/// setting accept.
pub(super) fn choose_p2(
    offer: &SaV1,
    cfg: &ChildConfig,
) -> Option<(ProposalV1, TransformV1, crate::engine::EspCipher, P2Params)> {
    offer.proposals.iter().find_map(|proposal| {
        choose_transform(proposal, cfg)
            .map(|(t, cipher, params)| (proposal.clone(), t, cipher, params))
    })
}

fn choose_transform(
    proposal: &ProposalV1,
    cfg: &ChildConfig,
) -> Option<(TransformV1, crate::engine::EspCipher, P2Params)> {
    proposal.transforms.iter().find_map(|t| {
        let (cipher, params) = p2_cipher(proposal.protocol, t)?;
        // AH authenticates the addresses a NAT rewrites: never in UDP.
        let ok = !(params.udp && matches!(cipher, EspCipher::Ah { .. }))
            && params.mode == cfg.mode
            && (params.pfs.is_some() || !cfg.pfs)
            && cfg.esp_proposals.iter().any(|e| e.cipher == cipher);
        ok.then(|| (t.clone(), cipher, params))
    })
}

/// Why none of the peer's Quick Mode transforms fits child `cfg`: what the peer offered (each
/// transform with its mode and PFS group), what the child takes, and where the nearest offer
/// (one with a cipher of ours) differs.
pub(super) fn explain_p2(offer: &SaV1, cfg: &ChildConfig) -> String {
    let transforms: Vec<(u8, Option<(EspCipher, P2Params)>)> = offer
        .proposals
        .iter()
        .flat_map(|p| {
            p.transforms
                .iter()
                .map(|t| (p.protocol, p2_cipher(p.protocol, t)))
        })
        .collect();
    let offered: Vec<String> = transforms
        .iter()
        .map(|(protocol, t)| match t {
            Some((c, p)) => describe_p2(*c, p),
            None => format!("a transform of protocol {protocol} ripsec does not speak"),
        })
        .collect();
    let ours: Vec<String> = cfg
        .esp_proposals
        .iter()
        .map(|e| describe_child_suite(e.cipher))
        .collect();
    let near = transforms.iter().find_map(|(_, t)| {
        let (c, p) = t.as_ref()?;
        cfg.esp_proposals
            .iter()
            .any(|e| e.cipher == *c)
            .then_some(p)
    });
    let why = match near {
        Some(p) if p.mode != cfg.mode => format!(
            "; the peer asks for {} mode, the child is {}",
            p.mode.name(),
            cfg.mode.name()
        ),
        Some(p) if p.pfs.is_none() && cfg.pfs => {
            "; the peer offers no PFS, the child requires it".into()
        }
        _ => String::new(),
    };
    format!(
        "no proposal chosen for child {}: the peer offered {}; the child takes {} in {} mode{}{why}",
        cfg.name,
        offered.join(", "),
        ours.join(", "),
        cfg.mode.name(),
        if cfg.pfs { " with PFS" } else { "" }
    )
}

/// "AES_CBC_128/HMAC_SHA2_256_128 tunnel PFS MODP_2048".
fn describe_p2(c: EspCipher, p: &P2Params) -> String {
    let pfs = p.pfs.map_or_else(
        || "no PFS".to_string(),
        |g| format!("PFS {}", transform_name(TransformType::DH, g.id(), None)),
    );
    format!("{} {} {pfs}", describe_child_suite(c), p.mode.name())
}

/// A child's suite, AH ones marked as such ("AH HMAC_SHA2_256_128").
pub(super) fn describe_child_suite(c: EspCipher) -> String {
    let suite = describe_suite(&c.transforms());
    if matches!(c, EspCipher::Ah { .. }) {
        format!("AH {suite}")
    } else {
        suite
    }
}

/// Whether the peer asks for UDP-encapsulated transport mode (RFC 3947's UDP-Transport).
pub(super) fn offers_udp_transport(offer: &SaV1) -> bool {
    offer.proposals.iter().any(|p| {
        p.transforms.iter().any(|t| {
            p2_cipher(p.protocol, t)
                .is_some_and(|(_, q)| q.udp && q.mode == crate::engine::Mode::Transport)
        })
    })
}

pub(super) fn spi_of(p: &ProposalV1) -> Result<u32, String> {
    <[u8; 4]>::try_from(p.spi.as_slice())
        .map(u32::from_be_bytes)
        .map_err(|_| format!("an ESP SPI of {} bytes", p.spi.len()))
}

/// With PFS, our key pair and g(qm)^xy from the peer's KE.
pub(super) fn pfs_exchange(
    engine: &mut EngineV1,
    group: Option<crate::crypto::DhGroup>,
    ke: Option<&Vec<u8>>,
) -> Result<(Option<KeyExchange>, Option<Secret>), String> {
    let Some(group) = group else {
        return Ok((None, None));
    };
    let ke = ke.ok_or("PFS named in the SA but no KE payload")?;
    let dh = KeyExchange::generate(group, engine.rng.as_mut()).map_err(|e| e.to_string())?;
    let shared = dh.shared_secret(ke).map_err(|e| e.to_string())?;
    Ok((Some(dh), Some(shared)))
}

/// Both directions' keys: KEYMAT with the receiver's SPI, split into cipher and integrity key.
pub(super) fn child_keys(
    sa: &IsakmpSa,
    cipher: crate::engine::EspCipher,
    g_qm: Option<&Secret>,
    (spi_in, spi_out): (u32, u32),
    nonces: (&[u8], &[u8]),
) -> Result<(ChildDirection, ChildDirection), String> {
    let prf = sa.prf()?;
    let d = &sa.keys.as_ref().ok_or("no keys")?.skeyid_d;
    let (enc, integ) = (cipher.encr_key_len(), cipher.integ_key_len());
    let dir = |spi: u32| -> Result<ChildDirection, String> {
        let g = g_qm.map(Secret::as_bytes);
        let k = keymat(
            prf,
            d,
            g,
            protocol_of(cipher),
            spi.to_be_bytes(),
            nonces,
            enc + integ,
        )
        .map_err(|e| e.to_string())?;
        let (e, i) = k.as_bytes().split_at(enc);
        Ok(ChildDirection {
            spi,
            encr_key: Secret::from_slice(e),
            integ_key: Secret::from_slice(i),
        })
    };
    Ok((dir(spi_in)?, dir(spi_out)?))
}

/// A lifetime in seconds that an IKEv1 peer names none assumes (RFC 2407 §4.5).
const DEFAULT_LIFE_SECS: u64 = 28_800;

/// What we propose for a child: its own limits, with the connection's default lifetime in
/// seconds when it has none.
pub(super) fn proposed_life(sa: &IsakmpSa, cfg: &ChildConfig) -> LifeLimits {
    LifeLimits {
        secs: cfg.life.secs.or(Some(sa.config.ipsec_life.as_secs())),
        bytes: cfg.life.bytes,
    }
}

/// As responder: the shorter of the initiator's offer and our child's limits. When ours are
/// shorter, the RESPONDER-LIFETIME notify (RFC 2407 §4.6.3.1) that tells the initiator; the
/// transform itself goes back as offered.
pub(super) fn agreed_life(
    offered: LifeLimits,
    ours: LifeLimits,
    (protocol, spi_in): (u8, u32),
) -> Result<(LifeLimits, Option<PayloadBodyV1>), String> {
    let offered = LifeLimits {
        secs: offered.secs.or(Some(DEFAULT_LIFE_SECS)),
        ..offered
    };
    let agreed = offered.min(ours);
    if agreed == offered {
        return Ok((agreed, None));
    }
    let mut data = Vec::new();
    encode_attributes(&life_attributes(agreed), &mut data).map_err(|e| e.to_string())?;
    let notify = PayloadBodyV1::Notify(NotifyPayloadV1 {
        doi: DOI_IPSEC,
        protocol,
        notify: NotifyV1::RESPONDER_LIFETIME,
        spi: spi_in.to_be_bytes().to_vec(),
        data,
    });
    Ok((agreed, Some(notify)))
}

/// As initiator: what we proposed, shortened by the responder's transform or by its
/// RESPONDER-LIFETIME notify; a longer answer does not lengthen it.
pub(super) fn answered_life(
    proposed: LifeLimits,
    answered: LifeLimits,
    payloads: &[PayloadBodyV1],
) -> LifeLimits {
    let notified = payloads
        .iter()
        .filter_map(|p| match p {
            PayloadBodyV1::Notify(n) if n.notify == NotifyV1::RESPONDER_LIFETIME => {
                parse_attributes(&n.data).ok()
            }
            _ => None,
        })
        .fold(LifeLimits::default(), |acc, attrs| acc.min(life_of(&attrs)));
    proposed.min(answered).min(notified)
}
