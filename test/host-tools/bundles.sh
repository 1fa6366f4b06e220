# shellcheck shell=bash
# Part of run.sh (lib.sh first, after first-boot.sh): scripts/apply-bundle.sh installs the three
# bundles with the right owners and modes, changes nothing the second time, refuses a cut or
# broken bundle, creates a table main.cf names before any bundle delivered it, and prunes
# the files mailstack owns and no longer renders.
cp "$REPO/scripts/apply-bundle.sh" "$ROOT/tmp/apply-bundle.sh"
for b in host-config mail-data dkim; do
    check "apply-bundle.sh installs the $b bundle" in_root bash /tmp/apply-bundle.sh <"$RENDER/$b.bundle"
done
bad_meta=""
while IFS=$'\t' read -r path mode owner group; do
    want="$(printf '%o' "$((8#$mode))") $owner $group"
    have=$(in_root stat -c '%a %U %G' "$path" 2>&1)
    [ "$have" = "$want" ] || bad_meta+="$path: $have, want $want"$'\n'
    cmp -s "$RENDER/root$path" "$ROOT$path" || bad_meta+="$path: content differs"$'\n'
done <"$RENDER/files.tsv"
if [ -z "$bad_meta" ]; then ok "installed files have the rendered content, mode and owner"; else not_ok "installed files have the rendered content, mode and owner" "$bad_meta"; fi
if grep -qx "restart opendkim" "$ROOT/tmp/systemctl.log" && grep -qx "start postfix" "$ROOT/tmp/systemctl.log"; then
    ok "apply-bundle.sh restarts opendkim and starts a stopped postfix"
else
    not_ok "apply-bundle.sh restarts opendkim and starts a stopped postfix" "$(cat "$ROOT/tmp/systemctl.log" 2>&1)"
fi

rm -f "$ROOT/tmp/systemctl.log"
again=""
for b in host-config mail-data dkim; do
    again+=$(in_root bash /tmp/apply-bundle.sh <"$RENDER/$b.bundle" 2>&1)$'\n'
done
if [ "$(grep -c '^apply-bundle: unchanged' <<<"$again")" -eq 3 ] && [ ! -e "$ROOT/tmp/systemctl.log" ]; then
    ok "apply-bundle.sh: the same bundles again change nothing and restart nothing"
else
    not_ok "apply-bundle.sh: the same bundles again change nothing and restart nothing" "$again$(cat "$ROOT/tmp/systemctl.log" 2>/dev/null)"
fi

before=$(sha256sum "$ROOT/etc/postfix/main.cf")
# The bundle cut after a complete file line: no `end`.
head -n 2 "$RENDER/host-config.bundle" | sed '2s|^file /etc/postfix/main.cf .*|file /etc/postfix/main.cf 0644 root root reload:postfix '"$(printf 'x = 1\n' | base64 -w0)"'|' >"$WORK/cut.bundle"
if ! in_root bash /tmp/apply-bundle.sh <"$WORK/cut.bundle" >/dev/null 2>&1 && [ "$(sha256sum "$ROOT/etc/postfix/main.cf")" = "$before" ]; then
    ok "apply-bundle.sh refuses a bundle without 'end' and installs nothing"
else
    not_ok "apply-bundle.sh refuses a bundle without 'end' and installs nothing"
fi
# A main.cf that postfix check rejects is put back and postfix is not reloaded.
broken=$( (cat "$RENDER/root/etc/postfix/main.cf"; echo "message_size_limit = not-a-number") | base64 -w0)
printf 'mailstack-bundle 1\nfile /etc/postfix/main.cf 0644 root root reload:postfix %s\nend\n' "$broken" >"$WORK/broken.bundle"
rm -f "$ROOT/tmp/systemctl.log"
if ! in_root bash /tmp/apply-bundle.sh <"$WORK/broken.bundle" >/dev/null 2>&1 && [ "$(sha256sum "$ROOT/etc/postfix/main.cf")" = "$before" ] &&
    ! grep -q postfix "$ROOT/tmp/systemctl.log" 2>/dev/null; then
    ok "apply-bundle.sh puts back a main.cf that postfix check rejects and does not reload postfix"
else
    not_ok "apply-bundle.sh puts back a main.cf that postfix check rejects and does not reload postfix" "$(cat "$ROOT/tmp/systemctl.log" 2>/dev/null)"
fi
# An upgrade whose host-config names a table the mail-data step has not delivered yet:
# the table starts empty (root-only) before Postfix reloads, and mail-data then fills it.
mv "$ROOT/etc/postfix/mailstack/own-sender-domains" "$WORK/own-sender-domains"
echo "# older main.cf" >>"$ROOT/etc/postfix/main.cf"
upgrade=$(in_root bash /tmp/apply-bundle.sh <"$RENDER/host-config.bundle" 2>&1)
if [ "$(stat -c '%s %a' "$ROOT/etc/postfix/mailstack/own-sender-domains" 2>&1)" = "0 600" ] && grep -q "ran       reload:postfix" <<<"$upgrade"; then
    ok "apply-bundle.sh creates a table main.cf names but no bundle delivered yet, before reloading Postfix"
else
    not_ok "apply-bundle.sh creates a table main.cf names but no bundle delivered yet, before reloading Postfix" "$upgrade"
fi
in_root bash /tmp/apply-bundle.sh <"$RENDER/mail-data.bundle" >/dev/null 2>&1
cmp -s "$WORK/own-sender-domains" "$ROOT/etc/postfix/mailstack/own-sender-domains" || not_ok "mail-data fills the table again"

# An action that fails is recorded and runs again with the next bundle, although no file
# changed then: a rerun of the step must not report "unchanged" over a daemon left stale.
rm -f "$ROOT/tmp/systemctl.log"
echo "# changed" >>"$ROOT/etc/nginx/sites-available/default"
cat >"$ROOT/usr/local/sbin/nginx" <<'STUB'
#!/bin/sh
exit 0
STUB
chmod 0755 "$ROOT/usr/local/sbin/nginx"
cat >"$ROOT/usr/local/sbin/systemctl" <<'STUB'
#!/bin/sh
echo "$*" >>/tmp/systemctl.log
case "$1 $2" in is-active*) exit 3 ;; "start nginx") exit 1 ;; esac
exit 0
STUB
first=$(in_root bash /tmp/apply-bundle.sh <"$RENDER/host-config.bundle" 2>&1)
cat >"$ROOT/usr/local/sbin/systemctl" <<'STUB'
#!/bin/sh
echo "$*" >>/tmp/systemctl.log
case $1 in is-active) exit 3 ;; esac
exit 0
STUB
second=$(in_root bash /tmp/apply-bundle.sh <"$RENDER/host-config.bundle" 2>&1)
third=$(in_root bash /tmp/apply-bundle.sh <"$RENDER/host-config.bundle" 2>&1)
rm -f "$ROOT/usr/local/sbin/nginx"
if grep -q "reload:nginx failed" <<<"$first" && grep -q "ran       reload:nginx" <<<"$second" &&
    grep -q "^apply-bundle: unchanged" <<<"$third" && [ ! -e "$ROOT/var/lib/mailstack/pending-actions" ]; then
    ok "apply-bundle.sh runs a failed action again with the next bundle, then forgets it"
