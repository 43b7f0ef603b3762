//! ikeuser: the ripsec IKE agent and configuration CLI, as a library the binary drives.

pub mod info;
pub mod monitor;
pub mod netlink;
pub mod policy;
pub mod sa;
pub mod stats;
pub mod words;
