// SPDX-License-Identifier: GPL-2.0
//! Per-network-namespace state, created and destroyed by the pernet operations.

use crate::{
    ffi::{self, ArcXArray, Marker, Net, Work},
    sad::{Counters, Sad},
    spd::Spd,
};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
};

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
}

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
    /// The SPD as the data path sees it: a snapshot at index 0, replaced on every change.
    spd: ArcXArray<Spd>,
    /// Global counters of this netns.
    pub(crate) counters: Counters,
    /// Lifetime expiry (`expire.rs`): kicked by the data path, ticks while time limits run.
    pub(crate) work: Work,
    /// Marks the packets this netns decrypted (`receive.rs`).
    pub(crate) marker: Marker,
}

impl NetState {
    /// The state of `net`.
    pub(crate) fn of<'a>(net: Net<'a>) -> &'a NetState {
        // SAFETY: `Net` guarantees pernet init ran, which stored a pinned `KBox<NetState>`
        // pointer that stays valid until pernet exit, after the netns (and so `'a`) is gone.
        unsafe { &*net.state_ptr().cast::<NetState>() }
    }

    /// The current SPD snapshot (lock-free).
    pub(crate) fn spd(&self) -> Option<Arc<Spd>> {
        self.spd.get(0)
    }

    /// Publishes `cfg.spd` to the data path. Call with the config mutex held.
    pub(crate) fn publish_spd(&self, cfg: &Config) -> Result {
        let snapshot = Arc::new(cfg.spd.try_clone()?, GFP_KERNEL)?;
        drop(self.spd.store(0, snapshot)?);
        Ok(())
    }

    /// Counts one served request.
    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests served so far, including the current one.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// # Safety
///
/// `net` is the netns being initialised; the state must be freed before it is gone.
unsafe fn new_state(net: *mut ffi::raw::net) -> Result<Pin<KBox<NetState>>> {
    let config = Config {
        spd: Spd::new(),
        reserved: KVec::new(),
    };
    let sad = Sad::new()?;
    let spd = ArcXArray::new()?;
    // SAFETY: the state owns the work and is freed in pernet exit, while `net` lives; the
    // work is queued only through the state, after pernet init stored it.
    let work = unsafe { Work::new(net)? };
    let marker = Marker::new(net)?;
    KBox::pin_init(
        try_pin_init!(NetState {
            requests: AtomicU64::new(0),
            config <- new_mutex!(config),
            sad,
            spd,
            counters: Counters::new(),
            work,
            marker,
        }? Error),
        GFP_KERNEL,
    )
}

/// Pernet init: allocates the state and stores it in the netns's slot.
#[no_mangle]
extern "C" fn ripsec_rs_net_init(net: *mut ffi::raw::net, slot: *mut *mut c_void) -> c_int {
    // SAFETY: `net` is being initialised; `ripsec_rs_net_exit` frees the state before it goes.
    match unsafe { new_state(net) } {
        Ok(state) => {
            // SAFETY: the state stays pinned: it is only ever used through this pointer and
            // freed by `ripsec_rs_net_exit`, which rebuilds the pinned box.
            let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(state) });
            // SAFETY: `slot` is this netns's `net_generic` slot, sized for one pointer.
            unsafe { *slot = raw.cast() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// Pernet exit: frees the state (SAs, policies, keys). No request can reach it any more.
#[no_mangle]
extern "C" fn ripsec_rs_net_exit(state: *mut c_void) {
    if !state.is_null() {
        let state = state.cast::<NetState>();
        // SAFETY: `state` came from `KBox::into_raw` in `ripsec_rs_net_init` and is still live.
        unsafe { (*state).work.cancel() };
        // SAFETY: the netns is being destroyed and its work is idle, so no other reference to
        // the state remains.
        drop(unsafe { KBox::from_raw(state) });
    }
}
