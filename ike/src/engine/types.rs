// SPDX-License-Identifier: GPL-2.0
//! The engine's public types: what the caller configures ([`Config`], [`ChildConfig`],
//! [`Auth`], [`RetransmitPolicy`], [`SpiAllocator`]) and what the engine reports ([`Output`],
//! [`ChildSa`]).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::error::{CloseReason, Error};
use super::esp_suite::EspCipher;
use super::proposal::{EspProposal, IkeProposal};
use crate::identity::Identity;
use crate::pki::PublicKeyAuth;
use crate::secret::Secret;
use crate::traffic_selector::TrafficSelector;

/// A responder forgets IKE SAs not established within this time (half-open SAs), and keeps
/// closed or rekeyed IKE SAs this long to answer retransmitted requests.
pub const HALF_OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of half-open responder IKE SAs above which IKE_SA_INIT requests must carry
/// a COOKIE (RFC 7296 §2.6); see [`super::Engine::set_cookie_threshold`].
pub const DEFAULT_COOKIE_THRESHOLD: usize = 64;

/// Chooses the SPIs of inbound Child SAs (e.g. the kernel's XFRM_MSG_ALLOCSPI).
pub trait SpiAllocator {
    /// A fresh inbound ESP SPI for a Child SA with `peer`, or a readable reason.
    fn allocate(&mut self, peer: IpAddr) -> Result<u32, String>;
}

/// Child SA mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Tunnel mode (the default of RFC 7296).
    Tunnel,
    /// Transport mode (USE_TRANSPORT_MODE, RFC 7296 §3.10.1).
    Transport,
}

impl Mode {
    /// "tunnel" or "transport", as configurations and logs name it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Tunnel => "tunnel",
            Mode::Transport => "transport",
        }
    }
}

/// One connection: who we are, who the peer is, how we authenticate and what we protect
/// ([`Config::children`]). The initiator uses the one given to [`super::Engine::initiate`]; a
/// responder picks among those given to [`super::Engine::add_config`] by the peer's IDi, then a
/// child for each Child SA by its traffic selectors and mode.
#[derive(Clone, Debug)]
pub struct Config {
    /// The connection's name (reported in [`Output::Established`] and [`super::Engine::status`]).
    pub name: String,
    /// Our identity (IDi as initiator, IDr as responder).
    pub local_id: Identity,
    /// The peer's expected identity.
    pub remote_id: Identity,
    /// How we authenticate, and how the peer must: pre-shared key or certificates.
    pub auth: Auth,
    /// IKE SA proposals, most preferred first; the initiator's KE uses the first one's group.
    pub ike_proposals: Vec<IkeProposal>,
    /// The Child SA configurations. A responder picks, for each Child SA the peer asks for,
    /// the first one whose mode and traffic selectors fit the request.
    pub children: Vec<ChildConfig>,
    /// Send a liveness check (empty INFORMATIONAL) when nothing was received from the peer
    /// for this long; `None` disables it.
    pub dpd_delay: Option<Duration>,
    /// Carry ESP in UDP even without a NAT (strongSwan's `encap = yes`): as initiator we fake
    /// our NAT_DETECTION_SOURCE_IP, so that the peer encapsulates too.
    pub encap: bool,
}

/// One Child SA configuration of a [`Config`]: what it protects and how.
#[derive(Clone, Debug)]
pub struct ChildConfig {
    /// Its name (reported in [`ChildSa::child`] and [`super::ChildStatus::child`]).
    pub name: String,
    /// Our side of the protected traffic.
    pub ts_local: Vec<TrafficSelector>,
    /// The peer's side of the protected traffic.
    pub ts_remote: Vec<TrafficSelector>,
    /// Tunnel or transport mode.
    pub mode: Mode,
    /// ESP proposals, most preferred first.
    pub esp_proposals: Vec<EspProposal>,
    /// Perfect forward secrecy for Child SAs created or rekeyed with CREATE_CHILD_SA: the
    /// request carries a KE payload of the IKE SA's DH group and the ESP proposals include
    /// that group. A responder with `pfs` refuses requests without it.
    pub pfs: bool,
    /// Its hard lifetime. IKEv2 leaves lifetimes to each peer; IKEv1 proposes this one in
    /// Quick Mode, and the shorter of both sides' counts.
    pub life: LifeLimits,
}

