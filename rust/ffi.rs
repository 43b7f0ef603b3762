// SPDX-License-Identifier: GPL-2.0
//! The one unsafe boundary: declarations of `shim.c` and safe types around them.
//! Nothing outside this file calls `unsafe` code on kernel objects.

use core::{fmt, marker::PhantomData, ptr::NonNull};
use kernel::{error::to_result, prelude::*, sync::Arc};

/// Declares opaque C types: Rust only ever holds pointers to them and passes them to the shim.
macro_rules! opaque {
    ($($name:ident => $c:literal),* $(,)?) => {$(
        #[doc = concat!("The C `", $c, "`, opaque to Rust.")]
        #[repr(C)]
        pub(crate) struct $name {
            _data: [u8; 0],
            _marker: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
        }
    )*};
}

/// Opaque kernel types.
pub(crate) mod raw {
    opaque! {
        net => "struct net",
        genl_info => "struct genl_info",
        sk_buff => "struct sk_buff",
        nlattr => "struct nlattr",
        nf_hook_state => "struct nf_hook_state",
        netlink_callback => "struct netlink_callback",
        xarray => "struct xarray",
        crypto_aead => "struct crypto_aead",
        crypto_ahash => "struct crypto_ahash",
        ripsec_work => "struct ripsec_work",
        xfrm_state => "struct xfrm_state",
    }
}

extern "C" {
    fn ripsec_shim_pernet_register() -> c_int;
    fn ripsec_shim_pernet_unregister();
    fn ripsec_shim_net_state(net: *mut raw::net) -> *mut c_void;
    fn ripsec_shim_net_cookie(net: *mut raw::net) -> u64;
    fn ripsec_shim_defrag_use(net: *mut raw::net) -> c_int;
    fn ripsec_shim_genl_register() -> c_int;
    fn ripsec_shim_genl_unregister();
    fn ripsec_shim_genl_info_net(info: *mut raw::genl_info) -> *mut raw::net;
    fn ripsec_shim_genl_cmd(info: *mut raw::genl_info) -> u8;
    fn ripsec_shim_genl_attr(info: *mut raw::genl_info, ty: c_int) -> *const raw::nlattr;
    fn ripsec_shim_genl_err(info: *mut raw::genl_info, ty: c_int, msg: *const c_char);
    fn ripsec_shim_dump_info(cb: *mut raw::netlink_callback) -> *mut raw::genl_info;
    fn ripsec_shim_dump_args(cb: *mut raw::netlink_callback) -> *mut c_long;
    fn ripsec_shim_dump_net(cb: *mut raw::netlink_callback) -> *mut raw::net;
    fn ripsec_shim_dump_put(
        skb: *mut raw::sk_buff,
        cb: *mut raw::netlink_callback,
        cmd: u8,
    ) -> *mut c_void;
    fn ripsec_shim_dump_end(skb: *mut raw::sk_buff, hdr: *mut c_void);
    fn ripsec_shim_dump_cancel(skb: *mut raw::sk_buff, hdr: *mut c_void);
    fn ripsec_shim_genl_reply_new(
        info: *mut raw::genl_info,
        cmd: u8,
        size: usize,
        hdr: *mut *mut c_void,
    ) -> *mut raw::sk_buff;
    fn ripsec_shim_genl_reply_send(
        skb: *mut raw::sk_buff,
        hdr: *mut c_void,
        info: *mut raw::genl_info,
    ) -> c_int;
    fn ripsec_shim_nlmsg_free(skb: *mut raw::sk_buff);
    fn ripsec_shim_nla_put(
        skb: *mut raw::sk_buff,
        ty: c_int,
        len: c_int,
        data: *const c_void,
    ) -> c_int;
    fn ripsec_shim_nla_put_u64(skb: *mut raw::sk_buff, ty: c_int, value: u64) -> c_int;
    fn ripsec_shim_nla_nest_start(skb: *mut raw::sk_buff, ty: c_int) -> *mut raw::nlattr;
    fn ripsec_shim_nla_nest_end(skb: *mut raw::sk_buff, nest: *mut raw::nlattr);
    fn ripsec_shim_nla_data(nla: *const raw::nlattr) -> *const c_void;
    fn ripsec_shim_nla_len(nla: *const raw::nlattr) -> c_int;
    fn ripsec_shim_xa_new() -> *mut raw::xarray;
    fn ripsec_shim_xa_free(xa: *mut raw::xarray);
    fn ripsec_shim_xa_load(xa: *mut raw::xarray, index: c_ulong) -> *mut c_void;
    fn ripsec_shim_xa_store(
        xa: *mut raw::xarray,
        index: c_ulong,
        entry: *mut c_void,
    ) -> *mut c_void;
    fn ripsec_shim_xa_erase(xa: *mut raw::xarray, index: c_ulong) -> *mut c_void;
    fn ripsec_shim_xa_find(xa: *mut raw::xarray, index: *mut c_ulong) -> *mut c_void;
    fn ripsec_shim_is_err(ptr: *const c_void, err: *mut c_int) -> bool;
    fn ripsec_shim_random_u32() -> u32;
    fn ripsec_shim_seconds() -> u64;
    fn ripsec_shim_memzero(p: *mut c_void, len: usize);
    fn ripsec_shim_aead_alloc(name: *const c_char) -> *mut raw::crypto_aead;
    fn ripsec_shim_aead_setkey(tfm: *mut raw::crypto_aead, key: *const u8, len: c_uint) -> c_int;
    fn ripsec_shim_aead_setauthsize(tfm: *mut raw::crypto_aead, len: c_uint) -> c_int;
    fn ripsec_shim_aead_driver(tfm: *mut raw::crypto_aead) -> *const c_char;
    fn ripsec_shim_aead_free(tfm: *mut raw::crypto_aead);
    fn ripsec_shim_ahash_alloc(name: *const c_char) -> *mut raw::crypto_ahash;
    fn ripsec_shim_ahash_setkey(tfm: *mut raw::crypto_ahash, key: *const u8, len: c_uint) -> c_int;
    fn ripsec_shim_ahash_driver(tfm: *mut raw::crypto_ahash) -> *const c_char;
    fn ripsec_shim_ahash_free(tfm: *mut raw::crypto_ahash);
    fn ripsec_shim_crypto_has_aead(name: *const c_char) -> bool;
    fn ripsec_shim_hook_net(state: *const raw::nf_hook_state) -> *mut raw::net;
    fn ripsec_shim_hook_num(state: *const raw::nf_hook_state) -> u8;
    fn ripsec_shim_event_new(
        net: *mut raw::net,
        cmd: u8,
        size: usize,
        atomic: bool,
        hdr: *mut *mut c_void,
    ) -> *mut raw::sk_buff;
    fn ripsec_shim_event_send(
        net: *mut raw::net,
        skb: *mut raw::sk_buff,
        hdr: *mut c_void,
        atomic: bool,
    ) -> c_int;
    fn ripsec_shim_wq_create() -> c_int;
    fn ripsec_shim_wq_destroy();
    fn ripsec_shim_defer_drop(obj: *mut c_void, drop: unsafe extern "C" fn(*mut c_void)) -> bool;
    fn ripsec_shim_work_new(net: *mut raw::net) -> *mut raw::ripsec_work;
    fn ripsec_shim_work_queue(w: *mut raw::ripsec_work, ms: c_uint, now: bool);
    fn ripsec_shim_work_cancel(w: *mut raw::ripsec_work);
    fn ripsec_shim_work_free(w: *mut raw::ripsec_work);
    fn ripsec_shim_marker_new(net: *mut raw::net) -> *mut raw::xfrm_state;
    fn ripsec_shim_marker_put(x: *mut raw::xfrm_state);
    fn ripsec_shim_skb_decrypted(skb: *const raw::sk_buff, marker: *const raw::xfrm_state) -> bool;
    fn ripsec_shim_aead_crypt(
        tfm: *mut raw::crypto_aead,
        buf: *mut u8,
        len: c_uint,
        assoclen: c_uint,
        cryptlen: c_uint,
        iv: *mut u8,
        encrypt: bool,
    ) -> c_int;
    fn ripsec_shim_random_bytes(buf: *mut u8, len: usize);
    fn ripsec_shim_skb_make_writable(skb: *mut raw::sk_buff) -> c_int;
    fn ripsec_shim_skb_checksum_help(skb: *mut raw::sk_buff) -> c_int;
    fn ripsec_shim_skb_data(skb: *mut raw::sk_buff) -> *mut u8;
    fn ripsec_shim_skb_len(skb: *const raw::sk_buff) -> c_uint;
    fn ripsec_shim_skb_is_gso(skb: *const raw::sk_buff) -> bool;
    fn ripsec_shim_skb_gso_segment(skb: *mut raw::sk_buff) -> *mut raw::sk_buff;
    fn ripsec_shim_skb_next(skb: *mut raw::sk_buff) -> *mut raw::sk_buff;
    fn ripsec_shim_skb_make_room(skb: *mut raw::sk_buff, head: c_uint, tail: c_uint) -> c_int;
    fn ripsec_shim_skb_push(skb: *mut raw::sk_buff, len: c_uint) -> *mut u8;
    fn ripsec_shim_skb_put(skb: *mut raw::sk_buff, len: c_uint) -> *mut u8;
    fn ripsec_shim_skb_pull(skb: *mut raw::sk_buff, len: c_uint);
    fn ripsec_shim_skb_trim(skb: *mut raw::sk_buff, len: c_uint);
    fn ripsec_shim_kfree_skb(skb: *mut raw::sk_buff);
    fn ripsec_shim_output4(
        net: *mut raw::net,
        skb: *mut raw::sk_buff,
        saddr: *const u8,
        daddr: *const u8,
        ignore_df: bool,
    ) -> c_int;
    fn ripsec_shim_output6(
        net: *mut raw::net,
        skb: *mut raw::sk_buff,
        saddr: *const u8,
        daddr: *const u8,
        ignore_df: bool,
    ) -> c_int;
    fn ripsec_shim_reinject(
        skb: *mut raw::sk_buff,
        ipv6: bool,
        marker: *mut raw::xfrm_state,
        reassembled: bool,
    ) -> c_int;
    fn ripsec_shim_skb_headroom(skb: *const raw::sk_buff) -> c_uint;
    fn ripsec_shim_skb_tailroom(skb: *const raw::sk_buff) -> c_uint;
    fn ripsec_shim_skb_header(skb: *mut raw::sk_buff, len: c_uint) -> *const u8;
    fn ripsec_shim_skb_ignore_df(skb: *const raw::sk_buff) -> bool;
    fn ripsec_shim_skb_frag_max_size(skb: *const raw::sk_buff, ipv6: bool) -> c_uint;
    fn ripsec_shim_defrag(net: *mut raw::net, skb: *mut raw::sk_buff, ipv6: bool) -> c_int;
    fn ripsec_shim_skb_dev_mtu(skb: *const raw::sk_buff) -> c_uint;
    fn ripsec_shim_icmp_too_big(skb: *mut raw::sk_buff, mtu: u32, ipv6: bool);
    fn ripsec_shim_crypto_has_ahash(name: *const c_char) -> bool;
}

