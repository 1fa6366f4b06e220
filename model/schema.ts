// The shape of the `mailstack:*` stack config, as a zod schema. The list of config keys,
// which of them are secret and which are plain strings are all read off this one schema.

import { isIP } from "node:net";
import { z } from "zod";

import {
    autoExpungeInput,
    DEFAULT_AUTO_EXPUNGE,
    DEFAULT_SPAM_FILTER,
    DEFAULT_SUBMISSION_LIMIT,
    spamFilterInput,
    submissionLimitInput,
} from "./filter";
import { isDomainName, privateKeyProblem, SHA256_FINGERPRINT, spfMechanismProblem } from "./syntax";
import { DEFAULT_DKIM_SELECTOR, LETS_ENCRYPT_DIRECTORY, SUPPORTED_IMAGE } from "./types";

/** A DS record's data (RFC 4034 5.3): key tag, algorithm, digest type, hex digest. */
const DS_RDATA = /^[0-9]{1,5} [0-9]{1,3} [0-9]{1,3} [0-9a-fA-F]{40,128}$/;

/** A private zone signed with DNSSEC: its name servers and the DS that anchors trust in it. */
const signedZoneInput = z
    .object({
        name: z
            .string()
            .refine(
                (n) => isDomainName(n.toLowerCase().replace(/\.$/, "")),
                "must be a domain name such as internal.example.org",
            ),
        servers: z
            .array(z.string().refine((a) => isIP(a) !== 0, "must be an IPv4 or IPv6 address"))
            .min(1, "must list at least one name server address"),
        ds: z
            .array(z.string().regex(DS_RDATA, 'must be a DS record\'s data: "keytag algorithm digesttype hexdigest"'))
            .min(1, "must list at least one DS record"),
    })
    .strict();

/** A check written as "why not, or undefined", as a zod refinement with the key path. */
function refinedBy(problem: (value: string) => string | undefined) {
    return (value: string, ctx: z.core.$RefinementCtx<string>) => {
        const why = problem(value);
        if (why !== undefined) ctx.addIssue({ code: "custom", message: why });
    };
}

/** A secret that is written into a one-line file on the server: no line breaks or control characters. */
const oneLineSecret = () =>
    z.string().regex(/^[^\x00-\x1f\x7f]*$/, "must be one line without control characters (CR, LF, tab)");

const secretSchemas = new Set<z.ZodType>();
/** A key whose value must be set with `pulumi config set --secret`. */
function secret<T extends z.ZodType>(schema: T): T {
    secretSchemas.add(schema);
    return schema;
}

/** A mailbox size such as 500M or 2G (Dovecot's units: M = MiB, G = GiB, T = TiB). */
export const quotaSizeInput = z.string().regex(/^[1-9][0-9]{0,5}[MGT]$/, 'must be a size such as "500M", "2G" or "1T"');

/** The quota every mailbox of a domain gets unless mailboxQuotas names it. */
export const DEFAULT_MAILBOX_QUOTA = "2G";

export const aliasTargetsInput = z.array(z.string()).min(1, "must list at least one target");

const dkimSelectorInput = z
    .string()
    .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, "must be a single DNS label (a-z, 0-9, -)");

export const domainInput = z
    .object({
        name: z.string(),
        zoneId: z
            .string()
            .regex(/^[0-9a-f]{32}$/, "must be a 32-character hex Cloudflare zone id")
            .optional(),
        mailboxes: z.array(z.string()).default([]),
        /** Each mailbox's quota (Dovecot count quota), unless mailboxQuotas overrides it. */
        quota: quotaSizeInput.default(DEFAULT_MAILBOX_QUOTA),
        /** Mailbox local part -> its own quota, e.g. {alice: "10G"}. */
        mailboxQuotas: z.record(z.string(), quotaSizeInput).default({}),
        /**
         * Mailbox local part -> a reset marker, e.g. {alice: "2026-12-06"}: a user may change
         * their own password, and the next `pulumi up` keeps it; a new marker (any other
         * value) puts the configured or generated password back once.
         */
        passwordResets: z
            .record(
                z.string(),
                z
                    .string()
                    .regex(/^[A-Za-z0-9._-]{1,64}$/, "must be a short marker such as a date (A-Z, a-z, 0-9, . _ -)"),
            )
            .default({}),
        aliases: z.record(z.string(), aliasTargetsInput).default({}),
        /**
         * The name of one of this domain's mailboxes that takes mail for every address of the
         * domain that is neither a mailbox nor an alias (checked in the address pass).
         */
        catchAll: z.string().optional(),
        dkimSelector: dkimSelectorInput.default(DEFAULT_DKIM_SELECTOR),
        /**
         * Selectors that no longer sign but stay published until the date (UTC, inclusive),
         * so that mail signed with them still verifies: a key rotation (README "Rotating a
         * DKIM key"). After the date the record and the key are removed.
         */
        dkimRetiredSelectors: z
            .record(
                dkimSelectorInput,
                z
                    .string()
                    .regex(/^\d{4}-\d{2}-\d{2}$/, "must be a date YYYY-MM-DD (UTC), the last day it stays published")
                    .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)), "is not a calendar date"),
            )
            .default({}),
        spf: z
            .object({
                extra: z.array(z.string().superRefine(refinedBy(spfMechanismProblem))).default([]),
            })
            .strict()
            .default({ extra: [] }),
        /** Take over an MX, apex SPF or _dmarc record mailstack did not create (zone pre-flight). */
        takeOverRecords: z.boolean().default(false),
        dmarc: z
            .object({
                policy: z.enum(["none", "quarantine", "reject"]).default("quarantine"),
                rua: z.string().optional(),
            })
            .strict()
            .default({ policy: "quarantine" }),
    })
    .strict();

