// SPDX-License-Identifier: GPL-2.0
//! The Child SA negotiation (RFC 7296 §1.3.1, §2.9, §2.17), written once for every exchange
//! that carries one: IKE_AUTH and CREATE_CHILD_SA (and IKEv1 Quick Mode later). The
//! initiator offers (`ChildOffer::of`, `offer_payloads`) and checks the answer (`accept`);
//! the responder picks a child configuration and answers (`Engine::answer_child`). What goes
//! wrong is a [`ChildError`], the same kind through either exchange.

use std::net::SocketAddr;

use super::base::{Engine, NONCE_LEN};
use super::child_error::{ChildError, ChildExchange, RefusalDetail};
use super::ike_sa::ChildOffer;
use super::payloads;
use super::proposal::{accepted, select, EspProposal};
use super::selectors::{behind_nat, check_answered_ts, describe_ts, installable, narrow, NatHosts};
use super::types::{ChildConfig, ChildDirection, ChildSa, Mode};
use crate::codes::{NotifyType, ProtocolId};
use crate::crypto::{DhGroup, KeyExchange};
use crate::keys::{ChildSaKeys, Prf};
use crate::payload::{KePayload, NotifyPayload, Payload};
use crate::sa::{Proposal, SaPayload};
use crate::secret::Secret;
use crate::traffic_selector::{TrafficSelector, TsPayload};

/// What the responder's Child SA is keyed from besides SK_d (RFC 7296 §2.17).
pub(super) enum ResponderKeymat<'a> {
    /// IKE_AUTH: the IKE SA's nonces.
    IkeSa { ni: &'a [u8], nr: &'a [u8] },
    /// CREATE_CHILD_SA: the request's nonce and a fresh one, and g^ir when the chosen
    /// proposal has a DH group (PFS; the IKE SA's `group`).
    Fresh { group: DhGroup },
}

/// What the initiator's Child SA is keyed from besides SK_d (RFC 7296 §2.17).
pub(super) enum InitiatorKeymat<'a> {
    /// IKE_AUTH: the IKE SA's nonces.
    IkeSa { ni: &'a [u8], nr: &'a [u8] },
    /// CREATE_CHILD_SA: our nonce and the answer's, and g^ir with our DH key (PFS).
    Fresh {
        ni: &'a [u8],
        ke: Option<&'a KeyExchange>,
    },
}

impl ResponderKeymat<'_> {
    fn exchange(&self) -> ChildExchange {
        match self {
            ResponderKeymat::IkeSa { .. } => ChildExchange::IkeAuth,
            ResponderKeymat::Fresh { .. } => ChildExchange::CreateChildSa,
        }
    }
}

/// A peer's Child SA request and what answering it takes from the IKE SA.
pub(super) struct Asked<'a> {
    pub payloads: &'a [Payload],
    /// The proposals of its SA payloads.
    pub proposals: &'a [Proposal],
    pub children: &'a [ChildConfig],
    /// The only child configuration allowed (a rekey keeps its Child SA's).
    pub only: Option<usize>,
    pub prf: Prf,
    pub sk_d: &'a Secret,
    pub keymat: ResponderKeymat<'a>,
    pub peer: SocketAddr,
    /// Who is behind a NAT: transport-mode host selectors are read through it.
    pub nat: NatHosts,
}

/// Our answer to a Child SA request.
pub(super) struct Answer {
    pub child: ChildSa,
    /// The index of its child configuration.
    pub index: usize,
    /// The Child SA part of the response.
    pub reply: Vec<Payload>,
    /// CREATE_CHILD_SA: the lower of the exchange's two nonces (RFC 7296 §2.8.1).
    pub lowest_nonce: Option<Vec<u8>>,
}

/// A refused Child SA request: the notify to answer with, and why.
pub(super) struct Refusal {
    pub notify: NotifyPayload,
    pub why: ChildError,
}

impl Refusal {
    pub(super) fn new(notify_type: NotifyType, why: ChildError) -> Self {
        Self {
            notify: NotifyPayload::new(notify_type, Vec::new()),
            why,
        }
    }
}

