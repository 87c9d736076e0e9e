#!/usr/bin/env bash
# Builds and runs everything FFI:
#  - the header check (committed include/peerdisc.h == cbindgen 0.29.2 output)
#    and the version-macro tests (cargo test --test ffi_header);
#  - the C tests (ffi-tests/) against the shared and the static library, and
#    the same source compiled as C++;
#  - the examples (C registry, C node, C++), and the C example built through
#    the rendered pkg-config file, shared and static;
#  - the Python package: a fresh venv (target/py-venv), `pip install ./python`
#    (builds the library with cargo into the wheel), `import peerdisc` from /
#    without PEERDISC_LIB, then pytest (python/tests) and the Python example
#    against that installed package.
# With PEERDISC_FFI_FULL=1 (CI) also: the C tests under valgrind (zero
# errors, zero bytes definitely lost) and an AddressSanitizer build.
# A step whose tool is missing (make, cc, c++, pkg-config, valgrind,
# python3-venv, PyPI for pytest) prints "SKIPPED: <step>: <tool> missing
# (<how to install>)" and counts as skipped, not passed; with
# PEERDISC_FFI_FULL=1 it fails instead, and so does the header check
# without cbindgen 0.29.2. scripts/install-deps.sh installs them.
# Exits non-zero on any failure; the last line is
# "ffi: N passed, M failed, K skipped".
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
LIBDIR=$ROOT/target/debug
BUILD=$ROOT/target/ffi
VENV=$ROOT/target/py-venv
FULL=${PEERDISC_FFI_FULL:-0}
PASSED=0
FAILED=0
SKIPPED=0
FAILURES=()
# shellcheck source=install-deps.sh
source scripts/install-deps.sh
CC=${CC:-cc}
CXX=${CXX:-c++}

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

# needs "TOOL ..." NAME CMD...: step NAME if every tool is there; else a
# SKIPPED line (a failure with PEERDISC_FFI_FULL=1).
needs() {
  local tools=$1 t
  shift
  for t in $tools; do
    if ! have_tool "$t"; then
      skip "$1" "$t missing ($(tool_hint "$t"))"
      return
    fi
  done
  step "$@"
}

skip() {
  if [ "$FULL" = 1 ]; then
    FAILED=$((FAILED + 1))
    FAILURES+=("$1")
    echo "FAILED: $1: $2 (PEERDISC_FFI_FULL=1 requires it)" >&2
  else
    SKIPPED=$((SKIPPED + 1))
    echo "SKIPPED: $1: $2"
  fi
}

finish() {
  for f in "${FAILURES[@]+"${FAILURES[@]}"}"; do echo "failed: $f" >&2; done
  echo "ffi: $PASSED passed, $FAILED failed, $SKIPPED skipped"
  [ "$FAILED" -eq 0 ]
  exit $?
}

mkdir -p "$BUILD"

step "cargo build (cdylib + staticlib)" cargo build --lib --quiet
if [ "$FAILED" -ne 0 ]; then finish; fi

if [ "$FULL" = 1 ]; then export PEERDISC_REQUIRE_CBINDGEN=1; fi
# The test prints a SKIPPED line itself when cbindgen is missing: show it.
header_check() {
  cargo test --quiet --test ffi_header 2>&1 | tee "$BUILD/ffi_header.log"
  local st=${PIPESTATUS[0]}
  if grep -q 'SKIPPED: ' "$BUILD/ffi_header.log"; then
    SKIPPED=$((SKIPPED + 1))
    echo "SKIPPED: header up to date: $(tool_hint cbindgen) (the version macros were checked)"
  fi
  return "$st"
}
step "header up to date, version macros" header_check

needs "make cc c++" "build C tests (C99 shared, C99 static, C++17)" \
  make -s -C ffi-tests -B all LIBDIR="$LIBDIR" CC="$CC" CXX="$CXX"
for t in test_registry test_node test_gossip test_contract; do
  needs "make cc" "C tests ($t), shared library" ffi-tests/build/${t}_shared
  needs "make cc" "C tests ($t), static library" ffi-tests/build/${t}_static
  needs "make c++" "C tests ($t) compiled as C++" ffi-tests/build/${t}_cxx
done

