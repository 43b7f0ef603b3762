// SPDX-License-Identifier: GPL-2.0
//! Generic netlink command handlers. Every command reaches [`doit`] and every dump [`dump`];
//! each request is validated here, and every rejection names
//! the attribute at fault through extack. Nothing is changed unless the whole request is valid.

use crate::{
    alg::{self, Alg},
    attrs::{addr_len, put_addr, put_template},
    espinudp,
    ffi::{self, Dump, EncapSocket, GenlInfo, MsgWriter},
    net_state::{NetState, Reservation, MAX_ENCAP_SOCKETS},
    sad::{self, Sa, SaId, SaParams},
    selector::{PortRange, Prefix, Selector, AF_INET, AF_INET6},
    spd::{Policy, Template},
    uapi::{self, attr as a, cmd, StreamFault},
};
use core::sync::atomic::AtomicU64;
use kernel::{prelude::*, sync::Arc};

/// Default anti-replay window (packets).
const DEFAULT_REPLAY_WINDOW: u32 = 32;
/// SPIs below this are reserved (RFC 4303 §2.1).
const SPI_MIN_VALID: u32 = 256;
/// How long a GETSPI reservation lasts without an SA using it.
const RESERVATION_SECS: u64 = 60;
/// Most pending GETSPI reservations per netns.
const MAX_RESERVATIONS: usize = 4096;

fn name(ty: u16) -> &'static str {
    uapi::attr_def(ty).map_or("?", |d| d.name)
}

fn missing(info: &GenlInfo<'_>, ty: u16) -> Error {
    info.fail(EINVAL, ty, format_args!("{}: missing", name(ty)))
}

fn fixed<const N: usize>(info: &GenlInfo<'_>, ty: u16) -> Result<Option<[u8; N]>> {
    match info.attr(ty) {
        None => Ok(None),
        Some(at) => <[u8; N]>::try_from(at.data()).map(Some).map_err(|_| {
            info.fail(
                EINVAL,
                ty,
                format_args!("{}: expected {} bytes", name(ty), N),
            )
        }),
    }
}

fn opt_u8(info: &GenlInfo<'_>, ty: u16) -> Result<Option<u8>> {
    Ok(fixed::<1>(info, ty)?.map(|b| b[0]))
}

fn opt_u16(info: &GenlInfo<'_>, ty: u16) -> Result<Option<u16>> {
    Ok(fixed::<2>(info, ty)?.map(u16::from_ne_bytes))
}

fn opt_u32(info: &GenlInfo<'_>, ty: u16) -> Result<Option<u32>> {
    Ok(fixed::<4>(info, ty)?.map(u32::from_ne_bytes))
}

fn opt_u64(info: &GenlInfo<'_>, ty: u16) -> Result<Option<u64>> {
    Ok(fixed::<8>(info, ty)?.map(u64::from_ne_bytes))
}

fn req_u8(info: &GenlInfo<'_>, ty: u16) -> Result<u8> {
    opt_u8(info, ty)?.ok_or_else(|| missing(info, ty))
}

fn req_u32(info: &GenlInfo<'_>, ty: u16) -> Result<u32> {
    opt_u32(info, ty)?.ok_or_else(|| missing(info, ty))
}

fn flag(info: &GenlInfo<'_>, ty: u16) -> bool {
    info.attr(ty).is_some()
}

fn opt_str<'a>(info: &GenlInfo<'a>, ty: u16) -> Result<Option<&'a str>> {
    let Some(at) = info.attr(ty) else {
        return Ok(None);
    };
    let d = at.data();
    let end = d.iter().position(|&b| b == 0).unwrap_or(d.len());
    core::str::from_utf8(&d[..end])
        .map(Some)
        .map_err(|_| info.fail(EINVAL, ty, format_args!("{}: not UTF-8", name(ty))))
}

fn family(info: &GenlInfo<'_>, ty: u16) -> Result<u8> {
    match req_u8(info, ty)? {
        f @ (AF_INET | AF_INET6) => Ok(f),
        f => Err(info.fail(
            EAFNOSUPPORT,
            ty,
            format_args!("{}: {} is not 2 (IPv4) or 10 (IPv6)", name(ty), f),
        )),
    }
}

fn opt_addr(info: &GenlInfo<'_>, ty: u16, family: u8) -> Result<Option<[u8; 16]>> {
    let Some(at) = info.attr(ty) else {
        return Ok(None);
    };
    let d = at.data();
    let want = addr_len(family);
    if d.len() != want {
        let fam = if family == AF_INET {
            "an IPv4"
        } else {
            "an IPv6"
        };
        return Err(info.fail(
            EINVAL,
            ty,
            format_args!(
                "{}: {} address is {} bytes, got {}",
                name(ty),
                fam,
                want,
                d.len()
            ),
        ));
    }
    let mut out = [0u8; 16];
    // `d` has `want` bytes (checked above). Not `copy_from_slice`: its length-mismatch panic
    // is one objtool does not know to be noreturn (see Kbuild).
    out.iter_mut().zip(d).for_each(|(o, b)| *o = *b);
    Ok(Some(out))
}

