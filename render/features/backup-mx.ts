// The backup MX (mailstack:secondaryMx): a second server in another location whose Postfix
// takes mail for our domains while the primary does not answer, keeps it for days and hands
// it to the primary over verified TLS. It filters as the primary does (the filter feature's
// very rspamd files), refuses unknown recipients at RCPT (relay_recipient_maps) and holds no
// mailbox, no password and no DKIM key. It is a server of its own made of features: its own
// Postfix (below) and the primary's features it shares (BACKUP_MX_FEATURES), from which its
// files, packages and units derive as the primary's derive from FEATURES. Its user-data and
// its provisioning steps (render/plan/plan.ts, SECONDARY_PROVISIONING_PLAN) are rendered here.

import { isIP } from "node:net";
import * as path from "node:path";
import { hostPostmaster, type MailSpec, type SecondaryMxSpec } from "../../model";
import { renderCloudConfig, FIRST_BOOT_ARCHIVE, type UserDataOptions } from "../boot/cloud-config";
import { hostRecords, MAIL_DNS_TTL } from "../dns/record";
import { SECONDARY_MX_PREFERENCE } from "../dns/text";
import { renderFilterFiles, RSPAMD_MILTER } from "../host/filter";
import { queueMinFreeBytes } from "../host/limits";
import { ownSenderDomainsFile } from "../host/mail-data";
import { renderTemplate } from "../host/template";
import { hostFile, type HostFile } from "../host/types";
import type { PruneRule } from "../plan/bundle";
import { VOLUME_STATE_UNITS } from "../host/volume";
import { certificate } from "./certificate";
import type { Feature } from "./feature";
import { filter } from "./filter";
import { hostKey } from "./host-key";
import { mailVolume } from "./mail-volume";
import { postfixUnitFiles } from "./postfix";
import { metadataGuard } from "./metadata-guard";
import { resolver } from "./resolver";
import { smtpEgressGuard } from "./smtp-egress-guard";
import { ssh } from "./ssh";
import { systemd } from "./systemd";
import { tls } from "./tls";
import { upgrades } from "./upgrades";
import { volumeState, volumeStateFiles } from "./volume-state";

/**
 * How long a message waits for the primary before its sender is told it failed: longer than
 * any outage or replacement we plan for. Senders themselves give up after 4-5 days.
 */
export const SECONDARY_QUEUE_LIFETIME = "10d";
/** Our own bounces to outside senders (Postfix's default). */
export const SECONDARY_BOUNCE_LIFETIME = "5d";
/**
 * Tried again at least this often (Postfix's default grows to over an hour): a primary that was
 * only unreachable, its Postfix never restarted (so no ETRN), gets its mail within this and
 * one scan of the queue (SECONDARY_QUEUE_RUN_DELAY). Postfix's own minimal_backoff_time is the same.
 */
export const SECONDARY_MAXIMAL_BACKOFF = "5m";
/** How often its queue manager looks for deferred mail whose time has come (Postfix's default: 5m). */
export const SECONDARY_QUEUE_RUN_DELAY = "1m";
/** The sender is told "delayed, still trying" after this, and the postmaster gets the headers. */
export const SECONDARY_DELAY_WARNING = "4h";

/** The relay-data tables, in /etc/postfix/mailstack/ (first boot makes them empty). */
export const RELAY_DATA_DIR = "/etc/postfix/mailstack";
export const SECONDARY_TABLES = ["relay-domains", "relay-recipients", "own-sender-domains", "etrn-clients"] as const;

/** The backup MX's spec, or an error: a renderer of it is called only with one configured. */
export function secondaryOf(spec: MailSpec): SecondaryMxSpec {
    if (!spec.secondaryMx) throw new Error("secondary MX: mailstack:secondaryMx is not set");
    return spec.secondaryMx;
}

