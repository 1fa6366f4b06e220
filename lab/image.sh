#!/usr/bin/env bash
# Build (or reuse from cache) the lab image: a Debian 13 root that looks like Hetzner's
# debian-13 image (cloud-init, root login by key) plus an offline apt repository holding
# every .deb that installing the `mail` and `webmail` packages of render/boot/packages.json needs.
#
#   lab/image.sh            prints the path of the cached image tarball
#
# The tarball lives in MAILSTACK_CACHE (default /var/cache/mailstack), never in the repo,
# keyed by the suite, both package lists and the text of this script and lib.sh. The base
# root comes from lab/rootfs.sh (its own cache). The mirror is read from this machine's apt
# sources.
# Nothing here runs cloud-init or starts a daemon: the chroot only downloads packages and
# runs apt-ftparchive/locale-gen, inside its own mount/UTS/PID namespaces.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC1091 # followed with shellcheck -x
. "$here/lib.sh"
suite=${MAILSTACK_SUITE:-trixie}
cache=${MAILSTACK_CACHE:-/var/cache/mailstack}
pkgjson="$repo/render/boot/packages.json"

list() { # list image|mail -> one package per line
    python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$pkgjson" "$1" 2>/dev/null ||
        node -e 'console.log(require(process.argv[1])[process.argv[2]].join("\n"))' "$pkgjson" "$1"
}
mapfile -t image_pkgs < <(list image)
mapfile -t mail_pkgs < <(list mail)
# The packages step adds the webmail's on top (render/plan/plan.ts): the repo holds both.
mapfile -t webmail_pkgs < <(list webmail)
mail_pkgs+=("${webmail_pkgs[@]}")
if [ "${#image_pkgs[@]}" -eq 0 ] || [ "${#mail_pkgs[@]}" -eq 0 ]; then
    echo "image: cannot read $pkgjson" >&2
    exit 1
fi

key=$( { echo "$suite"; printf '%s\n' "${image_pkgs[@]}" | sort -u; echo --; printf '%s\n' "${mail_pkgs[@]}" | sort -u; cat "$0" "$here/lib.sh"; } | sha256sum | cut -c1-16)
tarball="$cache/lab-image-$suite-$key.tar"
if [ -s "$tarball" ]; then
    echo "$tarball"
    exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/labimage.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
echo "image: base root ($suite: ${image_pkgs[*]})" >&2
"$here/rootfs.sh" "$root" "${image_pkgs[@]}" >/dev/null

echo "image: downloading the mail packages' closure into the image's local repo" >&2
printf 'deb %s %s main\n' "$(mirror)" "$suite" >"$root/etc/apt/sources.list"
rm -f "$root"/etc/apt/sources.list.d/*
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# Own mount/UTS/IPC/PID namespaces: nothing leaks to the host, /proc goes away with them.
# The quoted script runs inside the chroot and expands its variables there.
# shellcheck disable=SC2016
unshare --mount --uts --ipc --pid --fork chroot "$root" /usr/bin/env -i \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \
    MAIL_PKGS="${mail_pkgs[*]}" /bin/bash -euo pipefail -c '
mount -t proc proc /proc
apt-get -q update >/tmp/apt-update.log
apt-get -q -y --download-only install $MAIL_PKGS >/tmp/apt-download.log
repo=/var/lib/mailstack-lab/apt
mkdir -p $repo
mv /var/cache/apt/archives/*.deb $repo/
cd $repo
apt-ftparchive packages . >Packages
apt-ftparchive release . >Release
echo "image: $(ls *.deb | wc -l) packages, $(du -sh . | cut -f1) in the local repo" >&2

# Offline from here on: the only apt source is the local repo.
echo "deb [trusted=yes] file:$repo ./" >/etc/apt/sources.list
rm -rf /var/lib/apt/lists/*
apt-get -q update >/tmp/apt-update-local.log
apt-get -q -y --simulate install $MAIL_PKGS >/tmp/apt-simulate.log
apt-get clean

# A locale, so cloud-init'"'"'s locale module has one to set.
sed -i "s/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/" /etc/locale.gen
locale-gen >/dev/null
update-locale LANG=en_US.UTF-8
rm -f /tmp/apt-*.log
umount /proc
'

# Look like Hetzner'"'"'s debian-13: cloud-init with root login by key, no default user.
cat >"$root/etc/cloud/cloud.cfg.d/90-mailstack-lab.cfg" <<'CFG'
# mailstack lab: NoCloud seed from /var/lib/cloud/seed/nocloud; the lab configures the
# network from outside the container, so cloud-init must not.
datasource_list: [NoCloud, None]
network: {config: disabled}
# Like Hetzner's image: the project's SSH keys go to root, there is no default user.
disable_root: false
users: []
ssh_pwauth: false
CFG
# Every boot of the image is a first boot: no machine id, no cloud-init state.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
rm -rf "$root/var/lib/cloud/"* "$root/var/log/cloud-init"*
printf 'nameserver 127.0.0.1\n' >"$root/etc/resolv.conf"
echo debian >"$root/etc/hostname"

tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
mv "$tarball.tmp" "$tarball"
echo "$tarball"
