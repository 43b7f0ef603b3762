// SPDX-License-Identifier: GPL-2.0
//! Packets: owned, viewed read-only through their linear head, or made writable.

use super::{
    marker::Marker,
    net::Net,
    raw::{self, from_err_ptr, to_result},
};
use core::{
    ptr::NonNull,
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::prelude::*;

extern "C" {
    fn ripsec_shim_skb_decrypted(skb: *const raw::sk_buff, marker: *const raw::xfrm_state) -> bool;
    fn ripsec_shim_skb_spare_xfrm_check(
        net: *mut raw::net,
        skb: *mut raw::sk_buff,
        marker: *const raw::xfrm_state,
    );
    fn ripsec_shim_skb_view(skb: *const raw::sk_buff, view: *mut View);
    fn ripsec_shim_skb_make_writable(
        skb: *mut raw::sk_buff,
        checksum: bool,
        view: *mut View,
    ) -> c_int;
    fn ripsec_shim_skb_grow(
        skb: *mut raw::sk_buff,
        keep: c_uint,
        head: c_uint,
        tail: c_uint,
        push: c_uint,
        put: c_uint,
        view: *mut View,
    ) -> c_int;
    fn ripsec_shim_skb_len(skb: *const raw::sk_buff) -> c_uint;
    fn ripsec_shim_skb_gso_segment(skb: *mut raw::sk_buff) -> *mut raw::sk_buff;
    fn ripsec_shim_skb_next(skb: *mut raw::sk_buff) -> *mut raw::sk_buff;
    fn ripsec_shim_skb_push(skb: *mut raw::sk_buff, len: c_uint, view: *mut View) -> c_int;
    fn ripsec_shim_skb_keep(
        skb: *mut raw::sk_buff,
        from: c_uint,
        len: c_uint,
        view: *mut View,
    ) -> c_int;
    fn ripsec_shim_kfree_skb(skb: *mut raw::sk_buff);
    fn ripsec_shim_output4(
        net: *mut raw::net,
        skb: *mut raw::sk_buff,
        saddr: *const u8,
        daddr: *const u8,
        ignore_df: bool,
        keep_ident: bool,
        cache: *mut raw::dst_cache,
    ) -> c_int;
    fn ripsec_shim_ip_select_ident(net: *mut raw::net, skb: *mut raw::sk_buff, ignore_df: bool);
    fn ripsec_shim_output6(
        net: *mut raw::net,
        skb: *mut raw::sk_buff,
        saddr: *const u8,
        daddr: *const u8,
        ignore_df: bool,
        cache: *mut raw::dst_cache,
    ) -> c_int;
    fn ripsec_shim_dst_cache_new() -> *mut raw::dst_cache;
    fn ripsec_shim_dst_cache_free(c: *mut raw::dst_cache);
    fn ripsec_shim_gro_cells_init() -> c_int;
    fn ripsec_shim_gro_cells_destroy();
    fn ripsec_shim_reinject(
        skb: *mut raw::sk_buff,
        ipv6: bool,
        marker: *mut raw::xfrm_state,
        reassembled: bool,
        checksum_ok: bool,
    ) -> c_int;
    fn ripsec_shim_skb_walk_head(
        skb: *mut raw::sk_buff,
        want: c_uint,
        got: *mut c_uint,
        len: *mut c_uint,
        gso: *mut bool,
    ) -> *const u8;
    fn ripsec_shim_skb_out_limits(
        skb: *const raw::sk_buff,
        ipv6: bool,
        dev_mtu: *mut c_uint,
    ) -> bool;
    fn ripsec_shim_defrag(
        net: *mut raw::net,
        skb: *mut raw::sk_buff,
        ipv6: bool,
        queue: u32,
    ) -> c_int;
    fn ripsec_shim_skb_transformed(skb: *const raw::sk_buff) -> bool;
    fn ripsec_shim_skb_in_dev_mtu(skb: *const raw::sk_buff) -> c_uint;
    fn ripsec_shim_icmp_too_big(skb: *mut raw::sk_buff, mtu: u32, ipv6: bool);
}

/// What a hook tells netfilter.
pub(crate) enum Verdict {
    /// Let the packet continue.
    Accept(Skb),
    /// Drop it (netfilter frees it).
    Drop(Skb),
    /// ripsec took it (sent, queued or freed it).
    Stolen,
}

impl Verdict {
    pub(super) const NF_ACCEPT: c_uint = 1;

    /// The netfilter verdict; the packet goes back to netfilter unless stolen.
    pub(super) fn into_nf(self) -> c_uint {
        match self {
            Verdict::Accept(skb) => {
                let _ = skb.into_raw();
                Self::NF_ACCEPT
            }
            Verdict::Drop(skb) => {
                let _ = skb.into_raw();
                0 // NF_DROP
            }
            Verdict::Stolen => 2, // NF_STOLEN
        }
    }
}

/// The linear head of a packet as [`Skb::walk_head`] pulled it, with what a header walk
/// needs besides.
pub(crate) struct WalkHead<'a> {
    /// The first bytes (as many as asked for, or the whole packet if shorter).
    pub(crate) head: &'a [u8],
    /// The packet's length.
    pub(crate) len: usize,
    /// Whether it is a GSO packet (whose IP length fields may be 0 past 64 KiB).
    pub(crate) gso: bool,
}

