#!/bin/sh
# /etc/letsencrypt/renewal-hooks/deploy/50-mailstack - rendered by mailstack.
#
# certbot runs this after it obtained or renewed a certificate (RENEWED_LINEAGE is its
# live/ directory); scripts/issue-certificate.sh runs it after the first issuance.
# The host's own certificate (lineage = host name) goes to /etc/mailstack/tls/, the only place
# Postfix, Dovecot and nginx read it, so their config never changes: the files are replaced
# atomically (same directory, rename) and the daemons reloaded.
# A further certificate <host>-N (the client names of domains beyond the first 33) goes to
# /etc/mailstack/tls/<host>-N/, and nginx gets server blocks for exactly its names
# (/etc/nginx/mailstack-certificates/<host>-N.conf), which win over the catch-all ones.
set -eu

# shellcheck source=/dev/null
. /etc/mailstack/acme.env
lineage=${RENEWED_LINEAGE:-/etc/letsencrypt/live/$MAIL_HOSTNAME}
name=$(basename "$lineage")

# copy DIR: the lineage's chain and key into DIR, key first (a reader never sees a new
# certificate with the old key for long).
copy() {
    install -d -m 0755 "$1"
    install -m 0644 -o root -g root "$lineage/fullchain.pem" "$1/.fullchain.pem.new"
    install -m 0600 -o root -g root "$lineage/privkey.pem" "$1/.privkey.pem.new"
    mv -f "$1/.privkey.pem.new" "$1/privkey.pem"
    mv -f "$1/.fullchain.pem.new" "$1/fullchain.pem"
}

reload() {
    for unit in "$@"; do
        if systemctl is-active --quiet "$unit"; then
            systemctl reload "$unit"
        fi
    done
}

if [ "$name" = "$MAIL_HOSTNAME" ]; then
    copy /etc/mailstack/tls
    reload postfix dovecot nginx
    exit 0
fi
case $name in
"$MAIL_HOSTNAME"-[0-9]*) ;;
*) exit 0 ;; # not one of ours
esac

dir=/etc/mailstack/tls/$name
copy "$dir"
# The labels of the client names (model/services.ts), each with its snippet.
labels='{{clientLabels}}'
names=$(openssl x509 -in "$dir/fullchain.pem" -noout -ext subjectAltName | tr ',' '\n' | sed -n 's/^[[:space:]]*DNS://p')
conf=/etc/nginx/mailstack-certificates/$name.conf
install -d -m 0755 /etc/nginx/mailstack-certificates
{
    echo "# $conf - written by the certbot deploy hook (50-mailstack) from"
    echo "# $lineage: its names, each label with its own server block (snippets/mailstack-<label>.conf)."
    for label in $labels; do
        list=$(echo "$names" | grep "^$label\." | paste -sd ' ')
        [ -n "$list" ] || continue
        cat <<EOF
server {
    listen 443 ssl;
    listen [::]:443 ssl;
    server_name $list;
    server_tokens off;
    ssl_certificate $dir/fullchain.pem;
    ssl_certificate_key $dir/privkey.pem;
    include /etc/nginx/snippets/mailstack-tls-settings.conf;
    include /etc/nginx/snippets/mailstack-$label.conf;
}
EOF
    done
} >"$conf.new"
mv -f "$conf.new" "$conf"
if ! nginx -t -q; then
    rm -f "$conf"
    echo "50-mailstack: nginx refused the server blocks for $name; left out" >&2
    exit 1
fi
reload nginx