/// The child configuration the request is for, with the narrowed TSi and TSr.
struct Chosen<'a> {
    index: usize,
    config: &'a ChildConfig,
    ts_i: Vec<TrafficSelector>,
    ts_r: Vec<TrafficSelector>,
}

impl Engine {
    /// Answers a peer's Child SA request (in IKE_AUTH or CREATE_CHILD_SA): picks the child
    /// configuration by traffic selectors and mode, an ESP proposal, keys the Child SA and
    /// builds the Child SA part of the response.
    pub(super) fn answer_child(&mut self, asked: Asked<'_>) -> Result<Answer, Refusal> {
        let exchange = asked.keymat.exchange();
        let chosen = choose(&asked)?;
        let (number, esp, dh, peer_spi) = select_esp(&asked, chosen.config)?;
        let (ni, our_ke, shared) = match asked.keymat {
            ResponderKeymat::IkeSa { ni, .. } => (ni.to_vec(), None, None),
            ResponderKeymat::Fresh { .. } => self.fresh_responder_keys(asked.payloads, dh)?,
        };
        let transport = payloads::has_notify(asked.payloads, NotifyType::USE_TRANSPORT_MODE);
        let mode = if transport && chosen.config.mode == Mode::Transport {
            Mode::Transport
        } else {
            Mode::Tunnel
        };
        let our_spi = self.allocate_child_spi(asked.peer).map_err(|e| {
            // IKE_AUTH has always answered NO_PROPOSAL_CHOSEN here.
            let notify = match exchange {
                ChildExchange::IkeAuth => NotifyType::NO_PROPOSAL_CHOSEN,
                ChildExchange::CreateChildSa => NotifyType::TEMPORARY_FAILURE,
            };
            Refusal::new(notify, ChildError::Spi(e))
        })?;
        let nr = match asked.keymat {
            ResponderKeymat::IkeSa { nr, .. } => nr.to_vec(),
            ResponderKeymat::Fresh { .. } => self.random(NONCE_LEN),
        };
        let keys = derive(
            asked.prf,
            asked.sk_d,
            shared.as_ref(),
            (&ni, &nr),
            esp.cipher,
        )
        .map_err(|e| Refusal::new(NotifyType::TEMPORARY_FAILURE, e))?;
        let child = ChildSa {
            cipher: esp.cipher,
            mode,
            inbound: inbound(&keys, false, our_spi),
            outbound: outbound(&keys, false, peer_spi),
            ts_local: chosen.ts_r.clone(),
            ts_remote: chosen.ts_i.clone(),
            peer: asked.peer,
            child: chosen.config.name.clone(),
            life: crate::engine::LifeLimits::default(),
            encap: None,
        };
        let mut reply = Vec::new();
        if mode == Mode::Transport {
            reply.push(transport_notify());
        }
        reply.push(Payload::Sa(SaPayload {
            proposals: vec![esp.to_proposal_with(number, our_spi, dh)],
        }));
        let lowest_nonce = match asked.keymat {
            ResponderKeymat::IkeSa { .. } => None,
            ResponderKeymat::Fresh { .. } => {
                reply.push(Payload::Nonce(nr.clone()));
                reply.extend(our_ke.map(|ke| ke_payload(&ke)));
                Some(super::ike_sa::lowest(&ni, &nr))
            }
        };
        reply.push(Payload::TsI(TsPayload {
            selectors: chosen.ts_i,
        }));
        reply.push(Payload::TsR(TsPayload {
            selectors: chosen.ts_r,
        }));
        Ok(Answer {
            child,
            index: chosen.index,
            reply,
            lowest_nonce,
        })
    }

