// Provisioning in the lab: the stack's provisioning plan (render/plan/plan.ts), step by
// step, with the very same scripts and bundles, over SSH with the deploy key. The
// certificate comes from the lab's ACME CA (lab/world/acme.ts).

import { createHash, createPublicKey, generateKeyPairSync } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import {
    hostKeyFromReport,
    PROVISIONING_PLAN,
    SECONDARY_PROVISIONING_PLAN,
    type PlanInputs,
    type ProvisioningStep,
    type StepRole,
} from "../../render/plan/plan";
import { BCRYPT_SALT_ALPHABET, BCRYPT_SALT_LENGTH, hashPassword } from "../../render/plan/passwords";
import { remoteCommand, type ScriptName } from "../../scripts/commands";
import type { MailSpec } from "../../model";
import { acmeLabCa } from "../world/acme";
import { applyCloudFirewall, applySecondaryFirewall } from "../world/firewall";
import { STATE_DIR } from "../harness/processes";
import { NET } from "../harness/net";
import {
    pinHostKey,
    pinnedHostKey,
    PRIMARY,
    provisionalHostKey,
    SECONDARY,
    sshAsync,
    type SshTarget,
} from "../harness/ssh";
import { LAB_PASSWORDS, LAB_RELAY, LAB_SENDER_PASSWORDS } from "../lab-config";
import { backupClientKey, LAB_BACKUP_PASSWORD } from "../world/storagebox";

export interface ProvisionResult {
    ran: boolean;
    ok: boolean;
    detail: string;
    steps?: { step: string; status: number; ms: number; output: string }[];
}

/** A fixed lab salt per address, like the stack's stable salt. */
function labSalt(address: string): string {
    const bytes = [...createHash("sha256").update(`mailstack-lab:${address}`).digest()];
    return bytes
        .slice(0, BCRYPT_SALT_LENGTH)
        .map((b) => BCRYPT_SALT_ALPHABET[b % BCRYPT_SALT_ALPHABET.length])
        .join("");
}

/**
 * The lab's DKIM private key of one domain and selector (as the stack's tls.PrivateKey per
 * domain and selector), made once per lab run in the state dir.
 */
export function labDkimKey(domain: string, selector: string): string {
    const dir = path.join(STATE_DIR, "dkim");
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, `${domain}.${selector}.pem`);
    if (!fs.existsSync(file)) {
        const { privateKey } = generateKeyPairSync("rsa", {
            modulusLength: 2048,
            privateKeyEncoding: { type: "pkcs1", format: "pem" },
            publicKeyEncoding: { type: "spki", format: "pem" },
        });
        fs.writeFileSync(file, privateKey, { mode: 0o600 });
    }
    return fs.readFileSync(file, "utf8");
}

/** The lab's DKIM private keys of the signing selectors, domain -> PEM. */
export function labDkimKeys(spec: MailSpec): Record<string, string> {
    return Object.fromEntries(spec.domains.map((d) => [d.name, labDkimKey(d.name, d.dkimSelector)]));
}

/** The public half (SPKI PEM) of labDkimKey: what the stack's DNS publishes for that selector. */
export function labDkimPublicKeyPem(domain: string, selector: string): string {
    return createPublicKey(labDkimKey(domain, selector)).export({ type: "spki", format: "pem" }).toString();
}

/** The public halves of labDkimKeys, domain -> SPKI PEM. */
export function labDkimPublicKeysPem(spec: MailSpec): Record<string, string> {
    return Object.fromEntries(spec.domains.map((d) => [d.name, labDkimPublicKeyPem(d.name, d.dkimSelector)]));
}

/**
 * What the stack would hand the plan: lab keys, lab password hashes, the lab relay's
 * password, the backup repository's password and the server's key for the Storage Box.
 */