/// A NUL-terminated copy of a short string, for C calls.
struct CString128([u8; 128]);

impl CString128 {
    fn new(s: &str) -> Result<Self> {
        let mut buf = [0u8; 128];
        let b = s.as_bytes();
        if b.len() >= buf.len() || b.contains(&0) {
            return Err(EINVAL);
        }
        buf[..b.len()].copy_from_slice(b);
        Ok(Self(buf))
    }

    fn as_ptr(&self) -> *const c_char {
        self.0.as_ptr().cast()
    }
}

/// Converts an `ERR_PTR`-or-pointer into a `Result`.
fn from_err_ptr<T>(ptr: *mut T) -> Result<NonNull<T>> {
    let mut err: c_int = 0;
    // SAFETY: the shim only inspects the pointer value.
    if unsafe { ripsec_shim_is_err(ptr.cast_const().cast(), &mut err) } {
        return Err(Error::from_errno(err));
    }
    NonNull::new(ptr).ok_or(ENOMEM)
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

/// The registered generic netlink family; unregistered on drop.
pub(crate) struct GenlRegistration(());

impl GenlRegistration {
    /// Registers the `ripsec` family.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: registers a static `genl_family` whose ops are valid for the module's
        // lifetime; `Drop` unregisters it.
        to_result(unsafe { ripsec_shim_genl_register() })?;
        Ok(Self(()))
    }
}

impl Drop for GenlRegistration {
    fn drop(&mut self) {
        // SAFETY: `new` registered the family, and this runs once.
        unsafe { ripsec_shim_genl_unregister() };
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
    pub(crate) unsafe fn from_raw(ptr: *mut raw::net) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            ptr,
            _p: PhantomData,
        }
    }

    /// The pointer stored in this netns's ripsec slot (set by pernet init).
    pub(crate) fn state_ptr(&self) -> *mut c_void {
        // SAFETY: `ptr` is a live netns (type invariant) and the pernet id is registered.
        unsafe { ripsec_shim_net_state(self.ptr) }
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
}