/// How long a Child SA may live, by time and by traffic; `None` is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LifeLimits {
    /// Seconds after installation.
    pub secs: Option<u64>,
    /// Bytes protected.
    pub bytes: Option<u64>,
}

impl LifeLimits {
    /// Each limit the shorter of the two (a missing limit is no limit).
    #[must_use]
    pub fn min(self, other: Self) -> Self {
        let min = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Self {
            secs: min(self.secs, other.secs),
            bytes: min(self.bytes, other.bytes),
        }
    }
}

/// Retransmission schedule: the first timeout, doubled after each transmission, and how many
/// transmissions (the first included) are made before giving up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetransmitPolicy {
    /// Time before the first retransmission.
    pub initial_timeout: Duration,
    /// Transmissions of one request, first one included.
    pub max_transmissions: u32,
}

impl Default for RetransmitPolicy {
    fn default() -> Self {
        Self {
            initial_timeout: Duration::from_millis(500),
            max_transmissions: 6,
        }
    }
}

/// Identifies an IKE SA within one engine (assigned in creation order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SaId(pub u64);

/// Keys and SPI of one direction of a Child SA.
#[derive(Clone, Debug)]
pub struct ChildDirection {
    /// The SPI carried by ESP packets in this direction (chosen by their receiver).
    pub spi: u32,
    /// Encryption key (AEADs: key followed by the 4-byte salt; empty for ENCR_NULL).
    pub encr_key: Secret,
    /// Integrity key (empty for AEADs).
    pub integ_key: Secret,
}

/// A negotiated Child SA, ready to be installed in the kernel.
#[derive(Clone, Debug)]
pub struct ChildSa {
    /// ESP transform.
    pub cipher: EspCipher,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Packets we receive.
    pub inbound: ChildDirection,
    /// Packets we send.
    pub outbound: ChildDirection,
    /// Our side's traffic selectors (after narrowing).
    pub ts_local: Vec<TrafficSelector>,
    /// The peer's side's traffic selectors (after narrowing).
    pub ts_remote: Vec<TrafficSelector>,
    /// The peer's address.
    pub peer: SocketAddr,
    /// The name of the [`ChildConfig`] it was negotiated for.
    pub child: String,
    /// ESP in UDP (RFC 3948), when a NAT was found or encapsulation forced: our port and the
    /// peer's (those of the IKE SA).
    pub encap: Option<(u16, u16)>,
    /// The lifetime both peers agreed on (IKEv1 Quick Mode); IKEv2 agrees none.
    pub life: LifeLimits,
}

/// The request behind an [`Output::RequestFailed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailedRequest {
    /// The creation of a new Child SA we asked for ([`super::Engine::create_child`]): the name of
    /// its child configuration.
    NewChild(String),
    /// Our rekey of a Child SA.
    ChildRekey {
        /// Its inbound SPI.
        spi: u32,
        /// The name of its child configuration.
        child: String,
    },
    /// Our rekey of the IKE SA.
    IkeRekey,
    /// Another request of ours, e.g. a DELETE that could not be sent.
    Other,
    /// A request from the peer that we refused or could not answer.
    Peer,
}

