// SPDX-License-Identifier: GPL-2.0
//! The kernel crypto API: AEAD and keyed-hash transforms, and what the kernel provides.

use super::{
    misc::BottomHalvesOff,
    raw::{self, from_err_ptr, to_result, CString128},
};
use core::ptr::NonNull;
use kernel::prelude::*;

extern "C" {
    fn ripsec_shim_aead_alloc(name: *const c_char) -> *mut raw::crypto_aead;
    fn ripsec_shim_aead_setkey(tfm: *mut raw::crypto_aead, key: *const u8, len: c_uint) -> c_int;
    fn ripsec_shim_aead_setauthsize(tfm: *mut raw::crypto_aead, len: c_uint) -> c_int;
    fn ripsec_shim_aead_driver(tfm: *mut raw::crypto_aead) -> *const c_char;
    fn ripsec_shim_aead_free(tfm: *mut raw::crypto_aead);
    fn ripsec_shim_shash_alloc(name: *const c_char) -> *mut raw::crypto_shash;
    fn ripsec_shim_shash_setkey(tfm: *mut raw::crypto_shash, key: *const u8, len: c_uint) -> c_int;
    fn ripsec_shim_shash_digestsize(tfm: *mut raw::crypto_shash) -> c_uint;
    #[allow(clippy::too_many_arguments)]
    fn ripsec_shim_shash_digest3(
        tfm: *mut raw::crypto_shash,
        a: *const u8,
        alen: c_uint,
        b: *const u8,
        blen: c_uint,
        c: *const u8,
        clen: c_uint,
        out: *mut u8,
    ) -> c_int;
    fn ripsec_shim_shash_driver(tfm: *mut raw::crypto_shash) -> *const c_char;
    fn ripsec_shim_shash_free(tfm: *mut raw::crypto_shash);
    fn ripsec_shim_memneq(a: *const c_void, b: *const c_void, len: usize) -> c_int;
    fn ripsec_shim_crypto_has_aead(name: *const c_char) -> bool;
    fn ripsec_shim_aead_crypt(
        tfm: *mut raw::crypto_aead,
        buf: *mut u8,
        len: c_uint,
        assoclen: c_uint,
        cryptlen: c_uint,
        iv: *mut u8,
        encrypt: bool,
    ) -> c_int;
    fn ripsec_shim_crypto_has_shash(name: *const c_char) -> bool;
    fn ripsec_shim_req_room_alloc() -> c_int;
    fn ripsec_shim_req_room_free();
}

/// Per-CPU room for the data path's AEAD requests (one allocation per CPU at load, none per
/// packet); freed on drop.
pub(crate) struct RequestRoom(());

impl RequestRoom {
    /// Allocates the room.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: no preconditions; `Drop` frees it.
        to_result(unsafe { ripsec_shim_req_room_alloc() })?;
        Ok(Self(()))
    }
}

