// SPDX-License-Identifier: GPL-2.0
//! Generic netlink command handlers (`doit` callbacks registered by `shim.c`).

use crate::{alg, ffi::GenlInfo, net_state::NetState, uapi};
use kernel::prelude::*;

/// Runs a handler and converts its result into the errno netlink expects.
fn serve(info: *mut crate::ffi::raw::genl_info, f: impl FnOnce(&GenlInfo<'_>) -> Result) -> c_int {
    // SAFETY: the genl core passes the `genl_info` of the request it is serving right now.
    let info = unsafe { GenlInfo::from_raw(info) };
    NetState::of(info.net()).count_request();
    match f(&info) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// GET_INFO: module version, algorithms, and this netns's state.
#[no_mangle]
extern "C" fn ripsec_rs_get_info(
    _skb: *mut crate::ffi::raw::sk_buff,
    info: *mut crate::ffi::raw::genl_info,
) -> c_int {
    serve(info, |info| {
        let net = info.net();
        let mut r = info.reply(uapi::cmd::GET_INFO, 4096)?;
        r.put_str(uapi::attr::VERSION, uapi::MODULE_VERSION)?;
        r.put_u8(uapi::attr::FAMILY_VERSION, uapi::FAMILY_VERSION)?;
        for a in alg::ALGS {
            let available =
                crate::ffi::crypto_available(a.kernel_name, a.kind == alg::CryptoKind::Hash);
            r.nest(uapi::attr::ALG, |r| {
                r.put_str(uapi::alg_attr::NAME, a.name)?;
                r.put_u8(uapi::alg_attr::PROTO, a.proto)?;
                r.put_str(uapi::alg_attr::KERNEL_NAME, a.kernel_name)?;
                r.put_u16(uapi::alg_attr::ENC_KEY_BITS, a.enc_key_bits)?;
                r.put_u8(uapi::alg_attr::ICV_LEN, a.icv_len)?;
                if available {
                    r.put_flag(uapi::alg_attr::AVAILABLE)?;
                }
                Ok(())
            })?;
        }
        r.put_u64(uapi::attr::NETNS_COOKIE, net.cookie())?;
        r.put_u64(uapi::attr::NETNS_REQUESTS, NetState::of(net).requests())?;
        r.send()
    })
}
