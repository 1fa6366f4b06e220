# shellcheck shell=bash
# Part of run.sh (lib.sh first): mailstack-backup's guard against a new, empty volume, with a
# stand-in restic (what it is asked is logged; its "repository" is a directory). A volume
# whose repository mark is missing or another repository's is refused while the repository
# holds snapshots; `run --adopt` takes it on; a new repository is initialised and marked.
# restic itself and a real repository are the lab's part (lab/checks/backup.test.ts).
cp -a "$RENDER/backup-root/." "$ROOT/"
mkdir -p "$ROOT/srv/mail/state" "$ROOT/var/lib/mailstack"
rm -rf "$ROOT/tmp/restic" && mkdir -p "$ROOT/tmp/restic"
cat >"$ROOT/usr/local/bin/restic" <<'STUB'
#!/bin/sh
# A stand-in for restic: the repository is /tmp/restic/repo, its snapshots /tmp/restic/snaps.
while [ "$1" = -o ]; do shift 2; done
echo "$*" >>/tmp/restic/calls
case $1 in
cat) [ -e /tmp/restic/repo ] || exit 10; printf '{\n  "version": 2,\n  "id": "%s",\n  "chunker_polynomial": "3dea92648f6e83"\n}\n' "$(cat /tmp/restic/repo)" ;;
init) echo 1f2e3d4c5b6a79880011223344556677 >/tmp/restic/repo ;;
snapshots) if [ -s /tmp/restic/snaps ]; then printf '[{"id":"%s"}]\n' "$(tail -n 1 /tmp/restic/snaps)"; else echo '[]'; fi ;;
backup) echo "snap$(date +%s%N)" >>/tmp/restic/snaps ;;
forget) ;;
*) exit 1 ;;
esac
STUB
chmod 0755 "$ROOT/usr/local/bin/restic"
mark=/srv/mail/state/backup-repository
backups() { grep -c '^backup ' "$ROOT/tmp/restic/calls" 2>/dev/null || true; }

first=$(in_root /usr/local/sbin/mailstack-backup run 2>&1)
if [ "$(cat "$ROOT$mark" 2>/dev/null)" = "$(cat "$ROOT/tmp/restic/repo")" ] && [ "$(backups)" -eq 1 ] &&
    grep -q '^init' "$ROOT/tmp/restic/calls"; then
    ok "mailstack-backup run initialises a new repository, marks the volume with its id, backs up"
else
    not_ok "mailstack-backup run initialises a new repository, marks the volume with its id, backs up" "$first"
fi

# A new volume (no mark) against the same repository, which has a snapshot: refused.
rm -f "$ROOT$mark"
if refused=$(in_root /usr/local/sbin/mailstack-backup run 2>&1); then refused_rc=0; else refused_rc=$?; fi
if [ "$refused_rc" -ne 0 ] && [ "$(backups)" -eq 1 ] && [ ! -e "$ROOT$mark" ] &&
    grep -q 'never been backed up to .*mailstack-restore all' <<<"$refused"; then
    ok "mailstack-backup run refuses a volume without the repository's mark while it has snapshots"
else
    not_ok "mailstack-backup run refuses a volume without the repository's mark while it has snapshots" "exit $refused_rc: $refused"
fi
# Another repository's mark counts as none.
echo 00000000000000000000000000000000 >"$ROOT$mark"
if in_root /usr/local/sbin/mailstack-backup run >/dev/null 2>&1 || [ "$(backups)" -ne 1 ]; then
    not_ok "mailstack-backup run refuses a volume marked for another repository"
else
    ok "mailstack-backup run refuses a volume marked for another repository"
fi
adopt=$(in_root /usr/local/sbin/mailstack-backup run --adopt 2>&1)
again=$(in_root /usr/local/sbin/mailstack-backup run 2>&1)
if [ "$(cat "$ROOT$mark")" = "$(cat "$ROOT/tmp/restic/repo")" ] && [ "$(backups)" -eq 3 ]; then
    ok "mailstack-backup run --adopt takes the volume on; later runs back it up"
else
    not_ok "mailstack-backup run --adopt takes the volume on; later runs back it up" "$adopt"$'\n--\n'"$again"
fi
rm -rf "$ROOT/tmp/restic" "$ROOT/usr/local/bin/restic" "$ROOT$mark" "$ROOT/etc/mailstack/backup"
