// SPDX-License-Identifier: GPL-2.0
//! The functions shim.c calls: each turns the raw pointers it gets into this boundary's safe
//! types and calls the module's [`Handlers`]. [`entry_points!`] defines the C symbols; their
//! prototypes (`rust/entry.h`) are generated from that macro by `scripts/gen-entry-header`,
//! which the test command runs with `--check`.

use super::{
    genl::{Dump, GenlInfo},
    net::{Hook, Net, NetInit, PernetState},
    raw,
    rcu::Rcu,
    skb::{Skb, Verdict},
    udp::SocketId,
};
use core::pin::Pin;
use kernel::prelude::*;

/// What the module does when the kernel calls in.
pub(crate) trait Handlers {
    /// What pernet init makes for each netns, and pernet exit drops.
    type NetState: PernetState;
    /// Pernet init.
    fn net_init(init: &NetInit<'_>) -> Result<Pin<KBox<Self::NetState>>>;
    /// Pernet exit, before the state is dropped; no hook or request reaches it any more.
    fn net_exit(state: &Self::NetState);
    /// Every netfilter hook, with the state of the netns it runs in and the RCU read-side
    /// section netfilter holds around it.
    fn hook(net: Net<'_>, state: &Self::NetState, skb: Skb, hook: Hook, rcu: Rcu<'_>) -> Verdict;
    /// A netns's deferred work.
    fn work(net: Net<'_>);
    /// Every generic netlink `doit`.
    fn doit(info: &GenlInfo<'_>) -> Result;
    /// Every `dumpit` round: how many entries it added.
    fn dumpit(dump: &mut Dump<'_>) -> Result<c_int>;
    /// A datagram to an encapsulation socket, from its IP header; what it returns goes on to
    /// the socket.
    fn encap_receive(net: Net<'_>, skb: Skb) -> Option<Skb>;
    /// An encapsulation socket of `net` is being closed.
    fn encap_closed(net: Net<'_>, sk: SocketId);
}

/// Pernet init: makes the state and stores it in the netns's slot.
///
/// # Safety
///
/// `net` is the netns whose pernet init runs, and `slot` its ripsec slot.
pub(crate) unsafe fn net_init<H: Handlers>(net: *mut raw::net, slot: *mut *mut c_void) -> c_int {
    // SAFETY: as the caller promises.
    let init = unsafe { NetInit::new(net) };
    match H::net_init(&init) {
        Ok(state) => {
            // SAFETY: the state stays pinned: it is only ever used through this pointer, and
            // `net_exit` rebuilds the box to drop it in place.
            let state = KBox::into_raw(unsafe { Pin::into_inner_unchecked(state) });
            // SAFETY: `slot` is this netns's slot, sized for one pointer.
            unsafe { *slot = state.cast() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// Pernet exit: drops the state.
///
/// # Safety
///
/// `state` is what `net_init::<H>` stored (or null), and no other reference to it remains.
pub(crate) unsafe fn net_exit<H: Handlers>(state: *mut c_void) {
    if state.is_null() {
        return;
    }
    let state = state.cast::<H::NetState>();
    // SAFETY: `state` came from `KBox::into_raw` in `net_init` and is live.
    H::net_exit(unsafe { &*state });
    // SAFETY: as above, and this is its last use.
    drop(unsafe { KBox::from_raw(state) });
}

/// A netfilter hook.
///
/// # Safety
///
/// Netfilter calls it (through shim.c's entry for hook number `num`) with a packet it owns and
/// the running hook's netns; `priv_` is the `priv` of the hook's registration: the netns's
/// state, which `net_init::<H>` made.
#[inline(always)]
pub(crate) unsafe fn hook<H: Handlers>(
    priv_: *mut c_void,
    skb: *mut raw::sk_buff,
    net: *mut raw::net,
    num: u8,
) -> c_uint {
    // SAFETY: on ACCEPT/DROP the packet goes back to netfilter (`Verdict::into_nf`).
    let Some(skb) = (unsafe { Skb::from_raw(skb) }) else {
        return Verdict::NF_ACCEPT;
    };
    // SAFETY: ripsec's hooks are registered only in netns past its pernet init, and
    // unregistered before its pernet exit.
    let net = unsafe { Net::from_raw(net) };
    let hook = Hook::from_num(num);
    // SAFETY: shim.c registers each netns's hooks with `priv` set to the state `net_init`
    // stored, and unregisters them in pernet pre-exit; the netns core then waits for an RCU
    // grace period (which a running hook holds off) before `net_exit` drops the state.
    let ns = unsafe { &*priv_.cast::<H::NetState>() };
    let scope = ();
    // SAFETY: netfilter runs every hook inside an RCU read-side section (`nf_hook`,
    // `NF_HOOK_LIST` and `nf_reinject`'s callers hold `rcu_read_lock`), open until it returns.
    let rcu = unsafe { Rcu::assume(&scope) };
    H::hook(net, ns, skb, hook, rcu).into_nf()
}

/// A netns's deferred work.
///
/// # Safety
///
/// `net` is past ripsec's pernet init, and its work is cancelled before its pernet exit ends.
pub(crate) unsafe fn work<H: Handlers>(net: *mut raw::net) {
    // SAFETY: as the caller promises.
    H::work(unsafe { Net::from_raw(net) });
}

/// A generic netlink `doit`.
///
/// # Safety
///
/// `info` is the `genl_info` of the request the genl core is serving right now.
pub(crate) unsafe fn doit<H: Handlers>(info: *mut raw::genl_info) -> c_int {
    // SAFETY: as the caller promises.
    let info = unsafe { GenlInfo::from_raw(info) };
    match H::doit(&info) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// A generic netlink `dumpit` round.
///
/// # Safety
///
/// `skb` and `cb` are the arguments of the dump round the genl core is running.
pub(crate) unsafe fn dumpit<H: Handlers>(
    skb: *mut raw::sk_buff,
    cb: *mut raw::netlink_callback,
) -> c_int {
    // SAFETY: as the caller promises.
    let mut dump = unsafe { Dump::from_raw(skb, cb) };
    H::dumpit(&mut dump).unwrap_or_else(|e| e.to_errno())
}

/// A datagram to an encapsulation socket; returns what goes on to the socket (or null).
///
/// # Safety
///
/// UDP calls it, under RCU, with a datagram it hands over (the data at its IP header) that
/// reached a socket attached in `net`; detaching waits for an RCU grace period before the
/// netns's state can go.
pub(crate) unsafe fn encap_rcv<H: Handlers>(
    net: *mut raw::net,
    skb: *mut raw::sk_buff,
) -> *mut raw::sk_buff {
    // SAFETY: the datagram is ours until handed back.
    let Some(skb) = (unsafe { Skb::from_raw(skb) }) else {
        return core::ptr::null_mut();
    };
    // SAFETY: as the caller promises.
    let net = unsafe { Net::from_raw(net) };
    H::encap_receive(net, skb).map_or(core::ptr::null_mut(), Skb::into_raw)
}

/// An encapsulation socket is being closed.
///
/// # Safety
///
/// UDP calls it from process context for a socket attached in `net`, which the socket keeps
/// alive (and so its ripsec state).
pub(crate) unsafe fn encap_closed<H: Handlers>(net: *mut raw::net, sk: *mut raw::sock) {
    // SAFETY: as the caller promises.
    let net = unsafe { Net::from_raw(net) };
    H::encap_closed(net, SocketId::of(sk));
}

/// Defines the C entry points for handlers `$h` whose netns state is `$state`.
macro_rules! entry_points {
    ($h:ty, $state:ty) => {
        // SAFETY: `net_init` stores a `$state` in every netns's slot, and nothing else does.
        unsafe impl $crate::ffi::net::PernetState for $state {}

        /// # Safety
        ///
        /// shim.c calls it from pernet init with the netns and its ripsec slot.
        #[no_mangle]
        unsafe extern "C" fn ripsec_rs_net_init(
            net: *mut $crate::ffi::raw::net,
            slot: *mut *mut kernel::ffi::c_void,
        ) -> kernel::ffi::c_int {
            // SAFETY: as promised to us.
            unsafe { $crate::ffi::entry::net_init::<$h>(net, slot) }
        }

        /// # Safety
        ///
        /// shim.c calls it from pernet exit (or a failed init) with what init stored.
        #[no_mangle]
        unsafe extern "C" fn ripsec_rs_net_exit(state: *mut kernel::ffi::c_void) {
            // SAFETY: as promised to us; no hook or request reaches the netns any more.
            unsafe { $crate::ffi::entry::net_exit::<$h>(state) }
        }

        /// # Safety
        ///
        /// Netfilter calls it (through shim.c) with a packet it owns, the running hook's
        /// netns and its number.
        #[no_mangle]
        unsafe extern "C" fn ripsec_rs_hook(
            priv_: *mut kernel::ffi::c_void,
            skb: *mut $crate::ffi::raw::sk_buff,
            net: *mut $crate::ffi::raw::net,
            num: u8,
        ) -> kernel::ffi::c_uint {
            // SAFETY: as promised to us.
            unsafe { $crate::ffi::entry::hook::<$h>(priv_, skb, net, num) }
        }

        /// # Safety
        ///
        /// The work of a netns runs only between its pernet init and exit.
        #[no_mangle]
        unsafe extern "C" fn ripsec_rs_work(net: *mut $crate::ffi::raw::net) {
            // SAFETY: as promised to us.
            unsafe { $crate::ffi::entry::work::<$h>(net) }
        }

        /// # Safety
        ///
        /// The genl core calls it with the request it is serving.
        #[no_mangle]
        unsafe extern "C" fn ripsec_rs_doit(
            _skb: *mut $crate::ffi::raw::sk_buff,
            info: *mut $crate::ffi::raw::genl_info,
        ) -> kernel::ffi::c_int {
            // SAFETY: as promised to us.
            unsafe { $crate::ffi::entry::doit::<$h>(info) }
        }

        /// # Safety
        ///
        /// The genl core calls it with the arguments of a dump round.
        #[no_mangle]
        unsafe extern "C" fn ripsec_rs_dumpit(
            skb: *mut $crate::ffi::raw::sk_buff,
            cb: *mut $crate::ffi::raw::netlink_callback,
        ) -> kernel::ffi::c_int {
            // SAFETY: as promised to us.
            unsafe { $crate::ffi::entry::dumpit::<$h>(skb, cb) }
        }

        /// # Safety
        ///
        /// shim.c's `encap_rcv` calls it for a datagram to an attached socket of `net`.
        #[no_mangle]
        unsafe extern "C" fn ripsec_rs_encap_rcv(
            net: *mut $crate::ffi::raw::net,
            skb: *mut $crate::ffi::raw::sk_buff,
        ) -> *mut $crate::ffi::raw::sk_buff {
            // SAFETY: as promised to us.
            unsafe { $crate::ffi::entry::encap_rcv::<$h>(net, skb) }
        }

        /// # Safety
        ///
        /// shim.c's `encap_destroy` calls it when an attached socket of `net` closes.
        #[no_mangle]
        unsafe extern "C" fn ripsec_rs_encap_closed(
            net: *mut $crate::ffi::raw::net,
            sk: *mut $crate::ffi::raw::sock,
        ) {
            // SAFETY: as promised to us.
            unsafe { $crate::ffi::entry::encap_closed::<$h>(net, sk) }
        }
    };
}
pub(crate) use entry_points;
