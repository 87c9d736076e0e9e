#!/usr/bin/env bash
# Short fuzzing run for CI: every cargo-fuzz target for a few seconds, from
# the checked-in seeds, in a scratch corpus (nothing in the repo changes).
# Needs cargo-fuzz (.ci/run installs it); without it, it runs the stable
# property versions of the targets instead (tests/bad_input.rs) and says so.
#
#   scripts/fuzz-smoke.sh            # 20 s per target
#   FUZZ_SECONDS=5 scripts/fuzz-smoke.sh
#
# Long run (see fuzz/README.md and BENCHMARKS.md, section "Fuzzing"):
#   cd fuzz && cargo +nightly fuzz run -O wire_decode corpus/wire_decode seeds/wire \
#     -- -runs=10000000 -max_len=4096 -print_final_stats=1
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECONDS:-20}"
targets=(wire_decode core_sequence snapshot_load keyring_open signed_record_verify signed_liveness datagram_open)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== fuzz-smoke: cargo-fuzz is not installed (cargo install cargo-fuzz --version 0.13.2 --locked); running the stable property tests instead"
  cargo test --test bad_input --test datagram_bad_input
  exit 0
fi
# cargo-fuzz passes -Z flags (sanitizer, coverage): a nightly toolchain when
# there is one, else the stable one with RUSTC_BOOTSTRAP=1 for this build
# only (the machine's one toolchain is stable).
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  toolchain=(+stable)
  export RUSTC_BOOTSTRAP=1
fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cd fuzz
for t in "${targets[@]}"; do
  echo "== fuzz-smoke: $t for ${secs}s"
  mkdir -p "$scratch/$t"
  seeds=()
  case "$t" in
    wire_decode) seeds=(seeds/wire) ;;
    *) [ -d "seeds/$t" ] && seeds=("seeds/$t") ;;
  esac
  # -O: release with debug assertions; libFuzzer stops at the first crash
  # (exit code non-zero, reproducer in fuzz/artifacts/<target>/).
  set +e
  cargo "${toolchain[@]}" fuzz run -O "$t" "$scratch/$t" "${seeds[@]}" -- \
    -max_total_time="$secs" -max_len=16384 -print_final_stats=1 >"$scratch/$t.log" 2>&1
  rc=$?
  set -e
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done)' "$scratch/$t.log" || true
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$scratch/$t.log"
    echo "fuzz-smoke: $t FAILED (reproducer in fuzz/artifacts/$t/)"
    echo "0 passed, 1 failed"
    exit 1
  fi
done
echo "fuzz-smoke: ${#targets[@]} passed, 0 failed"
