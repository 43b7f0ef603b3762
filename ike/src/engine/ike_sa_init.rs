// SPDX-License-Identifier: GPL-2.0
//! IKE_SA_INIT (RFC 7296 §1.2, §2.6, §2.14, §2.23) in both roles: proposal selection
//! (NO_PROPOSAL_CHOSEN, explained), INVALID_KE_PAYLOAD (the responder names its group, the
//! initiator retries once per group), COOKIE (followed by initiators), NAT detection, and the
//! IKE SA keys.

use std::net::SocketAddr;
use std::time::Duration;

use super::auth;
use super::base::{Engine, NONCE_LEN};
use super::error::{Error, InitError, LocalError};
use super::ike_sa::{ChildOffer, HalfOpen, IkeSa, InitSent, Keys, Sent, State};
use super::nat;
use super::payloads;
use super::proposal::{accepted, select, IkeProposal};
use super::types::{Config, Output, Role, SaId, HALF_OPEN_TIMEOUT};
use crate::codes::{ExchangeType, HashAlgorithm, NotifyType, ProtocolId};
use crate::crypto::{DhGroup, KeyExchange};
use crate::header::HeaderFlags;
use crate::keys::{skeyseed, IkeSaKeyLengths, IkeSaKeys};
use crate::message::Message;
use crate::payload::{KePayload, NotifyPayload, Payload};
use crate::sa::SaPayload;
use crate::secret::Secret;

/// How many INVALID_KE_PAYLOAD answers an initiator follows before giving up.
const MAX_INVALID_KE_RETRIES: u8 = 2;
/// How many COOKIE answers an initiator follows before giving up.
const MAX_COOKIE_RETRIES: u8 = 3;

/// Where the initiator's IKE_SA_INIT stands after an answer.
pub(super) enum InitOutcome {
    /// Still waiting: the request went out again (COOKIE, INVALID_KE_PAYLOAD), or the answer
    /// brought nothing new.
    Waiting(Box<InitSent>),
    /// The IKE SA is keyed: IKE_AUTH comes next.
    Keyed(Box<Keyed>),
}

/// What IKE_AUTH needs of the initiator's IKE_SA_INIT.
pub(super) struct Keyed {
    pub config: Config,
    pub offer: ChildOffer,
    pub keys: Keys,
    pub nonce_i: Vec<u8>,
    pub nonce_r: Vec<u8>,
    /// RealMessage1, which our AUTH covers.
    pub init_request: Vec<u8>,
    /// The responder's SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4), if it sent them.
    pub peer_hashes: Option<Vec<HashAlgorithm>>,
}

impl Engine {
    /// Starts an IKE SA as initiator: IKE_SA_INIT, then IKE_AUTH with child configuration
    /// `first_child`. A failure before anything is sent is reported at once.
    pub(super) fn start_initiator(
        &mut self,
        now: Duration,
        config: Config,
        first_child: usize,
        (peer, local): (SocketAddr, SocketAddr),
    ) -> SaId {
        let id = self.new_id();
        let failed = State::Failed(Box::default());
        let mut sa = IkeSa::new(id, Role::Initiator, failed, (local, peer), now);
        sa.spi_i = self.random_spi();
        sa.force_encap = config.encap;
        let nonce_i = self.random(NONCE_LEN);
        sa.next_message_id = 2;
        match self.start(now, &mut sa, config, first_child, nonce_i) {
            Ok(init) => sa.state = State::InitSent(init),
            Err(reason) => self.fail_sa(&mut sa, reason),
        }
        self.sas.push(sa);
        self.purge(now);
        id
    }

    fn start(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        config: Config,
        first_child: usize,
        nonce_i: Vec<u8>,
    ) -> Result<Box<InitSent>, Error> {
        let Some(first) = config.ike_proposals.first().copied() else {
            return Err(Error::NoIkeProposal);
        };
        let Some(child) = config.children.get(first_child) else {
            return Err(Error::NoChild {
                connection: None,
                index: first_child,
                count: config.children.len(),
            });
        };
        let child_spi = self.allocate_child_spi(sa.peer).map_err(Error::Spi)?;
        let offer = ChildOffer::of(first_child, child, child_spi, None);
        let (ke, init_request) = self.init_request(sa, (&config, &nonce_i, None), first.dh)?;
        self.send_request(now, sa, 0, init_request.clone(), Sent::Setup);
        Ok(Box::new(InitSent {
            config,
            offer,
            nonce_i,
            ke,
            init_request,
            cookie: None,
            cookie_retries: 0,
            invalid_ke_retries: 0,
        }))
    }

