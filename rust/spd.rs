// SPDX-License-Identifier: GPL-2.0
//! The Security Policy Database of one netns. The master copy ([`Spd`], under the netns
//! config mutex) keeps each direction's policies in precedence order (priority, then
//! specificity, then age) for dumps; the data path reads the [`SpdIndex`] lock-free: a
//! tuple-space hash index (`spd_index.rs`) whose lookups cost the same with 1 or 10k
//! policies. A change replaces only the slot it touches (and the short list of subtables
//! when that changes), never the whole SPD.

use crate::{
    ffi::{ArcSlots, ArcXArray, Rcu, RcuArc, SLOT_KEY_BITS},
    selector::{Decision, Flow, Known, Selector},
    spd_index::{self, Change, Rank, Shape, Subtable, Subtables, SLOTS},
    uapi,
};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use kernel::{prelude::*, sync::Arc};

/// What a protect policy requires of the SA that carries its traffic.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Template {
    /// ESP or AH.
    pub(crate) proto: u8,
    /// Transport or tunnel.
    pub(crate) mode: u8,
    /// SA reqid (0 = any).
    pub(crate) reqid: u32,
    /// Tunnel endpoints' family (0 in transport mode).
    pub(crate) family: u8,
    /// Tunnel source.
    pub(crate) src: [u8; 16],
    /// Tunnel destination.
    pub(crate) dst: [u8; 16],
}

/// One policy.
pub(crate) struct Policy {
    /// Id assigned on insertion; also the tie-breaker (older first).
    pub(crate) id: u32,
    /// `DIR_OUT`, `DIR_IN` or `DIR_FWD`.
    pub(crate) dir: u8,
    /// Lower wins.
    pub(crate) priority: u32,
    /// Protect, bypass or discard.
    pub(crate) action: u8,
    /// Traffic it applies to.
    pub(crate) sel: Selector,
    /// For protect policies.
    pub(crate) tmpl: Option<Template>,
    /// When it last sent ACQUIRE (seconds since boot; 0 = never).
    pub(crate) last_acquire: AtomicU64,
}

impl Policy {
    /// Its place in precedence order.
    fn rank(&self) -> Rank {
        Rank::new(self.priority, &self.sel, self.id)
    }

    fn slot(&self) -> u32 {
        spd_index::slot_of_selector(self.dir, &self.sel, SLOTS)
    }

    /// A copy with another template.
    fn with_template(&self, tmpl: Template) -> Result<Arc<Policy>> {
        let last_acquire = self.last_acquire.load(Ordering::Relaxed);
        let copy = Policy {
            id: self.id,
            dir: self.dir,
            priority: self.priority,
            action: self.action,
            sel: self.sel,
            tmpl: Some(tmpl),
            last_acquire: AtomicU64::new(last_acquire),
        };
        Ok(Arc::new(copy, GFP_KERNEL)?)
    }
}

// The index's hash slots are the keys of its slot table.
const _: () = assert!(SLOTS == 1 << SLOT_KEY_BITS);

/// Number of directions.
pub(crate) const DIRS: usize = 3;

/// One hash slot's policies (of any direction and shape), in rank order. Never changed once
/// published: a change publishes a new slot.
struct Slot {
    policies: KVec<Arc<Policy>>,
}

impl Slot {
    /// `old`'s policies with `add` in its place and without policy `drop_id`.
    fn rebuilt(old: Option<&Slot>, add: Option<&Arc<Policy>>, drop_id: u32) -> Result<Slot> {
        let old = old.map_or(&[][..], |s| &s.policies[..]);
        let mut policies = KVec::with_capacity(old.len() + 1, GFP_KERNEL)?;
        for p in old.iter().filter(|p| p.id != drop_id) {
            policies.push(p.clone(), GFP_KERNEL)?;
        }
        if let Some(p) = add {
            let at = spd_index::position(policies.iter().map(|q| q.rank()), p.rank());
            policies.insert_within_capacity(at, p.clone())?;
        }
        Ok(Slot { policies })
    }
}

/// Each direction's subtables, best first.
struct Shapes {
    dirs: [KVec<Subtable>; DIRS],
}

