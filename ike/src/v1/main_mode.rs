// SPDX-License-Identifier: GPL-2.0
//! Main Mode with pre-shared keys (RFC 2409 §5.4), six messages:
//!
//! ```text
//! 1 I -> R  SA                 2 R -> I  SA (one transform)
//! 3 I -> R  KE, Ni             4 R -> I  KE, Nr
//! 5 I -> R  [IDii, HASH_I]     6 R -> I  [IDir, HASH_R]      ([..]: encrypted)
//! ```
//!
//! The responder picks the connection, and so the PSK, by the initiator's address: the keys
//! that decrypt message 5 depend on the PSK before any identity is known.

use std::net::SocketAddr;
use std::time::Duration;

use super::codes::{proto, ExchangeV1, PayloadV1, DOI_IPSEC, SIT_IDENTITY_ONLY};
use super::crypt::{open, seal, OpenError};
use super::engine::{ConfigV1, EngineV1, IsakmpSa, P1State, NONCE_LEN};
use super::ids::{identity_of, identity_payload};
use super::keys::{hash_i, hash_r, phase1_iv, skeyid_psk, IsakmpKeys, Phase1HashInput};
use super::message::{chain_spans, BodyV1, FlagsV1, MessageV1, ISAKMP_HEADER_LEN};
use super::payload::{PayloadBodyV1, ProposalV1, SaV1, TransformV1};
use super::suite::{describe_offer, normalized, p1_proposal, p1_transform, same_p1};
use crate::crypto::{ct_eq, KeyExchange};
use crate::engine::{describe_suite, Auth, IkeProposal, Output, Role, SaId};
use crate::secret::Secret;

const BLOCK: usize = 16;

/// A message's payload of one kind.
macro_rules! find {
    ($payloads:expr, $variant:ident) => {
        $payloads.iter().find_map(|p| match p {
            PayloadBodyV1::$variant(x) => Some(x),
            _ => None,
        })
    };
}
pub(super) use find;

impl EngineV1 {
    /// Starts Main Mode for `config`, then Quick Mode for its child `first_child`.
    pub fn initiate(
        &mut self,
        now: Duration,
        config: ConfigV1,
        first_child: usize,
        local: SocketAddr,
    ) -> SaId {
        let peer = SocketAddr::new(config.peer, 500);
        let id = self.new_id();
        let transforms: Vec<TransformV1> = (1..)
            .zip(&config.config.ike_proposals)
            .filter_map(|(n, p)| p1_transform(n, p, config.isakmp_life))
            .collect();
        let mut sa = self.new_sa(id, Role::Initiator, config, (peer, local));
        sa.first_child = first_child;
        if transforms.is_empty() {
            self.fail(sa, "no IKE proposal IKEv1 can carry: Main Mode takes AES-CBC with SHA-1 or SHA-2 (no AES-GCM, no AES-CMAC)".into());
            return id;
        }
        let payload = PayloadBodyV1::Sa(SaV1 {
            doi: DOI_IPSEC,
            situation: SIT_IDENTITY_ONLY,
            proposals: vec![ProposalV1 {
                number: 1,
                protocol: proto::ISAKMP,
                spi: Vec::new(),
                transforms,
            }],
        });
        let mut body = Vec::new();
        if payload.encode(&mut body).is_err() {
            self.fail(sa, "our SA payload does not encode".into());
            return id;
        }
        sa.sa_i = body;
        sa.state = P1State::Sent1;
        self.send_plain(now, sa, vec![payload]);
        id
    }