/// How a decapsulated packet goes back into the stack ([`Skb::reinject`]).
pub(crate) struct Reinjection {
    /// It was reassembled from fragments: it may be fragmented again on its way on.
    pub(crate) reassembled: bool,
    /// Its TCP/UDP checksum counts as verified: transport mode through a NAT, where the
    /// addresses it was computed over changed on the way (RFC 3948 §3.1.2).
    pub(crate) checksum_ok: bool,
}

/// A packet owned by ripsec; freed on drop unless handed on.
///
/// # Invariants
///
/// `ptr` is a valid `sk_buff` that this object owns.
pub(crate) struct Skb {
    ptr: NonNull<raw::sk_buff>,
}

// SAFETY: an owned sk_buff may move between contexts.
unsafe impl Send for Skb {}

impl Skb {
    /// Takes ownership of `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid `sk_buff` whose ownership passes to the returned object.
    pub(super) unsafe fn from_raw(ptr: *mut raw::sk_buff) -> Option<Self> {
        // INVARIANT: guaranteed by the caller.
        NonNull::new(ptr).map(|ptr| Self { ptr })
    }

    /// Gives ownership back (to the netfilter core with a verdict, or to UDP).
    pub(super) fn into_raw(self) -> *mut raw::sk_buff {
        core::mem::ManuallyDrop::new(self).ptr.as_ptr()
    }

