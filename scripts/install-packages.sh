#!/usr/bin/env bash
# Install the packages the current mailstack needs, and start the units that depend on them.
#
# The user-data installs the package list of the first deploy only (it is never applied
# again), so this step brings a running server what today's code needs. stdin:
#
#   package <name>     a Debian package that must be installed
#   unit <name>        a unit that must be enabled and running once the packages are there
#                      (one of our own that this server has no file for yet is left to
#                      host-config, whose bundle brings, enables and starts it)
#
# Idempotent: with every package present it installs nothing and touches no running unit.
# Our configuration files are already in place, so dpkg keeps them (--force-confold).
set -euo pipefail

packages=() units=()
while read -r kind name; do
    case $kind in
    package) packages+=("$name") ;;
    unit) units+=("$name") ;;
    "") ;;
    *) echo "install-packages: bad line: $kind $name" >&2; exit 1 ;;
    esac
done
[ "${#packages[@]}" -gt 0 ] || { echo "install-packages: no package list on stdin" >&2; exit 1; }

missing=()
for p in "${packages[@]}"; do
    [[ $p =~ ^[a-z0-9][a-z0-9.+-]+$ ]] || { echo "install-packages: bad package name $p" >&2; exit 1; }
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$p")
done

export DEBIAN_FRONTEND=noninteractive
if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-packages: installing ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
fi

for u in "${units[@]}"; do
    [[ $u =~ ^[a-z0-9@._-]+$ ]] || { echo "install-packages: bad unit name $u" >&2; exit 1; }
    # A unit of our own (not a package's) that this server has never had arrives with the
    # host-config step, after this one; apply-bundle enables and starts it there.
    if ! systemctl cat -- "$u" >/dev/null 2>&1; then
        echo "install-packages: $u is not installed yet (host-config brings it)"
        continue
    fi
    systemctl is-enabled --quiet "$u" 2>/dev/null || systemctl enable --quiet "$u"
    if ! systemctl is-active --quiet "$u"; then
        echo "install-packages: starting $u"
        systemctl reset-failed "$u" 2>/dev/null || true
        systemctl restart "$u"
    fi
done
echo "install-packages: ${#packages[@]} packages present (${#missing[@]} installed now)"