impl Shapes {
    fn new() -> Shapes {
        Shapes {
            dirs: [KVec::new(), KVec::new(), KVec::new()],
        }
    }

    fn try_clone(&self) -> Result<Shapes> {
        let mut copy = Shapes::new();
        for (to, from) in copy.dirs.iter_mut().zip(self.dirs.iter()) {
            to.extend_from_slice(from, GFP_KERNEL)?;
        }
        Ok(copy)
    }
}

impl Subtables for KVec<Subtable> {
    fn items(&mut self) -> &mut [Subtable] {
        self
    }

    fn try_push(&mut self, t: Subtable) -> bool {
        self.push(t, GFP_KERNEL).is_ok()
    }

    fn remove_at(&mut self, i: usize) {
        let _ = self.remove(i);
    }
}

/// The SPD as the data path reads it, lock-free (RCU). Writers hold the config mutex and go
/// through [`Spd`].
pub(crate) struct SpdIndex {
    /// Hash slot -> [`Slot`].
    slots: ArcSlots<Slot>,
    /// The published [`Shapes`].
    shapes: RcuArc<Shapes>,
    /// Policy id -> policy, for packets known only in part.
    by_id: ArcXArray<Policy>,
    /// Policies per direction.
    counts: [AtomicUsize; DIRS],
}

impl SpdIndex {
    /// An empty index.
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            slots: ArcSlots::new()?,
            shapes: RcuArc::new(Arc::new(Shapes::new(), GFP_KERNEL)?),
            by_id: ArcXArray::new()?,
            counts: [const { AtomicUsize::new(0) }; DIRS],
        })
    }

    /// Whether direction `dir` has no policy (the data path's fast exit).
    pub(crate) fn is_empty(&self, dir: u8) -> bool {
        self.counts
            .get(usize::from(dir))
            .is_none_or(|c| c.load(Ordering::Relaxed) == 0)
    }

    /// The policy a packet of `flow`, of which only `known` is certain, meets in direction
    /// `dir` (see `selector::decide`): the first match in precedence order when everything
    /// is known. Borrowed for as long as the caller's RCU read lock, so that the data path
    /// writes no shared reference count.
    pub(crate) fn decide<'g>(
        &'g self,
        dir: u8,
        flow: &Flow,
        known: Known,
        rcu: Rcu<'g>,
    ) -> Decision<&'g Policy> {
        if self.is_empty(dir) {
            return Decision::Unmatched;
        }
        if known != Known::All {
            let policies = self.policies_borrowed(dir, rcu);
            let mine = policies.map(|p| (p, &p.sel, p.action == uapi::ACTION_BYPASS, p.rank()));
            return spd_index::decide_unordered(mine, flow, known);
        }
        let subtables = self
            .shapes
            .load(rcu)
            .dirs
            .get(usize::from(dir))
            .map_or(&[][..], |d| &d[..]);
        let best_in = |slot| {
            let s = self.slots.load(slot, rcu)?;
            let entries = s.policies.iter().map(|p| (&**p, p.dir, &p.sel, p.rank()));
            spd_index::first_match(entries, dir, flow)
        };
        match spd_index::lookup(subtables, dir, flow, SLOTS, best_in) {
            Some(p) => Decision::Matched(p),
            None => Decision::Unmatched,
        }
    }

    /// Whether some policy in direction `dir` that a packet of `flow` may match satisfies
    /// `test` (for fragments: a scan of every policy of the direction).
    pub(crate) fn any_candidate(
        &self,
        dir: u8,
        flow: &Flow,
        known: Known,
        test: impl Fn(&Policy) -> bool,
    ) -> bool {
        let rcu = kernel::sync::rcu::read_lock();
        let mut policies = self.policies_borrowed(dir, Rcu::of(&rcu));
        policies.any(|p| p.sel.may_match(flow, known) && test(p))
    }

    /// The policy with this id.
    pub(crate) fn get(&self, id: u32) -> Option<Arc<Policy>> {
        self.by_id.get(id)
    }

    /// Whether a policy with the same direction, selector and priority exists (one slot's
    /// look). Writers ask under the config mutex, so the answer holds until they insert.
    pub(crate) fn has_duplicate(&self, dir: u8, sel: &Selector, priority: u32) -> bool {
        let rcu = kernel::sync::rcu::read_lock();
        let slot = spd_index::slot_of_selector(dir, sel, SLOTS);
        self.slots.load(slot, Rcu::of(&rcu)).is_some_and(|s| {
            s.policies
                .iter()
                .any(|p| p.dir == dir && p.priority == priority && p.sel == *sel)
        })
    }

    fn policies_borrowed<'g>(
        &'g self,
        dir: u8,
        rcu: Rcu<'g>,
    ) -> impl Iterator<Item = &'g Policy> + 'g {
        let mut next = 0u32;
        core::iter::from_fn(move || {
            let p = self.by_id.find_borrowed(&mut next, rcu)?;
            next = next.checked_add(1)?;
            Some(p)
        })
        .filter(move |p| p.dir == dir)
    }
}