fn req_addr(info: &GenlInfo<'_>, ty: u16, family: u8) -> Result<[u8; 16]> {
    opt_addr(info, ty, family)?.ok_or_else(|| missing(info, ty))
}

fn ipsec_proto(info: &GenlInfo<'_>, ty: u16) -> Result<u8> {
    match req_u8(info, ty)? {
        p @ (uapi::PROTO_ESP | uapi::PROTO_AH) => Ok(p),
        p => Err(info.fail(
            EPROTONOSUPPORT,
            ty,
            format_args!("{}: {} is not 50 (ESP) or 51 (AH)", name(ty), p),
        )),
    }
}

fn mode(info: &GenlInfo<'_>, ty: u16) -> Result<u8> {
    match req_u8(info, ty)? {
        m @ (uapi::MODE_TRANSPORT | uapi::MODE_TUNNEL) => Ok(m),
        m => Err(info.fail(
            EINVAL,
            ty,
            format_args!("{}: {} is not 0 (transport) or 1 (tunnel)", name(ty), m),
        )),
    }
}

/// The (SPI, protocol, family, destination) that names an SA.
fn sa_id(info: &GenlInfo<'_>) -> Result<SaId> {
    let spi = req_u32(info, a::SA_SPI)?;
    if spi < SPI_MIN_VALID {
        return Err(info.fail(
            EINVAL,
            a::SA_SPI,
            format_args!("sa-spi: SPIs 0-255 are reserved"),
        ));
    }
    let proto = ipsec_proto(info, a::SA_PROTO)?;
    let family = family(info, a::SA_FAMILY)?;
    let dst = req_addr(info, a::SA_DST, family)?;
    Ok(SaId {
        spi,
        proto,
        family,
        dst,
    })
}

const LIMIT_ATTRS: [u16; 8] = [
    a::SA_SOFT_BYTES,
    a::SA_SOFT_PACKETS,
    a::SA_SOFT_ADD_SECS,
    a::SA_SOFT_USE_SECS,
    a::SA_HARD_BYTES,
    a::SA_HARD_PACKETS,
    a::SA_HARD_ADD_SECS,
    a::SA_HARD_USE_SECS,
];

fn limits(info: &GenlInfo<'_>) -> Result<[u64; 8]> {
    let mut v = [0u64; 8];
    for (x, ty) in v.iter_mut().zip(LIMIT_ATTRS) {
        *x = opt_u64(info, ty)?.unwrap_or(0);
    }
    for i in 0..4 {
        let (soft, hard) = (v[i], v[i + 4]);
        if soft != 0 && hard != 0 && soft > hard {
            let ty = LIMIT_ATTRS[i];
            return Err(info.fail(
                EINVAL,
                ty,
                format_args!(
                    "{}: soft limit {} is above the hard limit {}",
                    name(ty),
                    soft,
                    hard
                ),
            ));
        }
    }
    Ok(v)
}