/** The backup MX's main.cf: the domains and addresses are tables (relay-data), the rest is fixed. */
function secondaryMainCf(spec: MailSpec): string {
    const secondary = secondaryOf(spec);
    return renderTemplate("postfix/secondary-main.cf", {
        hostname: secondary.hostname,
        primaryHostname: spec.hostname,
        messageSizeLimitBytes: spec.messageSizeLimitBytes,
        // Its own volume's size, with the primary's rule for what must stay free.
        queueMinFreeBytes: queueMinFreeBytes({ ...spec, mailVolumeSizeGb: secondary.queueVolumeSizeGb }),
        maximalQueueLifetime: SECONDARY_QUEUE_LIFETIME,
        bounceQueueLifetime: SECONDARY_BOUNCE_LIFETIME,
        maximalBackoffTime: SECONDARY_MAXIMAL_BACKOFF,
        queueRunDelay: SECONDARY_QUEUE_RUN_DELAY,
        delayWarningTime: SECONDARY_DELAY_WARNING,
        postmaster: hostPostmaster(spec),
        smtpdTls: renderTemplate("postfix/smtpd-tls.cf"),
        rspamdMilter: RSPAMD_MILTER,
    });
}

/** The rspamd controller password of the backup MX: root only (it has no vmail, and no Sieve). */
const ROOT_ONLY = { group: "root", why: "the backup MX runs no Sieve: root only" } as const;

/** The backup MX's own feature: its Postfix (port 25 only) and the nginx site for its ACME challenges. */
const backupMxPostfix: Feature = {
    name: "backup-mx-postfix",
    packages: ["postfix", "nginx"],
    units: ["postfix", "nginx"],
    actions: ["apply:accounts", "reload:postfix", "reload:nginx"],
    files: (spec) => [
        hostFile("/etc/postfix/main.cf", secondaryMainCf(spec), ["reload:postfix"]),
        hostFile("/etc/postfix/master.cf", renderTemplate("postfix/secondary-master.cf"), ["reload:postfix"]),
        hostFile("/etc/sysusers.d/mailstack.conf", renderTemplate("mailstack/secondary-sysusers.conf"), [
            "apply:accounts",
            "restart:rspamd",
        ]),
        hostFile("/etc/nginx/sites-available/default", renderTemplate("nginx/secondary-default"), ["reload:nginx"]),
    ],
    laterFiles: () => postfixUnitFiles(),
};

/** The primary's spec as the backup MX's features read it: its own host name (acme.env, the certificate). */
function asBackupMx(spec: MailSpec): MailSpec {
    const secondary = secondaryOf(spec);
    return { ...spec, hostname: secondary.hostname, hostnameDomain: secondary.hostnameDomain };
}

/**
 * The backup MX's features, in the order its host-config writes their files: its own Postfix,
 * then the primary's features it shares, three of them adapted (the certificate for its own
 * name, the filter's controller password for root, the volume's state without Dovecot and
 * without the mail volume's migrations).
 */
export const BACKUP_MX_FEATURES: readonly Feature[] = [
    backupMxPostfix,
    hostKey,
    smtpEgressGuard,
    metadataGuard,
    ssh,
    upgrades,
    {
        ...certificate,
        files: (spec) => certificate.files!(asBackupMx(spec)),
        laterFiles: (spec) => certificate.laterFiles!(asBackupMx(spec)),
    },
    { ...filter, laterFiles: (spec) => renderFilterFiles(spec, ROOT_ONLY) },
    resolver,
    // Its queue volume: Postfix waits for it (the mail volume's drop-in for Postfix, not Dovecot's).
    {
        ...mailVolume,
        files: (spec) => mailVolume.files!(spec).filter((f) => f.path.includes("/postfix.service.d/")),
    },
    {
        ...volumeState,
        // Its state units less Dovecot, which it does not have (`systemctl stop` of a unit that
        // does not exist fails, and the move with it).
        files: () => volumeStateFiles(VOLUME_STATE_UNITS.filter((u) => u !== "dovecot")),
        laterFiles: undefined,
    },
    tls,
    systemd,
];

/** Its units in start order: the metadata guard first, the resolver and Valkey before Postfix. */
const BACKUP_MX_UNIT_FEATURES = ["metadata-guard", "resolver", "filter", "backup-mx-postfix"];
const byName = (name: string) => BACKUP_MX_FEATURES.find((f) => f.name === name)!;

/** What the backup MX's user-data installs; the packages step installs today's list again. */
export const SECONDARY_PACKAGES: readonly string[] = Object.freeze([
    ...new Set(BACKUP_MX_FEATURES.flatMap((f) => f.packages ?? [])),
]);

