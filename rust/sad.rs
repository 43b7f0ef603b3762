// SPDX-License-Identifier: GPL-2.0
//! The Security Association Database of one netns: SAs keyed by (SPI, protocol, family,
//! destination), indexed by SPI and by reqid and destination in tables of RCU slots (O(1)
//! lookups, lock-free). Each index holds an immutable bucket, replaced copy-on-write.

use crate::{
    alg::{Alg, CryptoKind},
    ffi::{self, Aead, ArcSlots, Rcu, Retired, Shash},
    icmp_err::LearntMtu,
    lifetime::{self, Lifetime, Usage},
    replay::{self, OutboundSeq, ReplayWindow, SeqOverflow},
    selector::AF_INET6,
    uapi::stats_attr,
    udp_encap::{self, MappingLimiter},
};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use kernel::{
    new_spinlock,
    prelude::*,
    sync::{lock::spinlock::SpinLockGuard, Arc, SpinLock},
};

/// What identifies an SA (RFC 4301 §4.1: SPI, destination, protocol).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct SaId {
    /// Security Parameter Index.
    pub(crate) spi: u32,
    /// ESP or AH.
    pub(crate) proto: u8,
    /// AF_INET or AF_INET6.
    pub(crate) family: u8,
    /// Outer destination address (IPv4 in the first 4 bytes).
    pub(crate) dst: [u8; 16],
}

/// Key material, zeroized when dropped.
pub(crate) struct SecretKey(KVec<u8>);

impl SecretKey {
    /// Copies `key`.
    pub(crate) fn new(key: &[u8]) -> Result<Self> {
        let mut v = KVec::with_capacity(key.len(), GFP_KERNEL)?;
        v.extend_from_slice(key, GFP_KERNEL)?;
        Ok(Self(v))
    }

    /// The key bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        ffi::memzero(&mut self.0);
    }
}

/// The keyed crypto transform of an SA.
pub(crate) enum Transform {
    /// ESP: an AEAD (GCM, ChaCha20-Poly1305, or authenc).
    Aead(Aead),
    /// AH: a keyed hash (HMAC, AES-XCBC or AES-CMAC).
    Hash(Shash),
}

impl Transform {
    /// The crypto driver in use.
    pub(crate) fn driver(&self) -> &str {
        match self {
            Transform::Aead(a) => a.driver(),
            Transform::Hash(h) => h.driver(),
        }
    }
}

/// Number of counter slots in [`Counters`]: one per `stats` attribute (padding's stays 0).
pub(crate) const NUM_COUNTERS: usize = stats_attr::MAX as usize;

/// The slot of counter `attr` (a `stats_attr` number; past every slot for 0).
fn counter_index(attr: u16) -> usize {
    usize::from(attr).wrapping_sub(1)
}

/// Packet and drop counters, indexed by `stats_attr` number - 1.
pub(crate) struct Counters([AtomicU64; NUM_COUNTERS]);

impl Counters {
    /// All zero.
    pub(crate) fn new() -> Self {
        Self([const { AtomicU64::new(0) }; NUM_COUNTERS])
    }

