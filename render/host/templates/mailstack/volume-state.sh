#!/bin/sh
# /usr/local/sbin/mailstack-volume-state - rendered by mailstack.
#
# Puts the state a rebuilt server must keep beside the mail, on the mail volume: each
# directory below stays at its usual path as a bind mount of /srv/mail/state/<name>.
# first-boot runs it; host-config runs it when the mount units change (a server deployed
# before they existed). It is idempotent: with every mount active it does nothing.
#
#   mailstack-volume-state apply
#
# A directory the volume does not have yet is copied there from the root disk once, with
# Postfix and Dovecot stopped. When the volume has it (this server replaced another), the
# volume's copy is used and the fresh root disk's stays hidden beneath the mount.
set -eu

volume={{mailVolume}}
# <path> <name under {{stateRoot}}> <mount unit>
dirs='{{stateDirs}}'

die() {
    echo "mailstack-volume-state: $*" >&2
    exit 1
}

[ "${1:-}" = apply ] || die "usage: mailstack-volume-state apply"
mountpoint -q "$volume" || die "$volume is not mounted"

pending=$(echo "$dirs" | while read -r path name unit; do
    systemctl is-active --quiet "$unit" || echo "$path $name $unit"
done)
if [ -z "$pending" ]; then
    echo "mailstack-volume-state: unchanged"
    exit 0
fi

# Everything that writes these directories (Postfix the queue, Dovecot its sockets in it,
# certbot /etc/letsencrypt, Valkey rspamd's state) stops for the move (seconds; senders
# retry a refused connection) and starts again after it, also when it fails.
units='{{stateUnits}}'
stopped=""
for unit in $units; do
    if systemctl is-active --quiet "$unit"; then
        stopped="$stopped $unit"
    fi
done
restart() {
    for unit in $units; do
        case " $stopped " in
        *" $unit "*) systemctl start "$unit" || echo "mailstack-volume-state: $unit did not start" >&2 ;;
        esac
    done
}
trap restart EXIT
# shellcheck disable=SC2086 # a list of unit names
systemctl stop $units certbot.service

echo "$pending" | while read -r path name unit; do
    target={{stateRoot}}/$name
    install -d -m 0755 {{stateRoot}}
    if [ -d "$target" ]; then
        echo "mailstack-volume-state: $path: using the copy on the volume"
    else
        # Copied beside it first, renamed when complete: an interrupted copy is never used.
        rm -rf "$target.new"
        if [ -d "$path" ]; then
            cp -a "$path" "$target.new"
        else
            install -d -m 0755 "$target.new"
        fi
        sync
        mv "$target.new" "$target"
        echo "mailstack-volume-state: $path: moved onto the volume"
    fi
    systemctl enable --quiet "$unit"
    systemctl start "$unit"
done

# The postfix user's uid comes from the order packages were installed in: a new server's
# may differ from the one that wrote the queue. set-permissions gives every queue file to
# this server's postfix and postdrop again.
if [ -d /var/spool/postfix/active ] && [ "$(stat -c %U /var/spool/postfix/active)" != postfix ]; then
    postfix set-permissions
    echo "mailstack-volume-state: the queue's owners set for this server's postfix user"
fi
echo "mailstack-volume-state: done"
