// SPDX-License-Identifier: GPL-2.0
//! Per-network-namespace state, created and destroyed by the pernet operations.

use crate::ffi::Net;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;

/// Everything ripsec keeps for one network namespace.
pub(crate) struct NetState {
    /// Netlink requests served in this netns.
    requests: AtomicU64,
}

impl NetState {
    /// The state of `net`.
    pub(crate) fn of<'a>(net: Net<'a>) -> &'a NetState {
        // SAFETY: `Net` guarantees pernet init ran, which stored a `KBox<NetState>` pointer
        // that stays valid until pernet exit, after the netns (and so `'a`) is gone.
        unsafe { &*net.state_ptr().cast::<NetState>() }
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

/// Pernet init: allocates the state and stores it in the netns's slot.
#[no_mangle]
extern "C" fn ripsec_rs_net_init(_net: *mut crate::ffi::raw::net, slot: *mut *mut c_void) -> c_int {
    match KBox::new(
        NetState {
            requests: AtomicU64::new(0),
        },
        GFP_KERNEL,
    ) {
        Ok(state) => {
            // SAFETY: `slot` is this netns's `net_generic` slot, sized for one pointer.
            unsafe { *slot = KBox::into_raw(state).cast() };
            0
        }
        Err(_) => ENOMEM.to_errno(),
    }
}

/// Pernet exit: frees the state. No request can reach it any more.
#[no_mangle]
extern "C" fn ripsec_rs_net_exit(state: *mut c_void) {
    if !state.is_null() {
        // SAFETY: `state` came from `KBox::into_raw` in `ripsec_rs_net_init`, and the netns is
        // being destroyed, so no other reference to it remains.
        drop(unsafe { KBox::from_raw(state.cast::<NetState>()) });
    }
}
