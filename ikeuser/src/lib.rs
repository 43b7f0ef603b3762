//! ikeuser: the ripsec IKE agent and configuration CLI, as a library the binary drives.

pub mod bench;
pub mod config;
pub mod control;
pub mod daemon;
pub mod encap;
pub mod fuzz;
pub mod info;
pub mod kernel;
pub mod monitor;
pub mod netlink;
pub mod policy;
pub mod sa;
pub mod stats;
pub mod words;
