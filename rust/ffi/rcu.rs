// SPDX-License-Identifier: GPL-2.0
//! Lock-free lookups: tables and xarrays of `Arc`s whose unlinked entries are dropped after an
//! RCU grace period, from the module's workqueue.

use super::raw::{self, from_err_ptr};
use core::{
    marker::PhantomData,
    ptr::NonNull,
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::{
    alloc::flags::__GFP_ZERO,
    error::to_result,
    prelude::*,
    sync::{rcu::Guard, Arc},
};

extern "C" {
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
    fn ripsec_shim_wq_create() -> c_int;
    fn ripsec_shim_wq_destroy();
    fn ripsec_shim_defer_drop(obj: *mut c_void, drop: unsafe extern "C" fn(*mut c_void)) -> bool;
}

/// A `u32` key as an xarray index (lossless: `unsigned long` is 64-bit here).
fn xa_index(i: u32) -> c_ulong {
    i as c_ulong
}

/// An open RCU read-side critical section, for as long as `'a`: one of ripsec's own
/// ([`Rcu::of`] a guard) or the one netfilter holds around every hook ([`Rcu::assume`]).
/// Lock-free lookups lend what they find for as long. Not `Send`: the section is this
/// task's.
#[derive(Clone, Copy)]
pub(crate) struct Rcu<'a>(PhantomData<(&'a (), *mut ())>);

impl<'a> Rcu<'a> {
    /// The section `guard` keeps open.
    #[inline(always)]
    pub(crate) fn of(_guard: &'a Guard) -> Self {
        Rcu(PhantomData)
    }

    /// A section the caller already holds, for as long as it borrows `_scope`.
    ///
    /// # Safety
    ///
    /// An RCU read-side critical section of the running task stays open while `_scope` is
    /// borrowed.
    #[inline(always)]
    pub(crate) unsafe fn assume(_scope: &'a ()) -> Self {
        Rcu(PhantomData)
    }
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

/// One `Arc<T>` that lock-free readers borrow (RCU) and writers replace: an [`ArcXArray`] of
/// a single entry, read with one load instead of a walk through the xarray. Writers must be
/// serialised by the owner.
///
/// # Invariants
///
/// `ptr` comes from `Arc::<T>::into_raw` and owns one reference. A replaced entry's reference
/// is dropped only after an RCU grace period ([`Retired`]), or when this object is dropped.
pub(crate) struct RcuArc<T: Send + Sync> {
    ptr: AtomicPtr<T>,
    _p: PhantomData<Arc<T>>,
}

impl<T: Send + Sync> RcuArc<T> {
    /// Holds `value`.
    pub(crate) fn new(value: Arc<T>) -> Self {
        // INVARIANT: the pointer comes from `Arc::into_raw`.
        Self {
            ptr: AtomicPtr::new(Arc::into_raw(value).cast_mut()),
            _p: PhantomData,
        }
    }

    /// The entry, borrowed while `_rcu` keeps the read-side section open: no reference count
    /// is touched. Lock-free.
    #[inline(always)]
    pub(crate) fn load<'g>(&'g self, _rcu: Rcu<'g>) -> &'g T {
        // SAFETY: the pointer came from `Arc::into_raw` (type invariant), so it points to a
        // live `T`; a replaced entry is released only after a grace period, which cannot end
        // while `_rcu` is held, and the borrow lives no longer than `_rcu`.
        unsafe { &*self.ptr.load(Ordering::Acquire) }
    }