    fn new_sa(
        &mut self,
        id: SaId,
        role: Role,
        config: ConfigV1,
        (peer, local): (SocketAddr, SocketAddr),
    ) -> IsakmpSa {
        IsakmpSa {
            id,
            role,
            config,
            first_child: 0,
            cookie_i: [0; 8],
            cookie_r: [0; 8],
            peer,
            local,
            state: P1State::Sent1,
            suite: None,
            sa_i: Vec::new(),
            dh: None,
            ni: Vec::new(),
            nr: Vec::new(),
            g_xi: Vec::new(),
            g_xr: Vec::new(),
            keys: None,
            iv: Vec::new(),
            peer_id: None,
            established_at: None,
            sent: None,
            last_received: Vec::new(),
            last_sent: Vec::new(),
            quick: Vec::new(),
            children: Vec::new(),
        }
        .with_cookie(role, self.cookie())
    }

    /// Sends a plaintext Main Mode message and keeps the SA.
    fn send_plain(&mut self, now: Duration, mut sa: IsakmpSa, payloads: Vec<PayloadBodyV1>) {
        let message = sa.header(ExchangeV1::MAIN, 0, BodyV1::Payloads(payloads));
        match message.to_bytes() {
            Ok(bytes) => {
                let wait = sa.role == Role::Initiator;
                sa.sent = Some(self.transmit(now, &mut sa, bytes, wait));
                self.sas.push(sa);
            }
            Err(e) => self.fail(sa, format!("a Main Mode message does not encode: {e}")),
        }
    }

    /// Message 1 from a new initiator: answer with the transform we take.
    pub(super) fn main_mode_request(
        &mut self,
        now: Duration,
        (from, to): (SocketAddr, SocketAddr),
        message: &MessageV1,
        bytes: &[u8],
    ) {
        let Some(config) = self.configs.iter().find(|c| c.peer == from.ip()).cloned() else {
            let id = self.new_id();
            self.outputs.push_back(Output::Warning {
                sa: id,
                message: format!(
                    "IKEv1 Main Mode from {from}: no connection has this peer address"
                ),
            });
            return;
        };
        let Some(offer) = find!(message.payloads(), Sa) else {
            return;
        };
        let id = self.new_id();
        let mut sa = self.new_sa(id, Role::Responder, config, (from, to));
        sa.cookie_i = message.cookie_i;
        sa.last_received = bytes.to_vec();
        let Some((transform, suite)) = choose_p1(offer, &sa.config.config.ike_proposals) else {
            let why = explain_p1(offer, &sa.config.config.ike_proposals);
            self.refuse((from, to), message.cookie_i);
            self.fail(sa, format!("Main Mode from {from}: {why}"));
            return;
        };
        sa.sa_i = raw_body(message, bytes, PayloadV1::SA).unwrap_or_default();
        sa.suite = Some(suite);
        sa.state = P1State::Sent2;
        let answer = PayloadBodyV1::Sa(SaV1 {
            proposals: vec![ProposalV1 {
                transforms: vec![transform],
                ..offer
                    .proposals
                    .first()
                    .cloned()
                    .unwrap_or_else(|| ProposalV1 {
                        number: 1,
                        protocol: proto::ISAKMP,
                        spi: Vec::new(),
                        transforms: Vec::new(),
                    })
            }],
            ..offer.clone()
        });
        self.send_plain(now, sa, vec![answer]);
    }

    /// A Main Mode message for an SA in phase 1: `Err` ends the SA with that explanation.
    pub(super) fn main_mode(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        message: &MessageV1,
    ) -> Result<(), String> {
        match (sa.state, &message.body) {
            (P1State::Sent1, BodyV1::Payloads(p)) => self.mm_got2(now, sa, message.cookie_r, p),
            (P1State::Sent2, BodyV1::Payloads(p)) => self.mm_exchange_ke(now, sa, p),
            (P1State::Sent3, BodyV1::Payloads(p)) => self.mm_exchange_ke(now, sa, p),
            (P1State::Sent4, BodyV1::Encrypted(c)) => self.mm_got_auth(now, sa, message, c),
            (P1State::Sent5, BodyV1::Encrypted(c)) => self.mm_got_auth(now, sa, message, c),
            _ => Ok(()),
        }
    }