fn lookup_alg(info: &GenlInfo<'_>, proto: u8) -> Result<&'static Alg> {
    let n = opt_str(info, a::SA_ALG)?.ok_or_else(|| missing(info, a::SA_ALG))?;
    if let Some(alg) = alg::find(n, proto) {
        return Ok(alg);
    }
    let other = if proto == uapi::PROTO_ESP {
        uapi::PROTO_AH
    } else {
        uapi::PROTO_ESP
    };
    if alg::find(n, other).is_some() {
        let (is, want) = if proto == uapi::PROTO_ESP {
            ("AH", "ESP")
        } else {
            ("ESP", "AH")
        };
        return Err(info.fail(
            EINVAL,
            a::SA_ALG,
            format_args!("sa-alg: {} is an {} algorithm, sa-proto is {}", n, is, want),
        ));
    }
    Err(info.fail(
        ENOENT,
        a::SA_ALG,
        format_args!("sa-alg: unknown algorithm '{}' (see `ikeuser info`)", n),
    ))
}

/// The UDP encapsulation of SA_ADD: `(sport, dport)`, or `None` without one.
fn encap(info: &GenlInfo<'_>, proto: u8) -> Result<Option<(u16, u16)>> {
    let sport = opt_u16(info, a::SA_ENCAP_SPORT)?;
    let dport = opt_u16(info, a::SA_ENCAP_DPORT)?;
    let ty = match opt_u8(info, a::SA_ENCAP_TYPE)? {
        None if sport.is_none() && dport.is_none() => return Ok(None),
        None => return Err(missing(info, a::SA_ENCAP_TYPE)),
        Some(t) => t,
    };
    if ty != uapi::ENCAP_ESPINUDP {
        return Err(info.fail(
            EINVAL,
            a::SA_ENCAP_TYPE,
            format_args!("sa-encap-type: {ty} is not supported; only 2 (ESP in UDP, RFC 3948)"),
        ));
    }
    if proto != uapi::PROTO_ESP {
        return Err(info.fail(
            EINVAL,
            a::SA_ENCAP_TYPE,
            format_args!("sa-encap-type: only ESP can be carried in UDP"),
        ));
    }
    let port = |v: Option<u16>, ty| match v {
        Some(0) => Err(info.fail(EINVAL, ty, format_args!("{}: port 0", name(ty)))),
        Some(p) => Ok(p),
        None => Err(missing(info, ty)),
    };
    Ok(Some((
        port(sport, a::SA_ENCAP_SPORT)?,
        port(dport, a::SA_ENCAP_DPORT)?,
    )))
}

/// SA_UPDATE: the lifetimes, and the ports of an encapsulating SA (its peer's NAT mapping
/// moved). Limits are replaced when ports are not given or any limit is.
fn sa_update(info: &GenlInfo<'_>, id: SaId) -> Result {
    let lim = limits(info)?;
    let state = NetState::of(info.net());
    let _writer = state.config.lock();
    let sa = state.sad.get(&id).ok_or_else(|| {
        info.fail(
            ENOENT,
            a::SA_SPI,
            format_args!("sa-spi: no SA 0x{:08x} to update", id.spi),
        )
    })?;
    let sport = opt_u16(info, a::SA_ENCAP_SPORT)?;
    let dport = opt_u16(info, a::SA_ENCAP_DPORT)?;
    if sport.is_some() || dport.is_some() {
        let ty = if sport.is_some() {
            a::SA_ENCAP_SPORT
        } else {
            a::SA_ENCAP_DPORT
        };
        let Some(encap) = &sa.encap else {
            return Err(info.fail(
                EINVAL,
                ty,
                format_args!("{}: the SA has no UDP encapsulation", name(ty)),
            ));
        };
        if sport == Some(0) || dport == Some(0) {
            return Err(info.fail(EINVAL, ty, format_args!("{}: port 0", name(ty))));
        }
        let (old_s, old_d) = encap.ports();
        encap.set_ports(sport.unwrap_or(old_s), dport.unwrap_or(old_d));
        if !LIMIT_ATTRS.iter().any(|ty| info.attr(*ty).is_some()) {
            return Ok(());
        }
    }
    sa.limits.set(lim);
    crate::expire::limits_changed(state, &sa);
    Ok(())
}

fn sa_add(info: &GenlInfo<'_>, update: bool) -> Result {
    let id = sa_id(info)?;
    if update {
        return sa_update(info, id);
    }
    let lim = limits(info)?;
    let state = NetState::of(info.net());
    let encap = encap(info, id.proto)?;
    let mode = mode(info, a::SA_MODE)?;
    let src = req_addr(info, a::SA_SRC, id.family)?;
    let alg = lookup_alg(info, id.proto)?;
    let key = info
        .attr(a::SA_KEY)
        .ok_or_else(|| missing(info, a::SA_KEY))?
        .data();
    if key.len() != alg.key_len() {
        return Err(info.fail(
            EINVAL,
            a::SA_KEY,
            format_args!(
                "sa-key: {} needs {} bytes, got {}",
                alg.name,
                alg.key_len(),
                key.len()
            ),
        ));
    }
    let replay_window = opt_u32(info, a::SA_REPLAY_WINDOW)?.unwrap_or(DEFAULT_REPLAY_WINDOW);
    if replay_window > crate::replay::MAX_WINDOW {
        return Err(info.fail(
            EINVAL,
            a::SA_REPLAY_WINDOW,
            format_args!(
                "sa-replay-window: {} is above the maximum 4096",
                replay_window
            ),
        ));
    }
    let esn = flag(info, a::SA_ESN);
    let ah_align8 = flag(info, a::SA_AH_ALIGN8);
    if ah_align8 && id.proto != uapi::PROTO_AH {
        return Err(info.fail(
            EINVAL,
            a::SA_AH_ALIGN8,
            format_args!("sa-ah-align8: only AH SAs have an AH header to align"),
        ));
    }
    let transform = sad::new_transform(alg, key, esn).map_err(|e| {
        if e == ENOENT {
            let template = if esn {
                alg.esn_kernel_name
            } else {
                alg.kernel_name
            };
            info.fail(
                ENOENT,
                a::SA_ALG,
                format_args!("sa-alg: no crypto driver for {template}"),
            )
        } else {
            info.fail(
                e,
                a::SA_KEY,
                format_args!("sa-key: the crypto API rejected the key"),
            )
        }
    })?;
    let sa = Sa::new(SaParams {
        id,
        mode,
        src,
        alg,
        key: sad::SecretKey::new(key)?,
        reqid: opt_u32(info, a::SA_REQID)?.unwrap_or(0),
        replay_window,
        esn,
        ah_align8,
        limits: lim,
        transform,
        encap,
        add_time: ffi::seconds(),
    })?;
    let mut cfg = state.config.lock();
    state.use_defrag(info.net())?;
    match state.sad.insert(sa) {
        Err(e) if e == EEXIST => Err(info.fail(
            EEXIST,
            a::SA_SPI,
            format_args!("sa-spi: SA 0x{:08x} to that destination exists", id.spi),
        )),
        r => {
            cfg.reserved.retain(|r| r.spi != id.spi);
            if r.is_ok() && lim != [0; 8] {
                state.work.kick();
            }
            r
        }
    }
}

fn put_sa(w: &mut MsgWriter, sa: &Sa, show_keys: bool) -> Result {
    w.put_u32(a::SA_SPI, sa.id.spi)?;
    w.put_u8(a::SA_PROTO, sa.id.proto)?;
    w.put_u8(a::SA_FAMILY, sa.id.family)?;
    put_addr(w, a::SA_DST, sa.id.family, &sa.id.dst)?;
    w.put_u8(a::SA_MODE, sa.mode)?;
    put_addr(w, a::SA_SRC, sa.id.family, &sa.src)?;
    w.put_str(a::SA_ALG, sa.alg.name)?;
    w.put_str(a::SA_CRYPTO_DRIVER, sa.transform.driver())?;
    if show_keys {
        w.put(a::SA_KEY, sa.key.bytes())?;
    }
    w.put_u32(a::SA_REQID, sa.reqid)?;
    let (window, replay_top) = {
        let rt = sa.runtime();
        (rt.replay.size(), rt.replay.top())
    };
    let seq_out = sa.last_seq();
    w.put_u32(a::SA_REPLAY_WINDOW, window)?;
    if sa.esn {
        w.put_flag(a::SA_ESN)?;
    }
    if sa.ah_align8 {
        w.put_flag(a::SA_AH_ALIGN8)?;
    }
    for (ty, v) in LIMIT_ATTRS.iter().zip(sa.limits.get()) {
        w.put_u64(*ty, v)?;
    }
    sa.counters.put(w, a::STATS)?;
    if let Some(encap) = &sa.encap {
        let (sport, dport) = encap.ports();
        w.put_u8(a::SA_ENCAP_TYPE, uapi::ENCAP_ESPINUDP)?;
        w.put_u16(a::SA_ENCAP_SPORT, sport)?;
        w.put_u16(a::SA_ENCAP_DPORT, dport)?;
    }
    w.put_u32(a::SA_PMTU, sa.learnt_mtu())?;
    w.put_u64(a::SA_ADD_TIME, sa.add_time)?;
    w.put_u64(a::SA_SEQ_OUT, seq_out)?;
    w.put_u64(a::SA_REPLAY_TOP, replay_top)
}

fn sa_get(info: &GenlInfo<'_>) -> Result {
    let id = sa_id(info)?;
    let sa = NetState::of(info.net()).sad.get(&id).ok_or_else(|| {
        info.fail(
            ENOENT,
            a::SA_SPI,
            format_args!("sa-spi: no SA 0x{:08x} to that destination", id.spi),
        )
    })?;
    let mut r = info.reply(cmd::SA_GET, 8192)?;
    put_sa(&mut r, &sa, flag(info, a::SHOW_KEYS))?;
    r.send()
}

fn sa_del(info: &GenlInfo<'_>) -> Result {
    let id = sa_id(info)?;
    let state = NetState::of(info.net());
    let removed = {
        let _writer = state.config.lock();
        state.sad.remove(&id)?
    };
    removed.map(drop).ok_or_else(|| {
        info.fail(
            ENOENT,
            a::SA_SPI,
            format_args!("sa-spi: no SA 0x{:08x} to that destination", id.spi),
        )
    })
}

fn sa_flush(info: &GenlInfo<'_>) -> Result {
    let proto = match info.attr(a::SA_PROTO) {
        Some(_) => Some(ipsec_proto(info, a::SA_PROTO)?),
        None => None,
    };
    let state = NetState::of(info.net());
    let _writer = state.config.lock();
    state.sad.flush(proto)?;
    Ok(())
}

fn selector(info: &GenlInfo<'_>) -> Result<Selector> {
    let family = family(info, a::SEL_FAMILY)?;
    let max = if family == AF_INET { 32 } else { 128 };
    let prefix = |addr_ty: u16, len_ty: u16| -> Result<Prefix> {
        let addr = opt_addr(info, addr_ty, family)?.unwrap_or([0; 16]);
        let len =
            opt_u8(info, len_ty)?.unwrap_or(if info.attr(addr_ty).is_some() { max } else { 0 });
        if len > max {
            return Err(info.fail(
                EINVAL,
                len_ty,
                format_args!("{}: prefix length {} is above {}", name(len_ty), len, max),
            ));
        }
        let p = Prefix { addr, len };
        let m = p.masked();
        if m != p {
            return Err(info.fail(
                EINVAL,
                addr_ty,
                format_args!(
                    "{}: host bits set beyond /{}; use the network address",
                    name(addr_ty),
                    len
                ),
            ));
        }
        Ok(p)
    };
    let src = prefix(a::SEL_SRC, a::SEL_SRC_LEN)?;
    let dst = prefix(a::SEL_DST, a::SEL_DST_LEN)?;
    let proto = opt_u8(info, a::SEL_PROTO)?.unwrap_or(0);
    let range = |lo_ty: u16, hi_ty: u16| -> Result<PortRange> {
        let lo = opt_u16(info, lo_ty)?;
        let hi = opt_u16(info, hi_ty)?;
        if (lo.is_some() || hi.is_some()) && proto == 0 {
            let ty = if lo.is_some() { lo_ty } else { hi_ty };
            return Err(info.fail(
                EINVAL,
                ty,
                format_args!("{}: ports need sel-proto (e.g. 6 for TCP)", name(ty)),
            ));
        }
        let lo = lo.unwrap_or(0);
        let hi = hi.unwrap_or(if lo == 0 { u16::MAX } else { lo });
        if lo > hi {
            return Err(info.fail(
                EINVAL,
                lo_ty,
                format_args!("{}: {} is above {} {}", name(lo_ty), lo, name(hi_ty), hi),
            ));
        }
        Ok(PortRange { lo, hi })
    };
    let sport = range(a::SEL_SPORT_LO, a::SEL_SPORT_HI)?;
    let dport = range(a::SEL_DPORT_LO, a::SEL_DPORT_HI)?;
    let sel = Selector {
        family,
        src,
        dst,
        proto,
        sport,
        dport,
    };
    // Every rule was checked above with a precise message; this is the pure model's verdict.
    sel.validate()
        .map_err(|e| info.fail(EINVAL, a::SEL_FAMILY, format_args!("selector: {:?}", e)))?;
    Ok(sel)
}

fn template(info: &GenlInfo<'_>, action: u8) -> Result<Option<Template>> {
    const TMPL: [u16; 6] = [
        a::TMPL_PROTO,
        a::TMPL_MODE,
        a::TMPL_REQID,
        a::TMPL_FAMILY,
        a::TMPL_SRC,
        a::TMPL_DST,
    ];
    if action != uapi::ACTION_PROTECT {
        if let Some(ty) = TMPL.into_iter().find(|&t| info.attr(t).is_some()) {
            return Err(info.fail(
                EINVAL,
                ty,
                format_args!("{}: only protect policies take a template", name(ty)),
            ));
        }
        return Ok(None);
    }
    let proto = ipsec_proto(info, a::TMPL_PROTO)?;
    let mode = mode(info, a::TMPL_MODE)?;
    let reqid = opt_u32(info, a::TMPL_REQID)?.unwrap_or(0);
    let (family, src, dst) = if mode == uapi::MODE_TUNNEL {
        if info.attr(a::TMPL_FAMILY).is_none() {
            return Err(info.fail(
                EINVAL,
                a::TMPL_FAMILY,
                format_args!("tmpl-family: tunnel mode needs tmpl-family, tmpl-src, tmpl-dst"),
            ));
        }
        let f = family(info, a::TMPL_FAMILY)?;
        (
            f,
            req_addr(info, a::TMPL_SRC, f)?,
            req_addr(info, a::TMPL_DST, f)?,
        )
    } else {
        for ty in [a::TMPL_FAMILY, a::TMPL_SRC, a::TMPL_DST] {
            if info.attr(ty).is_some() {
                return Err(info.fail(
                    EINVAL,
                    ty,
                    format_args!("{}: transport mode has no tunnel endpoints", name(ty)),
                ));
            }
        }
        (0, [0; 16], [0; 16])
    };
    Ok(Some(Template {
        proto,
        mode,
        reqid,
        family,
        src,
        dst,
    }))
}

fn sp_add(info: &GenlInfo<'_>) -> Result {
    let dir = req_u8(info, a::SP_DIR)?;
    if usize::from(dir) >= crate::spd::DIRS {
        return Err(info.fail(
            EINVAL,
            a::SP_DIR,
            format_args!("sp-dir: {} is not 0 (out), 1 (in) or 2 (fwd)", dir),
        ));
    }
    let action = req_u8(info, a::SP_ACTION)?;
    if action > uapi::ACTION_DISCARD {
        return Err(info.fail(
            EINVAL,
            a::SP_ACTION,
            format_args!(
                "sp-action: {} is not 0 (protect), 1 (bypass) or 2 (discard)",
                action
            ),
        ));
    }
    let priority = opt_u32(info, a::SP_PRIORITY)?.unwrap_or(0);
    let sel = selector(info)?;
    let tmpl = template(info, action)?;
    let state = NetState::of(info.net());
    let mut cfg = state.config.lock();
    state.use_defrag(info.net())?;
    if state.spd.has_duplicate(dir, &sel, priority) {
        return Err(info.fail(
            EEXIST,
            a::SEL_FAMILY,
            format_args!("a policy with this direction, selector and priority exists"),
        ));
    }
    let id = cfg.spd.alloc_id()?;
    let policy = Arc::new(
        Policy {
            id,
            dir,
            priority,
            action,
            sel,
            tmpl,
            last_acquire: AtomicU64::new(0),
        },
        GFP_KERNEL,
    )?;
    cfg.spd.insert(&state.spd, policy)?;
    drop(cfg);
    let mut r = info.reply(cmd::SP_ADD, 256)?;
    r.put_u32(a::SP_ID, id)?;
    r.send()
}

fn put_sp(w: &mut MsgWriter, p: &Policy) -> Result {
    w.put_u32(a::SP_ID, p.id)?;
    w.put_u8(a::SP_DIR, p.dir)?;
    w.put_u32(a::SP_PRIORITY, p.priority)?;
    w.put_u8(a::SP_ACTION, p.action)?;
    let s = &p.sel;
    w.put_u8(a::SEL_FAMILY, s.family)?;
    put_addr(w, a::SEL_SRC, s.family, &s.src.addr)?;
    w.put_u8(a::SEL_SRC_LEN, s.src.len)?;
    put_addr(w, a::SEL_DST, s.family, &s.dst.addr)?;
    w.put_u8(a::SEL_DST_LEN, s.dst.len)?;
    w.put_u8(a::SEL_PROTO, s.proto)?;
    w.put_u16(a::SEL_SPORT_LO, s.sport.lo)?;
    w.put_u16(a::SEL_SPORT_HI, s.sport.hi)?;
    w.put_u16(a::SEL_DPORT_LO, s.dport.lo)?;
    w.put_u16(a::SEL_DPORT_HI, s.dport.hi)?;
    match &p.tmpl {
        Some(t) => put_template(w, t),
        None => Ok(()),
    }
}

fn sp_id(info: &GenlInfo<'_>) -> Result<u32> {
    req_u32(info, a::SP_ID)
}

fn no_policy(info: &GenlInfo<'_>, id: u32) -> Error {
    info.fail(ENOENT, a::SP_ID, format_args!("sp-id: no policy {}", id))
}

fn sp_get(info: &GenlInfo<'_>) -> Result {
    let id = sp_id(info)?;
    let p = NetState::of(info.net())
        .spd
        .get(id)
        .ok_or_else(|| no_policy(info, id))?;
    let mut r = info.reply(cmd::SP_GET, 1024)?;
    put_sp(&mut r, &p)?;
    r.send()
}

fn sp_del(info: &GenlInfo<'_>) -> Result {
    let id = sp_id(info)?;
    let state = NetState::of(info.net());
    let mut cfg = state.config.lock();
    cfg.spd
        .remove(&state.spd, id)?
        .ok_or_else(|| no_policy(info, id))?;
    Ok(())
}

fn getspi(info: &GenlInfo<'_>) -> Result {
    ipsec_proto(info, a::SA_PROTO)?;
    // The destination is optional (SPIs are unique per netns), but checked like everywhere.
    if info.attr(a::SA_FAMILY).is_some() || info.attr(a::SA_DST).is_some() {
        let f = family(info, a::SA_FAMILY)?;
        opt_addr(info, a::SA_DST, f)?;
    }
    let min = opt_u32(info, a::SPI_MIN)?.unwrap_or(SPI_MIN_VALID);
    let max = opt_u32(info, a::SPI_MAX)?.unwrap_or(u32::MAX);
    if min < SPI_MIN_VALID {
        return Err(info.fail(
            EINVAL,
            a::SPI_MIN,
            format_args!("spi-min: SPIs 0-255 are reserved"),
        ));
    }
    if min > max {
        return Err(info.fail(EINVAL, a::SPI_MIN, format_args!("spi-min: above spi-max")));
    }
    let now = ffi::seconds();
    let mut cfg = NetState::of(info.net()).config.lock();
    cfg.reserved.retain(|r| r.expires > now);
    if cfg.reserved.len() >= MAX_RESERVATIONS {
        return Err(info.fail(
            ENOSPC,
            a::SPI_MIN,
            format_args!("too many pending SPI reservations; add SAs or wait 60 s"),
        ));
    }
    let span = u64::from(max - min) + 1;
    let sad = &NetState::of(info.net()).sad;
    let taken = |cfg: &crate::net_state::Config, spi: u32| {
        sad.spi_in_use(spi) || cfg.reserved.iter().any(|r| r.spi == spi)
    };
    let mut found = None;
    // Random probes first; a linear sweep from a random start covers small, crowded ranges.
    for _ in 0..64 {
        let off = u64::from(ffi::random_u32()) % span;
        let spi = min + u32::try_from(off).map_err(|_| EINVAL)?;
        if !taken(&cfg, spi) {
            found = Some(spi);
            break;
        }
    }
    if found.is_none() && span <= 65536 {
        let start = u64::from(ffi::random_u32()) % span;
        for i in 0..span {
            let spi = min + u32::try_from((start + i) % span).map_err(|_| EINVAL)?;
            if !taken(&cfg, spi) {
                found = Some(spi);
                break;
            }
        }
    }
    let spi = found.ok_or_else(|| {
        info.fail(
            ENOSPC,
            a::SPI_MIN,
            format_args!("no free SPI in 0x{:x}-0x{:x}", min, max),
        )
    })?;
    cfg.reserved.push(
        Reservation {
            spi,
            expires: now + RESERVATION_SECS,
        },
        GFP_KERNEL,
    )?;
    drop(cfg);
    let mut r = info.reply(cmd::GETSPI, 64)?;
    r.put_u32(a::SA_SPI, spi)?;
    r.send()
}

fn get_stats(info: &GenlInfo<'_>) -> Result {
    let state = NetState::of(info.net());
    let sas = state.sad.len();
    let sps = state.config.lock().spd.len();
    let mut r = info.reply(cmd::GET_STATS, 2048)?;
    r.put_u32(a::SA_COUNT, u32::try_from(sas).unwrap_or(u32::MAX))?;
    r.put_u32(a::SP_COUNT, u32::try_from(sps).unwrap_or(u32::MAX))?;
    state.counters.put(&mut r, a::STATS)?;
    r.send()
}

fn get_info(info: &GenlInfo<'_>) -> Result {
    let net = info.net();
    let mut r = info.reply(cmd::GET_INFO, 8192)?;
    r.put_str(a::VERSION, uapi::MODULE_VERSION)?;
    r.put_u8(a::FAMILY_VERSION, uapi::FAMILY_VERSION)?;
    for alg in alg::ALGS {
        let available = ffi::crypto_available(alg.kernel_name, alg.kind == alg::CryptoKind::Hash);
        r.nest(a::ALG, |r| {
            r.put_str(uapi::alg_attr::NAME, alg.name)?;
            r.put_u8(uapi::alg_attr::PROTO, alg.proto)?;
            r.put_str(uapi::alg_attr::KERNEL_NAME, alg.kernel_name)?;
            r.put_u16(uapi::alg_attr::ENC_KEY_BITS, alg.enc_key_bits)?;
            r.put_u8(uapi::alg_attr::ICV_LEN, alg.icv_len)?;
            if available {
                r.put_flag(uapi::alg_attr::AVAILABLE)?;
            }
            Ok(())
        })?;
    }
    r.put_u64(a::NETNS_COOKIE, net.cookie())?;
    r.put_u64(a::NETNS_REQUESTS, NetState::of(net).requests())?;
    r.send()
}

/// ENCAP_ATTACH: ESP in UDP arrives on the requester's UDP socket `encap-fd` from now on,
/// until the socket closes. Replies with the socket's port.
fn encap_attach(info: &GenlInfo<'_>) -> Result {
    let fd = req_u32(info, a::ENCAP_FD)?;
    let bad = |e: Error, why: &str| {
        info.fail(
            e,
            a::ENCAP_FD,
            format_args!("encap-fd: {why} (file descriptor {fd})"),
        )
    };
    let fd = i32::try_from(fd).map_err(|_| bad(EBADF, "not a file descriptor"))?;
    let net = info.net();
    let sock = EncapSocket::attach(net, fd).map_err(|e| bad(e, attach_refusal(e)))?;
    let port = sock.port();
    espinudp::add(NetState::of(net), sock).map_err(|e| {
        if e == ENOSPC {
            info.fail(
                e,
                a::ENCAP_FD,
                format_args!(
                    "encap-fd: this netns has {MAX_ENCAP_SOCKETS} encapsulation sockets already"
                ),
            )
        } else {
            e
        }
    })?;
    let mut r = info.reply(cmd::ENCAP_ATTACH, 64)?;
    r.put_u16(a::ENCAP_PORT, port)?;
    r.send()
}

/// Why [`EncapSocket::attach`] refused a socket, in words.
fn attach_refusal(e: Error) -> &'static str {
    match e {
        e if e == EBADF || e == ENOTSOCK => "the requesting process has no such socket",
        e if e == EPROTOTYPE => "not a UDP socket",
        e if e == EXDEV => "the socket belongs to another network namespace",
        e if e == EDESTADDRREQ => "the socket is not bound to a port; bind it (to UDP 4500) first",
        e if e == EALREADY => "ripsec already receives ESP in UDP on this socket",
        e if e == EBUSY => "the socket already has another encapsulation (XFRM's UDP_ENCAP, L2TP)",
        _ => "the socket cannot be used",
    }
}