    /// CREATE_CHILD_SA: the request's nonce and, for PFS in `dh`, our DH key and g^ir.
    #[allow(clippy::type_complexity)]
    fn fresh_responder_keys(
        &mut self,
        request: &[Payload],
        dh: Option<DhGroup>,
    ) -> Result<(Vec<u8>, Option<KeyExchange>, Option<Secret>), Refusal> {
        let syntax = |why| Refusal::new(NotifyType::INVALID_SYNTAX, why);
        let ni = payloads::nonce(request)
            .ok_or_else(|| syntax(ChildError::RequestNonce))?
            .clone();
        let Some(group) = dh else {
            return Ok((ni, None, None));
        };
        let Some(theirs) = payloads::ke(request).filter(|k| k.group == group.id()) else {
            return Err(Refusal {
                notify: NotifyPayload::new(
                    NotifyType::INVALID_KE_PAYLOAD,
                    group.id().to_be_bytes().to_vec(),
                ),
                why: ChildError::RequestKe { group: group.id() },
            });
        };
        let ke = KeyExchange::generate(group, self.rng.as_mut()).map_err(|e| {
            Refusal::new(
                NotifyType::TEMPORARY_FAILURE,
                ChildError::DhKey(e.to_string()),
            )
        })?;
        let shared = ke
            .shared_secret(&theirs.data)
            .map_err(|_| syntax(ChildError::RequestInvalidKe))?;
        Ok((ni, Some(ke), Some(shared)))
    }
}

/// Picks the child configuration by traffic selectors and mode, and checks that ripsec can
/// install the narrowed selectors.
fn choose<'a>(asked: &Asked<'a>) -> Result<Chosen<'a>, Refusal> {
    let (ts_i, ts_r) = payloads::ts(asked.payloads);
    let (ts_i, ts_r) = (ts_i.unwrap_or_default(), ts_r.unwrap_or_default());
    let transport = payloads::has_notify(asked.payloads, NotifyType::USE_TRANSPORT_MODE);
    let candidates = match asked.only {
        Some(index) => asked.children.get(index..=index).unwrap_or_default(),
        None => asked.children,
    };
    let unacceptable = |why| Refusal::new(NotifyType::TS_UNACCEPTABLE, why);
    // Explanations show the selectors as read through the NAT, which is what the child
    // configurations must allow.
    let (ts_i, ts_r) = match transport {
        true => (
            behind_nat(&ts_i, asked.nat.peer),
            behind_nat(&ts_r, asked.nat.local),
        ),
        false => (ts_i, ts_r),
    };
    let Some((found, config, narrowed_i, narrowed_r)) =
        choose_child(candidates, &ts_i, &ts_r, transport)
    else {
        let allowed = describe_allowed(candidates);
        return Err(unacceptable(ChildError::TsUnacceptable {
            ts_i,
            ts_r,
            allowed,
        }));
    };
    if let Err(narrowed) = installable(&narrowed_r, &narrowed_i) {
        return Err(unacceptable(ChildError::TooManySelectors {
            ts_i,
            ts_r,
            narrowed,
        }));
    }
    Ok(Chosen {
        index: asked.only.unwrap_or(found),
        config,
        ts_i: narrowed_i,
        ts_r: narrowed_r,
    })
}

/// Picks an ESP proposal of the peer's for `config` (CREATE_CHILD_SA: with the IKE SA's DH
/// group for PFS, or without when `config` does not insist on PFS): its number, our
/// proposal, its DH group and the peer's SPI.
fn select_esp(
    asked: &Asked<'_>,
    config: &ChildConfig,
) -> Result<(u8, EspProposal, Option<DhGroup>, u32), Refusal> {
    let esp = config.esp_proposals.iter();
    let candidates: Vec<(EspProposal, Option<DhGroup>)> = match asked.keymat {
        ResponderKeymat::IkeSa { .. } => esp.map(|p| (*p, None)).collect(),
        ResponderKeymat::Fresh { group } if config.pfs => esp.map(|p| (*p, Some(group))).collect(),
        ResponderKeymat::Fresh { group } => esp
            .clone()
            .map(|p| (*p, None))
            .chain(esp.map(|p| (*p, Some(group))))
            .collect(),
    };
    let transforms = |(p, dh): &(EspProposal, Option<DhGroup>)| p.transforms_with(*dh);
    let protocol = config_protocol(config);
    let Some((number, (chosen, dh))) = select(protocol, asked.proposals, &candidates, transforms)
    else {
        let why = ChildError::NoProposalChosen {
            protocol,
            ours: candidates.iter().map(transforms).collect(),
            theirs: asked.proposals.to_vec(),
        };
        return Err(Refusal::new(NotifyType::NO_PROPOSAL_CHOSEN, why));
    };
    let peer_spi = asked
        .proposals
        .iter()
        .find(|p| p.number == number && p.protocol == protocol)
        .and_then(|p| payloads::esp_spi(&p.spi))
        .ok_or_else(|| Refusal::new(NotifyType::INVALID_SYNTAX, ChildError::RequestEspSpi))?;
    Ok((number, chosen, dh, peer_spi))
}

