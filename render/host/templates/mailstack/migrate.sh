#!/bin/bash
# /usr/local/sbin/mailstack-migrate - rendered by mailstack (render/host/migrations.ts).
#
# The mail volume's state version ({{versionFile}}, one integer) and the migrations
# that bring an older volume's state to this mailstack's, version {{currentVersion}}.
#
#   mailstack-migrate run     the migrations the volume has not had, in order, the version
#                             written after each; the host-config step runs this (its own
#                             text) before it installs any file
#   mailstack-migrate status  the volume's version and this script's
#
# A volume without a version holds the state of a mailstack from before versions: 0 (the
# first boot gives a fresh volume the current version: first-boot.sh). A volume newer than
# this script (an older mailstack run against a server a newer one provisioned) is
# refused, and nothing is changed: older files must not go over newer state.
#
# MAILSTACK_MIGRATE_ROOT (tests only, unset on a server): a directory every path is taken
# under (test/migrations.test.ts).
set -euo pipefail
umask 022

root=${MAILSTACK_MIGRATE_ROOT:-}
volume=$root{{mailVolume}}
version_file=$root{{versionFile}}
current={{currentVersion}}
declare -a reasons

die() {
    echo "mailstack-migrate: $*" >&2
    exit 1
}

# --- The migrations, in order ------------------------------------------------------------------
{{migrations}}

# --- The runner ------------------------------------------------------------------------------
# The volume's version: 0 without the file.
volume_version() {
    local v
    if [ ! -e "$version_file" ]; then
        echo 0
        return 0
    fi
    v=$(tr -d '[:space:]' <"$version_file")
    [[ $v =~ ^[0-9]{1,9}$ ]] || die "$version_file holds '$v', not a state version (an integer); nothing was changed"
    echo "$((10#$v))"
}

# Written beside it and renamed: a crash leaves the old version or the new one, never half.
write_version() {
    install -d -m 0755 "${version_file%/*}"
    printf '%s\n' "$1" >"$version_file.new"
    sync "$version_file.new"
    mv -f "$version_file.new" "$version_file"
}

[ "$(id -u)" -eq 0 ] || die "must run as root"
mountpoint -q "$volume" || die "$volume is not mounted"

case ${1:-} in
status)
    echo "mailstack-migrate: the mail volume's state is version $(volume_version); this mailstack's is $current"
    ;;
run)
    have=$(volume_version)
    if [ "$have" -gt "$current" ]; then
        die "the mail volume's state is version $have, newer than this mailstack's version $current: a newer mailstack has provisioned this server, and this older one would write its older files over newer state. Nothing was changed. Run pulumi up from that newer mailstack (its commit or a later one), never an older one against this volume."
    fi
    if [ "$have" -eq "$current" ]; then
        echo "mailstack-migrate: state version $current, nothing to migrate"
        exit 0
    fi
    for ((n = have + 1; n <= current; n++)); do
        echo "mailstack-migrate: migration $n of $current: ${reasons[n]}"
        # In a subshell of its own, not in a condition (where bash ignores set -e).
        set +e
        (
            set -euo pipefail
            "migration_$n"
        )
        rc=$?
        set -e
        if [ "$rc" -ne 0 ]; then
            die "migration $n failed (exit $rc): the mail volume stays at state version $((n - 1)), and no file of the new configuration was installed. Fix the cause and run the step again (pulumi up): migration $n runs again from its start."
        fi
        write_version "$n"
    done
    echo "mailstack-migrate: the mail volume's state is now version $current (was $have)"
    ;;
*)
    die "usage: mailstack-migrate run|status"
    ;;
esac