    /// Adds `n` to counter `attr` (a `stats_attr` number).
    pub(crate) fn add(&self, attr: u16, n: u64) {
        if let Some(c) = self.0.get(counter_index(attr)) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Counter `attr` (a `stats_attr` number).
    pub(crate) fn get(&self, attr: u16) -> u64 {
        self.0
            .get(counter_index(attr))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Writes every counter as a `stats` nest.
    pub(crate) fn put(&self, w: &mut ffi::MsgWriter, nest: u16) -> Result {
        put_counters(w, nest, |i| self.0[i].load(Ordering::Relaxed))
    }
}

/// Writes counters `0..NUM_COUNTERS` (attribute `i + 1` holds `value(i)`) as a `stats` nest.
fn put_counters(w: &mut ffi::MsgWriter, nest: u16, value: impl Fn(usize) -> u64) -> Result {
    w.nest(nest, |w| {
        for i in 0..NUM_COUNTERS {
            let attr = u16::try_from(i + 1).map_err(|_| EINVAL)?;
            if attr != stats_attr::PAD {
                w.put_u64(attr, value(i))?;
            }
        }
        Ok(())
    })
}

/// A netns's packet and drop counters, like [`Counters`] but per CPU: every packet of every
/// SA adds to them, from whichever CPU it is on.
pub(crate) struct NetCounters(ffi::PerCpuU64<NUM_COUNTERS>);

impl NetCounters {
    /// All zero.
    pub(crate) fn new() -> Result<Self> {
        Ok(Self(ffi::PerCpuU64::new()?))
    }

    /// Adds `n` to counter `attr` (a `stats_attr` number).
    pub(crate) fn add(&self, attr: u16, n: u64) {
        self.0.add(counter_index(attr), n);
    }

    /// Counts one packet of `bytes` in counters `packets` and `bytes_attr`.
    #[inline(always)]
    pub(crate) fn add_packet(&self, packets: u16, bytes_attr: u16, bytes: u64) {
        self.0
            .add2(counter_index(packets), 1, counter_index(bytes_attr), bytes);
    }

    /// Writes every counter as a `stats` nest.
    pub(crate) fn put(&self, w: &mut ffi::MsgWriter, nest: u16) -> Result {
        put_counters(w, nest, |i| self.0.sum(i))
    }
}

/// Lifetime limits, settable by SA_UPDATE: soft bytes, packets, add secs, use secs, then the
/// same four hard limits (0 = none).
pub(crate) struct Limits {
    values: [AtomicU64; 8],
    /// Whether any value is set: what the data path asks per packet.
    any: AtomicBool,
}

impl Limits {
    /// From the eight values in attribute order.
    pub(crate) fn new(v: [u64; 8]) -> Self {
        Self {
            values: v.map(AtomicU64::new),
            any: AtomicBool::new(v.iter().any(|&x| x != 0)),
        }
    }

    /// Replaces all eight values.
    pub(crate) fn set(&self, v: [u64; 8]) {
        for (a, x) in self.values.iter().zip(v) {
            a.store(x, Ordering::Relaxed);
        }
        self.any.store(v.iter().any(|&x| x != 0), Ordering::Relaxed);
    }

    /// The eight values.
    pub(crate) fn get(&self) -> [u64; 8] {
        let mut v = [0u64; 8];
        for (x, a) in v.iter_mut().zip(&self.values) {
            *x = a.load(Ordering::Relaxed);
        }
        v
    }

    /// Whether no limit is set (one load).
    #[inline]
    pub(crate) fn none(&self) -> bool {
        !self.any.load(Ordering::Relaxed)
    }

    /// As a [`Lifetime`].
    pub(crate) fn lifetime(&self) -> Lifetime {
        let [sb, sp, sa, su, hb, hp, ha, hu] = self.get();
        let l = |bytes, packets, add_secs, use_secs| lifetime::Limits {
            bytes,
            packets,
            add_secs,
            use_secs,
        };
        Lifetime {
            soft: l(sb, sp, sa, su),
            hard: l(hb, hp, ha, hu),
        }
    }
}

/// Where an SA stands against its lifetime, as far as events go ([`Sa::expiry`]).
pub(crate) mod expiry {
    /// No limit reached (or limits raised since).
    pub(crate) const LIVE: u8 = 0;
    /// The data path saw a soft limit; the expiry work will send EXPIRE(soft).
    pub(crate) const SOFT_PENDING: u8 = 1;
    /// EXPIRE(soft) was sent.
    pub(crate) const SOFT_SENT: u8 = 2;
    /// A hard limit was reached: the SA carries no more traffic and is being removed.
    pub(crate) const HARD: u8 = 3;
}

/// The words of a replay window's bitmap, as many as its size needs.
pub(crate) struct ReplayBits(KVec<u64>);

impl ReplayBits {
    /// Zeroed words for a window of `size` packets.
    fn new(size: u32) -> Result<Self> {
        Ok(Self(KVec::from_elem(
            0,
            replay::words_for(size),
            GFP_KERNEL,
        )?))
    }
}

impl replay::Words for ReplayBits {
    fn words(&self) -> &[u64] {
        &self.0
    }
    fn words_mut(&mut self) -> &mut [u64] {
        &mut self.0
    }
}

/// What changes per packet, under the SA's spinlock.
pub(crate) struct SaRuntime {
    /// Inbound anti-replay window.
    pub(crate) replay: ReplayWindow<ReplayBits>,
    /// When ESP in UDP from a new address or port is reported (MAPPING).
    pub(crate) mapping: MappingLimiter,
}

/// The UDP encapsulation of an SA (ESP in UDP, RFC 3948).
pub(crate) struct Encap {
    /// Source and destination port ([`udp_encap::pack_ports`]); SA_UPDATE may change them.
    ports: AtomicU32,
}

impl Encap {
    /// Encapsulation with these ports.
    pub(crate) fn new(sport: u16, dport: u16) -> Self {
        Self {
            ports: AtomicU32::new(udp_encap::pack_ports(sport, dport)),
        }
    }

    /// `(sport, dport)`: outbound, ours and the peer's; inbound, the peer's and ours.
    pub(crate) fn ports(&self) -> (u16, u16) {
        udp_encap::unpack_ports(self.ports.load(Ordering::Relaxed))
    }

    /// Replaces the ports (the peer's NAT mapping changed).
    pub(crate) fn set_ports(&self, sport: u16, dport: u16) {
        self.ports
            .store(udp_encap::pack_ports(sport, dport), Ordering::Relaxed);
    }
}

/// One Security Association.
#[pin_data]
pub(crate) struct Sa {
    /// Its key in the SAD.
    pub(crate) id: SaId,
    /// Transport or tunnel.
    pub(crate) mode: u8,
    /// Outer source address.
    pub(crate) src: [u8; 16],
    /// The algorithm.
    pub(crate) alg: &'static Alg,
    /// Key material as the user gave it.
    pub(crate) key: SecretKey,
    /// Links the SA to policy templates.
    pub(crate) reqid: u32,
    /// 64-bit sequence numbers.
    pub(crate) esn: bool,
    /// AH over IPv4 padded to 64 bits (`ah::ah_len`).
    pub(crate) ah_align8: bool,
    /// Lifetime limits.
    pub(crate) limits: Limits,
    /// Seconds since boot when added.
    pub(crate) add_time: u64,
    /// Seconds since boot when first used; 0 = not yet.
    pub(crate) first_use: AtomicU64,
    /// An [`expiry`] state.
    pub(crate) expiry: AtomicU8,
    /// Counters.
    pub(crate) counters: Counters,
    /// The keyed transform.
    pub(crate) transform: Transform,
    /// Which of ripsec's reassembly queues take the fragments it decrypts (one per SA).
    pub(crate) frag_queue: u32,
    /// The path MTU towards the peer learnt from ICMP errors about this (outbound) SA's
    /// packets, until it expires (`icmp_err::LearntMtu`); none: the device's MTU holds.
    pub(crate) pmtu: AtomicU64,
    /// UDP encapsulation, if any.
    pub(crate) encap: Option<Encap>,
    /// Replay window and NAT mapping reports. The receive path (softirq) takes it, and so
    /// do netlink requests in process context: always with bottom halves off
    /// ([`Sa::runtime`]).
    #[pin]
    rt: SpinLock<SaRuntime>,
    /// The outer route of the packets it sends.
    pub(crate) route: ffi::RouteCache,
    /// The last outbound sequence number handed out: an atomic, so that senders on several
    /// CPUs take no lock ([`Sa::next_seq`]).
    out_seq: AtomicU64,
}

/// The next SA's reassembly queue number, wrapping within [`FRAG_QUEUE_MASK`] (past it, two SAs
/// a billion apart would share queues).
static NEXT_FRAG_QUEUE: AtomicU32 = AtomicU32::new(0);
const FRAG_QUEUE_MASK: u32 = 0x3fff_ffff;
/// The reassembly queue for fragmented ESP and AH packets themselves (outside every SA's).
pub(crate) const OUTER_FRAG_QUEUE: u32 = FRAG_QUEUE_MASK + 1;

/// What [`Sa::new`] needs besides the runtime state.
pub(crate) struct SaParams {
    /// See [`Sa`].
    pub(crate) id: SaId,
    /// See [`Sa`].
    pub(crate) mode: u8,
    /// See [`Sa`].
    pub(crate) src: [u8; 16],
    /// See [`Sa`].
    pub(crate) alg: &'static Alg,
    /// See [`Sa`].
    pub(crate) key: SecretKey,
    /// See [`Sa`].
    pub(crate) reqid: u32,
    /// Anti-replay window size in packets.
    pub(crate) replay_window: u32,
    /// See [`Sa`].
    pub(crate) esn: bool,
    /// See [`Sa`].
    pub(crate) ah_align8: bool,
    /// See [`Sa`].
    pub(crate) limits: [u64; 8],
    /// See [`Sa`].
    pub(crate) transform: Transform,
    /// UDP encapsulation ports `(sport, dport)`, if any.
    pub(crate) encap: Option<(u16, u16)>,
    /// See [`Sa`] (now, for a new SA).
    pub(crate) add_time: u64,
}

impl Sa {
    /// A new SA, reference-counted and pinned.
    pub(crate) fn new(p: SaParams) -> Result<Arc<Sa>> {
        let bits = ReplayBits::new(p.replay_window)?;
        let replay = ReplayWindow::with_bitmap(p.replay_window, p.esn, bits).map_err(|_| EINVAL)?;
        let rt = SaRuntime {
            replay,
            mapping: MappingLimiter::default(),
        };
        Arc::pin_init(
            pin_init!(Sa {
                id: p.id,
                mode: p.mode,
                src: p.src,
                alg: p.alg,
                key: p.key,
                reqid: p.reqid,
                esn: p.esn,
                ah_align8: p.ah_align8,
                limits: Limits::new(p.limits),
                add_time: p.add_time,
                first_use: AtomicU64::new(0),
                expiry: AtomicU8::new(expiry::LIVE),
                counters: Counters::new(),
                transform: p.transform,
                frag_queue: NEXT_FRAG_QUEUE.fetch_add(1, Ordering::Relaxed) & FRAG_QUEUE_MASK,
                pmtu: AtomicU64::new(LearntMtu::NONE.bits()),
                encap: p.encap.map(|(sport, dport)| Encap::new(sport, dport)),
                rt <- new_spinlock!(rt),
                route: ffi::RouteCache::new(),
                out_seq: AtomicU64::new(0),
            }),
            GFP_KERNEL,
        )
    }

    /// The per-packet state, locked with bottom halves off.
    pub(crate) fn runtime(&self) -> ffi::BhGuard<'_, SaRuntime> {
        ffi::lock_bh(&self.rt)
    }

    /// [`Sa::runtime`] while `bh` keeps bottom halves off.
    pub(crate) fn runtime_under<'a>(
        &'a self,
        bh: &'a ffi::BottomHalvesOff,
    ) -> SpinLockGuard<'a, SaRuntime> {
        ffi::lock_under(&self.rt, bh)
    }

    /// The next outbound sequence number, or [`SeqOverflow`] (for good) once they are used up.
    pub(crate) fn next_seq(&self) -> Result<u64, SeqOverflow> {
        let advance = |last| replay::seq_after(last, self.esn).ok();
        let last = self
            .out_seq
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, advance)
            .map_err(|_| SeqOverflow)?;
        replay::seq_after(last, self.esn)
    }

    /// The last outbound sequence number handed out (0 if none).
    pub(crate) fn last_seq(&self) -> u64 {
        self.out_seq.load(Ordering::Relaxed)
    }

    /// The path MTU towards the peer: the device's `dev_mtu`, or less while what an ICMP
    /// error said holds (0 stays 0: no route, no limit).
    pub(crate) fn path_mtu(&self, dev_mtu: usize) -> usize {
        match self.learnt_mtu() as usize {
            0 => dev_mtu,
            learnt => learnt.min(dev_mtu),
        }
    }

    /// The path MTU learnt from ICMP that holds now; 0: none.
    pub(crate) fn learnt_mtu(&self) -> u32 {
        let learnt = LearntMtu::from_bits(self.pmtu.load(Ordering::Relaxed));
        if learnt == LearntMtu::NONE {
            return 0;
        }
        learnt.mtu(ffi::seconds())
    }

    /// An ICMP error said a hop towards the peer takes at most `mtu` bytes, which holds for
    /// `expires` seconds: the path MTU goes down, or is renewed.
    pub(crate) fn note_too_big(&self, mtu: u32, expires: u64) {
        let v6 = self.id.family == AF_INET6;
        let now = ffi::seconds();
        // An `Err` is a report that changes nothing (a larger MTU while one holds).
        let _ = self
            .pmtu
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cur| {
                let r = LearntMtu::from_bits(cur).reported(mtu, v6, now, expires);
                r.map(LearntMtu::bits)
            });
    }

    /// Whether a hard limit ended the SA.
    pub(crate) fn expired(&self) -> bool {
        self.expiry.load(Ordering::Relaxed) == expiry::HARD
    }

    /// What the SA used so far (an SA carries one direction, so in + out is its traffic).
    pub(crate) fn usage(&self) -> Usage {
        let c = &self.counters;
        Usage {
            bytes: c.get(stats_attr::BYTES_IN) + c.get(stats_attr::BYTES_OUT),
            packets: c.get(stats_attr::PACKETS_IN) + c.get(stats_attr::PACKETS_OUT),
            add_time: self.add_time,
            first_use: self.first_use.load(Ordering::Relaxed),
        }
    }

    /// A copy of this SA at new outer addresses (`dst` is part of its id) and encapsulation
    /// ports, with the same keys, limits, counters, sequence numbers and replay window: the
    /// peer moved (MIGRATE). The outbound counter skips `seq_gap` numbers, for packets this
    /// copy may still send while readers switch over. May sleep.
    pub(crate) fn moved(
        &self,
        (src, dst): ([u8; 16], [u8; 16]),
        encap: Option<(u16, u16)>,
        seq_gap: u64,
    ) -> Result<Arc<Sa>> {
        let size = self.runtime().replay.size();
        let fresh = ReplayWindow::with_bitmap(size, self.esn, ReplayBits::new(size)?);
        let fresh = fresh.map_err(|_| EINVAL)?;
        // Copied under the lock, into words allocated before it.
        let replay = fresh
            .copied_from(&self.runtime().replay)
            .map_err(|_| EINVAL)?;
        let out = OutboundSeq::starting_at(self.last_seq(), self.esn).resumed(seq_gap);
        let moved = Sa::new(SaParams {
            id: SaId { dst, ..self.id },
            mode: self.mode,
            src,
            alg: self.alg,
            key: SecretKey::new(self.key.bytes())?,
            reqid: self.reqid,
            replay_window: replay.size(),
            esn: self.esn,
            ah_align8: self.ah_align8,
            limits: self.limits.get(),
            transform: new_transform(self.alg, self.key.bytes(), self.esn)?,
            encap,
            add_time: self.add_time,
        })?;
        {
            let mut rt = moved.runtime();
            rt.replay = replay;
        }
        moved.out_seq.store(out.last(), Ordering::Relaxed);
        for attr in 1..=stats_attr::MAX {
            moved.counters.add(attr, self.counters.get(attr));
        }
        let first_use = self.first_use.load(Ordering::Relaxed);
        moved.first_use.store(first_use, Ordering::Relaxed);
        let expiry = self.expiry.load(Ordering::Relaxed);
        moved.expiry.store(expiry, Ordering::Relaxed);
        Ok(moved)
    }

    /// The keyed hash (AH SAs).
    pub(crate) fn hash(&self) -> Option<&Shash> {
        match &self.transform {
            Transform::Hash(h) => Some(h),
            Transform::Aead(_) => None,
        }
    }

    /// The AEAD transform (ESP SAs).
    pub(crate) fn aead(&self) -> Option<&Aead> {
        match &self.transform {
            Transform::Aead(a) => Some(a),
            Transform::Hash(_) => None,
        }
    }
}

