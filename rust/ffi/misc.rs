// SPDX-License-Identifier: GPL-2.0
//! Randomness, the clock, and zeroizing memory.

use kernel::prelude::*;

extern "C" {
    fn ripsec_shim_random_u32() -> u32;
    fn ripsec_shim_seconds() -> u64;
    fn ripsec_shim_memzero(p: *mut c_void, len: usize);
    fn ripsec_shim_random_bytes(buf: *mut u8, len: usize);
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