    /// Publishes `value`; readers that still borrow the old entry keep it until a grace
    /// period has passed.
    pub(crate) fn replace(&self, value: Arc<T>) {
        let old = self
            .ptr
            .swap(Arc::into_raw(value).cast_mut(), Ordering::AcqRel);
        // SAFETY: `old` came from `Arc::into_raw` (type invariant) and is unlinked now; its
        // reference passes to `Retired`.
        drop(Retired(Some(unsafe { Arc::from_raw(old) })));
    }
}

impl<T: Send + Sync> Drop for RcuArc<T> {
    fn drop(&mut self) {
        // No reader can reach the entry any more (`&mut self`): release it directly.
        // SAFETY: the pointer came from `Arc::into_raw` (type invariant); this is its last use.
        drop(unsafe { Arc::from_raw(*self.ptr.get_mut()) });
    }
}

/// Bits of an [`ArcSlots`] key.
pub(crate) const SLOT_KEY_BITS: u32 = 16;
/// Bits of a key that pick the slot within a leaf.
const LEAF_BITS: u32 = 8;
const LEAF_LEN: usize = 1 << LEAF_BITS;
const TOP_LEN: usize = 1 << (SLOT_KEY_BITS - LEAF_BITS);

/// One leaf of an [`ArcSlots`].
struct Leaf<T> {
    slots: [AtomicPtr<T>; LEAF_LEN],
}

/// A zeroed allocation of `T`, for arrays of null pointers.
///
/// # Safety
///
/// All-zero bytes must be a valid `T`.
unsafe fn new_zeroed<T>() -> Result<KBox<T>> {
    let b = KBox::<T>::new_uninit(GFP_KERNEL | __GFP_ZERO)?;
    // SAFETY: the memory is zeroed, which the caller promises is a valid `T`.
    Ok(unsafe { b.assume_init() })
}

/// `Arc<T>`s in `2^SLOT_KEY_BITS` slots, which lock-free readers borrow (RCU) with two loads
/// and no call: a table of leaves of 256 slots, each leaf allocated with its first entry and
/// kept until the table goes. The data path's hash indexes (whose keys are already folded to
/// 16 bits) live here; an xarray lookup takes several calls. Writers must be serialised by
/// the owner.
///
/// # Invariants
///
/// - Each non-null `top` entry comes from `KBox::<Leaf<T>>::into_raw`, is owned by this object,
///   and is neither replaced nor freed before the object is dropped.
/// - Each non-null slot comes from `Arc::<T>::into_raw` and owns one reference. An unlinked
///   entry's reference is dropped only after an RCU grace period ([`Retired`]), or when the
///   table is dropped.
pub(crate) struct ArcSlots<T: Send + Sync> {
    top: KBox<[AtomicPtr<Leaf<T>>; TOP_LEN]>,
    _p: PhantomData<Arc<T>>,
}

impl<T: Send + Sync> ArcSlots<T> {
    /// An empty table.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: an array of null pointers is all zeroes.
        let top = unsafe { new_zeroed::<[AtomicPtr<Leaf<T>>; TOP_LEN]>() }?;
        // INVARIANT: no leaf, no entry.
        Ok(Self {
            top,
            _p: PhantomData,
        })
    }

    /// Where `key`'s leaf and slot are; `None` past the key space.
    #[inline]
    fn split(key: u32) -> Option<(usize, usize)> {
        let key = key as usize;
        (key < TOP_LEN * LEAF_LEN).then_some((key >> LEAF_BITS, key & (LEAF_LEN - 1)))
    }

    /// The slot of `key`, if its leaf exists.
    #[inline]
    fn slot(&self, key: u32) -> Option<&AtomicPtr<T>> {
        let (hi, lo) = Self::split(key)?;
        let leaf = self.top[hi].load(Ordering::Acquire);
        // SAFETY: a non-null leaf came from `KBox::into_raw` and lives as long as `self`
        // (type invariant).
        (!leaf.is_null()).then(|| unsafe { &(*leaf).slots[lo] })
    }

    /// The slot of `key`, its leaf allocated if need be.
    fn slot_or_new(&self, key: u32) -> Result<&AtomicPtr<T>> {
        let (hi, lo) = Self::split(key).ok_or(EINVAL)?;
        let mut leaf = self.top[hi].load(Ordering::Acquire);
        if leaf.is_null() {
            // SAFETY: an array of null pointers is all zeroes.
            let new = KBox::into_raw(unsafe { new_zeroed::<Leaf<T>>() }?);
            // INVARIANT: the leaf comes from `KBox::into_raw`; once published it stays.
            leaf = match self.top[hi].compare_exchange(
                core::ptr::null_mut(),
                new,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => new,
                Err(theirs) => {
                    // SAFETY: `new` was never published, so it is still ours alone.
                    drop(unsafe { KBox::from_raw(new) });
                    theirs
                }
            };
        }
        // SAFETY: as in `slot`.
        Ok(unsafe { &(*leaf).slots[lo] })
    }

