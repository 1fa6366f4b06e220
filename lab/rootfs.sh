#!/usr/bin/env bash
# Build (or reuse from cache) a Debian 13 root filesystem with the given packages.
#
#   lab/rootfs.sh DEST PKG [PKG ...]
#
# DEST ends up holding an unpacked minbase trixie root with PKG installed. The result is
# cached as a tarball keyed by the suite and the sorted package list, outside the repo
# (MAILSTACK_CACHE, default /var/cache/mailstack), so a second run only unpacks it.
# The package mirror is read from this machine's apt sources at run time.
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: $0 DEST PKG [PKG ...]" >&2
    exit 2
fi
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC1091 # followed with shellcheck -x
. "$(dirname "$0")/lib.sh"
dest=$1
shift
suite=${MAILSTACK_SUITE:-trixie}
cache=${MAILSTACK_CACHE:-/var/cache/mailstack}

packages=$(printf '%s\n' "$@" | sort -u | paste -sd, -)
key=$(printf '%s %s\n' "$suite" "$packages" | sha256sum | cut -c1-16)
tarball="$cache/rootfs-$suite-$key.tar"

mkdir -p "$cache" "$dest"
if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || { echo "rootfs: debootstrap is not installed" >&2; exit 1; }
    work=$(mktemp -d "$cache/build.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    echo "rootfs: debootstrap $suite with $packages" >&2
    debootstrap --variant=minbase --include="$packages" \
        --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
        "$suite" "$work/root" "$(mirror)" >"$work/debootstrap.log" 2>&1 || {
        tail -n 30 "$work/debootstrap.log" >&2
        exit 1
    }
    rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*_Packages 2>/dev/null || true
    tar -C "$work/root" --numeric-owner -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
fi
tar -C "$dest" --numeric-owner -xf "$tarball"
echo "$dest"
