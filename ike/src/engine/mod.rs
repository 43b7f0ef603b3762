// SPDX-License-Identifier: GPL-2.0
//! A deterministic, sans-IO IKEv2 protocol engine (RFC 7296): IKE_SA_INIT and IKE_AUTH with
//! pre-shared-key or certificate authentication and the first Child SA (ESP), then
//! INFORMATIONAL and CREATE_CHILD_SA exchanges over the established IKE SA.
//!
//! The caller feeds it datagrams ([`Engine::handle_datagram`]), the passage of time
//! ([`Engine::tick`], when [`Engine::next_timeout`] says) and commands ([`Engine::initiate`],
//! [`Engine::delete`], [`Engine::delete_child`], [`Engine::create_child`],
//! [`Engine::rekey_child`], [`Engine::rekey_ike`]), and drains [`Output`]s with
//! [`Engine::poll_output`]; [`Engine::status`] describes the IKE SAs. The engine opens no
//! sockets, reads no clock and starts no threads: time is a [`Duration`] since any epoch the
//! caller likes, randomness comes from a [`RandomSource`], inbound Child SA SPIs from a
//! [`SpiAllocator`] (random without one).
//!
//! Implemented: proposal selection (NO_PROPOSAL_CHOSEN, with an explanation of what each side
//! offered), INVALID_KE_PAYLOAD (responder names its group, initiator retries once per
//! group), PSK and certificate AUTH (`auth.rs`), IDs (`identity.rs`), ESP proposals (every
//! [`EspCipher`], no ESN), traffic selector narrowing (TS_UNACCEPTABLE),
//! USE_TRANSPORT_MODE, retransmission with exponential backoff, duplicate-request detection
//! answered from a cached response. After IKE_AUTH, in both roles (`exchange.rs`): separate
//! message ID counters for the requests we send and receive (§2.2), window size 1 with our
//! further requests queued, responses matched to our outstanding request; an IKE SA whose
//! request goes unanswered after the last retransmission is closed ([`Output::Closed`]).
//! INFORMATIONAL (`informational.rs`): liveness checks (answered, and sent as DPD after
//! [`Config::dpd_delay`] of silence), DELETE of the IKE SA and of ESP Child SAs in both
//! directions, including simultaneous deletes (§1.4.1), and N(AUTHENTICATION_FAILED) after
//! IKE_AUTH (§2.21.2): an initiator that refuses the responder's ID or AUTH sends it once in
//! an INFORMATIONAL request before dropping the IKE SA; received, it closes the IKE SA like a
//! DELETE. CREATE_CHILD_SA (`create_child.rs`):
//! new and rekeyed Child SAs in both roles (REKEY_SA), PFS ([`ChildConfig::pfs`], the IKE SA's DH
//! group), KEYMAT from the exchange's nonces (and g^ir) (§2.17), the new Child SA installed
//! before the old one is deleted, rekey collisions (§2.8.1: the exchange with the lowest
//! nonce loses and its initiator deletes its new Child SA), CHILD_SA_NOT_FOUND,
//! NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD, TS_UNACCEPTABLE and TEMPORARY_FAILURE answers.
//! IKE SA rekeying (`ike_rekey.rs`, §1.3.2, §2.18) in both roles, with the Child SAs moving to
//! the new IKE SA ([`Output::IkeRekeyed`]), and simultaneous IKE SA rekeys (§2.8.2: both
//! requests answered, the new IKE SA of the exchange with the lowest nonce deleted by its
//! initiator, the other one takes the Child SAs over). NAT detection (`nat.rs`, §2.23) in
//! IKE_SA_INIT, reported in [`Engine::status`] and as an [`Output::Warning`]. COOKIE
//! (`cookie.rs`, §2.6) above a number of half-open SAs ([`Engine::set_cookie_threshold`]),
//! followed by initiators. Responder IKE SAs not established within [`HALF_OPEN_TIMEOUT`] are
//! forgotten; failed initiator SAs are removed at once.
//!
//! Not yet implemented: EAP, CRL/OCSP checks, UDP encapsulation (RFC 3948, port 4500; a NAT
//! is only detected), MOBIKE, IKE fragmentation, configuration payloads, window sizes above
//! 1, lifetimes (the caller decides when to rekey), AH, rekeying a Child SA with a different
//! DH group than the IKE SA's (an INVALID_KE_PAYLOAD answer to our CREATE_CHILD_SA is
//! reported, not retried), and answering CREATE_CHILD_SA with an IKE proposal while one of
//! our own requests other than a liveness check or our own IKE SA rekey is outstanding
//! (TEMPORARY_FAILURE). When the IKE SA authenticates but the Child SA is refused (RFC 7296
//! §2.21.2), the engine reports [`Output::Failed`] and abandons the IKE SA without sending a
//! DELETE. Unauthenticated IKE_SA_INIT error answers (NO_PROPOSAL_CHOSEN,
//! INVALID_KE_PAYLOAD) are acted on at once instead of waiting for a possibly genuine answer
//! (RFC 7296 §2.4 suggests waiting). If the initiator asks for transport mode and the
//! responder is configured for tunnel mode, the responder installs a tunnel-mode Child SA
//! while the initiator fails (a DELETE is needed). If a CREATE_CHILD_SA response we cannot
//! use arrives, the peer keeps the Child SA it installed until the IKE SA goes.

mod auth;
mod cookie;
mod create_child;
mod exchange;
mod identity;
mod ike_rekey;
mod informational;
mod nat;
mod negotiate;
mod status;

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::codes::{ExchangeType, NotifyType, ProtocolId};
use crate::crypto::{DhGroup, KeyExchange, RandomSource, SkCipher, SkKeys};
use crate::header::{HeaderFlags, IkeHeader};
use crate::keys::{skeyseed, ChildSaKeys, IkeSaKeyLengths, IkeSaKeys};
use crate::message::Message;
use crate::payload::{KePayload, NotifyPayload, Payload};
use crate::sa::{Proposal, SaPayload};
use crate::secret::Secret;
use crate::traffic_selector::{TrafficSelector, TsPayload};

pub use crate::pki::DistinguishedName;
pub use auth::Auth;
use identity::describe_id;
pub use identity::Identity;
pub use nat::{nat_detection_hash, NatState};
use negotiate::{accepted, choose_child, describe_allowed, explain_no_proposal, select};
pub use negotiate::{describe_ts, EspCipher, EspProposal, IkeProposal, MAX_SELECTOR_PAIRS};
pub use status::{ChildStatus, IkeSaStatus};

