// SPDX-License-Identifier: GPL-2.0
//! The Security Policy Database of one netns: per direction, policies kept sorted by
//! precedence (`selector::precedence`: priority, then specificity, then age), so the first
//! match wins.

use crate::{
    selector::{self, precedence, Decision, Flow, Known, Selector},
    uapi,
};
use core::{cmp::Ordering, sync::atomic::AtomicU64};
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
    fn cmp_precedence(&self, other: &Policy) -> Ordering {
        precedence(
            self.priority,
            &self.sel,
            self.id,
            other.priority,
            &other.sel,
            other.id,
        )
    }
}

/// Number of directions.
pub(crate) const DIRS: usize = 3;

/// The SPD of one netns. Callers serialise access (the netns config mutex).
pub(crate) struct Spd {
    dirs: [KVec<Arc<Policy>>; DIRS],
    next_id: u32,
}

impl Spd {
    /// An empty SPD.
    pub(crate) fn new() -> Self {
        Self {
            dirs: [KVec::new(), KVec::new(), KVec::new()],
            next_id: 1,
        }
    }

    /// Number of policies.
    pub(crate) fn len(&self) -> usize {
        self.dirs.iter().map(|d| d.len()).sum()
    }

    /// Whether a policy with the same direction, selector and priority exists.
    pub(crate) fn has_duplicate(&self, dir: u8, sel: &Selector, priority: u32) -> bool {
        self.dirs
            .get(usize::from(dir))
            .is_some_and(|d| d.iter().any(|p| p.priority == priority && p.sel == *sel))
    }

    /// Allocates the id for the next policy.
    pub(crate) fn alloc_id(&mut self) -> Result<u32> {
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).ok_or(ENOSPC)?;
        Ok(id)
    }

    /// Inserts a policy at its place in precedence order.
    pub(crate) fn insert(&mut self, p: Arc<Policy>) -> Result {
        let list = self.dirs.get_mut(usize::from(p.dir)).ok_or(EINVAL)?;
        let pos = list
            .iter()
            .position(|q| p.cmp_precedence(q) == Ordering::Less);
        let pos = pos.unwrap_or(list.len());
        list.push(p, GFP_KERNEL)?;
        // Rotate the new (last) element into place.
        list[pos..].rotate_right(1);
        Ok(())
    }

    /// Removes the policy with this id.
    pub(crate) fn remove(&mut self, id: u32) -> Option<Arc<Policy>> {
        for list in self.dirs.iter_mut() {
            if let Some(pos) = list.iter().position(|p| p.id == id) {
                list[pos..].rotate_left(1);
                return list.pop();
            }
        }
        None
    }

    /// The policy with this id.
    pub(crate) fn get(&self, id: u32) -> Option<Arc<Policy>> {
        self.dirs
            .iter()
            .flat_map(|d| d.iter())
            .find(|p| p.id == id)
            .cloned()
    }

    /// Removes every policy; returns how many.
    pub(crate) fn flush(&mut self) -> usize {
        let n = self.len();
        for d in self.dirs.iter_mut() {
            d.clear();
        }
        n
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

    /// A copy sharing the policies, for publishing to the data path.
    pub(crate) fn try_clone(&self) -> Result<Spd> {
        let mut dirs = [KVec::new(), KVec::new(), KVec::new()];
        for (d, s) in dirs.iter_mut().zip(self.dirs.iter()) {
            for p in s.iter() {
                d.push(p.clone(), GFP_KERNEL)?;
            }
        }
        Ok(Spd {
            dirs,
            next_id: self.next_id,
        })
    }

    /// Moves the tunnel endpoint `old` of the templates with `reqid` (of `family`) to `new`,
    /// each policy replaced by a copy; returns how many moved.
    pub(crate) fn migrate(
        &mut self,
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
            let last_acquire = p.last_acquire.load(core::sync::atomic::Ordering::Relaxed);
            let copy = Policy {
                id: p.id,
                dir: p.dir,
                priority: p.priority,
                action: p.action,
                sel: p.sel,
                tmpl: Some(tmpl),
                last_acquire: AtomicU64::new(last_acquire),
            };
            *p = Arc::new(copy, GFP_KERNEL)?;
            moved += 1;
        }
        Ok(moved)
    }

    /// Whether direction `dir` has no policy (the data path's fast exit).
    pub(crate) fn is_empty(&self, dir: u8) -> bool {
        self.dirs.get(usize::from(dir)).is_none_or(|d| d.is_empty())
    }

    fn policies(&self, dir: u8) -> &[Arc<Policy>] {
        self.dirs.get(usize::from(dir)).map_or(&[], |d| &d[..])
    }

    /// The policy a packet of `flow`, of which only `known` is certain, meets in direction
    /// `dir` (see [`selector::decide`]); with everything known, the first match in precedence
    /// order.
    pub(crate) fn decide(&self, dir: u8, flow: &Flow, known: Known) -> Decision<&Arc<Policy>> {
        let policies = self.policies(dir).iter();
        selector::decide(
            policies.map(|p| (p, &p.sel, p.action == uapi::ACTION_BYPASS)),
            flow,
            known,
        )
    }

    /// The policies in direction `dir` that a packet of `flow` may match.
    pub(crate) fn candidates<'a>(
        &'a self,
        dir: u8,
        flow: &'a Flow,
        known: Known,
    ) -> impl Iterator<Item = &'a Arc<Policy>> + 'a {
        let policies = self.policies(dir).iter();
        policies.filter(move |p| p.sel.may_match(flow, known))
    }
}