export const serverInput = z
    .object({
        type: z
            .string()
            .regex(/^[a-z0-9-]+$/, "must be a Hetzner server type such as cx23")
            .default("cx23"),
        location: z
            .string()
            .regex(/^[a-z0-9-]+$/, "must be a Hetzner location such as nbg1")
            .default("nbg1"),
        image: z.string().default(SUPPORTED_IMAGE),
    })
    .strict();

/**
 * `mailstack:secondaryMx`: a backup MX in another location (render/features/backup-mx.ts). It
 * holds the queue only: no mailbox, no password, no DKIM key.
 */
export const secondaryMxInput = z
    .object({
        /** Its own name: A/AAAA, PTR, EHLO and certificate, like the primary's hostname. */
        hostname: z.string({ error: "is required (the backup MX's host name, e.g. mx2.example.org)" }),
        /** Required, and never the primary's: the point is to survive the primary's location. */
        location: z
            .string({ error: "is required (a Hetzner location other than server.location, e.g. fsn1)" })
            .regex(/^[a-z0-9-]+$/, "must be a Hetzner location such as fsn1"),
        type: z
            .string()
            .regex(/^[a-z0-9-]+$/, "must be a Hetzner server type such as cx23")
            .default("cx23"),
        image: z.string().default(SUPPORTED_IMAGE),
        /** The volume its queue (and certificate, rspamd's state) lives on. */
        queueVolumeSizeGb: z
            .number()
            .int()
            .min(10, "must be at least 10 (Hetzner's smallest volume)")
            .max(100, "must be at most 100: it holds a queue of days, not mailboxes")
            .default(10),
    })
    .strict();

export const relayInput = z
    .object({
        host: z.string(),
        port: z.number().int().min(1).max(65535).default(587),
        username: z
            .string()
            .min(1, { error: "must not be empty", abort: true })
            .regex(
                /^[^\s:\x00-\x1f\x7f]+$/,
                'must not contain ":", spaces or control characters: Postfix\'s password map holds "username:password" and splits at the first ":"',
            ),
        /**
         * The relay certificate's SHA-256 fingerprint, pinned (Postfix's "fingerprint" level);
         * required for a relay given by IP address, whose certificate no name can verify.
         */
        tlsFingerprint: z
            .string()
            .regex(
                SHA256_FINGERPRINT,
                "must be the relay certificate's SHA-256 fingerprint: 32 hex bytes separated by colons, as openssl x509 -noout -fingerprint -sha256 prints it",
            )
            .optional(),
    })
    .strict();

/** An SSH public key as `ssh-keyscan` prints it without the host: `<type> <base64>`. */
const SSH_PUBLIC_KEY = /^(?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)) [A-Za-z0-9+/]+={0,3}$/;

/** Hetzner Storage Box (or any SFTP server): restic over SSH, the server's host key pinned. */
export const backupSftpInput = z
    .object({
        host: z.string(),
        /** The Storage Box speaks SFTP on 23 (22 is its restricted shell without SFTP for sub-accounts). */
        port: z.number().int().min(1).max(65535).default(23),
        user: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, "must be an SSH user name such as u123456 or u123456-sub1"),
        path: z
            .string()
            .regex(
                /^(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9._/-]+$/,
                "must be a directory path (letters, digits, . _ - /)",
            ),
        hostKey: z
            .string()
            .regex(SSH_PUBLIC_KEY, "must be the server's SSH host key: <type> <base64>, as ssh-keyscan prints it"),
    })
    .strict();

