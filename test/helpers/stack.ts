// The Pulumi program under mocks, for test/stack-server.test.ts, stack-domains.test.ts and
// stack-dns.test.ts: `deploy` runs MailStack as index.ts does and returns every resource it
// recorded, with its inputs.

import {
    MOCK_STATE_ID,
    mocksReady,
    options,
    promiseOf,
    recordOptions,
    resourcesOf,
    settle,
    type RecordedResource,
} from "./mocks";
import * as pulumi from "@pulumi/pulumi";
import { parseBundle } from "../../render";
import { MailStack } from "../../components/mailstack";
import { readZones, rollout } from "../../components/zones";
import { buildSpec, type BackupSecretKey, type RawConfig } from "../../model";

export const HCLOUD = {
    server: "hcloud:index/server:Server",
    firewall: "hcloud:index/firewall:Firewall",
    primaryIp: "hcloud:index/primaryIp:PrimaryIp",
    rdns: "hcloud:index/rdns:Rdns",
    volume: "hcloud:index/volume:Volume",
    sshKey: "hcloud:index/sshKey:SshKey",
};
export const DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord";
export const COMMAND = "command:remote:Command";
export const PRIVATE_KEY = "tls:index/privateKey:PrivateKey";

export const SECRET_PASSWORD = "correct-horse-battery-staple";
/** How every record comment of a test stack begins: project/stack and the mocks' state id. */
export const OURS = `mailstack:mailstack/test#${MOCK_STATE_ID}: `;

export async function deploy(
    name: string,
    raw: RawConfig,
    relayPassword?: string,
    backupSecrets?: Partial<Record<BackupSecretKey, string>>,
    now?: Date,
) {
    await mocksReady;
    const configured = buildSpec({
        ...raw,
        passwords: { "evaluation@nathabee.de": SECRET_PASSWORD },
        hasRelayPassword: relayPassword !== undefined,
        backupSecretsSet: Object.keys(backupSecrets ?? {}) as BackupSecretKey[],
    });
    // As index.ts: the new domains that do not fit in Cloudflare's request budget wait.
    const { spec, zones } = rollout(configured, await readZones(configured));
    const stack = new MailStack(
        name,
        {
            spec,
            passwords: pulumi.secret({ "evaluation@nathabee.de": SECRET_PASSWORD }),
            configuredPasswordAddresses: ["evaluation@nathabee.de"],
            ...(now ? { now } : {}),
            ...(relayPassword !== undefined ? { relayPassword: pulumi.secret(relayPassword) } : {}),
            ...(raw.importPasswords !== undefined
                ? { importPasswords: pulumi.secret(raw.importPasswords as Record<string, string>) }
                : {}),
            ...(backupSecrets
                ? {
                      backupSecrets: Object.fromEntries(
                          Object.entries(backupSecrets).map(([k, v]) => [k, pulumi.secret(v)]),
                      ),
                  }
                : {}),
            zones,
        },
        { transformations: [recordOptions] },
    );
    const outputs = {
        dnsRecords: await promiseOf(stack.dnsRecords),
        mailboxPasswords: await promiseOf(stack.mailboxPasswords),
        senderPasswords: await promiseOf(stack.senderPasswords),
        ipv4: await promiseOf(stack.ipv4),
        ipv6: await promiseOf(stack.ipv6),
        sshHostKey: await promiseOf(stack.sshHostKey),
        backupSshPublicKey: stack.backupSshPublicKey ? await promiseOf(stack.backupSshPublicKey) : undefined,
    };
    await Promise.all(Object.values(stack.provisioning.reports).map(promiseOf));
    await settle();
    const own = (n: string) => n === name || n.startsWith(`${name}-`);
    return { spec, stack, outputs, resources: resourcesOf(name), options: options.filter((o) => own(o.name)) };
}

export const BACKUP_PASSWORD = "restic-repository-password-1";

export const STORAGE_BOX_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIj0Y7Fwm6wZUmPQpVuZ7mUr2Z5ZpOHg6oYd3Vtq8x9c";

export const records = (resources: RecordedResource[]) => resources.filter((r) => r.type === DNS_RECORD);

// The stdin of scripts/apply-bundle.sh, read back with the renderers' own parser.
export function bundleFile(bundle: string, path: string): string | undefined {
    return parseBundle(bundle).find((f) => f.path === path)?.content;
}