/// What the engine asks its caller to do or tells it.
#[derive(Clone, Debug)]
pub enum Output {
    /// Send a datagram.
    Send {
        /// Our address and port to send from: the port is the NAT traversal port (with the
        /// non-ESP marker on the wire, RFC 3948 §2.2) once the IKE SA moved there.
        from: SocketAddr,
        /// Destination.
        to: SocketAddr,
        /// The IKE message.
        bytes: Vec<u8>,
    },
    /// The peer of an IKE SA now sends from another address or port (its NAT mapping
    /// changed, RFC 7296 §2.23): its Child SAs' outbound ESP goes there from now on.
    PeerMoved {
        /// The IKE SA.
        sa: SaId,
        /// The peer's new address and port.
        peer: SocketAddr,
        /// Where it arrived (our address and port).
        local: SocketAddr,
    },
    /// Install a Child SA.
    InstallChild {
        /// The IKE SA it belongs to.
        sa: SaId,
        /// Its parameters.
        child: ChildSa,
    },
    /// The IKE SA is authenticated and established.
    Established {
        /// Which one.
        sa: SaId,
        /// The peer's authenticated identity.
        peer_id: Identity,
        /// The name of the [`Config`] in use.
        config: String,
    },
    /// The IKE SA (or the attempt to set it up) failed before it was established.
    Failed {
        /// Which one.
        sa: SaId,
        /// Why; its `Display` is a one-line explanation.
        reason: Error,
    },
    /// A Child SA is gone (the peer deleted it, we deleted it, or a rekey replaced it):
    /// remove it. Emitted after the [`Output::InstallChild`] of its replacement.
    RemoveChild {
        /// The IKE SA it belonged to.
        sa: SaId,
        /// Its inbound SPI.
        inbound_spi: u32,
        /// Its outbound SPI.
        outbound_spi: u32,
    },
    /// An established IKE SA is gone: we deleted it, the peer deleted it or rejected our
    /// authentication after IKE_AUTH (AUTHENTICATION_FAILED), or the peer stopped
    /// answering (liveness check or any other request retransmitted in vain). No
    /// [`Output::RemoveChild`] follows for its Child SAs: the caller removes every Child SA
    /// still installed for `sa`.
    Closed {
        /// Which one.
        sa: SaId,
        /// Why; its `Display` is a one-line explanation.
        reason: CloseReason,
    },
    /// The IKE SA `old` was rekeyed (RFC 7296 §2.18) and replaced by `new`: every Child SA of
    /// `old` now belongs to `new` and stays installed. The caller re-files them under `new`;
    /// `old` is then deleted quietly (no [`Output::Closed`] is emitted for it).
    IkeRekeyed {
        /// The replaced IKE SA.
        old: SaId,
        /// Its successor.
        new: SaId,
    },
    /// A request over an established IKE SA (Child SA creation or rekey, IKE SA rekey) failed,
    /// or we refused such a request from the peer. The IKE SA and its Child SAs stay as they
    /// were.
    RequestFailed {
        /// The IKE SA.
        sa: SaId,
        /// Why; its `Display` is a one-line explanation.
        reason: Error,
        /// Which request failed.
        request: FailedRequest,
    },
    /// Something the operator should know that does not stop the IKE SA, e.g. a NAT between
    /// the peers (RFC 7296 §2.23), which ripsec cannot traverse yet. Given once, right after
    /// [`Output::Established`].
    Warning {
        /// The IKE SA.
        sa: SaId,
        /// A plain sentence.
        message: String,
    },
    /// A detail for a debug log, e.g. a malformed notify from the peer that was ignored.
    Debug {
        /// The IKE SA.
        sa: SaId,
        /// A plain sentence.
        message: String,
    },
}

/// Our role in an IKE SA: the original initiator or responder (RFC 7296 §2.2). After an IKE
/// SA rekey, the side that started the rekey is the initiator of the new IKE SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the IKE_SA_INIT request (or the rekey request).
    Initiator,
    /// We answered it.
    Responder,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Initiator => "initiator",
            Role::Responder => "responder",
        })
    }
}

/// How a connection authenticates, both ways: we prove ourselves and expect the peer to
/// prove itself the same way.
#[derive(Clone)]
pub enum Auth {
    /// A pre-shared key (AUTH method 2).
    Psk(Secret),
    /// Our certificate and key, and the CAs we trust for the peer's certificate.
    PublicKey(Arc<PublicKeyAuth>),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Psk(secret) => f.debug_tuple("Psk").field(secret).finish(),
            Auth::PublicKey(pk) => write!(
                f,
                "PublicKey({:?}, {} trusted)",
                pk.certificate.subject(),
                pk.trusted.len()
            ),
        }
    }
}

impl Auth {
    /// The public-key credentials, if any.
    pub fn public_key(&self) -> Option<&PublicKeyAuth> {
        match self {
            Auth::Psk(_) => None,
            Auth::PublicKey(pk) => Some(pk),
        }
    }
}
