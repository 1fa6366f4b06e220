// The feature registry: every server feature, and the orders in which their parts reach the
// server. The host files, the package and unit lists and the service actions derive from it
// (renderHostFiles, MAIL_PACKAGES, MAIL_UNITS, SERVICE_ACTIONS below); each order is
// written once, here, as a list of feature names. docs/design.md, "How to add a feature".

import type { MailSpec } from "../../model";
import type { HostFile, ServiceAction } from "../host/types";
import type { PruneRule } from "../plan/bundle";
import { accounts } from "./accounts";
import { backup } from "./backup";
import { backupMx } from "./backup-mx";
import { certificate } from "./certificate";
import { clients } from "./clients";
import { dav } from "./dav";
import { dmarc } from "./dmarc";
import { dovecot } from "./dovecot";
import { fail2ban } from "./fail2ban";
import type { Feature } from "./feature";
import { filter } from "./filter";
import { hostKey } from "./host-key";
import { imports } from "./import";
import { limits } from "./limits";
import { mailVolume } from "./mail-volume";
import { metadataGuard } from "./metadata-guard";
import { mtaSts } from "./mta-sts";
import { opendkim } from "./opendkim";
import { passwords } from "./passwords";
import { postfix } from "./postfix";
import { resolver } from "./resolver";
import { search } from "./search";
import { senderMilter } from "./sender-milter";
import { senders } from "./senders";
import { sieve } from "./sieve";
import { smtpEgressGuard } from "./smtp-egress-guard";
import { srs } from "./srs";
import { ssh } from "./ssh";
import { systemd } from "./systemd";
import { tls } from "./tls";
import { upgrades } from "./upgrades";
import { volumeState } from "./volume-state";
import { web } from "./web";
import { webmail } from "./webmail";

export type { Feature } from "./feature";
export { QUOTA_WARNING_SCRIPT } from "./dovecot";
export { WEBMAIL_PACKAGES } from "./webmail";
export { IMPORT_PACKAGES } from "./import";
export { DAV_PACKAGES } from "./dav";

/**
 * Every feature, in the order host-config writes their files (and the first boot's archive
 * holds them: a changed order changes the user-data, which replaces the server).
 */
export const FEATURES: readonly Feature[] = [
    postfix,
    dovecot,
    sieve,
    search,
    accounts,
    opendkim,
    senderMilter,
    hostKey,
    smtpEgressGuard,
    metadataGuard,
    fail2ban,
    ssh,
    upgrades,
    certificate,
    mailVolume,
    filter,
    resolver,
    mtaSts,
    limits,
    volumeState,
    web,
    clients,
    webmail,
    passwords,
    senders,
    dav,
    srs,
    backup,
    imports,
    tls,
    systemd,
    // The backup MX is a server of its own (backup-mx.ts, BACKUP_MX_FEATURES); here it owns its config key and records.
    backupMx,
    dmarc,
];

/** The user-data's package list, by feature (never reordered: that would replace the server). */
const PACKAGE_ORDER = [
    "postfix",
    "dovecot",
    "sieve",
    "search",
    "passwords",
    "opendkim",
    "sender-milter",
    "srs",
    "filter",
    "resolver",
    "mta-sts",
    "web",
    "certificate",
    "fail2ban",
    "metadata-guard",
    "smtp-egress-guard",
    "upgrades",
    "mail-volume",
    "backup",
    "tls",
] as const;

/**
 * The units in start order (first-boot.sh and the packages step start them so): the metadata
 * guard before anything talks to the network, the resolver before the daemons that look names
 * up, the milters and Dovecot before Postfix hands them mail. Then host-config's own units.
 */
const UNIT_ORDER = [
    "metadata-guard",
    "resolver",
    "srs",
    "opendkim",
    "sender-milter",
    "filter",
    "dovecot",
    "mta-sts",
    "postfix",
    "web",
    "fail2ban",
    "smtp-egress-guard",
    "limits",
] as const;

/**
 * The order apply-bundle runs the actions of changed files in (its ACTION_ORDER, which
 * test/apply-bundle.test.ts holds to SERVICE_ACTIONS): units read after daemon-reload, the
 * accounts and the volume's state before the daemons that use them, the resolver before every
 * daemon that looks names up, what Postfix asks (milters, policy services, Dovecot) before
 * Postfix reloads, the webmail and the calendar server (after Dovecot, whose socket it logs
 * in through) before nginx serves them, SSH last.
 */
const ACTION_ORDER = [
    "systemd",
    "accounts",
    "volume-state",
    "metadata-guard",
    "smtp-egress-guard",
    "resolver",
    "srs",
    "opendkim",
    "sender-milter",
    "limits",
    "filter",
    "mta-sts",
    "dovecot",
    "passwords",
    "postfix",
    "webmail",
    "dav",
    "web",
    "fail2ban",
    "ssh",
] as const;

/**
 * A domain's DNS records, by feature (dns-records.ts; the `dnsRecords` output lists them so):
 * the mail host and the MX, the backup MX, the sender checks (SPF with the MX, DKIM, DMARC),
 * MTA-STS and TLS reporting, CAA, then what clients look up. Each host's own records come
 * first and the MX records next (dns-records.ts), whichever feature declares them.
 */
