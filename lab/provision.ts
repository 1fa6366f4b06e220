// Provisioning in the lab: the very same scripts and bundles the stack's
// command.remote.Command steps send (components/provisioning.ts), over SSH with the deploy
// key, in the same order: first-boot, host-config, dkim, mail-data, certificate (from the
// lab's ACME CA, lab/acme.ts).

import { generateKeyPairSync, createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { renderBundle, renderDkimFiles, renderHostFiles, renderMailData } from "../cloud-init";
import { hashPassword } from "../components/passwords";
import type { MailSpec } from "../components/spec";
import { remoteCommand, ScriptName } from "../scripts/commands";
import { acmeLabCa } from "./acme";
import { sshAsync, STATE_DIR } from "./infra";
import { LAB_PASSWORDS, LAB_RELAY } from "./spec";

export interface ProvisionResult {
    ran: boolean;
    ok: boolean;
    detail: string;
    steps?: { step: string; status: number; ms: number; output: string }[];
}

/** A fixed lab salt per address (22 chars of bcrypt's alphabet), like the stack's stable salt. */
function labSalt(address: string): string {
    const alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    return [...createHash("sha256").update(`mailstack-lab:${address}`).digest()].slice(0, 22).map((b) => alphabet[b % 64]).join("");
}

/** The lab's DKIM private keys (one per domain), kept in the state dir for the checks. */
export function labDkimKeys(spec: MailSpec): Record<string, string> {
    const dir = path.join(STATE_DIR, "dkim");
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const keys: Record<string, string> = {};
    for (const d of spec.domains) {
        const file = path.join(dir, `${d.name}.pem`);
        if (!fs.existsSync(file)) {
            const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs1", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });
            fs.writeFileSync(file, privateKey, { mode: 0o600 });
        }
        keys[d.name] = fs.readFileSync(file, "utf8");
    }
    return keys;
}

/** The bundles of the three steps, from the project's renderers. */
export function labBundles(spec: MailSpec, passwords: Readonly<Record<string, string>> = LAB_PASSWORDS): { hostConfig: string; dkim: string; mailData: string } {
    const passwordHashes = Object.fromEntries(Object.entries(passwords).map(([a, p]) => [a, hashPassword(p, labSalt(a))]));
    return {
        hostConfig: renderBundle(renderHostFiles(spec)),
        dkim: renderBundle(renderDkimFiles(spec, { privateKeysPem: labDkimKeys(spec) })),
        mailData: renderBundle(renderMailData(spec, { passwordHashes, relayPassword: LAB_RELAY.password })),
    };
}

/** Run one provisioning script on the lab server exactly as the stack would. */
export async function runStep(script: ScriptName, stdin?: string): Promise<{ status: number; output: string; ms: number }> {
    const start = Date.now();
    const r = await sshAsync(remoteCommand(script), { input: stdin ?? "", allowFail: true, timeoutMs: 600_000 });
    return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}`.trim(), ms: Date.now() - start };
}

/** `passwords` defaults to the lab's; a check adding a mailbox passes its own (same path). */
export async function provision(spec: MailSpec, passwords: Readonly<Record<string, string>> = LAB_PASSWORDS): Promise<ProvisionResult> {
    const bundles = labBundles(spec, passwords);
    const steps: ProvisionResult["steps"] = [];
    const failed = (step: string, r: { status: number; output: string }) => ({ ran: true, ok: false, steps, detail: `${step} failed (exit ${r.status}): ${r.output.slice(-1500)}` });
    for (const [step, script, stdin] of [
        ["first-boot", "wait-first-boot.sh", undefined],
        ["host-config", "apply-bundle.sh", bundles.hostConfig],
        ["dkim", "apply-bundle.sh", bundles.dkim],
        ["mail-data", "apply-bundle.sh", bundles.mailData],
    ] as const) {
        const r = await runStep(script, stdin);
        steps.push({ step, ...r });
        if (r.status !== 0) return failed(step, r);
    }
    // Lab only: trust the lab CA behind pebble's HTTPS, the hook issue-certificate.sh offers
    // for a test CA. Written only when it differs, so a second run changes nothing.
    const ca = await sshAsync("f=/etc/mailstack/acme-ca.pem; t=$(mktemp); cat >\"$t\"; if cmp -s \"$t\" \"$f\"; then rm -f \"$t\"; else install -m 0644 \"$t\" \"$f\" && rm -f \"$t\"; fi", {
        input: acmeLabCa(),
        allowFail: true,
    });
    if (ca.status !== 0) return failed("lab ACME CA", { status: ca.status ?? -1, output: ca.stderr });
    // As in the stack: after the host's A/AAAA records exist (here: the lab DNS is up).
    const cert = await runStep("issue-certificate.sh");
    steps.push({ step: "certificate", ...cert });
    if (cert.status !== 0) return failed("certificate", cert);
    return { ran: true, ok: true, steps, detail: steps.map((s) => `${s.step} ${(s.ms / 1000).toFixed(1)} s`).join(", ") };
}