/// The protocol of a child configuration's proposals: AH for `ah_proposals`, else ESP.
fn config_protocol(config: &ChildConfig) -> ProtocolId {
    config
        .esp_proposals
        .first()
        .map_or(ProtocolId::ESP, |p| p.cipher.protocol())
}

impl ChildOffer {
    /// An offer of child configuration `index` (`config`) with inbound SPI `inbound_spi`, its
    /// ESP proposals carrying DH group `dh` (PFS).
    pub(super) fn of(
        index: usize,
        config: &ChildConfig,
        inbound_spi: u32,
        dh: Option<DhGroup>,
    ) -> Self {
        Self {
            index,
            name: config.name.clone(),
            inbound_spi,
            offered: config.esp_proposals.iter().map(|p| (*p, dh)).collect(),
            mode: config.mode,
            ts_local: config.ts_local.clone(),
            ts_remote: config.ts_remote.clone(),
        }
    }
}

/// The Child SA part of our request: [N(USE_TRANSPORT_MODE)], SA, then for CREATE_CHILD_SA
/// (`fresh`) our Nonce and [KE], then TSi and TSr.
pub(super) fn offer_payloads(
    offer: &ChildOffer,
    fresh: Option<(&[u8], Option<&KeyExchange>)>,
) -> Vec<Payload> {
    let mut out = Vec::new();
    if offer.mode == Mode::Transport {
        out.push(transport_notify());
    }
    out.push(Payload::Sa(SaPayload {
        proposals: offer
            .offered
            .iter()
            .zip(1u8..)
            .map(|((p, dh), n)| p.to_proposal_with(n, offer.inbound_spi, *dh))
            .collect(),
    }));
    if let Some((nonce, ke)) = fresh {
        out.push(Payload::Nonce(nonce.to_vec()));
        out.extend(ke.map(ke_payload));
    }
    out.push(Payload::TsI(TsPayload {
        selectors: offer.ts_local.clone(),
    }));
    out.push(Payload::TsR(TsPayload {
        selectors: offer.ts_remote.clone(),
    }));
    out
}