    /// Our IKE_SA_INIT request with a new DH key of `group`: [N(COOKIE)], SA, KE, Nonce, the
    /// NAT detection notifies (for these SPIs and addresses) and, with a certificate,
    /// SIGNATURE_HASH_ALGORITHMS.
    fn init_request(
        &mut self,
        sa: &IkeSa,
        (config, nonce_i, cookie): (&Config, &[u8], Option<&[u8]>),
        group: DhGroup,
    ) -> Result<(KeyExchange, Vec<u8>), Error> {
        let ke = KeyExchange::generate(group, self.rng.as_mut())
            .map_err(|e| Error::Local(LocalError::DhKey(e.to_string())))?;
        let proposals = config
            .ike_proposals
            .iter()
            .zip(1u8..)
            .map(|(p, n)| p.to_proposal(n))
            .collect();
        let cookie = cookie
            .map(|data| Payload::Notify(NotifyPayload::new(NotifyType::COOKIE, data.to_vec())));
        let mut payloads: Vec<Payload> = cookie.into_iter().collect();
        payloads.extend([
            Payload::Sa(SaPayload { proposals }),
            Payload::Ke(KePayload {
                group: group.id(),
                data: ke.public_value().to_vec(),
            }),
            Payload::Nonce(nonce_i.to_vec()),
        ]);
        // Forced encapsulation: a source hash that cannot match, so the peer sees us behind a
        // NAT and encapsulates too (as strongSwan's `encap = yes`).
        let source = if config.encap {
            nat::UNMATCHABLE_SOURCE
        } else {
            sa.local
        };
        payloads.extend(nat::notifies(&sa.spi_i, &[0; 8], source, sa.peer));
        if config.auth.public_key().is_some() {
            payloads.push(auth::hash_algorithms_notify());
        }
        let message = Message {
            spi_i: sa.spi_i,
            spi_r: [0; 8],
            exchange_type: ExchangeType::IKE_SA_INIT,
            flags: HeaderFlags {
                initiator: true,
                ..HeaderFlags::default()
            },
            message_id: 0,
            payloads,
        };
        let bytes = message
            .to_bytes()
            .map_err(|e| Error::Local(LocalError::EncodeInit(e.to_string())))?;
        Ok((ke, bytes))
    }

    /// Sends our IKE_SA_INIT request again, with a new DH key of `group` and the cookie.
    fn resend_init(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        init: &mut InitSent,
        group: DhGroup,
    ) -> Result<(), Error> {
        let cookie = init.cookie.as_deref();
        let (ke, bytes) = self.init_request(sa, (&init.config, &init.nonce_i, cookie), group)?;
        init.ke = ke;
        init.init_request = bytes.clone();
        self.send_request(now, sa, 0, bytes, Sent::Setup);
        Ok(())
    }

    /// The answer to our IKE_SA_INIT request. Error answers (unauthenticated) are acted on at
    /// once, although RFC 7296 §2.4 suggests waiting for a possibly genuine one.
    pub(super) fn init_response(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        mut init: Box<InitSent>,
        response: &Message,
        raw: &[u8],
    ) -> Result<InitOutcome, Error> {
        if let Some(notify) = payloads::notify(&response.payloads, NotifyType::COOKIE) {
            if init.cookie.as_deref() == Some(notify.data.as_slice()) {
                // Another answer to a request we already resent with this cookie (one of
                // our retransmissions crossed the first answer): nothing new.
                return Ok(InitOutcome::Waiting(init));
            }
            if init.cookie_retries >= MAX_COOKIE_RETRIES || notify.data.is_empty() {
                return Err(Error::Init(InitError::CookieLoop));
            }
            init.cookie_retries = init.cookie_retries.saturating_add(1);
            init.cookie = Some(notify.data.clone());
            let message =
                "the responder demands a COOKIE (it is busy): sending IKE_SA_INIT again with it";
            self.outputs.push_back(Output::Debug {
                sa: sa.id,
                message: message.to_string(),
            });
            let group = init.ke.group();
            self.resend_init(now, sa, &mut init, group)?;
            return Ok(InitOutcome::Waiting(init));
        }
        if let Some(notify) = payloads::notify(&response.payloads, NotifyType::INVALID_KE_PAYLOAD) {
            let wanted = <[u8; 2]>::try_from(notify.data.as_slice())
                .ok()
                .map(u16::from_be_bytes);
            let offered = init
                .config
                .ike_proposals
                .iter()
                .map(|p| p.dh)
                .find(|g| Some(g.id()) == wanted);
            return match offered {
                Some(group)
                    if group != init.ke.group()
                        && init.invalid_ke_retries < MAX_INVALID_KE_RETRIES =>
                {
                    init.invalid_ke_retries = init.invalid_ke_retries.saturating_add(1);
                    self.resend_init(now, sa, &mut init, group)?;
                    Ok(InitOutcome::Waiting(init))
                }
                _ => Err(Error::Init(InitError::InvalidKe { group: wanted })),
            };
        }
        if payloads::has_notify(&response.payloads, NotifyType::NO_PROPOSAL_CHOSEN) {
            let offered = init
                .config
                .ike_proposals
                .iter()
                .map(IkeProposal::transforms);
            return Err(Error::Init(InitError::NoProposalChosen {
                offered: offered.collect(),
            }));
        }
        if let Some(error) = payloads::error_notify(&response.payloads) {
            return Err(Error::Init(InitError::Refused(error.notify_type)));
        }
        self.keyed(sa, *init, response, raw)
            .map(|keyed| InitOutcome::Keyed(Box::new(keyed)))
    }

