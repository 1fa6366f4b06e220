// The static host configuration: the same for any list of domains and mailboxes, so it can
// go into the user-data (first boot) and, unchanged, into the `host-config` bundle.

import { CLIENT_HOST_LABELS, port, type MailSpec } from "../../model";
import { shellQuote } from "../../scripts/commands";
import {
    AUTHORIZED_SUBMIT_USERS,
    OPENDKIM_SOCKET,
    POSTFIX_SPOOL,
    renderAccountFiles,
    SENDER_MILTER_SOCKET,
    SENDER_MILTER_USER,
    socketDir,
} from "./accounts";
import { renderClientFiles } from "./client-config";
import { renderTemplate } from "./template";
import { hostFile, type HostFile, type ServiceAction } from "./types";
import { renderFilterFiles, RSPAMD_MILTER } from "./filter";
import { queueMinFreeBytes, renderLimitFiles, submissionRecipientRestrictions } from "./limits";
import { MTA_STS_POLICY_MAP, renderOutboundFiles } from "./outbound";
import { renderSieveFiles, renderSieveLearners, sieveTemplateValues } from "./sieve";
import { renderWebmailFiles, WEBMAIL_NGINX_CONF } from "./webmail";
import type { PruneRule } from "../plan/bundle";
import { DOVECOT_CONFIG_VERSION, DOVECOT_STORAGE_VERSION, migrateFile } from "./migrations";
import {
    MAIL_VOLUME_MOUNT,
    mountUnitName,
    VOLUME_STATE_DIRS,
    VOLUME_STATE_ROOT,
    VOLUME_STATE_UNITS,
    volumeStatePath,
} from "./volume";

const file = hostFile;

/**
 * main.cf's outbound block. With a relay: every message goes through it, over TLS, with SASL.
 * Without: straight to each recipient's MX, with DANE and MTA-STS where the domain asks.
 */
function outboundConfig(spec: MailSpec): string {
    if (!spec.relay)
        return [
            "",
            "# --- Direct delivery: verified TLS where the recipient's domain asks for it ----------",
            "# DANE (RFC 7672): a domain whose MX has DNSSEC-signed TLSA records gets mail only over TLS",
            '# that matches them; any other domain gets opportunistic TLS ("may"). Needs a validating',
            "# resolver of our own (unbound, /etc/resolv.conf).",
            "smtp_dns_support_level = dnssec",
            "# MTA-STS (RFC 8461): postfix-mta-sts-resolver answers with the domain's policy, and",
            '# "enforce" becomes "secure" (the certificate verified for the policy\'s MX names): mail',
            "# that cannot meet it is deferred, never sent in clear or to an impostor.",
            `smtp_tls_policy_maps = ${MTA_STS_POLICY_MAP}`,
            "",
        ].join("\n");
    const { host, port } = spec.relay;
    return [
        "",
        "# --- Relay host (outbound port 25 is blocked on new Hetzner accounts) --------------",
        `relayhost = [${host}]:${port}`,
        "smtp_sasl_auth_enable = yes",
        "# root:root 0600, from mail-data: the only place the relay password is stored.",
        "smtp_sasl_password_maps = texthash:/etc/postfix/mailstack/relay-password",
        "smtp_sasl_security_options = noanonymous",
        "smtp_sasl_tls_security_options = noanonymous",
        ...(port === 465
            ? ["# Port 465 speaks TLS from the first byte (RFC 8314).", "smtp_tls_wrappermode = yes"]
            : []),
        ...(spec.relay.tlsFingerprint
            ? [
                  "# The relay's certificate is pinned (mailstack:relay.tlsFingerprint): no CA, name or date",
                  "# is checked, only that the certificate has exactly this SHA-256 fingerprint.",
                  "smtp_tls_fingerprint_digest = sha256",
                  `smtp_tls_fingerprint_cert_match = ${spec.relay.tlsFingerprint}`,
              ]
            : []),
        "",
    ].join("\n");
}

/**
 * DANE (opportunistic unless TLSA says otherwise) to MX hosts; to a relay, TLS is required and
 * verified: its certificate against its name, or its pinned fingerprint (a relay by IP must have one).
 */
function outboundTlsLevel(spec: MailSpec): string {
    if (!spec.relay) return "dane";
    return spec.relay.tlsFingerprint ? "fingerprint" : "secure";
}

/** certbot runs it after every issue and renewal: copies the certificate for the daemons, reloads them. */
export const CERTBOT_DEPLOY_HOOK = "/etc/letsencrypt/renewal-hooks/deploy/50-mailstack";
export const UNATTENDED_UPGRADES_CONF = "/etc/apt/apt.conf.d/52mailstack-unattended-upgrades";

