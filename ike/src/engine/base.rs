// SPDX-License-Identifier: GPL-2.0
//! The engine's state, below every exchange: the IKE SAs, the configurations a responder
//! answers for, randomness, SPI allocation and the outputs, with the helpers every exchange
//! uses. The exchanges add their methods in their own files; the public ones are in `mod.rs`.

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::child_error::SpiError;
use super::error::Error;
use super::ike_sa::{Failed, IkeSa, Pending, Sent, State};
use super::types::{
    ChildSa, Config, Output, RetransmitPolicy, Role, SaId, SpiAllocator, DEFAULT_COOKIE_THRESHOLD,
};
use crate::crypto::RandomSource;
use crate::secret::Secret;

/// The IKE port (RFC 7296 §2).
pub(super) const IKE_PORT: u16 = 500;
/// The NAT traversal port (RFC 7296 §2.23).
pub(super) const NATT_PORT: u16 = 4500;

/// Nonce size we send.
pub(super) const NONCE_LEN: usize = 32;

/// The engine: any number of IKE SAs, as initiator or responder.
pub struct Engine {
    pub(super) rng: Box<dyn RandomSource>,
    /// The connections we answer for as responder.
    pub(super) configs: Vec<Config>,
    pub(super) sas: Vec<IkeSa>,
    pub(super) outputs: VecDeque<Output>,
    pub(super) policy: RetransmitPolicy,
    next_id: u64,
    pub(super) spi_allocator: Option<Box<dyn SpiAllocator>>,
    pub(super) cookie_secret: Option<Secret>,
    pub(super) cookie_threshold: usize,
    /// Unix seconds, for certificate validity.
    pub(super) wall_clock: Option<u64>,
    /// Our NAT traversal port (RFC 7296 §2.23), where IKE SAs move when a NAT is found.
    pub(super) natt_port: u16,
    /// Initiators we answer as if we were behind a NAT (forced ESP in UDP).
    pub(super) encap_peers: Vec<IpAddr>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("sas", &self.sas.len())
            .field("configs", &self.configs.len())
            .finish()
    }
}

impl Engine {
    pub(super) fn build(rng: Box<dyn RandomSource>, policy: RetransmitPolicy) -> Self {
        Self {
            rng,
            configs: Vec::new(),
            sas: Vec::new(),
            outputs: VecDeque::new(),
            policy,
            next_id: 0,
            spi_allocator: None,
            cookie_secret: None,
            cookie_threshold: DEFAULT_COOKIE_THRESHOLD,
            wall_clock: None,
            natt_port: NATT_PORT,
            encap_peers: Vec::new(),
        }
    }

    /// Sends `bytes` to `sa`'s peer from its local address and port.
    pub(super) fn send_to_peer(&mut self, sa: &IkeSa, bytes: Vec<u8>) {
        self.outputs.push_back(Output::Send {
            from: sa.local,
            to: sa.peer,
            bytes,
        });
    }

    /// Sends our response to the peer's request `message_id`, kept for its retransmissions.
    pub(super) fn respond(&mut self, sa: &mut IkeSa, message_id: u32, bytes: Vec<u8>) {
        sa.cached_response = Some((message_id, bytes.clone()));
        self.send_to_peer(sa, bytes);
    }

    /// Reports a new Child SA of `sa`, with the IKE SA's addresses and encapsulation.
    pub(super) fn install_child(&mut self, sa: &IkeSa, mut child: ChildSa) {
        child.peer = sa.peer;
        child.encap = sa.encap.then(|| (sa.local.port(), sa.peer.port()));
        self.outputs
            .push_back(Output::InstallChild { sa: sa.id, child });
    }

    /// Moves `sa` to the NAT traversal ports (RFC 7296 §2.23): ours, and the peer's 4500
    /// unless it was not on 500 to begin with. Its Child SAs carry ESP in UDP from now on.
    pub(super) fn float(&mut self, sa: &mut IkeSa) {
        sa.encap = true;
        if sa.local.port() == self.natt_port {
            return;
        }
        sa.local.set_port(self.natt_port);
        if sa.peer.port() == IKE_PORT {
            sa.peer.set_port(NATT_PORT);
        }
        let message = format!(
            "moving to the NAT traversal ports: {} -> {}",
            sa.local, sa.peer
        );
        self.outputs.push_back(Output::Debug { sa: sa.id, message });
    }