/// A netlink attribute borrowed from a request.
///
/// # Invariants
///
/// `ptr` points to a policy-validated attribute inside a request that lives for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct Attr<'a> {
    ptr: *const raw::nlattr,
    _p: PhantomData<&'a raw::nlattr>,
}

impl<'a> Attr<'a> {
    /// The attribute's payload.
    pub(crate) fn data(&self) -> &'a [u8] {
        // SAFETY: `ptr` is a valid attribute (type invariant); its payload is `nla_len` bytes
        // starting at `nla_data`, inside the request that lives for `'a`.
        unsafe {
            let len = ripsec_shim_nla_len(self.ptr);
            let data = ripsec_shim_nla_data(self.ptr).cast::<u8>();
            core::slice::from_raw_parts(data, usize::try_from(len).unwrap_or(0))
        }
    }
}

/// Formats an extack message into a fixed buffer (the kernel keeps 80 bytes of it).
struct MsgBuf {
    buf: [u8; 80],
    len: usize,
}

impl fmt::Write for MsgBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len + 1 >= self.buf.len() {
                break;
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

/// A generic netlink request being served by a `doit` handler, or the request of a dump.
///
/// # Invariants
///
/// `ptr` points to the `genl_info` of a request that is being served for `'a`; its attributes
/// were validated against the family policy.
pub(crate) struct GenlInfo<'a> {
    ptr: *mut raw::genl_info,
    _p: PhantomData<&'a mut raw::genl_info>,
}

impl<'a> GenlInfo<'a> {
    /// # Safety
    ///
    /// `ptr` must be the `genl_info` passed to a `doit` handler that runs for `'a`.
    pub(crate) unsafe fn from_raw(ptr: *mut raw::genl_info) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            ptr,
            _p: PhantomData,
        }
    }

    /// The netns the request was sent in.
    pub(crate) fn net(&self) -> Net<'a> {
        // SAFETY: `ptr` is a live `genl_info` (type invariant).
        let net = unsafe { ripsec_shim_genl_info_net(self.ptr) };
        // SAFETY: the request holds a reference on its netns while it is served, and the
        // family is only registered after pernet init ran for every netns.
        unsafe { Net::from_raw(net) }
    }

    /// The request's command.
    pub(crate) fn cmd(&self) -> u8 {
        // SAFETY: `ptr` is a live `genl_info` (type invariant).
        unsafe { ripsec_shim_genl_cmd(self.ptr) }
    }

    /// The request's attribute `ty`, if present.
    pub(crate) fn attr(&self, ty: u16) -> Option<Attr<'a>> {
        if ty == 0 || ty > crate::uapi::attr::MAX {
            return None;
        }
        // SAFETY: `ptr` is live and `ty` is within the family's maxattr, so `attrs[ty]` exists.
        let ptr = unsafe { ripsec_shim_genl_attr(self.ptr, c_int::from(ty)) };
        if ptr.is_null() {
            return None;
        }
        // INVARIANT: the attribute lies in the request, validated by the genl core.
        Some(Attr {
            ptr,
            _p: PhantomData,
        })
    }

    /// Reports a message through extack, pointing at attribute `ty` (0: none), and returns
    /// `err`. The message is truncated to the 79 characters netlink keeps.
    pub(crate) fn fail(&self, err: Error, ty: u16, msg: fmt::Arguments<'_>) -> Error {
        let mut m = MsgBuf {
            buf: [0; 80],
            len: 0,
        };
        let _ = fmt::Write::write_fmt(&mut m, msg);
        // SAFETY: `ptr` is live; `m.buf` is NUL-terminated (`len` < 80) and the shim copies it.
        unsafe { ripsec_shim_genl_err(self.ptr, c_int::from(ty), m.buf.as_ptr().cast()) };
        err
    }

    /// Starts a reply to this request.
    pub(crate) fn reply(&self, cmd: u8, size: usize) -> Result<Reply<'_, 'a>> {
        let mut hdr = core::ptr::null_mut();
        // SAFETY: `ptr` is live; `hdr` is a valid out-pointer.
        let skb = unsafe { ripsec_shim_genl_reply_new(self.ptr, cmd, size, &mut hdr) };
        if skb.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: the shim returned an owned message with a genl header at `hdr`.
        Ok(Reply {
            msg: MsgWriter { skb },
            hdr,
            info: self,
        })
    }
}

/// Appends attributes to a netlink message.
///
/// # Invariants
///
/// `skb` is a netlink message under construction that the holder may append to.
pub(crate) struct MsgWriter {
    skb: *mut raw::sk_buff,
}

impl MsgWriter {
    /// Appends an attribute with a raw payload.
    pub(crate) fn put(&mut self, ty: u16, data: &[u8]) -> Result {
        let len = c_int::try_from(data.len()).map_err(|_| EMSGSIZE)?;
        // SAFETY: `skb` is writable (type invariant); `data` is valid for `len` bytes.
        to_result(unsafe {
            ripsec_shim_nla_put(self.skb, c_int::from(ty), len, data.as_ptr().cast())
        })
    }

    /// Appends a u8 attribute.
    pub(crate) fn put_u8(&mut self, ty: u16, v: u8) -> Result {
        self.put(ty, &[v])
    }

    /// Appends a u16 attribute (host order, as netlink's NLA_U16).
    pub(crate) fn put_u16(&mut self, ty: u16, v: u16) -> Result {
        self.put(ty, &v.to_ne_bytes())
    }

    /// Appends a u32 attribute.
    pub(crate) fn put_u32(&mut self, ty: u16, v: u32) -> Result {
        self.put(ty, &v.to_ne_bytes())
    }

    /// Appends a u64 attribute, padded to 8-byte alignment.
    pub(crate) fn put_u64(&mut self, ty: u16, v: u64) -> Result {
        // SAFETY: `skb` is writable (type invariant).
        to_result(unsafe { ripsec_shim_nla_put_u64(self.skb, c_int::from(ty), v) })
    }

    /// Appends a NUL-terminated string attribute.
    pub(crate) fn put_str(&mut self, ty: u16, s: &str) -> Result {
        let c = CString128::new(s)?;
        self.put(ty, &c.0[..=s.len()])
    }

    /// Appends a flag attribute.
    pub(crate) fn put_flag(&mut self, ty: u16) -> Result {
        self.put(ty, &[])
    }

    /// Appends a nest holding what `f` writes.
    pub(crate) fn nest(&mut self, ty: u16, f: impl FnOnce(&mut Self) -> Result) -> Result {
        // SAFETY: `skb` is writable (type invariant).
        let nest = unsafe { ripsec_shim_nla_nest_start(self.skb, c_int::from(ty)) };
        if nest.is_null() {
            return Err(EMSGSIZE);
        }
        f(self)?;
        // SAFETY: `nest` was started in this `skb` and everything after it belongs to it.
        unsafe { ripsec_shim_nla_nest_end(self.skb, nest) };
        Ok(())
    }
}

