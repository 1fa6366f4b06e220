#!/bin/bash
# /usr/local/sbin/mailstack-restore - written by mailstack (backup step). Run as root.
#
#   mailstack-restore [--snapshot ID] mailbox alice@example.org
#   mailstack-restore [--snapshot ID] domain example.org
#   mailstack-restore [--snapshot ID] all
#
# Restores from the latest snapshot (or ID, see `mailstack-backup restic snapshots`). What
# is replaced is first moved aside to <path>.before-restore-<time> on the same volume.
# Maildirs are restored byte for byte, dovecot-uidlist included, so Dovecot shows every
# message with its old UID and UIDVALIDITY. The full-text indexes are not in the backup: the
# restore queues their rebuild, and Dovecot's indexer builds them in the background. A
# mailbox's owner's calendars and contacts (mailstack:dav) come back with the mailbox, a
# domain's with the domain.
set -euo pipefail

snapshot=latest
if [ "${1:-}" = --snapshot ]; then
    snapshot=${2:?snapshot id}
    shift 2
fi
what=${1:-}
vhosts=/srv/mail/vhosts
# Radicale's collections, one folder per user (login address), and its unit.
dav_users='{{davUsers}}'
dav_unit='{{davUnit}}'
# The IMAP import's state (what it copied from the old account), one folder per mailbox: it
# comes back with the Maildir, so the next run copies again what the snapshot lacks.
import_state='{{importState}}'
# Each user's calendars and contacts, and import state, to restore (patterns: a domain's are *@<domain>).
dav=()
case $what in
mailbox)
    address=${2:?address}
    [[ $address =~ ^[^/@[:space:]*?]+@[^/@[:space:]*?]+$ ]] || { echo "mailstack-restore: bad address $address" >&2; exit 2; }
    paths=("$vhosts/${address#*@}/${address%@*}")
    dav=("$dav_users/$address" "$import_state/$address")
    ;;
domain)
    domain=${2:?domain}
    [[ $domain =~ ^[a-z0-9.-]+$ ]] || { echo "mailstack-restore: bad domain $domain" >&2; exit 2; }
    paths=("$vhosts/$domain")
    dav=("$dav_users/*@$domain" "$import_state/*@$domain")
    ;;
all) paths=(/srv/mail/vhosts /srv/mail/state) ;;
*)
    sed -n '3,7s/^# //p' "$0" >&2
    exit 2
    ;;
esac
mountpoint -q /srv/mail || { echo "mailstack-restore: /srv/mail is not mounted" >&2; exit 1; }

