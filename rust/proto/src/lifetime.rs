// SPDX-License-Identifier: GPL-2.0
//! SA lifetimes (RFC 4301 §4.4.2.1): soft and hard limits on bytes, packets, seconds since the
//! SA was added and seconds since its first use. A limit of 0 means unlimited.
//!
//! Times are monotonic seconds, assumed to be above 0 once the SA is used (0 in
//! [`Usage::first_use`] means "not used yet"). A limit is reached when the counter or the
//! elapsed time is at least the limit.

/// One set of limits; 0 = unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes protected.
    pub bytes: u64,
    /// Packets protected.
    pub packets: u64,
    /// Seconds since the SA was added.
    pub add_secs: u64,
    /// Seconds since the SA was first used.
    pub use_secs: u64,
}

/// Soft (rekey) and hard (delete) limits of an SA.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetime {
    /// Reaching one asks for a rekey.
    pub soft: Limits,
    /// Reaching one ends the SA.
    pub hard: Limits,
}

/// What an SA has used so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes protected.
    pub bytes: u64,
    /// Packets protected.
    pub packets: u64,
    /// When the SA was added (monotonic seconds).
    pub add_time: u64,
    /// When the SA was first used (monotonic seconds); 0 = unused.
    pub first_use: u64,
}

/// Where an SA stands against its lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No limit reached.
    Live,
    /// A soft limit reached, no hard one.
    Soft,
    /// A hard limit reached.
    Hard,
}

/// Why a lifetime is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifetimeError {
    /// A soft limit is above its hard limit (both set).
    SoftAboveHard,
}

impl Usage {
    /// Counts one packet of `bytes` at time `now`, saturating; the first use is recorded at
    /// `max(now, 1)` so that it never reads as "unused".
    pub fn record(&mut self, bytes: u64, now: u64) {
        self.bytes = self.bytes.saturating_add(bytes);
        self.packets = self.packets.saturating_add(1);
        if self.first_use == 0 {
            self.first_use = now.max(1);
        }
    }
}

/// Whether `count` reached `limit` (0 = unlimited).
fn reached(limit: u64, count: u64) -> bool {
    limit != 0 && count >= limit
}

/// Deadline `start + secs`, saturating; `None` when unlimited or not started.
fn deadline(start: u64, secs: u64) -> Option<u64> {
    (secs != 0).then(|| start.saturating_add(secs))
}

impl Limits {
    /// Whether any limit is reached by `usage` at `now`.
    fn any_reached(&self, usage: &Usage, now: u64) -> bool {
        reached(self.bytes, usage.bytes)
            || reached(self.packets, usage.packets)
            || reached(self.add_secs, now.saturating_sub(usage.add_time))
            || (usage.first_use != 0 && reached(self.use_secs, now.saturating_sub(usage.first_use)))
    }

    /// Time-based deadlines: (since add, since first use).
    fn deadlines(&self, usage: &Usage) -> [Option<u64>; 2] {
        let used = if usage.first_use != 0 {
            deadline(usage.first_use, self.use_secs)
        } else {
            None
        };
        [deadline(usage.add_time, self.add_secs), used]
    }
}

impl Lifetime {
    /// Each soft limit must be at most its hard limit when both are set (non-zero).
    pub fn validate(&self) -> Result<(), LifetimeError> {
        let (s, h) = (&self.soft, &self.hard);
        let pairs = [
            (s.bytes, h.bytes),
            (s.packets, h.packets),
            (s.add_secs, h.add_secs),
            (s.use_secs, h.use_secs),
        ];
        if pairs
            .iter()
            .any(|&(soft, hard)| soft != 0 && hard != 0 && soft > hard)
        {
            return Err(LifetimeError::SoftAboveHard);
        }
        Ok(())
    }

    /// Hard if any hard limit is reached, else Soft if any soft limit is, else Live.
    pub fn state(&self, usage: &Usage, now: u64) -> Expiry {
        if self.hard.any_reached(usage, now) {
            Expiry::Hard
        } else if self.soft.any_reached(usage, now) {
            Expiry::Soft
        } else {
            Expiry::Live
        }
    }

    /// Earliest time (seconds) at which a time-based limit, soft or hard, fires; `None` when
    /// there is none (a use limit counts only once the SA was used). It may be in the past:
    /// [`next_deadline_after`](Self::next_deadline_after) skips the ones that fired.
    pub fn next_deadline(&self, usage: &Usage) -> Option<u64> {
        self.all_deadlines(usage).into_iter().flatten().min()
    }

    /// Earliest time-based deadline strictly after `now`, for re-arming a timer.
    pub fn next_deadline_after(&self, usage: &Usage, now: u64) -> Option<u64> {
        self.all_deadlines(usage)
            .into_iter()
            .flatten()
            .filter(|&t| t > now)
            .min()
    }