    /// Length of the packet.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        // SAFETY: `ptr` is valid (type invariant).
        unsafe { ripsec_shim_skb_len(self.ptr.as_ptr()) as usize }
    }

    /// The first `len` bytes of the packet (all of it if shorter), pulled into the linear
    /// head, to read.
    #[inline]
    pub(crate) fn head(&mut self, len: usize) -> Result<&[u8]> {
        self.walk_head(len).map(|w| w.head)
    }

    /// [`Skb::head`] for a header walk, with what it needs besides in the same call: the
    /// packet's length, and whether it is a GSO packet.
    #[inline]
    pub(crate) fn walk_head(&mut self, want: usize) -> Result<WalkHead<'_>> {
        let want = c_uint::try_from(want).unwrap_or(c_uint::MAX);
        let (mut got, mut len, mut gso): (c_uint, c_uint, bool) = (0, 0, false);
        // SAFETY: `ptr` is owned (type invariant); the shim only pulls bytes into the head,
        // and writes how many (`want`, at most the packet's length) to `got`, the packet's
        // length to `len` and whether it is GSO to `gso`.
        let data = unsafe {
            ripsec_shim_skb_walk_head(self.ptr.as_ptr(), want, &mut got, &mut len, &mut gso)
        };
        if data.is_null() {
            return Err(ENOMEM);
        }
        let got = usize::try_from(got).map_err(|_| EINVAL)?;
        Ok(WalkHead {
            // SAFETY: the shim made `got` bytes at `data` linear. They stay put and unchanged
            // while `self` is borrowed: only `&mut self` methods move or write them. Clones may
            // share them, but the kernel writes shared packet data only after unsharing it.
            head: unsafe { core::slice::from_raw_parts(data, got) },
            len: usize::try_from(len).map_err(|_| EINVAL)?,
            gso,
        })
    }

    /// Makes the packet linear, private and writable; on failure it is freed.
    pub(crate) fn into_writable(self) -> Result<WritableSkb> {
        self.writable(false)
    }

    /// [`Skb::into_writable`], and computes a checksum the stack left to the device, which
    /// will not see the plaintext.
    pub(crate) fn into_writable_to_encrypt(self) -> Result<WritableSkb> {
        self.writable(true)
    }

    fn writable(self, checksum: bool) -> Result<WritableSkb> {
        let mut view = View::EMPTY;
        // SAFETY: `ptr` is owned (type invariant); the shim writes the checksum in place once
        // the packet is private, and writes `view`.
        to_result(unsafe {
            ripsec_shim_skb_make_writable(self.ptr.as_ptr(), checksum, &mut view)
        })?;
        // INVARIANT: the shim linearized the packet, unshared its head and said where its
        // bytes are.
        Ok(WritableSkb { skb: self, view })
    }

    /// Whether the packet (at POST_ROUTING: its IP header linear) is the output of an IPsec
    /// transform (ripsec's or XFRM's).
    #[inline(always)]
    pub(crate) fn transformed(&self) -> bool {
        // SAFETY: `ptr` is valid (type invariant); the shim reads the IP version and the IP
        // control block.
        unsafe { ripsec_shim_skb_transformed(self.ptr.as_ptr()) }
    }

    /// What limits how the packet leaves: whether the stack may fragment it despite DF or
    /// IPv6 (a local datagram whose socket does not insist on path MTU discovery, or one
    /// netfilter reassembled), and the MTU of the device its route leaves through (0 if it
    /// has no route).
    #[inline(always)]
    pub(crate) fn out_limits(&self, ipv6: bool) -> (bool, usize) {
        let mut mtu: c_uint = 0;
        // SAFETY: `ptr` is valid (type invariant); the shim reads the IP control block and
        // the route, and writes only `mtu`.
        let may_fragment = unsafe { ripsec_shim_skb_out_limits(self.ptr.as_ptr(), ipv6, &mut mtu) };
        (may_fragment, mtu as usize)
    }

    /// Splits a GSO packet into segments.
    pub(crate) fn segment(&self) -> Result<SkbList> {
        // SAFETY: `ptr` is valid; the shim returns a list of new skbs or an ERR_PTR.
        let head = from_err_ptr(unsafe { ripsec_shim_skb_gso_segment(self.ptr.as_ptr()) })?;
        Ok(SkbList { next: Some(head) })
    }

    /// MTU of the device the packet arrived on (0 if none).
    pub(crate) fn in_dev_mtu(&self) -> usize {
        // SAFETY: `ptr` is valid (type invariant).
        unsafe { ripsec_shim_skb_in_dev_mtu(self.ptr.as_ptr()) as usize }
    }

    /// Sends the packet's source an ICMP "fragmentation needed" / "packet too big" with `mtu`.
    pub(crate) fn icmp_too_big(&mut self, mtu: usize, ipv6: bool) {
        let mtu = u32::try_from(mtu).unwrap_or(u32::MAX);
        // SAFETY: `ptr` is owned; the shim only reads the packet to build the ICMP error.
        unsafe { ripsec_shim_icmp_too_big(self.ptr.as_ptr(), mtu, ipv6) };
    }

    /// Feeds the (decapsulated) IP packet at the start of the data back into the stack,
    /// marked with `marker` ([`Skb::decrypted`]). `ELOOP`: nested deeper than the kernel's
    /// secpath holds.
    pub(crate) fn reinject(self, ipv6: bool, marker: &Marker, how: Reinjection) -> Result {
        // SAFETY: the shim consumes the skb in every case and takes its own reference on the
        // live marker.
        to_result(unsafe {
            ripsec_shim_reinject(
                self.into_raw(),
                ipv6,
                marker.as_ptr(),
                how.reassembled,
                how.checksum_ok,
            )
        })
    }

    /// For a decrypted IPv4 packet going on to local delivery, marked with `net`'s `marker`:
    /// spares it XFRM's inbound policy check at the socket where that check would pass it
    /// anyway (XFRM has no inbound policy in `net` and accepts by default).
    #[inline(always)]
    pub(crate) fn spare_xfrm_check(&mut self, net: Net<'_>, marker: &Marker) {
        // SAFETY: `ptr` is owned and `net` live; the shim only sets a flag in the IP control
        // block, which holds the IPv4 packet's at LOCAL_IN.
        unsafe {
            ripsec_shim_skb_spare_xfrm_check(net.as_ptr(), self.ptr.as_ptr(), marker.as_ptr())
        };
    }

    /// Whether ripsec decrypted the packet: it carries `marker` (see [`Marker`]).
    #[inline(always)]
    pub(crate) fn decrypted(&self, marker: &Marker) -> bool {
        // SAFETY: `ptr` is valid (type invariant); the marker is only compared.
        unsafe { ripsec_shim_skb_decrypted(self.ptr.as_ptr(), marker.as_ptr()) }
    }
}