const RECORD_ORDER = ["postfix", "backup-mx", "opendkim", "dmarc", "mta-sts", "certificate", "clients", "dav"] as const;

/**
 * The features in `order` that declare `part`, each exactly once; a feature that declares it
 * and is missing from the order (or a name that is no feature) is an error when this loads.
 */
export function ordered(
    order: readonly string[],
    part: keyof Feature,
    what: string,
    features: readonly Feature[] = FEATURES,
): Feature[] {
    const byName = new Map(features.map((f) => [f.name, f]));
    if (byName.size !== features.length) throw new Error("features: two features share a name");
    for (const name of order)
        if (!byName.has(name)) throw new Error(`features: ${what} names ${name}, which is no feature`);
    if (new Set(order).size !== order.length) throw new Error(`features: ${what} names a feature twice`);
    const missing = features.filter((f) => f[part] !== undefined && !order.includes(f.name)).map((f) => f.name);
    if (missing.length > 0) throw new Error(`features: ${missing.join(", ")} declare ${part} but are not in ${what}`);
    return order.map((n) => byName.get(n)!).filter((f) => f[part] !== undefined);
}

const unique = (items: readonly string[]) => [...new Set(items)];

/** The orders, for the tests. */
export const ORDERS = {
    packages: PACKAGE_ORDER,
    units: UNIT_ORDER,
    actions: ACTION_ORDER,
    records: RECORD_ORDER,
} as const;

/** What the user-data installs on first boot (and the packages step on every server); the lab pre-downloads exactly these. */
export const MAIL_PACKAGES: readonly string[] = Object.freeze(
    unique(ordered(PACKAGE_ORDER, "packages", "PACKAGE_ORDER").flatMap((f) => f.packages!)),
);

/**
 * The units that carry the mail service, in start order: first-boot starts them, and the
 * packages step starts any that is not running (e.g. one whose package came later).
 */
export const MAIL_UNITS: readonly string[] = Object.freeze(
    ordered(UNIT_ORDER, "units", "UNIT_ORDER").flatMap((f) => f.units!),
);

/**
 * Every unit that must be active on a provisioned server: MAIL_UNITS, then those of our own
 * that come with host-config (mailstack doctor checks these).
 */
export const ACTIVE_UNITS: readonly string[] = Object.freeze([
    ...MAIL_UNITS,
    ...ordered(UNIT_ORDER, "laterUnits", "UNIT_ORDER").flatMap((f) => f.laterUnits!),
]);

/** Every service action, in the order apply-bundle runs them. */
export const SERVICE_ACTIONS: readonly ServiceAction[] = Object.freeze(
    ordered(ACTION_ORDER, "actions", "ACTION_ORDER").flatMap((f) => f.actions!),
);

/** The features that publish DNS records, in RECORD_ORDER. */
export const DNS_FEATURES: readonly Feature[] = Object.freeze(ordered(RECORD_ORDER, "dnsRecords", "RECORD_ORDER"));

/** The features whose packages and units only the packages step brings, when they are on. */
const OPTIONAL = FEATURES.filter((f) => f.optional !== undefined);

/** Packages only the packages step installs, for the features switched on (all of them without a spec). */
export function optionalPackages(spec?: MailSpec): string[] {
    return OPTIONAL.filter((f) => !spec || f.optional!.on(spec)).flatMap((f) => f.optional!.packages);
}

/** The packages step's lists: every package and unit of the user-data's, then the optional features'. */
export function packageStep(spec: MailSpec): { packages: string[]; units: string[] } {
    const on = OPTIONAL.filter((f) => f.optional!.on(spec));
    return {
        packages: [...MAIL_PACKAGES, ...on.flatMap((f) => f.optional!.packages)],
        units: [...MAIL_UNITS, ...on.flatMap((f) => f.optional!.units)],
    };
}

/** The files the user-data writes at first boot (host-config keeps them current). */
export function renderFirstBootFiles(spec: MailSpec): HostFile[] {
    return FEATURES.flatMap((f) => f.files?.(spec) ?? []);
}

/** The files only host-config brings; the user-data leaves them out (Hetzner's 32 KiB). */
export function renderLaterFiles(spec: MailSpec): HostFile[] {
    return FEATURES.flatMap((f) => f.laterFiles?.(spec) ?? []);
}

/** Every static config file of the host, feature by feature: the host-config step's files. */
export function renderHostFiles(spec: MailSpec, options: { readonly firstBoot?: boolean } = {}): HostFile[] {
    if (options.firstBoot) return renderFirstBootFiles(spec);
    return FEATURES.flatMap((f) => [...(f.files?.(spec) ?? []), ...(f.laterFiles?.(spec) ?? [])]);
}

/** What host-config removes when it no longer renders it. */
export const HOST_CONFIG_PRUNE: readonly PruneRule[] = Object.freeze(FEATURES.flatMap((f) => f.prune ?? []));
