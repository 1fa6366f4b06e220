// The validated description of a mail server. Everything else (renderers, DNS values, Pulumi
// components, the lab) reads a MailSpec and never the raw config.

export type DmarcPolicy = "none" | "quarantine" | "reject";

/** An alias: mail to `address` goes to every target (local mailboxes or outside addresses). */
export interface AliasSpec {
    readonly address: string;
    readonly targets: readonly string[];
}

export interface DomainSpec {
    /** The mail domain, lower case, e.g. `nathabee.de`. */
    readonly name: string;
    /** Cloudflare zone id; looked up by name when absent. */
    readonly zoneId?: string;
    /** Full addresses of the mailboxes, lower case. */
    readonly mailboxes: readonly string[];
    readonly aliases: readonly AliasSpec[];
    /** The mailbox (full address, one of `mailboxes`) that takes mail for every unlisted address of the domain. */
    readonly catchAll?: string;
    /** Mailbox address -> its quota as Dovecot reads it (e.g. `2G`); one entry per mailbox. */
    readonly mailboxQuotas: Readonly<Record<string, string>>;
    /**
     * Mailbox address -> its password reset marker (only the mailboxes that have one): a new
     * marker replaces the password the user set with the configured one.
     */
    readonly passwordResets: Readonly<Record<string, string>>;
    /** DKIM selector: the key is published at `<selector>._domainkey.<domain>`. */
    readonly dkimSelector: string;
    /** Selectors of earlier keys, published (no longer signing) until the day `until` (UTC, inclusive). */
    readonly dkimRetired: readonly { readonly selector: string; readonly until: string }[];
    /** Extra SPF mechanisms placed between `mx` and `-all` (e.g. `include:_spf.example.net`). */
    readonly spfExtra: readonly string[];
    readonly dmarc: { readonly policy: DmarcPolicy; readonly rua: string };
    /** Take over conflicting records found in the zone instead of stopping (components/zones.ts). */
    readonly takeOverRecords: boolean;
}

export interface RelaySpec {
    readonly host: string;
    readonly port: number;
    readonly username: string;
    /** The relay certificate's pinned SHA-256 fingerprint, `AB:CD:...` (upper case, colons); else verified by name. */
    readonly tlsFingerprint?: string;
}

/** Hetzner Storage Box or any SFTP server; `hostKey` is pinned (`<type> <base64>`). */
export interface BackupSftpRepository {
    readonly type: "sftp";
    readonly host: string;
    readonly port: number;
    readonly user: string;
    readonly path: string;
    readonly hostKey: string;
}

/** An S3-compatible bucket, e.g. Hetzner Object Storage. */
export interface BackupS3Repository {
    readonly type: "s3";
    /** `https://...`, without a trailing slash. */
    readonly endpoint: string;
    readonly bucket: string;
    readonly path: string;
}

export interface BackupSpec {
    readonly repository: BackupSftpRepository | BackupS3Repository;
    /** systemd OnCalendar expression of the daily backup. */
    readonly schedule: string;
    /** How many daily, weekly and monthly snapshots `restic forget` keeps. */
    readonly retention: { readonly daily: number; readonly weekly: number; readonly monthly: number };
}

/** rspamd's score thresholds on port 25; false switches that action off. */
export interface SpamFilterSpec {
    /** Refused with 5xx after DATA. */
    readonly reject: number | false;
    /** Delivered with `X-Spam: Yes` (marked as spam). */
    readonly junk: number | false;
    /** Refused with 4xx for a while (greylisting). */
    readonly greylist: number | false;
}

/** One IMAP account imported into a mailbox; its password is a secret the spec never holds. */
export interface ImportSpec {
    /** The receiving mailbox's address, lower case. */
    readonly mailbox: string;
    /** The source's host, lower case. */
    readonly host: string;
    readonly port: number;
    readonly tls: "implicit" | "starttls";
    readonly user: string;
    /** Set when the import logs in with XOAUTH2 (auth: "oauth2"); else the password is used. */
    readonly oauth2?: ImportOAuth2Spec;
}

/** The OAuth2 public client an import gets its access tokens with (RFC 8628, then refresh). */
export interface ImportOAuth2Spec {
    readonly clientId: string;
    /** The token endpoint: device-code and refresh-token grants. */
    readonly tokenUrl: string;
    /** The device authorization endpoint (RFC 8628). */
    readonly deviceUrl: string;
    /** Space separated; asks for a refresh token (offline_access at Microsoft). */
    readonly scope: string;
}

/** Microsoft's identity platform (v2.0 endpoints) for a tenant, and the scope IMAP needs. */
export const MICROSOFT_OAUTH2 = {
    tokenUrl: (tenant: string) => `https://login.microsoftonline.com/${tenant}/oauth2/v2.0/token`,
    deviceUrl: (tenant: string) => `https://login.microsoftonline.com/${tenant}/oauth2/v2.0/devicecode`,
    scope: "https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
    tenant: "common",
} as const;

