# shellcheck shell=bash
# Part of run.sh (lib.sh first), optional: run.sh sources it only if it exists. The daemons
# themselves, in a private network namespace: Postfix, Dovecot, OpenDKIM and postsrsd run from
# the root (plain processes, nothing booted, nothing listening on this machine's network) and
# smoke.py talks SMTP/LMTP/IMAP/POP3 to them; each of its "ok"/"FAIL" lines becomes a check here.
cp "$REPO/test/host-tools/smoke.py" "$REPO/test/host-tools/smoke-daemons.sh" "$ROOT/tmp/"
smoke=$(unshare --net chroot "$ROOT" /usr/bin/env PATH="$ROOT_PATH" bash /tmp/smoke-daemons.sh 2>&1)
smoke_rc=$?
stop_root_processes
smoke_lines=0
while IFS= read -r line; do
    case $line in
    "ok "*) ok "${line#ok }" && smoke_lines=$((smoke_lines + 1)) ;;
    "FAIL "*) not_ok "${line#FAIL }" && smoke_lines=$((smoke_lines + 1)) ;;
    esac
done <<<"$smoke"
if [ "$smoke_lines" -eq 0 ] || { [ "$smoke_rc" -ne 0 ] && ! grep -q '^FAIL ' <<<"$smoke"; }; then
    not_ok "the daemons start and answer" "$smoke"
elif [ "$smoke_rc" -ne 0 ]; then
    printf '%s\n' "$smoke" | grep -v '^ok ' | sed 's/^/      /'
fi
