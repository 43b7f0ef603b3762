// SPDX-License-Identifier: GPL-2.0
//! The one unsafe boundary: the declarations of `shim.c`, in files along its sections, and safe
//! types around them. Nothing outside this directory writes `unsafe`. The files import each
//! other one way only: `raw` (opaque C types) below everything, `entry` (what the kernel calls)
//! above everything.

pub(crate) mod crypto;
pub(crate) mod entry;
pub(crate) mod genl;
pub(crate) mod marker;
pub(crate) mod misc;
pub(crate) mod net;
pub(crate) mod percpu;
pub(crate) mod raw;
pub(crate) mod rcu;
pub(crate) mod skb;
pub(crate) mod udp;
pub(crate) mod work;

pub(crate) use crypto::{constant_time_eq, crypto_available, Aead, RequestRoom, Shash, MAX_DIGEST};
pub(crate) use genl::{Dump, Event, GenlInfo, GenlRegistration, MsgWriter};
pub(crate) use marker::Marker;
pub(crate) use misc::{
    lock_bh, lock_under, memzero, random_bytes, random_u32, seconds, BhGuard, BottomHalvesOff,
};
pub(crate) use net::{Hook, Net, NetInit, PernetRegistration};
pub(crate) use percpu::PerCpuU64;
pub(crate) use rcu::{ArcSlots, ArcXArray, DeferredDrops, Rcu, RcuArc, Retired, SLOT_KEY_BITS};
pub(crate) use skb::{GroCells, Reinjection, RouteCache, Skb, Verdict, WritableSkb};
pub(crate) use udp::{udp6_checksum, EncapSocket, SocketId};
pub(crate) use work::Work;
