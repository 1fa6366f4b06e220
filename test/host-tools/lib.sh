# shellcheck shell=bash
# The library of the layer-2 checks, sourced by run.sh before its parts (the other *.sh here):
# TAP-like reporting, the work directory and its cleanup, the sample render, the trixie root
# and running tools inside it. Every part runs in run.sh's shell and shares these globals:
#
#   REPO    the repository
#   WORK    a fresh work directory under /var/tmp, removed at exit
#   RENDER  the sample config's files (render-sample.ts OUTDIR); also at /tmp/render in the root
#   ROOT    the trixie root filesystem the tools run in (chroot, nothing booted)

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "run.sh: must run as root (chroot, mounts)" >&2; exit 2; }

# --- Reporting: "ok    NAME" or "FAIL  NAME" plus indented details; summary() last ------------
passed=0
failed=0
ok() {
    passed=$((passed + 1))
    echo "ok    $1"
}
not_ok() {
    failed=$((failed + 1))
    echo "FAIL  $1"
    if [ -n "${2:-}" ]; then printf '%s\n' "$2" | sed 's/^/      /'; fi
}
# check NAME COMMAND...: passes when COMMAND exits 0; its output is shown on failure.
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$out"; fi
}
# quiet NAME COMMAND...: passes when COMMAND exits 0 and prints nothing on stderr (warnings).
quiet() {
    local name=$1 err rc
    shift
    err=$("$@" 2>&1 >/dev/null)
    rc=$?
    if [ "$rc" -eq 0 ] && [ -z "$err" ]; then ok "$name"; else not_ok "$name" "exit $rc${err:+: $err}"; fi
}
# summary: the last line, "N passed, N failed"; its status is non-zero on any failure.
summary() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
# stop_here: for a failure the later checks cannot do without (no render, no root).
stop_here() {
    summary
    exit 1
}

# --- The work directory, and everything undone at exit --------------------------------------------
WORK=$(mktemp -d /var/tmp/mailstack-host-tools.XXXXXX)
RENDER=$WORK/render
ROOT=$WORK/root
mounts=()
# Wait for, then end, any process a tool left running inside the root, so
# that its mounts can go; only processes whose root directory is this root are touched.
stop_root_processes() {
    local tries pid left
    for tries in $(seq 1 20); do
        left=()
        for pid in /proc/[0-9]*; do
            [ "$(readlink "$pid/root" 2>/dev/null)" = "$ROOT" ] && left+=("${pid#/proc/}")
        done
        [ "${#left[@]}" -eq 0 ] && return 0
        [ "$tries" -eq 10 ] && kill "${left[@]}" 2>/dev/null
        sleep 0.5
    done
    kill -9 "${left[@]}" 2>/dev/null || true
}
cleanup() {
    local i
    stop_root_processes
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
        umount "${mounts[$i]}" 2>/dev/null || umount -l "${mounts[$i]}" 2>/dev/null || echo "run.sh: could not unmount ${mounts[$i]}" >&2
    done
    # Only delete the tree when nothing is mounted below it any more.
    if ! grep -q " $WORK/" /proc/mounts; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- The tools inside the root ---------------------------------------------------------------------
# The PATH inside the root; /usr/local/sbin first, where build_root puts its stubs.
ROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# in_root COMMAND...: run COMMAND inside the root (plain chroot, this machine's network).
in_root() { chroot "$ROOT" /usr/bin/env PATH="$ROOT_PATH" "$@"; }

# render_sample: the sample two-domain config into RENDER (files, user-data, bundles, and the
# package list and user-data limit from the project's TypeScript), or stop_here.
render_sample() {
    local out
    if ! out=$(cd "$REPO" && npx --no-install tsx test/host-tools/render-sample.ts "$RENDER" 2>&1); then
        not_ok "render the sample two-domain config" "$out"
        stop_here
    fi
    ok "render the sample two-domain config"
}

# build_root: a trixie root with the image and mail packages (lab/rootfs.sh, cached) at ROOT,
# /proc and /dev mounted, the stubs in place and the rendered files at /tmp/render; or stop_here.
build_root() {
    local out packages
    mapfile -t packages <"$RENDER/rootfs-packages"
    if ! out=$(bash "$REPO/lab/rootfs.sh" "$ROOT" "${packages[@]}" 2>&1); then
        not_ok "build the trixie root filesystem" "$out"
        stop_here
    fi
    ok "build the trixie root filesystem (${#packages[@]} packages)"
    mount -t proc proc "$ROOT/proc" && mounts+=("$ROOT/proc")
    mount --bind /dev "$ROOT/dev" && mounts+=("$ROOT/dev")

    # Stubs first in PATH (in_root sets it): systemctl records what the scripts ask for in
    # /tmp/systemctl.log; mountpoint pretends the mail volume is mounted. Nothing is booted here.
    mkdir -p "$ROOT/usr/local/sbin"
    cat >"$ROOT/usr/local/sbin/systemctl" <<'EOF'
#!/bin/sh
echo "$*" >>/tmp/systemctl.log
case $1 in is-active) exit 3 ;; esac
exit 0
EOF
    printf '#!/bin/sh\nexit 0\n' >"$ROOT/usr/local/sbin/mountpoint"
    chmod 0755 "$ROOT/usr/local/sbin/systemctl" "$ROOT/usr/local/sbin/mountpoint"
    # unbound's root trust anchor, which unbound.service's start seeds from dns-root-data.
    in_root /usr/libexec/unbound-helper root_trust_anchor_update >/dev/null 2>&1 || true
    cp -a "$RENDER" "$ROOT/tmp/render"
}
