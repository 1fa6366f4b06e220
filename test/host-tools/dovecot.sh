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
# Processes started ahead for IMAPS logins (mailstack.d/processes.conf, issue 30), still one
# connection each and the login processes still dovenull in their chroot (high-security mode).
expect_doveconf "dovecot keeps imap-login processes waiting" service/imap-login/process_min_avail 2
expect_doveconf "dovecot keeps imap processes waiting" service/imap/process_min_avail 2
expect_doveconf "imap-login serves one connection per process" service/imap-login/restart_request_count 1
expect_doveconf "imap serves one connection per process" service/imap/restart_request_count 1
# shellcheck disable=SC2016 # doveconf's own reference to another setting, not a shell variable
expect_doveconf "imap-login runs as the login user" service/imap-login/user '$SET:default_login_user'
expect_doveconf "imap-login runs chrooted" service/imap-login/chroot login
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
# Radicale's login check (mailstack:dav, mailstack.d/dav.conf): its user alone.
if [[ "$sockets" == *"unix_listener auth-radicale { group = radicale mode = 0600 user = radicale }"* ]]; then
    ok "dovecot's auth socket for Radicale opens for the radicale user only"
else
    not_ok "dovecot's auth socket for Radicale opens for the radicale user only" "$sockets"
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
# App passwords with Debian's own Dovecot: the rendered dovecot.conf (its passdbs, the Lua one
# of app passwords first) in an auth server started inside the root with no listener on the
# network, asked with doveadm auth test as IMAP, Postfix (smtp) and the webmail (from
# loopback) ask it. The helper makes and revokes the app passwords as the webmail's socket
# asks it to.
ask_helper() { # JSON request: the helper's answer
    # shellcheck disable=SC2016 # the Python program is in single quotes on purpose
    in_root python3 -c '
import socket, subprocess, sys
a, b = socket.socketpair()
p = subprocess.Popen(["/usr/local/sbin/mailstack-passwords", "serve"], stdin=b)
b.close()
a.sendall((sys.argv[1] + "\n").encode())
print(a.makefile().readline(), end="")
p.wait()' "$1" 2>/dev/null
}
json_field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$1" "$2" 2>/dev/null || true; }
sample_password=$(cat "$RENDER/password")
passdbs=$(in_root doveconf -c /etc/dovecot/dovecot.conf -n 2>&1 | grep '^passdb ' | tr '\n' ' ')
if [ "$passdbs" = "passdb lua { passdb main { passdb passwd-file { " ]; then
    ok "dovecot asks the app passwords' Lua passdb, then the main password's (cached), then the passwd-file"
else
    not_ok "dovecot asks the app passwords' Lua passdb, then the main password's (cached), then the passwd-file" "$passdbs"
