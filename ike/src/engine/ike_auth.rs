// SPDX-License-Identifier: GPL-2.0
//! IKE_AUTH (RFC 7296 §1.2, §2.15, §2.21.2) in both roles: IDs, AUTH (`auth.rs`), and the
//! first Child SA (`child.rs`). An initiator that refuses the responder's ID or AUTH tells it
//! with N(AUTHENTICATION_FAILED); one that refuses the Child SA the responder installed
//! deletes the IKE SA there. A responder that refuses the Child SA keeps the IKE SA half-open
//! until it expires.

use std::sync::Arc;
use std::time::Duration;

use super::auth::{self, PeerAuth};
use super::auth_error::AuthError;
use super::base::Engine;
use super::child::{accept, offer_payloads, Asked, InitiatorKeymat, ResponderKeymat};
use super::child_error::{ChildContext, ChildError};
use super::error::{Error, LocalError};
use super::ike_sa::{AuthSent, ChildEntry, Established, Failed, HalfOpen, IkeSa, Sent, State};
use super::ike_sa_init::Keyed;
use super::payloads;
use super::types::{ChildSa, Config, Output};
use crate::codes::{ExchangeType, NotifyType};
use crate::identity::{describe_id, Identity};
use crate::keys::Prf;
use crate::message::Message;
use crate::payload::{AuthPayload, DeletePayload, NotifyPayload, Payload};
use crate::secret::Secret;

/// An authenticated peer and the Child SA of IKE_AUTH.
struct Authenticated {
    config: Config,
    peer_id: Identity,
    /// How it authenticated: "psk" or "pubkey SUBJECT".
    peer_auth: String,
    child: ChildSa,
    index: usize,
}

/// What a peer's AUTH covers: its IKE_SA_INIT message, our nonce, and its ID under SK_p.
struct Signed<'a> {
    message: &'a [u8],
    nonce: &'a [u8],
    sk_p: &'a Secret,
    id: Payload,
}

impl Engine {
    /// Sends our IKE_AUTH request: IDi, [CERT], [CERTREQ], AUTH, then the Child SA offer.
    pub(super) fn send_auth_request(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        keyed: Keyed,
    ) -> Result<Box<AuthSent>, Error> {
        let Keyed {
            config,
            offer,
            keys,
            nonce_i,
            nonce_r,
            init_request,
            peer_hashes,
        } = keyed;
        let prf = keys.suite.prf;
        let id_i = Payload::IdI(config.local_id.to_payload());
        let (certs, our_auth) =
            auth::auth_octets(prf, &init_request, &nonce_r, &keys.sk.sk_pi, &id_i)
                .and_then(|octets| {
                    auth::our_auth(
                        &config.auth,
                        prf,
                        &octets,
                        peer_hashes.as_deref(),
                        self.rng.as_mut(),
                    )
                })
                .map_err(|e| Error::Local(LocalError::Auth(e)))?;
        let mut inner = vec![id_i];
        inner.extend(certs);
        inner.extend(auth::certreq([&config]));
        inner.push(Payload::Auth(our_auth));
        inner.extend(offer_payloads(&offer, None));
        let header = (ExchangeType::IKE_AUTH, 1, false);
        let bytes = sa
            .seal(&keys, header, &inner, self.rng.as_mut())
            .map_err(|e| Error::Local(LocalError::EncryptAuthRequest(e.to_string())))?;
        self.send_request(now, sa, 1, bytes, Sent::Setup);
        Ok(Box::new(AuthSent {
            config,
            offer,
            keys,
            nonce_i,
            nonce_r,
        }))
    }

    /// The answer to our IKE_AUTH request: established, or failed (and the responder told,
    /// when it considers the IKE SA up). An answer that is not authentic changes nothing.
    pub(super) fn auth_response(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        ours: Box<AuthSent>,
        response: &Message,
        raw: &[u8],
    ) {
        let Some(inner) = sa.open(&ours.keys, response, raw) else {
            sa.state = State::AuthSent(ours); // not authentic: drop, keep retransmitting
            return;
        };
        sa.pending = None;
        match self.check_auth_response(sa, &ours, &inner) {
            Ok(done) => self.establish(now, sa, ours.keys, done),
            Err(reason) => {
                if responder_accepted_us(&inner) {
                    match &reason {
                        // It refused the Child SA: it installed none.
                        Error::Child {
                            error: ChildError::PeerRefused { .. },
                            ..
                        } => {}
                        // We refused the Child SA the peer installed: the IKE SA fails
                        // here, so have the peer delete it and the Child SA.
                        Error::Child { .. } => {
                            let delete = [Payload::Delete(DeletePayload::IkeSa)];
                            self.send_once(sa, &ours.keys, &delete, "a DELETE of the IKE SA");
                        }
                        // We refused its ID or AUTH (RFC 7296 §2.21.2).
                        _ => {
                            let notify =
                                NotifyPayload::new(NotifyType::AUTHENTICATION_FAILED, Vec::new());
                            let payloads = [Payload::Notify(notify)];
                            self.send_once(sa, &ours.keys, &payloads, "AUTHENTICATION_FAILED");
                        }
                    }
                }
                self.fail_sa(sa, reason);
            }
        }
    }

