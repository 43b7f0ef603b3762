// SPDX-License-Identifier: GPL-2.0
//! COOKIE (RFC 7296 §2.6): while many IKE SAs are half-open, a responder answers IKE_SA_INIT
//! requests without a valid cookie with a COOKIE notify and keeps no state.

use std::net::{IpAddr, SocketAddr};

use super::base::Engine;
use super::ike_sa::State;
use super::types::Output;
use crate::codes::{ExchangeType, NotifyType};
use crate::crypto::ct_eq;
use crate::header::HeaderFlags;
use crate::keys::Prf;
use crate::message::Message;
use crate::payload::{NotifyPayload, Payload};
use crate::secret::Secret;

/// Size of the secret the cookies are computed with.
const SECRET_LEN: usize = 32;

impl Engine {
    /// Number of responder IKE SAs waiting for IKE_AUTH (half-open).
    pub fn half_open(&self) -> usize {
        self.sas
            .iter()
            .filter(|sa| matches!(sa.state, State::HalfOpen(_)))
            .count()
    }

    /// The number of half-open IKE SAs from which on COOKIEs are demanded.
    pub fn cookie_threshold(&self) -> usize {
        self.cookie_threshold
    }

    /// Whether an IKE_SA_INIT request without a valid COOKIE is now answered with a demand
    /// for one instead of creating an IKE SA.
    pub fn cookies_demanded(&self) -> bool {
        self.half_open() >= self.cookie_threshold
    }

    /// True when this IKE_SA_INIT request may create state: no cookie is needed, or it
    /// carries a valid one. Otherwise answers with a COOKIE notify.
    pub(super) fn cookie_accepted(
        &mut self,
        (from, to): (SocketAddr, SocketAddr),
        request: &Message,
        nonce: &[u8],
    ) -> bool {
        if !self.cookies_demanded() {
            return true;
        }
        let Some(expected) = self.cookie(nonce, from.ip(), &request.spi_i) else {
            return false;
        };
        if request
            .notification(NotifyType::COOKIE)
            .is_some_and(|n| ct_eq(&n.data, &expected))
        {
            return true;
        }
        let reply = Message {
            spi_i: request.spi_i,
            spi_r: [0; 8],
            exchange_type: ExchangeType::IKE_SA_INIT,
            flags: HeaderFlags {
                response: true,
                ..HeaderFlags::default()
            },
            message_id: request.message_id,
            payloads: vec![Payload::Notify(NotifyPayload::new(
                NotifyType::COOKIE,
                expected,
            ))],
        };
        if let Ok(bytes) = reply.to_bytes() {
            self.outputs.push_back(Output::Send {
                from: to,
                to: from,
                bytes,
            });
        }
        false
    }

    /// Cookie = prf(secret, Ni | IPi | SPIi), with a secret drawn on first use.
    fn cookie(&mut self, nonce: &[u8], ip: IpAddr, spi_i: &[u8; 8]) -> Option<Vec<u8>> {
        if self.cookie_secret.is_none() {
            let secret = self.random(SECRET_LEN);
            self.cookie_secret = Some(Secret::new(secret));
        }
        let secret = self.cookie_secret.as_ref()?;
        let ip = match ip {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        Prf::HmacSha256
            .prf(secret.as_bytes(), &[nonce, &ip, spi_i])
            .ok()
            .map(|c| c.as_bytes().to_vec())
    }
}
