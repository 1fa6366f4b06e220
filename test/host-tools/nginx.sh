# shellcheck shell=bash
# Part of run.sh (lib.sh first, after bundles.sh): nginx -t accepts the configuration (the
# autoconfig, autodiscover and MTA-STS servers and the webmail's, conf.d/mailstack-webmail.conf).
check "nginx -t accepts the configuration" in_root nginx -t -q -c /etc/nginx/nginx.conf
if grep -q "server_name mail.example.org;" "$ROOT/etc/nginx/conf.d/mailstack-webmail.conf" 2>/dev/null &&
    in_root nginx -T -q -c /etc/nginx/nginx.conf 2>/dev/null | grep -q "^# configuration file /etc/nginx/conf.d/mailstack-webmail.conf:"; then
    ok "nginx reads the webmail's server (conf.d/mailstack-webmail.conf)"
else
    not_ok "nginx reads the webmail's server (conf.d/mailstack-webmail.conf)"
fi
# Roundcube's config: PHP 8.4 (Debian 13's, Roundcube's own dependency) parses it.
check "php -l accepts Roundcube's config.inc.php" in_root php -l /etc/roundcube/config.inc.php