    /// Checks the responder's ID and AUTH, then its Child SA.
    fn check_auth_response(
        &mut self,
        sa: &IkeSa,
        ours: &AuthSent,
        inner: &[Payload],
    ) -> Result<Authenticated, Error> {
        let config = &ours.config;
        if payloads::has_notify(inner, NotifyType::AUTHENTICATION_FAILED) {
            let certificate = config.auth.public_key().map(|pk| pk.certificate.subject());
            return Err(Error::Auth(AuthError::Rejected {
                local_id: config.local_id.clone(),
                certificate,
            }));
        }
        let (Some(id_r), Some(their_auth)) = (payloads::id_r(inner), payloads::auth(inner)) else {
            return Err(Error::Auth(AuthError::ResponseIncomplete));
        };
        if Identity::from_payload(id_r).as_ref() != Some(&config.remote_id) {
            return Err(Error::Auth(AuthError::UnexpectedPeer {
                id: describe_id(id_r),
                expected: config.remote_id.clone(),
            }));
        }
        let prf = ours.keys.suite.prf;
        let signed = Signed {
            message: &sa.init_response,
            nonce: &ours.nonce_i,
            sk_p: &ours.keys.sk.sk_pr,
            id: Payload::IdR(id_r.clone()),
        };
        let peer_auth = self.verify_peer(config, prf, signed, their_auth, inner)?;
        let keymat = InitiatorKeymat::IkeSa {
            ni: &ours.nonce_i,
            nr: &ours.nonce_r,
        };
        let keys = (prf, &ours.keys.sk.sk_d);
        let (child, _) = accept(&ours.offer, inner, keys, keymat, (sa.peer, sa.nat_hosts()))
            .map_err(|error| Error::Child {
                context: ChildContext::AnsweredInAuth {
                    peer: config.remote_id.clone(),
                },
                error,
            })?;
        Ok(Authenticated {
            config: config.clone(),
            peer_id: config.remote_id.clone(),
            peer_auth,
            child,
            index: ours.offer.index,
        })
    }

    /// The IKE_AUTH request of a half-open responder SA: answered (AUTHENTICATION_FAILED, or
    /// our ID and AUTH with the Child SA or its refusal), and established or failed. A request
    /// that is not authentic changes nothing.
    pub(super) fn answer_auth(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        half: Box<HalfOpen>,
        request: &Message,
        raw: &[u8],
    ) {
        let Some(inner) = sa.open(&half.keys, request, raw) else {
            sa.state = State::HalfOpen(half); // not authentic: drop silently
            return;
        };
        sa.next_request_id = sa.next_request_id.wrapping_add(1);
        let (reply, outcome) = self.auth_answer(sa, &half, &inner);
        sa.last_received = now;
        let header = (ExchangeType::IKE_AUTH, request.message_id, true);
        let mut failed = Failed {
            suite: Some(half.keys.suite),
            peer_auth: None,
        };
        match sa.seal(&half.keys, header, &reply, self.rng.as_mut()) {
            Ok(bytes) => {
                self.respond(sa, request.message_id, bytes);
            }
            Err(e) => {
                sa.state = State::Failed(Box::new(failed));
                let reason = Error::Local(LocalError::EncryptAuthResponse(e.to_string()));
                self.outputs.push_back(Output::Failed { sa: sa.id, reason });
                return;
            }
        }
        match outcome {
            Ok(done) => self.establish(now, sa, half.keys, done),
            Err((reason, peer_auth)) => {
                failed.peer_auth = peer_auth;
                sa.state = State::Failed(Box::new(failed));
                self.outputs.push_back(Output::Failed { sa: sa.id, reason });
            }
        }
    }