/// Nonce size we send.
const NONCE_LEN: usize = 32;
/// How many INVALID_KE_PAYLOAD answers an initiator follows before giving up.
const MAX_INVALID_KE_RETRIES: u8 = 2;
/// How many COOKIE answers an initiator follows before giving up.
const MAX_COOKIE_RETRIES: u8 = 3;
/// A responder forgets IKE SAs not established within this time (half-open SAs), and keeps
/// closed or rekeyed IKE SAs this long to answer retransmitted requests.
pub const HALF_OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of half-open responder IKE SAs above which IKE_SA_INIT requests must carry
/// a COOKIE (RFC 7296 §2.6); see [`Engine::set_cookie_threshold`].
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

/// One connection: who we are, who the peer is, how we authenticate and what we protect
/// ([`Config::children`]). The initiator uses the one given to [`Engine::initiate`]; a
/// responder picks among those given to [`Engine::add_config`] by the peer's IDi, then a
/// child for each Child SA by its traffic selectors and mode.
#[derive(Clone, Debug)]
pub struct Config {
    /// The connection's name (reported in [`Output::Established`] and [`Engine::status`]).
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
}

/// One Child SA configuration of a [`Config`]: what it protects and how.
#[derive(Clone, Debug)]
pub struct ChildConfig {
    /// Its name (reported in [`ChildSa::child`] and [`ChildStatus::child`]).
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

impl ChildSaKeys {
    /// The direction we receive on: the peer sends with the keys of its role in the exchange
    /// that made them (`we_initiated`: we started that exchange).
    fn inbound(&self, we_initiated: bool, spi: u32) -> ChildDirection {
        let (encr_key, integ_key) = if we_initiated {
            (&self.encr_r, &self.integ_r)
        } else {
            (&self.encr_i, &self.integ_i)
        };
        ChildDirection {
            spi,
            encr_key: encr_key.clone(),
            integ_key: integ_key.clone(),
        }
    }

    /// The direction we send on.
    fn outbound(&self, we_initiated: bool, spi: u32) -> ChildDirection {
        self.inbound(!we_initiated, spi)
    }
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
}

/// The request behind an [`Output::RequestFailed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailedRequest {
    /// The creation of a new Child SA we asked for ([`Engine::create_child`]): the name of
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
        /// Destination.
        to: SocketAddr,
        /// The IKE message.
        bytes: Vec<u8>,
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
        /// A human-readable explanation.
        reason: String,
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
        /// A human-readable explanation.
        reason: String,
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
        /// A human-readable explanation.
        reason: String,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Initiator: IKE_SA_INIT request sent.
    InitSent,
    /// Initiator: IKE_AUTH request sent. Responder: IKE_SA_INIT answered.
    AuthPending,
    Established,
    /// Established, our DELETE of the IKE SA is queued or sent.
    Deleting,
    /// Gone after establishment; kept until `expires` to answer retransmissions.
    Closed,
    Failed,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::InitSent => "connecting (IKE_SA_INIT sent)",
            State::AuthPending => "authenticating",
            State::Established => "established",
            State::Deleting => "deleting",
            State::Closed => "closed",
            State::Failed => "failed",
        }
    }

    /// Established and able to carry exchanges.
    fn usable(self) -> bool {
        matches!(self, State::Established | State::Deleting)
    }
}

/// A request waiting for its response.
#[derive(Debug)]
struct Pending {
    message_id: u32,
    bytes: Vec<u8>,
    transmissions: u32,
    deadline: Duration,
    interval: Duration,
    kind: exchange::Sent,
}

#[derive(Debug)]
struct IkeSa {
    id: SaId,
    role: Role,
    state: State,
    peer: SocketAddr,
    spi_i: [u8; 8],
    spi_r: [u8; 8],
    config: Option<Config>,
    nonce_i: Vec<u8>,
    nonce_r: Vec<u8>,
    ke: Option<KeyExchange>,
    negotiated: Option<IkeProposal>,
    keys: Option<IkeSaKeys>,
    /// RealMessage1 (the IKE_SA_INIT request as sent/received).
    init_request: Vec<u8>,
    /// RealMessage2.
    init_response: Vec<u8>,
    pending: Option<Pending>,
    /// Responder: next expected request ID and the last response, for duplicates.
    next_request_id: u32,
    cached_response: Option<(u32, Vec<u8>)>,
    invalid_ke_retries: u8,
    child_spi: u32,
    /// Initiator: the index of the child configuration IKE_AUTH negotiates.
    first_child: usize,
    /// Message ID of our next request (RFC 7296 §2.2).
    next_message_id: u32,
    /// Requests waiting for `pending` to be answered (window size 1).
    queue: VecDeque<exchange::Request>,
    children: Vec<exchange::ChildEntry>,
    /// When a half-open responder SA, a failed or a closed one is forgotten.
    expires: Option<Duration>,
    established_at: Option<Duration>,
    last_received: Duration,
    /// Set once an IKE SA rekey replaced this one.
    rekeyed_to: Option<SaId>,
    /// Made by the peer's rekey of this old IKE SA while ours was outstanding (RFC 7296
    /// §2.8.2): it takes the Child SAs over only if it wins the collision.
    standby_for: Option<SaId>,
    /// Lost a rekey collision (§2.8.2): no Child SAs, deleted by its initiator.
    redundant: bool,
    /// Our address (where the peer's datagrams arrive).
    local: SocketAddr,
    /// What NAT detection found (RFC 7296 §2.23).
    nat: NatState,
    cookie: Option<Vec<u8>>,
    cookie_retries: u8,
    peer_id: Option<Identity>,
    /// The peer's SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4), if it sent them in IKE_SA_INIT.
    peer_hashes: Option<Vec<crate::codes::HashAlgorithm>>,
    /// How the peer authenticated ("psk", "pubkey SUBJECT"), once established.
    peer_auth: Option<String>,
}

impl IkeSa {
    fn new(
        id: SaId,
        role: Role,
        state: State,
        (local, peer): (SocketAddr, SocketAddr),
        now: Duration,
    ) -> Self {
        Self {
            id,
            role,
            state,
            peer,
            spi_i: [0; 8],
            spi_r: [0; 8],
            config: None,
            nonce_i: Vec::new(),
            nonce_r: Vec::new(),
            ke: None,
            negotiated: None,
            keys: None,
            init_request: Vec::new(),
            init_response: Vec::new(),
            pending: None,
            next_request_id: 0,
            cached_response: None,
            invalid_ke_retries: 0,
            child_spi: 0,
            first_child: 0,
            next_message_id: 0,
            queue: VecDeque::new(),
            children: Vec::new(),
            expires: None,
            established_at: None,
            last_received: now,
            rekeyed_to: None,
            standby_for: None,
            redundant: false,
            local,
            nat: NatState::default(),
            cookie: None,
            cookie_retries: 0,
            peer_id: None,
            peer_hashes: None,
            peer_auth: None,
        }
    }

    /// The child configuration with this index.
    fn child_config(&self, index: usize) -> Result<&ChildConfig, Failure> {
        let config = self
            .config
            .as_ref()
            .ok_or("internal error: no configuration")?;
        config.children.get(index).ok_or_else(|| {
            format!(
                "connection {} has no child number {index} (it has {})",
                config.name,
                config.children.len()
            )
        })
    }

