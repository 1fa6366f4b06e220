// Provisioning over SSH: each step of the plan (render/plan/plan.ts) is its own command, so
// a new mailbox re-runs only `mail-data`, and a replaced server (new id) re-runs them all.
// What changes over time or is secret goes as bundles on the scripts' standard input.
//
// Every connection pins the server's host key: the host-key step pins the provisional key
// from the user-data and prints the key it made on the server instead; every later step
// pins that one. A server that shows another key is refused, so nothing secret ever goes
// to whatever answers on the address.

import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

import {
    hostKeyFromReport,
    PROVISIONING_PLAN,
    type PlanInputs,
    type ProvisioningStep,
    type StepRole,
    type StepWait,
} from "../render/plan/plan";
import type { BackupSecrets } from "../render/host/backup";
import type { MailSpec } from "../model";

export interface MailProvisioningArgs {
    /** The validated configuration. */
    readonly spec: MailSpec;
    /** Server id: when it changes (a replaced server) every step runs again. */
    readonly serverId: pulumi.Input<string>;
    /** Address the deployer reaches the server on. */
    readonly host: pulumi.Input<string>;
    /** OpenSSH private key of the deploy key. */
    readonly privateKey: pulumi.Input<string>;
    /** `ssh-ed25519 ...` of the provisional host key in the user-data. */
    readonly provisionalHostKey: pulumi.Input<string>;
    /** Address -> `{BLF-CRYPT}` hash for Dovecot's passwd-file. */
    readonly passwordHashes: pulumi.Input<Record<string, string>>;
    /** Domain -> PEM DKIM private key. */
    readonly dkimPrivateKeysPem: Record<string, pulumi.Input<string>>;
    /** SASL password for the optional relay. */
    readonly relayPassword?: pulumi.Input<string>;
    /** The backup repository's password and credentials, when spec.backup is set. */
    readonly backup?: pulumi.Input<BackupSecrets>;
    /** mailbox -> the old account's password, for mailstack:imports (secret). */
    readonly importPasswords?: pulumi.Input<Record<string, string>>;
    /** The backup MX's addresses, when spec.secondaryMx is set (the primary trusts its Received: lines). */
    readonly secondaryMxAddresses?: pulumi.Input<pulumi.Input<string>[]>;
    /** The primary's addresses, for the backup MX's plan (it takes ETRN from them only). */
    readonly primaryAddresses?: pulumi.Input<pulumi.Input<string>[]>;
    /** The steps to run: the mail server's plan (default), or the backup MX's (SECONDARY_PROVISIONING_PLAN). */
    readonly plan?: readonly ProvisioningStep[];
    /** The resources behind each outside condition a step waits for. */
    readonly waitFor: Readonly<Record<StepWait, readonly pulumi.Input<pulumi.Resource>[]>>;
}

/** What a step with a secret stdin keeps encrypted in the state. */
export const SECRET_STEP_OUTPUTS = ["stdout", "stderr"];

/**
 * The inputs a step pinned to the provisional host key ignores: all but its triggers.
 *
 * pulumi-command (v1.x, provider/pkg/provider/common/inputs.go) marks only `triggers` as
 * replaceOnChanges; any other change (the `connection`'s timeouts or deploy key, the
 * command text, a new input such as `logging`) is an update, and Update runs `update`, or
 * `create` when there is none (provider/pkg/provider/remote/commandController.go). Either
 * dials the connection first, pinned to the provisional key the server no longer has, so
 * `pulumi up` would fail. An `update` command does not help: it dials the same way.
 *
 * ignoreChanges makes the engine put the state's old values in place of the program's
 * (pulumi/pulumi#2657), secret ones too: the provider marks `connection` secret, and the
 * engine unwraps secrets along an ignored path since pulumi/pulumi#14565 (Nov 2023; before
 * it, pulumi/pulumi#6272: an ignored property with a secret value became null, an update
 * again). A Pulumi CLI of 2024 or later is needed; test/provisioning.test.ts emulates this.
 * Those old values are also what a replacement (a new server) creates with: the same
 * primary IP and the same provisional key (both stay in state; the server ignores a new
 * user-data and SSH key list the same way), and the first deploy's private deploy key.
 */