/** The units that carry its service, in start order (its first boot and packages step start them). */
export const SECONDARY_UNITS: readonly string[] = Object.freeze(
    BACKUP_MX_UNIT_FEATURES.flatMap((n) => byName(n).units ?? []),
);

/** Every unit that must be active on a provisioned backup MX (mailstack doctor checks these). */
export const SECONDARY_ACTIVE_UNITS: readonly string[] = Object.freeze([
    ...SECONDARY_UNITS,
    ...BACKUP_MX_FEATURES.flatMap((f) => f.laterUnits ?? []),
]);

/**
 * Every static file of the backup MX, the host-config step's bundle. `firstBoot`: the files
 * its user-data writes (as on the primary, the filter's come minutes later with host-config,
 * and until then rspamd is stopped and Postfix defers mail).
 */
export function renderSecondaryHostFiles(spec: MailSpec, options: { readonly firstBoot?: boolean } = {}): HostFile[] {
    secondaryOf(spec);
    return BACKUP_MX_FEATURES.flatMap((f) => [
        ...(f.files?.(spec) ?? []),
        ...(options.firstBoot ? [] : (f.laterFiles?.(spec) ?? [])),
    ]);
}

/** The primary's ETRN sender: its script, its unit, and the drop-in by which Postfix's start pulls it in. */
const ETRN_SCRIPT = "/usr/local/sbin/mailstack-backup-mx-etrn";
const ETRN_UNIT = "/etc/systemd/system/mailstack-backup-mx-etrn.service";
const ETRN_DROP_IN = "/etc/systemd/system/postfix.service.d/backup-mx-etrn.conf";

/** Once mailstack:secondaryMx is off, host-config removes the primary's ETRN sender. */
export const ETRN_PRUNE: readonly PruneRule[] = [
    { dir: path.posix.dirname(ETRN_SCRIPT), pattern: "mailstack-backup-mx-*", onChange: [] },
    { dir: path.posix.dirname(ETRN_UNIT), pattern: "mailstack-backup-mx-*.service", onChange: ["daemon-reload"] },
    { dir: path.posix.dirname(ETRN_DROP_IN), pattern: "backup-mx-*.conf", onChange: ["daemon-reload"] },
];

/**
 * The primary's side of the backup MX: each start of its Postfix asks the backup MX for the
 * mail it kept (ETRN), once the primary takes mail again; none without mailstack:secondaryMx.
 */
export function renderEtrnFiles(spec: MailSpec): HostFile[] {
    if (!spec.secondaryMx) return [];
    // rspamd's milter, whose listening the script waits for: RSPAMD_MILTER's address.
    const [, milterHost, milterPort] = /^inet:(.+):(\d+)$/.exec(RSPAMD_MILTER)!;
    return [
        hostFile(
            ETRN_SCRIPT,
            renderTemplate("mailstack/backup-mx-etrn.py", {
                backupMx: spec.secondaryMx.hostname,
                hostname: spec.hostname,
                domains: spec.domains.map((d) => d.name).join(" "),
                maximalBackoff: SECONDARY_MAXIMAL_BACKOFF,
                milterHost,
                milterPort,
            }),
            [],
            "0755",
        ),
        hostFile(ETRN_UNIT, renderTemplate("systemd/mailstack-backup-mx-etrn.service"), ["daemon-reload"]),
        hostFile(ETRN_DROP_IN, renderTemplate("systemd/postfix-backup-mx-etrn.conf"), ["daemon-reload"]),
    ];
}

/**
 * The registry's entry: the config section it owns, its records, and the primary's ETRN
 * sender. Its server is BACKUP_MX_FEATURES.
 */