/// A reply message being built; freed on drop unless sent.
///
/// # Invariants
///
/// `msg.skb` is an owned netlink message whose generic netlink header is at `hdr`.
pub(crate) struct Reply<'i, 'a> {
    msg: MsgWriter,
    hdr: *mut c_void,
    info: &'i GenlInfo<'a>,
}

impl core::ops::Deref for Reply<'_, '_> {
    type Target = MsgWriter;
    fn deref(&self) -> &MsgWriter {
        &self.msg
    }
}

impl core::ops::DerefMut for Reply<'_, '_> {
    fn deref_mut(&mut self) -> &mut MsgWriter {
        &mut self.msg
    }
}

impl Reply<'_, '_> {
    /// Sends the reply to the requester.
    pub(crate) fn send(self) -> Result {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `skb` is owned and `hdr` is its header (type invariant); ownership passes
        // to the netlink core, so `Drop` must not run (hence `ManuallyDrop`).
        to_result(unsafe { ripsec_shim_genl_reply_send(this.msg.skb, this.hdr, this.info.ptr) })
    }
}

impl Drop for Reply<'_, '_> {
    fn drop(&mut self) {
        // SAFETY: `skb` is owned and was not sent (type invariant; `send` skips drop).
        unsafe { ripsec_shim_nlmsg_free(self.msg.skb) };
    }
}

/// One round of a dump: fills `skb` with as many entries as fit.
///
/// # Invariants
///
/// `skb` and `cb` are the arguments of a `dumpit` callback running for `'a`.
pub(crate) struct Dump<'a> {
    skb: *mut raw::sk_buff,
    cb: *mut raw::netlink_callback,
    _p: PhantomData<&'a mut raw::netlink_callback>,
}

impl<'a> Dump<'a> {
    /// # Safety
    ///
    /// `skb` and `cb` must be the arguments of a `dumpit` callback that runs for `'a`.
    pub(crate) unsafe fn from_raw(skb: *mut raw::sk_buff, cb: *mut raw::netlink_callback) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            skb,
            cb,
            _p: PhantomData,
        }
    }

    /// The dump request (its command and attributes).
    pub(crate) fn info(&self) -> GenlInfo<'a> {
        // SAFETY: `cb` is live; for a genl dump, `genl_info_dump(cb)` is valid for the dump.
        let info = unsafe { ripsec_shim_dump_info(self.cb) };
        // SAFETY: as above; the info lives as long as the dump callback.
        unsafe { GenlInfo::from_raw(info) }
    }

    /// The netns of the dumping socket.
    pub(crate) fn net(&self) -> Net<'a> {
        // SAFETY: `cb` is live (type invariant).
        let net = unsafe { ripsec_shim_dump_net(self.cb) };
        // SAFETY: the socket holds its netns alive during the dump; the family is registered
        // after pernet init.
        unsafe { Net::from_raw(net) }
    }

    /// The dump's cursor, kept across rounds.
    pub(crate) fn cursor(&mut self) -> &mut [c_long; 6] {
        // SAFETY: `cb->args` is an array of 6 longs owned by the callback state, which this
        // `Dump` borrows mutably for `'a`.
        unsafe { &mut *ripsec_shim_dump_args(self.cb).cast::<[c_long; 6]>() }
    }

    /// Appends one entry written by `f`. Returns `Ok(false)` when the buffer is full: the
    /// entry was rolled back and the dump continues in the next round.
    pub(crate) fn entry(
        &mut self,
        cmd: u8,
        f: impl FnOnce(&mut MsgWriter) -> Result,
    ) -> Result<bool> {
        // SAFETY: `skb` and `cb` are live (type invariant).
        let hdr = unsafe { ripsec_shim_dump_put(self.skb, self.cb, cmd) };
        if hdr.is_null() {
            return Ok(false);
        }
        let mut w = MsgWriter { skb: self.skb };
        match f(&mut w) {
            Ok(()) => {
                // SAFETY: `hdr` was put in `skb` above.
                unsafe { ripsec_shim_dump_end(self.skb, hdr) };
                Ok(true)
            }
            Err(e) if e == EMSGSIZE => {
                // SAFETY: `hdr` was put in `skb` above; cancelling trims what followed it.
                unsafe { ripsec_shim_dump_cancel(self.skb, hdr) };
                Ok(false)
            }
            Err(e) => {
                // SAFETY: as above.
                unsafe { ripsec_shim_dump_cancel(self.skb, hdr) };
                Err(e)
            }
        }
    }
}

/// A `u32` key as an xarray index (lossless: `unsigned long` is 64-bit here).
fn xa_index(i: u32) -> c_ulong {
    i as c_ulong
}

/// An entry unlinked from an [`ArcXArray`]: lock-free readers may still hold its pointer,
/// so it is only released after an RCU grace period, from a work item (so dropping it may
/// sleep), without making the writer wait.
pub(crate) struct Retired<T: Send + Sync>(Option<Arc<T>>);

/// Drops an `Arc<T>` passed through [`ripsec_shim_defer_drop`].
///
/// # Safety
///
/// `obj` must come from `Arc::<T>::into_raw`, and its reference is consumed.
unsafe extern "C" fn drop_arc<T: Send + Sync>(obj: *mut c_void) {
    // SAFETY: guaranteed by the caller.
    drop(unsafe { Arc::<T>::from_raw(obj.cast::<T>()) });
}

impl<T: Send + Sync> Retired<T> {
    /// Releases a batch of entries after a grace period.
    pub(crate) fn release_all(batch: KVec<Retired<T>>) {
        drop(batch);
    }
}

impl<T: Send + Sync> Drop for Retired<T> {
    fn drop(&mut self) {
        let Some(arc) = self.0.take() else {
            return;
        };
        let raw = Arc::into_raw(arc).cast_mut().cast::<c_void>();
        // SAFETY: `raw` is an `Arc<T>` reference that `drop_arc::<T>` consumes; the module's
        // workqueue is drained (after an RCU barrier) before the module goes away.
        if !unsafe { ripsec_shim_defer_drop(raw, drop_arc::<T>) } {
            // Out of memory: wait for the grace period here instead.
            kernel::sync::rcu::synchronize_rcu();
            // SAFETY: the deferral did not take `raw`, so it is still ours.
            unsafe { drop_arc::<T>(raw) };
        }
    }
}

/// The module's workqueue for deferred drops; drained and freed on drop.
pub(crate) struct DeferredDrops(());

impl DeferredDrops {
    /// Creates the workqueue.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: no preconditions; `Drop` frees it.
        to_result(unsafe { ripsec_shim_wq_create() })?;
        Ok(Self(()))
    }
}

