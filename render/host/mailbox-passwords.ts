// Who owns a mailbox password (README "Passwords: who owns them"). The stack config sets the
// first one; the user may set their own in the webmail; the next `pulumi up` keeps it unless
// the config resets it (a new configured password, or a new reset marker). Three files:
// mail-data renders the configured hashes with their generation (CONFIGURED_USERS), the
// user's own hashes live on the mail volume (USER_SET_PASSWORDS), and mailstack-passwords
// writes the passwd-file Dovecot reads (DOVECOT_USERS) from the two.
// The helper, its socket and its unit come with host-config (the user-data has no room, and
// nothing logs in before mail-data).

import { createHash } from "crypto";
import type { MailSpec } from "../../model";
import { BCRYPT_COST, MIN_PASSWORD_LENGTH } from "../plan/passwords";
import { DOVECOT_EXTRA_DIR } from "./dav";
import { renderTemplate } from "./template";
import { hostFile, type HostFile } from "./types";
import { MAIL_VOLUME_MOUNT, VOLUME_STATE_ROOT } from "./volume";

/** The passwd-file Dovecot's passdb and userdb read (0640 root:dovecot), written on the server only. */
export const DOVECOT_USERS = "/etc/dovecot/users";
/** The configured rows as mail-data renders them: the hash Pulumi holds and its generation (root only). */
export const CONFIGURED_USERS = "/etc/dovecot/configured-users";
/** The user's own directory of account state on the mail volume (backed up with state/). */
export const ACCOUNTS_DIR = `${VOLUME_STATE_ROOT}/accounts`;
/** The hashes users set themselves: address:hash:generation it replaced:when. */
export const USER_SET_PASSWORDS = `${ACCOUNTS_DIR}/passwords`;
/** The app passwords users made themselves: address:id:label:protocols:hash:generation:created. */
export const USER_APP_PASSWORDS = `${ACCOUNTS_DIR}/app-passwords`;
/** When each app password last opened a login: one file per app password, written by Dovecot's auth worker. */
export const APP_PASSWORDS_LAST_USED = `${ACCOUNTS_DIR}/app-passwords-used`;
/**
 * The second factor for the webmail (TOTP): address:secret:pending|on:last step used:recovery
 * code hashes:generation:since, written only by the helper (0600 root); www-data never reads it.
 */
export const USER_TOTP = `${ACCOUNTS_DIR}/totp`;
/**
 * The passdb field on the main password's row of a user with the second factor on: the main
 * password opens only logins from the server itself (the webmail, after its code); Dovecot
 * compares the address before login_trusted_networks replaces it (docs/design.md, "Logins").
 */
export const WEBMAIL_ONLY_FIELD = "allow_real_nets=127.0.0.1/32,::1/128";
/** The app passwords Dovecot's Lua passdb reads (address:id:protocols:hash, 0600 root), written on the server only. */
export const DOVECOT_APP_PASSWORDS = "/etc/dovecot/app-passwords";
/** The Lua passdb that checks app passwords before the main password (Debian's dovecot-auth-lua). */
export const APP_PASSWORDS_LUA = "/etc/dovecot/app-passwords.lua";
/** Its passdb block; dovecot.conf includes the directory before its passwd-file passdb. */
export const APP_PASSWORDS_CONF = `${DOVECOT_EXTRA_DIR}/app-passwords.conf`;
/**
 * The main password's Lua passdb (after the app passwords', before dovecot.conf's passwd-file):
 * it checks the passwd-file's bcrypt hash itself, so that Dovecot's authentication cache keeps
 * a SHA1 of the accepted password and a repeated login costs no bcrypt (README "Logins that
 * cost no hash when repeated").
 */
export const MAIN_PASSWORD_LUA = "/etc/dovecot/main-password.lua";
/** Its passdb block and the cache's settings. */
export const MAIN_PASSWORD_CONF = `${DOVECOT_EXTRA_DIR}/main-password.conf`;
/** How long a login's cache entry lives: a user pays bcrypt again at most this often. */
export const AUTH_CACHE_TTL = "15 mins";
/** The cache's memory (Dovecot drops the oldest entries beyond it): some thousand users. */
export const AUTH_CACHE_SIZE = "1M";
/** Where the helper asks Dovecot's auth process to forget a user (doveadm auth cache flush). */
export const DOVECOT_AUTH_MASTER = "/run/dovecot/auth-master";
/** The helper's module that does it, for each user whose passwd-file row changed (beside TOTP_MODULE). */
export const AUTH_CACHE_MODULE = "/usr/local/lib/mailstack/auth_cache.py";
/** What a user may limit an app password to (the helper maps each to Dovecot's protocol names). */
export const APP_PASSWORD_PROTOCOLS = ["mail", "submission", "sieve", "dav"] as const;

/** The second factor's codes (TOTP, recovery codes) and the hashes of random secrets: a module the helper imports. */
export const TOTP_MODULE = "/usr/local/lib/mailstack/totp.py";

/** The root-owned helper: `apply` (merge) and `serve` (one change request from the webmail). */
export const PASSWORDS_HELPER = "/usr/local/sbin/mailstack-passwords";
/** Where the webmail asks for a password change (0660 root:www-data, systemd socket activation). */
export const PASSWORD_SOCKET = "/run/mailstack-password.sock";
/** What a wrong current password or code costs its asker at the helper, in seconds. */
export const HELPER_FAILURE_DELAY_SECONDS = 2;
/** The helper's requests at a time (the socket's MaxConnections); more wait for one to end. */
export const HELPER_CONNECTIONS = 4;