/// Where a writable packet's bytes are: the C `struct ripsec_skb_view`, which the shim
/// calls that may move or resize them fill in.
#[repr(C)]
struct View {
    data: *mut u8,
    len: c_uint,
}

impl View {
    const EMPTY: Self = Self {
        data: core::ptr::null_mut(),
        len: 0,
    };
}

/// A packet that is linear and private: the only kind whose bytes may be written.
///
/// # Invariants
///
/// The packet's `len` bytes at `data` are linear, and neither its head nor its data is
/// shared with another skb. `view` holds its current `data` and `len`. Every method keeps
/// it so.
pub(crate) struct WritableSkb {
    skb: Skb,
    view: View,
}

impl core::ops::Deref for WritableSkb {
    type Target = Skb;

    fn deref(&self) -> &Skb {
        &self.skb
    }
}

impl WritableSkb {
    /// Back to a plain packet (to hand on).
    pub(crate) fn into_skb(self) -> Skb {
        self.skb
    }

    #[inline]
    fn ptr(&self) -> *mut raw::sk_buff {
        self.skb.ptr.as_ptr()
    }

    /// Length of the packet (no call: see `view`).
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.view.len as usize
    }

    /// The packet bytes.
    #[inline(always)]
    pub(crate) fn data(&mut self) -> &mut [u8] {
        // SAFETY: `view` says where the packet's bytes are, which are linear and private
        // (type invariant); `&mut self` keeps every other access out while the slice lives.
        unsafe { core::slice::from_raw_parts_mut(self.view.data, self.view.len as usize) }
    }

    /// Keeps the first `keep` bytes, ensures `room` (headroom, tailroom; reallocating the head
    /// keeps the packet linear and private), then prepends `push` bytes and appends `put`
    /// bytes, which that room must hold.
    #[inline(always)]
    pub(crate) fn grow(
        &mut self,
        keep: usize,
        room: (usize, usize),
        push: usize,
        put: usize,
    ) -> Result {
        let keep = c_uint::try_from(keep).map_err(|_| EINVAL)?;
        let h = c_uint::try_from(room.0).map_err(|_| EINVAL)?;
        let t = c_uint::try_from(room.1).map_err(|_| EINVAL)?;
        let push = c_uint::try_from(push).map_err(|_| EINVAL)?;
        let put = c_uint::try_from(put).map_err(|_| EINVAL)?;
        // SAFETY: the packet is owned and linear (type invariant); the shim only shortens it
        // and grows it within the room it made, and refreshes `view`.
        to_result(unsafe {
            ripsec_shim_skb_grow(self.ptr(), keep, h, t, push, put, &mut self.view)
        })
    }

    /// Prepends `n` bytes; fails without enough headroom (see [`WritableSkb::grow`]).
    #[inline(always)]
    pub(crate) fn push(&mut self, n: usize) -> Result {
        if n == 0 {
            return Ok(());
        }
        let n = c_uint::try_from(n).map_err(|_| EINVAL)?;
        // SAFETY: the packet is owned and linear (type invariant); the shim prepends only
        // what the headroom holds, and refreshes `view` if it does.
        to_result(unsafe { ripsec_shim_skb_push(self.ptr(), n, &mut self.view) })
    }

    /// Removes `n` bytes from the front.
    #[inline(always)]
    pub(crate) fn pull(&mut self, n: usize) -> Result {
        match self.len().checked_sub(n) {
            Some(rest) if n != 0 => self.keep(n, rest),
            Some(_) => Ok(()),
            None => Err(EINVAL),
        }
    }

    /// Keeps the `len` bytes at offset `from`: what is in front and behind them goes.
    #[inline(always)]
    pub(crate) fn keep(&mut self, from: usize, len: usize) -> Result {
        let from = c_uint::try_from(from).map_err(|_| EINVAL)?;
        let len = c_uint::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: the packet is owned and linear (type invariant); the shim only removes bytes
        // it has, and refreshes `view` if it does.
        to_result(unsafe { ripsec_shim_skb_keep(self.ptr(), from, len, &mut self.view) })
    }

    /// Queues the fragment at the start of the data in ripsec's reassembly queues `queue`
    /// (one set per SA). `Ok(Some(skb))`: the whole datagram (or a packet the queues did not
    /// take); `Ok(None)`: queued until the datagram is complete.
    pub(crate) fn defrag(mut self, net: Net<'_>, ipv6: bool, queue: u32) -> Result<Option<Skb>> {
        if !self.has_ip_header(ipv6) {
            return Err(EINVAL);
        }
        let skb = self.skb.into_raw();
        // SAFETY: `net` is live; the packet is linear and private with a whole IP header of its
        // family at the start (checked above), which is what the kernel's reassembly reads and
        // rewrites; the shim consumes `skb` unless it returns 0.
        match unsafe { ripsec_shim_defrag(net.as_ptr(), skb, ipv6, queue) } {
            // SAFETY: 0: `skb` is still ours (now the whole datagram).
            0 => Ok(unsafe { Skb::from_raw(skb) }),
            1 => Ok(None),
            err => Err(Error::from_errno(err)),
        }
    }

    /// Gives the IPv4 header at the start of the data its ID, as [`WritableSkb::output`]
    /// would with the same `ignore_df`.
    pub(crate) fn select_ip_ident(&mut self, net: Net<'_>, ignore_df: bool) -> Result {
        if !self.has_ip_header(false) {
            return Err(EINVAL);
        }
        // SAFETY: `net` is live; the packet is linear and private with a whole IPv4 header at
        // the start (checked above), whose ID field the shim sets.
        unsafe { ripsec_shim_ip_select_ident(net.as_ptr(), self.ptr(), ignore_df) };
        Ok(())
    }

    /// Routes (through `route`'s cache) and sends the outer packet at the start of the data.
    /// `ignore_df` lets IP fragment it despite DF; `keep_ident` keeps an IPv4 header's ID.
    #[inline(always)]
    pub(crate) fn output(
        mut self,
        (net, route): (Net<'_>, &RouteCache),
        ipv6: bool,
        src: &[u8; 16],
        dst: &[u8; 16],
        (ignore_df, keep_ident): (bool, bool),
    ) -> Result {
        if !self.has_ip_header(ipv6) {
            return Err(EINVAL);
        }
        let cache = route.get();
        let skb = self.skb.into_raw();
        // SAFETY: `net` is live and the addresses are valid; the packet is linear and private
        // with a whole IP header of its family at the start (checked above), which the stack
        // completes (length, ID, checksum); the shim consumes `skb` in every case. `cache` is
        // NULL or an initialised route cache that `route` keeps alive.
        to_result(unsafe {
            if ipv6 {
                ripsec_shim_output6(
                    net.as_ptr(),
                    skb,
                    src.as_ptr(),
                    dst.as_ptr(),
                    ignore_df,
                    cache,
                )
            } else {
                ripsec_shim_output4(
                    net.as_ptr(),
                    skb,
                    src.as_ptr(),
                    dst.as_ptr(),
                    ignore_df,
                    keep_ident,
                    cache,
                )
            }
        })
    }

    /// Whether the data starts with a whole IPv4 (with its options) or IPv6 header.
    fn has_ip_header(&mut self, ipv6: bool) -> bool {
        let d = self.data();
        match d.first().copied() {
            Some(b) if ipv6 => b >> 4 == 6 && d.len() >= 40,
            Some(b) if b >> 4 == 4 => {
                let ihl = usize::from(b & 0x0f) * 4;
                ihl >= 20 && ihl <= d.len()
            }
            _ => false,
        }
    }

    /// Sends the packet's source an ICMP "packet too big" (see [`Skb::icmp_too_big`]).
    pub(crate) fn icmp_too_big(&mut self, mtu: usize, ipv6: bool) {
        self.skb.icmp_too_big(mtu, ipv6);
        // SAFETY: `ptr` is valid (type invariant); the shim writes `view` (building the ICMP
        // error should leave the packet's bytes where they were, but nothing promises it).
        unsafe { ripsec_shim_skb_view(self.ptr(), &mut self.view) };
    }
}

