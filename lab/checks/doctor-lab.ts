// `npm run doctor` (doctor/cli.ts) against the lab, as a user runs it against a deployment:
// from outside (msl-out), with the stack's outputs in a file, its own copy of the lab zone on
// its own port (so a check can change the answers), pebble's root as the CA, the lab's
// blocklist and a port-25 listener standing in for the internet. doctor.test.ts and
// upgrade.test.ts run it.

import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { mailDnsRecords } from "../../render/dns/dns-records";
import { describeRecord } from "../../render/dns/text";
import type { DoctorOutputs, MailSpec } from "../../model";
import { pebbleRoot } from "../world/acme";
import { labAddressFacts, labDnsRecords, serveDns, type LabDnsRecord } from "../world/dns";
import { REPO_DIR, shAsync } from "../harness/processes";
import { keyPath, pinnedHostKey, SECONDARY } from "../harness/ssh";
import { labDkimPublicKeysPem } from "../scenarios/provision";
import { NET, STATE_DIR } from "./helpers";

export interface DoctorResult {
    check: string;
    status: "ok" | "warn" | "fail" | "unknown";
    detail: string;
    fix?: string;
    ms?: number;
}

/** The lab's own blocklist (RFC 5782): it lists its test entry, 127.0.0.2. */
export const BLOCKLIST = "bl.lab.test";
const DNS_PORT = 5353;
export const DOCTOR_OUTPUTS = path.join(STATE_DIR, "doctor-outputs.json");
const CA = path.join(STATE_DIR, "doctor-ca.pem");
/** Where "the internet's" port 25 is for the server's outbound check: a listener in msl-out. */
const EGRESS = `${NET.outside4}:25`;
export const DOCTOR_TIMEOUT_S = 6;

export interface DoctorLab {
    /** The zone doctor's resolver serves: change it, and doctor sees the change. */
    zone: LabDnsRecord[];
    /** `npm run doctor -- ...` with the lab's options (the same command, through tsx). */
    command(extra: string[], resolver?: string): ReturnType<typeof shAsync>;
    /** doctor's --json results, its exit status and how long it took. */
    run(
        extra?: string[],
        resolver?: string,
    ): Promise<{ status: number | null; results: DoctorResult[]; seconds: number }>;
    stop(): void;
}

/** Start doctor's resolver and egress listener for the lab server provisioned from `spec`. */
export async function startDoctorLab(spec: MailSpec): Promise<DoctorLab> {
    const keys = labDkimPublicKeysPem(spec);
    const zone = labDnsRecords(spec, { ...labAddressFacts(spec), dkimPublicKeysPem: keys });
    zone.push({ name: `2.0.0.127.${BLOCKLIST}`, type: "A", content: "127.0.0.2" });
    // The lab provisions both servers with one deploy key.
    const deployPrivateKey = fs.readFileSync(keyPath(), "utf8");
    // What `pulumi stack output --json --show-secrets` prints for the lab's stack (the part the doctor reads).
    const outputs: DoctorOutputs = {
        hostname: spec.hostname,
        ipv4: NET.server4,
        ipv6: NET.server6,
        dnsRecords: spec.domains.flatMap((d) =>
            mailDnsRecords(spec, d, { ...labAddressFacts(spec), dkimPublicKeyPem: keys[d.name] }).map(describeRecord),
        ),
        deployPrivateKey,
        sshHostKey: pinnedHostKey(),
        // The backup MX, when this run has one.
        ...(spec.secondaryMx
            ? {
                  secondaryMx: {
                      hostname: spec.secondaryMx.hostname,
                      ipv4: NET.mx2Server4,
                      ipv6: NET.mx2Server6,
                      sshHostKey: pinnedHostKey(SECONDARY),
                  },
                  secondaryMxDeployPrivateKey: deployPrivateKey,
              }
            : {}),
    };
    fs.writeFileSync(DOCTOR_OUTPUTS, JSON.stringify(outputs, null, 2), { mode: 0o600 });
    fs.writeFileSync(CA, await pebbleRoot());
    const closeDns = await serveDns(zone, [NET.client4], DNS_PORT);
    const egress = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => egress.listen(25, NET.outside4, resolve));

    const command = (extra: string[], resolver = `${NET.client4}:${DNS_PORT}`) =>
        shAsync(
            process.execPath,
            [
                "--import",
                "tsx",
                path.join(REPO_DIR, "doctor", "cli.ts"),
                "--outputs",
                DOCTOR_OUTPUTS,
                "--resolver",
                resolver,
                "--ca",
                CA,
                "--dnsbl",
                BLOCKLIST,
                "--egress",
                EGRESS,
                "--timeout",
                String(DOCTOR_TIMEOUT_S),
                ...extra,
            ],
            { allowFail: true, timeoutMs: 120_000 },
        );
    return {
        zone,
        command,
        async run(extra = [], resolver) {
            const started = Date.now();
            const r = await command(["--json", ...extra], resolver);
            let results: DoctorResult[];
            try {
                results = (JSON.parse(r.stdout) as { results: DoctorResult[] }).results;
            } catch {
                throw new Error(
                    `doctor printed no JSON (exit ${r.status}): ${r.stderr.trim()} ${r.stdout.slice(0, 500)}`,
                );
            }
            return { status: r.status, results, seconds: (Date.now() - started) / 1000 };
        },
        stop() {
            closeDns();
            egress.close();
            fs.rmSync(DOCTOR_OUTPUTS, { force: true });
        },
    };
}

/** The public blocklists, which the lab cannot reach (always unknown there). */
export const isPublicList = (r: DoctorResult) => /^(backup MX )?dnsbl (?!bl\.lab\.test )/.test(r.check);
export const showResults = (rs: DoctorResult[]) => rs.map((r) => `${r.status} ${r.check}: ${r.detail}`).join("\n");
