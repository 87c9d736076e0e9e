#!/usr/bin/env bash
# Runs every test of peerdisc: the Rust test suite (unit, integration,
# property, doc, loopback network and, as root, network-namespace tests:
# mDNS across hosts and the multi-host fault scenarios), the crate without
# default features, and the C/C++/Python FFI tests (pytest against the
# package installed with pip).
#
#   bash scripts/test.sh
#
# Needs: a Rust toolchain, a C compiler, make, python3 and PyPI (pytest and
# the Python package's build backend go into a venv under target/).
# First installs what is missing (scripts/install-deps.sh: as root with
# apt-get, iproute2, nftables, valgrind, pkg-config, build-essential, make,
# python3-venv; with cargo, cbindgen 0.29.2). A test whose tool is still
# missing prints "SKIPPED: ... <tool> missing (<how to install>)" and
# passes; PEERDISC_NO_INSTALL=1 installs nothing. Without root the namespace
# tests print SKIPPED.
# Strict switches (CI sets them): PEERDISC_NETNS_REQUIRE=1 turns namespace
# and nft skips into failures; PEERDISC_FFI_FULL=1 adds valgrind and
# AddressSanitizer runs and turns FFI skips (cbindgen, valgrind,
# pkg-config, make, pytest) into failures.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target

# shellcheck source=install-deps.sh
source scripts/install-deps.sh
install_deps || echo "== some tools are missing: the tests that need them print SKIPPED"

echo "== cargo test (all features)"
status=0
cargo test --all-features --no-fail-fast 2>&1 | tee target/test-rust.log || status=$?
# One closing line for all the Rust test binaries; tests that skipped for a
# missing tool or privilege print a SKIPPED: line (listed again at the end).
skipped=$(grep -c 'SKIPPED: ' target/test-rust.log || true)
awk -v s="$skipped" '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "rust: %d passed, %d failed, %d skipped\n", p - s, f, s }' target/test-rust.log
if [ "$status" -ne 0 ]; then
  echo "== Rust tests failed" >&2
  exit "$status"
fi

echo "== cargo test (no default features: the crate without mDNS and the CLI)"
cargo test --no-default-features --lib 2>&1 | tail -n 3

echo "== FFI tests (C, C++, Python)"
bash scripts/test-ffi.sh 2>&1 | tee target/test-ffi.log
if grep -q 'SKIPPED: ' target/test-rust.log target/test-ffi.log; then
  echo "== skipped (passed without checking; install the tool, or see scripts/install-deps.sh):"
  grep -ho 'SKIPPED: .*' target/test-rust.log target/test-ffi.log | sed 's/^/  /'
fi
echo "== all tests passed"