function onlyTriggersCount(args: command.remote.CommandArgs): string[] {
    return Object.keys(args).filter((k) => k !== "triggers");
}

/** `first-boot` -> `firstBoot`, the key of the step's report. */
const reportKey = (role: StepRole) => role.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());

export class MailProvisioning extends pulumi.ComponentResource {
    /** What each step reported (no secrets are printed by the scripts). */
    public readonly reports: Record<string, pulumi.Output<string>>;
    /** The host key the server has after the host-key step: what `ssh` should expect. */
    public readonly hostKey: pulumi.Output<string>;
    /** Each step's command, for resources that must wait for one. */
    public readonly steps: ReadonlyMap<StepRole, command.remote.Command>;

    constructor(name: string, args: MailProvisioningArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mailstack:provisioning:MailProvisioning", name, {}, opts);
        const { spec } = args;
        const connection = (hostKey: pulumi.Input<string>): command.types.input.remote.ConnectionArgs => ({
            host: args.host,
            user: "root",
            privateKey: args.privateKey,
            hostKey,
            // The first boot installs packages before sshd is final; keep trying for ~10 minutes.
            dialErrorLimit: 60,
            perDialTimeout: 10,
        });
        const inputs: Record<keyof PlanInputs, pulumi.Input<unknown>> = {
            dkimPrivateKeysPem: pulumi.all(args.dkimPrivateKeysPem),
            passwordHashes: args.passwordHashes,
            relayPassword: args.relayPassword,
            backup: args.backup,
            importPasswords: args.importPasswords ?? {},
            secondaryMxAddresses: args.secondaryMxAddresses,
            primaryAddresses: args.primaryAddresses,
        };
        const plan = args.plan ?? PROVISIONING_PLAN;
        const done = new Map<StepRole, command.remote.Command>();
        let replacedKey: pulumi.Output<string> | undefined;
        for (const step of plan) {
            const render = step.stdin;
            // Only the inputs the step names, so that a new mailbox changes mail-data's stdin only.
            const used = pulumi.all(Object.fromEntries(step.uses.map((k) => [k, inputs[k]])));
            const stdin = render ? used.apply((values) => render(spec, values as unknown as PlanInputs)) : undefined;
            if (step.pin === "replaced" && !replacedKey)
                throw new Error(`plan: ${step.role} pins the replaced key before the host-key step`);
            const commandArgs: command.remote.CommandArgs = {
                connection: connection(step.pin === "provisional" ? args.provisionalHostKey : replacedKey!),
                create: step.command(),
                ...(stdin !== undefined ? { stdin: step.secret ? pulumi.secret(stdin) : stdin } : {}),
                triggers: [args.serverId, ...step.triggers(spec)],
                // PULUMI_COMMAND_STDOUT would need AcceptEnv on the server; we do not use it.
                addPreviousOutputInEnv: false,
                // A secret stdin: whatever the script prints stays out of the console and the
                // update's log, and its stdout and stderr are encrypted in the state (below).
                // The provider's error for a failed run still carries both (its run() wraps
                // them into the error: provider/pkg/provider/remote/commandOutputs.go).
                ...(step.secret ? { logging: "none" as const } : {}),
            };
            const cmd = new command.remote.Command(`${name}-${step.role}`, commandArgs, {
                parent: this,
                dependsOn: [...step.after.map((r) => done.get(r)!), ...step.waitsFor.flatMap((w) => args.waitFor[w])],
                ...(step.secret ? { additionalSecretOutputs: SECRET_STEP_OUTPUTS } : {}),
                // Pinned to the provisional key, which is gone after its first run: only a
                // replacement (a new server id in its triggers) may run it again.
                ...(step.pin === "provisional" ? { ignoreChanges: onlyTriggersCount(commandArgs) } : {}),
            });
            done.set(step.role, cmd);
            if (step.role === "host-key") replacedKey = cmd.stdout.apply(hostKeyFromReport);
        }
        this.hostKey = replacedKey!;
        this.steps = done;
        this.reports = Object.fromEntries(plan.map((s) => [reportKey(s.role), done.get(s.role)!.stdout]));
        this.registerOutputs({ reports: this.reports, hostKey: this.hostKey });
    }
}
