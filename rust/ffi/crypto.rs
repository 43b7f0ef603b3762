// SPDX-License-Identifier: GPL-2.0
//! The kernel crypto API: AEAD and keyed-hash transforms, and what the kernel provides.

use super::raw::{self, from_err_ptr, CString128};
use core::ptr::NonNull;
use kernel::{error::to_result, prelude::*};

extern "C" {
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
    fn ripsec_shim_aead_crypt(
        tfm: *mut raw::crypto_aead,
        buf: *mut u8,
        len: c_uint,
        assoclen: c_uint,
        cryptlen: c_uint,
        iv: *mut u8,
        encrypt: bool,
    ) -> c_int;
    fn ripsec_shim_crypto_has_ahash(name: *const c_char) -> bool;
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
