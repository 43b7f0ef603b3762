// SPDX-License-Identifier: GPL-2.0
//! The one unsafe boundary: declarations of `shim.c` and safe types around them.
//! Nothing outside this file calls `unsafe` code on kernel objects.

use kernel::{error::to_result, prelude::*};

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
    }
}

extern "C" {
    fn ripsec_shim_pernet_register() -> c_int;
    fn ripsec_shim_pernet_unregister();
    fn ripsec_shim_net_state(net: *mut raw::net) -> *mut c_void;
    fn ripsec_shim_net_cookie(net: *mut raw::net) -> u64;
    fn ripsec_shim_genl_register() -> c_int;
    fn ripsec_shim_genl_unregister();
    fn ripsec_shim_genl_info_net(info: *mut raw::genl_info) -> *mut raw::net;
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
    fn ripsec_shim_crypto_has_aead(name: *const c_char) -> bool;
    fn ripsec_shim_crypto_has_ahash(name: *const c_char) -> bool;
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
    _p: core::marker::PhantomData<&'a raw::net>,
}

impl<'a> Net<'a> {
    /// # Safety
    ///
    /// `ptr` must point to a live `struct net` for `'a`, past ripsec's pernet init.
    pub(crate) unsafe fn from_raw(ptr: *mut raw::net) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            ptr,
            _p: core::marker::PhantomData,
        }
    }

    /// The pointer stored in this netns's ripsec slot (set by pernet init).
    pub(crate) fn state_ptr(&self) -> *mut c_void {
        // SAFETY: `ptr` is a live netns (type invariant) and the pernet id is registered.
        unsafe { ripsec_shim_net_state(self.ptr) }
    }

    /// The netns cookie, unique for the lifetime of the system.
    pub(crate) fn cookie(&self) -> u64 {
        // SAFETY: `ptr` is a live netns (type invariant).
        unsafe { ripsec_shim_net_cookie(self.ptr) }
    }
}

/// A generic netlink request being served by a `doit` handler.
///
/// # Invariants
///
/// `ptr` points to the `genl_info` of a request that is being served for `'a`; its attributes
/// were validated against the family policy.
pub(crate) struct GenlInfo<'a> {
    ptr: *mut raw::genl_info,
    _p: core::marker::PhantomData<&'a mut raw::genl_info>,
}

impl<'a> GenlInfo<'a> {
    /// # Safety
    ///
    /// `ptr` must be the `genl_info` passed to a `doit` handler that runs for `'a`.
    pub(crate) unsafe fn from_raw(ptr: *mut raw::genl_info) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            ptr,
            _p: core::marker::PhantomData,
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
            skb,
            hdr,
            info: self,
        })
    }
}

/// A reply message being built; freed on drop unless sent.
///
/// # Invariants
///
/// `skb` is an owned netlink message whose generic netlink header is at `hdr`.
pub(crate) struct Reply<'i, 'a> {
    skb: *mut raw::sk_buff,
    hdr: *mut c_void,
    info: &'i GenlInfo<'a>,
}

impl Reply<'_, '_> {
    fn put(&mut self, ty: u16, data: &[u8]) -> Result {
        let len = c_int::try_from(data.len()).map_err(|_| EMSGSIZE)?;
        // SAFETY: `skb` is owned (type invariant); `data` is valid for `len` bytes.
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

    /// Appends a u64 attribute, padded to 8-byte alignment.
    pub(crate) fn put_u64(&mut self, ty: u16, v: u64) -> Result {
        // SAFETY: `skb` is owned (type invariant).
        to_result(unsafe { ripsec_shim_nla_put_u64(self.skb, c_int::from(ty), v) })
    }

    /// Appends a NUL-terminated string attribute.
    pub(crate) fn put_str(&mut self, ty: u16, s: &str) -> Result {
        let mut buf = [0u8; 128];
        let b = s.as_bytes();
        if b.len() >= buf.len() {
            return Err(EMSGSIZE);
        }
        buf[..b.len()].copy_from_slice(b);
        self.put(ty, &buf[..=b.len()])
    }

    /// Appends a flag attribute.
    pub(crate) fn put_flag(&mut self, ty: u16) -> Result {
        self.put(ty, &[])
    }

    /// Appends a nest holding what `f` writes.
    pub(crate) fn nest(&mut self, ty: u16, f: impl FnOnce(&mut Self) -> Result) -> Result {
        // SAFETY: `skb` is owned (type invariant).
        let nest = unsafe { ripsec_shim_nla_nest_start(self.skb, c_int::from(ty)) };
        if nest.is_null() {
            return Err(EMSGSIZE);
        }
        f(self)?;
        // SAFETY: `nest` was started in this `skb` and everything after it belongs to it.
        unsafe { ripsec_shim_nla_nest_end(self.skb, nest) };
        Ok(())
    }

    /// Sends the reply to the requester.
    pub(crate) fn send(self) -> Result {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `skb` is owned and `hdr` is its header (type invariant); ownership passes
        // to the netlink core, so `Drop` must not run (hence `ManuallyDrop`).
        to_result(unsafe { ripsec_shim_genl_reply_send(this.skb, this.hdr, this.info.ptr) })
    }
}

impl Drop for Reply<'_, '_> {
    fn drop(&mut self) {
        // SAFETY: `skb` is owned and was not sent (type invariant; `send` skips drop).
        unsafe { ripsec_shim_nlmsg_free(self.skb) };
    }
}

/// Whether the running kernel's crypto API can instantiate `name`.
pub(crate) fn crypto_available(name: &str, ahash: bool) -> bool {
    let mut buf = [0u8; 128];
    let b = name.as_bytes();
    if b.len() >= buf.len() {
        return false;
    }
    buf[..b.len()].copy_from_slice(b);
    let p = buf.as_ptr().cast::<c_char>();
    // SAFETY: `p` is a NUL-terminated string valid for the call.
    unsafe {
        if ahash {
            ripsec_shim_crypto_has_ahash(p)
        } else {
            ripsec_shim_crypto_has_aead(p)
        }
    }
}
