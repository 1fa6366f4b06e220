// The stack's outputs: what `pulumi up` exports (index.ts), what `pulumi stack output --json
// --show-secrets` prints, and what the doctor reads back (doctor/outputs.ts, and the lab's
// doctor check, which writes them for the lab). Declared here once, as the schema the doctor
// checks them with.

import { z } from "zod";

/** How a mail client connects to one port. */
const CLIENT_ENDPOINT = z.object({
    host: z.string(),
    port: z.number(),
    security: z.enum(["SSL/TLS", "STARTTLS"]),
});

/** How a mail client connects; the same for every mailbox but the username. */
const CLIENT_SETTINGS = z.object({
    username: z.string(),
    imap: CLIENT_ENDPOINT,
    pop3: CLIENT_ENDPOINT,
    /** Submission: STARTTLS (587) first, then implicit TLS (465). */
    smtp: z.array(CLIENT_ENDPOINT).readonly(),
    /** ManageSieve, for filters and vacation (Thunderbird's Sieve add-on, Roundcube, sieve-connect). */
    managesieve: CLIENT_ENDPOINT,
    /** Per domain, the Apple Mail profile to open on an iPhone, iPad or Mac. */
    appleProfiles: z.record(z.string(), z.string()),
});

export type ClientEndpoint = Readonly<z.infer<typeof CLIENT_ENDPOINT>>;
export type ClientSettings = Readonly<z.infer<typeof CLIENT_SETTINGS>>;

export const STACK_OUTPUTS = z.object({
    hostname: z.string().min(1),
    ipv4: z.string().min(1),
    ipv6: z.string().min(1),
    /** Every DNS record published, in its text form (render/dns/text.ts describeRecord). */
    dnsRecords: z.array(z.string()).min(1),
    /** Secret: the key that provisions the server over SSH. */
    deployPrivateKey: z.string(),
    /** The server's SSH host key, as pinned by the provisioning. */
    sshHostKey: z.string(),
    clientSettings: CLIENT_SETTINGS,
    /** Secret: each mailbox's password. */
    mailboxPasswords: z.record(z.string(), z.string()),
    /** Secret: each generated password of a sender for applications (mailstack:senders). */
    senderPasswords: z.record(z.string(), z.string()),
    /** With `mailstack:backup`: the key to authorize on the Storage Box. */
    backupSshPublicKey: z.string().optional(),
    /** With `mailstack:secondaryMx`: the backup MX, and the host key its provisioning pinned. */
    secondaryMx: z
        .object({
            hostname: z.string().min(1),
            ipv4: z.string().min(1),
            ipv6: z.string().min(1),
            sshHostKey: z.string(),
        })
        .optional(),
    /** Secret: the key that provisions the backup MX over SSH. */
    secondaryMxDeployPrivateKey: z.string().optional(),
});

export type StackOutputs = z.infer<typeof STACK_OUTPUTS>;

/**
 * What the doctor reads of them. Without --show-secrets the secrets print as "[secret]"; the
 * doctor then skips its SSH checks, so the keys may be missing.
 */
export const DOCTOR_OUTPUTS = STACK_OUTPUTS.pick({
    hostname: true,
    ipv4: true,
    ipv6: true,
    dnsRecords: true,
    deployPrivateKey: true,
    sshHostKey: true,
    secondaryMx: true,
    secondaryMxDeployPrivateKey: true,
}).partial({ deployPrivateKey: true, sshHostKey: true });

export type DoctorOutputs = z.infer<typeof DOCTOR_OUTPUTS>;
