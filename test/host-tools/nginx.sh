# shellcheck shell=bash
# Part of run.sh (lib.sh first, after bundles.sh): nginx -t accepts the configuration (the
# autoconfig, autodiscover and MTA-STS servers and the webmail's, conf.d/mailstack-webmail.conf).
check "nginx -t accepts the configuration" in_root nginx -t -q -c /etc/nginx/nginx.conf
# nginx -T's whole output first: grep -q would stop reading at the match, and with pipefail
# nginx's SIGPIPE on the rest would fail the check.
dump=$(in_root nginx -T -q -c /etc/nginx/nginx.conf 2>/dev/null || true)
if grep -q "server_name mail.example.org;" "$ROOT/etc/nginx/conf.d/mailstack-webmail.conf" 2>/dev/null &&
    grep -q "^# configuration file /etc/nginx/conf.d/mailstack-webmail.conf:" <<<"$dump"; then
    ok "nginx reads the webmail's server (conf.d/mailstack-webmail.conf)"
else
    not_ok "nginx reads the webmail's server (conf.d/mailstack-webmail.conf)"
fi
# Calendars and contacts (mailstack:dav): nginx reads their locations, Radicale its config.
if grep -q "^# configuration file /etc/nginx/mailstack-host.d/mailstack-dav.conf:" <<<"$dump" &&
    grep -q "proxy_pass http://127.0.0.1:5232;" <<<"$dump"; then
    ok "nginx reads the calendar server's locations (mailstack-host.d/mailstack-dav.conf)"
else
    not_ok "nginx reads the calendar server's locations (mailstack-host.d/mailstack-dav.conf)"
fi
check "Radicale accepts its config" in_root python3 -c 'from radicale import config; config.load([("/etc/radicale/config", False)])'
# Roundcube's config: PHP 8.4 (Debian 13's, Roundcube's own dependency) parses it.
check "php -l accepts Roundcube's config.inc.php" in_root php -l /etc/roundcube/config.inc.php
check "php -l accepts the mailstack_origin plugin" in_root php -l /var/lib/roundcube/plugins/mailstack_origin/mailstack_origin.php
check "php -l accepts the mailstack_helper include" in_root php -l /var/lib/roundcube/plugins/mailstack_helper/mailstack_helper.php
check "php -l accepts the mailstack_password plugin" in_root php -l /var/lib/roundcube/plugins/mailstack_password/mailstack_password.php
check "php -l accepts the mailstack_password plugin's texts" in_root php -l /var/lib/roundcube/plugins/mailstack_password/localization/en_US.inc
check "php -l accepts the mailstack_totp plugin" in_root php -l /var/lib/roundcube/plugins/mailstack_totp/mailstack_totp.php
check "php -l accepts the mailstack_totp plugin's texts" in_root php -l /var/lib/roundcube/plugins/mailstack_totp/localization/en_US.inc
# BREACH: PHP's responses are never compressed, static files are (nginx -T, the merged view).
webmail_conf=$(sed -n '/^# configuration file \/etc\/nginx\/conf.d\/mailstack-webmail.conf:/,/^# configuration file /p' <<<"$dump")
if grep -Pzq 'location ~ \^/\[\^/\]\+\\\.php\$ \{\n\s+gzip off;' <<<"$webmail_conf" && grep -q '^    gzip on;' <<<"$webmail_conf"; then
    ok "nginx compresses the webmail's static files, never its PHP responses"
else
    not_ok "nginx compresses the webmail's static files, never its PHP responses" "$webmail_conf"
fi
# Apple's configuration profiles, one per domain: Python's plistlib (strict about Apple's
# format) reads each one as a profile with one mail account, then (mailstack:dav) a calendar
# and a contacts account.
# shellcheck disable=SC2016 # the Python program is in single quotes on purpose
check "plistlib reads each domain's Apple profile as a Configuration with a mail, a CalDAV and a CardDAV account" \
    in_root python3 -c '
import glob, plistlib, sys
paths = sorted(glob.glob("/var/www/mailstack/autoconfig/apple/*.mobileconfig"))
assert len(paths) >= 2, paths
for p in paths:
    with open(p, "rb") as f:
        d = plistlib.load(f)
    kinds = [c["PayloadType"] for c in d["PayloadContent"]]
    assert d["PayloadType"] == "Configuration" and kinds == ["com.apple.mail.managed", "com.apple.caldav.account", "com.apple.carddav.account"], (p, kinds)
    assert isinstance(d["PayloadContent"][0]["IncomingMailServerPortNumber"], int), p
    assert d["PayloadContent"][1]["CalDAVPort"] == 443 and d["PayloadContent"][2]["CardDAVUseSSL"] is True, p
print(len(paths))
'
