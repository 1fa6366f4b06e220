// Provisioning over SSH: wait for the first boot, then deliver what changes over time or is
// secret as bundles on the scripts' standard input. Each step is its own command, so a new
// mailbox re-runs only `mail-data`, and a replaced server (new id) re-runs them all.

import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

import { renderBundle, renderDkimFiles, renderHostFiles, renderMailData } from "../cloud-init";
import { remoteCommand } from "../scripts/commands";
import type { MailSpec } from "./spec";

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
        const step = (
            role: string,
            script: string,
            stdin: pulumi.Input<string> | undefined,
            dependsOn: pulumi.Input<pulumi.Resource>[],
            triggers: pulumi.Input<unknown>[] = [],
        ) =>
            new command.remote.Command(
                `${name}-${role}`,
                {
                    connection,
                    create: remoteCommand(script),
                    ...(stdin !== undefined ? { stdin } : {}),
                    triggers: [args.serverId, ...triggers],
                    // PULUMI_COMMAND_STDOUT would need AcceptEnv on the server; we do not use it.
                    addPreviousOutputInEnv: false,
                },
                { parent: this, dependsOn },
            );

        const firstBoot = step("first-boot", "wait-first-boot.sh", undefined, []);
        const hostConfig = step("host-config", "apply-bundle.sh", renderBundle(renderHostFiles(spec)), [firstBoot]);

        const dkimKeys = pulumi.all(args.dkimPrivateKeysPem);
        const dkim = step(
            "dkim",
            "apply-bundle.sh",
            pulumi.secret(dkimKeys.apply((privateKeysPem) => renderBundle(renderDkimFiles(spec, { privateKeysPem })))),
            [hostConfig],
        );

        const mailData = step(
            "mail-data",
            "apply-bundle.sh",
            pulumi.secret(
                pulumi.all([args.passwordHashes, args.relayPassword]).apply(([passwordHashes, relayPassword]) =>
                    renderBundle(renderMailData(spec, { passwordHashes, ...(relayPassword !== undefined ? { relayPassword } : {}) })),
                ),
            ),
            [hostConfig, dkim],
        );

        // HTTP-01 needs the hostname's A/AAAA records to point at this server first.
        const certificate = step(
            "certificate",
            "issue-certificate.sh",
            undefined,
            [hostConfig, ...(args.certificateDependsOn ?? [])],
            [spec.hostname, spec.acmeServer, spec.acmeEmail],
        );

        this.reports = {
            firstBoot: firstBoot.stdout,
            hostConfig: hostConfig.stdout,
            dkim: dkim.stdout,
            mailData: mailData.stdout,
            certificate: certificate.stdout,
        };
        this.registerOutputs({ reports: this.reports });
    }
}
