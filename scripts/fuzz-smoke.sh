#!/usr/bin/env bash
# Short fuzzing run for CI: every cargo-fuzz target for a few seconds, from
# the checked-in seeds, in a scratch corpus (nothing in the repo changes).
# Needs no network once the crates are in the local cargo cache
# (CARGO_NET_OFFLINE). Without a nightly toolchain or cargo-fuzz it runs the
# stable property versions of the targets instead (tests/bad_input.rs).
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
targets=(wire_decode core_sequence snapshot_load keyring_open signed_record_verify)

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly' || ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== fuzz-smoke: no nightly toolchain or cargo-fuzz; running the stable property tests"
  cargo test --test bad_input
  exit 0
fi

export CARGO_NET_OFFLINE="${CARGO_NET_OFFLINE:-true}"
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
  cargo +nightly fuzz run -O "$t" "$scratch/$t" "${seeds[@]}" -- \
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
