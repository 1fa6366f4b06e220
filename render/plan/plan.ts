// The provisioning plan: the ordered steps that follow the first boot, each a script from
// scripts/ (or one the user-data installed) with its stdin rendered here. The Pulumi
// component (components/provisioning.ts) turns each step into a command.remote.Command;
// the lab (lab/scenarios/provision.ts) runs the very same steps over SSH in the same order, pinned the
// same way. A step is added here, once.

import { remoteCommand, type ScriptName } from "../../scripts/commands";
import type { MailSpec } from "../../model";
import { renderBackupFiles, type BackupSecrets } from "../host/backup";
import { renderBundle } from "./bundle";
import { certificateNames, renderCertificateRequests } from "../host/client-config";
import { DKIM_KEYS_PRUNE, renderDkimFiles } from "../host/dkim";
import { HOST_CONFIG_PRUNE, packageStep, renderHostFiles } from "../features";
import { APPLE_PROFILES_PRUNE, renderAppleProfiles } from "../host/client-config";
import { IMPORT_PRUNE, renderImportFiles } from "../host/import";
import { renderMailData } from "../host/mail-data";
import { renderTrustedRelays } from "../host/filter";
import { migrateCommand } from "../host/migrations";
import { ED25519_PUBLIC_KEY } from "../boot/user-data";
import {
    renderRelayData,
    renderSecondaryHostFiles,
    renderSecondaryPackageList,
    secondaryOf,
} from "../features/backup-mx";

/** The secrets and deploy-time values some steps render their stdin from. */
export interface PlanInputs {
    /** Domain -> PEM DKIM private key. */
    readonly dkimPrivateKeysPem: Readonly<Record<string, string>>;
    /** Address -> `{BLF-CRYPT}` hash for Dovecot's passwd-file. */
    readonly passwordHashes: Readonly<Record<string, string>>;
    /** The relay's SASL password, when spec.relay is set. */
    readonly relayPassword?: string;
    /** The backup repository's password and credentials, when spec.backup is set. */
    readonly backup?: BackupSecrets;
    /** mailbox -> the old account's password, one per spec.imports entry. */
    readonly importPasswords?: Readonly<Record<string, string>>;
    /** The backup MX's IPv4 and IPv6 address, when spec.secondaryMx is set: the primary trusts its Received: lines. */
    readonly secondaryMxAddresses?: readonly string[];
    /** The primary's IPv4 and IPv6 address, when spec.secondaryMx is set: the backup MX takes ETRN from them only. */
    readonly primaryAddresses?: readonly string[];
}

export type StepRole =
    | "host-key"
    | "first-boot"
    | "packages"
    | "host-config"
    | "dkim"
    | "mail-data"
    | "mail-volume"
    | "certificate"
    | "backup"
    | "import"
    /** The backup MX's domains and valid addresses (render/features/backup-mx.ts). */
    | "relay-data";

/** Outside things a step must wait for, besides other steps. */
export type StepWait =
    /** The hostname's A/AAAA records point at the server (ACME HTTP-01). */
    | "host-dns"
    /** Every domain's DKIM record of its signing selector exists (a new key is published before it signs). */
    | "dkim-dns"
    /** Hetzner has the mail volume at its configured size. */
    | "volume-size";

export interface ProvisioningStep {
    readonly role: StepRole;
    /** The command text run over SSH. */
    readonly command: () => string;
    /** The inputs its stdin is rendered from; a step re-runs when any of them changes. */
    readonly uses: readonly (keyof PlanInputs)[];
    /** Its stdin, from the spec and the inputs named in `uses`; none when absent. */
    readonly stdin?: (spec: MailSpec, inputs: PlanInputs) => string;
    /** Whether the stdin holds secrets (kept secret in state and never printed). */
    readonly secret: boolean;
    /**
     * Which host key the connection pins: the provisional one from the user-data, or the one
     * the host-key step made on the server and printed.
     */
    readonly pin: "provisional" | "replaced";
    /** Steps that must have succeeded first. */
    readonly after: readonly StepRole[];
    readonly waitsFor: readonly StepWait[];
    /** Values besides the command and stdin whose change re-runs the step. */
    readonly triggers: (spec: MailSpec) => readonly unknown[];
}