impl Drop for Skb {
    fn drop(&mut self) {
        // SAFETY: `ptr` is owned (type invariant) and freed once.
        unsafe { ripsec_shim_kfree_skb(self.ptr.as_ptr()) };
    }
}

/// Segments produced by [`Skb::segment`], each owned.
pub(crate) struct SkbList {
    next: Option<NonNull<raw::sk_buff>>,
}

impl Iterator for SkbList {
    type Item = Skb;

    fn next(&mut self) -> Option<Skb> {
        let cur = self.next?;
        // SAFETY: `cur` is a segment we own; the shim detaches it and returns the next one.
        let next = unsafe { ripsec_shim_skb_next(cur.as_ptr()) };
        self.next = NonNull::new(next);
        // INVARIANT: the detached segment is owned by us.
        Some(Skb { ptr: cur })
    }
}

impl Drop for SkbList {
    fn drop(&mut self) {
        for skb in self.by_ref() {
            drop(skb);
        }
    }
}

/// The GRO cells decrypted packets are fed back through (per-CPU NAPI queues, as XFRM has),
/// created at load and destroyed on drop.
pub(crate) struct GroCells(());

impl GroCells {
    /// Creates them.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: no preconditions; `Drop` destroys them.
        kernel::error::to_result(unsafe { ripsec_shim_gro_cells_init() })?;
        Ok(Self(()))
    }
}

