// SPDX-License-Identifier: GPL-2.0
//! ripsec: IPsec (ESP/AH) with its own SAD and SPD, netfilter hooks, and a generic netlink
//! family for configuration and events.
//!
//! Layout: `ffi` is the only place that calls into `shim.c` (and writes `unsafe`); `alg` and
//! `uapi` are the pure
//! protocol files shared with the host crate in `proto/` (and with `ikeuser`).

use core::pin::Pin;
use kernel::prelude::*;

#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/ah.rs"]
mod ah;
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
#[path = "proto/src/icmp_err.rs"]
mod icmp_err;
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
#[path = "proto/src/spd_index.rs"]
mod spd_index;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/tcp_mss.rs"]
mod tcp_mss;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/uapi.rs"]
mod uapi;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/udp_encap.rs"]
mod udp_encap;

mod ah_icv;
mod attrs;
mod espinudp;
mod events;
mod expire;
mod ffi;
mod migrate;
mod net_state;
mod netlink;
mod packet;
mod pmtu;
mod receive;
mod sad;
mod send;
mod spd;

/// What the kernel calls: pernet init/exit, the netfilter hooks, the expiry work and the
/// netlink requests.
impl ffi::entry::Handlers for Ripsec {
    type NetState = net_state::NetState;

    fn net_init(init: &ffi::NetInit<'_>) -> Result<Pin<KBox<Self::NetState>>> {
        net_state::new_state(init)
    }

    fn net_exit(state: &Self::NetState) {
        espinudp::detach_all(state);
        state.work.cancel();
    }

    /// POST_ROUTING sends, LOCAL_IN receives, LOCAL_IN and FORWARD enforce inbound policy.
    #[inline(always)]
    fn hook(
        net: ffi::Net<'_>,
        state: &Self::NetState,
        skb: ffi::Skb,
        hook: ffi::Hook,
        rcu: ffi::Rcu<'_>,
    ) -> ffi::Verdict {
        match hook {
            ffi::Hook::PreRouting => receive::before_defrag(state, skb),
            ffi::Hook::PostRouting => send::hook(net, state, skb, rcu),
            ffi::Hook::LocalIn => receive::hook(net, state, skb, false, rcu),
            ffi::Hook::Forward => receive::hook(net, state, skb, true, rcu),
            ffi::Hook::Other => ffi::Verdict::Accept(skb),
        }
    }

    fn work(net: ffi::Net<'_>) {
        expire::run(net);
    }

    fn doit(info: &ffi::GenlInfo<'_>) -> Result {
        netlink::doit(info)
    }

    fn dumpit(dump: &mut ffi::Dump<'_>) -> Result<c_int> {
        netlink::dump(dump)
    }

    fn encap_receive(net: ffi::Net<'_>, skb: ffi::Skb) -> Option<ffi::Skb> {
        espinudp::receive(net, skb)
    }

    fn encap_closed(net: ffi::Net<'_>, sk: ffi::SocketId) {
        espinudp::closed(net, sk);
    }
}

ffi::entry::entry_points!(Ripsec, net_state::NetState);

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
    _room: ffi::RequestRoom,
    _gro: ffi::GroCells,
    _drops: ffi::DeferredDrops,
}

impl kernel::Module for Ripsec {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // The deferred-drop queue outlives everything that retires objects into it.
        let drops = ffi::DeferredDrops::new()?;
        // The data path's crypto requests, before any packet can arrive.
        let room = ffi::RequestRoom::new()?;
        let gro = ffi::GroCells::new()?;
        // Per-netns state before the family, so every request finds its netns's state.
        let pernet = ffi::PernetRegistration::new()?;
        let genl = ffi::GenlRegistration::new()?;
        pr_info!("ripsec {} loaded\n", uapi::MODULE_VERSION);
        Ok(Ripsec {
            _genl: genl,
            _pernet: pernet,
            _room: room,
            _gro: gro,
            _drops: drops,
        })
    }
}

impl Drop for Ripsec {
    fn drop(&mut self) {
        pr_info!("ripsec unloading\n");
    }
}