# Restored into a directory on the mail volume itself, so putting it in place is a rename:
# Dovecot never sees a half-restored Maildir.
tmp=$(mktemp -d /srv/mail/.restore.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
includes=()
for p in "${paths[@]}" "${dav[@]}"; do includes+=(--include "$p"); done
/usr/local/sbin/mailstack-backup restic restore "$snapshot" --target "$tmp" "${includes[@]}"

# The state directories in the backup, bind-mounted at their usual paths: <name> <mount unit>
state_mounts='{{stateMounts}}'
# The units that use the state directories, in start order.
state_units='{{stateUnits}}'

# Everything at once: nothing may read or deliver while the whole store changes. A bind
# mount holds on to the directory it was made from, so the state mounts stop too (after the
# units that use them, certbot's timer among them, so that nothing mounts them again), and
# start on the restored directories. Whatever was stopped starts again, in start order, also
# when the restore fails.
stopped=()
restart() {
    local i
    for ((i = ${#stopped[@]} - 1; i >= 0; i--)); do systemctl start "${stopped[i]}" || true; done
}
# Radicale, whenever its folders change: it must not write into one being replaced.
trap 'restart; rm -rf "$tmp"' EXIT
units=("$dav_unit")
if [ "$what" = all ]; then
    for unit in $state_units; do units=("$unit" "${units[@]}"); done
    while read -r _ unit; do units+=("$unit"); done <<<"$state_mounts"
fi
for unit in "${units[@]}"; do
    if systemctl is-active --quiet "$unit"; then
        systemctl stop "$unit"
        stopped+=("$unit")
    fi
done
stamp=$(date +%Y%m%dT%H%M%S)
for p in "${paths[@]}"; do
    if [ ! -e "$tmp$p" ]; then
        echo "mailstack-restore: $p is not in snapshot $snapshot" >&2
        continue
    fi
    if [ "$what" = all ] && [ "$p" = /srv/mail/state ]; then
        # Only what was backed up (the queue is not); the rest of state/ stays.
        for d in "$tmp$p"/*; do
            t=$p/${d##*/}
            [ -e "$t" ] && mv "$t" "$t.before-restore-$stamp"
            mv "$d" "$t"
        done
        continue
    fi
    mkdir -p "$(dirname "$p")"
    [ -e "$p" ] && mv "$p" "$p.before-restore-$stamp" && echo "mailstack-restore: the current $p is now $p.before-restore-$stamp"
    mv "$tmp$p" "$p"
    # restic restores owners by number; vmail owns every Maildir whatever the snapshot says.
    chown -R vmail:vmail "$p"
    echo "mailstack-restore: restored $p from $snapshot"
done
chown vmail:vmail "$vhosts" "$vhosts"/* 2>/dev/null || true
# Calendars and contacts, and the import's state: each user's folder as a whole (with `all`,
# state/ brought them).
for pattern in "${dav[@]}"; do
    found=0
    # shellcheck disable=SC2086 # the pattern's * must expand (addresses and domains have no spaces)
    for d in "$tmp"$pattern; do
        [ -d "$d" ] || continue
        found=1
        t=${d#"$tmp"}
        mkdir -p "${t%/*}"
        [ -e "$t" ] && mv "$t" "$t.before-restore-$stamp"
        mv "$d" "$t"
        echo "mailstack-restore: restored $t from $snapshot"
    done
    [ "$found" = 1 ] && continue
    echo "mailstack-restore: no ${pattern%/*} for ${pattern##*/} in snapshot $snapshot"
    # An import begun after the snapshot: its state would claim mail the restored Maildir
    # lacks. Moved aside, the next run copies it all again.
    [[ $pattern == "$import_state"/* ]] || continue
    # shellcheck disable=SC2086 # as above
    for t in $pattern; do
        [ -d "$t" ] || continue
        mv "$t" "$t.before-restore-$stamp"
        echo "mailstack-restore: $t is now $t.before-restore-$stamp"
    done
done
# restic restores owners by number; a new server's radicale user may have another uid.
dav_dir=${dav_users%/collections/*}
if [ -d "$dav_dir" ] && id -u radicale >/dev/null 2>&1; then chown -R radicale:radicale "$dav_dir"; fi
if [ "$what" = all ]; then
    # The passwords users set came back with state/accounts: Dovecot's passwd-file again from
    # them and today's configured ones (a password the config reset since stays reset).
    passwords_helper='{{passwordsHelper}}'
    # A password a user set after the snapshot (in the accounts moved aside) stays theirs; the
    # app passwords and second factors are those of before the restore (none revoked or turned
    # off since comes back).
    user_set='{{userSetPasswords}}'
    user_apps='{{userAppPasswords}}'
    user_totp='{{userTotp}}'
    accounts=${user_set%/*}
    if [ -f "$accounts.before-restore-$stamp/${user_set##*/}" ] || [ -f "$accounts.before-restore-$stamp/${user_apps##*/}" ] ||
        [ -f "$accounts.before-restore-$stamp/${user_totp##*/}" ]; then
        "$passwords_helper" keep-newer "$accounts.before-restore-$stamp/${user_set##*/}" ||
            echo "mailstack-restore: $passwords_helper keep-newer failed" >&2
    fi
    "$passwords_helper" apply || echo "mailstack-restore: $passwords_helper apply failed" >&2
fi
restart
stopped=()
if [ "$what" = all ]; then
    echo "mailstack-restore: started again: postfix, dovecot, radicale and the state mounts"
elif [ "$what" = mailbox ]; then
    # Sessions that had the old Maildir open would keep its view: end them, clients reconnect
    # and read the restored one. (Stopping Dovecot would end every user's session.)
    doveadm kick "$address" >/dev/null 2>&1 || true
else
    doveadm kick "*@$domain" >/dev/null 2>&1 || true
fi
# The quota's running total (maildirsize) came back with the snapshot, taken while mail may
# have been arriving: count the restored mail again, so a full mailbox is not let in.
case $what in
all) doveadm quota recalc -A ;;
mailbox) doveadm quota recalc -u "$address" ;;
*) doveadm quota recalc -u "*@$domain" ;;
esac || echo "mailstack-restore: doveadm quota recalc failed; Dovecot recounts the quota later by itself" >&2
# The full-text indexes (fts-flatcurve) are not in the snapshot: queue their rebuild for the
# indexer service. Until it is done a search waits for it (fts_search_add_missing).
case $what in
all) doveadm index -A -q '*' ;;
mailbox) doveadm index -u "$address" -q '*' ;;
*) doveadm index -u "*@$domain" -q '*' ;;
esac || echo "mailstack-restore: doveadm index failed; a search indexes what it needs itself" >&2
echo "mailstack-restore: the full-text index is being built again in the background"
