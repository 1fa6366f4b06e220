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