/// Builds the key the crypto API expects from the user's key (`alg.rs` documents the layout).
fn crypto_key(alg: &Alg, user: &[u8]) -> Result<SecretKey> {
    match alg.kind {
        CryptoKind::Aead | CryptoKind::Hash => SecretKey::new(user),
        CryptoKind::AuthEnc => {
            let mut blob = [0u8; crate::alg::AUTHENC_BLOB_MAX];
            let n = crate::alg::authenc_key_blob(alg, user, &mut blob).map_err(|_| EINVAL);
            let r = n.and_then(|n| SecretKey::new(&blob[..n]));
            ffi::memzero(&mut blob);
            r
        }
    }
}

/// Allocates and keys the transform for `alg`, in its ESN form for `esn` (may sleep).
pub(crate) fn new_transform(alg: &Alg, user_key: &[u8], esn: bool) -> Result<Transform> {
    let key = crypto_key(alg, user_key)?;
    match alg.kind {
        CryptoKind::Hash => {
            let mut h = Shash::new(alg.kernel_name)?;
            h.set_key(key.bytes())?;
            Ok(Transform::Hash(h))
        }
        CryptoKind::Aead | CryptoKind::AuthEnc => {
            let name = if esn {
                alg.esn_kernel_name
            } else {
                alg.kernel_name
            };
            let mut a = Aead::new(name)?;
            a.set_key(key.bytes())?;
            a.set_auth_size(alg.icv_len)?;
            Ok(Transform::Aead(a))
        }
    }
}

