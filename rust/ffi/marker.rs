// SPDX-License-Identifier: GPL-2.0
//! The mark ripsec puts on the packets it decrypted (a secpath entry).

use super::{net::NetInit, raw};
use core::ptr::NonNull;
use kernel::prelude::*;

extern "C" {
    fn ripsec_shim_marker_new(net: *mut raw::net) -> *mut raw::xfrm_state;
    fn ripsec_shim_marker_put(x: *mut raw::xfrm_state);
}

/// The mark ripsec puts on packets it decrypted: a secpath entry (which XFRM's policy checks
/// understand) holding this netns's never-installed `xfrm_state`.
///
/// # Invariants
///
/// `ptr` is a dead, never-installed `xfrm_state` on which this object holds a reference.
pub(crate) struct Marker {
    ptr: NonNull<raw::xfrm_state>,
}

// SAFETY: the state is refcounted and immutable once made; any context may use the pointer.
unsafe impl Send for Marker {}
// SAFETY: as above.
unsafe impl Sync for Marker {}

impl Marker {
    /// A marker for the netns being initialised.
    pub(crate) fn new(net: &NetInit<'_>) -> Result<Self> {
        // SAFETY: allocates a state referring to the live netns; it is never installed, so XFRM
        // never dereferences the netns through it.
        let ptr = unsafe { ripsec_shim_marker_new(net.as_ptr()) };
        // INVARIANT: the shim returned a dead state with one reference, ours.
        Ok(Self {
            ptr: NonNull::new(ptr).ok_or(ENOMEM)?,
        })
    }
}

impl Marker {
    pub(super) fn as_ptr(&self) -> *mut raw::xfrm_state {
        self.ptr.as_ptr()
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        // SAFETY: drops our reference (type invariant); packets still marked hold their own.
        unsafe { ripsec_shim_marker_put(self.ptr.as_ptr()) };
    }
}