    /// Message 2: the responder's choice; send KE and Ni.
    fn mm_got2(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        cookie_r: [u8; 8],
        payloads: &[PayloadBodyV1],
    ) -> Result<(), String> {
        let chosen = find!(payloads, Sa)
            .and_then(|s| s.proposals.first())
            .filter(|p| p.transforms.len() == 1)
            .and_then(|p| p1_proposal(p.transforms.first()?))
            .filter(|s| sa.config.config.ike_proposals.iter().any(|o| same_p1(o, s)));
        let suite = chosen.ok_or("the responder chose a transform we did not offer")?;
        sa.cookie_r = cookie_r;
        sa.suite = Some(suite);
        self.mm_send_ke(now, sa)
    }

    /// Our KE and nonce (message 3 or 4); the responder derives the keys at once.
    fn mm_send_ke(&mut self, now: Duration, sa: &mut IsakmpSa) -> Result<(), String> {
        let suite = sa.suite.ok_or("no suite")?;
        let dh = KeyExchange::generate(suite.dh, self.rng.as_mut()).map_err(|e| e.to_string())?;
        let nonce = self.random(NONCE_LEN);
        let payloads = vec![
            PayloadBodyV1::Ke(dh.public_value().to_vec()),
            PayloadBodyV1::Nonce(nonce.clone()),
        ];
        match sa.role {
            Role::Initiator => {
                (sa.g_xi, sa.ni, sa.state) = (dh.public_value().to_vec(), nonce, P1State::Sent3)
            }
            Role::Responder => {
                (sa.g_xr, sa.nr, sa.state) = (dh.public_value().to_vec(), nonce, P1State::Sent4)
            }
        }
        sa.dh = Some(dh);
        if sa.role == Role::Responder {
            derive(sa)?;
        }
        let message = sa.header(ExchangeV1::MAIN, 0, BodyV1::Payloads(payloads));
        let bytes = message.to_bytes().map_err(|e| e.to_string())?;
        let wait = sa.role == Role::Initiator;
        sa.sent = Some(self.transmit(now, sa, bytes, wait));
        Ok(())
    }

    /// Message 3 (responder) or 4 (initiator): the peer's KE and nonce.
    fn mm_exchange_ke(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        payloads: &[PayloadBodyV1],
    ) -> Result<(), String> {
        let (Some(ke), Some(nonce)) = (find!(payloads, Ke), find!(payloads, Nonce)) else {
            return Err("a Main Mode message without KE and nonce".into());
        };
        match sa.role {
            Role::Responder => {
                (sa.g_xi, sa.ni) = (ke.clone(), nonce.clone());
                self.mm_send_ke(now, sa)
            }
            Role::Initiator => {
                (sa.g_xr, sa.nr) = (ke.clone(), nonce.clone());
                derive(sa)?;
                self.mm_send_auth(now, sa)
            }
        }
    }

    /// Message 5 or 6: our ID and HASH, encrypted.
    fn mm_send_auth(&mut self, now: Duration, sa: &mut IsakmpSa) -> Result<(), String> {
        let id = identity_payload(&sa.config.config.local_id);
        let id_payload = PayloadBodyV1::Id(id);
        let mut id_body = Vec::new();
        id_payload.encode(&mut id_body).map_err(|e| e.to_string())?;
        let hash = phase1_hash(sa, sa.role, &id_body)?;
        let (keys_e, iv) = (sa.enc_key()?, sa.iv.clone());
        let (first, ct, next_iv) = seal(&keys_e, &iv, &[id_payload, PayloadBodyV1::Hash(hash)])
            .map_err(|e| e.to_string())?;
        sa.iv = next_iv;
        let mut message = sa.header(ExchangeV1::MAIN, 0, BodyV1::Encrypted(ct));
        message.next_payload = first;
        message.flags.encrypted = true;
        let bytes = message.to_bytes().map_err(|e| e.to_string())?;
        let initiator = sa.role == Role::Initiator;
        sa.sent = Some(self.transmit(now, sa, bytes, initiator));
        sa.state = if initiator {
            P1State::Sent5
        } else {
            P1State::Established
        };
        if !initiator {
            self.established(now, sa);
        }
        Ok(())
    }