    /// Our IKE_SA_INIT request answered with SA, KE and Nonce: the IKE SA keys.
    fn keyed(
        &mut self,
        sa: &mut IkeSa,
        init: InitSent,
        response: &Message,
        raw: &[u8],
    ) -> Result<Keyed, Error> {
        let Some((sa_payload, ke, nonce)) = payloads::init_payloads(response) else {
            return Err(Error::Init(InitError::Incomplete));
        };
        let chosen = accepted(
            ProtocolId::IKE,
            &sa_payload.proposals,
            &init.config.ike_proposals,
            IkeProposal::transforms,
        )
        .ok_or(Error::Init(InitError::ProposalNotOffered))?;
        if ke.group != chosen.dh.id() || init.ke.group() != chosen.dh {
            return Err(Error::Init(InitError::KeGroup {
                theirs: ke.group,
                chosen: chosen.dh.id(),
            }));
        }
        let shared = init
            .ke
            .shared_secret(&ke.data)
            .map_err(|e| Error::Init(InitError::KeUnusable(e.to_string())))?;
        if response.spi_r == [0; 8] {
            return Err(Error::Init(InitError::ZeroSpi));
        }
        sa.spi_r = response.spi_r;
        sa.init_response = raw.to_vec();
        let nonces = (init.nonce_i.as_slice(), nonce.as_slice());
        let keys = derive_ike_keys(chosen, &shared, nonces, (&sa.spi_i, &sa.spi_r))
            .map_err(|e| Error::Local(LocalError::KeyDerivation(e.to_string())))?;
        Ok(Keyed {
            config: init.config,
            offer: init.offer,
            keys: Keys {
                suite: chosen,
                sk: keys,
            },
            nonce_i: init.nonce_i,
            nonce_r: nonce.clone(),
            init_request: init.init_request,
            peer_hashes: auth::peer_hash_algorithms(&response.payloads),
        })
    }

