// SPDX-License-Identifier: GPL-2.0
//! Per-netns deferred work in process context.

use super::{net::NetInit, raw};
use core::ptr::NonNull;
use kernel::prelude::*;

extern "C" {
    fn ripsec_shim_work_new(net: *mut raw::net) -> *mut raw::ripsec_work;
    fn ripsec_shim_work_queue(w: *mut raw::ripsec_work, ms: c_uint, now: bool);
    fn ripsec_shim_work_cancel(w: *mut raw::ripsec_work);
    fn ripsec_shim_work_free(w: *mut raw::ripsec_work);
}

/// Deferred work of one netns: runs `ripsec_rs_work(net)` in process context.
///
/// # Invariants
///
/// `ptr` is an owned `struct ripsec_work` whose netns outlives it.
pub(crate) struct Work {
    ptr: NonNull<raw::ripsec_work>,
}

// SAFETY: the work item may be queued from any context and freed from any sleepable one.
unsafe impl Send for Work {}
// SAFETY: queueing is thread-safe in the workqueue core.
unsafe impl Sync for Work {}

impl Work {
    /// Work for the netns being initialised; it belongs in that netns's state.
    pub(crate) fn new(net: &NetInit<'_>) -> Result<Self> {
        // SAFETY: allocates and initialises a work item; no other precondition.
        let ptr = unsafe { ripsec_shim_work_new(net.as_ptr()) };
        // INVARIANT: it goes into the netns's state, which pernet exit drops (after
        // cancelling the work) before the netns goes; the work is queued only through the
        // state, so after pernet init completed.
        Ok(Self {
            ptr: NonNull::new(ptr).ok_or(ENOMEM)?,
        })
    }

    /// Runs the work as soon as possible (any context).
    pub(crate) fn kick(&self) {
        // SAFETY: `ptr` is a live work item (type invariant).
        unsafe { ripsec_shim_work_queue(self.ptr.as_ptr(), 0, true) };
    }

    /// Runs the work in `ms` milliseconds unless it is pending already.
    pub(crate) fn schedule(&self, ms: u32) {
        // SAFETY: `ptr` is a live work item (type invariant).
        unsafe { ripsec_shim_work_queue(self.ptr.as_ptr(), ms, false) };
    }
}

impl Work {
    /// Cancels pending work and waits for a running instance (may sleep).
    pub(crate) fn cancel(&self) {
        // SAFETY: `ptr` is a live work item (type invariant).
        unsafe { ripsec_shim_work_cancel(self.ptr.as_ptr()) };
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        // SAFETY: `ptr` is owned (type invariant); the shim waits for a running instance.
        unsafe { ripsec_shim_work_free(self.ptr.as_ptr()) };
    }
}