/**
 * The host-key step's command. It is fixed text on purpose: it connects pinned to the
 * provisional key, which is gone after its first run, so it must never run again on the
 * same server (only a new server, with the provisional key again, re-runs it).
 */
export const HOST_KEY_COMMAND = "cloud-init status --wait >/dev/null 2>&1; exec /usr/local/sbin/mailstack-host-key";

/**
 * The steps after which https://mta-sts.<domain>/ serves the current policy: host-config
 * writes it, certificate makes its name valid. The `_mta-sts` record (its id) is published
 * only after both, so no sender is told of a policy it cannot fetch yet.
 */
export const MTA_STS_POLICY_STEPS: readonly StepRole[] = ["host-config", "certificate"];

/** The replaced host key from the host-key step's output (its last line). */
export function hostKeyFromReport(stdout: string): string {
    const key = stdout.trim().split("\n").pop()?.trim() ?? "";
    if (!ED25519_PUBLIC_KEY.test(key))
        throw new Error(`host-key step: expected an ssh-ed25519 public key, got "${key.slice(0, 80)}"`);
    return key;
}

/**
 * The packages step's stdin: every package, then every unit to run once they are there.
 * The webmail's (mailstack:webmail) and the calendar server's (mailstack:dav) come only with
 * this step, never with the user-data.
 */
export function renderPackageList(spec: MailSpec): string {
    const { packages, units } = packageStep(spec);
    return [...packages.map((p) => `package ${p}`), ...units.map((u) => `unit ${u}`)].join("\n") + "\n";
}

const script = (name: ScriptName) => () => remoteCommand(name);
const none = () => [] as const;

export const PROVISIONING_PLAN: readonly ProvisioningStep[] = [
    // Waits for the first boot, then replaces the provisional host key and prints the new one.
    {
        role: "host-key",
        command: () => HOST_KEY_COMMAND,
        uses: [],
        secret: false,
        pin: "provisional",
        after: [],
        waitsFor: [],
        triggers: none,
    },
    // Reports how cloud-init's first boot went; fails on any error.
    {
        role: "first-boot",
        command: script("wait-first-boot.sh"),
        uses: [],
        secret: false,
        pin: "replaced",
        after: ["host-key"],
        waitsFor: [],
        triggers: none,
    },
    // Today's package list: the user-data's is the first deploy's, forever.
    {
        role: "packages",
        command: script("install-packages.sh"),
        uses: [],
        stdin: (spec) => renderPackageList(spec),
        secret: false,
        pin: "replaced",
        after: ["first-boot"],
        waitsFor: [],
        triggers: none,
    },
    // The static configuration, the same files the user-data wrote, so a changed template
    // reaches a running server. First the mail volume's state migrations (migrations.ts):
    // a volume newer than this mailstack stops the step before any file is written.
    {
        role: "host-config",
        command: () => `${migrateCommand()} && ${remoteCommand("apply-bundle.sh")}`,
        uses: [],
        stdin: (spec) => renderBundle(renderHostFiles(spec), HOST_CONFIG_PRUNE),
        secret: false,
        pin: "replaced",
        after: ["packages"],
        waitsFor: [],
        triggers: none,
    },
    {
        role: "dkim",
        command: script("apply-bundle.sh"),
        uses: ["dkimPrivateKeysPem"],
        stdin: (spec, i) =>
            renderBundle(renderDkimFiles(spec, { privateKeysPem: i.dkimPrivateKeysPem }), [DKIM_KEYS_PRUNE]),
        secret: true,
        pin: "replaced",
        after: ["host-config"],
        // A new key (a new selector) signs only once its record is published.
        waitsFor: ["dkim-dns"],
        triggers: none,
    },
    // Domains, mailboxes, aliases and password hashes: the step a new mailbox re-runs.
    {
        role: "mail-data",
        command: script("apply-bundle.sh"),
        uses: ["passwordHashes", "relayPassword", "secondaryMxAddresses"],
        stdin: (spec, i) =>
            renderBundle(
                [
                    ...renderMailData(spec, {
                        passwordHashes: i.passwordHashes,
                        ...(i.relayPassword !== undefined ? { relayPassword: i.relayPassword } : {}),
                    }),
                    ...renderAppleProfiles(spec),
                    renderTrustedRelays(spec, i.secondaryMxAddresses),
                ],
                [APPLE_PROFILES_PRUNE],
            ),
        secret: true,
        pin: "replaced",
        after: ["host-config", "dkim"],
        waitsFor: [],
        triggers: none,
    },
    // A larger mailVolumeSizeGb: Hetzner grows the volume, this grows its ext4, online.
    {
        role: "mail-volume",
        command: script("grow-mail-volume.sh"),
        uses: [],
        secret: false,
        pin: "replaced",
        after: ["first-boot"],
        waitsFor: ["volume-size"],
        triggers: (spec) => [spec.mailVolumeSizeGb],
    },
    // The host's certificates (stdin: one a line, lineage and names): the hostname and the
    // client names of 33 domains in the first, 33 more in each further one. A new domain
    // extends the last one, a removed one shrinks them; the same names again request nothing.
    {
        role: "certificate",
        command: script("issue-certificate.sh"),
        uses: [],
        stdin: (spec) => renderCertificateRequests(spec),
        secret: false,
        pin: "replaced",
        after: ["host-config"],
        waitsFor: ["host-dns"],
        triggers: (spec) => [spec.hostname, spec.acmeServer, spec.acmeEmail, ...certificateNames(spec)],
    },
    // restic: the repository's settings and secrets, the script and its timers; then the
    // timers are enabled (a repository is configured) or disabled (none is).
    {
        role: "backup",
        command: () => `${remoteCommand("apply-bundle.sh")} && /usr/local/sbin/mailstack-backup enable`,
        uses: ["backup"],
        stdin: (spec, i) => renderBundle(renderBackupFiles(spec, i.backup)),
        secret: true,
        pin: "replaced",
        after: ["mail-data"],
        waitsFor: [],
        triggers: none,
    },
    // Old IMAP accounts imported into mailboxes (render/host/import.ts): each account's
    // settings and password, the script and its timer; then the timer is enabled and a first
    // run started, or, with no import left, the timer is stopped and its units are gone.
    {
        role: "import",
        command: () => `${remoteCommand("apply-bundle.sh")} && /usr/local/sbin/mailstack-import enable`,
        uses: ["importPasswords"],
        stdin: (spec, i) => renderBundle(renderImportFiles(spec, i.importPasswords), IMPORT_PRUNE),
        secret: true,
        pin: "replaced",
        // The mailboxes exist (mail-data) and mbsync is installed (packages, before host-config).
        after: ["mail-data"],
        waitsFor: [],
        triggers: none,
    },
];