impl Drop for GroCells {
    fn drop(&mut self) {
        // SAFETY: `new` created them; the module drops this after its hooks and encapsulation
        // sockets are gone, so nothing reinjects any more.
        unsafe { ripsec_shim_gro_cells_destroy() };
    }
}

/// A cache of one SA's outer route (the kernel's per-CPU `dst_cache`), allocated by the first
/// packet that needs it; freed on drop.
///
/// # Invariants
///
/// The pointer is NULL or a `dst_cache` from `ripsec_shim_dst_cache_new`, owned by this
/// object; once set it never changes.
pub(crate) struct RouteCache(AtomicPtr<raw::dst_cache>);

impl RouteCache {
    /// An empty cache.
    pub(crate) const fn new() -> Self {
        Self(AtomicPtr::new(core::ptr::null_mut()))
    }

    /// The cache, allocating it on first use; NULL (route every packet) if out of memory.
    fn get(&self) -> *mut raw::dst_cache {
        let p = self.0.load(Ordering::Acquire);
        if !p.is_null() {
            return p;
        }
        // SAFETY: no preconditions (allocates atomically).
        let new = unsafe { ripsec_shim_dst_cache_new() };
        if new.is_null() {
            return new;
        }
        let null = core::ptr::null_mut();
        match self
            .0
            .compare_exchange(null, new, Ordering::AcqRel, Ordering::Acquire)
        {
            // INVARIANT: set once, to a cache this object now owns.
            Ok(_) => new,
            Err(theirs) => {
                // SAFETY: another CPU won the race; `new` is ours alone and unused.
                unsafe { ripsec_shim_dst_cache_free(new) };
                theirs
            }
        }
    }
}

impl Drop for RouteCache {
    fn drop(&mut self) {
        let p = *self.0.get_mut();
        if !p.is_null() {
            // SAFETY: owned (type invariant); no packet can use it once the SA is dropped.
            unsafe { ripsec_shim_dst_cache_free(p) };
        }
    }
}