/// SAs sharing one index key (SPI, or reqid), replaced copy-on-write.
pub(crate) struct Bucket {
    sas: KVec<Arc<Sa>>,
}

/// An index from a `u32` key to the SAs with that key.
struct Index(ArcSlots<Bucket>);

/// Whether `a` and `b` are the same SA object (ids may repeat while an SA is replaced).
fn same(a: &Sa, b: &Sa) -> bool {
    core::ptr::eq(a, b)
}

impl Index {
    /// Stores bucket `key` without the SAs `drop` picks and with `add`, in one store.
    fn rebuild(
        &self,
        key: u32,
        drop: impl Fn(&Sa) -> bool,
        add: Option<&Arc<Sa>>,
        retired: &mut KVec<Retired<Bucket>>,
    ) -> Result {
        let mut sas = KVec::new();
        if let Some(old) = self.0.get(key) {
            for x in old.sas.iter().filter(|x| !drop(x)) {
                sas.push(x.clone(), GFP_KERNEL)?;
            }
        }
        if let Some(sa) = add {
            sas.push(sa.clone(), GFP_KERNEL)?;
        }
        let r = if sas.is_empty() {
            self.0.remove(key)
        } else {
            self.0.store(key, Arc::new(Bucket { sas }, GFP_KERNEL)?)?
        };
        if let Some(r) = r {
            retired.push(r, GFP_KERNEL)?;
        }
        Ok(())
    }