WARN="-Wall -Wextra -Werror -pedantic"
# example_c NAME: builds examples/NAME.c against the shared library, runs it.
example_c() {
  # shellcheck disable=SC2086
  "$CC" -std=c99 $WARN -Iinclude "examples/$1.c" -L"$LIBDIR" -lpeerdisc \
    -Wl,-rpath,"$LIBDIR" -o "$BUILD/$1" && "$BUILD/$1" >/dev/null
}
example_cpp() {
  # shellcheck disable=SC2086
  "$CXX" -std=c++17 $WARN -Iinclude examples/ffi_example.cpp -L"$LIBDIR" -lpeerdisc \
    -Wl,-rpath,"$LIBDIR" -o "$BUILD/ffi_example_cpp" && "$BUILD/ffi_example_cpp" >/dev/null
}
# README.md quotes examples/ffi_node.c whole, after a marker line.
readme_quotes_node_example() {
  awk '/^<!-- examples\/ffi_node.c -->$/ { grab = 1; getline; next }
       grab && /^```$/ { exit }
       grab { print }' README.md | diff -u examples/ffi_node.c - >&2
}
step "README.md quotes examples/ffi_node.c as it is" readme_quotes_node_example
needs cc "example: C (registry)" example_c ffi_example
needs cc "example: C (two nodes, quoted in README.md)" example_c ffi_node
needs c++ "example: C++" example_cpp

# pkg-config: install into a staging prefix, then build the C example
# through the rendered .pc file, shared and static.
pkgconfig() {
  local stage=$BUILD/stage
  rm -rf "$stage" && mkdir -p "$stage/include" "$stage/lib/pkgconfig" || return 1
  cp include/peerdisc.h "$stage/include/" &&
    cp "$LIBDIR/libpeerdisc.so" "$LIBDIR/libpeerdisc.a" "$stage/lib/" &&
    scripts/render-pc.sh "$stage" >"$stage/lib/pkgconfig/peerdisc.pc" || return 1
  export PKG_CONFIG_PATH=$stage/lib/pkgconfig
  pkg-config --exists --print-errors peerdisc || return 1
  [ "$(pkg-config --modversion peerdisc)" = "$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)" ] || return 1
  # shellcheck disable=SC2046,SC2086
  "$CC" -std=c99 $WARN examples/ffi_example.c $(pkg-config --cflags --libs peerdisc) \
    -Wl,-rpath,"$stage/lib" -o "$BUILD/ffi_example_pc_shared" &&
    "$BUILD/ffi_example_pc_shared" >/dev/null || return 1
  # shellcheck disable=SC2046,SC2086
  "$CC" -std=c99 $WARN examples/ffi_example.c $(pkg-config --cflags peerdisc) \
    $(pkg-config --variable=staticlib peerdisc) $(pkg-config --variable=static_libs peerdisc) \
    -o "$BUILD/ffi_example_pc_static" &&
    "$BUILD/ffi_example_pc_static" >/dev/null || return 1
  ! ldd "$BUILD/ffi_example_pc_static" | grep -q libpeerdisc
}
needs "pkg-config cc" "pkg-config: build and link the C example (shared, static)" pkgconfig

# Python: a fresh venv with pytest from PyPI (when that fails, PyPI is out of
# reach: the Python steps are skipped), then the package installed the way a
# user installs it, and everything Python run against that installation
# (PEERDISC_LIB unset, outside the source tree).
python_steps() {
  if ! have_tool venv; then
    skip "Python package and pytest" "venv missing ($(tool_hint venv))"
    return
  fi
  rm -rf "$VENV"
  if ! { python3 -m venv "$VENV" && "$VENV/bin/pip" install --quiet --disable-pip-version-check pytest; }; then
    skip "Python package and pytest" "pytest missing (PyPI unreachable: pip install pytest failed)"
    return
  fi
  step "python: pip install ./python (cargo builds the library into the wheel)" \
    "$VENV/bin/pip" install --quiet --disable-pip-version-check ./python
  step "python: import peerdisc from / without PEERDISC_LIB" \
    env -u PEERDISC_LIB -C / "$VENV/bin/python" -c \
    "import peerdisc, pathlib; print(peerdisc.version(), peerdisc.library_path()); assert pathlib.Path(peerdisc.library_path()).parent == pathlib.Path(peerdisc.__file__).parent"
  step "python: pytest python/tests (installed package)" \
    env -u PEERDISC_LIB PEERDISC_TEST_INSTALLED=1 "$VENV/bin/python" -m pytest -q \
    -p no:cacheprovider python/tests
  step "example: Python (installed package)" \
    env -u PEERDISC_LIB -C / "$VENV/bin/python" "$ROOT/examples/ffi_example.py"
}
python_steps

if [ "$FULL" = 1 ]; then
  VG="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite"
  needs "make cc" "AddressSanitizer: build" make -s -C ffi-tests -B asan LIBDIR="$LIBDIR" CC="$CC"
  for t in test_registry test_node test_gossip test_contract; do
    # shellcheck disable=SC2086
    needs valgrind "valgrind: C tests ($t), shared" $VG ffi-tests/build/${t}_shared
    # shellcheck disable=SC2086
    needs valgrind "valgrind: C tests ($t), static" $VG ffi-tests/build/${t}_static
    # shellcheck disable=SC2086
    needs valgrind "valgrind: C tests ($t) as C++" $VG ffi-tests/build/${t}_cxx
    needs "make cc" "AddressSanitizer: C tests ($t)" env ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
      ffi-tests/build/${t}_asan
  done
fi

finish
