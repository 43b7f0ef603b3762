// SPDX-License-Identifier: GPL-2.0
//! The SPD's index: tuple-space search, as in VPP's IPsec SPD fast path and Open vSwitch's
//! classifier. A lookup costs one hash probe per distinct selector [`Shape`], whatever the
//! number of policies, and gives the winner of [`crate::selector::precedence`] bit for bit.
//!
//! - Policies of one direction with one [`Shape`] (family, prefix lengths, and whether the
//!   protocol and each port are pinned to one value) form a [`Subtable`]. A policy is hashed
//!   on the fields its shape pins ([`slot_of_selector`]); a packet is hashed on the same
//!   fields masked by each subtable's shape ([`Shape::slot_of_flow`]), so a policy that
//!   matches the packet always sits in the slot probed for its subtable.
//! - A port range that is neither one port nor every port is not pinned: its subtable hashes
//!   on the other fields, and the slot's policies are checked with [`Selector::matches`].
//! - Subtables are probed best first (by the [`Rank`] of their best policy), and the search
//!   stops once no unprobed subtable can hold a better policy than the one found.
//! - Slots are shared by every direction and shape; each holds its policies in rank order,
//!   and collisions only cost a comparison.
//!
//! Only packets of which everything is known use the index; the rare fragment whose ports
//! are elsewhere is decided over every policy ([`decide_unordered`]).

use crate::selector::{Decision, Flow, Known, Selector};

/// Number of hash slots (the index's table is this sparse array).
pub const SLOTS: u32 = 1 << 16;

/// Which fields of a selector are pinned, and how long its prefixes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Address family.
    pub family: u8,
    /// Source prefix length.
    pub src_len: u8,
    /// Destination prefix length.
    pub dst_len: u8,
    /// The protocol is one value (not any).
    pub proto: bool,
    /// The source port range is one port.
    pub sport: bool,
    /// The destination port range is one port.
    pub dport: bool,
}

/// The fields a slot is computed from.
struct Key<'a> {
    src: &'a [u8; 16],
    dst: &'a [u8; 16],
    proto: u8,
    sport: u16,
    dport: u16,
}

impl Shape {
    /// The shape of `sel`.
    pub fn of(sel: &Selector) -> Shape {
        Shape {
            family: sel.family,
            src_len: sel.src.len,
            dst_len: sel.dst.len,
            proto: sel.proto != 0,
            sport: sel.sport.lo == sel.sport.hi,
            dport: sel.dport.lo == sel.dport.hi,
        }
    }

    /// The slot to probe in this shape's subtable of direction `dir` for `flow`.
    pub fn slot_of_flow(&self, dir: u8, flow: &Flow, slots: u32) -> u32 {
        let key = Key {
            src: &flow.src,
            dst: &flow.dst,
            proto: flow.proto,
            sport: flow.sport,
            dport: flow.dport,
        };
        self.slot(dir, &key, slots)
    }

    fn slot(&self, dir: u8, key: &Key<'_>, slots: u32) -> u32 {
        let flags = u64::from(self.proto) | u64::from(self.sport) << 1 | u64::from(self.dport) << 2;
        let mut h = Hasher::default();
        h.add(u64::from_be_bytes([
            dir,
            self.family,
            self.src_len,
            self.dst_len,
            flags as u8,
            0,
            0,
            0,
        ]));
        h.add_addr(key.src, self.src_len);
        h.add_addr(key.dst, self.dst_len);
        let proto = if self.proto { key.proto } else { 0 };
        let sport = if self.sport { key.sport } else { 0 };
        let dport = if self.dport { key.dport } else { 0 };
        h.add(u64::from(proto) << 32 | u64::from(sport) << 16 | u64::from(dport));
        h.finish() % slots.max(1)
    }
}

/// The slot of policy selector `sel` in direction `dir`.
pub fn slot_of_selector(dir: u8, sel: &Selector, slots: u32) -> u32 {
    let key = Key {
        src: &sel.src.addr,
        dst: &sel.dst.addr,
        proto: sel.proto,
        sport: sel.sport.lo,
        dport: sel.dport.lo,
    };
    Shape::of(sel).slot(dir, &key, slots)
}

/// Multiply-xorshift hashing of 64-bit words (not keyed: only an administrator adds
/// policies, and packets only choose which slots are probed).
#[derive(Default)]
struct Hasher(u64);

