#!/usr/bin/env bash
# Run inside the trixie root, in a private network namespace (run.sh: unshare --net chroot):
# start postsrsd, OpenDKIM, the sender milter, Dovecot and Postfix the way their units would, run smoke.py
# against them, and stop every one of them again, whatever happened.
set -uo pipefail

ip link set lo up
# An address that is not in mynetworks, so port 25 treats the test client as the Internet.
ip addr add 192.0.2.1/32 dev lo

pids=()
# shellcheck disable=SC2317 # invoked by the EXIT trap
stop_all() {
    postfix stop >/dev/null 2>&1 || true
    doveadm stop >/dev/null 2>&1 || true
    [ -s /run/opendkim/opendkim.pid ] && kill "$(cat /run/opendkim/opendkim.pid)" 2>/dev/null
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    sleep 1
}
trap stop_all EXIT

/usr/share/postsrsd/postsrsd-systemd-launcher >/tmp/postsrsd.log 2>&1 &
pids+=("$!")
install -d -o opendkim -g opendkim /run/opendkim
opendkim -x /etc/opendkim.conf || { echo "FAIL opendkim does not start"; exit 1; }
python3 /usr/local/sbin/mailstack-sender-milter >/tmp/sender-milter.log 2>&1 &
pids+=("$!")
dovecot || { echo "FAIL dovecot does not start"; exit 1; }
postfix start >/tmp/postfix-start.log 2>&1 || { echo "FAIL postfix does not start"; cat /tmp/postfix-start.log; exit 1; }
# Wait until every listener is up.
for _ in $(seq 1 50); do
    if python3 -c 'import socket,sys
for p in (25, 465, 587, 993, 995, 8891, 8893, 10001):
    socket.create_connection(("192.0.2.1" if p < 8000 else "127.0.0.1", p), timeout=1).close()' 2>/dev/null; then
        break
    fi
    sleep 0.2
done
python3 /tmp/smoke.py
rc=$?
if [ "$rc" -ne 0 ]; then
    echo "--- postfix/dovecot log (maillog) ---"
    tail -n 40 /var/log/mail.log 2>/dev/null || true
fi
exit "$rc"
