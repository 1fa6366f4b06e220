# shellcheck shell=bash
# Part of run.sh (lib.sh first): the user-data. cloud-init's own schema accepts it, it fits
# Hetzner's limit (USER_DATA_LIMIT_BYTES, written by render-sample.ts), holds nothing secret or
# per-domain, and every file it writes is the one the host-config bundle installs.
schema=$(in_root cloud-init schema --config-file /tmp/user-data 2>&1)
if [[ "$schema" == *"Valid schema"* ]] && ! grep -qi 'deprecat' <<<"$schema"; then
    ok "cloud-init schema: user-data valid, no deprecations"
else
    not_ok "cloud-init schema: user-data valid, no deprecations" "$schema"
fi
size=$(wc -c <"$RENDER/user-data")
limit=$(cat "$RENDER/user-data-limit")
if [ "$size" -lt "$limit" ]; then ok "user-data is $size bytes (< $((limit / 1024)) KiB)"; else not_ok "user-data is $size bytes (< $((limit / 1024)) KiB)"; fi
# Expand the files the way cloud-init and first-boot.sh will (the archive with Python's own
# tarfile, not our reader) and look for anything secret or per-domain.
expanded=$(in_root python3 - /tmp/render/user-data <<'PY'
import base64, io, sys, tarfile, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
for f in cfg["write_files"]:
    c = f["content"]
    if f.get("encoding") == "b64":
        with tarfile.open(fileobj=io.BytesIO(base64.b64decode(c)), mode="r:gz") as tar:
            for m in tar.getmembers():
                print(tar.extractfile(m).read().decode())
        continue
    print(c)
PY
)
if [ -n "$expanded" ] && ! grep -qE 'PRIVATE KEY|\{BLF-CRYPT\}\$|relay secret|example\.com|carol|alice' <<<"$expanded"; then
    ok "user-data holds no secret and nothing of the domains or mailboxes"
else
    not_ok "user-data holds no secret and nothing of the domains or mailboxes" "$(grep -nE 'PRIVATE KEY|\{BLF-CRYPT\}\$|relay secret|example\.com|carol|alice' <<<"$expanded" | head -5)"
fi
# Every file the user-data's archive holds is what the host-config bundle installs, with the
# same mode and owner.
if in_root python3 - /tmp/render/user-data /tmp/render/root /tmp/render/files.tsv <<'PY'
import base64, io, sys, tarfile, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
meta = {l.split("\t")[0]: l.rstrip("\n").split("\t")[1:] for l in open(sys.argv[3])}
bad = 0
archives = [f for f in cfg["write_files"] if f.get("encoding") == "b64"]
if len(archives) != 1:
    print("expected one archive, found", len(archives)); sys.exit(1)
with tarfile.open(fileobj=io.BytesIO(base64.b64decode(archives[0]["content"])), mode="r:gz") as tar:
    for m in tar.getmembers():
        path = "/" + m.name
        if not m.isfile() or open(sys.argv[2] + path, "rb").read() != tar.extractfile(m).read():
            print("differs:", path); bad = 1
        elif meta.get(path) != ["0%o" % m.mode, m.uname, m.gname]:
            print("mode or owner differs:", path, "0%o" % m.mode, m.uname, m.gname, meta.get(path)); bad = 1
sys.exit(bad)
PY
then ok "user-data files equal the host-config files"; else not_ok "user-data files equal the host-config files"; fi
