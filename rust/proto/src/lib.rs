//! ripsec's pure protocol logic: no `kernel::` imports, no `std`, no allocation.
//!
//! Every file in this crate (except `bin/`) is also compiled into `ripsec.ko` through
//! `#[path]` modules, so it must build with `core` alone. `cargo test` exercises it here.
#![no_std]

#[cfg(any(test, feature = "std"))]
extern crate std;

#[cfg(any(test, feature = "std"))]
pub mod c_header;

pub mod ah;
pub mod alg;
pub mod esp;
pub mod headers;
pub mod icmp_err;
pub mod ip;
pub mod lifetime;
pub mod replay;
pub mod selector;
pub mod spd_index;
pub mod tcp_mss;
#[cfg(test)]
mod test_rng;
pub mod uapi;
pub mod udp_encap;