/// Checks the peer's answer to our Child SA request and keys the Child SA. Returns it with
/// the answer's nonce (CREATE_CHILD_SA).
pub(super) fn accept(
    offer: &ChildOffer,
    answer: &[Payload],
    (prf, sk_d): (Prf, &Secret),
    keymat: InitiatorKeymat<'_>,
    (peer, nat): (SocketAddr, NatHosts),
) -> Result<(ChildSa, Vec<u8>), ChildError> {
    if let Some(error) = payloads::error_notify(answer) {
        let detail = refusal_detail(offer, error, &keymat);
        return Err(ChildError::PeerRefused {
            notify: error.notify_type,
            detail,
        });
    }
    let proposals = payloads::proposals(answer);
    let protocol = offer
        .offered
        .first()
        .map_or(ProtocolId::ESP, |(p, _)| p.cipher.protocol());
    let (chosen, dh) = accepted(protocol, &proposals, &offer.offered, |(p, dh)| {
        p.transforms_with(*dh)
    })
    .ok_or(ChildError::NotOffered)?;
    let peer_spi = proposals
        .first()
        .and_then(|p| payloads::esp_spi(&p.spi))
        .ok_or(ChildError::AnswerEspSpi)?;
    let (ni, nr, shared) = match keymat {
        InitiatorKeymat::IkeSa { ni, nr } => (ni, nr.to_vec(), None),
        InitiatorKeymat::Fresh { ni, ke } => {
            let nr = payloads::nonce(answer)
                .ok_or(ChildError::AnswerNonce)?
                .clone();
            (ni, nr, answered_dh(answer, dh, ke)?)
        }
    };
    let (Some(ts_i), Some(ts_r)) = payloads::ts(answer) else {
        return Err(ChildError::AnswerTs);
    };
    let transport = payloads::has_notify(answer, NotifyType::USE_TRANSPORT_MODE);
    let mode = answered_mode(offer.mode, transport)?;
    let (ts_i, ts_r) = match mode {
        Mode::Transport => (behind_nat(&ts_i, nat.local), behind_nat(&ts_r, nat.peer)),
        Mode::Tunnel => (ts_i, ts_r),
    };
    check_answered_ts((&ts_i, &ts_r), (&offer.ts_local, &offer.ts_remote))
        .map_err(ChildError::AnsweredTs)?;
    let keys = derive(prf, sk_d, shared.as_ref(), (ni, &nr), chosen.cipher)?;
    let child = ChildSa {
        cipher: chosen.cipher,
        mode,
        inbound: inbound(&keys, true, offer.inbound_spi),
        outbound: outbound(&keys, true, peer_spi),
        ts_local: ts_i,
        ts_remote: ts_r,
        peer,
        child: offer.name.clone(),
        encap: None,
        life: crate::engine::LifeLimits::default(),
    };
    Ok((child, nr))
}

/// g^ir of the answer's KE payload with ours, when the chosen proposal has DH group `dh`.
fn answered_dh(
    answer: &[Payload],
    dh: Option<DhGroup>,
    ours: Option<&KeyExchange>,
) -> Result<Option<Secret>, ChildError> {
    match (dh, ours) {
        (None, _) => Ok(None),
        (Some(group), Some(ours)) if ours.group() == group => {
            let theirs = payloads::ke(answer)
                .filter(|k| k.group == group.id())
                .ok_or(ChildError::AnswerKe)?;
            let shared = ours
                .shared_secret(&theirs.data)
                .map_err(|e| ChildError::AnswerKeUnusable(e.to_string()))?;
            Ok(Some(shared))
        }
        (Some(_), _) => Err(ChildError::AnswerDhGroup),
    }
}

/// What the explanation of the peer's refusal adds about our offer.
fn refusal_detail(
    offer: &ChildOffer,
    error: &NotifyPayload,
    keymat: &InitiatorKeymat<'_>,
) -> RefusalDetail {
    match error.notify_type {
        NotifyType::NO_PROPOSAL_CHOSEN => RefusalDetail::Offered(
            offer
                .offered
                .first()
                .map_or(ProtocolId::ESP, |(p, _)| p.cipher.protocol()),
            offer
                .offered
                .iter()
                .map(|(p, dh)| p.transforms_with(*dh))
                .collect(),
        ),
        // Only CREATE_CHILD_SA carries KE payloads.
        NotifyType::INVALID_KE_PAYLOAD if matches!(keymat, InitiatorKeymat::Fresh { .. }) => {
            let group = <[u8; 2]>::try_from(error.data.as_slice()).ok();
            RefusalDetail::WantsGroup(group.map(u16::from_be_bytes))
        }
        NotifyType::TS_UNACCEPTABLE => {
            RefusalDetail::Proposed(offer.ts_local.clone(), offer.ts_remote.clone())
        }
        _ => RefusalDetail::None,
    }
}

/// The mode of a Child SA we asked for, given whether the peer's answer carries
/// USE_TRANSPORT_MODE (RFC 7296 §1.3.1: a responder that refuses transport mode omits it).
fn answered_mode(asked: Mode, transport: bool) -> Result<Mode, ChildError> {
    match (asked, transport) {
        (Mode::Transport, true) => Ok(Mode::Transport),
        (Mode::Tunnel, _) => Ok(Mode::Tunnel),
        (Mode::Transport, false) => Err(ChildError::TransportRefused),
    }
}