export const backupMx: Feature = {
    name: "backup-mx",
    config: ["secondaryMx"],
    laterFiles: (spec) => renderEtrnFiles(spec),
    prune: ETRN_PRUNE,
    dnsRecords: (spec, domain, facts) => {
        const secondary = spec.secondaryMx;
        if (!secondary) return [];
        if (!facts.secondary) throw new Error("dns: mailstack:secondaryMx is set but its addresses are not known");
        return [
            // Its bounces and delay notices come from MAILER-DAEMON, checked against its EHLO name.
            ...(secondary.hostnameDomain === domain.name
                ? hostRecords(
                      secondary.hostname,
                      facts.secondary.ipv4,
                      facts.secondary.ipv6,
                      "backup MX",
                      "SPF for the backup MX's name (EHLO, its bounces)",
                  )
                : []),
            // Senders try it only when the primary does not answer (a higher preference).
            {
                name: domain.name,
                type: "MX",
                content: secondary.hostname,
                priority: SECONDARY_MX_PREFERENCE,
                ttl: MAIL_DNS_TTL,
                purpose: `backup MX: queues mail for ${domain.name} while ${spec.hostname} is down`,
            },
        ];
    },
};

/** The backup MX's first-boot user-data: no secret but the provisional host key, nothing per domain. */
export function renderSecondaryUserData(spec: MailSpec, options: UserDataOptions): string {
    return renderCloudConfig(options, {
        hostname: secondaryOf(spec).hostname,
        packages: SECONDARY_PACKAGES,
        files: renderSecondaryHostFiles(spec, { firstBoot: true }),
        firstBootScript: renderTemplate("mailstack/secondary-first-boot.sh", {
            firstBootArchive: FIRST_BOOT_ARCHIVE,
            tables: SECONDARY_TABLES.join(" "),
            units: SECONDARY_UNITS.join(" "),
        }),
    });
}

/** The packages step's stdin for the backup MX. */
export function renderSecondaryPackageList(): string {
    return (
        [...SECONDARY_PACKAGES.map((p) => `package ${p}`), ...SECONDARY_UNITS.map((u) => `unit ${u}`)].join("\n") + "\n"
    );
}

/**
 * Every address the primary takes mail for, as relay_recipient_maps keys: each mailbox, each
 * alias, abuse@ (the primary's implicit alias of postmaster@), and `@domain` for a domain
 * with a catch-all (every address of it is valid).
 */
export function relayRecipients(spec: MailSpec): string[] {
    return spec.domains.flatMap((d) => {
        if (d.catchAll !== undefined) return [`@${d.name}`];
        const listed = [...d.mailboxes, ...d.aliases.map((a) => a.address)];
        return [...new Set([...listed, `abuse@${d.name}`])].sort();
    });
}

function table(name: string, why: string, rows: readonly string[]): HostFile {
    const header = `# ${RELAY_DATA_DIR}/${name} - rendered by mailstack from the stack config (relay-data). ${why}\n`;
    return hostFile(`${RELAY_DATA_DIR}/${name}`, header + rows.map((r) => `${r}\n`).join(""), ["reload:postfix"]);
}

/**
 * The primary's addresses as a Postfix cidr table: the clients whose ETRN the backup MX
 * takes (smtpd_etrn_restrictions). Without them, the primary's IPs do not exist yet: an error.
 */
function etrnClients(primaryAddresses: readonly string[] | undefined): string[] {
    const addresses = primaryAddresses ?? [];
    if (addresses.length === 0 || addresses.some((a) => isIP(a) === 0))
        throw new Error(`secondary MX: the primary's addresses are not IP addresses: ${JSON.stringify(addresses)}`);
    return addresses.map((a) => `${a}/${isIP(a) === 4 ? 32 : 128} OK`);
}

/**
 * The relay-data step's files: the domains, their valid addresses, our domains as forged
 * senders, and the primary's addresses (ETRN).
 */
export function renderRelayData(spec: MailSpec, primaryAddresses: readonly string[] | undefined): HostFile[] {
    secondaryOf(spec);
    return [
        table(
            "relay-domains",
            "Domains this backup MX queues mail for.",
            spec.domains.map((d) => `${d.name} OK`),
        ),
        table(
            "relay-recipients",
            "Every valid address; any other recipient is refused at RCPT.",
            relayRecipients(spec).map((a) => `${a} OK`),
        ),
        ownSenderDomainsFile(spec),
        table(
            "etrn-clients",
            `The primary's addresses: only ${spec.hostname} may ask for its mail now (ETRN).`,
            etrnClients(primaryAddresses),
        ),
    ];
}