fi
created=$(ask_helper "{\"action\": \"app-create\", \"user\": \"alice@example.org\", \"current\": \"$sample_password\", \"label\": \"phone\", \"protocols\": [\"mail\"]}")
app_secret=$(json_field "$created" password)
app_id=$(json_field "$created" id)
# The rendered file, then: no protocol (no listener on this machine's network, no TLS), only
# the auth server, in the root's own /run/dovecot (where the helper's doveadm auth cache flush
# finds it, as on the server).
{
    cat "$ROOT/etc/dovecot/dovecot.conf"
    printf 'protocols =\nssl = no\nlog_path = /tmp/auth-test.log\n'
} >"$ROOT/tmp/auth-test.conf"
auth_test() { # USER PASSWORD PROTOCOL [REAL_RIP]: doveadm auth test's status (Radicale names no address)
    local from=()
    [ -n "${4:-}" ] && from=(-x rip=192.0.2.10 -x real_rip="$4")
    in_root doveadm -c /tmp/auth-test.conf auth test -x service="$3" "${from[@]}" "$1" "$2" >/dev/null 2>&1
}
if in_root dovecot -c /tmp/auth-test.conf 2>"$WORK/dovecot-auth.err"; then
    for _ in $(seq 1 20); do [ -S "$ROOT/run/dovecot/auth-client" ] && break; sleep 0.25; done
    if [ -n "$app_secret" ] && auth_test alice@example.org "$app_secret" imap 192.0.2.10 &&
        auth_test alice@example.org "$app_secret" pop3 192.0.2.10 &&
        grep -qx '[0-9]*' "$ROOT/srv/mail/state/accounts/app-passwords-used/$app_id"; then
        ok "an app password opens IMAP and POP3, and its last use is noted"
    else
        not_ok "an app password opens IMAP and POP3, and its last use is noted" "$created$(tail -n 20 "$ROOT/tmp/auth-test.log")"
    fi
    if ! auth_test alice@example.org "$app_secret" smtp 192.0.2.10 && ! auth_test alice@example.org "$app_secret" imap 127.0.0.1; then
        ok "an app password for mail opens neither submission nor the webmail (a login from the server itself)"
    else
        not_ok "an app password for mail opens neither submission nor the webmail (a login from the server itself)"
    fi
    if auth_test alice@example.org "$sample_password" smtp 192.0.2.10 && auth_test alice@example.org "$sample_password" imap 127.0.0.1 &&
        ! auth_test bob@example.org "$app_secret" imap 192.0.2.10; then
        ok "the main password still opens submission and the webmail; alice's app password is not bob's"
    else
        not_ok "the main password still opens submission and the webmail; alice's app password is not bob's"
    fi
    calendar=$(json_field "$(ask_helper "{\"action\": \"app-create\", \"user\": \"alice@example.org\", \"current\": \"$sample_password\", \"label\": \"calendar\", \"protocols\": [\"dav\"]}")" password)
    if [ -n "$calendar" ] && auth_test alice@example.org "$calendar" radicale && ! auth_test alice@example.org "$calendar" imap 192.0.2.10; then
        ok "an app password for calendars and contacts opens Radicale's logins (protocol radicale) and not IMAP"
    else
        not_ok "an app password for calendars and contacts opens Radicale's logins (protocol radicale) and not IMAP"
    fi
    bobs=$(ask_helper "{\"action\": \"app-revoke\", \"user\": \"bob@example.org\", \"current\": \"$sample_password\", \"id\": \"$app_id\"}")
    if [[ "$bobs" == *'"ok": false'* ]] && auth_test alice@example.org "$app_secret" imap 192.0.2.10; then
        ok "bob cannot revoke alice's app password"
    else
        not_ok "bob cannot revoke alice's app password" "$bobs"
    fi
    revoked=$(ask_helper "{\"action\": \"app-revoke\", \"user\": \"alice@example.org\", \"current\": \"$sample_password\", \"id\": \"$app_id\"}")
    if [[ "$revoked" == *'"ok": true'* ]] && ! auth_test alice@example.org "$app_secret" imap 192.0.2.10; then
        ok "a revoked app password fails at once"
    else
        not_ok "a revoked app password fails at once" "$revoked"
    fi
    # A sender for applications (mailstack:senders, senders.conf): its password opens Postfix's
    # logins (smtp) only; IMAP, POP3, ManageSieve, the webmail (IMAP from loopback) and
    # Radicale refuse it, and a wrong password fails on smtp too.
    if auth_test notify@example.org "$sample_password" smtp 192.0.2.10; then
        ok "a sender's password opens submission (Postfix asks with protocol smtp)"
    else
        not_ok "a sender's password opens submission (Postfix asks with protocol smtp)" "$(tail -n 20 "$ROOT/tmp/auth-test.log")"
    fi
    if ! auth_test notify@example.org "$sample_password" imap 192.0.2.10 && ! auth_test notify@example.org "$sample_password" pop3 192.0.2.10 &&
        ! auth_test notify@example.org "$sample_password" sieve 192.0.2.10 && ! auth_test notify@example.org "$sample_password" imap 127.0.0.1 &&
        ! auth_test notify@example.org "$sample_password" radicale && ! auth_test notify@example.org "wrong password" smtp 192.0.2.10; then
        ok "a sender's password opens no IMAP, POP3, ManageSieve, webmail or Radicale login; a wrong one no submission"
    else
        not_ok "a sender's password opens no IMAP, POP3, ManageSieve, webmail or Radicale login; a wrong one no submission"
    fi
    # Logins that cost no hash when repeated (main-password.conf): the cache answers alice's
    # password again without asking the passdb, a password that is not the cached one goes to
    # the passdb (bcrypt) rather than being refused by the cache, and the helper's apply
    # flushes her entry when her row changes. Her hash is replaced behind the helper's back to
    # tell the cache's answer from the passdb's.
    set_alice_row() { # awk program on alice's row ($2 the hash, $0 the row)
        in_root awk -F: -v OFS=: "\$1 == \"alice@example.org\" { $1 } 1" /etc/dovecot/users >"$WORK/users.new" &&
            cat "$WORK/users.new" >"$ROOT/etc/dovecot/users"
    }
    other_hash=$(in_root doveadm pw -s BLF-CRYPT -r 4 -p "another-password-of-hers")
    if auth_test alice@example.org "$sample_password" imap 192.0.2.10 &&
        set_alice_row "\$2 = \"$other_hash\"" && auth_test alice@example.org "$sample_password" imap 192.0.2.10; then
        ok "a repeated login is answered by Dovecot's authentication cache (the passwd-file not read again)"
    else
        not_ok "a repeated login is answered by Dovecot's authentication cache (the passwd-file not read again)" "$(tail -n 20 "$ROOT/tmp/auth-test.log")"
    fi
    if auth_test alice@example.org "another-password-of-hers" imap 192.0.2.10 && ! auth_test alice@example.org "$sample_password" imap 192.0.2.10; then
        ok "a password that is not the cached one is checked against the passwd-file's bcrypt hash"
    else
        not_ok "a password that is not the cached one is checked against the passwd-file's bcrypt hash" "$(tail -n 20 "$ROOT/tmp/auth-test.log")"
    fi
    # The row back as the helper writes it: the apply flushes her entry, so the password the
    # cache held fails at once.
    if in_root /usr/local/sbin/mailstack-passwords apply 2>"$WORK/apply.err" && grep -q "cache forgot alice@example.org" "$WORK/apply.err" &&
        ! auth_test alice@example.org "another-password-of-hers" imap 192.0.2.10 && auth_test alice@example.org "$sample_password" imap 192.0.2.10; then
        ok "mailstack-passwords apply flushes a changed user from the cache: the cached password fails at once"
    else
        not_ok "mailstack-passwords apply flushes a changed user from the cache: the cached password fails at once" "$(cat "$WORK/apply.err")"
    fi
    # A second factor's row (webmail only): a cached entry keeps allow_real_nets and Dovecot
    # checks it on every hit, so the main password cached by the webmail opens no IMAP from outside.
    if set_alice_row "\$0 = \$0 \" allow_real_nets=127.0.0.1/32,::1/128\"" && in_root doveadm -c /tmp/auth-test.conf auth cache flush alice@example.org >/dev/null &&
        auth_test alice@example.org "$sample_password" imap 127.0.0.1 && auth_test alice@example.org "$sample_password" imap 127.0.0.1 &&
        ! auth_test alice@example.org "$sample_password" imap 192.0.2.10; then
        ok "a cached main password with the second factor on still opens only the webmail's logins"
    else
        not_ok "a cached main password with the second factor on still opens only the webmail's logins" "$(grep -m1 '^alice@' "$ROOT/etc/dovecot/users")"
    fi
    in_root /usr/local/sbin/mailstack-passwords apply 2>/dev/null
    in_root doveadm -c /tmp/auth-test.conf stop >/dev/null 2>&1 || true
else
    not_ok "dovecot starts with the rendered passdbs (auth only)" "$(cat "$WORK/dovecot-auth.err")"
fi
rm -f "$ROOT/srv/mail/state/accounts/app-passwords"
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
