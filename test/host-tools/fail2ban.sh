# shellcheck shell=bash
# Part of run.sh (lib.sh first, after bundles.sh): fail2ban accepts the jails, they read the
# journal, and their filters catch the failed logins Debian 13's daemons write.
check "fail2ban-client --test accepts the jails" in_root fail2ban-client --test
jails=$(in_root fail2ban-client -d 2>/dev/null | grep -oE "\['add', '[a-z-]+', 'systemd'\]" | sort | tr '\n' ' ')
if [ "$jails" = "['add', 'dovecot', 'systemd'] ['add', 'postfix-sasl', 'systemd'] ['add', 'sshd', 'systemd'] " ]; then
    ok "fail2ban jails dovecot, postfix-sasl, sshd read the journal"
else
    not_ok "fail2ban jails dovecot, postfix-sasl, sshd read the journal" "$jails"
fi
# The failed-login lines Dovecot 2.4 and Postfix 3.10 write (from the lab's journal): each
# jail's filter, with our overrides, must find the address in them.
cat >"$ROOT/tmp/dovecot-fail.log" <<'LOG'
2026-11-23T09:26:31.000000+00:00 mail dovecot[104]: imap-login: Login aborted: Logged out (auth failed, 1 attempts in 17 secs) (auth_failed): user=<bob@example.org>, method=PLAIN, rip=198.51.100.66, lip=192.0.2.25, TLS, session=<DYNxL+5g2Z/GM2RC>
2026-11-23T09:26:50.000000+00:00 mail dovecot[104]: pop3-login: Login aborted: Connection closed (auth failed, 3 attempts in 16 secs) (auth_failed): user=<bob@example.org>, method=PLAIN, rip=2001:db8::66, lip=2001:db8::25, TLS, session=<wy9yMe5gJZLGM2RC>
LOG
cat >"$ROOT/tmp/postfix-fail.log" <<'LOG'
2026-11-23T09:25:48.000000+00:00 mail postfix/submission/smtpd[316]: warning: unknown[198.51.100.66]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=alice@example.org
2026-11-23T09:25:49.000000+00:00 mail postfix/submissions/smtpd[317]: warning: unknown[2001:db8::66]: SASL LOGIN authentication failed: (reason unavailable), sasl_username=alice@example.org
LOG
f2b_catches() { # f2b_catches FILTER LOG: every line of LOG matches FILTER
    local filter=$1 log=$2 lines hits
    lines=$(wc -l <"$ROOT/tmp/$log")
    hits=$(in_root fail2ban-regex "/tmp/$log" "$filter" 2>&1 | sed -n 's/^Lines: [0-9]* lines, [0-9]* ignored, \([0-9]*\) matched.*/\1/p')
    if [ "$hits" = "$lines" ]; then
        ok "fail2ban's $filter filter catches the failed logins of Debian 13's daemons"
    else
        not_ok "fail2ban's $filter filter catches the failed logins of Debian 13's daemons" "$(in_root fail2ban-regex "/tmp/$log" "$filter" 2>&1 | tail -20)"
    fi
}
f2b_catches dovecot dovecot-fail.log
f2b_catches 'postfix[mode=auth]' postfix-fail.log
