// Calendars and contacts (mailstack:dav): Radicale behind nginx at https://<hostname>/dav/,
// its logins checked by Dovecot, its collections on the mail volume. All of it comes with
// host-config (the user-data has no room, and Radicale's package comes with the packages
// step); the SRV and TXT records with the DNS records (dns-records.ts), the Apple profile's
// payloads with the client files (client-config.ts).

import { DAV_PATH, type MailSpec } from "../../model";
import type { PruneRule } from "../plan/bundle";
import { renderTemplate } from "./template";
import { hostFile, type HostFile } from "./types";
import { VOLUME_STATE_ROOT } from "./volume";

/** Radicale's unit, from Debian's package. */
export const DAV_UNIT = "radicale";

/**
 * Radicale's data on the mail volume, beside the other state (not a bind mount: Radicale is
 * told this path), so the backup holds it and `mailstack-restore all` brings it back with the
 * rest of state/.
 */
export const DAV_DIR = `${VOLUME_STATE_ROOT}/dav`;
/** Radicale's filesystem_folder; each user's collections are in collection-root/<address>/. */
export const DAV_COLLECTIONS = `${DAV_DIR}/collections`;
/** One user's collections (mailstack-restore's `mailbox`; `domain` takes `*@<domain>`). */
export const DAV_USER_ROOT = `${DAV_COLLECTIONS}/collection-root`;

/** Where Radicale listens: loopback only, nginx is its one client. */
const DAV_LISTEN = "127.0.0.1:5232";
/** Dovecot's auth socket for Radicale: only the radicale user can open it. */
const DAV_AUTH_LISTENER = "auth-radicale";
export const DAV_AUTH_SOCKET = `/run/dovecot/${DAV_AUTH_LISTENER}`;

/** Our [auth] module for Radicale (Dovecot 2.4's auth protocol), and where the unit finds it. */
const DAV_AUTH_MODULE = "mailstack_dovecot_auth";
const DAV_PLUGIN_DIR = "/usr/local/lib/mailstack/radicale";

/** The largest calendar object or contact a client may upload (a contact with a photo). */
const DAV_MAX_BODY_MIB = 10;

/** The collections a new user finds (Radicale makes them at the first login). */
const PREDEFINED_COLLECTIONS = {
    calendar: {
        "D:displayname": "Calendar",
        "C:supported-calendar-component-set": "VEVENT,VTODO,VJOURNAL",
        tag: "VCALENDAR",
    },
    contacts: { "D:displayname": "Contacts", tag: "VADDRESSBOOK" },
};

/** nginx's DAV locations, included into the host name's server; gone (pruned) when mailstack:dav is off. */
export const DAV_NGINX_DIR = "/etc/nginx/mailstack-host.d";
/** Dovecot's extra listeners (dovecot.conf includes this directory); pruned likewise. */
export const DOVECOT_EXTRA_DIR = "/etc/dovecot/mailstack.d";

/** fail2ban's jail files; the jail comes and goes with its filter. */
const FAIL2BAN_JAILS = "/etc/fail2ban/jail.d";

/** nginx's DAV locations for the host name (the doctor reads its presence as mailstack:dav on). */
export const DAV_NGINX_CONF = `${DAV_NGINX_DIR}/mailstack-dav.conf`;

/** What host-config removes once mailstack:dav is off. */
export const DAV_PRUNE: readonly PruneRule[] = [
    { dir: DAV_NGINX_DIR, pattern: "mailstack-*.conf", onChange: ["reload:nginx"] },
    // restart:dav stops and disables Radicale once its listener (dav.conf) is gone.
    { dir: DOVECOT_EXTRA_DIR, pattern: "*.conf", onChange: ["reload:dovecot", "restart:dav"] },
    { dir: FAIL2BAN_JAILS, pattern: "mailstack-*.local", onChange: ["reload:fail2ban"] },
];

/** The calendar server's files; none without mailstack:dav. */
export function renderDavFiles(spec: MailSpec): HostFile[] {
    if (!spec.dav) return [];
    return [
        hostFile(
            `${DOVECOT_EXTRA_DIR}/dav.conf`,
            renderTemplate("dovecot/dav.conf", { listenerName: DAV_AUTH_LISTENER }),
            ["reload:dovecot", "restart:dav"],
        ),
        hostFile(
            `/etc/systemd/system/${DAV_UNIT}.service.d/mailstack.conf`,
            renderTemplate("systemd/radicale-requires-mail-volume.conf", {
                davDir: DAV_DIR,
                pluginDir: DAV_PLUGIN_DIR,
            }),
            ["daemon-reload", "restart:dav"],
        ),
        hostFile(
            `${DAV_PLUGIN_DIR}/${DAV_AUTH_MODULE}.py`,
            renderTemplate("radicale/mailstack_dovecot_auth.py", {
                path: `${DAV_PLUGIN_DIR}/${DAV_AUTH_MODULE}.py`,
            }),
            ["restart:dav"],
        ),
        // No secret in it, but only Radicale needs it.
        hostFile(
            "/etc/radicale/config",
            renderTemplate("radicale/config", {
                hostname: spec.hostname,
                davPath: DAV_PATH,
                listen: DAV_LISTEN,
                maxContentBytes: DAV_MAX_BODY_MIB * 1024 * 1024,
                authSocket: DAV_AUTH_SOCKET,
                authModule: DAV_AUTH_MODULE,
                collections: DAV_COLLECTIONS,
                predefinedCollections: JSON.stringify(PREDEFINED_COLLECTIONS),
            }),
            ["restart:dav"],
            "0640",
            "root",
            "radicale",
        ),
        hostFile(
            DAV_NGINX_CONF,
            renderTemplate("nginx/mailstack-dav.conf", {
                davPath: DAV_PATH,
                davPrefix: DAV_PATH.replace(/\/$/, ""),
                listen: DAV_LISTEN,
                maxBody: `${DAV_MAX_BODY_MIB}M`,
            }),
            ["reload:nginx"],
        ),
        hostFile("/etc/fail2ban/filter.d/mailstack-radicale.conf", renderTemplate("fail2ban/mailstack-radicale.conf"), [
            "reload:fail2ban",
        ]),
        hostFile(
            `${FAIL2BAN_JAILS}/mailstack-radicale.local`,
            renderTemplate("fail2ban/jail-mailstack-radicale.local"),
            ["reload:fail2ban"],
        ),
    ];
}