impl Drop for DeferredDrops {
    fn drop(&mut self) {
        // SAFETY: `new` created it; everything that defers drops is gone by now (the module
        // drops this after the pernet and genl registrations).
        unsafe { ripsec_shim_wq_destroy() };
    }
}

/// An xarray of `Arc<T>` indexed by `u32`. Lookups are lock-free (RCU); writers must be
/// serialised by the owner (ripsec uses the netns config mutex) for read-modify-write updates.
///
/// # Invariants
///
/// `xa` is an initialised xarray owned by this object; every entry is a pointer obtained from
/// `Arc::<T>::into_raw`, owning one reference. An unlinked entry's reference is dropped only
/// after an RCU grace period ([`Retired`]), or when the array itself is dropped.
pub(crate) struct ArcXArray<T: Send + Sync> {
    xa: NonNull<raw::xarray>,
    _p: PhantomData<Arc<T>>,
}

// SAFETY: the xarray has its own lock for writers and RCU for readers; `T` is `Send + Sync`.
unsafe impl<T: Send + Sync> Send for ArcXArray<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for ArcXArray<T> {}

impl<T: Send + Sync> ArcXArray<T> {
    /// An empty array.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: allocates and initialises an xarray, or returns NULL.
        let xa = NonNull::new(unsafe { ripsec_shim_xa_new() }).ok_or(ENOMEM)?;
        // INVARIANT: freshly initialised and empty.
        Ok(Self {
            xa,
            _p: PhantomData,
        })
    }

    /// Takes a new reference on an entry loaded under `_rcu`.
    fn upgrade(p: *mut c_void, _rcu: &kernel::sync::rcu::Guard) -> Arc<T> {
        // SAFETY: `p` came from `Arc::into_raw`; unlinked entries are released only after a
        // grace period, and `_rcu` keeps this read-side critical section open, so the
        // reference the array owns is still alive here.
        let borrowed = unsafe { kernel::sync::ArcBorrow::<T>::from_raw(p.cast()) };
        borrowed.into()
    }

    /// The entry at `index`, with a new reference. Lock-free.
    pub(crate) fn get(&self, index: u32) -> Option<Arc<T>> {
        let rcu = kernel::sync::rcu::read_lock();
        // SAFETY: `xa` is live (type invariant).
        let p = unsafe { ripsec_shim_xa_load(self.xa.as_ptr(), xa_index(index)) };
        (!p.is_null()).then(|| Self::upgrade(p, &rcu))
    }

    /// Stores `value` at `index`, returning the previous entry.
    pub(crate) fn store(&self, index: u32, value: Arc<T>) -> Result<Option<Retired<T>>> {
        let raw = Arc::into_raw(value).cast_mut().cast::<c_void>();
        // SAFETY: `xa` is live; `raw` is an `Arc` pointer, aligned as entries must be.
        let old = unsafe { ripsec_shim_xa_store(self.xa.as_ptr(), xa_index(index), raw) };
        if old.is_null() {
            return Ok(None);
        }
        match from_err_ptr(old) {
            // SAFETY: the old entry came from `Arc::into_raw`; its reference moves to us.
            Ok(p) => Ok(Some(Retired(Some(unsafe {
                Arc::from_raw(p.as_ptr().cast::<T>())
            })))),
            Err(e) => {
                // SAFETY: the store failed, so `raw` was not consumed; take it back.
                drop(unsafe { Arc::from_raw(raw.cast::<T>()) });
                Err(e)
            }
        }
    }

    /// Removes the entry at `index`.
    pub(crate) fn remove(&self, index: u32) -> Option<Retired<T>> {
        // SAFETY: `xa` is live (type invariant).
        let p = unsafe { ripsec_shim_xa_erase(self.xa.as_ptr(), xa_index(index)) };
        // SAFETY: a non-NULL entry came from `Arc::into_raw`; its reference moves to us.
        NonNull::new(p).map(|p| Retired(Some(unsafe { Arc::from_raw(p.as_ptr().cast::<T>()) })))
    }

    /// The first entry at an index >= `*index`, updating `*index` to its position.
    pub(crate) fn find_from(&self, index: &mut u32) -> Option<Arc<T>> {
        let rcu = kernel::sync::rcu::read_lock();
        let mut i = xa_index(*index);
        // SAFETY: `xa` is live; `i` is a valid in/out index.
        let p = unsafe { ripsec_shim_xa_find(self.xa.as_ptr(), &mut i) };
        if p.is_null() {
            return None;
        }
        *index = u32::try_from(i).ok()?;
        Some(Self::upgrade(p, &rcu))
    }
}

impl<T: Send + Sync> Drop for ArcXArray<T> {
    fn drop(&mut self) {
        // No reader can reach the array any more (`&mut self`): release entries directly.
        let mut index = 0u32;
        while self.find_from(&mut index).is_some() {
            if let Some(mut r) = self.remove(index) {
                r.0 = None;
            }
        }
        // SAFETY: `xa` is live and now empty; nothing uses it after this.
        unsafe { ripsec_shim_xa_free(self.xa.as_ptr()) };
    }
}

/// An AEAD transform of the kernel crypto API.
///
/// # Invariants
///
/// `tfm` is an allocated transform owned by this object.
pub(crate) struct Aead {
    tfm: NonNull<raw::crypto_aead>,
    icv_len: u8,
}

// SAFETY: crypto transforms may be used from any context once keyed.
unsafe impl Send for Aead {}
// SAFETY: as above; keying takes `&mut self`.
unsafe impl Sync for Aead {}

impl Aead {
    /// Allocates the transform for template `name`.
    pub(crate) fn new(name: &str) -> Result<Self> {
        let c = CString128::new(name)?;
        // SAFETY: `c` is NUL-terminated; the shim returns a transform or an ERR_PTR.
        let tfm = from_err_ptr(unsafe { ripsec_shim_aead_alloc(c.as_ptr()) })?;
        Ok(Self { tfm, icv_len: 0 })
    }

    /// Sets the key.
    pub(crate) fn set_key(&mut self, key: &[u8]) -> Result {
        let len = c_uint::try_from(key.len()).map_err(|_| EINVAL)?;
        // SAFETY: `tfm` is live (type invariant); `key` is valid for `len` bytes.
        to_result(unsafe { ripsec_shim_aead_setkey(self.tfm.as_ptr(), key.as_ptr(), len) })
    }

