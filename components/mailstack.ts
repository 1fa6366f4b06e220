// The whole mail server: host, DKIM keys, DNS for every domain, passwords and provisioning.

import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";

import { renderSecondaryUserData, renderUserData } from "../render";
import { DkimKeys } from "./dkim";
import { describeRecord } from "../render/dns/text";
import { appleProfileUrl } from "../render/host/client-config";
import { MTA_STS_POLICY_STEPS, SECONDARY_PROVISIONING_PLAN } from "../render/plan/plan";
import { MailDns } from "./dns";
import { MailHost } from "./host";
import { BCRYPT_SALT_LENGTH } from "../render/plan/passwords";
import { localNodeCommand } from "../scripts/commands";
import { MailProvisioning } from "./provisioning";
import type { BackupSecrets } from "../render/host/backup";
import type { ZoneFacts } from "./zones";
import {
    allLogins,
    allMailboxes,
    CLIENT_SERVICES,
    SERVICES,
    type BackupSecretKey,
    type ClientEndpoint,
    type ClientSettings,
    type MailSpec,
} from "../model";

export interface MailStackArgs {
    /** The validated configuration (see buildSpec). */
    readonly spec: MailSpec;
    /** Configured passwords, address -> password (secret); other mailboxes get generated ones. */
    readonly passwords: pulumi.Input<Record<string, string>>;
    /** Addresses that have a configured password (known before deployment, to plan resources). */
    readonly configuredPasswordAddresses: readonly string[];
    /** SASL password of the relay, when `spec.relay` is set (secret). */
    readonly relayPassword?: pulumi.Input<string>;
    /** `mailstack:backupPassword` and the repository's credentials that are set (secrets). */
    readonly backupSecrets?: Readonly<Partial<Record<BackupSecretKey, pulumi.Input<string>>>>;
    /** `mailstack:importPasswords`, mailbox -> the old account's password (secret). */
    readonly importPasswords?: pulumi.Input<Record<string, string>>;
    /** Each domain's zone, from the pre-flight (readZones). */
    readonly zones: Readonly<Record<string, ZoneFacts>>;
    /** The day that decides which retired DKIM selectors are still published (default: today). */
    readonly now?: Date;
}

export type { ClientEndpoint, ClientSettings };

/** Read off the services table (model/services.ts), as Thunderbird's manual setup asks for it. */
export function clientSettings(spec: MailSpec): ClientSettings {
    const endpoint = (s: { readonly port: number; readonly tls: string }): ClientEndpoint => ({
        host: spec.hostname,
        port: s.port,
        security: s.tls === "implicit" ? "SSL/TLS" : "STARTTLS",
    });
    const of = (client: "imap" | "pop3" | "smtp") => CLIENT_SERVICES.filter((s) => s.client === client).map(endpoint);
    return {
        username: "the full email address, e.g. " + (allMailboxes(spec)[0] ?? `user@${spec.domains[0].name}`),
        imap: of("imap")[0],
        pop3: of("pop3")[0],
        smtp: of("smtp").sort((a, b) => Number(a.security === "SSL/TLS") - Number(b.security === "SSL/TLS")),
        managesieve: endpoint(SERVICES.find((s) => s.name === "sieve")!),
        appleProfiles: Object.fromEntries(spec.domains.map((d) => [d.name, appleProfileUrl(d.name)])),
    };
}

export class MailStack extends pulumi.ComponentResource {
    public readonly ipv4: pulumi.Output<string>;
    public readonly ipv6: pulumi.Output<string>;
    public readonly hostname: string;
    /** Every DNS record, readable: `name TYPE content`. */
    public readonly dnsRecords: pulumi.Output<string[]>;
    /** Generated passwords of mailboxes without a configured one (secret). */
    public readonly mailboxPasswords: pulumi.Output<Record<string, string>>;
    /** Generated passwords of the senders for applications without a configured one (secret). */
    public readonly senderPasswords: pulumi.Output<Record<string, string>>;
    public readonly deployPrivateKey: pulumi.Output<string>;
    /** The server's SSH host key after the first deploy, for `~/.ssh/known_hosts`. */
    public readonly sshHostKey: pulumi.Output<string>;
    public readonly clientSettings: ClientSettings;
    /** The SSH public key to install on the Storage Box, when mailstack generated it. */
    public readonly backupSshPublicKey?: pulumi.Output<string>;
    public readonly provisioning: MailProvisioning;
    /** The backup MX (mailstack:secondaryMx): its server and its own provisioning. */
    public readonly secondaryMx?: {
        readonly hostname: string;
        readonly host: MailHost;
        readonly provisioning: MailProvisioning;
    };

