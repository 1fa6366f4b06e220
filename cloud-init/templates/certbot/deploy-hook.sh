#!/bin/sh
# /etc/letsencrypt/renewal-hooks/deploy/50-mailstack - rendered by mailstack.
#
# certbot runs this after it obtained or renewed a certificate (RENEWED_LINEAGE is its
# live/ directory); scripts/issue-certificate.sh runs it after the first issuance.
# Postfix and Dovecot only ever read /etc/mailstack/tls/, so their config never changes:
# the files are replaced atomically (same directory, rename) and the daemons reloaded.
set -eu

# shellcheck source=/dev/null
. /etc/mailstack/acme.env
lineage=${RENEWED_LINEAGE:-/etc/letsencrypt/live/$MAIL_HOSTNAME}
# Only the mail host's certificate goes to the daemons.
[ "$(basename "$lineage")" = "$MAIL_HOSTNAME" ] || exit 0

dir=/etc/mailstack/tls
install -d -m 0755 "$dir"
install -m 0644 -o root -g root "$lineage/fullchain.pem" "$dir/.fullchain.pem.new"
install -m 0600 -o root -g root "$lineage/privkey.pem" "$dir/.privkey.pem.new"
# Key first: a reader never sees a new certificate with the old key for long.
mv -f "$dir/.privkey.pem.new" "$dir/privkey.pem"
mv -f "$dir/.fullchain.pem.new" "$dir/fullchain.pem"

for unit in postfix dovecot nginx; do
    if systemctl is-active --quiet "$unit"; then
        systemctl reload "$unit"
    fi
done
