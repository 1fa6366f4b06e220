// The provisioning plan: the ordered steps that follow the first boot, each a script from
// scripts/ with a bundle on its standard input. The Pulumi component (components/
// provisioning.ts) turns each step into a command.remote.Command; the lab (lab/provision.ts)
// runs the very same steps over SSH in the same order. A step is added here, once.

import type { MailSpec } from "../spec";
import type { ScriptName } from "../scripts/commands";
import { renderBundle } from "./bundle";
import { renderDkimFiles } from "./dkim";
import { renderHostFiles } from "./host-files";
import { renderMailData } from "./mail-data";

/** The secrets and deploy-time values some steps render their stdin from. */
export interface PlanInputs {
    /** Domain -> PEM DKIM private key. */
    readonly dkimPrivateKeysPem: Readonly<Record<string, string>>;
    /** Address -> `{BLF-CRYPT}` hash for Dovecot's passwd-file. */
    readonly passwordHashes: Readonly<Record<string, string>>;
    /** The relay's SASL password, when spec.relay is set. */
    readonly relayPassword?: string;
}

export type StepRole = "first-boot" | "host-config" | "dkim" | "mail-data" | "certificate";

export interface ProvisioningStep {
    readonly role: StepRole;
    readonly script: ScriptName;
    /** The inputs its stdin is rendered from; a step re-runs when any of them changes. */
    readonly uses: readonly (keyof PlanInputs)[];
    /** Its stdin, from the spec and the inputs named in `uses`; none when absent. */
    readonly stdin?: (spec: MailSpec, inputs: PlanInputs) => string;
    /** Whether the stdin holds secrets (kept secret in state and never printed). */
    readonly secret: boolean;
    /** Steps that must have succeeded first. */
    readonly after: readonly StepRole[];
    /** Needs the hostname's A/AAAA records to point at the server (ACME HTTP-01). */
    readonly needsHostDns: boolean;
    /** Values besides the script and stdin whose change re-runs the step. */
    readonly triggers: (spec: MailSpec) => readonly unknown[];
}

const none = () => [] as const;

export const PROVISIONING_PLAN: readonly ProvisioningStep[] = [
    // Waits until cloud-init's first boot has finished (and reports how it went).
    {
        role: "first-boot",
        script: "wait-first-boot.sh",
        uses: [],
        secret: false,
        after: [],
        needsHostDns: false,
        triggers: none,
    },
    // The static configuration, the same files the user-data wrote, so a changed template
    // reaches a running server.
    {
        role: "host-config",
        script: "apply-bundle.sh",
        uses: [],
        stdin: (spec) => renderBundle(renderHostFiles(spec)),
        secret: false,
        after: ["first-boot"],
        needsHostDns: false,
        triggers: none,
    },
    {
        role: "dkim",
        script: "apply-bundle.sh",
        uses: ["dkimPrivateKeysPem"],
        stdin: (spec, i) => renderBundle(renderDkimFiles(spec, { privateKeysPem: i.dkimPrivateKeysPem })),
        secret: true,
        after: ["host-config"],
        needsHostDns: false,
        triggers: none,
    },
    // Domains, mailboxes, aliases and password hashes: the step a new mailbox re-runs.
    {
        role: "mail-data",
        script: "apply-bundle.sh",
        uses: ["passwordHashes", "relayPassword"],
        stdin: (spec, i) =>
            renderBundle(
                renderMailData(spec, {
                    passwordHashes: i.passwordHashes,
                    ...(i.relayPassword !== undefined ? { relayPassword: i.relayPassword } : {}),
                }),
            ),
        secret: true,
        after: ["host-config", "dkim"],
        needsHostDns: false,
        triggers: none,
    },
    // HTTP-01 needs the hostname's A/AAAA records to point at this server first.
    {
        role: "certificate",
        script: "issue-certificate.sh",
        uses: [],
        secret: false,
        after: ["host-config"],
        needsHostDns: true,
        triggers: (spec) => [spec.hostname, spec.acmeServer, spec.acmeEmail],
    },
];