    /// The implementation the crypto API picked (e.g. `generic-gcm-aesni`).
    pub(crate) fn driver(&self) -> &str {
        // SAFETY: `tfm` is live; the driver name is a NUL-terminated string owned by the
        // algorithm, which outlives the transform and so `&self`.
        let name = unsafe { CStr::from_char_ptr(ripsec_shim_aead_driver(self.tfm.as_ptr())) };
        name.to_str().unwrap_or("?")
    }

    /// Encrypts or decrypts `buf` in place: `assoclen` bytes of associated data, then
    /// `cryptlen` bytes (plaintext; or ciphertext plus ICV). `iv` may be modified.
    pub(crate) fn crypt(
        &self,
        buf: &mut [u8],
        assoclen: usize,
        cryptlen: usize,
        iv: &mut [u8],
        encrypt: bool,
    ) -> Result {
        let len = c_uint::try_from(buf.len()).map_err(|_| EINVAL)?;
        let assoc = c_uint::try_from(assoclen).map_err(|_| EINVAL)?;
        let crypt = c_uint::try_from(cryptlen).map_err(|_| EINVAL)?;
        let tail = if encrypt {
            usize::from(self.icv_len)
        } else {
            0
        };
        if assoclen + cryptlen + tail != buf.len() {
            return Err(EINVAL);
        }
        // SAFETY: `tfm` is live and synchronous (allocated with the ASYNC mask), so the request
        // completes before the call returns; `buf` and `iv` are valid for the call.
        to_result(unsafe {
            ripsec_shim_aead_crypt(
                self.tfm.as_ptr(),
                buf.as_mut_ptr(),
                len,
                assoc,
                crypt,
                iv.as_mut_ptr(),
                encrypt,
            )
        })
    }

    /// Sets the ICV length.
    pub(crate) fn set_auth_size(&mut self, len: u8) -> Result {
        // SAFETY: `tfm` is live (type invariant).
        to_result(unsafe { ripsec_shim_aead_setauthsize(self.tfm.as_ptr(), c_uint::from(len)) })?;
        self.icv_len = len;
        Ok(())
    }
}

impl Drop for Aead {
    fn drop(&mut self) {
        // SAFETY: `tfm` is owned (type invariant) and freed once.
        unsafe { ripsec_shim_aead_free(self.tfm.as_ptr()) };
    }
}

/// A keyed hash (HMAC) transform, for AH.
///
/// # Invariants
///
/// `tfm` is an allocated transform owned by this object.
pub(crate) struct Ahash {
    tfm: NonNull<raw::crypto_ahash>,
}

// SAFETY: crypto transforms may be used from any context once keyed.
unsafe impl Send for Ahash {}
// SAFETY: as above; keying takes `&mut self`.
unsafe impl Sync for Ahash {}

impl Ahash {
    /// Allocates the transform for template `name`.
    pub(crate) fn new(name: &str) -> Result<Self> {
        let c = CString128::new(name)?;
        // SAFETY: `c` is NUL-terminated; the shim returns a transform or an ERR_PTR.
        let tfm = from_err_ptr(unsafe { ripsec_shim_ahash_alloc(c.as_ptr()) })?;
        Ok(Self { tfm })
    }

    /// Sets the key.
    pub(crate) fn set_key(&mut self, key: &[u8]) -> Result {
        let len = c_uint::try_from(key.len()).map_err(|_| EINVAL)?;
        // SAFETY: `tfm` is live (type invariant); `key` is valid for `len` bytes.
        to_result(unsafe { ripsec_shim_ahash_setkey(self.tfm.as_ptr(), key.as_ptr(), len) })
    }
}

impl Ahash {
    /// The implementation the crypto API picked.
    pub(crate) fn driver(&self) -> &str {
        // SAFETY: as in `Aead::driver`.
        let name = unsafe { CStr::from_char_ptr(ripsec_shim_ahash_driver(self.tfm.as_ptr())) };
        name.to_str().unwrap_or("?")
    }
}

impl Drop for Ahash {
    fn drop(&mut self) {
        // SAFETY: `tfm` is owned (type invariant) and freed once.
        unsafe { ripsec_shim_ahash_free(self.tfm.as_ptr()) };
    }
}

/// Whether the running kernel's crypto API can instantiate `name`.
pub(crate) fn crypto_available(name: &str, ahash: bool) -> bool {
    let Ok(c) = CString128::new(name) else {
        return false;
    };
    // SAFETY: `c` is a NUL-terminated string valid for the call.
    unsafe {
        if ahash {
            ripsec_shim_crypto_has_ahash(c.as_ptr())
        } else {
            ripsec_shim_crypto_has_aead(c.as_ptr())
        }
    }
}

/// A uniformly random u32.
pub(crate) fn random_u32() -> u32 {
    // SAFETY: no preconditions.
    unsafe { ripsec_shim_random_u32() }
}

/// Monotonic seconds since boot.
pub(crate) fn seconds() -> u64 {
    // SAFETY: no preconditions.
    unsafe { ripsec_shim_seconds() }
}

/// Overwrites `buf` with zeros in a way the compiler cannot elide.
pub(crate) fn memzero(buf: &mut [u8]) {
    // SAFETY: `buf` is valid for writes of its length.
    unsafe { ripsec_shim_memzero(buf.as_mut_ptr().cast(), buf.len()) };
}

/// Fills `buf` with random bytes.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    // SAFETY: `buf` is valid for writes of its length.
    unsafe { ripsec_shim_random_bytes(buf.as_mut_ptr(), buf.len()) };
}

/// The netns a netfilter hook runs in.
///
/// # Safety
///
/// `state` must be the hook state of a running netfilter hook of ripsec's.
pub(crate) unsafe fn hook_net<'a>(state: *const raw::nf_hook_state) -> Net<'a> {
    // SAFETY: the caller passes a live hook state.
    let net = unsafe { ripsec_shim_hook_net(state) };
    // SAFETY: hooks are registered after pernet init and unregistered before exit.
    unsafe { Net::from_raw(net) }
}

/// The netfilter hook (`NF_INET_*`) that is running.
///
/// # Safety
///
/// `state` must be the hook state of a running netfilter hook.
pub(crate) unsafe fn hook_num(state: *const raw::nf_hook_state) -> u8 {
    // SAFETY: the caller passes a live hook state.
    unsafe { ripsec_shim_hook_num(state) }
}

/// An event for the events multicast group, being built; freed on drop unless sent.
///
/// # Invariants
///
/// `msg.skb` is an owned netlink message whose generic netlink header is at `hdr`, and
/// `net` is live for `'a`.
pub(crate) struct Event<'a> {
    msg: MsgWriter,
    hdr: *mut c_void,
    net: Net<'a>,
    atomic: bool,
}

