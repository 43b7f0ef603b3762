// SPDX-License-Identifier: GPL-2.0
//! ripsec: IPsec (ESP/AH) with its own SAD and SPD, netfilter hooks, and a generic netlink
//! family for configuration and events.
//!
//! Layout: `ffi` is the only place that calls into `shim.c`; `alg` and `uapi` are the pure
//! protocol files shared with the host crate in `proto/` (and with `ikeuser`).

use kernel::prelude::*;

#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/alg.rs"]
mod alg;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/esp.rs"]
mod esp;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/ip.rs"]
mod ip;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/replay.rs"]
mod replay;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/selector.rs"]
mod selector;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/uapi.rs"]
mod uapi;

mod ffi;
mod net_state;
mod netlink;
mod receive;
mod sad;
mod send;
mod spd;

/// Netfilter verdicts.
const NF_DROP: c_uint = 0;
const NF_ACCEPT: c_uint = 1;
const NF_STOLEN: c_uint = 2;

fn verdict(v: send::Verdict) -> c_uint {
    match v {
        send::Verdict::Accept(skb) => {
            let _ = skb.into_raw();
            NF_ACCEPT
        }
        send::Verdict::Drop(skb) => {
            let _ = skb.into_raw();
            NF_DROP
        }
        send::Verdict::Stolen => NF_STOLEN,
    }
}

/// The POST_ROUTING hook (IPv4 and IPv6).
#[no_mangle]
extern "C" fn ripsec_rs_hook_out(
    _priv: *mut c_void,
    skb: *mut ffi::raw::sk_buff,
    state: *const ffi::raw::nf_hook_state,
) -> c_uint {
    // SAFETY: netfilter passes the packet it owns; on ACCEPT/DROP ownership goes back to it.
    let Some(skb) = (unsafe { ffi::Skb::from_raw(skb) }) else {
        return NF_ACCEPT;
    };
    // SAFETY: `state` is the running hook's state.
    verdict(send::hook(unsafe { ffi::hook_net(state) }, skb))
}

/// The LOCAL_IN hook (IPv4 and IPv6).
#[no_mangle]
extern "C" fn ripsec_rs_hook_in(
    _priv: *mut c_void,
    skb: *mut ffi::raw::sk_buff,
    state: *const ffi::raw::nf_hook_state,
) -> c_uint {
    // SAFETY: as in `ripsec_rs_hook_out`.
    let Some(skb) = (unsafe { ffi::Skb::from_raw(skb) }) else {
        return NF_ACCEPT;
    };
    // SAFETY: `state` is the running hook's state.
    verdict(receive::hook(unsafe { ffi::hook_net(state) }, skb))
}

module! {
    type: Ripsec,
    name: "ripsec",
    authors: ["ripsec developers"],
    description: "IPsec ESP/AH in Rust with its own SAD/SPD and a generic netlink API",
    license: "GPL",
}

/// The loaded module: registrations are dropped in reverse order on unload.
struct Ripsec {
    _genl: ffi::GenlRegistration,
    _pernet: ffi::PernetRegistration,
}

impl kernel::Module for Ripsec {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // Per-netns state first, so every request finds its netns's state.
        let pernet = ffi::PernetRegistration::new()?;
        let genl = ffi::GenlRegistration::new()?;
        pr_info!("ripsec {} loaded\n", uapi::MODULE_VERSION);
        Ok(Ripsec {
            _genl: genl,
            _pernet: pernet,
        })
    }
}

impl Drop for Ripsec {
    fn drop(&mut self) {
        pr_info!("ripsec unloading\n");
    }
}
