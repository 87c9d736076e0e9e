#!/usr/bin/env bash
# The one list of what peerdisc's tests need besides a Rust toolchain, and
# the one place that installs it. Used by scripts/test.sh (best effort) and
# .ci/run (--ci: everything must end up installed).
#
#   bash scripts/install-deps.sh         # install what is missing, if it can
#   bash scripts/install-deps.sh --ci    # ... and CI's extras (rustfmt,
#                                        # clippy, cargo-fuzz); fail if any
#                                        # install fails
#   source scripts/install-deps.sh       # only define the functions below
#
# Debian packages (installed with apt-get when running as root):
#   ip: iproute2, nft: nftables, valgrind, pkg-config, cc/c++: build-essential,
#   make, python3 -m venv: python3-venv.
# Cargo tools: cbindgen 0.29.2 (the header check).
# Nothing is installed when PEERDISC_NO_INSTALL=1, nor without root or
# apt-get: then the tests that need a missing tool print
# "SKIPPED: ... <tool> missing (<how to install>)". PEERDISC_HIDE_TOOLS=a,b
# makes the scripts and the Rust test support treat those tools as missing
# (to try that path on a machine that has them).

# tool:debian-package, one line each. `venv` stands for `python3 -m venv`.
PEERDISC_APT_TOOLS="
ip:iproute2
nft:nftables
valgrind:valgrind
pkg-config:pkg-config
cc:build-essential
c++:build-essential
make:make
venv:python3-venv
"
PEERDISC_CBINDGEN_VERSION=0.29.2

# True when TOOL can be used (and PEERDISC_HIDE_TOOLS does not name it).
have_tool() {
  case ",${PEERDISC_HIDE_TOOLS:-}," in *",$1,"*) return 1 ;; esac
  case "$1" in
    venv) python3 -c 'import venv, ensurepip' >/dev/null 2>&1 ;;
    cbindgen) cbindgen --version 2>/dev/null | grep -q "$PEERDISC_CBINDGEN_VERSION" ;;
    # ip and nft live in sbin, which a non-root PATH may lack.
    ip | nft) command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

# How to install TOOL, for SKIPPED lines.
tool_hint() {
  local line
  if [ "$1" = cbindgen ]; then
    echo "cargo install cbindgen --version $PEERDISC_CBINDGEN_VERSION --locked"
    return
  fi
  for line in $PEERDISC_APT_TOOLS; do
    if [ "${line%%:*}" = "$1" ]; then
      echo "apt-get install -y ${line#*:}"
      return
    fi
  done
  echo "install $1"
}

# The Debian packages of the tools that are missing (deduplicated).
missing_apt_packages() {
  local line out=""
  for line in $PEERDISC_APT_TOOLS; do
    if ! have_tool "${line%%:*}"; then
      case " $out " in *" ${line#*:} "*) ;; *) out="$out ${line#*:}" ;; esac
    fi
  done
  echo "${out# }"
}

# Installs what is missing where it can; says what it did or why not.
# Returns non-zero when something could not be installed.
install_deps() {
  local ci=${1:-} pkgs rc=0
  pkgs=$(missing_apt_packages)
  if [ -n "$pkgs" ]; then
    if [ "${PEERDISC_NO_INSTALL:-0}" = 1 ]; then
      echo "== not installing (PEERDISC_NO_INSTALL=1): $pkgs"
      rc=1
    elif [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
      echo "== cannot install (needs root and apt-get): $pkgs"
      rc=1
    else
      echo "== installing (apt-get): $pkgs"
      # shellcheck disable=SC2086
      if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends $pkgs >/dev/null; }; then
        echo "== apt-get install failed: $pkgs" >&2
        rc=1
      fi
    fi
  fi
  export PATH="$HOME/.cargo/bin:$PATH"
  if ! have_tool cbindgen; then
    if [ "${PEERDISC_NO_INSTALL:-0}" = 1 ] || ! command -v cargo >/dev/null 2>&1; then
      echo "== not installing cbindgen $PEERDISC_CBINDGEN_VERSION"
      rc=1
    else
      echo "== installing cbindgen $PEERDISC_CBINDGEN_VERSION (cargo install; for the header check)"
      cargo install cbindgen --version "$PEERDISC_CBINDGEN_VERSION" --locked --quiet || rc=1
    fi
  fi
  if [ "$ci" = --ci ]; then
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt || rc=1
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy || rc=1
    # The fuzzer driver for the short fuzzing run (scripts/fuzz-smoke.sh).
    if ! cargo fuzz --version 2>/dev/null | grep -q '0.13'; then
      echo "== installing cargo-fuzz 0.13.2"
      cargo install cargo-fuzz --version 0.13.2 --locked --quiet || rc=1
    fi
  fi
  return $rc
}

# Run as a script (not sourced): install.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  if [ "${1:-}" = --ci ]; then
    install_deps --ci || { echo "== install-deps: something CI needs could not be installed" >&2; exit 1; }
  else
    install_deps || echo "== install-deps: some tools are missing; the tests that need them print SKIPPED"
  fi
fi
