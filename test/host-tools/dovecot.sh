# shellcheck shell=bash
# Part of run.sh (lib.sh first, after bundles.sh): doveconf accepts dovecot.conf, TLS and the
# listeners are what we mean, and doveadm pw agrees with the rendered password hash.
quiet "doveconf -n accepts dovecot.conf without a warning" in_root doveconf -n -c /etc/dovecot/dovecot.conf
expect_doveconf() { # NAME SETTING EXPECTED
    local have
    have=$(in_root doveconf -c /etc/dovecot/dovecot.conf -h "$2" 2>&1)
    if [ "$have" = "$3" ]; then ok "$1"; else not_ok "$1" "$2 = $have (want $3)"; fi
}
expect_doveconf "dovecot requires TLS" ssl required
expect_doveconf "dovecot refuses clear-text authentication" auth_allow_cleartext no
expect_doveconf "dovecot TLS 1.2 and later" ssl_min_protocol TLSv1.2
expect_doveconf "mail on the mail volume" mail_home "/srv/mail/vhosts/%{user | domain}/%{user | username}"
listeners=$(in_root doveconf -c /etc/dovecot/dovecot.conf -n service/imap-login service/pop3-login 2>&1 | tr -s ' \n' ' ')
if [[ "$listeners" == *"inet_listener imap { port = 0 }"* && "$listeners" == *"inet_listener pop3 { port = 0 }"* &&
    "$listeners" == *"inet_listener imaps { port = 993 ssl = yes }"* && "$listeners" == *"inet_listener pop3s { port = 995 ssl = yes }"* ]]; then
    ok "dovecot listens on 993/995 only (143/110 disabled)"
else
    not_ok "dovecot listens on 993/995 only (143/110 disabled)" "$listeners"
fi
sockets=$(in_root doveconf -c /etc/dovecot/dovecot.conf -n service/lmtp service/auth 2>&1 | tr -s ' \n' ' ')
if [[ "$sockets" == *"unix_listener /var/spool/postfix/private/dovecot-lmtp {"* && "$sockets" == *"unix_listener /var/spool/postfix/private/auth {"* ]]; then
    ok "dovecot LMTP and auth sockets are in the Postfix spool"
else
    not_ok "dovecot LMTP and auth sockets are in the Postfix spool" "$sockets"
fi
hash=$(grep -m1 '^alice@example.org:' "$ROOT/etc/dovecot/users" | cut -d: -f2)
check "doveadm pw accepts the rendered password hash" in_root doveadm pw -t "$hash" -p "$(cat "$RENDER/password")"
if ! in_root doveadm pw -t "$hash" -p "wrong password" >/dev/null 2>&1; then ok "doveadm pw rejects a wrong password"; else not_ok "doveadm pw rejects a wrong password"; fi
# mailstack-passwords with Debian's own doveadm pw (the password on its stdin, never argv): a
# change request as the webmail's socket hands it over needs alice's current password, and
# Dovecot's passwd-file then holds a hash doveadm verifies for the new one only.
change_password() { # CURRENT NEW: the helper's answer
    # shellcheck disable=SC2016 # the Python program is in single quotes on purpose
    in_root python3 -c '
import json, socket, subprocess, sys
a, b = socket.socketpair()
p = subprocess.Popen(["/usr/local/sbin/mailstack-passwords", "serve"], stdin=b)
b.close()
a.sendall((json.dumps({"user": "alice@example.org", "current": sys.argv[1], "new": sys.argv[2]}) + "\n").encode())
print(a.makefile().readline(), end="")
p.wait()' "$1" "$2" 2>/dev/null
}
answer=$(change_password "wrong password" "a-new-password-of-hers")
if [[ "$answer" == *'"ok": false'* ]] && grep -qF "alice@example.org:$hash:" "$ROOT/etc/dovecot/users"; then
    ok "mailstack-passwords refuses a change without the current password"
else
    not_ok "mailstack-passwords refuses a change without the current password" "$answer"
fi
answer=$(change_password "$(cat "$RENDER/password")" "a-new-password-of-hers")
new_hash=$(grep -m1 '^alice@example.org:' "$ROOT/etc/dovecot/users" | cut -d: -f2)
if [[ "$answer" == *'"ok": true'* ]] && in_root doveadm pw -t "$new_hash" -p "a-new-password-of-hers" >/dev/null 2>&1 &&
    ! in_root doveadm pw -t "$new_hash" -p "$(cat "$RENDER/password")" >/dev/null 2>&1 &&
    grep -q "^alice@example.org:{BLF-CRYPT}" "$ROOT/srv/mail/state/accounts/passwords"; then
    ok "mailstack-passwords changes alice's hash with doveadm pw (the new password only) and keeps it on the volume"
else
    not_ok "mailstack-passwords changes alice's hash with doveadm pw (the new password only) and keeps it on the volume" "$answer"
