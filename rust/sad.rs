// SPDX-License-Identifier: GPL-2.0
//! The Security Association Database of one netns: SAs keyed by (SPI, protocol, family,
//! destination), indexed by SPI in an xarray (O(1) lookups, RCU-safe on the C side).
//! Each index holds an immutable bucket, replaced copy-on-write.

use crate::{
    alg::{Alg, CryptoKind},
    ffi::{self, Aead, Ahash, ArcXArray},
    uapi::stats_attr,
};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{prelude::*, sync::Arc};

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
    /// AH: an HMAC.
    Hash(Ahash),
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

/// Number of counters in [`Counters`] (the `stats` attribute set without its padding).
pub(crate) const NUM_COUNTERS: usize = stats_attr::PAD as usize - 1;

/// Packet and drop counters, indexed by `stats_attr` number - 1.
pub(crate) struct Counters([AtomicU64; NUM_COUNTERS]);

impl Counters {
    /// All zero.
    pub(crate) fn new() -> Self {
        Self([const { AtomicU64::new(0) }; NUM_COUNTERS])
    }

    /// Adds `n` to counter `attr` (a `stats_attr` number).
    #[allow(dead_code)] // Counted by the data path (netfilter hooks), which comes next.
    pub(crate) fn add(&self, attr: u16, n: u64) {
        if let Some(c) = self.0.get(usize::from(attr).wrapping_sub(1)) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Writes every counter as a `stats` nest.
    pub(crate) fn put(&self, w: &mut ffi::MsgWriter, nest: u16) -> Result {
        w.nest(nest, |w| {
            for (i, c) in self.0.iter().enumerate() {
                let attr = u16::try_from(i + 1).map_err(|_| EINVAL)?;
                w.put_u64(attr, c.load(Ordering::Relaxed))?;
            }
            Ok(())
        })
    }
}

/// Lifetime limits, settable by SA_UPDATE: soft bytes, packets, add secs, use secs, then the
/// same four hard limits (0 = none).
pub(crate) struct Limits([AtomicU64; 8]);

impl Limits {
    /// From the eight values in attribute order.
    pub(crate) fn new(v: [u64; 8]) -> Self {
        Self(v.map(AtomicU64::new))
    }

    /// Replaces all eight values.
    pub(crate) fn set(&self, v: [u64; 8]) {
        for (a, x) in self.0.iter().zip(v) {
            a.store(x, Ordering::Relaxed);
        }
    }