    fn all_deadlines(&self, usage: &Usage) -> [Option<u64>; 4] {
        let [sa, su] = self.soft.deadlines(usage);
        let [ha, hu] = self.hard.deadlines(usage);
        [sa, su, ha, hu]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(bytes: u64, packets: u64, add_secs: u64, use_secs: u64) -> Limits {
        Limits {
            bytes,
            packets,
            add_secs,
            use_secs,
        }
    }

    #[test]
    fn validate() {
        assert_eq!(Lifetime::default().validate(), Ok(()));
        let ok = Lifetime {
            soft: limits(900, 90, 3000, 200),
            hard: limits(1000, 100, 3600, 200),
        };
        assert_eq!(ok.validate(), Ok(()));
        // Unset on either side is fine.
        let soft_only = Lifetime {
            soft: limits(900, 0, 3000, 0),
            hard: Limits::default(),
        };
        assert_eq!(soft_only.validate(), Ok(()));
        let hard_only = Lifetime {
            soft: Limits::default(),
            hard: limits(1, 1, 1, 1),
        };
        assert_eq!(hard_only.validate(), Ok(()));
        for i in 0..4 {
            let mut lt = ok;
            match i {
                0 => lt.soft.bytes = 1001,
                1 => lt.soft.packets = 101,
                2 => lt.soft.add_secs = 3601,
                _ => lt.soft.use_secs = 201,
            }
            assert_eq!(
                lt.validate(),
                Err(LifetimeError::SoftAboveHard),
                "field {i}"
            );
        }
    }

    #[test]
    fn unlimited_is_live_forever() {
        let lt = Lifetime::default();
        let u = Usage {
            bytes: u64::MAX,
            packets: u64::MAX,
            add_time: 0,
            first_use: 1,
        };
        assert_eq!(lt.state(&u, u64::MAX), Expiry::Live);
        assert_eq!(lt.next_deadline(&u), None);
        assert_eq!(lt.next_deadline_after(&u, 0), None);
    }

    #[test]
    fn byte_and_packet_limits() {
        let lt = Lifetime {
            soft: limits(900, 90, 0, 0),
            hard: limits(1000, 100, 0, 0),
        };
        let mut u = Usage::default();
        assert_eq!(lt.state(&u, 0), Expiry::Live);
        u.bytes = 899;
        assert_eq!(lt.state(&u, 0), Expiry::Live);
        u.bytes = 900;
        assert_eq!(lt.state(&u, 0), Expiry::Soft);
        u.bytes = 1000;
        assert_eq!(lt.state(&u, 0), Expiry::Hard);
        let mut u = Usage {
            packets: 89,
            ..Usage::default()
        };
        assert_eq!(lt.state(&u, 0), Expiry::Live);
        u.packets = 90;
        assert_eq!(lt.state(&u, 0), Expiry::Soft);
        u.packets = 100;
        assert_eq!(lt.state(&u, 0), Expiry::Hard);
        // Hard by packets beats soft by bytes.
        u.bytes = 950;
        assert_eq!(lt.state(&u, 0), Expiry::Hard);
        // No time limits: no deadline.
        assert_eq!(lt.next_deadline(&u), None);
    }

    #[test]
    fn add_time_limits() {
        let lt = Lifetime {
            soft: limits(0, 0, 3000, 0),
            hard: limits(0, 0, 3600, 0),
        };
        let u = Usage {
            add_time: 1000,
            ..Usage::default()
        };
        assert_eq!(lt.state(&u, 1000), Expiry::Live);
        assert_eq!(lt.state(&u, 3999), Expiry::Live);
        assert_eq!(lt.state(&u, 4000), Expiry::Soft);
        assert_eq!(lt.state(&u, 4599), Expiry::Soft);
        assert_eq!(lt.state(&u, 4600), Expiry::Hard);
        assert_eq!(lt.state(&u, u64::MAX), Expiry::Hard);
        // A clock before add_time counts as no time elapsed.
        assert_eq!(lt.state(&u, 5), Expiry::Live);
        assert_eq!(lt.next_deadline(&u), Some(4000));
        assert_eq!(lt.next_deadline_after(&u, 1000), Some(4000));
        assert_eq!(lt.next_deadline_after(&u, 4000), Some(4600));
        assert_eq!(lt.next_deadline_after(&u, 4600), None);
    }

    #[test]
    fn use_time_limits() {
        let lt = Lifetime {
            soft: limits(0, 0, 0, 50),
            hard: limits(0, 0, 0, 60),
        };
        let mut u = Usage {
            add_time: 100,
            ..Usage::default()
        };
        // Unused: use limits do not run.
        assert_eq!(lt.state(&u, 1_000_000), Expiry::Live);
        assert_eq!(lt.next_deadline(&u), None);
        u.record(1400, 500);
        assert_eq!((u.bytes, u.packets, u.first_use), (1400, 1, 500));
        u.record(100, 520);
        assert_eq!((u.bytes, u.packets, u.first_use), (1500, 2, 500));
        assert_eq!(lt.state(&u, 549), Expiry::Live);
        assert_eq!(lt.state(&u, 550), Expiry::Soft);
        assert_eq!(lt.state(&u, 560), Expiry::Hard);
        assert_eq!(lt.next_deadline(&u), Some(550));
        assert_eq!(lt.next_deadline_after(&u, 555), Some(560));
    }

    #[test]
    fn record_saturates_and_time_zero() {
        let mut u = Usage {
            bytes: u64::MAX - 1,
            packets: u64::MAX,
            ..Usage::default()
        };
        u.record(10, 0);
        assert_eq!((u.bytes, u.packets, u.first_use), (u64::MAX, u64::MAX, 1));
    }

    #[test]
    fn mixed_deadlines() {
        let lt = Lifetime {
            soft: limits(0, 0, 3000, 100),
            hard: limits(0, 0, 3600, 0),
        };
        let mut u = Usage {
            add_time: 10,
            ..Usage::default()
        };
        assert_eq!(lt.next_deadline(&u), Some(3010));
        u.first_use = 20;
        assert_eq!(lt.next_deadline(&u), Some(120));
        assert_eq!(lt.next_deadline_after(&u, 120), Some(3010));
        assert_eq!(lt.state(&u, 120), Expiry::Soft);
        assert_eq!(lt.state(&u, 3610), Expiry::Hard);
        // Far-future limits saturate instead of overflowing.
        let far = Lifetime {
            soft: Limits::default(),
            hard: limits(0, 0, u64::MAX, u64::MAX),
        };
        assert_eq!(far.next_deadline(&u), Some(u64::MAX));
        assert_eq!(far.state(&u, u64::MAX - 1), Expiry::Live);
    }
}
