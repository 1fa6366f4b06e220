#!/bin/sh
# /usr/local/sbin/mailstack-first-boot - written by the backup MX's user-data
# (render/features/backup-mx.ts) and run once by cloud-init (runcmd), after the packages.
# The primary's first boot without what needs a mailbox: the mount, a temporary certificate,
# empty tables and starting the services. Nothing here depends on the domains or holds a secret.
set -eu

tar -xzf '{{firstBootArchive}}' -C / --no-overwrite-dir

# Before anything else: only root may reach the metadata service (it serves the user-data).
systemctl daemon-reload
systemctl enable --now mailstack-metadata-guard

# shellcheck source=/dev/null
. /etc/mailstack/acme.env

# _rspamd in group valkey (Valkey's socket), before either starts.
systemd-sysusers /etc/sysusers.d/mailstack.conf

# The queue volume: wait for its device for up to 10 minutes (Hetzner may attach it late).
device=$(sed -n 's/^What=//p' /etc/systemd/system/srv-mail.mount)
waited=0
while [ ! -b "$device" ] && [ "$waited" -lt 600 ]; do
    sleep 2
    waited=$((waited + 2))
done
[ -b "$device" ] || { echo "mailstack-first-boot: the queue volume $device did not appear" >&2; exit 1; }
systemctl daemon-reload
systemctl enable srv-mail.mount
systemctl start srv-mail.mount
mountpoint -q /srv/mail
# The Postfix queue, /etc/letsencrypt and Valkey on the volume (bind mounts).
/usr/local/sbin/mailstack-volume-state apply

# A self-signed certificate so Postfix starts before ACME; the deploy hook replaces it.
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

# Empty tables until relay-data delivers the real ones: Postfix starts, and takes nothing.
install -d -m 0755 /etc/postfix/mailstack
tables='{{tables}}'
for table in $tables; do
    [ -e "/etc/postfix/mailstack/$table" ] || install -m 0644 /dev/null "/etc/postfix/mailstack/$table"
done

# The ACME webroot nginx serves on port 80.
install -d -m 0755 /var/www/acme

# rspamd's config comes with host-config (which starts it); until then Postfix defers mail.
[ -e /etc/rspamd/local.d/milter_headers.conf ] || systemctl disable --now rspamd

systemctl daemon-reload
units='{{units}}'
for unit in $units; do
    systemctl enable "$unit"
    systemctl restart "$unit"
done
systemctl try-reload-or-restart ssh
systemctl enable --now certbot.timer
echo "mailstack-first-boot: done (backup MX)"