    /// The eight values.
    pub(crate) fn get(&self) -> [u64; 8] {
        let mut v = [0u64; 8];
        for (x, a) in v.iter_mut().zip(&self.0) {
            *x = a.load(Ordering::Relaxed);
        }
        v
    }
}

/// One Security Association.
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
    /// Anti-replay window size in packets.
    pub(crate) replay_window: u32,
    /// 64-bit sequence numbers.
    pub(crate) esn: bool,
    /// Lifetime limits.
    pub(crate) limits: Limits,
    /// Seconds since boot when added.
    pub(crate) add_time: u64,
    /// Last outbound sequence number.
    pub(crate) seq_out: AtomicU64,
    /// Highest inbound sequence number accepted.
    pub(crate) replay_top: AtomicU64,
    /// Counters.
    pub(crate) counters: Counters,
    /// The keyed transform.
    pub(crate) transform: Transform,
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

/// Allocates and keys the transform for `alg` (may sleep).
pub(crate) fn new_transform(alg: &Alg, user_key: &[u8]) -> Result<Transform> {
    let key = crypto_key(alg, user_key)?;
    match alg.kind {
        CryptoKind::Hash => {
            let mut h = Ahash::new(alg.kernel_name)?;
            h.set_key(key.bytes())?;
            Ok(Transform::Hash(h))
        }
        CryptoKind::Aead | CryptoKind::AuthEnc => {
            let mut a = Aead::new(alg.kernel_name)?;
            a.set_key(key.bytes())?;
            a.set_auth_size(alg.icv_len)?;
            Ok(Transform::Aead(a))
        }
    }
}

/// The SAs sharing one SPI (almost always exactly one).
pub(crate) struct SpiBucket {
    sas: KVec<Arc<Sa>>,
}

/// The SAD of one netns. Callers serialise writers (the netns config mutex).
pub(crate) struct Sad {
    by_spi: ArcXArray<SpiBucket>,
    count: usize,
}

impl Sad {
    /// An empty SAD.
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            by_spi: ArcXArray::new()?,
            count: 0,
        })
    }

    /// Number of SAs.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Whether any SA (of any protocol or destination) uses `spi`.
    pub(crate) fn spi_in_use(&self, spi: u32) -> bool {
        self.by_spi.get(spi).is_some()
    }

    /// The SA with this id.
    pub(crate) fn get(&self, id: &SaId) -> Option<Arc<Sa>> {
        let bucket = self.by_spi.get(id.spi)?;
        bucket.sas.iter().find(|sa| sa.id == *id).cloned()
    }

    /// Adds an SA; `EEXIST` if its id is taken.
    pub(crate) fn insert(&mut self, sa: Arc<Sa>) -> Result {
        let old = self.by_spi.get(sa.id.spi);
        let mut sas = KVec::new();
        if let Some(old) = &old {
            if old.sas.iter().any(|x| x.id == sa.id) {
                return Err(EEXIST);
            }
            for x in old.sas.iter() {
                sas.push(x.clone(), GFP_KERNEL)?;
            }
        }
        let spi = sa.id.spi;
        sas.push(sa, GFP_KERNEL)?;
        let bucket = Arc::new(SpiBucket { sas }, GFP_KERNEL)?;
        let replaced = self.by_spi.store(spi, bucket)?;
        self.count += 1;
        if let Some(b) = replaced {
            let mut retired = KVec::new();
            retired.push(b, GFP_KERNEL)?;
            retire(retired);
        }
        Ok(())
    }

    /// Removes and returns the SA with this id.
    pub(crate) fn remove(&mut self, id: &SaId) -> Result<Option<Arc<Sa>>> {
        let mut retired = KVec::new();
        let sa = self.unlink(id, &mut retired)?;
        retire(retired);
        Ok(sa)
    }

    /// Unlinks the SA with this id; its old bucket goes to `retired`.
    fn unlink(&mut self, id: &SaId, retired: &mut KVec<Arc<SpiBucket>>) -> Result<Option<Arc<Sa>>> {
        let Some(old) = self.by_spi.get(id.spi) else {
            return Ok(None);
        };
        let Some(pos) = old.sas.iter().position(|x| x.id == *id) else {
            return Ok(None);
        };
        let sa = old.sas[pos].clone();
        let unlinked = if old.sas.len() == 1 {
            self.by_spi.remove(id.spi)
        } else {
            let mut sas = KVec::new();
            for (i, x) in old.sas.iter().enumerate() {
                if i != pos {
                    sas.push(x.clone(), GFP_KERNEL)?;
                }
            }
            self.by_spi
                .store(id.spi, Arc::new(SpiBucket { sas }, GFP_KERNEL)?)?
        };
        if let Some(b) = unlinked {
            retired.push(b, GFP_KERNEL)?;
        }
        self.count -= 1;
        Ok(Some(sa))
    }

    /// Removes every SA (of `proto` only, if given); returns how many.
    pub(crate) fn flush(&mut self, proto: Option<u8>) -> Result<usize> {
        let mut removed = 0;
        let mut retired = KVec::new();
        let mut spi = 0u32;
        loop {
            let mut ids = KVec::new();
            let mut batch = 0;
            // Collect a batch of ids, then remove them, so no bucket is walked while replaced.
            while batch < 256 {
                let Some(bucket) = self.by_spi.find_from(&mut spi) else {
                    break;
                };
                for sa in bucket.sas.iter() {
                    if proto.is_none_or(|p| p == sa.id.proto) {
                        ids.push(sa.id, GFP_KERNEL)?;
                    }
                }
                batch += 1;
                match spi.checked_add(1) {
                    Some(next) => spi = next,
                    None => break,
                }
            }
            if batch == 0 {
                break;
            }
            for id in ids.iter() {
                if self.unlink(id, &mut retired)?.is_some() {
                    removed += 1;
                }
            }
            if batch < 256 || spi == u32::MAX {
                break;
            }
        }
        retire(retired);
        Ok(removed)
    }

    /// The SA after cursor (`spi`, position in bucket), advancing the cursor; for dumps.
    pub(crate) fn next(&self, spi: &mut u32, pos: &mut usize) -> Option<Arc<Sa>> {
        loop {
            let found = *spi;
            let bucket = self.by_spi.find_from(spi)?;
            if *spi != found {
                *pos = 0;
            }
            if let Some(sa) = bucket.sas.get(*pos) {
                *pos += 1;
                return Some(sa.clone());
            }
            *spi = spi.checked_add(1)?;
            *pos = 0;
        }
    }
}

/// Drops buckets unlinked from the SAD once no lock-free reader can still see them
/// (one RCU grace period for the whole batch).
fn retire(buckets: KVec<Arc<SpiBucket>>) {
    if !buckets.is_empty() {
        kernel::sync::rcu::synchronize_rcu();
        drop(buckets);
    }
}
