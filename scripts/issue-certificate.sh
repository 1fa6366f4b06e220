#!/usr/bin/env bash
# Obtain the mail host's certificate with certbot (HTTP-01 through nginx's webroot), as root.
#
# stdin: the certificate's names, one a line, the host name first (cloud-init/client-config.ts:
# the host name, then autoconfig., autodiscover. and mta-sts. of every domain). One
# certificate, one lineage named after the host, holds them all: a new domain extends it, a
# removed one drops its names, and Let's Encrypt sees one order per change.
# Reads MAIL_HOSTNAME, ACME_SERVER and ACME_EMAIL from /etc/mailstack/acme.env (host-config).
# Idempotent: when a certificate for exactly these names from the same ACME server exists and
# is valid for more than 30 days, nothing is requested; the deploy hook only runs when the copy
# in /etc/mailstack/tls differs. Renewal is certbot.timer's job afterwards.
# A test CA's root can be trusted by placing it at /etc/mailstack/acme-ca.pem.
set -euo pipefail

env_file=/etc/mailstack/acme.env
hook=/etc/letsencrypt/renewal-hooks/deploy/50-mailstack
[ -r "$env_file" ] || { echo "issue-certificate: $env_file is missing (host-config not applied?)" >&2; exit 1; }
# shellcheck source=/dev/null
. "$env_file"
: "${MAIL_HOSTNAME:?missing in $env_file}" "${ACME_SERVER:?missing in $env_file}" "${ACME_EMAIL:?missing in $env_file}"

names=()
while IFS= read -r name || [ -n "$name" ]; do
    [ -z "$name" ] && continue
    [[ $name =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ ]] || { echo "issue-certificate: not a host name: $name" >&2; exit 1; }
    names+=("$name")
done
if [ "${#names[@]}" -eq 0 ] || [ "${names[0]}" != "$MAIL_HOSTNAME" ]; then
    echo "issue-certificate: stdin must list the names, $MAIL_HOSTNAME first" >&2
    exit 1
fi
wanted=$(printf '%s\n' "${names[@]}" | sort -u)

if [ -s /etc/mailstack/acme-ca.pem ]; then
    export REQUESTS_CA_BUNDLE=/etc/mailstack/acme-ca.pem
fi

live=/etc/letsencrypt/live/$MAIL_HOSTNAME
renewal=/etc/letsencrypt/renewal/$MAIL_HOSTNAME.conf

# The DNS names of the live certificate, one a line, sorted.
certificate_names() {
    openssl x509 -in "$live/fullchain.pem" -noout -ext subjectAltName 2>/dev/null |
        tr ',' '\n' | sed -n 's/^[[:space:]]*DNS://p' | sort -u
}

current_is_good() {
    [ -s "$live/fullchain.pem" ] && [ -s "$renewal" ] || return 1
    # Issued by the ACME server we are configured for (a test CA's certificate must be
    # replaced once the real directory is configured).
    grep -qxF "server = $ACME_SERVER" "$renewal" || return 1
    # Exactly the wanted names: a missing one is a new domain, an extra one a removed domain.
    [ "$(certificate_names)" = "$wanted" ] || return 1
    openssl x509 -in "$live/fullchain.pem" -noout -checkend $((30 * 24 * 3600)) >/dev/null
}

deploy() {
    RENEWED_LINEAGE=$live "$hook"
}

if current_is_good; then
    if cmp -s "$live/fullchain.pem" /etc/mailstack/tls/fullchain.pem; then
        echo "issue-certificate: unchanged ($MAIL_HOSTNAME, ${#names[@]} names)"
    else
        deploy
        echo "issue-certificate: deployed the existing certificate for $MAIL_HOSTNAME"
    fi
    exit 0
fi

install -d -m 0755 /var/www/acme
# A lineage from another ACME server, for other names or expiring soon is replaced. With
# --cert-name and other names, certbot renews the lineage with the new list (non-interactive:
# it does not ask).
mode=(--keep-until-expiring)
if [ -s "$renewal" ]; then
    mode=(--force-renewal)
fi
domains=()
for name in "${names[@]}"; do domains+=(-d "$name"); done
certbot certonly --non-interactive --agree-tos --no-eff-email \
    --email "$ACME_EMAIL" --server "$ACME_SERVER" \
    --webroot --webroot-path /var/www/acme \
    --cert-name "$MAIL_HOSTNAME" "${domains[@]}" \
    "${mode[@]}"
deploy
systemctl enable --now certbot.timer >/dev/null 2>&1 || true
echo "issue-certificate: issued and deployed a certificate for ${names[*]}"