    /// An authenticated request of `sa` came from `from` to `to`: if the peer is behind a NAT
    /// and its mapping changed, follow it (RFC 7296 §2.23) and tell the caller.
    pub(super) fn follow_peer(&mut self, sa: &mut IkeSa, (from, to): (SocketAddr, SocketAddr)) {
        if (from, to) == (sa.peer, sa.local) || !(sa.nat.peer_behind_nat || sa.encap) {
            return;
        }
        sa.peer = from;
        sa.local = to;
        self.outputs.push_back(Output::PeerMoved {
            sa: sa.id,
            peer: from,
            local: to,
        });
    }

    pub(super) fn new_id(&mut self) -> SaId {
        self.next_id = self.next_id.wrapping_add(1);
        SaId(self.next_id)
    }

    pub(super) fn random(&mut self, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        self.rng.fill(&mut out);
        out
    }

    /// A random IKE SPI (never zero).
    pub(super) fn random_spi(&mut self) -> [u8; 8] {
        loop {
            let mut spi = [0u8; 8];
            self.rng.fill(&mut spi);
            if spi != [0; 8] {
                return spi;
            }
        }
    }

    /// An inbound Child SA SPI from the allocator, or a random one without allocator.
    pub(super) fn allocate_child_spi(&mut self, peer: SocketAddr) -> Result<u32, SpiError> {
        if let Some(allocator) = self.spi_allocator.as_mut() {
            return match allocator.allocate(peer.ip()) {
                Ok(0) => Err(SpiError::Zero),
                Ok(spi) => Ok(spi),
                Err(e) => Err(SpiError::Refused(e)),
            };
        }
        Ok(self.random_child_spi())
    }

    fn random_child_spi(&mut self) -> u32 {
        loop {
            let mut spi = [0u8; 4];
            self.rng.fill(&mut spi);
            let spi = u32::from_be_bytes(spi);
            // SPIs 1-255 are reserved by IANA (RFC 4303 §2.1).
            if spi > 255 {
                return spi;
            }
        }
    }

    /// Sends a request and keeps it for retransmission.
    pub(super) fn send_request(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        message_id: u32,
        bytes: Vec<u8>,
        kind: Sent,
    ) {
        let interval = self.policy.initial_timeout;
        self.send_to_peer(sa, bytes.clone());
        sa.pending = Some(Pending {
            message_id,
            bytes,
            transmissions: 1,
            deadline: now.saturating_add(interval),
            interval,
            kind,
        });
    }

    /// Fails an IKE SA before it was established, and reports it.
    pub(super) fn fail_sa(&mut self, sa: &mut IkeSa, reason: Error) {
        let suite = sa.state.suite();
        sa.state = State::Failed(Box::new(Failed {
            suite,
            peer_auth: None,
        }));
        sa.pending = None;
        self.outputs.push_back(Output::Failed { sa: sa.id, reason });
    }

    /// Returns an IKE SA taken out of the table and drops the ones that are done.
    pub(super) fn put_back(&mut self, now: Duration, sa: IkeSa) {
        self.sas.push(sa);
        self.sas.sort_by_key(|sa| sa.id);
        self.purge(now);
    }

    /// Forgets failed initiator SAs and expired ones.
    pub(super) fn purge(&mut self, now: Duration) {
        // A standby IKE SA (§2.8.2) goes when its old IKE SA closes without handing over.
        let open: Vec<SaId> = self
            .sas
            .iter()
            .filter(|sa| sa.state.established().is_some() && sa.expires.is_none_or(|t| now < t))
            .map(|sa| sa.id)
            .collect();
        self.sas.retain(|sa| {
            !(matches!(sa.state, State::Failed(_)) && sa.role == Role::Initiator)
                && sa.expires.is_none_or(|t| now < t)
                && sa.standby_for.is_none_or(|old| open.contains(&old))
        });
    }

    /// Runs `f` on an IKE SA that takes new requests, if there is one.
    pub(super) fn with_established(
        &mut self,
        now: Duration,
        sa: SaId,
        f: impl FnOnce(&mut Self, &mut IkeSa),
    ) {
        let Some(index) = self
            .sas
            .iter()
            .position(|s| s.id == sa && s.takes_requests())
        else {
            return;
        };
        let mut ike = self.sas.swap_remove(index);
        f(self, &mut ike);
        self.put_back(now, ike);
    }
}
