# shellcheck shell=bash
# Part of run.sh (lib.sh first, after bundles.sh): rspamd accepts its local config, and what it
# will run with (configdump, defaults merged) is what the stack config and the templates mean.
check "rspamadm configtest accepts /etc/rspamd with our local.d" in_root rspamadm configtest
dump() { in_root rspamadm configdump "$@" 2>/dev/null; }
expect_dump() { # NAME SECTION REGEX
    local have
    have=$(dump "$2")
    if grep -Eq "$3" <<<"$have"; then ok "$1"; else not_ok "$1" "$2: $have"; fi
}
# The sample config's thresholds (render-sample.ts): the defaults, greylisting switched off.
expect_dump "rspamd rejects at the configured score" actions '^reject = 15;$'
expect_dump "rspamd junks at the configured score" actions '^add_header = 6;$'
expect_dump "greylisting switched off with spamFilter.greylist: false" actions '^greylist = null;$'
proxy=$(dump worker | tr -s ' \n' ' ')
if [[ "$proxy" == *'rspamd_proxy { bind_socket = "127.0.0.1:11332"; milter = true;'* && "$proxy" == *"self_scan = true;"* ]]; then
    ok "rspamd's milter listens on loopback and scans itself"
else
    not_ok "rspamd's milter listens on loopback and scans itself" "$proxy"
fi
if [[ "$proxy" == *'normal { bind_socket = "localhost:11333"; mime = true; enabled = false; }'* ]]; then
    ok "rspamd's normal worker is off (one process less)"
else
    not_ok "rspamd's normal worker is off (one process less)" "$proxy"
fi
expect_dump "DMARC p=reject is enforced" dmarc 'reject = "reject";'
# Internationalized mail (RFC 6531/6532): SMTPUTF8 on, and rspamd's composites that take back
# the points for UTF-8 headers only when the message arrived with it (MAILSTACK_SMTPUTF8: a UTF-8
# envelope address, which strict_smtputf8 lets in only with SMTPUTF8).
expect_postconf "Postfix takes SMTPUTF8 mail (RFC 6531)" smtputf8_enable yes
expect_postconf "Postfix takes a UTF-8 address only with SMTPUTF8" strict_smtputf8 yes
expect_dump "UTF-8 headers of SMTPUTF8 mail lose the header-encoding points, and only those" composites \
    'expression = "-MAILSTACK_SMTPUTF8 & \(\^FROM_NEEDS_ENCODING \| \^TO_NEEDS_ENCODING \| \^SUBJECT_NEEDS_ENCODING\)";'
expect_dump "R_MIXED_CHARSET is taken back only for SMTPUTF8 mail with raw UTF-8 headers" composites \
    'expression = "-MAILSTACK_SMTPUTF8 & \(-FROM_NEEDS_ENCODING \| -TO_NEEDS_ENCODING \| -SUBJECT_NEEDS_ENCODING\) & \^R_MIXED_CHARSET";'
expect_dump "every incoming Authentication-Results header is removed before ours is added" milter_headers 'remove = 0;'
expect_dump "rspamd keeps its state in the local Valkey, over its unix socket" redis 'servers = "/run/valkey/valkey.sock";'
expect_postconf "port 25 is checked by rspamd" smtpd_milters "inet:127.0.0.1:11332"
expect_postconf "port 25 defers while rspamd is down" milter_default_action tempfail
expect_postconf "locally submitted mail is DKIM-signed" non_smtpd_milters "unix:/var/spool/postfix/opendkim/opendkim.sock"
# The controller trusts no address (rspamd's default trusts loopback, i.e. every local account)
# and takes the password hash mailstack-rspamd-password made when bundles.sh applied host-config.
hash=$(sed -n 's/^enable_password = "\(.*\)";$/\1/p' "$ROOT/etc/mailstack/rspamd-controller.inc" 2>/dev/null)
controller=$(dump worker | sed -n '/^controller {/,/^}/p' | tr -s ' \n' ' ')
meta=$(in_root stat -c '%a %U %G' /etc/mailstack/rspamd-controller.password /etc/mailstack/rspamd-controller.inc 2>&1 | tr '\n' ,)
# shellcheck disable=SC2016 # the hash begins with a literal $2$
if [[ "$hash" == '$2$'* && "$controller" == *"password = \"$hash\";"* && "$controller" == *"enable_password = \"$hash\";"* &&
    "$controller" == *'bind_socket = "127.0.0.1:11334";'* && "$controller" == *'secure_ip []'* &&
    "$meta" == "640 root vmail,640 root _rspamd," ]]; then
    ok "rspamd's controller trusts no address and takes the password mailstack-rspamd-password made"
else
    not_ok "rspamd's controller trusts no address and takes the password mailstack-rspamd-password made" "$meta $hash $controller"
fi
# Spamhaus answers queries through shared public resolvers with 127.255.255.254 and 127.255.255.255:
# rspamd must read those as "blocked" (a symbol of weight 0), never as "listed".
expect_dump "a blocklist's error answers are not read as listed" rbl 'SPAMHAUS_BLOCKED_OPENRESOLVER = "127.255.255.254";'