    fn add(&self, key: u32, sa: &Arc<Sa>, retired: &mut KVec<Retired<Bucket>>) -> Result {
        self.rebuild(key, |_| false, Some(sa), retired)
    }

    fn remove(&self, key: u32, id: &SaId, retired: &mut KVec<Retired<Bucket>>) -> Result {
        if self.0.get(key).is_none() {
            return Ok(());
        }
        self.rebuild(key, |x| x.id == *id, None, retired)
    }
}

/// Both indexes fold their keys into the `2^SLOT_BITS` slots of an [`ArcSlots`]: 100k SAs
/// fill all of its 256 leaves (2 KiB each) and buckets hold 1.5 SAs on average.
const SLOT_BITS: u32 = ffi::SLOT_KEY_BITS;

/// The bucket of a 32-bit key (multiplicative hashing: the top bits of `key * 2^32/phi`), so
/// that keys differing only in high or only in low bits still spread.
fn slot(key: u32) -> u32 {
    key.wrapping_mul(0x9e37_79b1) >> (32 - SLOT_BITS)
}

/// The outbound index key of an SA: its reqid and outer destination, mixed (FNV-1a), so that
/// SAs sharing a reqid (manual keying often leaves it 0) still spread over buckets.
fn out_key(reqid: u32, dst: &[u8; 16]) -> u32 {
    let fnv = |h: u32, b: &u8| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
    let h = reqid.to_ne_bytes().iter().fold(0x811c_9dc5u32, fnv);
    slot(dst.iter().fold(h, fnv))
}