/** What Dovecot runs when a mailbox passes 80% or 95% of its quota (dovecot.conf service quota-warning). */
export const QUOTA_WARNING_SCRIPT = "/usr/local/lib/mailstack/quota-warning.sh";

/**
 * LMTP deliveries at once to one mailbox: Postfix's limit and Dovecot's, written once. Ten
 * is Dovecot's default; a Maildir delivery is a few file operations.
 */
export const LMTP_PER_MAILBOX_CONCURRENCY = 10;

/**
 * Dovecot's per-user limit, above Postfix's: Dovecot counts a delivery as ended a moment
 * after Postfix does (its anvil process is told asynchronously), so at equal limits a burst
 * still drew a few 451s in the lab. With this margin Postfix's cap is the one that holds.
 */
export const DOVECOT_LMTP_USER_CONCURRENCY = 2 * LMTP_PER_MAILBOX_CONCURRENCY;

/**
 * The units that carry the mail service, in start order: first-boot starts them, and the
 * packages step starts any that is not running (e.g. one whose package came later).
 */
export const MAIL_UNITS = [
    "mailstack-metadata-guard",
    "unbound",
    "postsrsd",
    "opendkim",
    "mailstack-sender-milter",
    "valkey-server",
    "dovecot",
    "postfix-mta-sts-resolver",
    "postfix",
    "nginx",
    "fail2ban",
] as const;

/**
 * Every unit that must be active on a provisioned server: MAIL_UNITS, and rspamd and the
 * limits (limits.ts), which come with host-config (mailstack doctor checks these).
 */
export const ACTIVE_UNITS: readonly string[] = [
    ...MAIL_UNITS,
    "rspamd",
    "mailstack-smtp-egress-guard",
    "mailstack-submission-limit",
    "mailstack-disk-guard.timer",
];

/** The bind mounts that put the state in VOLUME_STATE_DIRS on the mail volume, and the script that moves it there. */
export function volumeStateFiles(stateUnits: readonly string[] = VOLUME_STATE_UNITS): HostFile[] {
    const onChange: ServiceAction[] = ["daemon-reload", "apply:volume-state"];
    return [
        file(
            "/usr/local/sbin/mailstack-volume-state",
            renderTemplate("mailstack/volume-state.sh", {
                mailVolume: MAIL_VOLUME_MOUNT,
                stateRoot: VOLUME_STATE_ROOT,
                stateDirs: VOLUME_STATE_DIRS.map((d) => `${d.path} ${d.name} ${mountUnitName(d.path)}`).join("\n"),
                stateUnits: stateUnits.join(" "),
            }),
            ["apply:volume-state"],
            "0755",
        ),
        ...VOLUME_STATE_DIRS.map((d) =>
            file(
                `/etc/systemd/system/${mountUnitName(d.path)}`,
                renderTemplate("systemd/volume-state.mount", {
                    unit: mountUnitName(d.path),
                    where: d.path,
                    why: d.why,
                    mailVolume: MAIL_VOLUME_MOUNT,
                    what: volumeStatePath(d),
                    options: d.mountOptions,
                }),
                onChange,
            ),
        ),
        file(
            "/etc/systemd/system/certbot.service.d/mailstack.conf",
            renderTemplate("systemd/certbot-requires-volume-state.conf"),
            ["daemon-reload"],
        ),
    ];
}

/**
 * nginx and what it serves on 443, the webmail among it. Nothing needs it before the
 * certificate step, which runs after host-config, so the user-data leaves it out (Hetzner's
 * 32 KiB limit; Debian's default site answers port 80 for those minutes).
 */
function webFiles(spec: MailSpec): HostFile[] {
    return [
        ...[
            "mailstack-tls-settings.conf",
            "mailstack-tls.conf",
            ...CLIENT_HOST_LABELS.map((l) => `mailstack-${l}.conf`),
        ].map((name) => file(`/etc/nginx/snippets/${name}`, renderTemplate(`nginx/${name}`), ["reload:nginx"])),
        file("/etc/nginx/sites-available/default", renderTemplate("nginx/default", { hostname: spec.hostname }), [
            "reload:nginx",
        ]),
        ...renderClientFiles(spec),
        ...renderWebmailFiles(spec),
    ];
}

/**
 * What host-config removes when it no longer renders it: nginx's webmail server once
 * mailstack:webmail is off (Roundcube's packages stay installed, unreachable).
 */
