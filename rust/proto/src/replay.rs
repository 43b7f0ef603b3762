// SPDX-License-Identifier: GPL-2.0
//! Sequence numbers and the anti-replay window (RFC 4303 §3.3.3, §3.4.3, Appendix A).
//!
//! Inbound, a packet is first [`ReplayWindow::check`]ed (before the ICV: cheap rejection and,
//! with ESN, inference of the high 32 bits per Appendix A.2.2), then, once its ICV verified,
//! [`ReplayWindow::accept`]ed, which checks again and records it.
//!
//! The bitmap is a ring of a power of two bits, at least the window's size, indexed by
//! `seq % ring`, so sliding the window clears bits instead of shifting the whole map. Its words
//! are stored by the caller ([`Words`]): the module allocates just what the window needs
//! ([`words_for`]), as XFRM does, instead of the 512 bytes a 4096-packet window takes.

/// Largest supported replay window, in packets.
pub const MAX_WINDOW: u32 = 4096;

const WORDS: usize = (MAX_WINDOW / 64) as usize;

/// Storage for the bitmap's 64-bit words.
pub trait Words {
    /// The words.
    fn words(&self) -> &[u64];
    /// The words, to change.
    fn words_mut(&mut self) -> &mut [u64];
}

impl<const N: usize> Words for [u64; N] {
    fn words(&self) -> &[u64] {
        self
    }
    fn words_mut(&mut self) -> &mut [u64] {
        self
    }
}

/// How many words the bitmap of a `size`-packet window takes: a power of two, at least one.
pub fn words_for(size: u32) -> usize {
    (size.div_ceil(64).max(1) as usize).next_power_of_two()
}

/// ESN inference window used when replay checking is off (size 0): half the 32-bit space,
/// i.e. the candidate nearest to the highest sequence number seen.
const OFF_INFER_WINDOW: u32 = 1 << 31;

/// Why a sequence number was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// Already received (bit set in the window).
    Duplicate,
    /// Left of the window.
    TooOld,
    /// Window size above [`MAX_WINDOW`].
    BadWindow,
    /// Sequence number 0, never sent (RFC 4303 §3.3.3).
    ZeroSeq,
}

/// Inbound anti-replay state of one SA, its bitmap in `B`.
#[derive(Debug, Clone)]
pub struct ReplayWindow<B = [u64; WORDS]> {
    size: u32,
    esn: bool,
    top: u64,
    bitmap: B,
}

impl ReplayWindow {
    /// A window of `size` packets (0 turns replay checking off; ESN inference still works),
    /// with room for the largest window.
    pub fn new(size: u32, esn: bool) -> Result<Self, ReplayError> {
        Self::with_bitmap(size, esn, [0; WORDS])
    }
}

impl<B: Words> ReplayWindow<B> {
    /// A window of `size` packets over `bitmap`, which holds [`words_for`]`(size)` zeroed
    /// words (more are left unused).
    pub fn with_bitmap(size: u32, esn: bool, mut bitmap: B) -> Result<Self, ReplayError> {
        let words = words_for(size);
        if size > MAX_WINDOW || bitmap.words().len() < words {
            return Err(ReplayError::BadWindow);
        }
        bitmap.words_mut().fill(0);
        Ok(Self {
            size,
            esn,
            top: 0,
            bitmap,
        })
    }

    /// This window's state (highest sequence number and marks), copied into `self`, a window
    /// of the same size and ESN setting (an SA that moved keeps its window).
    pub fn copied_from<C: Words>(mut self, other: &ReplayWindow<C>) -> Result<Self, ReplayError> {
        if (self.size, self.esn) != (other.size, other.esn) {
            return Err(ReplayError::BadWindow);
        }
        let n = words_for(self.size);
        let pairs = self.bitmap.words_mut().iter_mut().zip(other.bitmap.words());
        for (to, from) in pairs.take(n) {
            *to = *from;
        }
        self.top = other.top;
        Ok(self)
    }

    /// Bit position of `seq` in the ring: (word, mask).
    fn slot(&self, seq: u64) -> (usize, u64) {
        let ring_bits = words_for(self.size) as u64 * 64;
        let bit = (seq & (ring_bits - 1)) as usize;
        (bit / 64, 1u64 << (bit % 64))
    }

