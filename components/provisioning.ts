// Provisioning over SSH: wait for the first boot, then deliver what changes over time or is
// secret as bundles on the scripts' standard input. Each step of the plan (cloud-init/
// plan.ts) is its own command, so a new mailbox re-runs only `mail-data`, and a replaced
// server (new id) re-runs them all.

import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

import { PROVISIONING_PLAN, type PlanInputs, type StepRole } from "../cloud-init/plan";
import { remoteCommand } from "../scripts/commands";
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
    /** Address -> `{BLF-CRYPT}` hash for Dovecot's passwd-file. */
    readonly passwordHashes: pulumi.Input<Record<string, string>>;
    /** Domain -> PEM DKIM private key. */
    readonly dkimPrivateKeysPem: Record<string, pulumi.Input<string>>;
    /** SASL password for the optional relay. */
    readonly relayPassword?: pulumi.Input<string>;
    /** Resources that must exist before a certificate can be requested (the host's DNS records). */
    readonly certificateDependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** `first-boot` -> `firstBoot`, the key of the step's report. */
const reportKey = (role: StepRole) => role.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());

export class MailProvisioning extends pulumi.ComponentResource {
    /** What each step reported (no secrets are printed by the scripts). */
    public readonly reports: Record<string, pulumi.Output<string>>;

    constructor(name: string, args: MailProvisioningArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mailstack:provisioning:MailProvisioning", name, {}, opts);
        const { spec } = args;
        const connection: command.types.input.remote.ConnectionArgs = {
            host: args.host,
            user: "root",
            privateKey: args.privateKey,
            // The first boot installs packages before sshd is final; keep trying for ~10 minutes.
            dialErrorLimit: 60,
            perDialTimeout: 10,
        };
        const inputs: Record<keyof PlanInputs, pulumi.Input<unknown>> = {
            dkimPrivateKeysPem: pulumi.all(args.dkimPrivateKeysPem),
            passwordHashes: args.passwordHashes,
            relayPassword: args.relayPassword,
        };
        const done = new Map<StepRole, command.remote.Command>();
        for (const step of PROVISIONING_PLAN) {
            const render = step.stdin;
            // Only the inputs the step names, so that a new mailbox changes mail-data's stdin only.
            const used = pulumi.all(Object.fromEntries(step.uses.map((k) => [k, inputs[k]])));
            const stdin = render ? used.apply((values) => render(spec, values as unknown as PlanInputs)) : undefined;
            const cmd = new command.remote.Command(
                `${name}-${step.role}`,
                {
                    connection,
                    create: remoteCommand(step.script),
                    ...(stdin !== undefined ? { stdin: step.secret ? pulumi.secret(stdin) : stdin } : {}),
                    triggers: [args.serverId, ...step.triggers(spec)],
                    // PULUMI_COMMAND_STDOUT would need AcceptEnv on the server; we do not use it.
                    addPreviousOutputInEnv: false,
                },
                {
                    parent: this,
                    dependsOn: [
                        ...step.after.map((r) => done.get(r)!),
                        ...(step.needsHostDns ? (args.certificateDependsOn ?? []) : []),
                    ],
                },
            );
            done.set(step.role, cmd);
        }
        this.reports = Object.fromEntries(PROVISIONING_PLAN.map((s) => [reportKey(s.role), done.get(s.role)!.stdout]));
        this.registerOutputs({ reports: this.reports });
    }
}