    /// Answers an IKE_SA_INIT request (a new IKE SA, half-open until IKE_AUTH).
    pub(super) fn responder_init(
        &mut self,
        now: Duration,
        (from, to): (SocketAddr, SocketAddr),
        request: &Message,
        raw: &[u8],
    ) {
        let Some((sa_payload, ke, nonce)) = payloads::init_payloads(request) else {
            return;
        };
        if !self.cookie_accepted((from, to), request, nonce) {
            return;
        }
        let ours: Vec<IkeProposal> = self
            .configs
            .iter()
            .flat_map(|c| c.ike_proposals.iter().copied())
            .collect();
        let Some((number, chosen)) = select(
            ProtocolId::IKE,
            &sa_payload.proposals,
            &ours,
            IkeProposal::transforms,
        ) else {
            let notify = NotifyPayload::new(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new());
            self.answer_init_error((from, to), request, notify);
            let sa = self.new_id();
            let reason = Error::NoProposalFrom {
                from,
                ours: ours.iter().map(IkeProposal::transforms).collect(),
                theirs: sa_payload.proposals.clone(),
            };
            self.outputs.push_back(Output::Failed { sa, reason });
            return;
        };
        if ke.group != chosen.dh.id() {
            let data = chosen.dh.id().to_be_bytes().to_vec();
            let notify = NotifyPayload::new(NotifyType::INVALID_KE_PAYLOAD, data);
            self.answer_init_error((from, to), request, notify);
            return;
        }
        let id = self.new_id();
        let spi_r = self.random_spi();
        let nonce_r = self.random(NONCE_LEN);
        let Ok(our_ke) = KeyExchange::generate(chosen.dh, self.rng.as_mut()) else {
            return;
        };
        let Ok(shared) = our_ke.shared_secret(&ke.data) else {
            return; // invalid public value: drop
        };
        let nonces = (nonce.as_slice(), nonce_r.as_slice());
        let Ok(keys) = derive_ike_keys(chosen, &shared, nonces, (&request.spi_i, &spi_r)) else {
            return;
        };
        let mut proposal = chosen.to_proposal(number);
        proposal.number = number;
        let mut payloads = vec![
            Payload::Sa(SaPayload {
                proposals: vec![proposal],
            }),
            Payload::Ke(KePayload {
                group: chosen.dh.id(),
                data: our_ke.public_value().to_vec(),
            }),
            Payload::Nonce(nonce_r.clone()),
        ];
        // NAT detection (RFC 7296 §2.23): answered in kind, hashed with this message's SPIs;
        // a faked source for the initiators we force to ESP in UDP.
        let forced = nat::present(request) && self.encap_peers.contains(&from.ip());
        if nat::present(request) {
            let source = if forced { nat::UNMATCHABLE_SOURCE } else { to };
            payloads.extend(nat::notifies(&request.spi_i, &spi_r, source, from));
        }
        // Public-key configs: our hash algorithms and a CERTREQ (peers such as strongSwan
        // send their certificate only when asked).
        if let Some(certreq) = auth::certreq(&self.configs) {
            payloads.push(auth::hash_algorithms_notify());
            payloads.push(certreq);
        }
        let Ok(bytes) = init_answer(request, spi_r, payloads).to_bytes() else {
            return;
        };
        self.outputs.push_back(Output::Send {
            from: to,
            to: from,
            bytes: bytes.clone(),
        });
        let half_open = HalfOpen {
            keys: Keys {
                suite: chosen,
                sk: keys,
            },
            nonce_i: nonce.clone(),
            nonce_r,
            init_request: raw.to_vec(),
            peer_hashes: auth::peer_hash_algorithms(&request.payloads),
        };
        let state = State::HalfOpen(Box::new(half_open));
        let mut sa = IkeSa::new(id, Role::Responder, state, (to, from), now);
        self.record_nat(&mut sa, request, from, to);
        sa.force_encap = forced;
        sa.encap = sa.nat.detected() || forced;
        sa.spi_i = request.spi_i;
        sa.spi_r = spi_r;
        sa.init_response = bytes;
        sa.next_request_id = 1;
        sa.expires = Some(now.saturating_add(HALF_OPEN_TIMEOUT));
        self.sas.push(sa);
    }

    /// Answers an IKE_SA_INIT request with an error notify, keeping no state.
    fn answer_init_error(
        &mut self,
        (peer, local): (SocketAddr, SocketAddr),
        request: &Message,
        notify: NotifyPayload,
    ) {
        let answer = init_answer(request, [0; 8], vec![Payload::Notify(notify)]);
        if let Ok(bytes) = answer.to_bytes() {
            self.outputs.push_back(Output::Send {
                from: local,
                to: peer,
                bytes,
            });
        }
    }

    /// Records what the NAT-D notifies of an accepted IKE_SA_INIT message say (RFC 7296
    /// §2.23); the warning follows [`Output::Established`].
    pub(super) fn record_nat(
        &mut self,
        sa: &mut IkeSa,
        message: &Message,
        from: SocketAddr,
        to: SocketAddr,
    ) {
        let (state, notes) = nat::check(message, from, to);
        sa.nat = state;
        for message in notes {
            self.outputs.push_back(Output::Debug { sa: sa.id, message });
        }
    }
}

/// The IKE_SA_INIT response to `request` with our SPI and these payloads.
fn init_answer(request: &Message, spi_r: [u8; 8], payloads: Vec<Payload>) -> Message {
    Message {
        spi_i: request.spi_i,
        spi_r,
        exchange_type: ExchangeType::IKE_SA_INIT,
        flags: HeaderFlags {
            response: true,
            ..HeaderFlags::default()
        },
        message_id: request.message_id,
        payloads,
    }
}

/// SKEYSEED and the IKE SA keys (RFC 7296 §2.14).
fn derive_ike_keys(
    chosen: IkeProposal,
    shared: &Secret,
    (ni, nr): (&[u8], &[u8]),
    (spi_i, spi_r): (&[u8; 8], &[u8; 8]),
) -> Result<IkeSaKeys, crate::keys::KeyError> {
    let seed = skeyseed(chosen.prf, ni, nr, shared.as_bytes())?;
    IkeSaKeys::derive(
        chosen.prf,
        &seed,
        ni,
        nr,
        spi_i,
        spi_r,
        IkeSaKeyLengths {
            encr: chosen.cipher.encr_key_len(),
            integ: chosen.cipher.integ_key_len(),
        },
    )
}
