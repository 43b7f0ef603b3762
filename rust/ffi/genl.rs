// SPDX-License-Identifier: GPL-2.0
//! Generic netlink: the family's registration, requests and their attributes, replies,
//! dumps and multicast events.

use super::{
    net::Net,
    raw::{self, CString128},
};
use core::{fmt, marker::PhantomData};
use kernel::{error::to_result, prelude::*};

extern "C" {
    fn ripsec_shim_genl_register() -> c_int;
    fn ripsec_shim_genl_unregister();
    fn ripsec_shim_genl_info_net(info: *mut raw::genl_info) -> *mut raw::net;
    fn ripsec_shim_genl_cmd(info: *mut raw::genl_info) -> u8;
    fn ripsec_shim_genl_attr(info: *mut raw::genl_info, ty: c_int) -> *const raw::nlattr;
    fn ripsec_shim_genl_attrs(info: *const raw::genl_info, len: *mut c_uint) -> *const u8;
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
    pub(super) unsafe fn from_raw(ptr: *mut raw::genl_info) -> Self {
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

    /// What is wrong with the request's attributes taken together, if anything.
    pub(crate) fn stream_fault(&self) -> Option<crate::uapi::StreamFault> {
        crate::uapi::stream_fault(self.attr_stream())
    }

    /// The request's attributes as sent (after the genetlink header).
    fn attr_stream(&self) -> &'a [u8] {
        let mut len: c_uint = 0;
        // SAFETY: `ptr` is a live `genl_info` whose `nlhdr` is the request; `len` is writable.
        let data = unsafe { ripsec_shim_genl_attrs(self.ptr, &mut len) };
        let len = usize::try_from(len).unwrap_or(0);
        if data.is_null() || len == 0 {
            return &[];
        }
        // SAFETY: the `len` bytes at `data` lie in the request, which outlives `'a`, and
        // nothing writes to it while it is being served.
        unsafe { core::slice::from_raw_parts(data, len) }
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
        self.put(ty, c.with_nul())
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
    pub(super) unsafe fn from_raw(skb: *mut raw::sk_buff, cb: *mut raw::netlink_callback) -> Self {
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
        let skb = unsafe { ripsec_shim_event_new(net.as_ptr(), cmd, size, atomic, &mut hdr) };
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
            ripsec_shim_event_send(this.net.as_ptr(), this.msg.skb, this.hdr, this.atomic)
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