/// MIGRATE: moves a reqid's SAs and templates from the peer's old address to its new one.
fn migrate(info: &GenlInfo<'_>) -> Result {
    let reqid = req_u32(info, a::SA_REQID)?;
    if reqid == 0 {
        return Err(info.fail(
            EINVAL,
            a::SA_REQID,
            format_args!("sa-reqid: 0 would move SAs of every manual connection; name one"),
        ));
    }
    let family = family(info, a::SA_FAMILY)?;
    let req = crate::migrate::Request {
        reqid,
        family,
        old: req_addr(info, a::MIGRATE_OLD, family)?,
        new: req_addr(info, a::MIGRATE_NEW, family)?,
        dport: opt_u16(info, a::SA_ENCAP_DPORT)?,
    };
    if req.dport == Some(0) {
        return Err(info.fail(
            EINVAL,
            a::SA_ENCAP_DPORT,
            format_args!("sa-encap-dport: port 0"),
        ));
    }
    let moved = crate::migrate::migrate(NetState::of(info.net()), &req).map_err(|e| {
        let why = if e == EEXIST {
            "migrate-new: an SA with the same SPI to the new address exists"
        } else {
            "migrate-new: the SAs could not be moved (out of memory, or the crypto API refused the key)"
        };
        info.fail(e, a::MIGRATE_NEW, format_args!("{why}"))
    })?;
    if moved.sas == 0 && moved.policies == 0 {
        return Err(info.fail(
            ENOENT,
            a::MIGRATE_OLD,
            format_args!("migrate-old: no SA or template of reqid {reqid} has this address"),
        ));
    }
    let mut r = info.reply(cmd::MIGRATE, 64)?;
    r.put_u32(a::SA_COUNT, u32::try_from(moved.sas).unwrap_or(u32::MAX))?;
    r.put_u32(
        a::SP_COUNT,
        u32::try_from(moved.policies).unwrap_or(u32::MAX),
    )?;
    r.send()
}

