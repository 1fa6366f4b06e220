# shellcheck shell=bash
# Part of run.sh (lib.sh first, after first-boot.sh): certbot's deploy hook copies a renewed
# certificate to where Postfix and Dovecot read it.
in_root sh -c 'mkdir -p /etc/letsencrypt/live/mail.example.org && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 90 -subj /CN=mail.example.org -keyout /etc/letsencrypt/live/mail.example.org/privkey.pem -out /etc/letsencrypt/live/mail.example.org/fullchain.pem' >/dev/null 2>&1
rm -f "$ROOT/tmp/systemctl.log"
if in_root env RENEWED_LINEAGE=/etc/letsencrypt/live/mail.example.org /etc/letsencrypt/renewal-hooks/deploy/50-mailstack &&
    cmp -s "$ROOT/etc/letsencrypt/live/mail.example.org/fullchain.pem" "$ROOT/etc/mailstack/tls/fullchain.pem" &&
    [ "$(in_root stat -c '%a %U' /etc/mailstack/tls/privkey.pem)" = "600 root" ]; then
    ok "certbot deploy hook installs the certificate for Postfix and Dovecot"
else
    not_ok "certbot deploy hook installs the certificate for Postfix and Dovecot"
fi
# A further certificate (domains beyond the first 33): its own copy, and nginx server blocks
# for exactly its names that nginx -t accepts; the host's copy is left alone.
extra=mail.example.org-2
in_root sh -c "mkdir -p /etc/letsencrypt/live/$extra && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 90 -subj /CN=autoconfig.d33.example -addext subjectAltName=DNS:autoconfig.d33.example,DNS:autodiscover.d33.example,DNS:mta-sts.d33.example,DNS:autoconfig.d34.example,DNS:autodiscover.d34.example,DNS:mta-sts.d34.example -keyout /etc/letsencrypt/live/$extra/privkey.pem -out /etc/letsencrypt/live/$extra/fullchain.pem" >/dev/null 2>&1
blocks=$ROOT/etc/nginx/mailstack-certificates/$extra.conf
if in_root env RENEWED_LINEAGE=/etc/letsencrypt/live/$extra /etc/letsencrypt/renewal-hooks/deploy/50-mailstack &&
    cmp -s "$ROOT/etc/letsencrypt/live/$extra/fullchain.pem" "$ROOT/etc/mailstack/tls/$extra/fullchain.pem" &&
    cmp -s "$ROOT/etc/letsencrypt/live/mail.example.org/fullchain.pem" "$ROOT/etc/mailstack/tls/fullchain.pem" &&
    grep -qxF '    server_name autoconfig.d33.example autoconfig.d34.example;' "$blocks" &&
    grep -qxF '    server_name mta-sts.d33.example mta-sts.d34.example;' "$blocks" &&
    [ "$(grep -c "ssl_certificate /etc/mailstack/tls/$extra/fullchain.pem;" "$blocks")" = 3 ] &&
    in_root nginx -t -q -c /etc/nginx/nginx.conf; then
    ok "certbot deploy hook gives a further certificate its own copy and nginx server blocks for its names"
else
    not_ok "certbot deploy hook gives a further certificate its own copy and nginx server blocks for its names" "$(cat "$blocks" 2>&1)"
fi
rm -rf "$ROOT/etc/letsencrypt/live/$extra" "$ROOT/etc/mailstack/tls/$extra" "$blocks"