impl Hasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 ^= self.0 >> 29;
    }

    /// Adds the first `len` bits of `addr`.
    fn add_addr(&mut self, addr: &[u8; 16], len: u8) {
        let bits = u128::from_be_bytes(*addr);
        let mask = u128::MAX
            .checked_shl(128 - u32::from(len.min(128)))
            .unwrap_or(0);
        let masked = bits & mask;
        self.add((masked >> 64) as u64);
        self.add(masked as u64);
    }

    /// MurmurHash3's finaliser, so that every input bit reaches the low bits.
    fn finish(self) -> u32 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^= x >> 33;
        x as u32
    }
}

/// A policy's place in precedence order: lower wins. Ordering ranks is
/// [`crate::selector::precedence`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rank {
    priority: u32,
    generality: u32,
    id: u32,
}

impl Rank {
    /// The rank of policy `id` with `priority` and selector `sel`.
    pub fn new(priority: u32, sel: &Selector, id: u32) -> Rank {
        Rank {
            priority,
            generality: u32::MAX - sel.specificity(),
            id,
        }
    }
}

/// The policies of one direction with one shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subtable {
    /// Their shape.
    pub shape: Shape,
    /// The rank of the best of them.
    pub best: Rank,
    /// How many there are.
    pub members: u32,
}

/// A growable list of subtables kept in order of their best policy (a `KVec` in the module,
/// a `Vec` on the host).
pub trait Subtables {
    /// The subtables.
    fn items(&mut self) -> &mut [Subtable];
    /// Appends one; false if out of memory.
    fn try_push(&mut self, t: Subtable) -> bool;
    /// Removes the one at `i`.
    fn remove_at(&mut self, i: usize);
}

/// What a change did to a subtable list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Only a member count changed: readers need not see a new list.
    Count,
    /// A subtable appeared, went, or its best policy changed.
    Order,
}

/// Adds a policy of `shape` and `rank` to `list`; `None` if out of memory (nothing changed).
pub fn add_member(list: &mut impl Subtables, shape: Shape, rank: Rank) -> Option<Change> {
    let items = list.items();
    if let Some(t) = items.iter_mut().find(|t| t.shape == shape) {
        t.members = t.members.saturating_add(1);
        if rank >= t.best {
            return Some(Change::Count);
        }
        t.best = rank;
    } else {
        let t = Subtable {
            shape,
            best: rank,
            members: 1,
        };
        if !list.try_push(t) {
            return None;
        }
    }
    order_by_best(list.items());
    Some(Change::Order)
}

/// Removes a policy of `shape` and `rank` from `list`. `next_best` gives the best remaining
/// policy of that shape, asked only when the removed one was the best.
pub fn remove_member(
    list: &mut impl Subtables,
    shape: Shape,
    rank: Rank,
    next_best: impl FnOnce() -> Option<Rank>,
) -> Change {
    let items = list.items();
    let Some(i) = items.iter().position(|t| t.shape == shape) else {
        return Change::Count;
    };
    let t = &mut items[i];
    t.members = t.members.saturating_sub(1);
    if t.members == 0 {
        list.remove_at(i);
        return Change::Order;
    }
    if t.best != rank {
        return Change::Count;
    }
    match next_best() {
        Some(best) => t.best = best,
        // Inconsistent counts: drop the subtable rather than probe an empty one forever.
        None => {
            list.remove_at(i);
            return Change::Order;
        }
    }
    order_by_best(items);
    Change::Order
}