impl<'a> Event<'a> {
    /// Starts event `cmd` in `net`; `None` when nobody listens (or memory is short).
    /// `atomic`: called where sleeping is not allowed (the data path).
    pub(crate) fn new(net: Net<'a>, cmd: u8, size: usize, atomic: bool) -> Option<Self> {
        let mut hdr = core::ptr::null_mut();
        // SAFETY: `net` is live (its invariant); `hdr` is a valid out-pointer.
        let skb = unsafe { ripsec_shim_event_new(net.ptr, cmd, size, atomic, &mut hdr) };
        if skb.is_null() {
            return None;
        }
        // INVARIANT: the shim returned an owned message with a genl header at `hdr`.
        Some(Self {
            msg: MsgWriter { skb },
            hdr,
            net,
            atomic,
        })
    }

    /// Multicasts the event; an error means nobody received it.
    pub(crate) fn send(self) -> Result {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `skb` is owned and `hdr` is its header (type invariant); the shim consumes
        // it, so `Drop` must not run.
        to_result(unsafe {
            ripsec_shim_event_send(this.net.ptr, this.msg.skb, this.hdr, this.atomic)
        })
    }
}

impl core::ops::Deref for Event<'_> {
    type Target = MsgWriter;
    fn deref(&self) -> &MsgWriter {
        &self.msg
    }
}

impl core::ops::DerefMut for Event<'_> {
    fn deref_mut(&mut self) -> &mut MsgWriter {
        &mut self.msg
    }
}

impl Drop for Event<'_> {
    fn drop(&mut self) {
        // SAFETY: `skb` is owned and was not sent (type invariant; `send` skips drop).
        unsafe { ripsec_shim_nlmsg_free(self.msg.skb) };
    }
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
    /// Work for `net`.
    ///
    /// # Safety
    ///
    /// `net` must outlive the returned object, and be past ripsec's pernet init by the time
    /// the work is first queued.
    pub(crate) unsafe fn new(net: *mut raw::net) -> Result<Self> {
        // SAFETY: allocates and initialises a work item; no other precondition.
        let ptr = unsafe { ripsec_shim_work_new(net) };
        // INVARIANT: the caller guarantees the netns outlives it.
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
    /// A marker for `net`.
    pub(crate) fn new(net: *mut raw::net) -> Result<Self> {
        // SAFETY: allocates a state referring to `net`; it is never installed, so XFRM never
        // dereferences `net` through it.
        let ptr = unsafe { ripsec_shim_marker_new(net) };
        // INVARIANT: the shim returned a dead state with one reference, ours.
        Ok(Self {
            ptr: NonNull::new(ptr).ok_or(ENOMEM)?,
        })
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        // SAFETY: drops our reference (type invariant); packets still marked hold their own.
        unsafe { ripsec_shim_marker_put(self.ptr.as_ptr()) };
    }
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
    pub(crate) unsafe fn from_raw(ptr: *mut raw::sk_buff) -> Option<Self> {
        // INVARIANT: guaranteed by the caller.
        NonNull::new(ptr).map(|ptr| Self { ptr })
    }

    /// Gives ownership back (to the netfilter core, with a verdict).
    pub(crate) fn into_raw(self) -> *mut raw::sk_buff {
        core::mem::ManuallyDrop::new(self).ptr.as_ptr()
    }

    /// Length of the packet.
    pub(crate) fn len(&self) -> usize {
        // SAFETY: `ptr` is valid (type invariant).
        unsafe { ripsec_shim_skb_len(self.ptr.as_ptr()) as usize }
    }

    /// Whether the stack handed over a GSO super-packet.
    pub(crate) fn is_gso(&self) -> bool {
        // SAFETY: `ptr` is valid (type invariant).
        unsafe { ripsec_shim_skb_is_gso(self.ptr.as_ptr()) }
    }

    /// The first `len` bytes of the packet (all of it if shorter), pulled into the linear
    /// head, to read.
    pub(crate) fn head(&mut self, len: usize) -> Result<&[u8]> {
        let len = len.min(self.len());
        let n = c_uint::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: `ptr` is owned (type invariant); the shim only pulls bytes into the head.
        let data = unsafe { ripsec_shim_skb_header(self.ptr.as_ptr(), n) };
        if data.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: the shim made `len` bytes at `data` linear. They stay put and unchanged while
        // `self` is borrowed: only `&mut self` methods move or write them. Clones may share
        // them, but the kernel writes shared packet data only after unsharing it.
        Ok(unsafe { core::slice::from_raw_parts(data, len) })
    }

    /// Makes the packet linear, private and writable; on failure it is freed.
    pub(crate) fn into_writable(self) -> Result<WritableSkb> {
        // SAFETY: `ptr` is owned (type invariant).
        to_result(unsafe { ripsec_shim_skb_make_writable(self.ptr.as_ptr()) })?;
        // INVARIANT: the shim linearized the packet and unshared its head.
        Ok(WritableSkb(self))
    }

    /// Whether the stack may fragment the packet despite DF or IPv6: a local datagram whose
    /// socket does not insist on path MTU discovery.
    pub(crate) fn ignore_df(&self) -> bool {
        // SAFETY: `ptr` is valid (type invariant).
        unsafe { ripsec_shim_skb_ignore_df(self.ptr.as_ptr()) }
    }

    /// The largest fragment of a datagram that netfilter reassembled; 0 if it was not.
    pub(crate) fn frag_max_size(&self, ipv6: bool) -> usize {
        // SAFETY: `ptr` is valid (type invariant); the shim reads the IP control block.
        unsafe { ripsec_shim_skb_frag_max_size(self.ptr.as_ptr(), ipv6) as usize }
    }

    /// Queues the fragment at the start of the data in ripsec's own reassembly queues.
    /// `Ok(Some(skb))`: the whole datagram (or a packet the queues did not take);
    /// `Ok(None)`: queued until the datagram is complete.
    pub(crate) fn defrag(self, net: Net<'_>, ipv6: bool) -> Result<Option<Skb>> {
        let skb = self.into_raw();
        // SAFETY: `net` is live; the shim consumes `skb` unless it returns 0.
        match unsafe { ripsec_shim_defrag(net.ptr, skb, ipv6) } {
            // SAFETY: 0: `skb` is still ours (now the whole datagram).
            0 => Ok(unsafe { Skb::from_raw(skb) }),
            1 => Ok(None),
            err => Err(Error::from_errno(err)),
        }
    }

    /// Splits a GSO packet into segments.
    pub(crate) fn segment(&self) -> Result<SkbList> {
        // SAFETY: `ptr` is valid; the shim returns a list of new skbs or an ERR_PTR.
        let head = from_err_ptr(unsafe { ripsec_shim_skb_gso_segment(self.ptr.as_ptr()) })?;
        Ok(SkbList { next: Some(head) })
    }

    /// MTU of the device the packet's route leaves through (0 if it has no route).
    pub(crate) fn dev_mtu(&self) -> usize {
        // SAFETY: `ptr` is valid (type invariant).
        unsafe { ripsec_shim_skb_dev_mtu(self.ptr.as_ptr()) as usize }
    }

    /// Sends the packet's source an ICMP "fragmentation needed" / "packet too big" with `mtu`.
    pub(crate) fn icmp_too_big(&mut self, mtu: usize, ipv6: bool) {
        let mtu = u32::try_from(mtu).unwrap_or(u32::MAX);
        // SAFETY: `ptr` is owned; the shim only reads the packet to build the ICMP error.
        unsafe { ripsec_shim_icmp_too_big(self.ptr.as_ptr(), mtu, ipv6) };
    }

    /// Routes and sends the outer packet at the start of the data. `ignore_df` lets IP
    /// fragment it despite DF.
    pub(crate) fn output(
        self,
        net: Net<'_>,
        ipv6: bool,
        src: &[u8; 16],
        dst: &[u8; 16],
        ignore_df: bool,
    ) -> Result {
        let skb = self.into_raw();
        // SAFETY: the shim consumes `skb` in every case; `net` is live; addresses are valid.
        to_result(unsafe {
            if ipv6 {
                ripsec_shim_output6(net.ptr, skb, src.as_ptr(), dst.as_ptr(), ignore_df)
            } else {
                ripsec_shim_output4(net.ptr, skb, src.as_ptr(), dst.as_ptr(), ignore_df)
            }
        })
    }

    /// Feeds the (decapsulated) IP packet at the start of the data back into the stack,
    /// marked with `marker` ([`Skb::decrypted`]). A `reassembled` packet may be fragmented
    /// again on its way on. `ELOOP`: nested deeper than the kernel's secpath holds.
    pub(crate) fn reinject(self, ipv6: bool, marker: &Marker, reassembled: bool) -> Result {
        // SAFETY: the shim consumes the skb in every case and takes its own reference on the
        // live marker.
        to_result(unsafe {
            ripsec_shim_reinject(self.into_raw(), ipv6, marker.ptr.as_ptr(), reassembled)
        })
    }

    /// Whether ripsec decrypted the packet: it carries `marker` (see [`Marker`]).
    pub(crate) fn decrypted(&self, marker: &Marker) -> bool {
        // SAFETY: `ptr` is valid (type invariant); the marker is only compared.
        unsafe { ripsec_shim_skb_decrypted(self.ptr.as_ptr(), marker.ptr.as_ptr()) }
    }
}

