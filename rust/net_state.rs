// SPDX-License-Identifier: GPL-2.0
//! Per-network-namespace state, created and destroyed by the pernet operations.

use crate::{
    ffi::{EncapSocket, Marker, Net, NetInit, Work},
    sad::{NetCounters, Sad},
    spd::{Spd, SpdIndex},
};
use core::{
    pin::Pin,
    sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering},
};
use kernel::{new_mutex, prelude::*, sync::Mutex};

/// An SPI handed out by GETSPI and not yet used by an SA.
pub(crate) struct Reservation {
    /// The SPI.
    pub(crate) spi: u32,
    /// Seconds since boot after which it lapses.
    pub(crate) expires: u64,
}

/// Configuration: changed only by netlink requests, under [`NetState::config`].
pub(crate) struct Config {
    /// Security policies (the master copy; the data path reads [`NetState::spd`]).
    pub(crate) spd: Spd,
    /// Pending GETSPI reservations.
    pub(crate) reserved: KVec<Reservation>,
    /// The sockets ESP in UDP arrives on, at most [`MAX_ENCAP_SOCKETS`]; their ports are
    /// mirrored in [`NetState::encap_ports`].
    pub(crate) encap: KVec<EncapSocket>,
}

/// Encapsulation sockets per netns (a daemon needs one per address family).
pub(crate) const MAX_ENCAP_SOCKETS: usize = 8;

/// Everything ripsec keeps for one network namespace.
#[pin_data]
pub(crate) struct NetState {
    /// Netlink requests served in this netns.
    requests: AtomicU64,
    /// SPD master copy and reservations; held by every writer, also of the SAD.
    #[pin]
    pub(crate) config: Mutex<Config>,
    /// Security associations (lock-free lookups; writers hold `config`).
    pub(crate) sad: Sad,
    /// The SPD as the data path sees it (lock-free); writers hold `config`.
    pub(crate) spd: SpdIndex,
    /// Global counters of this netns.
    pub(crate) counters: NetCounters,
    /// Lifetime expiry (`expire.rs`): kicked by the data path, ticks while time limits run.
    pub(crate) work: Work,
    /// Marks the packets this netns decrypted (`receive.rs`).
    pub(crate) marker: Marker,
    /// The local ports of [`Config::encap`] (0: a free slot), read lock-free by LOCAL_IN.
    pub(crate) encap_ports: [AtomicU16; MAX_ENCAP_SOCKETS],
    /// Netfilter's defragmentation is on (from the first SA or policy until the netns goes).
    defragmenting: AtomicBool,
}

impl NetState {
    /// The state of `net`.
    pub(crate) fn of<'a>(net: Net<'a>) -> &'a NetState {
        net.state()
    }

    /// Whether an encapsulation socket of this netns has local port `port`.
    pub(crate) fn is_encap_port(&self, port: u16) -> bool {
        port != 0
            && self
                .encap_ports
                .iter()
                .any(|p| p.load(Ordering::Relaxed) == port)
    }

    /// Counts one served request.
    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Turns netfilter's defragmentation on in `net`, this state's netns, for good.
    pub(crate) fn use_defrag(&self, net: Net<'_>) -> Result {
        net.use_defrag()?;
        self.defragmenting.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Whether netfilter's defragmentation is on.
    pub(crate) fn defragmenting(&self) -> bool {
        self.defragmenting.load(Ordering::Relaxed)
    }

    /// Requests served so far, including the current one.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// Pernet init: the state of a new netns.
pub(crate) fn new_state(net: &NetInit<'_>) -> Result<Pin<KBox<NetState>>> {
    let config = Config {
        spd: Spd::new(),
        reserved: KVec::new(),
        encap: KVec::new(),
    };
    let sad = Sad::new()?;
    let spd = SpdIndex::new()?;
    let counters = NetCounters::new()?;
    let work = Work::new(net)?;
    let marker = Marker::new(net)?;
    KBox::pin_init(
        try_pin_init!(NetState {
            requests: AtomicU64::new(0),
            config <- new_mutex!(config),
            sad,
            spd,
            counters,
            work,
            marker,
            encap_ports: [const { AtomicU16::new(0) }; MAX_ENCAP_SOCKETS],
            defragmenting: AtomicBool::new(false),
        }? Error),
        GFP_KERNEL,
    )
}