    /// Our IKE_AUTH response and the outcome: established, or why not (with how the peer
    /// authenticated, when it did).
    #[allow(clippy::type_complexity)]
    fn auth_answer(
        &mut self,
        sa: &IkeSa,
        half: &HalfOpen,
        inner: &[Payload],
    ) -> (Vec<Payload>, Result<Authenticated, (Error, Option<String>)>) {
        let auth_failed = |reason, peer_auth| {
            let notify = NotifyPayload::new(NotifyType::AUTHENTICATION_FAILED, Vec::new());
            (vec![Payload::Notify(notify)], Err((reason, peer_auth)))
        };
        let (config, peer_auth) = match self.authenticate(half, inner) {
            Ok(authenticated) => authenticated,
            Err(reason) => return auth_failed(reason, None),
        };
        // Authenticated: our own IDr, CERT and AUTH go into every further answer.
        let prf = half.keys.suite.prf;
        let id_r = Payload::IdR(config.local_id.to_payload());
        let ours = auth::auth_octets(
            prf,
            &sa.init_response,
            &half.nonce_i,
            &half.keys.sk.sk_pr,
            &id_r,
        )
        .and_then(|octets| {
            auth::our_auth(
                &config.auth,
                prf,
                &octets,
                half.peer_hashes.as_deref(),
                self.rng.as_mut(),
            )
        });
        let (certs, our_auth) = match ours {
            Ok(ours) => ours,
            Err(e) => return auth_failed(Error::Local(LocalError::OurAuth(e)), Some(peer_auth)),
        };
        let mut reply = vec![id_r];
        reply.extend(certs);
        reply.push(Payload::Auth(our_auth));
        let proposals = payloads::proposals(inner);
        let asked = Asked {
            payloads: inner,
            proposals: &proposals,
            children: &config.children,
            only: None,
            prf,
            sk_d: &half.keys.sk.sk_d,
            keymat: ResponderKeymat::IkeSa {
                ni: &half.nonce_i,
                nr: &half.nonce_r,
            },
            peer: sa.peer,
            nat: sa.nat_hosts(),
        };
        let peer_id = config.remote_id.clone();
        match self.answer_child(asked) {
            Ok(answer) => {
                reply.extend(answer.reply);
                let done = Authenticated {
                    config,
                    peer_id,
                    peer_auth,
                    child: answer.child,
                    index: answer.index,
                };
                (reply, Ok(done))
            }
            Err(refusal) => {
                reply.push(Payload::Notify(refusal.notify));
                let reason = Error::Child {
                    context: ChildContext::RefusedInAuth { peer: peer_id },
                    error: refusal.why,
                };
                (reply, Err((reason, Some(peer_auth))))
            }
        }
    }

    /// The configuration that expects the peer's IDi, and the peer's AUTH checked against it:
    /// the configuration and how the peer authenticated.
    fn authenticate(&self, half: &HalfOpen, inner: &[Payload]) -> Result<(Config, String), Error> {
        let (Some(id_i), Some(their_auth)) = (payloads::id_i(inner), payloads::auth(inner)) else {
            return Err(Error::Auth(AuthError::RequestIncomplete));
        };
        let peer_identity = Identity::from_payload(id_i);
        let Some(config) = self
            .configs
            .iter()
            .find(|c| Some(&c.remote_id) == peer_identity.as_ref())
        else {
            return Err(Error::Auth(AuthError::UnknownPeer {
                id: describe_id(id_i),
                configured: self
                    .configs
                    .iter()
                    .map(|c| c.remote_id.to_string())
                    .collect(),
            }));
        };
        let prf = half.keys.suite.prf;
        let signed = Signed {
            message: &half.init_request,
            nonce: &half.nonce_r,
            sk_p: &half.keys.sk.sk_pi,
            id: Payload::IdI(id_i.clone()),
        };
        let how = self.verify_peer(config, prf, signed, their_auth, inner)?;
        Ok((config.clone(), how))
    }

    /// Verifies the peer's AUTH over what it signed (RFC 7296 §2.15), and for public keys its
    /// certificate; returns how it authenticated.
    fn verify_peer(
        &self,
        config: &Config,
        prf: Prf,
        signed: Signed<'_>,
        their_auth: &AuthPayload,
        inner: &[Payload],
    ) -> Result<String, Error> {
        let octets = auth::auth_octets(prf, signed.message, signed.nonce, signed.sk_p, &signed.id)
            .map_err(|e| Error::Local(LocalError::Auth(e)))?;
        PeerAuth {
            config,
            peer_id: &config.remote_id,
            prf,
            octets: &octets,
            auth: their_auth,
            inner,
            wall_clock: self.wall_clock,
        }
        .verify()
        .map_err(Error::Auth)
    }

    /// Marks the IKE SA established and reports it with its first Child SA.
    fn establish(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        keys: super::ike_sa::Keys,
        done: Authenticated,
    ) {
        let up = Established {
            config: done.config,
            keys,
            peer_id: done.peer_id.clone(),
            peer_auth: done.peer_auth,
            at: now,
        };
        let config = up.config.name.clone();
        sa.state = State::Established(Arc::new(up));
        sa.last_received = now;
        sa.expires = None;
        self.outputs.push_back(Output::Established {
            sa: sa.id,
            peer_id: done.peer_id,
            config,
        });
        if let Some(message) = sa.nat.warning(sa.local, sa.peer) {
            self.outputs
                .push_back(Output::Warning { sa: sa.id, message });
        }
        sa.children
            .push(ChildEntry::new(&done.child, done.index, now));
        self.install_child(sa, done.child);
    }
}

/// Whether an IKE_AUTH response shows that the responder authenticated us and considers the
/// IKE SA established: it carries IDr and AUTH and no AUTHENTICATION_FAILED.
fn responder_accepted_us(inner: &[Payload]) -> bool {
    payloads::id_r(inner).is_some()
        && payloads::auth(inner).is_some()
        && !payloads::has_notify(inner, NotifyType::AUTHENTICATION_FAILED)
}
