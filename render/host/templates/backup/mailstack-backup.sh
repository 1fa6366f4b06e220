#!/bin/bash
# /usr/local/sbin/mailstack-backup - written by mailstack (backup step).
# restic backups of the mail volume. Everything it needs is in /etc/mailstack/backup/
# (root only, from the backup provisioning step over SSH; never in the user-data).
#
#   mailstack-backup run        back up, then forget and prune by the retention (the timer)
#   mailstack-backup run --adopt  the same, for a volume the repository has not seen (see below)
#   mailstack-backup check      restic check (weekly timer)
#   mailstack-backup stale      mail the postmaster when the last success is 2 days old
#   mailstack-backup notify U   mail the postmaster that unit U failed (OnFailure=)
#   mailstack-backup enable     enable the timers when a repository is configured, else disable
#   mailstack-backup status     one line for `mailstack doctor`: unconfigured, or ok|stale AGE_SECONDS since-success|never
#   mailstack-backup restic ... any restic command against the repository (snapshots, ls, ...)
set -euo pipefail

conf=/etc/mailstack/backup
state=/var/lib/mailstack
# A success is recorded here, off the mail volume, so a restore never brings back an old time.
stamp=$state/backup-last-success
# The mail host name, from the stack (`hostname -f` needs a resolver that knows it).
host='{{hostname}}'
# The id of the repository this volume is backed up to (on the volume, so in every snapshot).
mark='{{repositoryMark}}'
die() {
    echo "mailstack-backup: $*" >&2
    exit 1
}
[ "$(id -u)" -eq 0 ] || die "must run as root"

configured() { [ -s "$conf/env" ] && grep -q '^RESTIC_REPOSITORY=' "$conf/env"; }
load() {
    configured || die "no backup repository is configured (mailstack:backup)"
    set -a
    # shellcheck source=/dev/null # rendered by mailstack
    . "$conf/env"
    set +a
    export RESTIC_PASSWORD_FILE=$conf/password RESTIC_CACHE_DIR=/var/cache/restic
}
# restic with the repository's options: for SFTP our own ssh, the host key pinned.
r() {
    if [ "${BACKUP_TYPE:-}" = sftp ]; then
        restic -o sftp.command="ssh -i $conf/ssh/id_ed25519 -o UserKnownHostsFile=$conf/ssh/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -o ServerAliveInterval=30 -p $SFTP_PORT $SFTP_USER@$SFTP_HOST -s sftp" "$@"
    else
        restic "$@"
    fi
}
mail_postmaster() { # mail_postmaster SUBJECT (body on stdin)
    {
        printf 'From: mailstack-backup <root@%s>\nTo: %s\nSubject: %s\n\n' "$host" "$POSTMASTER" "$1"
        cat
    } | /usr/sbin/sendmail -t -f "root@$host"
}

# Seconds since the last success; with no stamp yet, since the backup was configured.
age() { echo $(($(date +%s) - $(cat "$stamp" 2>/dev/null || stat -c %Y "$conf/env"))); }
# Older than this is stale: the postmaster is mailed, and `status` says so.
max_age=$((2 * 86400))

case ${1:-} in
run)
    load
    # A new repository is initialised once; restic exits 10 when there is none (0.17+).
    rc=0
    r cat config >/dev/null 2>&1 || rc=$?
    if [ "$rc" -eq 10 ]; then r init; elif [ "$rc" -ne 0 ]; then r cat config >/dev/null; fi
    # The volume carries the id of the repository it is backed up to, and so does every
    # snapshot of it. A volume without it, backed up to a repository that has snapshots, is
    # a new volume (a server rebuilt on a fresh one): its nearly empty backup would become
    # the latest snapshot, the one a restore takes. Refuse until it is restored, or adopted.
    id=$(r cat config | sed -n 's/^ *"id": *"\([0-9a-f]*\)".*/\1/p')
    [ -n "$id" ] || die "cannot read the repository's id"
    if [ "$(cat "$mark" 2>/dev/null)" != "$id" ]; then
        if [ "${2:-}" != --adopt ] && r snapshots --tag mailstack --json | grep -q '"id"'; then
            die "this mail volume has never been backed up to $RESTIC_REPOSITORY, which holds snapshots of a volume: restore it first (mailstack-restore all), or start backing up this volume with: mailstack-backup run --adopt"
        fi
        echo "$id" >"$mark.tmp" && mv "$mark.tmp" "$mark"
    fi
    # The include and exclude lists are rendered from one place (render/host/backup.ts).
    r backup --one-file-system --files-from "$conf/include" --exclude-file "$conf/exclude" --tag mailstack
    r forget --tag mailstack --prune --keep-daily "$KEEP_DAILY" --keep-weekly "$KEEP_WEEKLY" --keep-monthly "$KEEP_MONTHLY"
    mkdir -p "$state"
    date +%s >"$stamp.tmp" && mv "$stamp.tmp" "$stamp"
    ;;
check)
    load
    r check
    ;;
stale)
    load
    age=$(age)
    if [ "$age" -gt "$max_age" ]; then
        echo "The last successful backup of $host was $((age / 3600)) hours ago (repository $RESTIC_REPOSITORY)." |
            mail_postmaster "mailstack: no successful backup for $((age / 86400)) days"
    fi
    ;;
notify)
    unit=${2:?unit}
    load
    journalctl -u "$unit" -n 50 --no-pager 2>&1 | mail_postmaster "mailstack: $unit failed on $host"
    ;;
enable)
    timers=(mailstack-backup.timer mailstack-backup-check.timer mailstack-backup-stale.timer)
    for t in "${timers[@]}"; do
        if configured; then
            systemctl is-enabled --quiet "$t" || { systemctl enable --now --quiet "$t" && echo "mailstack-backup: enabled $t"; }
        else
            ! systemctl is-enabled --quiet "$t" || { systemctl disable --now --quiet "$t" && echo "mailstack-backup: disabled $t"; }
        fi
    done
    ;;
status)
    if configured; then
        # "never": no backup has succeeded yet, the age counts from the configuration.
        a=$(age)
        printf '%s %s %s\n' "$([ "$a" -gt "$max_age" ] && echo stale || echo ok)" "$a" "$([ -s "$stamp" ] && echo since-success || echo never)"
    else
        echo unconfigured
    fi
    ;;
restic)
    shift
    load
    r "$@"
    ;;
*) die "usage: mailstack-backup run [--adopt]|check|stale|notify UNIT|enable|status|restic ARGS" ;;
esac
