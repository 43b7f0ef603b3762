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
#[path = "proto/src/headers.rs"]
mod headers;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/ip.rs"]
mod ip;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/lifetime.rs"]
mod lifetime;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/replay.rs"]
mod replay;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/selector.rs"]
mod selector;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/uapi.rs"]
mod uapi;

mod events;
mod expire;
mod ffi;
mod net_state;
mod netlink;
mod packet;
mod receive;
mod sad;
mod send;
mod spd;

/// Netfilter verdicts.
const NF_DROP: c_uint = 0;
const NF_ACCEPT: c_uint = 1;
const NF_STOLEN: c_uint = 2;

fn verdict(v: packet::Verdict) -> c_uint {
    match v {
        packet::Verdict::Accept(skb) => {
            let _ = skb.into_raw();
            NF_ACCEPT
        }
        packet::Verdict::Drop(skb) => {
            let _ = skb.into_raw();
            NF_DROP
        }
        packet::Verdict::Stolen => NF_STOLEN,
    }
}

/// Netfilter hook numbers (`NF_INET_*`).
const NF_INET_LOCAL_IN: u8 = 1;
const NF_INET_FORWARD: u8 = 2;
const NF_INET_POST_ROUTING: u8 = 4;

/// Every netfilter hook of ripsec (IPv4 and IPv6): POST_ROUTING sends, LOCAL_IN receives,
/// LOCAL_IN and FORWARD enforce inbound policy on plaintext.
#[no_mangle]
extern "C" fn ripsec_rs_hook(
    _priv: *mut c_void,
    skb: *mut ffi::raw::sk_buff,
    state: *const ffi::raw::nf_hook_state,
) -> c_uint {
    // SAFETY: netfilter passes the packet it owns; on ACCEPT/DROP ownership goes back to it.
    let Some(skb) = (unsafe { ffi::Skb::from_raw(skb) }) else {
        return NF_ACCEPT;
    };
    // SAFETY: `state` is the running hook's state.
    let (net, hook) = unsafe { (ffi::hook_net(state), ffi::hook_num(state)) };
    verdict(match hook {
        NF_INET_POST_ROUTING => send::hook(net, skb),
        NF_INET_LOCAL_IN => receive::hook(net, skb, false),
        NF_INET_FORWARD => receive::hook(net, skb, true),
        _ => packet::Verdict::Accept(skb),
    })
}

/// The deferred work of a netns (lifetime expiry).
#[no_mangle]
extern "C" fn ripsec_rs_work(net: *mut ffi::raw::net) {
    // SAFETY: the work of a netns is queued only after its pernet init and cancelled (waiting
    // for a running instance) before its pernet exit completes.
    expire::run(unsafe { ffi::Net::from_raw(net) });
}

module! {
    type: Ripsec,
    name: "ripsec",
    authors: ["ripsec developers"],
    description: "IPsec ESP/AH in Rust with its own SAD/SPD and a generic netlink API",
    license: "GPL",
}

/// The loaded module: fields drop in order on unload, the reverse of their creation.
struct Ripsec {
    _genl: ffi::GenlRegistration,
    _pernet: ffi::PernetRegistration,
    _drops: ffi::DeferredDrops,
}

impl kernel::Module for Ripsec {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // The deferred-drop queue outlives everything that retires objects into it.
        let drops = ffi::DeferredDrops::new()?;
        // Per-netns state before the family, so every request finds its netns's state.
        let pernet = ffi::PernetRegistration::new()?;
        let genl = ffi::GenlRegistration::new()?;
        pr_info!("ripsec {} loaded\n", uapi::MODULE_VERSION);
        Ok(Ripsec {
            _genl: genl,
            _pernet: pernet,
            _drops: drops,
        })
    }
}

impl Drop for Ripsec {
    fn drop(&mut self) {
        pr_info!("ripsec unloading\n");
    }
}