    fn config_name(&self) -> String {
        self.config
            .as_ref()
            .map(|c| c.name.clone())
            .unwrap_or_default()
    }

    /// Marks the IKE SA established and reports it with its first Child SA.
    fn establish(
        &mut self,
        now: Duration,
        peer_id: Identity,
        (child, index): (ChildSa, usize),
        out: &mut VecDeque<Output>,
    ) {
        self.state = State::Established;
        self.established_at = Some(now);
        self.last_received = now;
        self.expires = None;
        self.peer_id = Some(peer_id.clone());
        out.push_back(Output::Established {
            sa: self.id,
            peer_id,
            config: self.config_name(),
        });
        if let Some(message) = self.nat.warning(self.local, self.peer) {
            out.push_back(Output::Warning {
                sa: self.id,
                message,
            });
        }
        self.children
            .push(exchange::ChildEntry::new(&child, index, now));
        out.push_back(Output::InstallChild { sa: self.id, child });
    }
}

/// The engine: any number of IKE SAs, as initiator or responder.
pub struct Engine {
    rng: Box<dyn RandomSource>,
    configs: Vec<Config>,
    sas: Vec<IkeSa>,
    outputs: VecDeque<Output>,
    policy: RetransmitPolicy,
    next_id: u64,
    spi_allocator: Option<Box<dyn SpiAllocator>>,
    cookie_secret: Option<Secret>,
    cookie_threshold: usize,
    /// Unix seconds, for certificate validity ([`Engine::set_wall_clock`]).
    wall_clock: Option<u64>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("sas", &self.sas.len())
            .field("configs", &self.configs.len())
            .finish()
    }
}

type Failure = String;

impl Engine {
    /// An engine with the default retransmission policy.
    pub fn new(rng: Box<dyn RandomSource>) -> Self {
        Self::with_policy(rng, RetransmitPolicy::default())
    }

