#!/usr/bin/env bash
# Builds and runs everything FFI:
#  - the header check (committed include/peerdisc.h == cbindgen 0.29.2 output)
#    and the version-macro tests (cargo test --test ffi_header);
#  - the C tests (ffi-tests/) against the shared and the static library, and
#    the same source compiled as C++;
#  - the examples (C, C++, Python), and the C example built through the
#    rendered pkg-config file, shared and static;
#  - pytest (python/tests), in a venv under target/venv if pytest is missing.
# With PEERDISC_FFI_FULL=1 (CI) also: the C tests under valgrind (zero
# errors, zero bytes definitely lost) and an AddressSanitizer build; the
# header check then requires cbindgen 0.29.2.
# Exits non-zero on any failure; the last line is "ffi: N passed, M failed".
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
LIBDIR=$ROOT/target/debug
BUILD=$ROOT/target/ffi
FULL=${PEERDISC_FFI_FULL:-0}
PASSED=0
FAILED=0
FAILURES=()

step() {
  local name=$1
  shift
  echo "==> $name"
  if "$@"; then
    PASSED=$((PASSED + 1))
  else
    FAILED=$((FAILED + 1))
    FAILURES+=("$name")
    echo "FAILED: $name" >&2
  fi
}

finish() {
  for f in "${FAILURES[@]+"${FAILURES[@]}"}"; do echo "failed: $f" >&2; done
  echo "ffi: $PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
  exit $?
}

mkdir -p "$BUILD"

step "cargo build (cdylib + staticlib)" cargo build --lib --quiet
if [ "$FAILED" -ne 0 ]; then finish; fi

if [ "$FULL" = 1 ]; then export PEERDISC_REQUIRE_CBINDGEN=1; fi
step "header up to date, version macros" cargo test --quiet --test ffi_header

step "build C tests (C99 shared, C99 static, C++17)" \
  make -s -C ffi-tests -B all LIBDIR="$LIBDIR"
for t in test_registry test_node test_gossip test_contract; do
  step "C tests ($t), shared library" ffi-tests/build/${t}_shared
  step "C tests ($t), static library" ffi-tests/build/${t}_static
  step "C tests ($t) compiled as C++" ffi-tests/build/${t}_cxx
done

WARN="-Wall -Wextra -Werror -pedantic"
example_c() {
  gcc -std=c99 $WARN -Iinclude examples/ffi_example.c -L"$LIBDIR" -lpeerdisc \
    -Wl,-rpath,"$LIBDIR" -o "$BUILD/ffi_example_c" && "$BUILD/ffi_example_c" >/dev/null
}
example_cpp() {
  g++ -std=c++17 $WARN -Iinclude examples/ffi_example.cpp -L"$LIBDIR" -lpeerdisc \
    -Wl,-rpath,"$LIBDIR" -o "$BUILD/ffi_example_cpp" && "$BUILD/ffi_example_cpp" >/dev/null
}
example_py() {
  PEERDISC_LIB="$LIBDIR/libpeerdisc.so" python3 examples/ffi_example.py >/dev/null
}
step "example: C" example_c
step "example: C++" example_cpp
step "example: Python" example_py

# pkg-config: install into a staging prefix, then build the C example
# through the rendered .pc file, shared and static.
pkgconfig() {
  command -v pkg-config >/dev/null || { echo "pkg-config is not installed" >&2; return 1; }
  local stage=$BUILD/stage
  rm -rf "$stage" && mkdir -p "$stage/include" "$stage/lib/pkgconfig" || return 1
  cp include/peerdisc.h "$stage/include/" &&
    cp "$LIBDIR/libpeerdisc.so" "$LIBDIR/libpeerdisc.a" "$stage/lib/" &&
    scripts/render-pc.sh "$stage" >"$stage/lib/pkgconfig/peerdisc.pc" || return 1
  export PKG_CONFIG_PATH=$stage/lib/pkgconfig
  pkg-config --exists --print-errors peerdisc || return 1
  [ "$(pkg-config --modversion peerdisc)" = "$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)" ] || return 1
  # shellcheck disable=SC2046
  gcc -std=c99 $WARN examples/ffi_example.c $(pkg-config --cflags --libs peerdisc) \
    -Wl,-rpath,"$stage/lib" -o "$BUILD/ffi_example_pc_shared" &&
    "$BUILD/ffi_example_pc_shared" >/dev/null || return 1
  # shellcheck disable=SC2046
  gcc -std=c99 $WARN examples/ffi_example.c $(pkg-config --cflags peerdisc) \
    $(pkg-config --variable=staticlib peerdisc) $(pkg-config --variable=static_libs peerdisc) \
    -o "$BUILD/ffi_example_pc_static" &&
    "$BUILD/ffi_example_pc_static" >/dev/null || return 1
  ! ldd "$BUILD/ffi_example_pc_static" | grep -q libpeerdisc
}
step "pkg-config: build and link the C example (shared, static)" pkgconfig

PY=python3
if ! python3 -c "import pytest" 2>/dev/null; then
  if [ ! -x target/venv/bin/python ] || ! target/venv/bin/python -c "import pytest" 2>/dev/null; then
    echo "==> creating target/venv with pytest"
    python3 -m venv target/venv && target/venv/bin/pip install --quiet pytest
  fi
  PY=target/venv/bin/python
fi
step "pytest python/tests" env PEERDISC_LIB="$LIBDIR/libpeerdisc.so" \
  "$PY" -m pytest -q -p no:cacheprovider python/tests

if [ "$FULL" = 1 ]; then
  VG="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite"
  step "AddressSanitizer: build" make -s -C ffi-tests -B asan LIBDIR="$LIBDIR"
  for t in test_registry test_node test_gossip test_contract; do
    # shellcheck disable=SC2086
    step "valgrind: C tests ($t), shared" $VG ffi-tests/build/${t}_shared
    # shellcheck disable=SC2086
    step "valgrind: C tests ($t), static" $VG ffi-tests/build/${t}_static
    # shellcheck disable=SC2086
    step "valgrind: C tests ($t) as C++" $VG ffi-tests/build/${t}_cxx
    step "AddressSanitizer: C tests ($t)" env ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
      ffi-tests/build/${t}_asan
  done
fi

finish
