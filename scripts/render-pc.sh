#!/bin/sh
# Renders peerdisc.pc from peerdisc.pc.in, without Cargo.
#   scripts/render-pc.sh [PREFIX [LIBDIR [INCLUDEDIR]]] > peerdisc.pc
# Defaults: PREFIX=/usr/local, LIBDIR=$PREFIX/lib, INCLUDEDIR=$PREFIX/include.
# Install, e.g.:
#   cargo build --release
#   install -Dm644 include/peerdisc.h        /usr/local/include/peerdisc.h
#   install -Dm755 target/release/libpeerdisc.so /usr/local/lib/libpeerdisc.so
#   install -Dm644 target/release/libpeerdisc.a  /usr/local/lib/libpeerdisc.a
#   scripts/render-pc.sh /usr/local > /usr/local/lib/pkgconfig/peerdisc.pc
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:-/usr/local}
libdir=${2:-$prefix/lib}
includedir=${3:-$prefix/include}
version=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$root/Cargo.toml" | head -n 1)
[ -n "$version" ] || { echo "render-pc: no version in Cargo.toml" >&2; exit 1; }
sed -e "s|@PREFIX@|$prefix|g" -e "s|@LIBDIR@|$libdir|g" \
    -e "s|@INCLUDEDIR@|$includedir|g" -e "s|@VERSION@|$version|g" \
    "$root/peerdisc.pc.in"