/** An S3-compatible bucket (Hetzner Object Storage); the keys are the secrets backupS3AccessKeyId/SecretAccessKey. */
export const backupS3Input = z
    .object({
        endpoint: z.url({ protocol: /^https$/, error: "must be an https:// endpoint URL" }),
        bucket: z
            .string()
            .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be an S3 bucket name (3-63 of a-z, 0-9, . -)"),
        path: z
            .string()
            .regex(
                /^(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9._/-]+$/,
                "must be a path inside the bucket (letters, digits, . _ - /)",
            )
            .default("mailstack"),
    })
    .strict();

export const backupRetentionInput = z
    .object({
        daily: z.number().int().min(0).max(3650).default(7),
        weekly: z.number().int().min(0).max(520).default(4),
        monthly: z.number().int().min(0).max(1200).default(12),
    })
    .strict();

/** An S3 access key id or secret key: one word of printable ASCII, in restic's environment file. */
const s3Key = z.string().regex(/^[\x21-\x7e]+$/, "must be one word of printable characters (no spaces or line breaks)");

/** `mailstack:backup`: restic to exactly one repository, on a systemd timer. */
export const backupInput = z
    .object({
        sftp: backupSftpInput.optional(),
        s3: backupS3Input.optional(),
        /** systemd OnCalendar expression. */
        schedule: z
            .string()
            .regex(/^[A-Za-z0-9 :*,./~+-]+$/, "must be a systemd OnCalendar expression such as daily or *-*-* 03:15")
            .default("daily"),
        retention: backupRetentionInput.default({ daily: 7, weekly: 4, monthly: 12 }),
    })
    .strict();

/** A Microsoft Entra tenant: common, organizations, consumers, a tenant id or a domain. */
const ENTRA_TENANT =
    /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?)$/i;

/**
 * The OAuth2 app an import logs in with (RFC 8628 device authorization, then refresh tokens).
 * provider "microsoft" fills in Microsoft's endpoints for the tenant and the IMAP scope;
 * "custom" takes any provider's endpoints and scope. The client id is the user's own app
 * registration's: a public client, so there is no client secret.
 */