    /// An engine with a given retransmission policy.
    pub fn with_policy(rng: Box<dyn RandomSource>, policy: RetransmitPolicy) -> Self {
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
        }
    }

    /// Lets `allocator` choose every inbound Child SA SPI (instead of random ones).
    pub fn set_spi_allocator(&mut self, allocator: Box<dyn SpiAllocator>) {
        self.spi_allocator = Some(allocator);
    }

    /// Sets the current time of day (seconds since the Unix epoch), against which certificate
    /// validity is checked; call it before feeding input. Without it, public-key
    /// authentication fails ("no wall clock").
    pub fn set_wall_clock(&mut self, unix_seconds: u64) {
        self.wall_clock = Some(unix_seconds);
    }

    /// Demands a COOKIE (RFC 7296 §2.6) from initiators while at least `threshold` responder
    /// IKE SAs are half-open; 0 demands it always.
    pub fn set_cookie_threshold(&mut self, threshold: usize) {
        self.cookie_threshold = threshold;
    }

    /// Adds a connection this engine answers for as responder.
    pub fn add_config(&mut self, config: Config) {
        self.configs.push(config);
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn new_id(&mut self) -> SaId {
        self.next_id = self.next_id.wrapping_add(1);
        SaId(self.next_id)
    }

    fn random(&mut self, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        self.rng.fill(&mut out);
        out
    }

    fn random_spi(&mut self) -> [u8; 8] {
        loop {
            let mut spi = [0u8; 8];
            self.rng.fill(&mut spi);
            if spi != [0; 8] {
                return spi;
            }
        }
    }

    /// An inbound Child SA SPI from the allocator, or a random one without allocator.
    fn allocate_child_spi(&mut self, peer: SocketAddr) -> Result<u32, Failure> {
        if let Some(allocator) = self.spi_allocator.as_mut() {
            return match allocator.allocate(peer.ip()) {
                Ok(0) => Err("cannot allocate an inbound SPI: the allocator returned 0".into()),
                Ok(spi) => Ok(spi),
                Err(e) => Err(format!("cannot allocate an inbound SPI: {e}")),
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

    /// Starts an IKE SA as initiator towards `peer`, from our address `local` (the address
    /// and port the peer's answers arrive on; NAT detection hashes it, RFC 7296 §2.23).
    /// IKE_AUTH negotiates the configuration's first child; see [`Engine::initiate_child`].
    pub fn initiate(
        &mut self,
        now: Duration,
        config: Config,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> SaId {
        self.initiate_child(now, config, 0, peer, local)
    }

    /// Like [`Engine::initiate`], with IKE_AUTH negotiating child `first_child` (an index
    /// into [`Config::children`]); the others follow with [`Engine::create_child`].
    pub fn initiate_child(
        &mut self,
        now: Duration,
        config: Config,
        first_child: usize,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> SaId {
        let id = self.new_id();
        let mut sa = IkeSa::new(id, Role::Initiator, State::InitSent, (local, peer), now);
        sa.spi_i = self.random_spi();
        sa.nonce_i = self.random(NONCE_LEN);
        sa.next_message_id = 2;
        sa.first_child = first_child;
        let result = match config.ike_proposals.first().copied() {
            None => Err("the configuration has no IKE proposal".to_string()),
            Some(_) if config.children.get(first_child).is_none() => Err(format!(
                "the configuration has no child number {first_child} (it has {})",
                config.children.len()
            )),
            Some(first) => {
                sa.config = Some(config);
                self.allocate_child_spi(peer).and_then(|spi| {
                    sa.child_spi = spi;
                    self.send_init_request(now, &mut sa, first.dh)
                })
            }
        };
        if let Err(reason) = result {
            self.fail_sa(&mut sa, reason);
        }
        self.sas.push(sa);
        self.purge(now);
        id
    }

    fn send_init_request(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        group: DhGroup,
    ) -> Result<(), Failure> {
        let ke = KeyExchange::generate(group, self.rng.as_mut())
            .map_err(|e| format!("cannot generate a DH key: {e}"))?;
        let proposals = sa
            .config
            .as_ref()
            .map(|c| c.ike_proposals.clone())
            .unwrap_or_default();
        let sa_payload = SaPayload {
            proposals: proposals
                .iter()
                .zip(1u8..)
                .map(|(p, n)| p.to_proposal(n))
                .collect(),
        };
        let cookie = sa
            .cookie
            .clone()
            .map(|data| Payload::Notify(NotifyPayload::new(NotifyType::COOKIE, data)));
        let message = Message {
            spi_i: sa.spi_i,
            spi_r: [0; 8],
            exchange_type: ExchangeType::IKE_SA_INIT,
            flags: HeaderFlags {
                initiator: true,
                ..HeaderFlags::default()
            },
            message_id: 0,
            payloads: cookie
                .into_iter()
                .chain([
                    Payload::Sa(sa_payload),
                    Payload::Ke(KePayload {
                        group: group.id(),
                        data: ke.public_value().to_vec(),
                    }),
                    Payload::Nonce(sa.nonce_i.clone()),
                ])
                .collect(),
        };
        // NAT detection (RFC 7296 §2.23), recomputed for each retry.
        let mut message = message;
        message
            .payloads
            .extend(nat::notifies(&sa.spi_i, &[0; 8], sa.local, sa.peer));
        if sa
            .config
            .as_ref()
            .is_some_and(|c| c.auth.public_key().is_some())
        {
            message.payloads.push(auth::hash_algorithms_notify());
        }
        let bytes = message
            .to_bytes()
            .map_err(|e| format!("cannot encode IKE_SA_INIT: {e}"))?;
        sa.ke = Some(ke);
        sa.init_request = bytes.clone();
        self.send_request(now, sa, 0, bytes, exchange::Sent::Setup);
        Ok(())
    }

    fn send_request(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        message_id: u32,
        bytes: Vec<u8>,
        kind: exchange::Sent,
    ) {
        let interval = self.policy.initial_timeout;
        self.outputs.push_back(Output::Send {
            to: sa.peer,
            bytes: bytes.clone(),
        });
        sa.pending = Some(Pending {
            message_id,
            bytes,
            transmissions: 1,
            deadline: now.saturating_add(interval),
            interval,
            kind,
        });
    }

    fn fail_sa(&mut self, sa: &mut IkeSa, reason: String) {
        sa.state = State::Failed;
        sa.pending = None;
        self.outputs.push_back(Output::Failed { sa: sa.id, reason });
    }

    /// Processes a datagram received from `from` on our address and port `to`. Malformed,
    /// unauthenticated or unexpected messages are dropped (RFC 7296 §2.21).
    pub fn handle_datagram(
        &mut self,
        now: Duration,
        from: SocketAddr,
        to: SocketAddr,
        bytes: &[u8],
    ) {
        let Ok(header) = IkeHeader::parse(bytes) else {
            return;
        };
        let Ok(message) = Message::parse(bytes) else {
            return;
        };
        if header.exchange_type == ExchangeType::IKE_SA_INIT {
            if header.flags.response {
                let Some(index) = self.sas.iter().position(|sa| {
                    sa.role == Role::Initiator
                        && sa.state == State::InitSent
                        && sa.spi_i == header.spi_i
                }) else {
                    return;
                };
                let mut sa = self.sas.swap_remove(index);
                self.initiator_response(now, &mut sa, &message, bytes);
                if sa.state == State::AuthPending {
                    // The response was accepted: check the peer's NAT-D notifies.
                    self.record_nat(&mut sa, &message, from, to);
                }
                self.put_back(now, sa);
            } else if header.flags.initiator && header.spi_r == [0; 8] {
                if let Some(sa) = self.sas.iter().find(|sa| {
                    sa.role == Role::Responder && sa.spi_i == header.spi_i && sa.peer == from
                }) {
                    if header.message_id == 0 {
                        let bytes = sa.init_response.clone();
                        self.outputs.push_back(Output::Send { to: from, bytes });
                    }
                    return;
                }
                self.responder_init(now, (from, to), &message, bytes);
            }
            return;
        }
        // The I flag says who sent it: the original initiator talks to a responder SA.
        let Some(index) = self.sas.iter().position(|sa| {
            sa.spi_i == header.spi_i
                && sa.spi_r == header.spi_r
                && header.flags.initiator == (sa.role == Role::Responder)
        }) else {
            return;
        };
        let mut sa = self.sas.swap_remove(index);
        if header.flags.response {
            self.handle_response(now, &mut sa, &message, bytes);
        } else {
            self.handle_request(now, &mut sa, &message, bytes);
        }
        self.put_back(now, sa);
    }

    /// Returns an IKE SA taken out of the table and drops the ones that are done.
    fn put_back(&mut self, now: Duration, sa: IkeSa) {
        self.sas.push(sa);
        self.sas.sort_by_key(|sa| sa.id);
        self.purge(now);
    }

    /// Forgets failed initiator SAs and expired ones.
    fn purge(&mut self, now: Duration) {
        // A standby IKE SA (§2.8.2) goes when its old IKE SA closes without handing over.
        let open: Vec<SaId> = self
            .sas
            .iter()
            .filter(|sa| sa.state.usable() && sa.expires.is_none_or(|t| now < t))
            .map(|sa| sa.id)
            .collect();
        self.sas.retain(|sa| {
            !(sa.state == State::Failed && sa.role == Role::Initiator)
                && sa.expires.is_none_or(|t| now < t)
                && sa.standby_for.is_none_or(|old| open.contains(&old))
        });
    }

    /// Records what the NAT-D notifies of an accepted IKE_SA_INIT message say (RFC 7296
    /// §2.23); the warning follows [`Output::Established`].
    fn record_nat(&mut self, sa: &mut IkeSa, message: &Message, from: SocketAddr, to: SocketAddr) {
        let (state, notes) = nat::check(message, from, to);
        sa.nat = state;
        for message in notes {
            self.outputs.push_back(Output::Debug { sa: sa.id, message });
        }
    }

    // ---------------------------------------------------------------- responder

    fn responder_init(
        &mut self,
        now: Duration,
        (from, to): (SocketAddr, SocketAddr),
        request: &Message,
        raw: &[u8],
    ) {
        let Some((sa_payload, ke, nonce)) = init_payloads(request) else {
            return;
        };
        if !self.cookie_accepted(from, request, nonce) {
            return;
        }
        let ours: Vec<IkeProposal> = self
            .configs
            .iter()
            .flat_map(|c| c.ike_proposals.iter().copied())
            .collect();
        let reply = |payloads: Vec<Payload>, spi_r: [u8; 8]| Message {
            spi_i: request.spi_i,
            spi_r,
            exchange_type: ExchangeType::IKE_SA_INIT,
            flags: HeaderFlags {
                response: true,
                ..HeaderFlags::default()
            },
            message_id: request.message_id,
            payloads,
        };
        let Some((number, chosen)) = select(
            ProtocolId::IKE,
            &sa_payload.proposals,
            &ours,
            IkeProposal::transforms,
        ) else {
            let ours: Vec<_> = ours.iter().map(IkeProposal::transforms).collect();
            let reason = explain_no_proposal("IKE SA", &ours, &sa_payload.proposals);
            let notify = NotifyPayload::new(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new());
            if let Ok(bytes) = reply(vec![Payload::Notify(notify)], [0; 8]).to_bytes() {
                self.outputs.push_back(Output::Send { to: from, bytes });
            }
            let sa = self.new_id();
            self.outputs.push_back(Output::Failed {
                sa,
                reason: format!("IKE_SA_INIT from {from}: {reason}"),
            });
            return;
        };
        if ke.group != chosen.dh.id() {
            let data = chosen.dh.id().to_be_bytes().to_vec();
            let notify = NotifyPayload::new(NotifyType::INVALID_KE_PAYLOAD, data);
            if let Ok(bytes) = reply(vec![Payload::Notify(notify)], [0; 8]).to_bytes() {
                self.outputs.push_back(Output::Send { to: from, bytes });
            }
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
        let Ok(keys) = derive_ike_keys(chosen, &shared, nonce, &nonce_r, &request.spi_i, &spi_r)
        else {
            return;
        };
        let mut proposal = chosen.to_proposal(number);
        proposal.number = number;
        let response = reply(
            vec![
                Payload::Sa(SaPayload {
                    proposals: vec![proposal],
                }),
                Payload::Ke(KePayload {
                    group: chosen.dh.id(),
                    data: our_ke.public_value().to_vec(),
                }),
                Payload::Nonce(nonce_r.clone()),
            ],
            spi_r,
        );
        // NAT detection (RFC 7296 §2.23): answered in kind, hashed with this message's SPIs.
        let mut response = response;
        if nat::present(request) {
            response
                .payloads
                .extend(nat::notifies(&request.spi_i, &spi_r, to, from));
        }
        // Public-key configs: our hash algorithms and a CERTREQ (peers such as strongSwan
        // send their certificate only when asked).
        if let Some(certreq) = auth::certreq(&self.configs) {
            response.payloads.push(auth::hash_algorithms_notify());
            response.payloads.push(certreq);
        }
        let Ok(bytes) = response.to_bytes() else {
            return;
        };
        self.outputs.push_back(Output::Send {
            to: from,
            bytes: bytes.clone(),
        });
        let mut sa = IkeSa::new(id, Role::Responder, State::AuthPending, (to, from), now);
        self.record_nat(&mut sa, request, from, to);
        sa.spi_i = request.spi_i;
        sa.spi_r = spi_r;
        sa.nonce_i = nonce.clone();
        sa.nonce_r = nonce_r;
        sa.negotiated = Some(chosen);
        sa.keys = Some(keys);
        sa.init_request = raw.to_vec();
        sa.init_response = bytes;
        sa.peer_hashes = auth::peer_hash_algorithms(&request.payloads);
        sa.next_request_id = 1;
        sa.expires = Some(now.saturating_add(HALF_OPEN_TIMEOUT));
        self.sas.push(sa);
    }

    /// The IKE_AUTH request of a responder SA.
    fn responder_request(&mut self, now: Duration, sa: &mut IkeSa, request: &Message, raw: &[u8]) {
        if request.message_id != sa.next_request_id
            || sa.state != State::AuthPending
            || request.exchange_type != ExchangeType::IKE_AUTH
        {
            return;
        }
        let (Some(keys), Some(negotiated)) = (sa.keys.as_ref(), sa.negotiated) else {
            return;
        };
        let from_initiator = sk_keys(negotiated.cipher, keys, Role::Initiator);
        let to_initiator = sk_keys(negotiated.cipher, keys, Role::Responder);
        let Ok(inner) = crate::crypto::open(&from_initiator, raw, request) else {
            return; // not authentic: drop silently
        };
        sa.next_request_id = sa.next_request_id.wrapping_add(1);
        let (reply, outcome) = self.responder_auth(sa, &inner);
        sa.last_received = now;
        let message = Message {
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            exchange_type: ExchangeType::IKE_AUTH,
            flags: HeaderFlags {
                response: true,
                ..HeaderFlags::default()
            },
            message_id: request.message_id,
            payloads: Vec::new(),
        };
        match crate::crypto::seal(&to_initiator, &message, &reply, self.rng.as_mut()) {
            Ok(bytes) => {
                sa.cached_response = Some((request.message_id, bytes.clone()));
                self.outputs.push_back(Output::Send { to: sa.peer, bytes });
            }
            Err(e) => {
                self.fail_sa(sa, format!("cannot encrypt the IKE_AUTH response: {e}"));
                return;
            }
        }
        match outcome {
            Ok((peer_id, child)) => sa.establish(now, peer_id, child, &mut self.outputs),
            Err(reason) => {
                sa.state = State::Failed;
                self.outputs.push_back(Output::Failed { sa: sa.id, reason });
            }
        }
    }

    /// Builds the IKE_AUTH response payloads and the outcome.
    #[allow(clippy::type_complexity)]
    fn responder_auth(
        &mut self,
        sa: &mut IkeSa,
        inner: &[Payload],
    ) -> (Vec<Payload>, Result<(Identity, (ChildSa, usize)), Failure>) {
        let auth_failed = |reason: String| {
            (
                vec![Payload::Notify(NotifyPayload::new(
                    NotifyType::AUTHENTICATION_FAILED,
                    Vec::new(),
                ))],
                Err(reason),
            )
        };
        let id_i = inner.iter().find_map(|p| match p {
            Payload::IdI(id) => Some(id),
            _ => None,
        });
        let auth = inner.iter().find_map(|p| match p {
            Payload::Auth(a) => Some(a),
            _ => None,
        });
        let (Some(id_i), Some(auth)) = (id_i, auth) else {
            return auth_failed("IKE_AUTH request without IDi or AUTH".to_string());
        };
        let peer_identity = Identity::from_payload(id_i);
        let Some(config) = self
            .configs
            .iter()
            .find(|c| Some(&c.remote_id) == peer_identity.as_ref())
            .cloned()
        else {
            let known: Vec<String> = self
                .configs
                .iter()
                .map(|c| c.remote_id.to_string())
                .collect();
            return auth_failed(format!(
                "authentication failed: unknown peer ID {} (configured peers: {})",
                describe_id(id_i),
                known.join(", ")
            ));
        };
        let (Some(negotiated), Some(keys)) = (sa.negotiated, sa.keys.as_ref()) else {
            return auth_failed("internal error: no IKE SA keys".to_string());
        };
        let prf = negotiated.prf;
        let verified = auth::auth_octets(
            prf,
            &sa.init_request,
            &sa.nonce_r,
            &keys.sk_pi,
            &Payload::IdI(id_i.clone()),
        )
        .and_then(|octets| {
            auth::PeerAuth {
                config: &config,
                peer_id: &config.remote_id,
                prf,
                octets: &octets,
                auth,
                inner,
                wall_clock: self.wall_clock,
            }
            .verify()
        });
        match verified {
            Ok(how) => sa.peer_auth = Some(how),
            Err(reason) => return auth_failed(reason),
        }
        // Authenticated: our own IDr, CERT and AUTH go into every further answer.
        let id_r = Payload::IdR(config.local_id.to_payload());
        let ours = auth::auth_octets(prf, &sa.init_response, &sa.nonce_i, &keys.sk_pr, &id_r)
            .and_then(|octets| {
                auth::our_auth(
                    &config.auth,
                    prf,
                    &octets,
                    sa.peer_hashes.as_deref(),
                    self.rng.as_mut(),
                )
            });
        let (certs, our_auth) = match ours {
            Ok(ours) => ours,
            Err(e) => return auth_failed(format!("internal error computing AUTH: {e}")),
        };
        let mut reply = vec![id_r];
        reply.extend(certs);
        reply.push(Payload::Auth(our_auth));
        let peer_id = config.remote_id.clone();
        let child_failed = |mut reply: Vec<Payload>, notify: NotifyType, reason: String| {
            reply.push(Payload::Notify(NotifyPayload::new(notify, Vec::new())));
            (
                reply,
                Err(format!(
                    "peer {peer_id} authenticated, but the Child SA was refused: {reason}"
                )),
            )
        };
        let (ts_i, ts_r) = create_child::payload_ts(inner);
        let (ts_i, ts_r) = (ts_i.unwrap_or_default(), ts_r.unwrap_or_default());
        let wants_transport = inner.iter().any(
            |p| matches!(p, Payload::Notify(n) if n.notify_type == NotifyType::USE_TRANSPORT_MODE),
        );
        let Some((index, narrowed_i, narrowed_r)) =
            choose_child(&config.children, &ts_i, &ts_r, wants_transport)
        else {
            let reason = format!(
                "traffic selectors unacceptable: the peer proposed TSi [{}] TSr [{}]; we allow {}",
                describe_ts(&ts_i),
                describe_ts(&ts_r),
                describe_allowed(&config.children),
            );
            return child_failed(reply, NotifyType::TS_UNACCEPTABLE, reason);
        };
        if let Err(reason) = negotiate::installable(&narrowed_r, &narrowed_i) {
            let reason = format!(
                "traffic selectors unacceptable: the peer proposed TSi [{}] TSr [{}], narrowed to {reason}",
                describe_ts(&ts_i),
                describe_ts(&ts_r),
            );
            return child_failed(reply, NotifyType::TS_UNACCEPTABLE, reason);
        }
        let Some(child_config) = config.children.get(index) else {
            return auth_failed("internal error: no child configuration".to_string());
        };
        let proposals: Vec<Proposal> = inner
            .iter()
            .filter_map(|p| match p {
                Payload::Sa(sa) => Some(sa.proposals.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        let Some((number, chosen)) = select(
            ProtocolId::ESP,
            &proposals,
            &child_config.esp_proposals,
            EspProposal::transforms,
        ) else {
            let ours: Vec<_> = child_config
                .esp_proposals
                .iter()
                .map(EspProposal::transforms)
                .collect();
            let reason = explain_no_proposal("Child SA (ESP)", &ours, &proposals);
            return child_failed(reply, NotifyType::NO_PROPOSAL_CHOSEN, reason);
        };
        let peer_spi = proposals
            .iter()
            .find(|p| p.number == number && p.protocol == ProtocolId::ESP)
            .and_then(|p| <[u8; 4]>::try_from(p.spi.as_slice()).ok())
            .map(u32::from_be_bytes);
        let Some(peer_spi) = peer_spi else {
            return child_failed(
                reply,
                NotifyType::INVALID_SYNTAX,
                "ESP proposal without a 4-byte SPI".to_string(),
            );
        };
        let mode = if wants_transport && child_config.mode == Mode::Transport {
            reply.push(Payload::Notify(NotifyPayload::new(
                NotifyType::USE_TRANSPORT_MODE,
                Vec::new(),
            )));
            Mode::Transport
        } else {
            Mode::Tunnel
        };
        let Ok(child_keys) = ChildSaKeys::derive(
            prf,
            &keys.sk_d,
            None,
            &sa.nonce_i,
            &sa.nonce_r,
            chosen.cipher.encr_key_len(),
            chosen.cipher.integ_key_len(),
        ) else {
            return auth_failed("internal error deriving Child SA keys".to_string());
        };
        match self.allocate_child_spi(sa.peer) {
            Ok(spi) => sa.child_spi = spi,
            Err(reason) => return child_failed(reply, NotifyType::NO_PROPOSAL_CHOSEN, reason),
        }
        reply.push(Payload::Sa(SaPayload {
            proposals: vec![chosen.to_proposal(number, sa.child_spi)],
        }));
        reply.push(Payload::TsI(TsPayload {
            selectors: narrowed_i.clone(),
        }));
        reply.push(Payload::TsR(TsPayload {
            selectors: narrowed_r.clone(),
        }));
        let child = ChildSa {
            cipher: chosen.cipher,
            mode,
            inbound: child_keys.inbound(false, sa.child_spi),
            outbound: child_keys.outbound(false, peer_spi),
            ts_local: narrowed_r,
            ts_remote: narrowed_i,
            peer: sa.peer,
            child: child_config.name.clone(),
        };
        sa.config = Some(config);
        (reply, Ok((peer_id, (child, index))))
    }

    // ---------------------------------------------------------------- initiator

    fn initiator_response(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        response: &Message,
        raw: &[u8],
    ) {
        let Some(pending) = sa.pending.as_ref() else {
            return; // nothing outstanding: a late duplicate
        };
        if pending.message_id != response.message_id {
            return;
        }
        match (sa.state, response.exchange_type) {
            (State::InitSent, ExchangeType::IKE_SA_INIT) => {
                if let Err(reason) = self.initiator_init_response(now, sa, response, raw) {
                    self.fail_sa(sa, reason);
                }
            }
            (State::AuthPending, ExchangeType::IKE_AUTH) => {
                let (Some(keys), Some(negotiated)) = (sa.keys.as_ref(), sa.negotiated) else {
                    return;
                };
                let from_responder = sk_keys(negotiated.cipher, keys, Role::Responder);
                let Ok(inner) = crate::crypto::open(&from_responder, raw, response) else {
                    return; // not authentic: drop, keep retransmitting
                };
                sa.pending = None;
                match self.initiator_auth_response(sa, &inner) {
                    Ok((peer_id, child)) => sa.establish(now, peer_id, child, &mut self.outputs),
                    Err(reason) => {
                        // The responder considers the IKE SA up but we refused its ID or
                        // AUTH (not a Child SA refusal): tell it (RFC 7296 §2.21.2).
                        if responder_accepted_us(&inner) {
                            if sa.peer_auth.is_none() {
                                self.send_auth_failed(sa);
                            } else if !refused_child(&inner) {
                                // We refused the Child SA the peer installed: the IKE SA
                                // fails here, so have the peer delete it and the Child SA.
                                self.send_ike_delete(sa);
                            }
                        }
                        self.fail_sa(sa, reason);
                    }
                }
            }
            _ => {}
        }
    }

    fn initiator_init_response(
        &mut self,
        now: Duration,
        sa: &mut IkeSa,
        response: &Message,
        raw: &[u8],
    ) -> Result<(), Failure> {
        let config = sa
            .config
            .clone()
            .ok_or("internal error: no configuration")?;
        if let Some(notify) = response.notification(NotifyType::COOKIE) {
            if sa.cookie.as_deref() == Some(notify.data.as_slice()) {
                // Another answer to a request we already resent with this cookie (one of
                // our retransmissions crossed the first answer): nothing new.
                return Ok(());
            }
            if sa.cookie_retries >= MAX_COOKIE_RETRIES || notify.data.is_empty() {
                return Err("the peer keeps demanding a COOKIE (RFC 7296 §2.6)".to_string());
            }
            sa.cookie_retries = sa.cookie_retries.saturating_add(1);
            sa.cookie = Some(notify.data.clone());
            let group = sa
                .ke
                .as_ref()
                .map_or(config.ike_proposals.first().map(|p| p.dh), |k| {
                    Some(k.group())
                });
            let group = group.ok_or("internal error: no DH group")?;
            return self.send_init_request(now, sa, group);
        }
        if let Some(notify) = response.notification(NotifyType::INVALID_KE_PAYLOAD) {
            let wanted = <[u8; 2]>::try_from(notify.data.as_slice())
                .ok()
                .map(u16::from_be_bytes);
            let current = sa.ke.as_ref().map(|k| k.group().id());
            let offered = config
                .ike_proposals
                .iter()
                .map(|p| p.dh)
                .find(|g| Some(g.id()) == wanted);
            return match (wanted, offered) {
                (Some(_), Some(group))
                    if Some(group.id()) != current
                        && sa.invalid_ke_retries < MAX_INVALID_KE_RETRIES =>
                {
                    sa.invalid_ke_retries = sa.invalid_ke_retries.saturating_add(1);
                    self.send_init_request(now, sa, group)
                }
                _ => Err(format!(
                    "the peer answered INVALID_KE_PAYLOAD asking for DH group {}, which we did not offer or already tried",
                    wanted.map_or_else(|| "?".to_string(), |g| crate::transform_ids::transform_name(
                        crate::codes::TransformType::DH, g, None
                    ))
                )),
            };
        }
        if response
            .notification(NotifyType::NO_PROPOSAL_CHOSEN)
            .is_some()
        {
            let ours: Vec<_> = config
                .ike_proposals
                .iter()
                .map(IkeProposal::transforms)
                .collect();
            return Err(format!(
                "no proposal chosen for the IKE SA: the peer accepted none of our offer ({})",
                negotiate::describe(&ours)
            ));
        }
        if let Some(error) = response.notifications().find(|n| n.notify_type.is_error()) {
            return Err(format!(
                "the peer refused IKE_SA_INIT: {}",
                error.notify_type
            ));
        }
        let Some((sa_payload, ke, nonce)) = init_payloads(response) else {
            return Err("IKE_SA_INIT response lacks SA, KE or Nonce".to_string());
        };
        let chosen = accepted(
            ProtocolId::IKE,
            &sa_payload.proposals,
            &config.ike_proposals,
            IkeProposal::transforms,
        )
        .ok_or("the peer chose an IKE proposal we did not offer")?;
        let our_ke = sa.ke.as_ref().ok_or("internal error: no DH key")?;
        if ke.group != chosen.dh.id() || our_ke.group() != chosen.dh {
            return Err(format!(
                "the peer's KE uses group {} but the chosen proposal says {}",
                ke.group,
                chosen.dh.id()
            ));
        }
        let shared = our_ke
            .shared_secret(&ke.data)
            .map_err(|e| format!("the peer's KE payload is unusable: {e}"))?;
        if response.spi_r == [0; 8] {
            return Err("the peer's IKE_SA_INIT response has a zero responder SPI".to_string());
        }
        sa.spi_r = response.spi_r;
        sa.nonce_r = nonce.clone();
        sa.init_response = raw.to_vec();
        let keys = derive_ike_keys(chosen, &shared, &sa.nonce_i, nonce, &sa.spi_i, &sa.spi_r)
            .map_err(|e| format!("key derivation failed: {e}"))?;
        sa.negotiated = Some(chosen);
        sa.ke = None;

        sa.peer_hashes = auth::peer_hash_algorithms(&response.payloads);

        // IKE_AUTH request: IDi, [CERT], [CERTREQ], AUTH, ...
        let id_i = Payload::IdI(config.local_id.to_payload());
        let (certs, auth) = auth::auth_octets(
            chosen.prf,
            &sa.init_request,
            &sa.nonce_r,
            &keys.sk_pi,
            &id_i,
        )
        .and_then(|octets| {
            auth::our_auth(
                &config.auth,
                chosen.prf,
                &octets,
                sa.peer_hashes.as_deref(),
                self.rng.as_mut(),
            )
        })
        .map_err(|e| format!("AUTH computation failed: {e}"))?;
        let mut inner = vec![id_i];
        inner.extend(certs);
        inner.extend(auth::certreq([&config]));
        inner.push(Payload::Auth(auth));
        let child = sa.child_config(sa.first_child)?.clone();
        if child.mode == Mode::Transport {
            inner.push(Payload::Notify(NotifyPayload::new(
                NotifyType::USE_TRANSPORT_MODE,
                Vec::new(),
            )));
        }
        inner.push(Payload::Sa(SaPayload {
            proposals: child
                .esp_proposals
                .iter()
                .zip(1u8..)
                .map(|(p, n)| p.to_proposal(n, sa.child_spi))
                .collect(),
        }));
        inner.push(Payload::TsI(TsPayload {
            selectors: child.ts_local,
        }));
        inner.push(Payload::TsR(TsPayload {
            selectors: child.ts_remote,
        }));
        let message = Message {
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            exchange_type: ExchangeType::IKE_AUTH,
            flags: HeaderFlags {
                initiator: true,
                ..HeaderFlags::default()
            },
            message_id: 1,
            payloads: Vec::new(),
        };
        let to_responder = sk_keys(chosen.cipher, &keys, Role::Initiator);
        let bytes = crate::crypto::seal(&to_responder, &message, &inner, self.rng.as_mut())
            .map_err(|e| format!("cannot encrypt IKE_AUTH: {e}"))?;
        sa.keys = Some(keys);
        sa.state = State::AuthPending;
        self.send_request(now, sa, 1, bytes, exchange::Sent::Setup);
        Ok(())
    }

    fn initiator_auth_response(
        &mut self,
        sa: &mut IkeSa,
        inner: &[Payload],
    ) -> Result<(Identity, (ChildSa, usize)), Failure> {
        let config = sa
            .config
            .clone()
            .ok_or("internal error: no configuration")?;
        let index = sa.first_child;
        let child = sa.child_config(index)?.clone();
        let (Some(negotiated), Some(keys)) = (sa.negotiated, sa.keys.as_ref()) else {
            return Err("internal error: no IKE SA keys".to_string());
        };
        let notifies: Vec<&NotifyPayload> = crate::message::notifications(inner).collect();
        if notifies
            .iter()
            .any(|n| n.notify_type == NotifyType::AUTHENTICATION_FAILED)
        {
            return Err(match config.auth.public_key() {
                None => format!(
                    "the peer rejected our authentication (AUTHENTICATION_FAILED): either it does not know our ID {} or our pre-shared keys differ",
                    config.local_id
                ),
                Some(pk) => format!(
                    "the peer rejected our authentication (AUTHENTICATION_FAILED): either it does not know our ID {} or it does not trust our certificate '{}' (check its CA and our certificate's validity and SANs)",
                    config.local_id,
                    pk.certificate.subject()
                ),
            });
        }
        let id_r = inner.iter().find_map(|p| match p {
            Payload::IdR(id) => Some(id),
            _ => None,
        });
        let auth = inner.iter().find_map(|p| match p {
            Payload::Auth(a) => Some(a),
            _ => None,
        });
        let (Some(id_r), Some(auth)) = (id_r, auth) else {
            return Err("IKE_AUTH response without IDr or AUTH".to_string());
        };
        if Identity::from_payload(id_r).as_ref() != Some(&config.remote_id) {
            return Err(format!(
                "the peer identified as {}, but we expect {}",
                describe_id(id_r),
                config.remote_id
            ));
        }
        let octets = auth::auth_octets(
            negotiated.prf,
            &sa.init_response,
            &sa.nonce_i,
            &keys.sk_pr,
            &Payload::IdR(id_r.clone()),
        )
        .map_err(|e| format!("AUTH computation failed: {e}"))?;
        let how = auth::PeerAuth {
            config: &config,
            peer_id: &config.remote_id,
            prf: negotiated.prf,
            octets: &octets,
            auth,
            inner,
            wall_clock: self.wall_clock,
        }
        .verify()?;
        sa.peer_auth = Some(how);
        if let Some(error) = notifies.iter().find(|n| n.notify_type.is_error()) {
            let detail = if error.notify_type == NotifyType::NO_PROPOSAL_CHOSEN {
                let ours: Vec<_> = child
                    .esp_proposals
                    .iter()
                    .map(EspProposal::transforms)
                    .collect();
                format!("; we offered ESP {}", negotiate::describe(&ours))
            } else if error.notify_type == NotifyType::TS_UNACCEPTABLE {
                format!(
                    "; we proposed TSi [{}] TSr [{}]",
                    describe_ts(&child.ts_local),
                    describe_ts(&child.ts_remote)
                )
            } else {
                String::new()
            };
            return Err(format!(
                "peer {} authenticated, but it refused the Child SA with {}{detail}",
                config.remote_id, error.notify_type
            ));
        }
        let proposals: Vec<Proposal> = inner
            .iter()
            .filter_map(|p| match p {
                Payload::Sa(sa) => Some(sa.proposals.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        let chosen = accepted(
            ProtocolId::ESP,
            &proposals,
            &child.esp_proposals,
            EspProposal::transforms,
        )
        .ok_or("the peer chose an ESP proposal we did not offer")?;
        let peer_spi = proposals
            .first()
            .and_then(|p| <[u8; 4]>::try_from(p.spi.as_slice()).ok())
            .map(u32::from_be_bytes)
            .ok_or("the peer's ESP proposal has no 4-byte SPI")?;
        let (Some(ts_i), Some(ts_r)) = create_child::payload_ts(inner) else {
            return Err("IKE_AUTH response without TSi/TSr".to_string());
        };
        negotiate::check_answered_ts((&ts_i, &ts_r), (&child.ts_local, &child.ts_remote))?;
        let transport = notifies
            .iter()
            .any(|n| n.notify_type == NotifyType::USE_TRANSPORT_MODE);
        let mode = negotiate::answered_mode(child.mode, transport)?;
        let child_keys = ChildSaKeys::derive(
            negotiated.prf,
            &keys.sk_d,
            None,
            &sa.nonce_i,
            &sa.nonce_r,
            chosen.cipher.encr_key_len(),
            chosen.cipher.integ_key_len(),
        )
        .map_err(|e| format!("Child SA key derivation failed: {e}"))?;
        Ok((
            config.remote_id.clone(),
            (
                ChildSa {
                    cipher: chosen.cipher,
                    mode,
                    inbound: child_keys.inbound(true, sa.child_spi),
                    outbound: child_keys.outbound(true, peer_spi),
                    ts_local: ts_i,
                    ts_remote: ts_r,
                    peer: sa.peer,
                    child: child.name,
                },
                index,
            ),
        ))
    }
}

fn derive_ike_keys(
    chosen: IkeProposal,
    shared: &Secret,
    ni: &[u8],
    nr: &[u8],
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
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

/// The SK keys protecting messages sent by `sender`.
fn sk_keys(cipher: SkCipher, keys: &IkeSaKeys, sender: Role) -> SkKeys {
    let (encr, integ) = match sender {
        Role::Initiator => (&keys.sk_ei, &keys.sk_ai),
        Role::Responder => (&keys.sk_er, &keys.sk_ar),
    };
    SkKeys {
        cipher,
        encr: encr.clone(),
        integ: integ.clone(),
    }
}

/// Compares two MACs in data-independent time (`subtle`); a length mismatch is unequal.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}

/// Whether the peer refused the Child SA of IKE_AUTH (an error notify): it installed none.
fn refused_child(inner: &[Payload]) -> bool {
    crate::message::notifications(inner).any(|n| n.notify_type.is_error())
}

/// Whether an IKE_AUTH response shows that the responder authenticated us and considers the
/// IKE SA established: it carries IDr and AUTH and no AUTHENTICATION_FAILED.
fn responder_accepted_us(inner: &[Payload]) -> bool {
    let has_id = inner.iter().any(|p| matches!(p, Payload::IdR(_)));
    let has_auth = inner.iter().any(|p| matches!(p, Payload::Auth(_)));
    let refused = crate::message::notifications(inner)
        .any(|n| n.notify_type == NotifyType::AUTHENTICATION_FAILED);
    has_id && has_auth && !refused
}

/// The SA, KE and Nonce payloads an IKE_SA_INIT message must carry (the last of each kind).
fn init_payloads(message: &Message) -> Option<(&SaPayload, &KePayload, &Vec<u8>)> {
    let (mut sa, mut ke, mut nonce) = (None, None, None);
    for payload in &message.payloads {
        match payload {
            Payload::Sa(p) => sa = Some(p),
            Payload::Ke(k) => ke = Some(k),
            Payload::Nonce(n) => nonce = Some(n),
            _ => {}
        }
    }
    Some((sa?, ke?, nonce?))
}
