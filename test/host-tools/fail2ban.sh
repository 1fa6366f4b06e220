# shellcheck shell=bash
# Part of run.sh (lib.sh first, after bundles.sh): fail2ban accepts the jails, they read the
# journal, and their filters catch the failed logins Debian 13's daemons write.
check "fail2ban-client --test accepts the jails" in_root fail2ban-client --test
jails=$(in_root fail2ban-client -d 2>/dev/null | grep -oE "\['add', '[a-z-]+', 'systemd'\]" | sort | tr '\n' ' ')
if [ "$jails" = "['add', 'dovecot', 'systemd'] ['add', 'mailstack-password', 'systemd'] ['add', 'postfix-sasl', 'systemd'] ['add', 'radicale', 'systemd'] ['add', 'roundcube-auth', 'systemd'] ['add', 'sshd', 'systemd'] " ]; then
    ok "fail2ban jails dovecot, mailstack-password, postfix-sasl, radicale, roundcube-auth, sshd read the journal"
else
    not_ok "fail2ban jails dovecot, mailstack-password, postfix-sasl, radicale, roundcube-auth, sshd read the journal" "$jails"
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
# Roundcube 1.6 with log_driver syslog and log_logins (the lab's journal): one line per failure.
cat >"$ROOT/tmp/roundcube-fail.log" <<'LOG'
2026-12-04T01:40:12.000000+00:00 mail roundcube[2211]: <k3m9q2xa> Failed login for alice@example.org from 198.51.100.66 in session k3m9q2xa7d1c0b5e (error: 0)
2026-12-04T01:40:13.000000+00:00 mail roundcube[2212]: <p0w8e7r6> Failed login for nobody from 203.0.113.1 in session x (error: 0) from 2001:db8::66 in session p0w8e7r6a5s4d3f2 (error: 0)
LOG
# mailstack-passwords: a wrong current password in the webmail's password form or its app
# passwords, a wrong second-factor code.
cat >"$ROOT/tmp/mailstack-password-fail.log" <<'LOG'
2026-12-06T08:10:02.000000+00:00 mail mailstack-password[3120]: mailstack-passwords: password change refused for alice@example.org: wrong current password (from 198.51.100.66)
2026-12-06T08:10:05.000000+00:00 mail mailstack-password[3121]: mailstack-passwords: password change refused for bob@example.org: wrong current password (from 2001:db8::66)
2026-12-06T08:10:07.000000+00:00 mail mailstack-password[3122]: mailstack-passwords: app passwords refused for alice@example.org: wrong current password (from 198.51.100.66)
2026-12-06T08:10:09.000000+00:00 mail mailstack-password[3123]: mailstack-passwords: second factor refused for alice@example.org: wrong code (from 2001:db8::66)
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
f2b_catches roundcube-auth roundcube-fail.log
f2b_catches mailstack-password mailstack-password-fail.log
# Radicale 3.5 behind nginx (mailstack:dav), as fail2ban's systemd backend writes the journal entry.
cat >"$ROOT/tmp/radicale-fail.log" <<'LOG'
2026-12-06T08:10:02.000000+00:00 mail radicale[812]: [812/Thread-3 (process_request_thread)] [WARNING] Failed login attempt from 127.0.0.1 (forwarded for '198.51.100.66'): 'alice@example.org' ()
2026-12-06T08:10:04.000000+00:00 mail radicale[812]: [812/Thread-4 (process_request_thread)] [WARNING] Failed login attempt from 127.0.0.1 (forwarded for '2001:db8::66'): 'bob@example.org' ()
LOG
f2b_catches mailstack-radicale radicale-fail.log
# The second line's user tried to plant an address: the one Roundcube wrote is found.
if in_root fail2ban-regex -v "/tmp/roundcube-fail.log" roundcube-auth 2>&1 | grep -q "2001:db8::66" &&
    ! in_root fail2ban-regex -v "/tmp/roundcube-fail.log" roundcube-auth 2>&1 | grep -qE "^\s*\|\s+203\.0\.113\.1\b"; then
    ok "fail2ban's roundcube-auth filter takes the address Roundcube logged, not one in the user name"
else
    not_ok "fail2ban's roundcube-auth filter takes the address Roundcube logged, not one in the user name" "$(in_root fail2ban-regex -v /tmp/roundcube-fail.log roundcube-auth 2>&1 | tail -30)"
fi
