#!/bin/sh
# /usr/local/sbin/mailstack-first-boot - written by the mailstack user-data and run once by
# cloud-init (runcmd), after the packages are installed.
# It does what a file cannot: users, the mount, directories, a temporary certificate and
# starting the services. Nothing here depends on the domains or holds a secret.
set -eu

# Every config file of the first boot, from the user-data's one archive (Hetzner's 32 KiB):
# over the packages' defaults, with the modes and owners the host-config step gives them.
tar -xzf '{{firstBootArchive}}' -C / --no-overwrite-dir

# Before anything else: only root may reach the metadata service (it serves the user-data).
systemctl daemon-reload
systemctl enable --now mailstack-metadata-guard

# shellcheck source=/dev/null
. /etc/mailstack/acme.env

# The one system user that owns every mailbox (Dovecot mail_uid/mail_gid, the passwd-file).
getent group vmail >/dev/null || groupadd --system --gid 5000 vmail
getent passwd vmail >/dev/null ||
    useradd --system --uid 5000 --gid 5000 --home-dir /srv/mail --no-create-home \
        --shell /usr/sbin/nologin vmail

# The milters' own user and the group memberships their unix sockets rely on (postfix in
# opendkim and mailstack-milter, _rspamd in valkey): before any of them starts.
systemd-sysusers /etc/sysusers.d/mailstack.conf

# The mail volume. Hetzner attaches it right after the server is created, possibly after
# this boot began: wait for its device for up to 10 minutes (systemd alone gives up after
# 90 s). If it never comes this fails, and cloud-init reports the error.
device=$(sed -n 's/^What=//p' /etc/systemd/system/srv-mail.mount)
waited=0
while [ ! -b "$device" ] && [ "$waited" -lt 600 ]; do
    sleep 2
    waited=$((waited + 2))
done
[ -b "$device" ] || { echo "mailstack-first-boot: the mail volume $device did not appear" >&2; exit 1; }
systemctl daemon-reload
systemctl enable srv-mail.mount
systemctl start srv-mail.mount
mountpoint -q /srv/mail
# The state version (render/host/migrations.ts): a fresh volume (lost+found at most) is at
# this mailstack's; one with an older mailstack's state and no version stays at 0, and
# host-config's mailstack-migrate brings it up.
version_file='{{stateVersionFile}}'
if [ ! -e "$version_file" ] && [ -z "$(find /srv/mail -mindepth 1 -maxdepth 1 ! -name lost+found -print -quit)" ]; then
    install -d -m 0755 "$(dirname "$version_file")"
    echo '{{stateVersion}}' >"$version_file"
fi
install -d -o vmail -g vmail -m 0750 /srv/mail/vhosts
# The Postfix queue and /etc/letsencrypt on the volume too (bind mounts): a new server
# that replaced an old one finds the old one's queue and certificate there.
/usr/local/sbin/mailstack-volume-state apply

# A self-signed certificate so Postfix, Dovecot and nginx start before ACME has run;
# certbot's deploy hook replaces both files with the real certificate.
install -d -m 0755 /etc/mailstack/tls
if [ ! -s /etc/mailstack/tls/privkey.pem ] || [ ! -s /etc/mailstack/tls/fullchain.pem ]; then
    umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
        -subj "/CN=$MAIL_HOSTNAME" -addext "subjectAltName=DNS:$MAIL_HOSTNAME" \
        -keyout /etc/mailstack/tls/.privkey.pem.new -out /etc/mailstack/tls/.fullchain.pem.new 2>/dev/null
    chmod 0644 /etc/mailstack/tls/.fullchain.pem.new
    mv -f /etc/mailstack/tls/.privkey.pem.new /etc/mailstack/tls/privkey.pem
    mv -f /etc/mailstack/tls/.fullchain.pem.new /etc/mailstack/tls/fullchain.pem
    umask 022
fi

# Empty tables until the mail-data and dkim steps deliver the real ones (never overwritten
# here), so every daemon starts with its configuration complete.
install -d -m 0755 /etc/postfix/mailstack
for table in virtual-domains virtual-mailboxes virtual-aliases sender-logins own-sender-domains; do
    [ -e "/etc/postfix/mailstack/$table" ] || install -m 0644 /dev/null "/etc/postfix/mailstack/$table"
done
[ -e /etc/dovecot/users ] || install -m 0640 -o root -g dovecot /dev/null /etc/dovecot/users
install -d -m 0700 -o opendkim -g opendkim /etc/opendkim/keys
for table in key.table signing.table; do
    [ -e "/etc/opendkim/$table" ] || install -m 0644 /dev/null "/etc/opendkim/$table"
done

# The ACME webroot nginx serves on port 80.
install -d -m 0755 /var/www/acme

# Debian's dovecot.socket would listen on 143 whatever dovecot.conf says.
systemctl mask dovecot.socket

# rspamd's config comes with host-config (which starts it); until then Postfix defers mail
# from outside instead of taking it unchecked.
[ -e /etc/rspamd/local.d/milter_headers.conf ] || systemctl disable --now rspamd

# Start everything with the configuration written by the user-data, dependencies first.
systemctl daemon-reload
units='{{mailUnits}}'
for unit in $units; do
    systemctl enable "$unit"
    systemctl restart "$unit"
done
systemctl try-reload-or-restart ssh
systemctl enable --now certbot.timer
echo "mailstack-first-boot: done"