export const HOST_CONFIG_PRUNE: readonly PruneRule[] = [
    {
        dir: WEBMAIL_NGINX_CONF.slice(0, WEBMAIL_NGINX_CONF.lastIndexOf("/")),
        pattern: "mailstack-*.conf",
        onChange: ["reload:nginx"],
    },
];

/**
 * Every static config file of the host, in the order they are written: the host-config
 * step's files. `firstBoot` leaves out what only matters after host-config (webFiles).
 */
export function renderHostFiles(spec: MailSpec, options: { readonly firstBoot?: boolean } = {}): HostFile[] {
    const hostname = spec.hostname;
    return [
        file(
            "/etc/postfix/main.cf",
            renderTemplate("postfix/main.cf", {
                hostname,
                messageSizeLimitBytes: spec.messageSizeLimitBytes,
                queueMinFreeBytes: queueMinFreeBytes(spec),
                submissionRecipientRestrictions: submissionRecipientRestrictions(spec),
                lmtpPerMailboxConcurrency: LMTP_PER_MAILBOX_CONCURRENCY,
                smtpdTls: renderTemplate("postfix/smtpd-tls.cf"),
                outboundTlsLevel: outboundTlsLevel(spec),
                outboundConfig: outboundConfig(spec),
                rspamdMilter: RSPAMD_MILTER,
                authorizedSubmitUsers: AUTHORIZED_SUBMIT_USERS.join(", "),
                opendkimSocket: OPENDKIM_SOCKET,
                senderMilterSocket: SENDER_MILTER_SOCKET,
            }),
            ["reload:postfix"],
        ),
        file("/etc/postfix/master.cf", renderTemplate("postfix/master.cf"), ["reload:postfix"]),
        file(
            "/etc/dovecot/dovecot.conf",
            renderTemplate("dovecot/dovecot.conf", {
                dovecotConfigVersion: DOVECOT_CONFIG_VERSION,
                dovecotStorageVersion: DOVECOT_STORAGE_VERSION,
                lmtpUserConcurrency: DOVECOT_LMTP_USER_CONCURRENCY,
                managesievePort: port("sieve"),
                quotaWarningScript: QUOTA_WARNING_SCRIPT,
                ...sieveTemplateValues(spec),
            }),
            ["reload:dovecot"],
        ),
        file(QUOTA_WARNING_SCRIPT, renderTemplate("dovecot/quota-warning.sh"), [], "0755"),
        ...renderSieveFiles(),
        ...renderSieveLearners(),
        ...renderAccountFiles(),
        file("/etc/opendkim.conf", renderTemplate("opendkim/opendkim.conf", { socket: OPENDKIM_SOCKET }), [
            "restart:opendkim",
        ]),
        file("/etc/opendkim/trusted.hosts", renderTemplate("opendkim/trusted.hosts"), ["restart:opendkim"]),
        file(
            "/usr/local/sbin/mailstack-sender-milter",
            renderTemplate("mailstack/sender-milter.py", {
                socket: SENDER_MILTER_SOCKET,
                milterUser: SENDER_MILTER_USER,
            }),
            ["restart:sender-milter"],
            "0755",
        ),
        file(
            "/etc/systemd/system/mailstack-sender-milter.service",
            renderTemplate("systemd/mailstack-sender-milter.service", {
                socket: SENDER_MILTER_SOCKET,
                socketDir: socketDir(SENDER_MILTER_SOCKET),
                spool: POSTFIX_SPOOL,
                user: SENDER_MILTER_USER,
            }),
            ["daemon-reload", "restart:sender-milter"],
        ),
        file("/usr/local/sbin/mailstack-host-key", renderTemplate("mailstack/host-key.sh"), [], "0755"),
        ...smtpEgressGuardFiles(),
        ...metadataGuardFiles(),
        file("/etc/fail2ban/jail.local", renderTemplate("fail2ban/jail.local", { webmailJail: String(spec.webmail) }), [
            "reload:fail2ban",
        ]),
        file("/etc/fail2ban/filter.d/dovecot.local", renderTemplate("fail2ban/dovecot.local"), ["reload:fail2ban"]),
        file("/etc/fail2ban/filter.d/roundcube-auth.local", renderTemplate("fail2ban/roundcube-auth.local"), [
            "reload:fail2ban",
        ]),
        ...sshAndAcmeFiles(spec, hostname),
        file(
            "/etc/systemd/system/dovecot.service.d/mailstack.conf",
            renderTemplate("systemd/dovecot-requires-mail-volume.conf"),
            ["daemon-reload"],
        ),
        file(
            "/etc/systemd/system/postfix.service.d/mailstack.conf",
            renderTemplate("systemd/postfix-requires-mail-volume.conf"),
            ["daemon-reload"],
        ),
        ...renderFilterFiles(spec),
        ...renderOutboundFiles(spec),
        ...renderLimitFiles(spec),
        ...volumeStateFiles(),
        // The state version's migrations (host-config runs them from its own command first; the
        // first boot stamps a fresh volume itself, in first-boot.sh).
        ...(options.firstBoot ? [] : [migrateFile()]),
        ...(options.firstBoot ? [] : webFiles(spec)),
    ];
}

