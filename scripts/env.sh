# Sourced by every ripsec script: paths, pinned tool versions and the kernel cache.
# shellcheck shell=bash
RIPSEC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export RIPSEC_ROOT
export PATH="$HOME/.cargo/bin:$PATH"

# Pinned tool versions (scripts/setup installs exactly these).
BINDGEN_VERSION=0.71.1
LIBCLANG_WHEEL_VERSION=18.1.1
VIRTME_NG_VERSION=1.42
KERNEL_SOURCE_PKG=linux-source-7.3
CARGO_AUDIT_VERSION=0.22.2
# The debug kernel is built by clang/lld/llvm of this version suffix (Debian bookworm packages).
DEBUG_KERNEL_LLVM=-19

RIPSEC_CACHE=${RIPSEC_CACHE:-$HOME/.cache/ripsec}
export RIPSEC_CACHE
# RustSec's advisory database for `cargo audit` (scripts/setup clones or updates it).
ADVISORY_DB=${ADVISORY_DB:-$RIPSEC_CACHE/advisory-db}
ADVISORY_DB_URL=https://github.com/rustsec/advisory-db

if [ -z "${LIBCLANG_PATH:-}" ]; then
	_clang_dir=$(python3 -c 'import clang, os; print(os.path.join(os.path.dirname(clang.__file__), "native"))' 2>/dev/null || true)
	[ -n "$_clang_dir" ] && [ -e "$_clang_dir/libclang.so" ] && export LIBCLANG_PATH="$_clang_dir"
	unset _clang_dir
fi

log() { printf '\033[1m[ripsec]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[ripsec] error:\033[0m %s\n' "$*" >&2; exit 1; }

# The test kernel's build directory: KDIR if the user gave one, otherwise the cache
# entry that scripts/build-kernel writes (its path is recorded in $RIPSEC_CACHE/kernel-current).
# RIPSEC_KERNEL=debug selects the debug kernel (scripts/build-kernel --debug) instead.
ripsec_kernel_pointer() {
	case "${RIPSEC_KERNEL:-}" in
	"") echo kernel-current ;;
	debug) echo kernel-debug-current ;;
	*) die "RIPSEC_KERNEL=$RIPSEC_KERNEL: the kernels are the test kernel (unset) and debug" ;;
	esac
}
ripsec_kdir() {
	local pointer
	pointer="$RIPSEC_CACHE/$(ripsec_kernel_pointer)"
	if [ -n "${KDIR:-}" ]; then
		echo "$KDIR"
	elif [ -r "$pointer" ]; then
		cat "$pointer"
	else
		return 1
	fi
}
# Extra make flags a cached kernel was built with (LLVM=-19 for the debug kernel); the module
# must be built with the same compiler.
# (Blank lines skipped: kernels cached before build-kernel wrote an empty file have one.)
ripsec_kernel_make_flags() { grep -v '^$' "$1/.ripsec-make-flags" 2>/dev/null || true; }
# Where ripsec.ko for the selected kernel is built.
ripsec_module_dir() {
	if [ -n "${RIPSEC_KERNEL:-}" ]; then echo "$RIPSEC_ROOT/target/kmod-$RIPSEC_KERNEL"; else echo "$RIPSEC_ROOT"; fi
}