/** A step of the primary's plan, by role (the backup MX runs several of them unchanged). */
function primaryStep(role: StepRole): ProvisioningStep {
    return PROVISIONING_PLAN.find((s) => s.role === role)!;
}

/**
 * The backup MX's plan (mailstack:secondaryMx), run the same way against its own server:
 * the same host-key pinning and first-boot report, its own packages and host files, the
 * domains and valid addresses (relay-data: the step a new mailbox, alias or domain re-runs
 * here, with mail-data on the primary), its queue volume and its own certificate. No step
 * carries a secret: it holds no password and no key but its own.
 */
export const SECONDARY_PROVISIONING_PLAN: readonly ProvisioningStep[] = [
    primaryStep("host-key"),
    primaryStep("first-boot"),
    {
        ...primaryStep("packages"),
        stdin: () => renderSecondaryPackageList(),
    },
    {
        ...primaryStep("host-config"),
        // No state migrations: its volume holds the queue, the certificate and rspamd's state only.
        command: script("apply-bundle.sh"),
        stdin: (spec) => renderBundle(renderSecondaryHostFiles(spec)),
    },
    {
        role: "relay-data",
        command: script("apply-bundle.sh"),
        uses: ["primaryAddresses"],
        stdin: (spec, i) => renderBundle(renderRelayData(spec, i.primaryAddresses)),
        secret: false,
        pin: "replaced",
        after: ["host-config"],
        waitsFor: [],
        triggers: none,
    },
    {
        ...primaryStep("mail-volume"),
        triggers: (spec) => [secondaryOf(spec).queueVolumeSizeGb],
    },
    {
        ...primaryStep("certificate"),
        stdin: (spec) => {
            const name = secondaryOf(spec).hostname;
            return `${name} ${name}\n`;
        },
        triggers: (spec) => [secondaryOf(spec).hostname, spec.acmeServer, spec.acmeEmail],
    },
];
