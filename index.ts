// mailstack: read the stack config, check the DNS zones, build the mail server, export what
// a user needs. Nothing is declared before the config and the zones have been checked, but
// the stack's state id (a local random value the zone check reads, components/zones.ts).
import * as pulumi from "@pulumi/pulumi";
import { readStackConfig } from "./components/config";
import { MailStack } from "./components/mailstack";
import { withoutStackTraces } from "./components/stack-traces";
import { readZones, rollout } from "./components/zones";
import type { StackOutputs } from "./model";

/** The outputs as the program returns them: each may still be an Output (model/outputs.ts declares them). */
type ProgramOutputs = { [K in keyof StackOutputs]: pulumi.Input<StackOutputs[K]> };

export = async (): Promise<ProgramOutputs> => {
    withoutStackTraces();
    const config = readStackConfig();
    // Within Cloudflare's request budget: new domains that do not fit wait for the next up.
    const { spec, zones } = rollout(config.spec, await readZones(config.spec));
    const mail = new MailStack("mail", {
        spec,
        passwords: config.passwords,
        configuredPasswordAddresses: config.configuredPasswordAddresses,
        ...(config.relayPassword ? { relayPassword: config.relayPassword } : {}),
        backupSecrets: config.backupSecrets,
        importPasswords: config.importPasswords,
        zones,
    });
    return {
        ipv4: mail.ipv4,
        ipv6: mail.ipv6,
        hostname: mail.hostname,
        dnsRecords: mail.dnsRecords,
        clientSettings: mail.clientSettings,
        mailboxPasswords: mail.mailboxPasswords,
        senderPasswords: mail.senderPasswords,
        deployPrivateKey: mail.deployPrivateKey,
        sshHostKey: mail.sshHostKey,
        ...(mail.backupSshPublicKey ? { backupSshPublicKey: mail.backupSshPublicKey } : {}),
        ...(mail.secondaryMx
            ? {
                  secondaryMx: pulumi
                      .all([
                          mail.secondaryMx.host.ipv4,
                          mail.secondaryMx.host.ipv6,
                          mail.secondaryMx.provisioning.hostKey,
                      ])
                      .apply(([ipv4, ipv6, sshHostKey]) => ({
                          hostname: mail.secondaryMx!.hostname,
                          ipv4,
                          ipv6,
                          sshHostKey,
                      })),
                  secondaryMxDeployPrivateKey: mail.secondaryMx.host.deployPrivateKey,
              }
            : {}),
    };
};
