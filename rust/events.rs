// SPDX-License-Identifier: GPL-2.0
//! Events on the `events` multicast group: EXPIRE (an SA reached a soft or hard limit),
//! ACQUIRE (outbound traffic matched a protect policy that has no SA) and MAPPING (ESP in UDP
//! came from a new address or port). Best effort: an event nobody listens to is not even
//! built.

use crate::{
    attrs::{put_addr, put_template},
    ffi::{Event, MsgWriter, Net},
    sad::Sa,
    selector::Flow,
    spd::Policy,
    uapi::{attr as a, cmd},
    udp_encap::Endpoint,
};
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// Seconds between two ACQUIREs for the same policy.
pub(crate) const ACQUIRE_INTERVAL_SECS: u64 = 1;

/// Sends EXPIRE for `sa` (process context).
pub(crate) fn expire(net: Net<'_>, sa: &Sa, hard: bool) {
    let Some(mut e) = Event::new(net, cmd::EXPIRE, 256, false) else {
        return;
    };
    let put = |w: &mut MsgWriter| -> Result {
        w.put_u32(a::SA_SPI, sa.id.spi)?;
        w.put_u8(a::SA_PROTO, sa.id.proto)?;
        w.put_u8(a::SA_FAMILY, sa.id.family)?;
        put_addr(w, a::SA_DST, sa.id.family, &sa.id.dst)?;
        w.put_u32(a::SA_REQID, sa.reqid)?;
        if hard {
            w.put_flag(a::EXPIRE_HARD)?;
        }
        Ok(())
    };
    if put(&mut e).is_ok() {
        let _ = e.send();
    }
}

/// Sends ACQUIRE for `flow`, which `policy` wants protected (any context), at most once per
/// [`ACQUIRE_INTERVAL_SECS`] per policy.
pub(crate) fn acquire(net: Net<'_>, policy: &Policy, flow: &Flow, now: u64) {
    let Some(t) = &policy.tmpl else {
        return;
    };
    let last = policy.last_acquire.load(Ordering::Relaxed);
    if last != 0 && now < last.saturating_add(ACQUIRE_INTERVAL_SECS) {
        return;
    }
    let now = now.max(1);
    if policy
        .last_acquire
        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
        .is_err()
    {
        return;
    }
    let Some(mut e) = Event::new(net, cmd::ACQUIRE, 512, true) else {
        return;
    };
    let put = |w: &mut MsgWriter| -> Result {
        w.put_u32(a::SP_ID, policy.id)?;
        put_template(w, t)?;
        w.put_u8(a::SEL_FAMILY, flow.family)?;
        put_addr(w, a::SEL_SRC, flow.family, &flow.src)?;
        put_addr(w, a::SEL_DST, flow.family, &flow.dst)?;
        w.put_u8(a::SEL_PROTO, flow.proto)?;
        w.put_u16(a::SEL_SPORT_LO, flow.sport)?;
        w.put_u16(a::SEL_DPORT_LO, flow.dport)
    };
    if put(&mut e).is_ok() {
        let _ = e.send();
    }
}

/// Sends MAPPING: authenticated ESP in UDP for `sa` came from `from`, not from its peer's
/// configured address and port (any context).
pub(crate) fn mapping(net: Net<'_>, sa: &Sa, from: &Endpoint) {
    let Some(encap) = &sa.encap else {
        return;
    };
    let Some(mut e) = Event::new(net, cmd::MAPPING, 256, true) else {
        return;
    };
    let family = sa.id.family;
    let put = |w: &mut MsgWriter| -> Result {
        w.put_u32(a::SA_SPI, sa.id.spi)?;
        w.put_u8(a::SA_PROTO, sa.id.proto)?;
        w.put_u8(a::SA_FAMILY, family)?;
        put_addr(w, a::SA_DST, family, &sa.id.dst)?;
        w.put_u32(a::SA_REQID, sa.reqid)?;
        put_addr(w, a::SA_SRC, family, &sa.src)?;
        w.put_u16(a::SA_ENCAP_SPORT, encap.ports().0)?;
        put_addr(w, a::MAPPING_SRC, family, &from.addr)?;
        w.put_u16(a::MAPPING_SPORT, from.port)
    };
    if put(&mut e).is_ok() {
        let _ = e.send();
    }
}
