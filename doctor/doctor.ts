// The doctor: every check from the stack's outputs, each under its own time limit, run
// side by side; a check that throws or runs out of time is a result like any other.

import { parseRecord, txtValue } from "../render/dns/text";
import { blocklistChecks, type Blocklist } from "./dnsbl";
import type { Lookup } from "./dns";
import { portChecks, relayCheck, reverseDnsChecks, type Target } from "./outside";
import { recordChecks } from "./records";
import { sshChecks, type RemoteFacts } from "./remote";
import { secondaryOutsideChecks, secondarySshChecks } from "./secondary";
import { parseDkimName } from "../model/names";
import type { DoctorOutputs } from "../model/outputs";
import { fail, type Check, type CheckResult } from "./types";

export interface DoctorOptions {
    readonly outputs: DoctorOutputs;
    readonly lookup: Lookup;
    readonly blocklists: readonly Blocklist[];
    /** Seconds each check may take. */
    readonly timeoutSeconds: number;
    readonly ca?: readonly string[];
    readonly minCertDays: number;
    /** host:port the server must reach for outbound SMTP. */
    readonly egress: string;
    /** false: no SSH checks (--no-ssh). */
    readonly ssh: boolean;
}

/** Run one check under its time limit; an error is the check's failure, with its message. */
export async function runCheck(c: Check, timeoutMs: number): Promise<CheckResult> {
    const started = Date.now();
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
            controller.abort();
            reject(new Error(`no result within the time limit of ${timeoutMs / 1000} s`));
        }, timeoutMs);
    });
    try {
        const r = await Promise.race([c.run(controller.signal), limit]);
        return { check: c.check, ...r, ms: Date.now() - started };
    } catch (err) {
        return {
            check: c.check,
            ...fail((err as Error).message, c.onError),
            ms: Date.now() - started,
        };
    } finally {
        clearTimeout(timer);
    }
}

/** The domains the stack publishes mail records for (each MX name). */
export function mailDomains(o: DoctorOutputs): string[] {
    return o.dnsRecords
        .map(parseRecord)
        .filter((r) => r.type === "MX")
        .map((r) => r.name.toLowerCase());
}

/** Each DKIM record: domain, selector and the published key. */
export function dkimRecords(o: DoctorOutputs): RemoteFacts["dkim"] {
    return o.dnsRecords.map(parseRecord).flatMap((r) => {
        const name = parseDkimName(r.name);
        const p = r.type === "TXT" ? /(?:^|;)\s*p=([A-Za-z0-9+/=]+)/.exec(txtValue(r.content!)) : null;
        return name && p ? [{ domain: name.domain.toLowerCase(), selector: name.selector, publicKey: p[1] }] : [];
    });
}

export async function runDoctor(o: DoctorOptions): Promise<CheckResult[]> {
    const out = o.outputs;
    const target: Target = {
        hostname: out.hostname,
        ipv4: out.ipv4,
        ipv6: out.ipv6,
        minCertDays: o.minCertDays,
        ...(o.ca ? { ca: o.ca } : {}),
    };
    const checks: Check[] = [
        ...recordChecks(out.dnsRecords, o.lookup),
        ...reverseDnsChecks(target, o.lookup),
        ...portChecks(target),
        relayCheck(target),
        ...blocklistChecks(o.blocklists, { ips: [out.ipv4, out.ipv6], domains: mailDomains(out) }, o.lookup),
        // The backup MX (mailstack:secondaryMx), when there is one: the same from outside, port 25 only.
        ...secondaryOutsideChecks(out, {
            lookup: o.lookup,
            blocklists: o.blocklists,
            minCertDays: o.minCertDays,
            ...(o.ca ? { ca: o.ca } : {}),
        }),
    ];
    const timeoutMs = o.timeoutSeconds * 1000;
    const outside = Promise.all(checks.map((c) => runCheck(c, timeoutMs)));
    const facts: RemoteFacts = {
        hostname: out.hostname,
        dkim: dkimRecords(out),
        egress: o.egress,
        commandTimeout: Math.max(2, Math.floor(o.timeoutSeconds / 2)),
    };
    const remote: Promise<CheckResult[]> = !o.ssh
        ? Promise.resolve([])
        : !out.deployPrivateKey || !out.sshHostKey
          ? Promise.resolve([
                {
                    check: "ssh login",
                    status: "unknown",
                    detail: "no deployPrivateKey/sshHostKey in the outputs: the checks on the server were not run",
                    fix: "pulumi stack output --json --show-secrets (or --no-ssh)",
                },
            ])
          : sshChecks(
                { address: out.ipv4, hostKey: out.sshHostKey, privateKey: out.deployPrivateKey },
                facts,
                // One session for every check on the server, each command limited on its own.
                timeoutMs * 3,
            );
    const secondary = o.ssh ? secondarySshChecks(out, o.timeoutSeconds) : Promise.resolve([]);
    return [...(await outside), ...(await remote), ...(await secondary)];
}
