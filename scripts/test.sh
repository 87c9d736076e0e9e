#!/usr/bin/env bash
# Runs every test of peerdisc: the Rust test suite (unit, integration,
# property, doc, loopback network and, as root, network-namespace tests:
# mDNS across hosts and the multi-host fault scenarios), the crate without
# default features, and the C/C++/Python FFI tests.
#
#   bash scripts/test.sh
#
# Needs: a Rust toolchain, a C compiler and make, python3 (pytest is
# installed into target/venv when missing). Without root the namespace tests
# print SKIPPED. PEERDISC_FFI_FULL=1 adds valgrind and AddressSanitizer runs;
# PEERDISC_NETNS_REQUIRE=1 turns namespace skips into failures (CI sets
# both).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target

echo "== cargo test (all features)"
status=0
cargo test --all-features --no-fail-fast 2>&1 | tee target/test-rust.log || status=$?
# One closing line for all the Rust test binaries.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "rust: %d passed, %d failed\n", p, f }' target/test-rust.log
if [ "$status" -ne 0 ]; then
  echo "== Rust tests failed" >&2
  exit "$status"
fi

echo "== cargo test (no default features: the crate without mDNS and the CLI)"
cargo test --no-default-features --lib 2>&1 | tail -n 3

echo "== FFI tests (C, C++, Python)"
bash scripts/test-ffi.sh
echo "== all tests passed"