/// A packet that is linear and private: the only kind whose bytes may be written.
///
/// # Invariants
///
/// The packet's `len` bytes at `data` are linear, and neither its head nor its data is
/// shared with another skb. Every method keeps it so.
pub(crate) struct WritableSkb(Skb);

impl core::ops::Deref for WritableSkb {
    type Target = Skb;

    fn deref(&self) -> &Skb {
        &self.0
    }
}

impl WritableSkb {
    /// Back to a plain packet (to hand on).
    pub(crate) fn into_skb(self) -> Skb {
        self.0
    }

    fn ptr(&self) -> *mut raw::sk_buff {
        self.0.ptr.as_ptr()
    }

    /// The packet bytes.
    pub(crate) fn data(&mut self) -> &mut [u8] {
        let len = self.len();
        // SAFETY: the `len` bytes at `data` are linear and private (type invariant), and
        // `&mut self` keeps every other access out while the slice lives.
        unsafe { core::slice::from_raw_parts_mut(ripsec_shim_skb_data(self.ptr()), len) }
    }

    /// Computes a checksum the stack left to the device, which will not see the plaintext.
    pub(crate) fn finish_checksum(&mut self) -> Result {
        // SAFETY: the packet is owned and private (type invariant); the checksum is written
        // in place.
        to_result(unsafe { ripsec_shim_skb_checksum_help(self.ptr()) })
    }

    /// Ensures headroom and tailroom (reallocating the head keeps it linear and private).
    pub(crate) fn make_room(&mut self, head: usize, tail: usize) -> Result {
        let h = c_uint::try_from(head).map_err(|_| EINVAL)?;
        let t = c_uint::try_from(tail).map_err(|_| EINVAL)?;
        // SAFETY: the packet is owned (type invariant).
        to_result(unsafe { ripsec_shim_skb_make_room(self.ptr(), h, t) })
    }

    /// Prepends `n` bytes; fails without enough headroom (see [`WritableSkb::make_room`]).
    pub(crate) fn push(&mut self, n: usize) -> Result {
        let n = c_uint::try_from(n).map_err(|_| EINVAL)?;
        if n > self.headroom() {
            return Err(ENOSPC);
        }
        // SAFETY: the packet is owned and linear; `n` bytes of headroom exist.
        unsafe { ripsec_shim_skb_push(self.ptr(), n) };
        Ok(())
    }

    /// Appends `n` bytes; fails without enough tailroom.
    pub(crate) fn put(&mut self, n: usize) -> Result {
        let n = c_uint::try_from(n).map_err(|_| EINVAL)?;
        if n > self.tailroom() {
            return Err(ENOSPC);
        }
        // SAFETY: the packet is owned and linear; `n` bytes of tailroom exist.
        unsafe { ripsec_shim_skb_put(self.ptr(), n) };
        Ok(())
    }

    /// Removes `n` bytes from the front.
    pub(crate) fn pull(&mut self, n: usize) -> Result {
        if n > self.len() {
            return Err(EINVAL);
        }
        // SAFETY: the packet is owned and linear; `n` is within it.
        unsafe { ripsec_shim_skb_pull(self.ptr(), n as c_uint) };
        Ok(())
    }

    /// Shortens the packet to `len` bytes.
    pub(crate) fn trim(&mut self, len: usize) -> Result {
        if len > self.len() {
            return Err(EINVAL);
        }
        // SAFETY: the packet is owned and linear; `len` is within it.
        unsafe { ripsec_shim_skb_trim(self.ptr(), len as c_uint) };
        Ok(())
    }

    /// Sends the packet's source an ICMP "packet too big" (see [`Skb::icmp_too_big`]).
    pub(crate) fn icmp_too_big(&mut self, mtu: usize, ipv6: bool) {
        self.0.icmp_too_big(mtu, ipv6);
    }

    fn headroom(&self) -> c_uint {
        // SAFETY: the packet is valid (type invariant).
        unsafe { ripsec_shim_skb_headroom(self.ptr()) }
    }

    fn tailroom(&self) -> c_uint {
        // SAFETY: the packet is valid (type invariant).
        unsafe { ripsec_shim_skb_tailroom(self.ptr()) }
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