/// Puts subtables back in order of their best rank after one of them changed: an insertion
/// sort, linear on a list that was in order but for one entry. (The standard sorts end in a
/// panic path that objtool does not know as one, in a module built for speed.)
fn order_by_best(items: &mut [Subtable]) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && items[j - 1].best > items[j].best {
            items.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Where a policy of `rank` goes in a slot (or list) whose entries have `ranks`, in order.
pub fn position(ranks: impl IntoIterator<Item = Rank>, rank: Rank) -> usize {
    ranks.into_iter().take_while(|r| *r < rank).count()
}

/// The first of a slot's entries `(policy, direction, selector, rank)`, in rank order, that
/// is a policy of direction `dir` matching `flow`.
pub fn first_match<'a, T>(
    entries: impl IntoIterator<Item = (T, u8, &'a Selector, Rank)>,
    dir: u8,
    flow: &Flow,
) -> Option<(T, Rank)> {
    entries
        .into_iter()
        .find(|(_, d, sel, _)| *d == dir && sel.matches(flow))
        .map(|(p, _, _, r)| (p, r))
}

/// The policy of direction `dir` that wins for `flow`, of which everything is known.
/// `subtables` are the direction's, in order of their best policy; `best_in(slot)` is
/// [`first_match`] over that slot's entries.
pub fn lookup<T>(
    subtables: &[Subtable],
    dir: u8,
    flow: &Flow,
    slots: u32,
    mut best_in: impl FnMut(u32) -> Option<(T, Rank)>,
) -> Option<T> {
    let mut best: Option<(T, Rank)> = None;
    for t in subtables {
        if best.as_ref().is_some_and(|(_, found)| *found < t.best) {
            break;
        }
        if t.shape.family != flow.family {
            continue;
        }
        if let Some((p, rank)) = best_in(t.shape.slot_of_flow(dir, flow, slots)) {
            if best.as_ref().is_none_or(|(_, found)| rank < *found) {
                best = Some((p, rank));
            }
        }
    }
    best.map(|(p, _)| p)
}

/// [`crate::selector::decide`] over `policies` `(policy, selector, bypasses, rank)` in any order:
/// the first policy in precedence order that decides is the lowest-ranked of those that do.
pub fn decide_unordered<'a, T>(
    policies: impl IntoIterator<Item = (T, &'a Selector, bool, Rank)>,
    flow: &Flow,
    known: Known,
) -> Decision<T> {
    let mut best: Option<(T, Rank, bool)> = None;
    for (p, sel, bypass, rank) in policies {
        if best.as_ref().is_some_and(|(_, found, _)| *found < rank) {
            continue;
        }
        if sel.surely_matches(flow, known) {
            best = Some((p, rank, true));
        } else if !bypass && sel.may_match(flow, known) {
            best = Some((p, rank, false));
        }
    }
    match best {
        Some((p, _, true)) => Decision::Matched(p),
        Some((p, _, false)) => Decision::Maybe(p),
        None => Decision::Unmatched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selector::{self, precedence, PortRange, Prefix, AF_INET, AF_INET6};
    use std::{collections::HashMap, vec::Vec};

    use crate::test_rng::Rng;

    #[derive(Clone, Copy, Debug)]
    struct Pol {
        id: u32,
        dir: u8,
        priority: u32,
        sel: Selector,
        bypass: bool,
    }

    impl Pol {
        fn rank(&self) -> Rank {
            Rank::new(self.priority, &self.sel, self.id)
        }
    }

    impl Subtables for Vec<Subtable> {
        fn items(&mut self) -> &mut [Subtable] {
            self
        }
        fn try_push(&mut self, t: Subtable) -> bool {
            self.push(t);
            true
        }
        fn remove_at(&mut self, i: usize) {
            self.remove(i);
        }
    }

    /// The index as the module keeps it, with `Vec`s and a `HashMap` for the slots.
    struct Index {
        slots: u32,
        table: HashMap<u32, Vec<Pol>>,
        subtables: [Vec<Subtable>; 3],
        /// Every policy per direction in rank order (the module's dump list).
        sorted: [Vec<Pol>; 3],
    }

    impl Index {
        fn new(slots: u32) -> Index {
            Index {
                slots,
                table: HashMap::new(),
                subtables: Default::default(),
                sorted: Default::default(),
            }
        }

        fn insert(&mut self, p: Pol) {
            let slot = slot_of_selector(p.dir, &p.sel, self.slots);
            let bucket = self.table.entry(slot).or_default();
            bucket.insert(position(bucket.iter().map(Pol::rank), p.rank()), p);
            let d = usize::from(p.dir);
            let list = &mut self.sorted[d];
            list.insert(position(list.iter().map(Pol::rank), p.rank()), p);
            add_member(&mut self.subtables[d], Shape::of(&p.sel), p.rank()).unwrap();
        }

        fn remove(&mut self, p: Pol) {
            let slot = slot_of_selector(p.dir, &p.sel, self.slots);
            let bucket = self.table.get_mut(&slot).unwrap();
            bucket.retain(|q| q.id != p.id);
            if bucket.is_empty() {
                self.table.remove(&slot);
            }
            let d = usize::from(p.dir);
            self.sorted[d].retain(|q| q.id != p.id);
            let shape = Shape::of(&p.sel);
            let sorted = &self.sorted[d];
            let next = || {
                sorted
                    .iter()
                    .find(|q| Shape::of(&q.sel) == shape)
                    .map(Pol::rank)
            };
            remove_member(&mut self.subtables[d], shape, p.rank(), next);
        }

        fn lookup(&self, dir: u8, flow: &Flow) -> Option<u32> {
            let probe = |slot: u32| {
                let bucket = self.table.get(&slot)?;
                let entries = bucket.iter().map(|p| (p.id, p.dir, &p.sel, p.rank()));
                first_match(entries, dir, flow)
            };
            lookup(
                &self.subtables[usize::from(dir)],
                dir,
                flow,
                self.slots,
                probe,
            )
        }
    }

    /// The reference: `selector::decide` over the policies in `precedence` order.
    fn sorted(policies: &[Pol]) -> Vec<Pol> {
        let mut v = policies.to_vec();
        v.sort_by(|a, b| precedence(a.priority, &a.sel, a.id, b.priority, &b.sel, b.id));
        v
    }

    fn linear(sorted: &[Pol], dir: u8, flow: &Flow, known: Known) -> Decision<u32> {
        let mine = sorted.iter().filter(|p| p.dir == dir);
        selector::decide(mine.map(|p| (p.id, &p.sel, p.bypass)), flow, known)
    }

    const V4_NETS: [[u8; 4]; 4] = [[10, 0, 0, 0], [10, 1, 0, 0], [192, 168, 1, 0], [0, 0, 0, 0]];
    const V6_NETS: [[u8; 2]; 3] = [[0x20, 0x01], [0xfd, 0x00], [0, 0]];

    fn addr(rng: &mut Rng, family: u8) -> [u8; 16] {
        let mut a = [0u8; 16];
        if family == AF_INET {
            a[..4].copy_from_slice(&rng.pick(&V4_NETS));
            a[2] |= rng.below(2) as u8;
            a[3] = rng.pick(&[0, 1, 2, 128, 255]);
        } else {
            a[..2].copy_from_slice(&rng.pick(&V6_NETS));
            a[7] = rng.below(2) as u8;
            a[15] = rng.pick(&[0, 1, 2, 128]);
        }
        a
    }

    fn prefix(rng: &mut Rng, family: u8) -> Prefix {
        let len = if family == AF_INET {
            rng.pick(&[0, 8, 16, 23, 24, 31, 32])
        } else {
            rng.pick(&[0, 16, 56, 64, 127, 128])
        };
        Prefix {
            addr: addr(rng, family),
            len,
        }
        .masked()
    }

    fn ports(rng: &mut Rng) -> PortRange {
        match rng.below(4) {
            0 | 1 => PortRange::ANY,
            2 => {
                let p = rng.pick(&[0, 53, 80, 443, 500]);
                PortRange { lo: p, hi: p }
            }
            _ => {
                let lo = rng.pick(&[0, 50, 80, 1024]);
                PortRange {
                    lo,
                    hi: lo + rng.pick(&[1, 3, 500, 10000]),
                }
            }
        }
    }

    fn policy(rng: &mut Rng, id: u32) -> Pol {
        let family = if rng.below(4) == 0 { AF_INET6 } else { AF_INET };
        let sel = Selector {
            family,
            src: prefix(rng, family),
            dst: prefix(rng, family),
            proto: rng.pick(&[0, 0, 6, 17, 1]),
            sport: ports(rng),
            dport: ports(rng),
        };
        Pol {
            id,
            dir: rng.below(3) as u8,
            priority: rng.pick(&[0, 100, 100, 100, 1000]),
            sel,
            bypass: rng.below(3) == 0,
        }
    }

    fn flow(rng: &mut Rng) -> Flow {
        let family = if rng.below(4) == 0 { AF_INET6 } else { AF_INET };
        let mut src = addr(rng, family);
        if family == AF_INET {
            // Bytes past an IPv4 address are not part of it.
            src[9] = rng.below(2) as u8;
        }
        Flow {
            family,
            src,
            dst: addr(rng, family),
            proto: rng.pick(&[6, 17, 1, 50]),
            sport: rng.pick(&[0, 53, 80, 81, 443, 500, 1500, 40000]),
            dport: rng.pick(&[0, 53, 80, 81, 443, 500, 1500, 40000]),
        }
    }

    fn check_all(index: &Index, policies: &[Pol], rng: &mut Rng, flows: usize) -> usize {
        let policies = &sorted(policies);
        let mut matched = 0;
        for _ in 0..flows {
            let f = flow(rng);
            let dir = rng.below(3) as u8;
            let want = match linear(policies, dir, &f, Known::All) {
                Decision::Matched(id) => Some(id),
                Decision::Unmatched => None,
                Decision::Maybe(_) => unreachable!("everything is known"),
            };
            assert_eq!(index.lookup(dir, &f), want, "dir {dir} flow {f:?}");
            matched += usize::from(want.is_some());
        }
        matched
    }

    #[test]
    fn rank_order_is_precedence() {
        let mut rng = Rng(7);
        for i in 0..5000 {
            let a = policy(&mut rng, i);
            let gap = rng.below(3) as u32;
            let b = policy(&mut rng, i + 1 + gap);
            let b = if rng.below(10) == 0 {
                Pol { id: a.id, ..b }
            } else {
                b
            };
            assert_eq!(
                a.rank().cmp(&b.rank()),
                precedence(a.priority, &a.sel, a.id, b.priority, &b.sel, b.id)
            );
        }
    }

    /// Random policy sets and packets: the index finds the linear first match every time, also
    /// with so few slots that shapes and directions share them.
    #[test]
    fn index_equals_linear_precedence() {
        let mut matched = 0;
        for (seed, slots) in [(1u64, SLOTS), (2, 8), (3, 2), (4, SLOTS), (5, 64)] {
            let mut rng = Rng(seed);
            let mut index = Index::new(slots);
            let mut policies = Vec::new();
            for id in 1..=300 {
                let p = policy(&mut rng, id);
                index.insert(p);
                policies.push(p);
            }
            matched += check_all(&index, &policies, &mut rng, 2000);
        }
        // The sets are dense enough that most packets meet a policy.
        assert!(matched > 5_000, "only {matched} packets matched a policy");
    }

    /// Inserts and deletes in random order keep the index equal to the reference.
    #[test]
    fn index_survives_inserts_and_deletes() {
        let mut rng = Rng(11);
        let mut index = Index::new(16);
        let mut policies: Vec<Pol> = Vec::new();
        for id in 1..=3000 {
            if !policies.is_empty() && rng.below(5) < 2 {
                let victim = policies.swap_remove(rng.below(policies.len() as u64) as usize);
                index.remove(victim);
            } else {
                let p = policy(&mut rng, id);
                index.insert(p);
                policies.push(p);
            }
            if id % 100 == 0 {
                check_all(&index, &policies, &mut rng, 200);
                for d in 0..3 {
                    let members: u32 = index.subtables[d].iter().map(|t| t.members).sum();
                    assert_eq!(members as usize, index.sorted[d].len());
                }
            }
        }
        while let Some(p) = policies.pop() {
            index.remove(p);
        }
        assert!(index.table.is_empty() && index.subtables.iter().all(Vec::is_empty));
    }

    /// The fallback for packets known only in part decides as the ordered scan does.
    #[test]
    fn unordered_decision_equals_ordered() {
        let mut rng = Rng(23);
        for _ in 0..50 {
            let policies: Vec<Pol> = (1..=60).map(|id| policy(&mut rng, id)).collect();
            let reference = sorted(&policies);
            for _ in 0..300 {
                let f = flow(&mut rng);
                let dir = rng.below(3) as u8;
                let known = rng.pick(&[Known::All, Known::Proto, Known::Addresses]);
                let mine = policies.iter().filter(|p| p.dir == dir);
                let got =
                    decide_unordered(mine.map(|p| (p.id, &p.sel, p.bypass, p.rank())), &f, known);
                assert_eq!(got, linear(&reference, dir, &f, known));
            }
        }
    }

    /// Policies that pin nothing or everything, and ranges, land where packets probe.
    #[test]
    fn matching_policies_share_the_probed_slot() {
        let mut rng = Rng(5);
        let mut hits = 0;
        for id in 0..20000 {
            let p = policy(&mut rng, id);
            let f = flow(&mut rng);
            if p.sel.matches(&f) {
                hits += 1;
                let shape = Shape::of(&p.sel);
                assert_eq!(
                    slot_of_selector(p.dir, &p.sel, SLOTS),
                    shape.slot_of_flow(p.dir, &f, SLOTS)
                );
            }
        }
        assert!(hits > 150, "{hits}");
    }

    /// Many /32 policies of one shape spread over the slots (the benchmark's worst case for a
    /// linear SPD is one probe here).
    #[test]
    fn host_routes_spread_over_slots() {
        let mut used = std::collections::HashSet::new();
        for i in 0u32..10_000 {
            let host = (172u32 << 24 | 16 << 16) + i;
            let mut dst = [0u8; 16];
            dst[..4].copy_from_slice(&host.to_be_bytes());
            let sel = Selector {
                family: AF_INET,
                src: Prefix {
                    addr: [0; 16],
                    len: 0,
                },
                dst: Prefix { addr: dst, len: 32 },
                proto: 0,
                sport: PortRange::ANY,
                dport: PortRange::ANY,
            };
            used.insert(slot_of_selector(0, &sel, SLOTS));
        }
        // 10k balls in 65536 bins: about 9300 distinct expected.
        assert!(used.len() > 9000, "{}", used.len());
    }
}