    /// Highest accepted sequence number (0: none yet).
    pub fn top(&self) -> u64 {
        self.top
    }

    /// Window size in packets.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Whether extended (64-bit) sequence numbers are in use.
    pub fn esn(&self) -> bool {
        self.esn
    }

    /// The full 64-bit sequence number of a packet carrying `seq_lo` (RFC 4303 A.2.2).
    fn infer(&self, seq_lo: u32) -> u64 {
        if !self.esn {
            return u64::from(seq_lo);
        }
        let w = if self.size == 0 {
            OFF_INFER_WINDOW
        } else {
            self.size
        };
        let tl = self.top as u32;
        let th = seq_hi(self.top);
        let bottom = tl.wrapping_sub(w).wrapping_add(1);
        let hi = if tl >= w - 1 {
            // Case A: the window lies in one 2^32 subspace.
            if seq_lo >= bottom {
                Some(th)
            } else {
                th.checked_add(1)
            }
        } else if seq_lo >= bottom {
            // Case B: the window spans two subspaces; seq_lo is in the lower one.
            th.checked_sub(1)
        } else {
            Some(th)
        };
        // An impossible candidate (below 0 or above 2^64) leaves only `th`.
        (u64::from(hi.unwrap_or(th)) << 32) | u64::from(seq_lo)
    }

    fn is_set(&self, seq: u64) -> bool {
        let (word, mask) = self.slot(seq);
        self.bitmap.words().get(word).is_some_and(|w| w & mask != 0)
    }

    fn set(&mut self, seq: u64) {
        let (word, mask) = self.slot(seq);
        if let Some(w) = self.bitmap.words_mut().get_mut(word) {
            *w |= mask;
        }
    }

    fn clear(&mut self, seq: u64) {
        let (word, mask) = self.slot(seq);
        if let Some(w) = self.bitmap.words_mut().get_mut(word) {
            *w &= !mask;
        }
    }

    /// Window check of a full sequence number, without recording it.
    fn check_full(&self, seq: u64) -> Result<u64, ReplayError> {
        if seq == 0 {
            return Err(ReplayError::ZeroSeq);
        }
        if self.size == 0 || seq > self.top {
            return Ok(seq);
        }
        if self.top - seq >= u64::from(self.size) {
            return Err(ReplayError::TooOld);
        }
        if self.is_set(seq) {
            return Err(ReplayError::Duplicate);
        }
        Ok(seq)
    }

    /// Checks a received packet before its ICV is verified; returns the full sequence number
    /// to authenticate (with ESN, the high bits are inferred per RFC 4303 A.2.2).
    pub fn check(&self, seq_lo: u32) -> Result<u64, ReplayError> {
        self.check_full(self.infer(seq_lo))
    }

    /// Records `seq` (as returned by [`check`](Self::check)) after its ICV verified, checking
    /// it again first and sliding the window when it is new.
    pub fn accept(&mut self, seq: u64) -> Result<(), ReplayError> {
        self.check_full(seq)?;
        if seq > self.top {
            let diff = seq - self.top;
            if self.size != 0 {
                if diff >= u64::from(self.size) {
                    self.bitmap.words_mut().fill(0);
                } else {
                    // diff < size <= ring: clear the slots entering the window.
                    let mut s = self.top;
                    while s < seq {
                        s += 1;
                        self.clear(s);
                    }
                }
            }
            self.top = seq;
        }
        if self.size != 0 {
            self.set(seq);
        }
        Ok(())
    }
}

/// The sequence counter was exhausted: the SA must be rekeyed, never wrapped (RFC 4303 §3.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqOverflow;

/// Outbound sequence counter of one SA.
#[derive(Debug, Clone)]
pub struct OutboundSeq {
    last: u64,
    esn: bool,
}

impl OutboundSeq {
    /// A fresh counter: the first packet gets 1.
    pub fn new(esn: bool) -> Self {
        Self { last: 0, esn }
    }

