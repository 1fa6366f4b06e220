#!/usr/bin/env bash
# Install the host tools the lab needs (Debian/Ubuntu host, as root). Idempotent: installs
# only what is missing. The lab itself (lab/run.ts) needs Node >= 22 and `npm ci` done.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "install-deps: run as root" >&2; exit 1; }

# command -> package
declare -A need=(
    [debootstrap]=debootstrap
    [systemd-nspawn]=systemd-container
    [ip]=iproute2
    [nsenter]=util-linux
    [unshare]=util-linux
    [losetup]=mount
    [mkfs.ext4]=e2fsprogs
    [ssh]=openssh-client
    [ssh-keygen]=openssh-client
    [setsid]=util-linux
    [tar]=tar
    [sha256sum]=coreutils
    [swaks]=swaks
    [shellcheck]=shellcheck
    [openssl]=openssl
    [pebble]=pebble
    [knotd]=knot
    [keymgr]=knot
    [knotc]=knot
    [curl]=curl
    # The stack's cloud firewall, enforced between the lab server and its outside (lab/world/firewall.ts).
    [nft]=nftables
    # The webmail check's browser (driven by playwright-core), and certutil for its trust in
    # the lab's ACME root: Debian's packages, never a downloaded browser.
    [chromium]=chromium
    [certutil]=libnss3-tools
    # The calendar and contacts check's real clients (lab/clients/dav_clients.py): vdirsyncer for CardDAV.
    [vdirsyncer]=vdirsyncer
    # The second-factor check's codes (RFC 6238), computed by Debian's tool rather than ours.
    [oathtool]=oathtool
)
# Python module -> package, for Debian's own python3 (not one on PATH before it).
declare -A modules=(
    # The calendar check's CalDAV library, and the SRV/TXT lookup of RFC 6764 before it.
    [caldav]=python3-caldav
    [dns.resolver]=python3-dnspython
)
missing=()
for cmd in "${!need[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
for mod in "${!modules[@]}"; do
    /usr/bin/python3 -c "import $mod" >/dev/null 2>&1 || missing+=("${modules[$mod]}")
done
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: everything present"
    exit 0
fi
mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "install-deps: installing ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
