//! Prints `rust/uapi.h`, the C shim's view of the UAPI, from the Rust tables.
//! `cargo test` fails when the checked-in header differs; `make uapi` regenerates it.

fn main() {
    print!("{}", ripsec_proto::c_header::c_header());
}