export const importOAuth2Input = z
    .object({
        provider: z
            .enum(["microsoft", "custom"], {
                error: 'must be "microsoft" (Microsoft 365, Outlook.com) or "custom" (tokenUrl, deviceUrl and scope given)',
            })
            .default("microsoft"),
        /** The Application (client) ID of the app registered for this server. */
        clientId: z
            .string({
                error: 'is required: the Application (client) ID of the app you registered (README "Moving in")',
            })
            .regex(/^[A-Za-z0-9._:@-]{1,200}$/, "must be an application (client) ID: letters, digits and ._:@- only"),
        /** microsoft: common (work/school and personal accounts), organizations, consumers, or your tenant's id or domain. */
        tenant: z
            .string()
            .regex(ENTRA_TENANT, "must be common, organizations, consumers, a tenant id (GUID) or the tenant's domain")
            .optional(),
        /** custom: the token endpoint (refresh and device-code grants). */
        tokenUrl: z.url({ protocol: /^https$/, error: "must be an https:// URL" }).optional(),
        /** custom: the device authorization endpoint (RFC 8628). */
        deviceUrl: z.url({ protocol: /^https$/, error: "must be an https:// URL" }).optional(),
        /** custom: the scopes asked for, space separated (one must give a refresh token). */
        scope: z
            .string()
            .regex(
                /^[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*$/,
                "must be scope tokens separated by single spaces",
            )
            .optional(),
    })
    .strict();

/**
 * One IMAP account whose mail is imported into a mailbox (README "Moving in"): mbsync on the
 * server pulls what is new, hourly, until the entry is removed. The password is the secret
 * `mailstack:importPasswords["<mailbox>"]`.
 */
export const importInput = z
    .object({
        /** The address of a configured mailbox that receives the mail. */
        mailbox: z.string(),
        /** The old provider's IMAP host, e.g. imap.gmail.com (checked as a host name or IP address). */
        host: z.string(),
        port: z.number().int().min(1).max(65535).default(993),
        /** implicit: TLS from the first byte (993); starttls: the plain port, upgraded (143). Never clear text. */
        tls: z
            .enum(["implicit", "starttls"], {
                error: 'must be "implicit" (TLS on connect, port 993) or "starttls" (port 143, upgraded before login)',
            })
            .default("implicit"),
        /** The login at the old provider (often the full old address). */
        user: z
            .string()
            .min(1, "must not be empty")
            .regex(/^[^\x00-\x1f\x7f"\\]+$/, 'must be one line without control characters, " or \\'),
        /**
         * password: the secret mailstack:importPasswords["<mailbox>"]; oauth2: XOAUTH2 with an
         * access token from the provider (Microsoft 365 takes nothing else), authorized once on
         * the server with `mailstack-import authorize <mailbox>` (README "Moving in").
         */
        auth: z
            .enum(["password", "oauth2"], {
                error: 'must be "password" (mailstack:importPasswords) or "oauth2" (XOAUTH2, e.g. Microsoft 365)',
            })
            .default("password"),
        /** With auth: "oauth2": the app registered at the provider and its endpoints. */
        oauth2: importOAuth2Input.optional(),
    })
    .strict();

/**
 * Every `mailstack:*` key, in the order problems are reported. Secret keys are checked here
 * (presence, shape) and never kept in the MailSpec.
 */
export const configInput = z.object({
    hostname: z.string({ error: "is required (the MX host name, e.g. mail.example.org)" }),
    acmeEmail: z.string({ error: "is required (the Let's Encrypt account address)" }),
    acmeServer: z
        .url({ protocol: /^https$/, error: "must be an https:// ACME directory URL" })
        .default(LETS_ENCRYPT_DIRECTORY),
    /**
     * The CA's CAA identifier (RFC 8659), for the CAA records; implied for Let's Encrypt's
     * directories, required for any other acmeServer.
     */
    acmeCaaIdentity: z
        .string()
        .regex(/^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/, "must be the CA's CAA domain, e.g. letsencrypt.org")
        .optional(),
    server: serverInput.default({ type: "cx23", location: "nbg1", image: SUPPORTED_IMAGE }),
    /** A second MX in another location that queues mail while the server is down; none when absent. */
    secondaryMx: secondaryMxInput.optional(),
    sshAllowedCidrs: z.array(z.string()).min(1, "must list at least one CIDR that may reach SSH (the deployer, CI)"),
    domains: z.array(domainInput).min(1, "must list at least one mail domain"),
    /**
     * Logins for applications that only send (README "Senders for applications"): each is one
     * address of a configured domain, the only one it may use as envelope sender and From:.
     * No mailbox: IMAP, POP3, ManageSieve, the webmail and DAV refuse it. Its password is
     * mailstack:passwords["<address>"] (secret), or generated (the stack output senderPasswords).
     * Checked in the address pass.
     */
    senders: z.array(z.string()).default([]),
    relay: relayInput.optional(),
    /** The relay's SASL password: one line, in Postfix's password map (which drops trailing blanks). */
    relayPassword: secret(
        oneLineSecret()
            .min(1, "must not be empty")
            .refine((p) => !/\s$/.test(p), "must not end with a space: Postfix's password map drops trailing blanks")
            .optional(),
    ),
    mailVolumeSizeGb: z
        .number()
        .int()
        .min(10, "must be at least 10 (Hetzner's smallest volume)")
        .max(10240)
        .default(10),
    messageSizeLimitMb: z.number().int().min(1).max(200).default(50),
    /** rspamd's thresholds for mail from other servers (port 25). */
    spamFilter: spamFilterInput.default(DEFAULT_SPAM_FILTER),
    /** Days after which Dovecot empties Junk and Trash of a message, or false (never). */
    autoExpunge: autoExpungeInput.default(DEFAULT_AUTO_EXPUNGE),
    /** Recipients per login and hour on 587/465, or false (no limit). */
    submissionLimit: submissionLimitInput.default(DEFAULT_SUBMISSION_LIMIT),
    /**
     * How much one `pulumi up` asks of Cloudflare (1200 API requests per 5 minutes per token):
     * at most this many domains whose records are all new; the rest wait for the next up.
     * Without it, as many as the budget allows (render/dns/rollout.ts).
     */
    rollout: z
        .object({ newDomainsPerUp: z.number().int().min(1, "must be at least 1").optional() })
        .strict()
        .default({}),
    /** RFC 8461: what sending servers do when TLS to our MX fails (testing: report only). */
    mtaSts: z
        .object({
            mode: z
                .enum(["testing", "enforce"], { error: 'must be "testing" (report only) or "enforce"' })
                .default("testing"),
        })
        .strict()
        .default({ mode: "testing" }),
    /**
     * Roundcube at https://<hostname>/ (nginx, php-fpm, its SQLite database on the mail
     * volume); false: no webmail packages and no site.
     */
    webmail: z
        .boolean({ error: "must be true (Roundcube at https://<hostname>/) or false (no webmail)" })
        .default(true),
    /**
     * Calendars and contacts (CalDAV and CardDAV, Radicale) at https://<hostname>/dav/, with
     * the mail logins; its data on the mail volume. false: no packages on a new server, no
     * site, no DNS records.
     */
    dav: z
        .boolean({ error: "must be true (CalDAV and CardDAV at https://<hostname>/dav/) or false (none)" })
        .default(true),
    /**
     * The host's own DNS resolver (unbound). Without it, full recursion from the root with
     * DNSSEC validation. `forward`: ask these resolvers instead; only for a network whose DNS
     * is not signed and not reachable otherwise (the lab): the root trust anchor is left out,
     * so their answers are unsigned ("insecure"), never "bogus". `signedZones`: private
     * DNSSEC-signed zones, asked of their own name servers (a stub zone) and validated against
     * the DS given here (a trust anchor), with or without `forward`.
     */
    resolver: z
        .object({
            forward: z
                .array(z.string().refine((a) => isIP(a) !== 0, "must be an IPv4 or IPv6 address"))
                .min(1, "must list at least one resolver address")
                .optional(),
            signedZones: z.array(signedZoneInput).min(1, "must list at least one zone").optional(),
        })
        .strict()
        .refine((r) => r.forward !== undefined || r.signedZones !== undefined, "must set forward or signedZones")
        .optional(),
    /** address -> password, of a mailbox or a sender; checked in the address pass. */
    passwords: secret(z.unknown().optional()),
    backup: backupInput.optional(),
    /** The restic repository password: without it no backup can be read, so keep a copy outside Pulumi. */
    backupPassword: secret(oneLineSecret().min(12, "must be at least 12 characters").optional()),
    /** OpenSSH private key for the SFTP repository; generated (ed25519) when absent. */
    backupSshPrivateKey: secret(z.string().superRefine(refinedBy(privateKeyProblem)).optional()),
    backupS3AccessKeyId: secret(s3Key.optional()),
    backupS3SecretAccessKey: secret(s3Key.optional()),
    /** IMAP accounts to import, one per mailbox; removing an entry stops its import. */
    imports: z.array(importInput).optional(),
    /** mailbox address -> the old account's password (an app password at Gmail/Microsoft); checked in checkImports. */
    importPasswords: secret(z.unknown().optional()),
});

export type ConfigKey = keyof typeof configInput.shape;

/** The `mailstack:*` keys, in schema order. */
export const CONFIG_KEYS = Object.keys(configInput.shape) as ConfigKey[];

/** Keys that must be stored encrypted (`pulumi config set --secret`). */
export const SECRET_KEYS: readonly ConfigKey[] = CONFIG_KEYS.filter((k) => secretSchemas.has(configInput.shape[k]));

/** The innermost schema under `.optional()` and `.default()`. */
function innermost(schema: z.core.$ZodType): z.core.$ZodType {
    const def = schema._zod.def as { type: string; innerType?: z.core.$ZodType };
    return (def.type === "optional" || def.type === "default") && def.innerType ? innermost(def.innerType) : schema;
}

/** Keys whose value is a plain string: read as written, never JSON-parsed (a digits-only password stays a string). */
export const TEXT_KEYS: readonly ConfigKey[] = CONFIG_KEYS.filter(
    (k) => innermost(configInput.shape[k])._zod.def.type === "string",
);

/** The backup's secret keys: the spec only learns which of them are set. */
export const BACKUP_SECRET_KEYS = [
    "backupPassword",
    "backupSshPrivateKey",
    "backupS3AccessKeyId",
    "backupS3SecretAccessKey",
] as const satisfies readonly ConfigKey[];
export type BackupSecretKey = (typeof BACKUP_SECRET_KEYS)[number];

/** The secret keys whose values the spec never holds. */
export type SecretValueKey = "relayPassword" | BackupSecretKey;

/**
 * The stack config as plain values. `relayPassword` and the backup's secrets are secrets the
 * spec never holds: `hasRelayPassword` and `backupSecretsSet` say which are set, and
 * `secretValues`, when given, are checked for shape (never kept, never echoed); a value given
 * there counts as set.
 */
export type RawConfig = { [K in Exclude<ConfigKey, SecretValueKey>]?: unknown } & {
    /** Whether `mailstack:relayPassword` is set. */
    hasRelayPassword?: boolean;
    /** Which of the backup's secret keys are set. */
    backupSecretsSet?: readonly BackupSecretKey[];
    /** The values of those secrets, only to check their shape. */
    secretValues?: Partial<Record<SecretValueKey, unknown>>;
};
