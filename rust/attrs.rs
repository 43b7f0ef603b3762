// SPDX-License-Identifier: GPL-2.0
//! Attribute encodings that replies (`netlink.rs`) and events (`events.rs`) share.

use crate::{
    ffi::MsgWriter,
    selector::AF_INET,
    spd::Template,
    uapi::{self, attr as a},
};
use kernel::prelude::*;

/// Bytes of an address of `family` on the wire.
pub(crate) fn addr_len(family: u8) -> usize {
    if family == AF_INET {
        4
    } else {
        16
    }
}

/// An address attribute: 4 bytes for IPv4, 16 for IPv6.
pub(crate) fn put_addr(w: &mut MsgWriter, ty: u16, family: u8, addr: &[u8; 16]) -> Result {
    w.put(ty, &addr[..addr_len(family)])
}

/// A protect policy's template: protocol, mode, reqid, and in tunnel mode the endpoints.
pub(crate) fn put_template(w: &mut MsgWriter, t: &Template) -> Result {
    w.put_u8(a::TMPL_PROTO, t.proto)?;
    w.put_u8(a::TMPL_MODE, t.mode)?;
    w.put_u32(a::TMPL_REQID, t.reqid)?;
    if t.mode == uapi::MODE_TUNNEL {
        w.put_u8(a::TMPL_FAMILY, t.family)?;
        put_addr(w, a::TMPL_SRC, t.family, &t.src)?;
        put_addr(w, a::TMPL_DST, t.family, &t.dst)?;
    }
    Ok(())
}
