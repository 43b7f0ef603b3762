# ripsec: `make demo` shows it working, `make test` runs every test.
# KDIR=/path builds the module against your own CONFIG_RUST=y kernel build;
# KSRC=/path builds the test kernel from your own Linux 7.3 source tree.
.PHONY: all setup kernel module uapi entry-header demo test vm-test host-test bench clean

all: module

setup:
	bash scripts/setup

kernel: setup
	bash scripts/build-kernel

module:
	bash scripts/build-module

# Regenerate the C view of the netlink UAPI after editing rust/proto/src/uapi.rs.
uapi:
	cargo run -q -p ripsec-proto --features std --bin gen-uapi-header > rust/uapi.h

# Regenerate the prototypes of Rust's entry points after editing rust/ffi/entry.rs.
entry-header:
	python3 scripts/gen-entry-header

demo:
	bash scripts/demo

bench:
	bash scripts/bench

test:
	bash scripts/test

host-test:
	bash scripts/test --host-only

vm-test:
	bash scripts/test --vm-only

clean:
	@kdir=$$(. scripts/env.sh && ripsec_kdir) && $(MAKE) -C "$$kdir" M=$(CURDIR) clean || true
	cargo clean