impl Drop for RequestRoom {
    fn drop(&mut self) {
        // SAFETY: `new` allocated it; the module drops this after the netfilter hooks and the
        // pernet state are gone, so no packet uses it any more.
        unsafe { ripsec_shim_req_room_free() };
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
    /// `cryptlen` bytes (plaintext; or ciphertext plus ICV). `iv` may be modified. The request
    /// uses this CPU's room ([`RequestRoom`]), which `_bh` keeps to this caller.
    #[inline(always)]
    pub(crate) fn crypt(
        &self,
        buf: &mut [u8],
        assoclen: usize,
        cryptlen: usize,
        iv: &mut [u8],
        encrypt: bool,
        _bh: &BottomHalvesOff,
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
        // completes before the call returns; `buf` and `iv` are valid for the call; bottom
        // halves are off (`_bh`), so nothing else on this CPU uses its request room meanwhile.
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

/// A keyed hash transform (HMAC, AES-XCBC, AES-CMAC), for AH.
///
/// # Invariants
///
/// `tfm` is an allocated transform owned by this object; `digest_len` is its digest size,
/// at most [`MAX_DIGEST`].
pub(crate) struct Shash {
    tfm: NonNull<raw::crypto_shash>,
    digest_len: usize,
}

/// The longest digest a [`Shash`] may have (SHA-512).
pub(crate) const MAX_DIGEST: usize = 64;

// SAFETY: crypto transforms may be used from any context once keyed.
unsafe impl Send for Shash {}
// SAFETY: as above; keying takes `&mut self`.
unsafe impl Sync for Shash {}

impl Shash {
    /// Allocates the transform for template `name`.
    pub(crate) fn new(name: &str) -> Result<Self> {
        let c = CString128::new(name)?;
        // SAFETY: `c` is NUL-terminated; the shim returns a transform or an ERR_PTR.
        let tfm = from_err_ptr(unsafe { ripsec_shim_shash_alloc(c.as_ptr()) })?;
        // SAFETY: `tfm` was just allocated.
        let digest_len = unsafe { ripsec_shim_shash_digestsize(tfm.as_ptr()) } as usize;
        let h = Self { tfm, digest_len };
        if digest_len > MAX_DIGEST {
            return Err(EINVAL);
        }
        Ok(h)
    }

    /// Sets the key.
    pub(crate) fn set_key(&mut self, key: &[u8]) -> Result {
        let len = c_uint::try_from(key.len()).map_err(|_| EINVAL)?;
        // SAFETY: `tfm` is live (type invariant); `key` is valid for `len` bytes.
        to_result(unsafe { ripsec_shim_shash_setkey(self.tfm.as_ptr(), key.as_ptr(), len) })
    }

    /// Digest size in bytes.
    pub(crate) fn digest_len(&self) -> usize {
        self.digest_len
    }

    /// The digest of `a`, `b` and `c` in that order; the first [`Shash::digest_len`] bytes
    /// are set.
    pub(crate) fn digest(&self, a: &[u8], b: &[u8], c: &[u8]) -> Result<[u8; MAX_DIGEST]> {
        let len = |s: &[u8]| c_uint::try_from(s.len()).map_err(|_| EINVAL);
        let mut out = [0u8; MAX_DIGEST];
        // SAFETY: `tfm` is live and keyed; the inputs are valid for their lengths; `out` has
        // room for the digest (type invariant). A shash is synchronous.
        to_result(unsafe {
            ripsec_shim_shash_digest3(
                self.tfm.as_ptr(),
                a.as_ptr(),
                len(a)?,
                b.as_ptr(),
                len(b)?,
                c.as_ptr(),
                len(c)?,
                out.as_mut_ptr(),
            )
        })?;
        Ok(out)
    }

    /// The implementation the crypto API picked.
    pub(crate) fn driver(&self) -> &str {
        // SAFETY: as in `Aead::driver`.
        let name = unsafe { CStr::from_char_ptr(ripsec_shim_shash_driver(self.tfm.as_ptr())) };
        name.to_str().unwrap_or("?")
    }
}

impl Drop for Shash {
    fn drop(&mut self) {
        // SAFETY: `tfm` is owned (type invariant) and freed once.
        unsafe { ripsec_shim_shash_free(self.tfm.as_ptr()) };
    }
}

/// Whether `a` and `b` are equal, in time that does not depend on where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // SAFETY: both are valid for `a.len()` bytes once the lengths match.
    a.len() == b.len()
        && unsafe { ripsec_shim_memneq(a.as_ptr().cast(), b.as_ptr().cast(), a.len()) } == 0
}

/// Whether the running kernel's crypto API can instantiate `name`.
pub(crate) fn crypto_available(name: &str, hash: bool) -> bool {
    let Ok(c) = CString128::new(name) else {
        return false;
    };
    // SAFETY: `c` is a NUL-terminated string valid for the call.
    unsafe {
        if hash {
            ripsec_shim_crypto_has_shash(c.as_ptr())
        } else {
            ripsec_shim_crypto_has_aead(c.as_ptr())
        }
    }
}