/// The inbound index key of an SA.
fn spi_key(spi: u32) -> u32 {
    slot(spi)
}

/// The SAD of one netns.
///
/// # Invariants
///
/// Readers are lock-free; writers (`insert`, `remove`, `flush`) are serialised by the
/// netns config mutex, so the copy-on-write bucket updates never race each other.
pub(crate) struct Sad {
    by_spi: Index,
    /// Outbound lookups, keyed by [`out_key`] (reqid and destination).
    by_out: Index,
    count: AtomicUsize,
}

impl Sad {
    /// An empty SAD.
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            by_spi: Index(ArcSlots::new()?),
            by_out: Index(ArcSlots::new()?),
            count: AtomicUsize::new(0),
        })
    }

    /// Number of SAs.
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether any SA (of any protocol or destination) uses `spi`.
    pub(crate) fn spi_in_use(&self, spi: u32) -> bool {
        let rcu = kernel::sync::rcu::read_lock();
        let bucket = self.by_spi.0.load(spi_key(spi), Rcu::of(&rcu));
        bucket.is_some_and(|b| b.sas.iter().any(|sa| sa.id.spi == spi))
    }

    /// The SA with this id (inbound lookup: O(1), lock-free).
    pub(crate) fn get(&self, id: &SaId) -> Option<Arc<Sa>> {
        let rcu = kernel::sync::rcu::read_lock();
        self.lookup(id, Rcu::of(&rcu)).cloned()
    }

    /// The SA with this id, borrowed for as long as the caller's RCU read lock (the data
    /// path: no shared reference count written per packet).
    pub(crate) fn lookup<'g>(&'g self, id: &SaId, rcu: Rcu<'g>) -> Option<&'g Arc<Sa>> {
        let bucket = self.by_spi.0.load(spi_key(id.spi), rcu)?;
        bucket.sas.iter().find(|sa| sa.id == *id)
    }

    /// The newest SA with `reqid` that satisfies `ok` (outbound lookup, lock-free), borrowed
    /// as [`Sad::lookup`] borrows.
    pub(crate) fn find_out<'g>(
        &'g self,
        reqid: u32,
        dst: &[u8; 16],
        ok: impl Fn(&Sa) -> bool,
        rcu: Rcu<'g>,
    ) -> Option<&'g Arc<Sa>> {
        let bucket = self.by_out.0.load(out_key(reqid, dst), rcu)?;
        bucket
            .sas
            .iter()
            .rev()
            .find(|sa| sa.reqid == reqid && sa.id.dst == *dst && ok(sa))
    }

    /// Adds an SA; `EEXIST` if its id is taken. Caller holds the config mutex.
    pub(crate) fn insert(&self, sa: Arc<Sa>) -> Result {
        if self.get(&sa.id).is_some() {
            return Err(EEXIST);
        }
        let mut retired = KVec::new();
        let r = self
            .by_spi
            .add(spi_key(sa.id.spi), &sa, &mut retired)
            .and_then(|()| {
                self.by_out
                    .add(out_key(sa.reqid, &sa.id.dst), &sa, &mut retired)
                    .inspect_err(|_| {
                        let _ = self.by_spi.remove(spi_key(sa.id.spi), &sa.id, &mut retired);
                    })
            });
        if r.is_ok() {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        Retired::release_all(retired);
        r
    }

    /// Puts `new` in the place of the SA `old` (same SPI): inbound lookups see one or the
    /// other, never neither. When the destination changed, outbound lookups still find `old`
    /// by its destination until [`Sad::retire_out`]. `EEXIST` if `new`'s id is another SA's.
    /// Caller holds the config mutex.
    pub(crate) fn replace(&self, old: &Arc<Sa>, new: &Arc<Sa>) -> Result {
        if new.id.spi != old.id.spi {
            return Err(EINVAL);
        }
        if new.id != old.id && self.get(&new.id).is_some() {
            return Err(EEXIST);
        }
        let mut retired = KVec::new();
        let is_old = |x: &Sa| same(x, old);
        let new_out = out_key(new.reqid, &new.id.dst);
        let r = if new_out == out_key(old.reqid, &old.id.dst) {
            self.by_out
                .rebuild(new_out, is_old, Some(new), &mut retired)
        } else {
            self.by_out.add(new_out, new, &mut retired)
        };
        let r = r.and_then(|()| {
            self.by_spi
                .rebuild(spi_key(old.id.spi), is_old, Some(new), &mut retired)
        });
        Retired::release_all(retired);
        r
    }

    /// Ends outbound lookups of `old` after [`Sad::replace`] (a no-op if they already ended).
    pub(crate) fn retire_out(&self, old: &Arc<Sa>) -> Result {
        let key = out_key(old.reqid, &old.id.dst);
        let Some(bucket) = self.by_out.0.get(key) else {
            return Ok(());
        };
        if !bucket.sas.iter().any(|x| same(x, old)) {
            return Ok(());
        }
        let mut retired = KVec::new();
        let r = self
            .by_out
            .rebuild(key, |x| same(x, old), None, &mut retired);
        Retired::release_all(retired);
        r
    }

    fn unlink(&self, id: &SaId, retired: &mut KVec<Retired<Bucket>>) -> Result<Option<Arc<Sa>>> {
        let Some(sa) = self.get(id) else {
            return Ok(None);
        };
        self.by_spi.remove(spi_key(id.spi), id, retired)?;
        self.by_out
            .remove(out_key(sa.reqid, &sa.id.dst), id, retired)?;
        self.count.fetch_sub(1, Ordering::Relaxed);
        Ok(Some(sa))
    }

    /// Removes and returns the SA with this id. Caller holds the config mutex.
    pub(crate) fn remove(&self, id: &SaId) -> Result<Option<Arc<Sa>>> {
        let mut retired = KVec::new();
        let r = self.unlink(id, &mut retired);
        Retired::release_all(retired);
        r
    }

    /// Removes the SAs with these ids and returns them. Caller holds the config mutex. One
    /// RCU grace period for the whole batch.
    pub(crate) fn remove_batch(&self, ids: &[SaId]) -> Result<KVec<Arc<Sa>>> {
        let mut removed = KVec::new();
        let mut retired = KVec::new();
        let mut r = Ok(());
        for id in ids {
            match self.unlink(id, &mut retired) {
                Ok(Some(sa)) => removed.push(sa, GFP_KERNEL)?,
                Ok(None) => {}
                Err(e) => {
                    r = Err(e);
                    break;
                }
            }
        }
        Retired::release_all(retired);
        r.map(|()| removed)
    }

    /// Removes every SA (of `proto` only, if given); returns how many. Caller holds the
    /// config mutex.
    pub(crate) fn flush(&self, proto: Option<u8>) -> Result<usize> {
        let (mut slot, mut pos) = (0u32, 0usize);
        let mut ids = KVec::new();
        while let Some(sa) = self.next(&mut slot, &mut pos) {
            if proto.is_none_or(|p| p == sa.id.proto) {
                ids.push(sa.id, GFP_KERNEL)?;
            }
        }
        Ok(self.remove_batch(&ids)?.len())
    }

    /// The SA after cursor (inbound index bucket, position in it), advancing the cursor; for
    /// dumps (in bucket order, not SPI order).
    pub(crate) fn next(&self, slot: &mut u32, pos: &mut usize) -> Option<Arc<Sa>> {
        loop {
            let found = *slot;
            let bucket = self.by_spi.0.find_from(slot)?;
            if *slot != found {
                *pos = 0;
            }
            if let Some(sa) = bucket.sas.get(*pos) {
                *pos += 1;
                return Some(sa.clone());
            }
            *slot = slot.checked_add(1)?;
            *pos = 0;
        }
    }
}
