// SPDX-License-Identifier: GPL-2.0
//! Randomness, the clock, zeroizing memory, and turning bottom halves off (alone or to lock).

use kernel::{
    prelude::*,
    sync::{lock::spinlock::SpinLockGuard, SpinLock},
};

extern "C" {
    fn ripsec_shim_random_u32() -> u32;
    fn ripsec_shim_seconds() -> u64;
    fn ripsec_shim_memzero(p: *mut c_void, len: usize);
    fn ripsec_shim_random_bytes(buf: *mut u8, len: usize);
    fn ripsec_shim_local_bh_disable();
    fn ripsec_shim_local_bh_enable();
}

/// Bottom halves (softirqs) off on this CPU, and preemption with them, until dropped. Not
/// `Send`: it must end on the CPU it began on.
pub(crate) struct BottomHalvesOff(core::marker::PhantomData<*mut ()>);

impl BottomHalvesOff {
    /// Turns bottom halves off (they nest).
    pub(crate) fn new() -> Self {
        // SAFETY: no preconditions outside hard interrupts, where ripsec never runs; `Drop`
        // turns them on again on this CPU (the type is not `Send`).
        unsafe { ripsec_shim_local_bh_disable() };
        Self(core::marker::PhantomData)
    }
}

impl Drop for BottomHalvesOff {
    fn drop(&mut self) {
        // SAFETY: `new` turned them off on this CPU.
        unsafe { ripsec_shim_local_bh_enable() };
    }
}

/// A spinlock held with bottom halves off, as `spin_lock_bh` holds it: for data that softirqs
/// and process context share (the kernel crate has no such lock). Softirqs take it without
/// turning hard interrupts off and on, which is what the IRQ-safe lock would cost them.
pub(crate) struct BhGuard<'a, T> {
    // Declared first, so dropped first: the lock is released before bottom halves come on.
    guard: SpinLockGuard<'a, T>,
    _bh: BottomHalvesOff,
}

/// Takes `lock` while `_bh` keeps bottom halves off: [`lock_bh`] for a caller that takes it
/// more than once in a row and turns bottom halves off once. The guard borrows `_bh`, so
/// bottom halves stay off until the lock is released.
pub(crate) fn lock_under<'a, T>(
    lock: &'a SpinLock<T>,
    _bh: &'a BottomHalvesOff,
) -> SpinLockGuard<'a, T> {
    lock.lock()
}

/// Takes `lock` with bottom halves off.
pub(crate) fn lock_bh<T>(lock: &SpinLock<T>) -> BhGuard<'_, T> {
    let bh = BottomHalvesOff::new();
    BhGuard {
        guard: lock.lock(),
        _bh: bh,
    }
}

impl<T> core::ops::Deref for BhGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: Unpin> core::ops::DerefMut for BhGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
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