    /// Message 5 (responder) or 6 (initiator): decrypt, check the peer's ID and HASH.
    fn mm_got_auth(
        &mut self,
        now: Duration,
        sa: &mut IsakmpSa,
        message: &MessageV1,
        ciphertext: &[u8],
    ) -> Result<(), String> {
        let number = if sa.role == Role::Responder { 5 } else { 6 };
        let opened = match open(&sa.enc_key()?, &sa.iv, message.next_payload, ciphertext) {
            Ok(o) => o,
            Err(OpenError::Garbage(_)) => return Err(format!(
                "Main Mode message {number} from {} does not decrypt to payloads: our keys differ, most likely the pre-shared key",
                sa.peer
            )),
            Err(OpenError::Cipher) => return Err(format!("Main Mode message {number} is not whole cipher blocks")),
        };
        let id_at = opened
            .payloads
            .iter()
            .position(|p| matches!(p, PayloadBodyV1::Id(_)));
        let (Some(id_at), Some(hash)) = (id_at, find!(opened.payloads, Hash)) else {
            return Err(format!(
                "Main Mode message {number} lacks its ID or HASH payload"
            ));
        };
        let id_body = opened
            .spans
            .get(id_at)
            .and_then(|r| opened.plaintext.get(r.start + 4..r.end))
            .unwrap_or_default();
        let peer_role = if sa.role == Role::Initiator {
            Role::Responder
        } else {
            Role::Initiator
        };
        let want = phase1_hash(sa, peer_role, id_body)?;
        if !ct_eq(&want, hash) {
            return Err(format!(
                "the {} sent by {} in Main Mode message {number} does not match ours: most likely the pre-shared keys differ",
                if number == 5 { "HASH_I" } else { "HASH_R" },
                sa.peer
            ));
        }
        let peer_id = find!(opened.payloads, Id).and_then(identity_of);
        if peer_id.as_ref() != Some(&sa.config.config.remote_id) {
            return Err(format!(
                "the peer identified as {}, but connection {} expects {}",
                peer_id.map_or("an unknown identity".into(), |i| i.to_string()),
                sa.config.config.name,
                sa.config.config.remote_id
            ));
        }
        sa.iv = opened.next_iv;
        sa.peer_id = peer_id;
        if sa.role == Role::Responder {
            return self.mm_send_auth(now, sa);
        }
        sa.sent = None;
        sa.state = P1State::Established;
        self.established(now, sa);
        let child = sa.first_child;
        self.start_quick_mode(now, sa, child)
    }

    fn established(&mut self, now: Duration, sa: &mut IsakmpSa) {
        sa.established_at = Some(now);
        if let Some(peer_id) = sa.peer_id.clone() {
            self.outputs.push_back(Output::Established {
                sa: sa.id,
                peer_id,
                config: sa.config.config.name.clone(),
            });
        }
    }
}

impl IsakmpSa {
    fn with_cookie(mut self, role: Role, cookie: [u8; 8]) -> Self {
        match role {
            Role::Initiator => self.cookie_i = cookie,
            Role::Responder => self.cookie_r = cookie,
        }
        self
    }

    /// A message of this SA with our cookies.
    pub(super) fn header(&self, exchange: ExchangeV1, message_id: u32, body: BodyV1) -> MessageV1 {
        MessageV1 {
            cookie_i: self.cookie_i,
            cookie_r: self.cookie_r,
            next_payload: PayloadV1::NONE,
            exchange,
            flags: FlagsV1::default(),
            message_id,
            body,
        }
    }

    pub(super) fn enc_key(&self) -> Result<Secret, String> {
        let keys = self.keys.as_ref().ok_or("no keys yet")?;
        Ok(Secret::from_slice(keys.enc_key.as_bytes()))
    }