    constructor(name: string, args: MailStackArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mailstack:stack:MailStack", name, {}, opts);
        const { spec } = args;
        const parent = { parent: this };

        const host = new MailHost(name, { spec, userData: (options) => renderUserData(spec, options) }, parent);
        // The backup MX: its own server, addresses, firewall and queue volume in another
        // location, booted from its own user-data. Nothing of the primary's changes with it.
        const secondaryHost = spec.secondaryMx
            ? new MailHost(
                  `${name}-mx2`,
                  { spec, role: "secondary", userData: (options) => renderSecondaryUserData(spec, options) },
                  parent,
              )
            : undefined;
        const dkim = new DkimKeys(`${name}-dkim`, { spec, now: args.now }, parent);

        // The `_mta-sts` records wait for the steps that serve the policy, which are declared
        // below (they wait for the host's DNS in turn): a promise of them, kept here.
        let policyServed: (steps: pulumi.Resource[]) => void = () => undefined;
        const mtaStsPolicyServed = new Promise<pulumi.Resource[]>((resolve) => (policyServed = resolve));
        const dns = spec.domains.map(
            (domain) =>
                new MailDns(
                    `${name}-dns-${domain.name}`,
                    {
                        spec,
                        domain,
                        ipv4: host.ipv4,
                        ipv6: host.ipv6,
                        ...(secondaryHost ? { secondary: { ipv4: secondaryHost.ipv4, ipv6: secondaryHost.ipv6 } } : {}),
                        dkimPublicKeyPem: dkim.publicKeysPem[domain.name],
                        dkimRetiredPublicKeysPem: dkim.retiredPublicKeysPem[domain.name],
                        zone: args.zones[domain.name],
                        publishAfter: { "mta-sts-policy": mtaStsPolicyServed },
                    },
                    parent,
                ),
        );

        // Passwords: configured ones, or generated and kept in the (encrypted) stack state.
        // Each is hashed once per change and the hash is kept in state too: a preview or an up
        // of an unchanged stack hashes nothing (bcrypt is slow on purpose).
        const configured = new Set(args.configuredPasswordAddresses.map((a) => a.toLowerCase()));
        const generated: Record<string, pulumi.Output<string>> = {};
        const hashes: Record<string, pulumi.Output<string>> = {};
        const configuredPasswords = pulumi.output(args.passwords);
        // The senders for applications (mailstack:senders) get theirs the same way: only the
        // hash reaches the server, as mail-data's stdin.
        for (const address of allLogins(spec)) {
            if (configured.has(address)) {
                const password = configuredPasswords.apply((all) => {
                    const entry = Object.entries(all).find(([a]) => a.toLowerCase() === address);
                    if (!entry) throw new Error(`mailstack:passwords has no entry for ${address}`);
                    return entry[1];
                });
                // A stable salt per mailbox: the same password hashes the same way every time.
                const salt = new random.RandomString(
                    `${name}-salt-${address}`,
                    {
                        length: BCRYPT_SALT_LENGTH,
                        special: true,
                        overrideSpecial: "./",
                        upper: true,
                        lower: true,
                        numeric: true,
                    },
                    parent,
                );
                // Runs on the deployer's machine when the password or salt changes (stdin and
                // environment are its inputs); the password never appears on a command line.
                const hash = new command.local.Command(
                    `${name}-hash-${address}`,
                    {
                        create: localNodeCommand("hash-password.cjs"),
                        stdin: pulumi.secret(password),
                        environment: { BCRYPT_SALT: salt.result },
                        logging: "none",
                    },
                    { ...parent, additionalSecretOutputs: ["stdout"] },
                );
                hashes[address] = pulumi.secret(hash.stdout);
            } else {
                const generatedPassword = new random.RandomPassword(
                    `${name}-password-${address}`,
                    // No symbols: some clients and phones make them hard to type; 24 characters
                    // of letters and digits are still about 140 bits.
                    { length: 24, special: false },
                    parent,
                );
                generated[address] = generatedPassword.result;
                // The provider's own bcrypt hash, made once with the password and kept in state.
                hashes[address] = pulumi.secret(generatedPassword.bcryptHash.apply((h) => `{BLF-CRYPT}${h}`));
            }
        }

        // Backups: the SFTP key is the user's, or one made here, whose public half the user
        // installs on the Storage Box (stack output backupSshPublicKey).
        let backup: pulumi.Output<BackupSecrets> | undefined;
        if (spec.backup) {
            const given = args.backupSecrets ?? {};
            let sshPrivateKey = given.backupSshPrivateKey;
            if (spec.backup.repository.type === "sftp" && sshPrivateKey === undefined) {
                const key = new tls.PrivateKey(`${name}-backup-ssh-key`, { algorithm: "ED25519" }, parent);
                sshPrivateKey = key.privateKeyOpenssh;
                this.backupSshPublicKey = key.publicKeyOpenssh.apply((k) => k.trim());
            }
            const s = pulumi.all({
                password: given.backupPassword ?? "",
                sshPrivateKey,
                s3AccessKeyId: given.backupS3AccessKeyId,
                s3SecretAccessKey: given.backupS3SecretAccessKey,
            });
            backup = pulumi.secret(
                s.apply(
                    (v) =>
                        Object.fromEntries(
                            Object.entries(v).filter(([, x]) => x !== undefined),
                        ) as unknown as BackupSecrets,
                ),
            );
        }

        this.provisioning = new MailProvisioning(
            `${name}-provision`,
            {
                spec,
                serverId: host.serverId,
                host: host.ipv4,
                privateKey: host.deployPrivateKey,
                provisionalHostKey: host.provisionalHostKey,
                passwordHashes: pulumi.all(hashes),
                dkimPrivateKeysPem: dkim.privateKeysPem,
                ...(args.relayPassword !== undefined ? { relayPassword: args.relayPassword } : {}),
                ...(backup ? { backup } : {}),
                importPasswords: pulumi.secret(args.importPasswords ?? {}),
                ...(secondaryHost ? { secondaryMxAddresses: [secondaryHost.ipv4, secondaryHost.ipv6] } : {}),
                waitFor: {
                    // The certificate's names: the host's A/AAAA and every domain's client names.
                    "host-dns": dns.flatMap((d) => d.nameRecords),
                    "dkim-dns": dns.map((d) => d.dkimRecord),
                    "volume-size": [host.mailVolume],
                },
            },
            parent,
        );
        policyServed(MTA_STS_POLICY_STEPS.map((role) => this.provisioning.steps.get(role)!));

        // The backup MX follows the config through its own steps (relay-data: the domains and
        // every valid address). It gets no password hash and no DKIM key.
        if (spec.secondaryMx && secondaryHost) {
            this.secondaryMx = {
                hostname: spec.secondaryMx.hostname,
                host: secondaryHost,
                provisioning: new MailProvisioning(
                    `${name}-mx2-provision`,
                    {
                        spec,
                        plan: SECONDARY_PROVISIONING_PLAN,
                        serverId: secondaryHost.serverId,
                        host: secondaryHost.ipv4,
                        privateKey: secondaryHost.deployPrivateKey,
                        provisionalHostKey: secondaryHost.provisionalHostKey,
                        passwordHashes: {},
                        dkimPrivateKeysPem: {},
                        // The primary asks it for the mail it kept (ETRN), from these only.
                        primaryAddresses: [host.ipv4, host.ipv6],
                        waitFor: {
                            // Its certificate's one name: its own A/AAAA.
                            "host-dns": dns.flatMap((d) => d.secondaryNameRecords),
                            "dkim-dns": [],
                            "volume-size": [secondaryHost.mailVolume],
                        },
                    },
                    parent,
                ),
            };
        }

        this.ipv4 = host.ipv4;
        this.ipv6 = host.ipv6;
        this.hostname = spec.hostname;
        this.dnsRecords = pulumi.all(dns.map((d) => d.records)).apply((lists) => lists.flat().map(describeRecord));
        const generatedOf = (addresses: readonly string[]) =>
            pulumi.secret(
                pulumi.all(Object.fromEntries(addresses.filter((a) => a in generated).map((a) => [a, generated[a]]))),
            );
        this.mailboxPasswords = generatedOf(allMailboxes(spec));
        this.senderPasswords = generatedOf(spec.senders);
        this.deployPrivateKey = host.deployPrivateKey;
        this.sshHostKey = this.provisioning.hostKey;
        this.clientSettings = clientSettings(spec);
        this.registerOutputs({
            ipv4: this.ipv4,
            ipv6: this.ipv6,
            hostname: this.hostname,
            dnsRecords: this.dnsRecords,
            mailboxPasswords: this.mailboxPasswords,
            senderPasswords: this.senderPasswords,
            clientSettings: this.clientSettings,
            sshHostKey: this.sshHostKey,
            backupSshPublicKey: this.backupSshPublicKey,
            ...(this.secondaryMx ? { secondaryMxHostKey: this.secondaryMx.provisioning.hostKey } : {}),
        });
    }
}
