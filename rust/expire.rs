// SPDX-License-Identifier: GPL-2.0
//! SA lifetimes (`lifetime.rs` holds the rules). The data path accounts each packet and flags
//! an SA that reached a limit; the per-netns work then sends EXPIRE(soft) once, and on a hard
//! limit removes the SA and sends EXPIRE(hard). While an SA has a time limit, the work ticks
//! every second.

use crate::{
    events,
    ffi::{self, Net},
    lifetime::{Expiry, Limits},
    net_state::NetState,
    sad::{expiry, Sa, SaId},
};
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// How often the work checks time limits.
const TICK_MS: u32 = 1000;

fn has_time_limit(l: &Limits) -> bool {
    l.add_secs != 0 || l.use_secs != 0
}

/// Accounts one packet on `sa` (already counted in its counters); flags and kicks the work
/// when it reaches a limit. Any context.
#[inline(always)]
pub(crate) fn note_use(state: &NetState, sa: &Sa) {
    // The clock is read only when something needs it: most packets need nothing.
    if sa.first_use.load(Ordering::Relaxed) == 0 {
        let now = ffi::seconds().max(1);
        let _ = sa
            .first_use
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
    }
    if !sa.limits.none() {
        check_limits(state, sa);
    }
}

/// [`note_use`] for an SA with limits.
fn check_limits(state: &NetState, sa: &Sa) {
    let lt = sa.limits.lifetime();
    let now = ffi::seconds();
    let flag = match lt.state(&sa.usage(), now) {
        Expiry::Live => return,
        Expiry::Soft => expiry::SOFT_PENDING,
        Expiry::Hard => expiry::HARD,
    };
    let cur = sa.expiry.load(Ordering::Relaxed);
    if cur < flag
        && sa
            .expiry
            .compare_exchange(cur, flag, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        state.work.kick();
    }
}

/// After SA_UPDATE changed `sa`'s limits: a soft expiry the new limits undo is forgotten, and
/// the work re-checks everything.
pub(crate) fn limits_changed(state: &NetState, sa: &Sa) {
    let now = ffi::seconds();
    if sa.limits.lifetime().state(&sa.usage(), now) == Expiry::Live {
        let _ = sa.expiry.compare_exchange(
            expiry::SOFT_SENT,
            expiry::LIVE,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        let _ = sa.expiry.compare_exchange(
            expiry::SOFT_PENDING,
            expiry::LIVE,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
    state.work.kick();
}

/// What the work decided for one SA.
enum Action {
    None,
    Soft,
    /// Hard expiry; `soft_first`: EXPIRE(soft) was never sent although a soft limit is set
    /// (the limits passed between two ticks), so it goes first.
    Hard {
        soft_first: bool,
    },
}

fn check(sa: &Sa, now: u64, timed: &mut bool) -> Action {
    let cur = sa.expiry.load(Ordering::Relaxed);
    let lt = sa.limits.lifetime();
    let state = lt.state(&sa.usage(), now);
    if cur == expiry::HARD || state == Expiry::Hard {
        let soft_first =
            matches!(cur, expiry::LIVE | expiry::SOFT_PENDING) && lt.soft != Default::default();
        sa.expiry.store(expiry::HARD, Ordering::Relaxed);
        return Action::Hard { soft_first };
    }
    *timed |= has_time_limit(&lt.soft) || has_time_limit(&lt.hard);
    if state == Expiry::Soft && cur != expiry::SOFT_SENT {
        sa.expiry.store(expiry::SOFT_SENT, Ordering::Relaxed);
        return Action::Soft;
    }
    Action::None
}

/// The work: sends due EXPIRE events and removes hard-expired SAs. Process context.
pub(crate) fn run(net: Net<'_>) {
    let state = NetState::of(net);
    let now = ffi::seconds();
    let mut timed = false;
    let mut hard: KVec<SaId> = KVec::new();
    let cfg = state.config.lock();
    let (mut slot, mut pos) = (0u32, 0usize);
    while let Some(sa) = state.sad.next(&mut slot, &mut pos) {
        match check(&sa, now, &mut timed) {
            Action::None => {}
            Action::Soft => events::expire(net, &sa, false),
            Action::Hard { soft_first } => {
                if soft_first {
                    events::expire(net, &sa, false);
                }
                if hard.push(sa.id, GFP_KERNEL).is_err() {
                    // Retried on the next tick.
                    timed = true;
                }
            }
        }
    }
    match state.sad.remove_batch(&hard) {
        Ok(removed) => {
            for sa in removed.iter() {
                events::expire(net, sa, true);
            }
        }
        Err(_) => timed = true,
    }
    drop(cfg);
    if timed {
        state.work.schedule(TICK_MS);
    }
}