/** The backup MX (mailstack:secondaryMx): Postfix and rspamd in front of a queue of days. */
export interface SecondaryMxSpec {
    /** Its host name: A/AAAA, PTR, EHLO name and TLS certificate name. */
    readonly hostname: string;
    /** The configured domain whose zone holds its A/AAAA records. */
    readonly hostnameDomain: string;
    /** Another location than the primary's (buildSpec refuses the same one). */
    readonly server: { readonly type: string; readonly location: string; readonly image: string };
    /** Size of the volume its queue lives on. */
    readonly queueVolumeSizeGb: number;
}

export interface MailSpec {
    /** The MX host: A/AAAA, PTR, EHLO name and TLS certificate name. */
    readonly hostname: string;
    /** The configured domain whose zone holds the hostname's A/AAAA records. */
    readonly hostnameDomain: string;
    readonly acmeEmail: string;
    /** ACME directory URL; Let's Encrypt production unless a test CA stands in. */
    readonly acmeServer: string;
    /** The CAA `issue` value: the only CA that may issue for our domains (RFC 8659). */
    readonly acmeCaaIdentity: string;
    readonly server: { readonly type: string; readonly location: string; readonly image: string };
    /** The backup MX in another location; none when absent. */
    readonly secondaryMx?: SecondaryMxSpec;
    readonly sshAllowedCidrs: readonly string[];
    readonly domains: readonly DomainSpec[];
    /**
     * Senders for applications (mailstack:senders): full addresses, lower case. Each is a
     * login that may only submit (587/465), only as itself; it has no mailbox.
     */
    readonly senders: readonly string[];
    readonly relay?: RelaySpec;
    readonly mailVolumeSizeGb: number;
    readonly messageSizeLimitBytes: number;
    readonly spamFilter: SpamFilterSpec;
    /** Days after which Junk and Trash lose a message, or false (never). */
    readonly autoExpunge: { readonly junk: number | false; readonly trash: number | false };
    /**
     * Recipients one login may send to in any hour on 587/465, or false (no limit); `senders`:
     * a sender for applications' own limit by its address (lower case), where it has one.
     */
    readonly submissionLimit: {
        readonly recipientsPerHour: number | false;
        readonly senders: Readonly<Record<string, number | false>>;
    };
    /** At most this many domains with all-new DNS records per `pulumi up`; absent: the request budget decides. */
    readonly rollout: { readonly newDomainsPerUp?: number };
    /** RFC 8461 policy mode, published at mta-sts.<domain> for every domain. */
    readonly mtaStsMode: "testing" | "enforce";
    /** Roundcube at https://<hostname>/; false: none of its packages, files or site. */
    readonly webmail: boolean;
    /** Calendars and contacts (Radicale) at https://<hostname>/dav/; false: none of its packages, files, site or records. */
    readonly dav: boolean;
    /** Where the host's resolver sends its queries: [] is full recursion with DNSSEC validation. */
    readonly resolverForward: readonly string[];
    /** Private DNSSEC-signed zones: asked of their own servers, validated against their DS. */
    readonly resolverSignedZones: readonly SignedZoneSpec[];
    /** restic backups of the mail volume; none when absent. */
    readonly backup?: BackupSpec;
    /** IMAP accounts imported into mailboxes (mailstack:imports), in config order. */
    readonly imports: readonly ImportSpec[];
}

export interface SignedZoneSpec {
    /** The zone's name, lower case, without the final dot. */
    readonly name: string;
    /** Its authoritative name servers' addresses. */
    readonly servers: readonly string[];
    /** DS records' data ("keytag algorithm digesttype hexdigest"), the zone's trust anchor. */
    readonly ds: readonly string[];
}

export const SUPPORTED_IMAGE = "debian-13";
export const LETS_ENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory";
/** Let's Encrypt's CAA identifier, for its production and staging directories alike. */
export const LETS_ENCRYPT_CAA_IDENTITY = "letsencrypt.org";
export const DEFAULT_DKIM_SELECTOR = "mail";

/**
 * The retired DKIM selectors still published on `now` (their last day not yet over, UTC):
 * their records and keys exist; later ones are gone.
 */
export function publishedRetiredSelectors(domain: DomainSpec, now: Date = new Date()): string[] {
    const today = now.toISOString().slice(0, 10);
    return domain.dkimRetired.filter((r) => r.until >= today).map((r) => r.selector);
}

/** Every mailbox address. */
export function allMailboxes(spec: MailSpec): string[] {
    return spec.domains.flatMap((d) => d.mailboxes);
}

/** Every login, each with a password: the mailboxes, then the senders for applications. */
export function allLogins(spec: MailSpec): string[] {
    return [...allMailboxes(spec), ...spec.senders];
}