fi
# Back to the configured password for the checks after this one.
rm -f "$ROOT/srv/mail/state/accounts/passwords"
in_root /usr/local/sbin/mailstack-passwords apply
# The quota root's own settings (doveconf -n shows only what differs from the default, count).
quota_root=$(in_root doveconf -c /etc/dovecot/dovecot.conf -n 2>&1 | sed -n '/^quota .*User quota.* {$/,/^}$/p')
if [[ "$quota_root" == *"driver = maildir"* ]]; then
    ok "dovecot keeps each mailbox's quota as a running total (Maildir++ maildirsize)"
else
    not_ok "dovecot keeps each mailbox's quota as a running total (Maildir++ maildirsize)" "$quota_root"
fi
expect_doveconf "LMTP checks the quota at RCPT" lmtp_rcpt_check_quota yes
expect_doveconf "a full mailbox is a temporary failure (Postfix keeps the mail)" quota_full_tempfail yes
if grep -q '^alice@example.org:.*::userdb_quota_storage_size=2G$' "$ROOT/etc/dovecot/users"; then
    ok "the passwd-file gives each mailbox its quota"
else
    not_ok "the passwd-file gives each mailbox its quota" "$(grep -m1 '^alice@' "$ROOT/etc/dovecot/users")"
fi
# Sieve: Pigeonhole's own compiler takes each global script (apply-bundle.sh does the same on
# the server), ManageSieve listens on 4190, and the learn programs are valid sh.
for f in "$ROOT"/etc/dovecot/sieve/*.sieve; do
    check "sievec compiles ${f#"$ROOT"}" in_root sievec -c /etc/dovecot/dovecot.conf "${f#"$ROOT"}" "/tmp/$(basename "$f" .sieve).svbin"
done
managesieve=$(in_root doveconf -c /etc/dovecot/dovecot.conf -n service/managesieve-login 2>&1 | tr -s ' \n' ' ')
if [[ "$managesieve" == *"inet_listener sieve { port = 4190 }"* ]]; then
    ok "ManageSieve listens on 4190"
else
    not_ok "ManageSieve listens on 4190" "$managesieve"
fi
expect_doveconf "Sieve programs come from the learn directory" sieve_pipe_bin_dir /usr/local/lib/mailstack/sieve-pipe
for f in "$ROOT"/usr/local/lib/mailstack/sieve-pipe/*; do
    check "python3 compiles ${f#"$ROOT"}" in_root python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read())' "${f#"$ROOT"}"
done
expect_doveconf "the webmail (127.0.0.1) may name the browser's address" login_trusted_networks "127.0.0.1/32 ::1/128"
# quota-status: Postfix asks it at RCPT (main.cf); a mailbox with room and a non-mailbox
# (alias, forward) get no opinion, a full one a temporary 452.
qs=$(in_root doveconf -c /etc/dovecot/dovecot.conf -n service/quota-status 2>&1 | tr -s ' \n' ' ')
if [[ "$qs" == *"executable = quota-status -p postfix"* && "$qs" == *"unix_listener /var/spool/postfix/private/quota-status {"* ]]; then
    ok "dovecot quota-status answers Postfix on its spool socket"
else
    not_ok "dovecot quota-status answers Postfix on its spool socket" "$qs"
fi
expect_doveconf "quota-status: a mailbox with room is no opinion (DUNNO), never OK" quota_status_success DUNNO
expect_doveconf "quota-status: an alias or forward is not refused as unknown" quota_status_nouser DUNNO
expect_doveconf "quota-status: a full mailbox is a temporary 452" quota_status_overquota "452 4.2.2 Mailbox is full, try again later"
qw=$(in_root doveconf -c /etc/dovecot/dovecot.conf -n service/quota-warning 2>&1 | tr -s ' \n' ' ')
if [[ "$qw" == *"executable = script /usr/local/lib/mailstack/quota-warning.sh"* && -x "$ROOT/usr/local/lib/mailstack/quota-warning.sh" ]]; then
    ok "dovecot runs the quota-warning script (installed, executable)"
else
    not_ok "dovecot runs the quota-warning script (installed, executable)" "$qw"
fi
check "shellcheck quota-warning.sh" shellcheck -s sh "$ROOT/usr/local/lib/mailstack/quota-warning.sh"
# Full-text search: Debian's dovecot-flatcurve is installed (doveconf above loaded its settings)
# and a search is answered from the index only.
if [ -e "$ROOT/usr/lib/dovecot/modules/lib21_fts_flatcurve_plugin.so" ]; then
    ok "the fts flatcurve plugin is installed (dovecot-flatcurve)"
else
    not_ok "the fts flatcurve plugin is installed (dovecot-flatcurve)"
fi
expect_doveconf "full-text search: answered from the index, never by reading every message" fts_search_read_fallback no
expect_doveconf "full-text search: mail is indexed as it arrives" fts_autoindex yes