    /// The entry at `key`, borrowed while `_rcu` keeps the read-side section open: no
    /// reference count is touched. Lock-free.
    #[inline]
    pub(crate) fn load<'g>(&'g self, key: u32, _rcu: Rcu<'g>) -> Option<&'g T> {
        let p = self.slot(key)?.load(Ordering::Acquire);
        // SAFETY: a non-null entry came from `Arc::into_raw`, so it points to a live `T`; an
        // unlinked entry is released only after a grace period, which cannot end while `_rcu`
        // is held, and the borrow lives no longer than `_rcu` (type invariant).
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// The entry at `key`, with a new reference. Lock-free.
    pub(crate) fn get(&self, key: u32) -> Option<Arc<T>> {
        let rcu = kernel::sync::rcu::read_lock();
        // SAFETY: borrowed from `load`.
        self.load(key, Rcu::of(&rcu)).map(|e| unsafe { upgrade(e) })
    }

    /// Stores `value` at `key`, returning the previous entry. `EINVAL` past the key space.
    pub(crate) fn store(&self, key: u32, value: Arc<T>) -> Result<Option<Retired<T>>> {
        let slot = self.slot_or_new(key)?;
        // INVARIANT: the stored pointer comes from `Arc::into_raw`.
        let old = slot.swap(Arc::into_raw(value).cast_mut(), Ordering::AcqRel);
        // SAFETY: a non-null `old` came from `Arc::into_raw` and is unlinked now; its
        // reference moves to `Retired`.
        Ok((!old.is_null()).then(|| Retired(Some(unsafe { Arc::from_raw(old) }))))
    }

    /// Removes the entry at `key`.
    pub(crate) fn remove(&self, key: u32) -> Option<Retired<T>> {
        let old = self
            .slot(key)?
            .swap(core::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: as in `store`.
        (!old.is_null()).then(|| Retired(Some(unsafe { Arc::from_raw(old) })))
    }

    /// The first entry at a key >= `*key`, with a new reference; updates `*key` to its key.
    pub(crate) fn find_from(&self, key: &mut u32) -> Option<Arc<T>> {
        let _rcu = kernel::sync::rcu::read_lock();
        let mut k = *key as usize;
        while k < TOP_LEN * LEAF_LEN {
            let Some(slot) = self.slot(k as u32) else {
                // No leaf: on to the next one.
                k = (k | (LEAF_LEN - 1)) + 1;
                continue;
            };
            let p = slot.load(Ordering::Acquire);
            if !p.is_null() {
                *key = k as u32;
                // SAFETY: a non-null entry came from `Arc::into_raw` (type invariant), and `_rcu`
                // keeps it alive, as in `load`.
                return Some(unsafe { upgrade(&*p) });
            }
            k += 1;
        }
        None
    }
}

impl<T: Send + Sync> Drop for ArcSlots<T> {
    fn drop(&mut self) {
        // No reader can reach the table any more (`&mut self`): release everything directly.
        for leaf in self.top.iter_mut() {
            let leaf = *leaf.get_mut();
            if leaf.is_null() {
                continue;
            }
            // SAFETY: the leaf came from `KBox::into_raw` and is ours (type invariant); this
            // is its last use.
            let mut leaf = unsafe { KBox::from_raw(leaf) };
            for slot in leaf.slots.iter_mut() {
                let p = *slot.get_mut();
                if !p.is_null() {
                    // SAFETY: the entry came from `Arc::into_raw` (type invariant).
                    drop(unsafe { Arc::from_raw(p) });
                }
            }
        }
    }
}

/// Takes a new reference on `entry`.
///
/// # Safety
///
/// `entry` must be borrowed from an [`ArcSlots`] or [`ArcXArray`] (an `Arc` the table owns)
/// while the RCU read-side section of its lookup is open.
unsafe fn upgrade<T: Send + Sync>(entry: &T) -> Arc<T> {
    // SAFETY: entries come from `Arc::into_raw`, and the caller keeps the RCU read-side
    // section open, so the reference the table owns is still alive here.
    let borrowed = unsafe { kernel::sync::ArcBorrow::<T>::from_raw(entry) };
    borrowed.into()
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

    /// The entry at `index`, borrowed while `_rcu` keeps the read-side section open: no
    /// reference count is touched. Lock-free.
    pub(crate) fn load<'g>(&'g self, index: u32, _rcu: Rcu<'g>) -> Option<&'g T> {
        // SAFETY: `xa` is live (type invariant), and `_rcu` holds the read-side section the
        // shim's lookup runs in.
        let p = unsafe { ripsec_shim_xa_load(self.xa.as_ptr(), xa_index(index)) };
        // SAFETY: a non-NULL entry came from `Arc::into_raw`, so it points to a live `T`; an
        // unlinked entry is released only after a grace period, which cannot end while
        // `_rcu` is held, and the borrow lives no longer than `_rcu`.
        (!p.is_null()).then(|| unsafe { &*p.cast::<T>() })
    }

    /// The first entry at an index >= `*index`, borrowed as [`Self::load`] does; updates
    /// `*index` to its position.
    pub(crate) fn find_borrowed<'g>(&'g self, index: &mut u32, _rcu: Rcu<'g>) -> Option<&'g T> {
        let mut i = xa_index(*index);
        // SAFETY: `xa` is live; `i` is a valid in/out index.
        let p = unsafe { ripsec_shim_xa_find(self.xa.as_ptr(), &mut i) };
        if p.is_null() {
            return None;
        }
        *index = u32::try_from(i).ok()?;
        // SAFETY: as in `load`.
        Some(unsafe { &*p.cast::<T>() })
    }

    /// The entry at `index`, with a new reference. Lock-free.
    pub(crate) fn get(&self, index: u32) -> Option<Arc<T>> {
        let rcu = kernel::sync::rcu::read_lock();
        // SAFETY: borrowed from `load`.
        self.load(index, Rcu::of(&rcu))
            .map(|e| unsafe { upgrade(e) })
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
        // SAFETY: borrowed from `find_borrowed`.
        self.find_borrowed(index, Rcu::of(&rcu))
            .map(|e| unsafe { upgrade(e) })
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
