// SPDX-License-Identifier: GPL-2.0
//! Per-CPU counters: each CPU adds to its own copy (no shared cache line on the data path);
//! readers sum the copies.

use core::ptr::NonNull;
use kernel::prelude::*;

extern "C" {
    fn ripsec_shim_percpu_u64_alloc(n: c_uint) -> *mut u64;
    fn ripsec_shim_percpu_u64_free(c: *mut u64);
    fn ripsec_shim_percpu_u64_add(c: *mut u64, i: c_uint, n: u64);
    fn ripsec_shim_percpu_u64_add2(c: *mut u64, i: c_uint, m: u64, j: c_uint, n: u64);
    fn ripsec_shim_percpu_u64_sum(c: *mut u64, i: c_uint) -> u64;
}

/// `N` 64-bit counters per CPU.
///
/// # Invariants
///
/// `c` is a per-CPU allocation of `N` `u64`s owned by this object.
pub(crate) struct PerCpuU64<const N: usize> {
    c: NonNull<u64>,
}

// SAFETY: each CPU writes only its own copy, with per-CPU operations that are safe against
// preemption and interrupts; reads sum the copies.
unsafe impl<const N: usize> Send for PerCpuU64<N> {}
// SAFETY: as above.
unsafe impl<const N: usize> Sync for PerCpuU64<N> {}

impl<const N: usize> PerCpuU64<N> {
    /// All zero.
    pub(crate) fn new() -> Result<Self> {
        let n = c_uint::try_from(N).map_err(|_| EINVAL)?;
        // SAFETY: no preconditions; returns zeroed per-CPU memory or NULL.
        let c = NonNull::new(unsafe { ripsec_shim_percpu_u64_alloc(n) }).ok_or(ENOMEM)?;
        // INVARIANT: allocated with room for `N` counters.
        Ok(Self { c })
    }

    /// Adds `n` to counter `i` (ignored past `N`).
    #[inline(always)]
    pub(crate) fn add(&self, i: usize, n: u64) {
        if i < N {
            // SAFETY: `c` holds `N` counters per CPU (type invariant) and `i < N`; `i` fits a
            // `c_uint` since `N` did.
            unsafe { ripsec_shim_percpu_u64_add(self.c.as_ptr(), i as c_uint, n) };
        }
    }

    /// Adds `m` to counter `i` and `n` to counter `j` in one call (ignored unless both are
    /// below `N`): a packet's count and bytes.
    #[inline(always)]
    pub(crate) fn add2(&self, i: usize, m: u64, j: usize, n: u64) {
        if i < N && j < N {
            // SAFETY: as in `add`, for both.
            unsafe { ripsec_shim_percpu_u64_add2(self.c.as_ptr(), i as c_uint, m, j as c_uint, n) };
        }
    }

    /// Counter `i` summed over the CPUs (0 past `N`).
    pub(crate) fn sum(&self, i: usize) -> u64 {
        if i >= N {
            return 0;
        }
        // SAFETY: as in `add`.
        unsafe { ripsec_shim_percpu_u64_sum(self.c.as_ptr(), i as c_uint) }
    }
}

impl<const N: usize> Drop for PerCpuU64<N> {
    fn drop(&mut self) {
        // SAFETY: `c` is ours (type invariant); nothing uses it after this.
        unsafe { ripsec_shim_percpu_u64_free(self.c.as_ptr()) };
    }
}
