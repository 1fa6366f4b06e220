// The backup MX (mailstack:secondaryMx): a second server in another location whose Postfix
// takes mail for our domains while the primary does not answer, keeps it for days and hands
// it to the primary over verified TLS. It filters as the primary does (the very same rspamd
// files: renderFilterFiles), refuses unknown recipients at RCPT (relay_recipient_maps) and
// holds no mailbox, no password and no DKIM key. Its first boot, its host files and its
// provisioning steps (plan.ts, SECONDARY_PROVISIONING_PLAN) are rendered here.

import { hostPostmaster, type MailSpec, type SecondaryMxSpec } from "../../model";
import { renderFilterFiles, RSPAMD_MILTER } from "./filter";
import {
    CERTBOT_DEPLOY_HOOK,
    metadataGuardFiles,
    smtpEgressGuardFiles,
    sshAndAcmeFiles,
    UNATTENDED_UPGRADES_CONF,
    volumeStateFiles,
} from "./host-files";
import { queueMinFreeBytes } from "./limits";
import { ownSenderDomainsFile } from "./mail-data";
import { VOLUME_STATE_UNITS } from "./volume";
import { renderOutboundFiles } from "./outbound";
import packages from "../boot/packages.json";
import { renderTemplate } from "./template";
import { hostFile, type HostFile } from "./types";
import { FIRST_BOOT_ARCHIVE, renderCloudConfig, type UserDataOptions } from "../boot/user-data";

/** What the backup MX's user-data installs; the packages step installs today's list again. */
export const SECONDARY_PACKAGES: readonly string[] = Object.freeze([...packages.secondary]);

/** The units that carry its service, in start order (its first boot and packages step start them). */
export const SECONDARY_UNITS = ["mailstack-metadata-guard", "unbound", "valkey-server", "postfix", "nginx"] as const;

/** Every unit that must be active on a provisioned backup MX (mailstack doctor checks these). */
export const SECONDARY_ACTIVE_UNITS: readonly string[] = [...SECONDARY_UNITS, "rspamd", "mailstack-smtp-egress-guard"];

/**
 * How long a message waits for the primary before its sender is told it failed: longer than
 * any outage or replacement we plan for. Senders themselves give up after 4-5 days.
 */
export const SECONDARY_QUEUE_LIFETIME = "10d";
/** Our own bounces to outside senders (Postfix's default). */
export const SECONDARY_BOUNCE_LIFETIME = "5d";
/** Tried again at least this often: a primary back from a long outage gets its mail within this. */
export const SECONDARY_MAXIMAL_BACKOFF = "15m";
/** The sender is told "delayed, still trying" after this, and the postmaster gets the headers. */
export const SECONDARY_DELAY_WARNING = "4h";

/** The relay-data tables, in /etc/postfix/mailstack/ (first boot makes them empty). */
export const RELAY_DATA_DIR = "/etc/postfix/mailstack";
export const SECONDARY_TABLES = ["relay-domains", "relay-recipients", "own-sender-domains"] as const;

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
        delayWarningTime: SECONDARY_DELAY_WARNING,
        postmaster: hostPostmaster(spec),
        smtpdTls: renderTemplate("postfix/smtpd-tls.cf"),
        rspamdMilter: RSPAMD_MILTER,
    });
}

/**
 * Every static file of the backup MX, the host-config step's bundle. `firstBoot` leaves out
 * what its first boot does not need (as on the primary: the filter's files come minutes later
 * with host-config, and until then rspamd is stopped and Postfix defers mail).
 */
export function renderSecondaryHostFiles(spec: MailSpec, options: { readonly firstBoot?: boolean } = {}): HostFile[] {
    const secondary = secondaryOf(spec);
    const later = [
        // The primary's spam and forgery policy, the very same files.
        ...renderFilterFiles(spec, { group: "root", why: "the backup MX runs no Sieve: root only" }),
        // unbound (DNSSEC-validating, for DANE and the blocklists); no MTA-STS resolver: the
        // one destination that matters is the primary, whose TLS policy main.cf pins.
        ...renderOutboundFiles(spec).filter((f) => f.path !== "/etc/mta-sts-daemon.yml"),
        ...smtpEgressGuardFiles(),
    ];
    const all = [
        hostFile("/etc/postfix/main.cf", secondaryMainCf(spec), ["reload:postfix"]),
        hostFile("/etc/postfix/master.cf", renderTemplate("postfix/secondary-master.cf"), ["reload:postfix"]),
        hostFile("/etc/sysusers.d/mailstack.conf", renderTemplate("mailstack/secondary-sysusers.conf"), [
            "apply:accounts",
            "restart:rspamd",
        ]),
        hostFile("/usr/local/sbin/mailstack-host-key", renderTemplate("mailstack/host-key.sh"), [], "0755"),
        ...metadataGuardFiles(),
        ...sshAndAcmeFiles(spec, secondary.hostname),
        hostFile("/etc/nginx/sites-available/default", renderTemplate("nginx/secondary-default"), ["reload:nginx"]),
        hostFile(
            "/etc/systemd/system/postfix.service.d/mailstack.conf",
            renderTemplate("systemd/postfix-requires-mail-volume.conf"),
            ["daemon-reload"],
        ),
        // Its state units less Dovecot, which it does not have (`systemctl stop` of a unit
        // that does not exist fails, and the move with it).
        ...volumeStateFiles(VOLUME_STATE_UNITS.filter((u) => u !== "dovecot")),
        ...later,
    ];
    if (!options.firstBoot) return all;
    // Nothing uses certbot's hook or the upgrade settings before host-config either.
    const notYet = new Set([...later.map((f) => f.path), CERTBOT_DEPLOY_HOOK, UNATTENDED_UPGRADES_CONF]);
    return all.filter((f) => !notYet.has(f.path));
}

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

/** The relay-data step's files: the domains, their valid addresses, and our domains as forged senders. */
export function renderRelayData(spec: MailSpec): HostFile[] {
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
    ];
}
