#!/bin/sh
# /usr/local/sbin/mailstack-webmail - rendered by mailstack.
#
# Roundcube's state on the mail volume, then php-fpm (re)started with today's config:
#   {{webmailDir}}/roundcube.db   preferences, address books, sessions (Roundcube creates it)
#   {{webmailDir}}/des_key        the key that encrypts the IMAP password in a session
# The key is made here once, from the kernel's random source, and stays on the volume: it
# never crosses the network or enters Pulumi's state, and a rebuilt server on the same
# volume (or one restored from the backup) keeps the database's sessions readable.
# host-config runs it when a webmail file changed. Idempotent.
set -eu

die() {
    echo "mailstack-webmail: $*" >&2
    exit 1
}

mountpoint -q {{mailVolume}} || die "{{mailVolume}} is not mounted"
dir={{webmailDir}}
install -d -m 0750 -o www-data -g www-data "$dir"
if [ ! -s "$dir/des_key" ]; then
    # 18 random bytes are 24 base64 characters: the length Roundcube's des_key wants.
    (umask 077 && head -c 18 /dev/urandom | base64 >"$dir/des_key.new")
    chown root:www-data "$dir/des_key.new"
    chmod 0640 "$dir/des_key.new"
    mv "$dir/des_key.new" "$dir/des_key"
    echo "mailstack-webmail: made a new des_key"
fi
systemctl enable --quiet {{phpFpmUnit}}
systemctl restart {{phpFpmUnit}}