/// A request that names an attribute twice, or flags one as in network byte order, is
/// refused, naming it.
fn refuse_stream_faults(info: &GenlInfo<'_>) -> Result {
    match info.stream_fault() {
        Some(StreamFault::Repeated(ty)) => Err(info.fail(
            EINVAL,
            ty,
            format_args!("{}: given more than once", name(ty)),
        )),
        Some(StreamFault::NetByteOrder(ty)) => Err(info.fail(
            EINVAL,
            ty,
            format_args!("{}: NLA_F_NET_BYTEORDER is not supported", name(ty)),
        )),
        None => Ok(()),
    }
}

/// Every `doit`: dispatches on the command.
pub(crate) fn doit(info: &GenlInfo<'_>) -> Result {
    NetState::of(info.net()).count_request();
    refuse_stream_faults(info)?;
    match info.cmd() {
        cmd::GET_INFO => get_info(info),
        cmd::SA_ADD => sa_add(info, false),
        cmd::SA_UPDATE => sa_add(info, true),
        cmd::SA_DEL => sa_del(info),
        cmd::SA_GET => sa_get(info),
        cmd::SA_FLUSH => sa_flush(info),
        cmd::SP_ADD => sp_add(info),
        cmd::SP_DEL => sp_del(info),
        cmd::SP_GET => sp_get(info),
        cmd::SP_FLUSH => {
            let state = NetState::of(info.net());
            let mut cfg = state.config.lock();
            cfg.spd.flush(&state.spd).map(drop)
        }
        cmd::GETSPI => getspi(info),
        cmd::GET_STATS => get_stats(info),
        cmd::ENCAP_ATTACH => encap_attach(info),
        cmd::MIGRATE => migrate(info),
        _ => Err(EOPNOTSUPP),
    }
}

