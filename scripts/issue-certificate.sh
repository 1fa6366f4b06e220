#!/usr/bin/env bash
# Obtain the mail host's certificate with certbot (HTTP-01 through nginx's webroot), as root.
#
# Reads MAIL_HOSTNAME, ACME_SERVER and ACME_EMAIL from /etc/mailstack/acme.env (host-config).
# Idempotent: when a certificate for the host name from the same ACME server exists and is
# valid for more than 30 days, nothing is requested; the deploy hook only runs when the copy
# in /etc/mailstack/tls differs. Renewal is certbot.timer's job afterwards.
# A test CA's root can be trusted by placing it at /etc/mailstack/acme-ca.pem.
set -euo pipefail

env_file=/etc/mailstack/acme.env
hook=/etc/letsencrypt/renewal-hooks/deploy/50-mailstack
[ -r "$env_file" ] || { echo "issue-certificate: $env_file is missing (host-config not applied?)" >&2; exit 1; }
# shellcheck source=/dev/null
. "$env_file"
: "${MAIL_HOSTNAME:?missing in $env_file}" "${ACME_SERVER:?missing in $env_file}" "${ACME_EMAIL:?missing in $env_file}"

if [ -s /etc/mailstack/acme-ca.pem ]; then
    export REQUESTS_CA_BUNDLE=/etc/mailstack/acme-ca.pem
fi

live=/etc/letsencrypt/live/$MAIL_HOSTNAME
renewal=/etc/letsencrypt/renewal/$MAIL_HOSTNAME.conf

current_is_good() {
    [ -s "$live/fullchain.pem" ] && [ -s "$renewal" ] || return 1
    # Issued by the ACME server we are configured for (a test CA's certificate must be
    # replaced once the real directory is configured).
    grep -qxF "server = $ACME_SERVER" "$renewal" || return 1
    openssl x509 -in "$live/fullchain.pem" -noout -checkhost "$MAIL_HOSTNAME" | grep -q 'does match' || return 1
    openssl x509 -in "$live/fullchain.pem" -noout -checkend $((30 * 24 * 3600)) >/dev/null
}

deploy() {
    RENEWED_LINEAGE=$live "$hook"
}

if current_is_good; then
    if cmp -s "$live/fullchain.pem" /etc/mailstack/tls/fullchain.pem; then
        echo "issue-certificate: unchanged ($MAIL_HOSTNAME)"
    else
        deploy
        echo "issue-certificate: deployed the existing certificate for $MAIL_HOSTNAME"
    fi
    exit 0
fi

install -d -m 0755 /var/www/acme
# A lineage from another ACME server, for another name or expiring soon is replaced.
mode=(--keep-until-expiring)
if [ -s "$renewal" ]; then
    mode=(--force-renewal)
fi
certbot certonly --non-interactive --agree-tos --no-eff-email \
    --email "$ACME_EMAIL" --server "$ACME_SERVER" \
    --webroot --webroot-path /var/www/acme \
    --cert-name "$MAIL_HOSTNAME" -d "$MAIL_HOSTNAME" \
    "${mode[@]}"
deploy
systemctl enable --now certbot.timer >/dev/null 2>&1 || true
echo "issue-certificate: issued and deployed a certificate for $MAIL_HOSTNAME"