/// The master copy of one netns's SPD. Callers serialise access (the netns config mutex) and
/// pass the netns's [`SpdIndex`], which every change updates.
pub(crate) struct Spd {
    /// Each direction's policies in precedence order.
    dirs: [KVec<Arc<Policy>>; DIRS],
    /// Each direction's subtables (what [`SpdIndex::shapes`] last published, with counts).
    shapes: Shapes,
    next_id: u32,
}

impl Spd {
    /// An empty SPD.
    pub(crate) fn new() -> Self {
        Self {
            dirs: [KVec::new(), KVec::new(), KVec::new()],
            shapes: Shapes::new(),
            next_id: 1,
        }
    }

    /// Number of policies.
    pub(crate) fn len(&self) -> usize {
        self.dirs.iter().map(|d| d.len()).sum()
    }

    /// Allocates the id for the next policy.
    pub(crate) fn alloc_id(&mut self) -> Result<u32> {
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).ok_or(ENOSPC)?;
        Ok(id)
    }

    /// Position of `p` (or where it goes) in its direction's list.
    fn position(&self, p: &Policy) -> usize {
        let list = &self.dirs[usize::from(p.dir) % DIRS];
        // Binary search: the list is in rank order.
        list.partition_point(|q| q.rank() < p.rank())
    }

    /// Best remaining policy of `shape` in direction `d`, other than `except`.
    fn next_best(&self, d: usize, shape: Shape, except: u32) -> Option<Rank> {
        self.dirs[d]
            .iter()
            .find(|q| q.id != except && Shape::of(&q.sel) == shape)
            .map(|q| q.rank())
    }

    /// The copy of `shapes` to publish, if `change` says readers must see it.
    fn to_publish(shapes: &Shapes, change: Change) -> Result<Option<Arc<Shapes>>> {
        if change == Change::Count {
            return Ok(None);
        }
        Ok(Some(Arc::new(shapes.try_clone()?, GFP_KERNEL)?))
    }

    /// Keeps `shapes` as the master and publishes `copy` of it.
    fn commit_shapes(
        &mut self,
        index: &SpdIndex,
        shapes: Shapes,
        copy: Option<Arc<Shapes>>,
    ) -> Result {
        self.shapes = shapes;
        match copy {
            Some(c) => {
                index.shapes.replace(c);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Inserts a policy at its place in precedence order, in the master and the index.
    pub(crate) fn insert(&mut self, index: &SpdIndex, p: Arc<Policy>) -> Result {
        let d = usize::from(p.dir);
        if d >= DIRS {
            return Err(EINVAL);
        }
        self.dirs[d].reserve(1, GFP_KERNEL)?;
        let mut shapes = self.shapes.try_clone()?;
        let change = spd_index::add_member(&mut shapes.dirs[d], Shape::of(&p.sel), p.rank())
            .ok_or(ENOMEM)?;
        let slot_no = p.slot();
        let slot = Slot::rebuilt(index.slots.get(slot_no).as_deref(), Some(&p), 0)?;
        let slot = Arc::new(slot, GFP_KERNEL)?;
        let copy = Self::to_publish(&shapes, change)?;
        drop(index.by_id.store(p.id, p.clone())?);
        if let Err(e) = index.slots.store(slot_no, slot) {
            drop(index.by_id.remove(p.id));
            return Err(e);
        }
        index.counts[d].fetch_add(1, Ordering::Relaxed);
        let at = self.position(&p);
        self.dirs[d].insert_within_capacity(at, p)?;
        self.commit_shapes(index, shapes, copy)
    }

    /// Removes the policy with this id.
    pub(crate) fn remove(&mut self, index: &SpdIndex, id: u32) -> Result<Option<Arc<Policy>>> {
        let Some(p) = index.by_id.get(id) else {
            return Ok(None);
        };
        let d = usize::from(p.dir) % DIRS;
        let at = self.position(&p);
        if self.dirs[d].get(at).is_none_or(|q| q.id != id) {
            return Err(EINVAL);
        }
        let slot_no = p.slot();
        let slot = Slot::rebuilt(index.slots.get(slot_no).as_deref(), None, id)?;
        let slot = if slot.policies.is_empty() {
            None
        } else {
            Some(Arc::new(slot, GFP_KERNEL)?)
        };
        let mut shapes = self.shapes.try_clone()?;
        let shape = Shape::of(&p.sel);
        let next = || self.next_best(d, shape, id);
        let change = spd_index::remove_member(&mut shapes.dirs[d], shape, p.rank(), next);
        // Readers stop probing a subtable before its last policy goes.
        let copy = Self::to_publish(&shapes, change)?;
        self.commit_shapes(index, shapes, copy)?;
        match slot {
            Some(s) => drop(index.slots.store(slot_no, s)?),
            None => drop(index.slots.remove(slot_no)),
        }
        drop(index.by_id.remove(id));
        index.counts[d].fetch_sub(1, Ordering::Relaxed);
        let _ = self.dirs[d].remove(at);
        Ok(Some(p))
    }

    /// Removes every policy; returns how many.
    pub(crate) fn flush(&mut self, index: &SpdIndex) -> Result<usize> {
        let n = self.len();
        let empty = Arc::new(Shapes::new(), GFP_KERNEL)?;
        self.commit_shapes(index, Shapes::new(), Some(empty))?;
        for (d, list) in self.dirs.iter_mut().enumerate() {
            for p in list.iter() {
                drop(index.slots.remove(p.slot()));
                drop(index.by_id.remove(p.id));
            }
            index.counts[d].store(0, Ordering::Relaxed);
            list.clear();
        }
        Ok(n)
    }

    /// The `i`th policy across all directions in order, for dumps.
    pub(crate) fn nth(&self, mut i: usize) -> Option<Arc<Policy>> {
        for d in self.dirs.iter() {
            if let Some(p) = d.get(i) {
                return Some(p.clone());
            }
            i -= d.len();
        }
        None
    }

    /// Moves the tunnel endpoint `old` of the templates with `reqid` (of `family`) to `new`,
    /// each policy replaced by a copy; returns how many moved.
    pub(crate) fn migrate(
        &mut self,
        index: &SpdIndex,
        (reqid, family): (u32, u8),
        old: &[u8; 16],
        new: &[u8; 16],
    ) -> Result<usize> {
        let mut moved = 0;
        for p in self.dirs.iter_mut().flat_map(|d| d.iter_mut()) {
            let Some(t) = p.tmpl.filter(|t| t.reqid == reqid && t.family == family) else {
                continue;
            };
            let pick = |a: [u8; 16]| if a == *old { *new } else { a };
            let tmpl = Template {
                src: pick(t.src),
                dst: pick(t.dst),
                ..t
            };
            if tmpl == t {
                continue;
            }
            let copy = p.with_template(tmpl)?;
            let slot_no = copy.slot();
            let old = index.slots.get(slot_no);
            let slot = Slot::rebuilt(old.as_deref(), Some(&copy), copy.id)?;
            drop(index.slots.store(slot_no, Arc::new(slot, GFP_KERNEL)?)?);
            drop(index.by_id.store(copy.id, copy.clone())?);
            *p = copy;
            moved += 1;
        }
        Ok(moved)
    }
}
