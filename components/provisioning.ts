// Provisioning over SSH: each step of the plan (cloud-init/plan.ts) is its own command, so
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
    type StepRole,
    type StepWait,
} from "../cloud-init/plan";
import type { BackupSecrets } from "../cloud-init/backup";
import type { MailSpec } from "../spec";

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
    /** The resources behind each outside condition a step waits for. */
    readonly waitFor: Readonly<Record<StepWait, readonly pulumi.Input<pulumi.Resource>[]>>;
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
        };
        const done = new Map<StepRole, command.remote.Command>();
        let replacedKey: pulumi.Output<string> | undefined;
        for (const step of PROVISIONING_PLAN) {
            const render = step.stdin;
            // Only the inputs the step names, so that a new mailbox changes mail-data's stdin only.
            const used = pulumi.all(Object.fromEntries(step.uses.map((k) => [k, inputs[k]])));
            const stdin = render ? used.apply((values) => render(spec, values as unknown as PlanInputs)) : undefined;
            if (step.pin === "replaced" && !replacedKey)
                throw new Error(`plan: ${step.role} pins the replaced key before the host-key step`);
            const cmd = new command.remote.Command(
                `${name}-${step.role}`,
                {
                    connection: connection(step.pin === "provisional" ? args.provisionalHostKey : replacedKey!),
                    create: step.command(),
                    ...(stdin !== undefined ? { stdin: step.secret ? pulumi.secret(stdin) : stdin } : {}),
                    triggers: [args.serverId, ...step.triggers(spec)],
                    // PULUMI_COMMAND_STDOUT would need AcceptEnv on the server; we do not use it.
                    addPreviousOutputInEnv: false,
                },
                {
                    parent: this,
                    dependsOn: [
                        ...step.after.map((r) => done.get(r)!),
                        ...step.waitsFor.flatMap((w) => args.waitFor[w]),
                    ],
                },
            );
            done.set(step.role, cmd);
            if (step.role === "host-key") replacedKey = cmd.stdout.apply(hostKeyFromReport);
        }
        this.hostKey = replacedKey!;
        this.steps = done;
        this.reports = Object.fromEntries(PROVISIONING_PLAN.map((s) => [reportKey(s.role), done.get(s.role)!.stdout]));
        this.registerOutputs({ reports: this.reports, hostKey: this.hostKey });
    }
}