export function labPlanInputs(spec: MailSpec, passwords: Readonly<Record<string, string>> = LAB_PASSWORDS): PlanInputs {
    return {
        dkimPrivateKeysPem: labDkimKeys(spec),
        // The mailboxes' passwords as given, and each sender's (mailstack:senders) from the lab's own.
        passwordHashes: Object.fromEntries(
            [...Object.entries(passwords), ...spec.senders.map((a) => [a, LAB_SENDER_PASSWORDS[a]] as const)].map(
                ([a, p]) => [a, hashPassword(p, labSalt(a))],
            ),
        ),
        ...(spec.relay ? { relayPassword: LAB_RELAY.password } : {}),
        ...(spec.backup
            ? { backup: { password: LAB_BACKUP_PASSWORD, sshPrivateKey: backupClientKey().privateKeyOpenssh } }
            : {}),
        // The backup MX's primary IPs, which the primary's rspamd trusts (mail-data).
        ...(spec.secondaryMx ? { secondaryMxAddresses: [NET.mx2Server4, NET.mx2Server6] } : {}),
        // The primary's, from which the backup MX takes ETRN (relay-data).
        ...(spec.secondaryMx ? { primaryAddresses: [NET.server4, NET.server6] } : {}),
    };
}

/** Run one command on the lab server exactly as the stack's step would. */
async function runCommand(
    command: string,
    stdin?: string,
    target: SshTarget = PRIMARY,
): Promise<{ status: number; output: string; ms: number }> {
    const start = Date.now();
    const r = await sshAsync(command, { input: stdin ?? "", allowFail: true, timeoutMs: 600_000 }, target);
    return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}`.trim(), ms: Date.now() - start };
}

/** Run one provisioning script on the lab server exactly as the stack would. */
export function runStep(script: ScriptName, stdin?: string): Promise<{ status: number; output: string; ms: number }> {
    return runCommand(remoteCommand(script), stdin);
}

/**
 * Lab only: trust the lab CA behind pebble's HTTPS, the hook issue-certificate.sh offers for
 * a test CA. Written only when it differs, so a second run changes nothing.
 */
async function trustLabAcmeCa(target: SshTarget): Promise<{ status: number; output: string }> {
    const r = await sshAsync(
        'f=/etc/mailstack/acme-ca.pem; t=$(mktemp); cat >"$t"; if cmp -s "$t" "$f"; then rm -f "$t"; else install -m 0644 "$t" "$f" && rm -f "$t"; fi',
        { input: acmeLabCa(), allowFail: true },
        target,
    );
    return { status: r.status ?? -1, output: r.stderr };
}

/** One step of a provisioning plan, rendered: the command and stdin a `pulumi up` would send. */
export interface RenderedStep {
    role: string;
    command: string;
    stdin?: string;
    pin: "provisional" | "replaced";
    waitsFor: readonly string[];
}

/**
 * Run rendered steps in their order, as `pulumi up` runs the plan's Commands: the lab's own
 * provisioning (below) and an earlier mailstack's plan (lab/harness/earlier.ts) both go
 * through here.
 */
export async function runSteps(steps: readonly RenderedStep[], target: SshTarget = PRIMARY): Promise<ProvisionResult> {
    const done: NonNullable<ProvisionResult["steps"]> = [];
    const failed = (step: string, r: { status: number; output: string }) => ({
        ran: true,
        ok: false,
        steps: done,
        detail: `${step} failed (exit ${r.status}): ${r.output.slice(-1500)}`,
    });
    for (const step of steps) {
        // As in the stack, where its inputs never change on one server: host-key runs once,
        // and the key it made stays pinned.
        if (step.pin === "provisional" && pinnedHostKey(target) !== provisionalHostKey(target).publicKeyOpenssh)
            continue;
        // The stack orders this step after the host's DNS records; in the lab, the DNS is up
        // before provisioning starts, and the lab's ACME CA must be trusted first.
        if (step.waitsFor.includes("host-dns")) {
            const ca = await trustLabAcmeCa(target);
            if (ca.status !== 0) return failed("lab ACME CA", ca);
        }
        const r = await runCommand(step.command, step.stdin, target);
        done.push({ step: step.role, ...r });
        if (r.status !== 0) return failed(step.role, r);
        // From here on, ssh expects the key the server made (connection.hostKey in the stack).
        if (step.role === "host-key") pinHostKey(hostKeyFromReport(r.output), target);
    }
    return {
        ran: true,
        ok: true,
        steps: done,
        detail: done.map((s) => `${s.step} ${(s.ms / 1000).toFixed(1)} s`).join(", "),
    };
}

/**
 * Every step of the plan, in order. `passwords` defaults to the lab's; a check adding a
 * mailbox passes its own (same path). `only` runs a subset (still in plan order). `extra`:
 * further secrets a check's config needs (the import check's old-account passwords).
 */
export async function provision(
    spec: MailSpec,
    passwords: Readonly<Record<string, string>> = LAB_PASSWORDS,
    only?: readonly StepRole[],
    extra: Partial<PlanInputs> = {},
): Promise<ProvisionResult> {
    const inputs = { ...labPlanInputs(spec, passwords), ...extra };
    // `pulumi up` updates the cloud firewall with the config (a relay's port, the backup's).
    applyCloudFirewall(spec);
    return runSteps(renderSteps(PROVISIONING_PLAN, spec, inputs, only));
}

function renderSteps(
    plan: readonly ProvisioningStep[],
    spec: MailSpec,
    inputs: PlanInputs,
    only?: readonly StepRole[],
): RenderedStep[] {
    return plan
        .filter((step) => !only || only.includes(step.role))
        .map((step) => ({
            role: step.role,
            command: step.command(),
            stdin: step.stdin?.(spec, inputs),
            pin: step.pin,
            waitsFor: step.waitsFor,
        }));
}

/**
 * The steps of `plan` a `pulumi up` runs again when the config goes from `before` to `after`
 * (MailProvisioning, components/provisioning.ts): those whose triggers changed (a
 * replacement), and those whose command or stdin changed (an update, which runs `create`
 * again), but a step pinned to the provisional host key only on new triggers (its other
 * inputs are ignored).
 */
export function stepsChangedBy(
    plan: readonly ProvisioningStep[],
    before: { spec: MailSpec; inputs: PlanInputs },
    after: { spec: MailSpec; inputs: PlanInputs },
): StepRole[] {
    const key = (step: ProvisioningStep, s: { spec: MailSpec; inputs: PlanInputs }, all: boolean) =>
        JSON.stringify([
            step.triggers(s.spec),
            ...(all ? [step.command(), step.stdin?.(s.spec, s.inputs) ?? null] : []),
        ]);
    return plan
        .filter((step) => {
            const all = step.pin !== "provisional";
            return key(step, before, all) !== key(step, after, all);
        })
        .map((step) => step.role);
}

/**
 * The backup MX's side of a `pulumi up` that takes the config from `before` to `after`: the
 * steps of its plan whose inputs changed (stepsChangedBy), run as provisionSecondary runs
 * them. Returns which steps ran, with their result.
 */
export async function updateSecondary(
    before: MailSpec,
    after: MailSpec,
): Promise<ProvisionResult & { roles: StepRole[] }> {
    const roles = stepsChangedBy(
        SECONDARY_PROVISIONING_PLAN,
        { spec: before, inputs: labPlanInputs(before) },
        { spec: after, inputs: labPlanInputs(after) },
    );
    return { ...(await provisionSecondary(after, roles)), roles };
}

/**
 * The backup MX's plan (SECONDARY_PROVISIONING_PLAN) against the lab's second server, as the
 * stack runs it against its own server: no secret goes there. Its firewall first, as `pulumi
 * up` updates it with the config. `only`: a subset, e.g. relay-data after a new mailbox.
 */
export async function provisionSecondary(spec: MailSpec, only?: readonly StepRole[]): Promise<ProvisionResult> {
    applySecondaryFirewall(spec);
    return runSteps(renderSteps(SECONDARY_PROVISIONING_PLAN, spec, labPlanInputs(spec), only), SECONDARY);
}
