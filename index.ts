// mailstack: read the stack config, check the DNS zones, build the mail server, export what
// a user needs. Nothing is declared before the config and the zones have been checked, but
// the stack's state id (a local random value the zone check reads, components/zones.ts).
import { readStackConfig } from "./components/config";
import { MailStack } from "./components/mailstack";
import { withoutStackTraces } from "./components/stack-traces";
import { readZones } from "./components/zones";

export = async () => {
    withoutStackTraces();
    const config = readStackConfig();
    const zones = await readZones(config.spec);
    const mail = new MailStack("mail", {
        spec: config.spec,
        passwords: config.passwords,
        configuredPasswordAddresses: config.configuredPasswordAddresses,
        ...(config.relayPassword ? { relayPassword: config.relayPassword } : {}),
        backupSecrets: config.backupSecrets,
        zones,
    });
    return {
        ipv4: mail.ipv4,
        ipv6: mail.ipv6,
        hostname: mail.hostname,
        dnsRecords: mail.dnsRecords,
        clientSettings: mail.clientSettings,
        mailboxPasswords: mail.mailboxPasswords,
        deployPrivateKey: mail.deployPrivateKey,
        sshHostKey: mail.sshHostKey,
        ...(mail.backupSshPublicKey ? { backupSshPublicKey: mail.backupSshPublicKey } : {}),
    };
};