    /// The next sequence number, or [`SeqOverflow`] (forever) once the space is used up.
    // Not an iterator: it yields a Result and stops for good.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<u64, SeqOverflow> {
        self.last = seq_after(self.last, self.esn)?;
        Ok(self.last)
    }

    /// A counter whose last number handed out was `last`.
    pub fn starting_at(last: u64, esn: bool) -> Self {
        Self { last, esn }
    }

    /// Last sequence number handed out (0 if none).
    pub fn last(&self) -> u64 {
        self.last
    }

    /// The counter of an SA that moved to new addresses (MIGRATE): it goes on `gap` numbers
    /// past `self`, so that packets the old copy still sends in the meantime never share a
    /// number with the new one's. A gap only advances the peer's replay window.
    pub fn resumed(&self, gap: u64) -> Self {
        Self {
            last: self.last.saturating_add(gap),
            esn: self.esn,
        }
    }
}

/// The sequence number after `last`, or [`SeqOverflow`] once the space (32 bits, or 64 with
/// ESN) is used up. What [`OutboundSeq::next`] does, for a counter kept elsewhere (the
/// module's is an atomic, so that senders take no lock).
pub fn seq_after(last: u64, esn: bool) -> Result<u64, SeqOverflow> {
    let max = if esn { u64::MAX } else { u64::from(u32::MAX) };
    if last >= max {
        return Err(SeqOverflow);
    }
    Ok(last + 1)
}

/// Low 32 bits of a sequence number (the value carried in the ESP header).
pub fn seq_lo(seq: u64) -> u32 {
    seq as u32
}

