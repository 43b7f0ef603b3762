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
mod sad;
mod spd;

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
