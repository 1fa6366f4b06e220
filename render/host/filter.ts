// The spam and forgery filter for mail from other servers: rspamd as Postfix's milter on
// port 25 (main.cf smtpd_milters), with its state in Valkey on the mail volume. These are
// static host files (the same for any list of domains), part of the host-config bundle.

import { isIP } from "node:net";

import type { MailSpec, SpamFilterSpec } from "../../model";
import { RESOLVER_ADDRESS } from "./outbound";
import { renderTemplate } from "./template";
import type { HostFile, ServiceAction } from "./types";
import { VOLUME_STATE_DIRS } from "./volume";

/** Where rspamd's milter listens; main.cf reads it from here. */
export const RSPAMD_MILTER = "inet:127.0.0.1:11332";

/** rspamd's controller (rspamc, the Sieve learning scripts): loopback, and a password for everything. */
export const RSPAMD_CONTROLLER = "127.0.0.1:11334";

/**
 * The controller's password in clear, made on the server (mailstack-rspamd-password) and
 * readable by root and group vmail only: the Sieve learning scripts run as vmail.
 */
export const RSPAMD_CONTROLLER_PASSWORD_FILE = "/etc/mailstack/rspamd-controller.password";
/** Its hash, as rspamd reads it (worker-controller.inc includes it): root and _rspamd only. */
const RSPAMD_CONTROLLER_INCLUDE = "/etc/mailstack/rspamd-controller.inc";

/** Valkey's only listener: a unix socket of group valkey, whose one other member is _rspamd. */
export const VALKEY_SOCKET = "/run/valkey/valkey.sock";

/** The rspamd files under /etc/rspamd/local.d/ that are templates of their own. */
const RSPAMD_LOCAL_FILES = [
    "worker-proxy.inc",
    "worker-normal.inc",
    "dmarc.conf",
    "milter_headers.conf",
    "logging.inc",
    "composites.conf",
    "greylist.conf",
] as const;

/** rspamd's action scores: a number, or null for an action switched off. */
export function rspamdActions(filter: SpamFilterSpec): Record<"reject" | "junk" | "greylist", string> {
    const score = (v: number | false) => (v === false ? "null" : String(v));
    return { reject: score(filter.reject), junk: score(filter.junk), greylist: score(filter.greylist) };
}

function file(path: string, content: string, onChange: ServiceAction[], group = "root", mode = "0644"): HostFile {
    return { path, mode, owner: "root", group, content, onChange };
}

/** rspamd's local config, Valkey's config and their systemd drop-ins. */
/**
 * Who may read the controller password besides root: on the mail server the group vmail (the
 * Sieve learning scripts run as vmail); the backup MX runs no Sieve and has no vmail, so root only.
 */
export interface ControllerPasswordReaders {
    readonly group: string;
    readonly why: string;
}
const SIEVE_LEARNERS: ControllerPasswordReaders = {
    group: "vmail",
    why: "the Sieve learning scripts run as vmail",
};

export function renderFilterFiles(
    spec: MailSpec,
    passwordReaders: ControllerPasswordReaders = SIEVE_LEARNERS,
): HostFile[] {
    const valkeyDir = VOLUME_STATE_DIRS.find((d) => d.name === "valkey")!.path;
    return [
        file(
            "/etc/rspamd/local.d/actions.conf",
            renderTemplate("rspamd/actions.conf", rspamdActions(spec.spamFilter)),
            ["restart:rspamd"],
        ),
        file("/etc/rspamd/local.d/options.inc", renderTemplate("rspamd/options.inc", { resolver: RESOLVER_ADDRESS }), [
            "restart:rspamd",
        ]),
        ...RSPAMD_LOCAL_FILES.map((name) =>
            file(`/etc/rspamd/local.d/${name}`, renderTemplate(`rspamd/${name}`), ["restart:rspamd"]),
        ),
        // SMTPUTF8 mail (RFC 6531): the symbol local.d/composites.conf builds on.
        file("/etc/rspamd/lua.local.d/mailstack-smtputf8.lua", renderTemplate("rspamd/mailstack-smtputf8.lua"), [
            "restart:rspamd",
        ]),
        file(
            "/etc/rspamd/local.d/worker-controller.inc",
            renderTemplate("rspamd/worker-controller.inc", {
                controller: RSPAMD_CONTROLLER,
                includeFile: RSPAMD_CONTROLLER_INCLUDE,
            }),
            ["apply:rspamd-password", "restart:rspamd"],
        ),
        file("/etc/rspamd/local.d/redis.conf", renderTemplate("rspamd/redis.conf", { valkeySocket: VALKEY_SOCKET }), [
            "restart:rspamd",
        ]),
        file(
            "/usr/local/sbin/mailstack-rspamd-password",
            renderTemplate("mailstack/rspamd-password.sh", {
                passwordFile: RSPAMD_CONTROLLER_PASSWORD_FILE,
                passwordGroup: passwordReaders.group,
                passwordReaders: passwordReaders.why,
                includeFile: RSPAMD_CONTROLLER_INCLUDE,
            }),
            ["apply:rspamd-password", "restart:rspamd"],
            "root",
            "0755",
        ),
        file(
            "/etc/systemd/system/rspamd.service.d/mailstack.conf",
            renderTemplate("systemd/rspamd-after-valkey.conf"),
            ["daemon-reload"],
        ),
        file("/etc/systemd/system/rspamd.service.d/stop.conf", renderTemplate("systemd/rspamd-stop.conf"), [
            "daemon-reload",
        ]),
        // Read by valkey-server only (group valkey); nothing secret in it, but nobody else needs it.
        file(
            "/etc/valkey/valkey.conf",
            renderTemplate("valkey/valkey.conf", { socket: VALKEY_SOCKET }),
            ["restart:valkey", "restart:rspamd"],
            "valkey",
            "0640",
        ),
        file(
            "/etc/systemd/system/valkey-server.service.d/mailstack.conf",
            renderTemplate("systemd/valkey-requires-volume-state.conf", { valkeyDir }),
            ["daemon-reload"],
        ),
    ];
}

/**
 * The primary trusts its backup MX and no one else (mail-data: the backup MX's addresses are
 * known only once its primary IPs exist): rspamd's external_relay takes the original sender's
 * address and name from the backup MX's Received: line. Without a backup MX, no rule.
 */
export function renderTrustedRelays(spec: MailSpec, secondaryAddresses: readonly string[] | undefined): HostFile {
    const path = "/etc/rspamd/local.d/external_relay.conf";
    if (!spec.secondaryMx) return file(path, renderTemplate("rspamd/external_relay-none.conf"), ["restart:rspamd"]);
    const addresses = secondaryAddresses ?? [];
    if (addresses.length === 0 || addresses.some((a) => isIP(a) === 0))
        throw new Error(`rspamd: the backup MX's addresses are not IP addresses: ${JSON.stringify(addresses)}`);
    // lua_maps reads an inline list as IP networks when its first entry starts with a digit: IPv4 first.
    const ordered = [...addresses].sort((a, b) => isIP(a) - isIP(b));
    return file(
        path,
        renderTemplate("rspamd/external_relay.conf", {
            secondaryHostname: spec.secondaryMx.hostname,
            addresses: ordered.map((a) => `"${a}"`).join(", "),
        }),
        ["restart:rspamd"],
    );
}
