#!/usr/bin/env bash
# Runs every test of peerdisc: the Rust test suite (unit, integration,
# property, loopback network and, as root, network-namespace tests), the
# doc tests, and, where present, the C/C++/Python FFI tests.
#
#   bash scripts/test.sh
#
# Needs: a Rust toolchain, a C compiler, python3. Everything else it needs it
# installs under target/ (pytest in a venv) or says clearly what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test (all features)"
cargo test --all-features --no-fail-fast 2>&1 | tee target/test-rust.log
echo "== cargo test (no default features: the crate without mDNS)"
cargo test --no-default-features --lib 2>&1 | tail -n 3

if [ -x scripts/test-ffi.sh ] || [ -f scripts/test-ffi.sh ]; then
  echo "== FFI tests (C, C++, Python)"
  bash scripts/test-ffi.sh
fi
echo "== all tests passed"
