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
# Expand the compressed files the way cloud-init will and look for anything secret or per-domain.
expanded=$(in_root python3 - /tmp/render/user-data <<'PY'
import base64, gzip, sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
for f in cfg["write_files"]:
    c = f["content"]
    if f.get("encoding") == "gz+b64":
        c = gzip.decompress(base64.b64decode(c)).decode()
    print(c)
PY
)
if [ -n "$expanded" ] && ! grep -qE 'PRIVATE KEY|\{BLF-CRYPT\}\$|relay secret|example\.com|carol|alice' <<<"$expanded"; then
    ok "user-data holds no secret and nothing of the domains or mailboxes"
else
    not_ok "user-data holds no secret and nothing of the domains or mailboxes" "$(grep -nE 'PRIVATE KEY|\{BLF-CRYPT\}\$|relay secret|example\.com|carol|alice' <<<"$expanded" | head -5)"
fi
# Every file the user-data writes is what the host-config bundle installs.
if in_root python3 - /tmp/render/user-data /tmp/render/root <<'PY'
import base64, gzip, sys, yaml, os
cfg = yaml.safe_load(open(sys.argv[1]))
bad = 0
for f in cfg["write_files"]:
    if f.get("encoding") != "gz+b64":
        continue
    c = gzip.decompress(base64.b64decode(f["content"]))
    if open(sys.argv[2] + f["path"], "rb").read() != c:
        print("differs:", f["path"]); bad = 1
sys.exit(bad)
PY
then ok "user-data files equal the host-config files"; else not_ok "user-data files equal the host-config files"; fi