/// High 32 bits of a sequence number (ESN only, never sent).
pub fn seq_hi(seq: u64) -> u32 {
    (seq >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn rx<B: Words>(w: &mut ReplayWindow<B>, lo: u32) -> Result<u64, ReplayError> {
        let seq = w.check(lo)?;
        w.accept(seq)?;
        Ok(seq)
    }

    #[test]
    fn window_sizes() {
        for size in [0, 1, 32, 64, 65, 4096] {
            let w = ReplayWindow::new(size, false).unwrap();
            assert_eq!((w.size(), w.esn(), w.top()), (size, false, 0));
        }
        assert_eq!(
            ReplayWindow::new(4097, false).err(),
            Some(ReplayError::BadWindow)
        );
        assert_eq!(
            ReplayWindow::new(u32::MAX, true).err(),
            Some(ReplayError::BadWindow)
        );
    }

    #[test]
    fn in_order() {
        let mut w = ReplayWindow::new(64, false).unwrap();
        for s in 1..=1000u32 {
            assert_eq!(rx(&mut w, s), Ok(u64::from(s)));
            assert_eq!(w.top(), u64::from(s));
            assert_eq!(w.check(s), Err(ReplayError::Duplicate));
        }
        assert_eq!(w.check(1000 - 63), Err(ReplayError::Duplicate));
        assert_eq!(w.check(1000 - 64), Err(ReplayError::TooOld));
    }

    #[test]
    fn zero_seq() {
        let mut w = ReplayWindow::new(64, false).unwrap();
        assert_eq!(w.check(0), Err(ReplayError::ZeroSeq));
        assert_eq!(w.accept(0), Err(ReplayError::ZeroSeq));
        let w0 = ReplayWindow::new(0, false).unwrap();
        assert_eq!(w0.check(0), Err(ReplayError::ZeroSeq));
        // With ESN, seq_lo 0 at the start infers hi 0: the never-sent 0.
        let e = ReplayWindow::new(64, true).unwrap();
        assert_eq!(e.check(0), Err(ReplayError::ZeroSeq));
    }

    #[test]
    fn out_of_order_within_window() {
        let mut w = ReplayWindow::new(32, false).unwrap();
        assert_eq!(rx(&mut w, 100), Ok(100));
        for s in [99, 80, 69, 90] {
            assert_eq!(rx(&mut w, s), Ok(u64::from(s)));
            assert_eq!(rx(&mut w, s), Err(ReplayError::Duplicate));
        }
        assert_eq!(w.check(68), Err(ReplayError::TooOld));
        assert_eq!(w.check(70), Ok(70));
        assert_eq!(w.top(), 100);
        // Sliding by 5 keeps the marks of 99 and 90 and forgets 69.
        assert_eq!(rx(&mut w, 105), Ok(105));
        assert_eq!(w.check(99), Err(ReplayError::Duplicate));
        assert_eq!(w.check(90), Err(ReplayError::Duplicate));
        assert_eq!(w.check(74), Ok(74));
        assert_eq!(w.check(73), Err(ReplayError::TooOld));
        // The slots of 101..=104 were cleared on the slide.
        for s in 101..=104 {
            assert_eq!(w.check(s), Ok(u64::from(s)));
        }
    }

    #[test]
    fn accept_rechecks() {
        let mut w = ReplayWindow::new(64, false).unwrap();
        let a = w.check(7).unwrap();
        let b = w.check(7).unwrap();
        assert_eq!(w.accept(a), Ok(()));
        // Two copies in flight both passed check(); only one is accepted.
        assert_eq!(w.accept(b), Err(ReplayError::Duplicate));
        w.accept(1000).unwrap();
        assert_eq!(w.accept(7), Err(ReplayError::TooOld));
    }

    #[test]
    fn window_of_one() {
        let mut w = ReplayWindow::new(1, false).unwrap();
        assert_eq!(rx(&mut w, 5), Ok(5));
        assert_eq!(rx(&mut w, 5), Err(ReplayError::Duplicate));
        assert_eq!(rx(&mut w, 4), Err(ReplayError::TooOld));
        assert_eq!(rx(&mut w, 6), Ok(6));
    }

    #[test]
    fn window_off() {
        let mut w = ReplayWindow::new(0, false).unwrap();
        assert_eq!(rx(&mut w, 5), Ok(5));
        assert_eq!(rx(&mut w, 5), Ok(5));
        assert_eq!(rx(&mut w, 1), Ok(1));
        assert_eq!(w.top(), 5);
        assert_eq!(rx(&mut w, u32::MAX), Ok(u64::from(u32::MAX)));
    }

    #[test]
    fn sizes_at_word_edges() {
        for size in [32u32, 63, 64, 65, 127, 128, 129, 4095, 4096] {
            let mut w = ReplayWindow::new(size, false).unwrap();
            let top = 10_000u32;
            w.accept(u64::from(top)).unwrap();
            let oldest = top - size + 1;
            assert_eq!(w.check(oldest), Ok(u64::from(oldest)), "size {size}");
            assert_eq!(w.check(oldest - 1), Err(ReplayError::TooOld), "size {size}");
            rx(&mut w, oldest).unwrap();
            assert_eq!(w.check(oldest), Err(ReplayError::Duplicate));
            // Slide by one: `oldest` falls out.
            rx(&mut w, top + 1).unwrap();
            assert_eq!(w.check(oldest), Err(ReplayError::TooOld));
            assert_eq!(w.check(oldest + 1), Ok(u64::from(oldest + 1)));
        }
    }

    #[test]
    fn full_4096_window() {
        let mut w = ReplayWindow::new(4096, false).unwrap();
        for s in (2..=8192u32).step_by(2) {
            w.accept(u64::from(s)).unwrap();
        }
        // Top is 8192; only 4097..=8192 are in the window.
        for s in 4097..=8192u32 {
            let want = if s % 2 == 0 {
                Err(ReplayError::Duplicate)
            } else {
                Ok(u64::from(s))
            };
            assert_eq!(w.check(s), want, "seq {s}");
        }
        assert_eq!(w.check(4096), Err(ReplayError::TooOld));
    }

    #[test]
    fn big_jump_clears_bitmap() {
        for size in [1u32, 32, 64, 65, 4096] {
            let mut w = ReplayWindow::new(size, false).unwrap();
            for s in 1..=size {
                rx(&mut w, s).unwrap();
            }
            let jump = 2 * size + 4096 * 3 + 17;
            rx(&mut w, jump).unwrap();
            assert_eq!(w.check(jump), Err(ReplayError::Duplicate));
            for s in (jump - size + 1)..jump {
                assert_eq!(w.check(s), Ok(u64::from(s)), "size {size} seq {s}");
            }
            assert_eq!(w.check(jump - size), Err(ReplayError::TooOld));
        }
    }

    impl Words for std::vec::Vec<u64> {
        fn words(&self) -> &[u64] {
            self
        }
        fn words_mut(&mut self) -> &mut [u64] {
            self
        }
    }

    #[test]
    fn bitmap_takes_what_the_window_needs() {
        let want = [
            (0, 1),
            (1, 1),
            (64, 1),
            (65, 2),
            (128, 2),
            (129, 4),
            (1000, 16),
            (4096, 64),
        ];
        for (size, words) in want {
            assert_eq!(words_for(size), words, "size {size}");
        }
        let short = std::vec![0u64; 1];
        assert!(ReplayWindow::with_bitmap(65, false, short).is_err());
        assert!(ReplayWindow::with_bitmap(4097, false, std::vec![0u64; 128]).is_err());
    }

    /// A window over just the words it needs behaves exactly like one over the full 4096-bit
    /// ring, on random traffic around the window's edges.
    #[test]
    fn small_bitmap_matches_full_ring() {
        let mut rng = crate::test_rng::Rng(7);
        for size in [1u32, 31, 32, 64, 65, 100, 128, 129, 1000, 4096] {
            for esn in [false, true] {
                let mut full = ReplayWindow::new(size, esn).unwrap();
                let bits = std::vec![0u64; words_for(size)];
                let mut small = ReplayWindow::with_bitmap(size, esn, bits).unwrap();
                let mut top = 1u64;
                for _ in 0..4_000 {
                    let span = u64::from(size) * 2 + 130;
                    let seq = (top + rng.below(span)).saturating_sub(span / 2 + 1);
                    let lo = seq as u32;
                    let (a, b) = (full.check(lo), small.check(lo));
                    assert_eq!(a, b, "size {size} esn {esn} seq {seq}");
                    if let Ok(s) = a {
                        assert_eq!(full.accept(s), small.accept(s));
                        top = full.top().max(1);
                    }
                }
            }
        }
    }

    #[test]
    fn copied_window_keeps_its_marks() {
        let mut old = ReplayWindow::new(64, false).unwrap();
        for s in [3, 5, 70, 71] {
            rx(&mut old, s).unwrap();
        }
        let fresh = ReplayWindow::with_bitmap(64, false, std::vec![0u64; 1]).unwrap();
        let mut moved = fresh.copied_from(&old).unwrap();
        assert_eq!(moved.top(), 71);
        assert_eq!(rx(&mut moved, 70), Err(ReplayError::Duplicate));
        assert_eq!(rx(&mut moved, 69), Ok(69));
        let other = ReplayWindow::with_bitmap(32, false, std::vec![0u64; 1]).unwrap();
        assert!(other.copied_from(&old).is_err());
    }

    #[test]
    fn jump_of_exactly_ring_size() {
        // seq and seq + 4096 share a ring slot; the old mark must not leak.
        let mut w = ReplayWindow::new(4096, false).unwrap();
        rx(&mut w, 100).unwrap();
        rx(&mut w, 100 + 4095).unwrap();
        assert_eq!(w.check(100), Err(ReplayError::Duplicate));
        rx(&mut w, 100 + 4096 + 10).unwrap();
        assert_eq!(w.check(100 + 4096), Ok(100 + 4096));
    }

    #[test]
    fn resumed_counter_skips_the_gap_and_keeps_the_limit() {
        let mut seq = OutboundSeq::new(false);
        for _ in 0..5 {
            seq.next().unwrap();
        }
        let mut moved = seq.resumed(64);
        assert_eq!(moved.next(), Ok(70));
        let mut near_end = OutboundSeq {
            last: u64::from(u32::MAX) - 10,
            esn: false,
        }
        .resumed(64);
        assert_eq!(near_end.next(), Err(SeqOverflow), "no wrap past 2^32 - 1");
        let esn = OutboundSeq {
            last: u64::from(u32::MAX),
            esn: true,
        }
        .resumed(1);
        assert_eq!(esn.last(), u64::from(u32::MAX) + 1);
    }

    #[test]
    fn esn_start_and_in_order() {
        let mut w = ReplayWindow::new(64, true).unwrap();
        assert_eq!(rx(&mut w, 1), Ok(1));
        assert_eq!(rx(&mut w, 2), Ok(2));
        // Far ahead within the same subspace.
        assert_eq!(rx(&mut w, 0xffff_fff0), Ok(0xffff_fff0));
    }

    #[test]
    fn esn_window_spanning_wrap() {
        // top = 0x1_0000_0005: the window reaches back into hi = 0.
        let mut w = ReplayWindow::new(32, true).unwrap();
        w.accept(0x1_0000_0005).unwrap();
        assert_eq!(w.check(0xffff_fff0), Ok(0x0_ffff_fff0));
        assert_eq!(w.check(0xffff_ffe6), Ok(0x0_ffff_ffe6));
        assert_eq!(rx(&mut w, 0xffff_fff0), Ok(0x0_ffff_fff0));
        assert_eq!(w.check(0xffff_fff0), Err(ReplayError::Duplicate));
        assert_eq!(w.top(), 0x1_0000_0005);
        // Below the window bottom (0xffff_ffe6) the RFC infers the next subspace (hi = 1):
        // a packet far ahead, which its ICV then rejects.
        assert_eq!(w.check(0xffff_ffe5), Ok(0x1_ffff_ffe5));
        // Around the top.
        assert_eq!(w.check(0), Ok(0x1_0000_0000));
        assert_eq!(w.check(5), Err(ReplayError::Duplicate));
        assert_eq!(w.check(6), Ok(0x1_0000_0006));
        // A smaller window no longer covers 0xffff_fff0: inferred as hi = 1.
        let mut small = ReplayWindow::new(16, true).unwrap();
        small.accept(0x1_0000_0005).unwrap();
        assert_eq!(small.check(0xffff_fff0), Ok(0x1_ffff_fff0));
        assert_eq!(small.check(0xffff_fff6), Ok(0x0_ffff_fff6));
        // Accepting the old one does not move the top.
        let mut w64 = ReplayWindow::new(64, true).unwrap();
        w64.accept(0x1_0000_0005).unwrap();
        assert_eq!(rx(&mut w64, 0xffff_ffc6), Ok(0xffff_ffc6));
        assert_eq!(w64.check(0xffff_ffc5), Ok(0x1_ffff_ffc5));
        assert_eq!(w64.top(), 0x1_0000_0005);
    }

    #[test]
    fn esn_case_a_b_boundary() {
        // Tl == W - 1: the window bottom is exactly seq_lo 0 of the same subspace (case A).
        let mut w = ReplayWindow::new(64, true).unwrap();
        w.accept(0x1_0000_003f).unwrap();
        assert_eq!(w.check(0), Ok(0x1_0000_0000));
        assert_eq!(w.check(0x40), Ok(0x1_0000_0040));
        assert_eq!(w.check(0xffff_ffff), Ok(0x1_ffff_ffff));
        // Tl == W - 2: the bottom is the last seq of the previous subspace (case B).
        let mut w = ReplayWindow::new(64, true).unwrap();
        w.accept(0x1_0000_003e).unwrap();
        assert_eq!(w.check(0xffff_ffff), Ok(0x0_ffff_ffff));
        assert_eq!(w.check(0xffff_fffe), Ok(0x1_ffff_fffe));
    }

    #[test]
    fn esn_crossing_into_next_subspace() {
        // top = 0x0_ffff_fff0: a small seq_lo belongs to hi = 1.
        let mut w = ReplayWindow::new(64, true).unwrap();
        w.accept(0x0_ffff_fff0).unwrap();
        assert_eq!(w.check(3), Ok(0x1_0000_0003));
        assert_eq!(w.check(0), Ok(0x1_0000_0000));
        assert_eq!(w.check(0xffff_ffb1), Ok(0x0_ffff_ffb1));
        assert_eq!(w.check(0xffff_ffb0), Ok(0x1_ffff_ffb0));
        assert_eq!(rx(&mut w, 3), Ok(0x1_0000_0003));
        assert_eq!(w.top(), 0x1_0000_0003);
        // The previous top is still inside the window, under hi = 0.
        assert_eq!(w.check(0xffff_fff0), Err(ReplayError::Duplicate));
        assert_eq!(w.check(0xffff_fff1), Ok(0x0_ffff_fff1));
        assert_eq!(rx(&mut w, 0xffff_ffff), Ok(0x0_ffff_ffff));
        assert_eq!(rx(&mut w, 0xffff_ffff), Err(ReplayError::Duplicate));
    }

    #[test]
    fn esn_non_esn_does_not_infer() {
        let mut w = ReplayWindow::new(64, false).unwrap();
        w.accept(0xffff_fff0).unwrap();
        assert_eq!(w.check(3), Err(ReplayError::TooOld));
    }

    #[test]
    fn esn_window_off_uses_nearest() {
        let mut w = ReplayWindow::new(0, true).unwrap();
        w.accept(0x1_0000_0005).unwrap();
        assert_eq!(w.check(0xffff_fff0), Ok(0x0_ffff_fff0));
        assert_eq!(w.check(0x8000_0005), Ok(0x1_8000_0005));
        assert_eq!(w.check(0x8000_0006), Ok(0x0_8000_0006));
        assert_eq!(w.check(5), Ok(0x1_0000_0005));
        let mut z = ReplayWindow::new(0, true).unwrap();
        assert_eq!(z.check(7), Ok(7));
        assert_eq!(z.check(0xffff_fff0), Ok(0xffff_fff0));
        z.accept(0x0_ffff_fff0).unwrap();
        assert_eq!(z.check(3), Ok(0x1_0000_0003));
    }

    #[test]
    fn esn_edges_of_the_space() {
        // hi would underflow: only hi = 0 is possible.
        let w = ReplayWindow::new(64, true).unwrap();
        assert_eq!(w.check(0xffff_fff0), Ok(0xffff_fff0));
        // hi would overflow: only hi = 0xffff_ffff is possible, and that is too old.
        let mut top = ReplayWindow::new(64, true).unwrap();
        top.accept(u64::MAX).unwrap();
        assert_eq!(top.check(5), Err(ReplayError::TooOld));
        assert_eq!(top.check(u32::MAX), Err(ReplayError::Duplicate));
        assert_eq!(top.check(u32::MAX - 1), Ok(u64::MAX - 1));
    }

    #[test]
    fn outbound_non_esn() {
        let mut o = OutboundSeq::new(false);
        assert_eq!(o.last(), 0);
        assert_eq!(o.next(), Ok(1));
        assert_eq!(o.next(), Ok(2));
        assert_eq!(o.last(), 2);
        o.last = u64::from(u32::MAX) - 1;
        assert_eq!(o.next(), Ok(0xffff_ffff));
        for _ in 0..3 {
            assert_eq!(o.next(), Err(SeqOverflow));
        }
        assert_eq!(o.last(), 0xffff_ffff);
    }

    #[test]
    fn outbound_esn() {
        let mut o = OutboundSeq::new(true);
        assert_eq!(o.next(), Ok(1));
        o.last = u64::from(u32::MAX);
        assert_eq!(o.next(), Ok(0x1_0000_0000));
        o.last = u64::MAX - 1;
        assert_eq!(o.next(), Ok(u64::MAX));
        assert_eq!(o.next(), Err(SeqOverflow));
        assert_eq!(o.next(), Err(SeqOverflow));
        assert_eq!(o.last(), u64::MAX);
    }

    #[test]
    fn lo_hi() {
        assert_eq!(seq_lo(0x1234_5678_9abc_def0), 0x9abc_def0);
        assert_eq!(seq_hi(0x1234_5678_9abc_def0), 0x1234_5678);
    }

    use crate::test_rng::Rng;

    /// The obvious model: a set of everything accepted and the top.
    struct Model {
        size: u64,
        top: u64,
        seen: HashSet<u64>,
    }
    impl Model {
        fn check(&self, seq: u64) -> Result<u64, ReplayError> {
            if seq == 0 {
                Err(ReplayError::ZeroSeq)
            } else if self.size == 0 || seq > self.top {
                Ok(seq)
            } else if self.top - seq >= self.size {
                Err(ReplayError::TooOld)
            } else if self.seen.contains(&seq) {
                Err(ReplayError::Duplicate)
            } else {
                Ok(seq)
            }
        }
        fn accept(&mut self, seq: u64) -> Result<(), ReplayError> {
            self.check(seq)?;
            self.top = self.top.max(seq);
            self.seen.insert(seq);
            Ok(())
        }
    }

    /// Sends a stream that mostly advances, with reordering, duplicates and jumps, through
    /// the window and the model; with ESN the stream crosses several 2^32 boundaries.
    fn property(size: u32, esn: bool, seed: u64) {
        let mut rng = Rng(seed);
        let mut w = ReplayWindow::new(size, esn).unwrap();
        let mut m = Model {
            size: u64::from(size),
            top: 0,
            seen: HashSet::new(),
        };
        let start: u64 = if esn { 0xffff_f000 } else { 0 };
        let mut sent = start;
        if start > 0 {
            assert_eq!(w.accept(start), m.accept(start));
        }
        let mut history: std::vec::Vec<u64> = std::vec::Vec::new();
        let (mut compared, mut dups, mut old) = (0u32, 0u32, 0u32);
        for _ in 0..20_000 {
            let seq = match rng.below(10) {
                0..=4 => {
                    sent += 1 + rng.below(3);
                    sent
                }
                5 | 6 if !history.is_empty() => {
                    // Reorder/duplicate: something very recent, or up to two windows back.
                    let reach = if rng.below(2) == 0 {
                        16
                    } else {
                        2 * size as usize + 8
                    };
                    let back = rng.below(history.len().min(reach) as u64);
                    history[history.len() - 1 - back as usize]
                }
                7 => {
                    sent += rng.below(u64::from(size) * 2 + 2);
                    sent
                }
                8 if esn => {
                    sent += rng.below(0x1_0000_0000 / 4);
                    sent
                }
                _ => {
                    sent += 1;
                    sent
                }
            };
            if !esn && seq > u64::from(u32::MAX) {
                break;
            }
            if seq == 0 {
                continue;
            }
            history.push(seq);
            let lo = seq_lo(seq);
            let want = m.check(seq);
            let got = w.check(lo);
            if esn {
                // Only packets the window can place are checked against the model; others
                // infer a different hi, which is what RFC 4303 A.2.2 prescribes.
                let w_eff = if size == 0 {
                    1u64 << 31
                } else {
                    u64::from(size)
                };
                let too_old = m.top >= seq && m.top - seq >= w_eff;
                if too_old || (seq > m.top && seq - m.top >= (1u64 << 32) - w_eff) {
                    if too_old {
                        // Never taken for itself: the ICV check would see another seq.
                        assert_ne!(got, Ok(seq), "size {size} seq {seq:#x}");
                        old += 1;
                    }
                    continue;
                }
            }
            assert_eq!(
                got, want,
                "size {size} esn {esn} seq {seq:#x} top {:#x}",
                m.top
            );
            compared += 1;
            dups += u32::from(got == Err(ReplayError::Duplicate));
            old += u32::from(got == Err(ReplayError::TooOld));
            if let Ok(s) = got {
                // Drop some packets as if their ICV failed.
                if rng.below(8) != 0 {
                    assert_eq!(w.accept(s), m.accept(s));
                }
            }
            assert_eq!(w.top(), m.top);
        }
        // The stream really exercised the window.
        assert!(compared > 10_000, "size {size} esn {esn}: {compared}");
        if size > 0 {
            assert!(
                dups > 100 && old > 100,
                "size {size} esn {esn}: {dups} {old}"
            );
        }
    }

    #[test]
    fn property_against_model() {
        for (i, size) in [0u32, 1, 2, 31, 32, 33, 64, 65, 100, 1000, 4096]
            .into_iter()
            .enumerate()
        {
            for esn in [false, true] {
                property(
                    size,
                    esn,
                    0x9e37_79b9_7f4a_7c15 ^ (i as u64 * 7919 + esn as u64),
                );
            }
        }
    }
}
