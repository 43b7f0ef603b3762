// SPDX-License-Identifier: GPL-2.0
//! What every part of the boundary shares: the opaque C types, C strings, `ERR_PTR`s.

use core::ptr::NonNull;
use kernel::prelude::*;

extern "C" {
    fn ripsec_shim_is_err(ptr: *const c_void, err: *mut c_int) -> bool;
}

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

// Opaque kernel types.
opaque! {
    net => "struct net",
    genl_info => "struct genl_info",
    sk_buff => "struct sk_buff",
    nlattr => "struct nlattr",
    netlink_callback => "struct netlink_callback",
    xarray => "struct xarray",
    crypto_aead => "struct crypto_aead",
    crypto_shash => "struct crypto_shash",
    ripsec_work => "struct ripsec_work",
    xfrm_state => "struct xfrm_state",
    sock => "struct sock",
    dst_cache => "struct dst_cache",
}

/// A NUL-terminated copy of a short string, for C calls.
pub(crate) struct CString128([u8; 128]);

impl CString128 {
    pub(crate) fn new(s: &str) -> Result<Self> {
        let mut buf = [0u8; 128];
        let b = s.as_bytes();
        if b.len() >= buf.len() || b.contains(&0) {
            return Err(EINVAL);
        }
        buf[..b.len()].copy_from_slice(b);
        Ok(Self(buf))
    }

    /// The string with its terminating NUL.
    pub(crate) fn with_nul(&self) -> &[u8] {
        let n = self
            .0
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.0.len() - 1);
        &self.0[..=n]
    }

    pub(crate) fn as_ptr(&self) -> *const c_char {
        self.0.as_ptr().cast()
    }
}

/// Converts an `ERR_PTR`-or-pointer into a `Result`.
pub(crate) fn from_err_ptr<T>(ptr: *mut T) -> Result<NonNull<T>> {
    let mut err: c_int = 0;
    // SAFETY: the shim only inspects the pointer value.
    if unsafe { ripsec_shim_is_err(ptr.cast_const().cast(), &mut err) } {
        return Err(Error::from_errno(err));
    }
    NonNull::new(ptr).ok_or(ENOMEM)
}

/// A C return code (0 or a negative errno) as a `Result`: the kernel crate's `to_result`,
/// but inlined, since the data path checks several per packet.
#[inline]
pub(crate) fn to_result(err: c_int) -> Result {
    if err < 0 {
        Err(Error::from_errno(err))
    } else {
        Ok(())
    }
}