/**
 * A configured password's generation: changes exactly when the configured hash or the
 * mailbox's reset marker does. A password the user set is kept while the generation it
 * replaced is the current one. 16 hex digits (a digest: nothing about the hash is revealed
 * beyond what the row beside it holds anyway).
 */
export function passwordGeneration(configuredHash: string, resetMarker: string | undefined): string {
    return createHash("sha256")
        .update(`${configuredHash}\n${resetMarker ?? ""}`)
        .digest("hex")
        .slice(0, 16);
}

/** The helper and, with the webmail, the socket it answers on. */
export function renderPasswordFiles(spec: MailSpec): HostFile[] {
    const files = [
        hostFile(
            PASSWORDS_HELPER,
            renderTemplate("mailstack/passwords.py", {
                helper: PASSWORDS_HELPER,
                configured: CONFIGURED_USERS,
                effective: DOVECOT_USERS,
                userSet: USER_SET_PASSWORDS,
                userApps: USER_APP_PASSWORDS,
                effectiveApps: DOVECOT_APP_PASSWORDS,
                lastUsedDir: APP_PASSWORDS_LAST_USED,
                userTotp: USER_TOTP,
                allowRealNets: WEBMAIL_ONLY_FIELD,
                totpModule: TOTP_MODULE,
                totpDir: TOTP_MODULE.slice(0, TOTP_MODULE.lastIndexOf("/")),
                socket: PASSWORD_SOCKET,
                authMaster: DOVECOT_AUTH_MASTER,
                minLength: MIN_PASSWORD_LENGTH,
                bcryptCost: BCRYPT_COST,
                failureDelay: HELPER_FAILURE_DELAY_SECONDS,
            }),
            [],
            "0755",
        ),
        hostFile(TOTP_MODULE, renderTemplate("mailstack/totp.py", { path: TOTP_MODULE }), []),
        hostFile(
            AUTH_CACHE_MODULE,
            renderTemplate("mailstack/auth_cache.py", { path: AUTH_CACHE_MODULE, cacheTtl: AUTH_CACHE_TTL }),
            [],
        ),
        // App passwords: Dovecot asks this passdb first (reload: a new passdb needs no restart).
        hostFile(
            APP_PASSWORDS_LUA,
            renderTemplate("dovecot/app-passwords.lua", {
                path: APP_PASSWORDS_LUA,
                appPasswords: DOVECOT_APP_PASSWORDS,
                lastUsedDir: APP_PASSWORDS_LAST_USED,
            }),
            ["reload:dovecot"],
        ),
        hostFile(
            APP_PASSWORDS_CONF,
            renderTemplate("dovecot/app-passwords.conf", {
                path: APP_PASSWORDS_CONF,
                luaFile: APP_PASSWORDS_LUA,
                appPasswords: DOVECOT_APP_PASSWORDS,
            }),
            ["reload:dovecot"],
        ),
        // The main password, through Dovecot's authentication cache (a reload loads a new script).
        hostFile(
            MAIN_PASSWORD_LUA,
            renderTemplate("dovecot/main-password.lua", { path: MAIN_PASSWORD_LUA, users: DOVECOT_USERS }),
            ["reload:dovecot"],
        ),
        hostFile(
            MAIN_PASSWORD_CONF,
            renderTemplate("dovecot/main-password.conf", {
                path: MAIN_PASSWORD_CONF,
                luaFile: MAIN_PASSWORD_LUA,
                users: DOVECOT_USERS,
                cacheSize: AUTH_CACHE_SIZE,
                cacheTtl: AUTH_CACHE_TTL,
            }),
            ["reload:dovecot"],
        ),
    ];
    if (!spec.webmail) return files;
    return [
        ...files,
        hostFile(
            "/etc/systemd/system/mailstack-password.socket",
            renderTemplate("systemd/mailstack-password.socket", {
                socket: PASSWORD_SOCKET,
                connections: HELPER_CONNECTIONS,
            }),
            ["daemon-reload", "restart:password-socket"],
        ),
        hostFile(
            "/etc/systemd/system/mailstack-password@.service",
            renderTemplate("systemd/mailstack-password@.service", {
                helper: PASSWORDS_HELPER,
                userSet: USER_SET_PASSWORDS,
                effective: DOVECOT_USERS,
                mailVolume: MAIL_VOLUME_MOUNT,
                accountsDir: ACCOUNTS_DIR,
                effectiveDir: DOVECOT_USERS.slice(0, DOVECOT_USERS.lastIndexOf("/")),
            }),
            ["daemon-reload"],
        ),
        // fail2ban watches the password form too: a wrong current password is a guess.
        hostFile(
            "/etc/fail2ban/filter.d/mailstack-password.conf",
            renderTemplate("fail2ban/mailstack-password-filter.conf"),
            ["reload:fail2ban"],
        ),
        hostFile(
            "/etc/fail2ban/jail.d/mailstack-password.conf",
            renderTemplate("fail2ban/mailstack-password-jail.conf"),
            ["reload:fail2ban"],
        ),
    ];
}