    pub(super) fn prf(&self) -> Result<crate::keys::Prf, String> {
        Ok(self.suite.ok_or("no suite yet")?.prf)
    }
}

/// g^xy, SKEYID and its keys, and phase 1's first IV.
fn derive(sa: &mut IsakmpSa) -> Result<(), String> {
    let suite = sa.suite.ok_or("no suite")?;
    let dh = sa.dh.as_ref().ok_or("no DH")?;
    let peer_value = if sa.role == Role::Initiator {
        &sa.g_xr
    } else {
        &sa.g_xi
    };
    let g_xy = dh
        .shared_secret(peer_value)
        .map_err(|e| format!("the peer's KE payload: {e}"))?;
    let Auth::Psk(psk) = &sa.config.config.auth else {
        return Err("IKEv1 here authenticates with pre-shared keys only".into());
    };
    let prf = suite.prf;
    let skeyid = skeyid_psk(prf, psk.as_bytes(), &sa.ni, &sa.nr).map_err(|e| e.to_string())?;
    let enc_len = usize::from(suite.cipher.key_bits() / 8);
    let cookies = (&sa.cookie_i, &sa.cookie_r);
    sa.keys = Some(
        IsakmpKeys::derive(prf, skeyid, g_xy.as_bytes(), cookies, enc_len)
            .map_err(|e| e.to_string())?,
    );
    sa.iv = phase1_iv(prf, &sa.g_xi, &sa.g_xr, BLOCK).map_err(|e| e.to_string())?;
    Ok(())
}

/// HASH_I (`who` = initiator) or HASH_R over `id_body`.
fn phase1_hash(sa: &IsakmpSa, who: Role, id_body: &[u8]) -> Result<Vec<u8>, String> {
    let keys = sa.keys.as_ref().ok_or("no keys")?;
    let input = Phase1HashInput {
        g_xi: &sa.g_xi,
        g_xr: &sa.g_xr,
        cookies: (&sa.cookie_i, &sa.cookie_r),
        sa_i: &sa.sa_i,
    };
    let prf = sa.prf()?;
    let h = match who {
        Role::Initiator => hash_i(prf, &keys.skeyid, &input, id_body),
        Role::Responder => hash_r(prf, &keys.skeyid, &input, id_body),
    };
    Ok(h.map_err(|e| e.to_string())?.as_bytes().to_vec())
}

/// The first transform of the peer's (in its order) that one of our proposals equals.
fn choose_p1(offer: &SaV1, ours: &[IkeProposal]) -> Option<(TransformV1, IkeProposal)> {
    let proposal = offer.proposals.first()?;
    proposal.transforms.iter().find_map(|t| {
        let s = p1_proposal(t)?;
        ours.iter().any(|o| same_p1(o, &s)).then(|| (t.clone(), s))
    })
}

/// Why no transform fits: what each side offered, in strongSwan's names.
fn explain_p1(offer: &SaV1, ours: &[IkeProposal]) -> String {
    let names = |ps: Vec<Option<IkeProposal>>| {
        ps.into_iter()
            .map(|p| {
                p.map_or("(an algorithm IKEv1 here lacks)".to_string(), |p| {
                    describe_suite(&normalized(p).transforms())
                })
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let theirs = offer
        .proposals
        .iter()
        .flat_map(|p| p.transforms.iter().map(p1_proposal))
        .collect();
    format!(
        "no proposal chosen: the peer offered {}; we accept {}",
        names(theirs),
        describe_offer(ours)
    )
}

/// The body of the first payload of `kind` in a plaintext message, as sent.
fn raw_body(message: &MessageV1, bytes: &[u8], kind: PayloadV1) -> Option<Vec<u8>> {
    let chain = bytes.get(ISAKMP_HEADER_LEN..)?;
    let (spans, _) = chain_spans(message.next_payload, chain).ok()?;
    spans
        .into_iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, _, body)| body.to_vec())
}
