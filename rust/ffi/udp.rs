// SPDX-License-Identifier: GPL-2.0
//! UDP sockets the key manager hands over for ESP in UDP (RFC 3948), through the kernel's UDP
//! tunnel API, and the checksum of the IPv6 datagrams ripsec sends.

use super::{
    net::Net,
    raw::{self, from_err_ptr},
};
use core::ptr::NonNull;
use kernel::prelude::*;

extern "C" {
    fn ripsec_shim_encap_attach(net: *mut raw::net, fd: c_int, port: *mut u16) -> *mut raw::sock;
    fn ripsec_shim_encap_detach(sk: *mut raw::sock);
    fn ripsec_shim_encap_put(sk: *mut raw::sock);
    fn ripsec_shim_udp6_checksum(udp: *mut u8, len: c_uint, saddr: *const u8, daddr: *const u8);
}

/// Which socket: compared, never dereferenced.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct SocketId(usize);

impl SocketId {
    pub(super) fn of(sk: *const raw::sock) -> Self {
        Self(sk as usize)
    }
}

/// A UDP socket on which ripsec receives ESP in UDP: datagrams to it reach ripsec's
/// `encap_receive` before the socket. Dropping it gives the socket back as a plain UDP socket.
///
/// # Invariants
///
/// `sk` is a UDP socket set up by the shim for ripsec's encapsulation, on which this object
/// holds a reference.
pub(crate) struct EncapSocket {
    sk: NonNull<raw::sock>,
    port: u16,
}

// SAFETY: the socket reference may be dropped from any process context.
unsafe impl Send for EncapSocket {}
// SAFETY: shared access only reads the fields.
unsafe impl Sync for EncapSocket {}

impl EncapSocket {
    /// Takes the UDP socket behind the requester's file descriptor `fd` in `net`. Errors:
    /// `EBADF`/`ENOTSOCK` (no socket), `EPROTOTYPE` (not UDP), `EXDEV` (another netns),
    /// `EDESTADDRREQ` (not bound), `EALREADY` (ripsec's already), `EBUSY` (taken by another
    /// encapsulation, such as XFRM's `UDP_ENCAP`).
    pub(crate) fn attach(net: Net<'_>, fd: i32) -> Result<Self> {
        let mut port = 0u16;
        // SAFETY: `net` is live and the out-pointer is valid; the shim looks `fd` up in the
        // calling process's file table and returns a socket with a reference for us, or an
        // ERR_PTR.
        let sk = from_err_ptr(unsafe { ripsec_shim_encap_attach(net.as_ptr(), fd, &mut port) })?;
        // INVARIANT: the shim set the socket up and took a reference for us.
        Ok(Self { sk, port })
    }

    /// Its local port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Which socket it is.
    pub(crate) fn id(&self) -> SocketId {
        SocketId::of(self.sk.as_ptr())
    }
}

impl Drop for EncapSocket {
    fn drop(&mut self) {
        // SAFETY: `sk` is ours (type invariant); detaching only resets what attach set.
        unsafe { ripsec_shim_encap_detach(self.sk.as_ptr()) };
        // Packets already past the socket's `encap_rcv` pointer finish first.
        kernel::sync::rcu::synchronize_rcu();
        // SAFETY: our reference, dropped once.
        unsafe { ripsec_shim_encap_put(self.sk.as_ptr()) };
    }
}

/// Fills in the checksum of the IPv6 UDP datagram `udp` (header and payload) from `src` to
/// `dst`; fails if it is shorter than a UDP header or longer than 4 GiB.
pub(crate) fn udp6_checksum(udp: &mut [u8], src: &[u8; 16], dst: &[u8; 16]) -> Result {
    if udp.len() < 8 {
        return Err(EINVAL);
    }
    let len = c_uint::try_from(udp.len()).map_err(|_| EINVAL)?;
    // SAFETY: `udp` is `len` writable bytes, at least a UDP header; the addresses are 16 bytes.
    unsafe { ripsec_shim_udp6_checksum(udp.as_mut_ptr(), len, src.as_ptr(), dst.as_ptr()) };
    Ok(())
}