/** Only root reaches the metadata service, which serves the user-data. */
export function metadataGuardFiles(): HostFile[] {
    return [
        file("/etc/mailstack/metadata-guard.nft", renderTemplate("nftables/metadata-guard.nft"), [
            "restart:metadata-guard",
        ]),
        file(
            "/etc/systemd/system/mailstack-metadata-guard.service",
            renderTemplate("systemd/mailstack-metadata-guard.service"),
            ["daemon-reload", "restart:metadata-guard"],
        ),
    ];
}

/** sshd's drop-in, the unattended upgrades, and certbot's settings and deploy hook for `hostname`. */
export function sshAndAcmeFiles(spec: MailSpec, hostname: string): HostFile[] {
    return [
        file("/etc/ssh/sshd_config.d/00-mailstack.conf", renderTemplate("ssh/00-mailstack.conf"), ["restart:ssh"]),
        file(UNATTENDED_UPGRADES_CONF, renderTemplate("apt/52mailstack-unattended-upgrades"), []),
        file(
            "/etc/mailstack/acme.env",
            renderTemplate("mailstack/acme.env", {
                hostname: shellQuote(hostname),
                acmeServer: shellQuote(spec.acmeServer),
                acmeEmail: shellQuote(spec.acmeEmail),
            }),
            [],
        ),
        file(
            CERTBOT_DEPLOY_HOOK,
            renderTemplate("certbot/deploy-hook.sh", { clientLabels: CLIENT_HOST_LABELS.join(" ") }),
            [],
            "0755",
        ),
    ];
}

/** Only Postfix and root open connections to port 25 elsewhere (the nft file says why). */
export function smtpEgressGuardFiles(): HostFile[] {
    return [
        file("/etc/mailstack/smtp-egress-guard.nft", renderTemplate("nftables/smtp-egress-guard.nft"), [
            "restart:smtp-egress-guard",
        ]),
        file(
            "/etc/systemd/system/mailstack-smtp-egress-guard.service",
            renderTemplate("systemd/mailstack-smtp-egress-guard.service"),
            ["daemon-reload", "restart:smtp-egress-guard"],
        ),
    ];
}

/**
 * Files nothing uses before host-config: the certificate's deploy hook (the certificate step
 * comes after host-config), the quota warning (no mailbox is near its quota at first boot) and
 * the unattended upgrades' settings (the packages step installs today's packages first).
 */
const NOT_NEEDED_BEFORE_HOST_CONFIG: readonly string[] = [
    CERTBOT_DEPLOY_HOOK,
    QUOTA_WARNING_SCRIPT,
    UNATTENDED_UPGRADES_CONF,
];

/** The daemons' files that host-config brings and the user-data leaves out (the web files aside). */
export function renderDaemonFilesLater(spec: MailSpec): HostFile[] {
    return [
        ...renderFilterFiles(spec),
        ...renderSieveLearners(),
        ...renderOutboundFiles(spec),
        ...renderLimitFiles(spec),
        ...renderHostFiles(spec).filter((f) => NOT_NEEDED_BEFORE_HOST_CONFIG.includes(f.path)),
        // Its rule names the postfix user, which exists only once the packages are installed.
        ...smtpEgressGuardFiles(),
    ];
}

/**
 * The host files the user-data writes at first boot: all but the filter's, the resolver's
 * and MTA-STS's (renderOutboundFiles), the limits' (renderLimitFiles) and the web files (webFiles). Those come with the host-config step minutes later (the user-data must stay under Hetzner's 32 KiB), and
 * until then rspamd is stopped (first-boot.sh), so Postfix defers mail from outside rather
 * than letting it in unchecked.
 */
export function renderFirstBootFiles(spec: MailSpec): HostFile[] {
    const later = new Set(renderDaemonFilesLater(spec).map((f) => f.path));
    return renderHostFiles(spec, { firstBoot: true }).filter((f) => !later.has(f.path));
}