/// KEYMAT = prf+(SK_d, [g^ir] | Ni | Nr), split into the Child SA's keys (RFC 7296 §2.17).
fn derive(
    prf: Prf,
    sk_d: &Secret,
    shared: Option<&Secret>,
    (ni, nr): (&[u8], &[u8]),
    cipher: super::esp_suite::EspCipher,
) -> Result<ChildSaKeys, ChildError> {
    ChildSaKeys::derive(
        prf,
        sk_d,
        shared.map(Secret::as_bytes),
        ni,
        nr,
        cipher.encr_key_len(),
        cipher.integ_key_len(),
    )
    .map_err(|e| ChildError::KeyDerivation(e.to_string()))
}

/// The direction we receive on: the peer sends with the keys of its role in the exchange
/// that made them (`we_initiated`: we started that exchange).
fn inbound(keys: &ChildSaKeys, we_initiated: bool, spi: u32) -> ChildDirection {
    let (encr_key, integ_key) = if we_initiated {
        (&keys.encr_r, &keys.integ_r)
    } else {
        (&keys.encr_i, &keys.integ_i)
    };
    ChildDirection {
        spi,
        encr_key: encr_key.clone(),
        integ_key: integ_key.clone(),
    }
}

/// The direction we send on.
fn outbound(keys: &ChildSaKeys, we_initiated: bool, spi: u32) -> ChildDirection {
    inbound(keys, !we_initiated, spi)
}

fn transport_notify() -> Payload {
    Payload::Notify(NotifyPayload::new(
        NotifyType::USE_TRANSPORT_MODE,
        Vec::new(),
    ))
}

fn ke_payload(ke: &KeyExchange) -> Payload {
    Payload::Ke(KePayload {
        group: ke.group().id(),
        data: ke.public_value().to_vec(),
    })
}

/// The child configuration a peer's Child SA request is for, with its index and the narrowed
/// TSi and TSr: the first (in configuration order) whose mode is the one asked for
/// (`transport`: USE_TRANSPORT_MODE) and whose selectors leave something of the proposal,
/// else the first whose selectors do (it answers in tunnel mode).
#[allow(clippy::type_complexity)]
fn choose_child<'a>(
    children: &'a [ChildConfig],
    ts_i: &[TrafficSelector],
    ts_r: &[TrafficSelector],
    transport: bool,
) -> Option<(
    usize,
    &'a ChildConfig,
    Vec<TrafficSelector>,
    Vec<TrafficSelector>,
)> {
    let wanted = if transport {
        Mode::Transport
    } else {
        Mode::Tunnel
    };
    let fitting: Vec<_> = children
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let narrowed_i = narrow(ts_i, &c.ts_remote);
            let narrowed_r = narrow(ts_r, &c.ts_local);
            (!narrowed_i.is_empty() && !narrowed_r.is_empty())
                .then_some((i, c, narrowed_i, narrowed_r))
        })
        .collect();
    let same_mode = fitting.iter().position(|(_, c, _, _)| c.mode == wanted);
    fitting.into_iter().nth(same_mode.unwrap_or(0))
}

/// What we allow, for TS_UNACCEPTABLE explanations: "remote [..] local [..]" for one child,
/// "child `a` (remote [..] local [..]), child `b` (..)" for several.
fn describe_allowed(children: &[ChildConfig]) -> String {
    let one = |c: &ChildConfig| {
        format!(
            "remote [{}] local [{}]",
            describe_ts(&c.ts_remote),
            describe_ts(&c.ts_local)
        )
    };
    match children {
        [c] => one(c),
        _ => {
            let all: Vec<String> = children
                .iter()
                .map(|c| format!("child `{}` ({})", c.name, one(c)))
                .collect();
            all.join(", ")
        }
    }
}