/// Every `dumpit` round: dumps SAs or policies, resuming from the cursor in `cb->args`.
pub(crate) fn dump(d: &mut Dump<'_>) -> Result<c_int> {
    let info = d.info();
    if d.cursor() == &[0; 6] {
        refuse_stream_faults(&info)?;
    }
    let command = info.cmd();
    let show_keys = flag(&info, a::SHOW_KEYS);
    let state = NetState::of(d.net());
    let cfg = state.config.lock();
    let mut added = 0;
    loop {
        let cur = d.cursor();
        match command {
            cmd::SA_GET => {
                let mut slot = u32::try_from(cur[0]).unwrap_or(u32::MAX);
                let mut pos = usize::try_from(cur[1]).unwrap_or(usize::MAX);
                let Some(sa) = state.sad.next(&mut slot, &mut pos) else {
                    break;
                };
                if !d.entry(cmd::SA_GET, |w| put_sa(w, &sa, show_keys))? {
                    break;
                }
                let cur = d.cursor();
                cur[0] = c_long::try_from(slot).unwrap_or(c_long::MAX);
                cur[1] = c_long::try_from(pos).unwrap_or(c_long::MAX);
            }
            cmd::SP_GET => {
                let i = usize::try_from(cur[0]).unwrap_or(usize::MAX);
                let Some(p) = cfg.spd.nth(i) else {
                    break;
                };
                if !d.entry(cmd::SP_GET, |w| put_sp(w, &p))? {
                    break;
                }
                d.cursor()[0] += 1;
            }
            _ => return Err(EOPNOTSUPP),
        }
        added += 1;
    }
    Ok(added)
}
