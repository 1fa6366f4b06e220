#!/usr/bin/env bash
# Obtain the mail host's certificates with certbot (HTTP-01 through nginx's webroot), as root.
#
# stdin: one certificate a line, its certbot lineage and then its names, separated by spaces
# (render/host/client-config.ts): first the lineage named after the host, holding the host name
# and autoconfig., autodiscover. and mta-sts. of the first 33 domains (the one Postfix,
# Dovecot and nginx's own name use); then, with more domains, <host>-2, <host>-3, ... with
# the client names of 33 domains each. A new domain extends the last one, a removed one drops
# its names, and Let's Encrypt sees one order per changed certificate. A lineage <host>-N that
# is no longer listed is deleted, with nginx's server blocks for it.
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

name_re='^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$'
lines=()
while IFS= read -r line || [ -n "$line" ]; do
    [ -z "$line" ] && continue
    lines+=("$line")
done
lineages=()
for line in "${lines[@]}"; do
    read -r -a words <<<"$line"
    lineage=${words[0]}
    if [ "${#lineages[@]}" -eq 0 ]; then
        if [ "$lineage" != "$MAIL_HOSTNAME" ] || [ "${words[1]:-}" != "$MAIL_HOSTNAME" ]; then
            echo "issue-certificate: the first line must be the lineage $MAIL_HOSTNAME, its names $MAIL_HOSTNAME first" >&2
            exit 1
        fi
    else
        [[ $lineage =~ ^"$MAIL_HOSTNAME"-[0-9]+$ ]] || { echo "issue-certificate: not a lineage of $MAIL_HOSTNAME: $lineage" >&2; exit 1; }
    fi
    [ "${#words[@]}" -ge 2 ] || { echo "issue-certificate: $lineage lists no names" >&2; exit 1; }
    for name in "${words[@]:1}"; do
        [[ $name =~ $name_re ]] || { echo "issue-certificate: not a host name: $name" >&2; exit 1; }
    done
    lineages+=("$lineage")
done
[ "${#lineages[@]}" -gt 0 ] || { echo "issue-certificate: stdin must list the certificates, $MAIL_HOSTNAME first" >&2; exit 1; }

if [ -s /etc/mailstack/acme-ca.pem ]; then
    export REQUESTS_CA_BUNDLE=/etc/mailstack/acme-ca.pem
fi

# Where the deploy hook puts a lineage's copy: the host's own for the daemons, the others per lineage.
deployed_copy() {
    if [ "$1" = "$MAIL_HOSTNAME" ]; then echo /etc/mailstack/tls/fullchain.pem; else echo "/etc/mailstack/tls/$1/fullchain.pem"; fi
}

# The DNS names of a certificate file, one a line, sorted.
certificate_names() {
    openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null |
        tr ',' '\n' | sed -n 's/^[[:space:]]*DNS://p' | sort -u
}

# issue LINEAGE NAME...: make the lineage hold exactly these names, and deploy it.
issue() {
    local lineage=$1
    shift
    local live=/etc/letsencrypt/live/$lineage renewal=/etc/letsencrypt/renewal/$lineage.conf wanted
    wanted=$(printf '%s\n' "$@" | sort -u)
    # Issued by the ACME server we are configured for (a test CA's certificate must be
    # replaced once the real directory is configured), for exactly the wanted names (a missing
    # one is a new domain, an extra one a removed domain), and not expiring within 30 days.
    if [ -s "$live/fullchain.pem" ] && [ -s "$renewal" ] &&
        grep -qxF "server = $ACME_SERVER" "$renewal" &&
        [ "$(certificate_names "$live/fullchain.pem")" = "$wanted" ] &&
        openssl x509 -in "$live/fullchain.pem" -noout -checkend $((30 * 24 * 3600)) >/dev/null; then
        if cmp -s "$live/fullchain.pem" "$(deployed_copy "$lineage")"; then
            echo "issue-certificate: unchanged ($lineage, $# names)"
        else
            RENEWED_LINEAGE=$live "$hook"
            echo "issue-certificate: deployed the existing certificate $lineage"
        fi
        return 0
    fi
    install -d -m 0755 /var/www/acme
    # A lineage from another ACME server, for other names or expiring soon is replaced. With
    # --cert-name and other names, certbot renews the lineage with the new list (non-interactive:
    # it does not ask).
    local mode=(--keep-until-expiring) domains=() name
    [ -s "$renewal" ] && mode=(--force-renewal)
    for name in "$@"; do domains+=(-d "$name"); done
    certbot certonly --non-interactive --agree-tos --no-eff-email \
        --email "$ACME_EMAIL" --server "$ACME_SERVER" \
        --webroot --webroot-path /var/www/acme \
        --cert-name "$lineage" "${domains[@]}" \
        "${mode[@]}"
    RENEWED_LINEAGE=$live "$hook"
    echo "issue-certificate: issued and deployed a certificate for $*"
}

for line in "${lines[@]}"; do
    read -r -a words <<<"$line"
    issue "${words[@]}"
done

# Lineages of this host that are no longer listed (their domains were removed): certbot
# forgets them (no renewal), nginx stops serving them.
removed=0
for conf in /etc/letsencrypt/renewal/"$MAIL_HOSTNAME"-*.conf; do
    [ -e "$conf" ] || continue
    lineage=$(basename "$conf" .conf)
    [[ $lineage =~ ^"$MAIL_HOSTNAME"-[0-9]+$ ]] || continue
    printf '%s\n' "${lineages[@]}" | grep -qxF "$lineage" && continue
    certbot delete --non-interactive --cert-name "$lineage"
    rm -rf "/etc/mailstack/tls/$lineage" "/etc/nginx/mailstack-certificates/$lineage.conf"
    removed=1
    echo "issue-certificate: deleted the certificate $lineage (its domains are gone)"
done
if [ "$removed" = 1 ] && systemctl is-active --quiet nginx; then
    systemctl reload nginx
fi
systemctl enable --now certbot.timer >/dev/null 2>&1 || true
