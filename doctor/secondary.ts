// The backup MX (mailstack:secondaryMx), checked as the primary is: from outside its reverse
// DNS, port 25 with STARTTLS and its certificate, that it relays for nobody, its addresses on
// the blocklists; over SSH (its own deploy key, its pinned host key) its daemons and its queue.
// Mail waiting there means the primary did not take it: normal for the hours of an outage,
// a problem when it lasts.

import { SECONDARY_ACTIVE_UNITS, SECONDARY_QUEUE_LIFETIME } from "../render/features/backup-mx";
import { TLS_SERVICES } from "../model/services";
import type { DoctorOutputs } from "../model/outputs";
import { blocklistChecks, type Blocklist } from "./dnsbl";
import type { Lookup } from "./dns";
import { portChecks, relayCheck, reverseDnsChecks, type Target } from "./outside";
import { runRemote, sections } from "./remote";
import { readQueue } from "./remote-sections";
import { fail, ok, unknown, warn, type Check, type CheckResult } from "./types";

const PREFIX = "backup MX";

/** Its checks from outside: the primary's, on port 25 only (it serves nothing else). */
export function secondaryOutsideChecks(
    o: DoctorOutputs,
    opts: {
        readonly lookup: Lookup;
        readonly blocklists: readonly Blocklist[];
        readonly minCertDays: number;
        readonly ca?: readonly string[];
    },
): Check[] {
    const s = o.secondaryMx;
    if (!s) return [];
    const target: Target = {
        hostname: s.hostname,
        ipv4: s.ipv4,
        ipv6: s.ipv6,
        minCertDays: opts.minCertDays,
        ...(opts.ca ? { ca: opts.ca } : {}),
    };
    const smtp = TLS_SERVICES.filter((x) => x.name === "smtp");
    return [
        ...reverseDnsChecks(target, opts.lookup),
        ...portChecks(target, smtp),
        relayCheck(target),
        ...blocklistChecks(opts.blocklists, { ips: [s.ipv4, s.ipv6], domains: [] }, opts.lookup),
    ].map((c) => ({ ...c, check: `${PREFIX} ${c.check}` }));
}

/** The script run on the backup MX: its units and its queue (read-only). */
export function secondaryScript(commandTimeout: number): string {
    return `set -u
export LC_ALL=C
s() { printf '\\n@@%s\\n' "$1"; }
s units
for u in ${SECONDARY_ACTIVE_UNITS.join(" ")}; do printf '%s %s\\n' "$u" "$(systemctl is-active "$u")"; done
s queue
timeout ${commandTimeout} postqueue -j 2>&1
s end
`;
}

/** Hours after which mail waiting on the backup MX is a failure, not an outage being ridden out. */
export const SECONDARY_QUEUE_FAIL_HOURS = 24;

/** Its daemons, and its queue: empty is the normal state; deferred mail means the primary is not taking it. */
export function secondaryResults(output: string, primary: string, now = Date.now()): CheckResult[] {
    const sec = sections(output);
    const results: CheckResult[] = [];
    const add = (check: string, r: Omit<CheckResult, "check">) =>
        results.push({ check: `${PREFIX} ssh ${check}`, ...r });
    const units = sec.get("units");
    if (!units?.length) add("daemons", unknown("the script's output ended before its units", "run doctor again"));
    else {
        const down = units.filter((l) => !/ active$/.test(l));
        if (down.length)
            add(
                "daemons",
                fail(`not active: ${down.join(", ")}`, `systemctl start ${down.map((l) => l.split(" ")[0]).join(" ")}`),
            );
        else add("daemons", ok(`${units.length} active`));
    }
    const queue = sec.get("queue");
    if (!queue) add("queue", unknown("the script's output ended before the queue", "run doctor again"));
    else {
        const { entries, problems } = readQueue(queue);
        if (entries.length === 0 && problems.length > 0)
            add("queue", unknown(`postqueue: ${problems.join(" ")}`, "systemctl status postfix"));
        else if (entries.length === 0) add("queue", ok("empty: every message reached the primary"));
        else {
            const hours = (now / 1000 - Math.min(...entries.map((e) => e.arrival_time))) / 3600;
            const detail = `${entries.length} message(s) waiting for ${primary}, the oldest for ${hours.toFixed(1)} h (kept ${SECONDARY_QUEUE_LIFETIME})`;
            const why = `is ${primary} up and answering on port 25 with its certificate? postqueue -p on the backup MX says why; postqueue -f sends at once`;
            add("queue", hours > SECONDARY_QUEUE_FAIL_HOURS ? fail(detail, why) : warn(detail, why));
        }
    }
    return results;
}

/** The SSH part on the backup MX, when the outputs hold its key (--show-secrets). */
export async function secondarySshChecks(o: DoctorOutputs, timeoutSeconds: number): Promise<CheckResult[]> {
    const s = o.secondaryMx;
    if (!s) return [];
    const login = `${PREFIX} ssh login root@${s.ipv4}`;
    if (!o.secondaryMxDeployPrivateKey)
        return [
            {
                check: login,
                status: "unknown",
                detail: "no secondaryMxDeployPrivateKey in the outputs: the checks on the backup MX were not run",
                fix: "pulumi stack output --json --show-secrets (or --no-ssh)",
            },
        ];
    const started = Date.now();
    const r = await runRemote(
        { address: s.ipv4, hostKey: s.sshHostKey, privateKey: o.secondaryMxDeployPrivateKey },
        secondaryScript(Math.max(2, Math.floor(timeoutSeconds / 2))),
        timeoutSeconds * 1000 * 2,
    );
    const ms = Date.now() - started;
    if (!r.stdout.includes("@@units"))
        return [
            {
                check: login,
                ms,
                ...fail(
                    r.stderr.trim().split("\n").filter(Boolean).at(-1) ?? `ssh exited ${r.status}`,
                    "check that sshAllowedCidrs includes this machine's address and that the backup MX is up",
                ),
            },
        ];
    return [
        { check: login, ms, ...ok(`deploy key, host key pinned (${s.sshHostKey.split(" ")[0]})`) },
        ...secondaryResults(r.stdout, o.hostname).map((x) => ({ ...x, ms })),
    ];
}
