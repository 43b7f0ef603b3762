// SPDX-License-Identifier: GPL-2.0
//! Network namespaces: ripsec's pernet registration, the netns handle, and its hook state.

use super::raw;
use core::marker::PhantomData;
use kernel::{error::to_result, prelude::*};

extern "C" {
    fn ripsec_shim_pernet_register() -> c_int;
    fn ripsec_shim_pernet_unregister();
    fn ripsec_shim_net_state(net: *mut raw::net) -> *mut c_void;
    fn ripsec_shim_net_cookie(net: *mut raw::net) -> u64;
    fn ripsec_shim_mtu_expires(net: *mut raw::net, ipv6: bool) -> c_uint;
    fn ripsec_shim_defrag_use(net: *mut raw::net) -> c_int;
}

/// The registered pernet operations; unregistered (running every netns's exit) on drop.
pub(crate) struct PernetRegistration(());

impl PernetRegistration {
    /// Registers the pernet operations, running their init for every existing netns.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: registers a static `pernet_operations` whose callbacks are valid for the
        // module's lifetime; `Drop` unregisters it before the module text goes away.
        to_result(unsafe { ripsec_shim_pernet_register() })?;
        Ok(Self(()))
    }
}

impl Drop for PernetRegistration {
    fn drop(&mut self) {
        // SAFETY: `new` registered the operations, and this runs once.
        unsafe { ripsec_shim_pernet_unregister() };
    }
}

/// A network namespace that is alive for at least `'a`.
///
/// # Invariants
///
/// `ptr` points to a live `struct net` for `'a`, whose ripsec pernet init has completed.
#[derive(Clone, Copy)]
pub(crate) struct Net<'a> {
    ptr: *mut raw::net,
    _p: PhantomData<&'a raw::net>,
}

impl<'a> Net<'a> {
    /// # Safety
    ///
    /// `ptr` must point to a live `struct net` for `'a`, past ripsec's pernet init.
    pub(super) unsafe fn from_raw(ptr: *mut raw::net) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            ptr,
            _p: PhantomData,
        }
    }

    /// The state ripsec's pernet init made for this netns.
    pub(crate) fn state<T: PernetState>(self) -> &'a T {
        // SAFETY: `ptr` is a live netns past ripsec's pernet init (type invariant), so its slot
        // holds the pinned `KBox<T>` that init stored (the contract of `PernetState`), freed
        // only by pernet exit, after the netns (and so `'a`) is gone.
        unsafe { &*ripsec_shim_net_state(self.ptr).cast::<T>() }
    }

    pub(super) fn as_ptr(self) -> *mut raw::net {
        self.ptr
    }

    /// Turns netfilter's defragmentation on in this netns until it goes (idempotent).
    pub(crate) fn use_defrag(&self) -> Result {
        // SAFETY: `ptr` is a live netns past ripsec's pernet init (type invariant); the shim
        // serialises calls.
        to_result(unsafe { ripsec_shim_defrag_use(self.ptr) })
    }

    /// The netns cookie, unique for the lifetime of the system.
    pub(crate) fn cookie(&self) -> u64 {
        // SAFETY: `ptr` is a live netns (type invariant).
        unsafe { ripsec_shim_net_cookie(self.ptr) }
    }

    /// How long a learnt path MTU holds, in seconds (`net.ipv4.route.mtu_expires`, or
    /// IPv6's).
    pub(crate) fn mtu_expires(&self, ipv6: bool) -> u64 {
        // SAFETY: `ptr` is a live netns (type invariant).
        u64::from(unsafe { ripsec_shim_mtu_expires(self.ptr, ipv6) })
    }
}

/// The type of the state ripsec's pernet init stores in every netns's slot.
///
/// # Safety
///
/// Implemented by [`entry_points!`](super::entry_points) for the state type its pernet init
/// stores, and by no other type.
pub(crate) unsafe trait PernetState: Send + Sync {}

/// A netns that pernet init is setting up: what the state's netns-bound parts are made from.
///
/// # Invariants
///
/// `ptr` is the netns being initialised. What is made from it is stored in that netns's
/// state, which pernet exit drops before the netns goes.
pub(crate) struct NetInit<'a> {
    ptr: *mut raw::net,
    _p: PhantomData<&'a raw::net>,
}

impl NetInit<'_> {
    /// # Safety
    ///
    /// `ptr` must be the netns whose pernet init is running.
    pub(super) unsafe fn new(ptr: *mut raw::net) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            ptr,
            _p: PhantomData,
        }
    }

    pub(super) fn as_ptr(&self) -> *mut raw::net {
        self.ptr
    }
}

/// The netfilter hooks ripsec registers (`NF_INET_*`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hook {
    PreRouting,
    LocalIn,
    Forward,
    PostRouting,
    Other,
}

impl Hook {
    /// The hook of netfilter's number `num` (`NF_INET_*`).
    pub(super) fn from_num(num: u8) -> Self {
        match num {
            0 => Hook::PreRouting,
            1 => Hook::LocalIn,
            2 => Hook::Forward,
            4 => Hook::PostRouting,
            _ => Hook::Other,
        }
    }
}
