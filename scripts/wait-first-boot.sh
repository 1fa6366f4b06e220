#!/usr/bin/env bash
# Wait for cloud-init's first boot to finish, as root over SSH; fail loudly on any error.
#
# cloud-init 25.1 `status --wait` returns when every stage is done: exit 0 done, 1 error,
# 2 done with recoverable problems (e.g. deprecated keys) - success, but the warnings are
# printed. Then /run/cloud-init/result.json is read: any error there fails the step.
set -euo pipefail

timeout_seconds=${MAILSTACK_FIRST_BOOT_TIMEOUT:-1200}

command -v cloud-init >/dev/null || { echo "wait-first-boot: cloud-init is not installed" >&2; exit 1; }

rc=0
timeout "$timeout_seconds" cloud-init status --wait >/dev/null || rc=$?
case $rc in
0) ;;
2) echo "wait-first-boot: cloud-init finished with warnings:" >&2 ;;
124)
    echo "wait-first-boot: cloud-init still running after ${timeout_seconds}s" >&2
    cloud-init status --long >&2 || true
    exit 1
    ;;
*)
    echo "wait-first-boot: cloud-init failed (status exit $rc)" >&2
    cloud-init status --long >&2 || true
    echo "--- last lines of /var/log/cloud-init-output.log ---" >&2
    tail -n 60 /var/log/cloud-init-output.log >&2 || true
    exit 1
    ;;
esac

result=/run/cloud-init/result.json
[ -s "$result" ] || { echo "wait-first-boot: $result is missing" >&2; exit 1; }

# Print errors and recoverable problems; exit 1 when there is any error.
python3 - "$result" <<'PY'
import json, sys
v1 = json.load(open(sys.argv[1])).get("v1", {})
errors = v1.get("errors") or []
recoverable = v1.get("recoverable_errors") or {}
for level, messages in recoverable.items():
    for m in messages:
        print(f"wait-first-boot: cloud-init {level}: {m}", file=sys.stderr)
for e in errors:
    print(f"wait-first-boot: cloud-init ERROR: {e}", file=sys.stderr)
if errors or recoverable.get("ERROR"):
    sys.exit(1)
PY
echo "wait-first-boot: cloud-init done (datasource $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["v1"].get("datasource"))' "$result"))"