else
    not_ok "apply-bundle.sh runs a failed action again with the next bundle, then forgets it" "$first"$'\n--\n'"$second"$'\n--\n'"$third"
fi

# The dkim bundle prunes /etc/opendkim/keys: the key of a domain no longer configured goes,
# OpenDKIM restarts; a file the prune pattern does not match stays; the same bundle again
# changes nothing.
rm -f "$ROOT/tmp/systemctl.log"
install -m 0600 /dev/null "$ROOT/etc/opendkim/keys/removed.example.mail.private"
echo "kept" >"$ROOT/etc/opendkim/keys/README"
pruned=$(in_root bash /tmp/apply-bundle.sh <"$RENDER/dkim.bundle" 2>&1)
again=$(in_root bash /tmp/apply-bundle.sh <"$RENDER/dkim.bundle" 2>&1)
if grep -qx "removed   /etc/opendkim/keys/removed.example.mail.private" <<<"$pruned" &&
    [ ! -e "$ROOT/etc/opendkim/keys/removed.example.mail.private" ] && [ -e "$ROOT/etc/opendkim/keys/README" ] &&
    [ "$(find "$ROOT/etc/opendkim/keys" -name '*.private' | wc -l)" -eq "$(grep -c '^file /etc/opendkim/keys/' "$RENDER/dkim.bundle")" ] &&
    grep -qx "restart opendkim" "$ROOT/tmp/systemctl.log" && grep -q "^apply-bundle: unchanged" <<<"$again"; then
    ok "apply-bundle.sh prunes the DKIM key of a removed domain, restarts OpenDKIM, keeps other files; then unchanged"
else
    not_ok "apply-bundle.sh prunes the DKIM key of a removed domain, restarts OpenDKIM, keeps other files; then unchanged" "$pruned"$'\n--\n'"$again"
fi
rm -f "$ROOT/etc/opendkim/keys/README"

# mailstack:dav turned off: host-config prunes Radicale's Dovecot listener and stops and
# disables Radicale (its package stays, nothing runs); turned on again, Radicale runs again.
rm -f "$ROOT/tmp/systemctl.log"
off=$(in_root bash /tmp/apply-bundle.sh <"$RENDER/host-config-nodav.bundle" 2>&1)
off_calls=$(cat "$ROOT/tmp/systemctl.log" 2>/dev/null)
rm -f "$ROOT/tmp/systemctl.log"
on=$(in_root bash /tmp/apply-bundle.sh <"$RENDER/host-config.bundle" 2>&1)
on_calls=$(cat "$ROOT/tmp/systemctl.log" 2>/dev/null)
if grep -qx "removed   /etc/dovecot/mailstack.d/dav.conf" <<<"$off" && grep -qx "disable --quiet --now radicale" <<<"$off_calls" &&
    ! grep -q "restart radicale" <<<"$off_calls" && grep -qx "restart radicale" <<<"$on_calls" &&
    ! grep -q "disable.*radicale" <<<"$on_calls"; then
    ok "mailstack:dav turned off stops and disables Radicale with its listener gone; turned on, it runs again"
else
    not_ok "mailstack:dav turned off stops and disables Radicale with its listener gone; turned on, it runs again" "$off"$'\n'"$off_calls"$'\n--\n'"$on"$'\n'"$on_calls"
fi
