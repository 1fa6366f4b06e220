// Roundcube at https://<hostname>/ (mailstack:webmail): its config, nginx's server for the
// host name, php-fpm's settings and the script that keeps its state on the mail volume. All
// of it comes with host-config (the user-data has no room, and nothing needs it before the
// certificate); its packages with the packages step (render/features/webmail.ts).

import { port, type MailSpec } from "../../model";
import { MIN_PASSWORD_LENGTH } from "../plan/passwords";
import { APP_PASSWORD_PROTOCOLS, PASSWORD_SOCKET } from "./mailbox-passwords";
import { renderTemplate } from "./template";
import { hostFile, type HostFile } from "./types";
import { MAIL_VOLUME_MOUNT, VOLUME_STATE_ROOT } from "./volume";

/** Debian 13's PHP: the php-fpm unit, its socket and its configuration directory. */
const PHP_VERSION = "8.4";
export const PHP_FPM_UNIT = `php${PHP_VERSION}-fpm`;
const PHP_FPM_SOCKET = `/run/php/php${PHP_VERSION}-fpm.sock`;
const PHP_FPM_CONF_DIR = `/etc/php/${PHP_VERSION}/fpm/conf.d`;

/**
 * Roundcube's state on the mail volume: its SQLite database and des_key. Beside the other
 * state (not a bind mount: Roundcube is told this path), so the backup holds it and
 * `mailstack-restore all` brings it back with the rest of state/ (www-data is uid 33 on
 * every Debian, so restic's numeric owners fit).
 */
export const WEBMAIL_DIR = `${VOLUME_STATE_ROOT}/webmail`;
export const WEBMAIL_DATABASE = `${WEBMAIL_DIR}/roundcube.db`;
const DES_KEY_FILE = `${WEBMAIL_DIR}/des_key`;

/** Roundcube's plugins (Debian's; managesieve is a link into /usr/share/roundcube/plugins). */
const ROUNDCUBE_PLUGINS = "/var/lib/roundcube/plugins";
/** Ours: the browser's address to Dovecot before each IMAP login (login_trusted_networks). */
export const ORIGIN_PLUGIN = `${ROUNDCUBE_PLUGINS}/mailstack_origin/mailstack_origin.php`;

/** Ours: Settings > Password, through the root-owned helper's socket (mailbox-passwords.ts). */
export const PASSWORD_PLUGIN_DIR = `${ROUNDCUBE_PLUGINS}/mailstack_password`;

/** Ours: the second factor (TOTP) at login and in Settings, through the same helper's socket. */
export const TOTP_PLUGIN_DIR = `${ROUNDCUBE_PLUGINS}/mailstack_totp`;

/** The call to that helper's socket, once, for both plugins (they require it; no plugin itself). */
export const HELPER_INCLUDE = `${ROUNDCUBE_PLUGINS}/mailstack_helper/mailstack_helper.php`;

/** nginx's server for the host name; gone (pruned) when the webmail is off. */
export const WEBMAIL_NGINX_CONF = "/etc/nginx/conf.d/mailstack-webmail.conf";

/**
 * The largest upload (a message with its attachments) in MiB: Postfix's message size
 * limit, which already counts base64's third more, rounded up.
 */
function uploadLimit(spec: MailSpec): string {
    return `${Math.ceil(spec.messageSizeLimitBytes / (1024 * 1024))}M`;
}

/** The webmail's files; none without it. */
export function renderWebmailFiles(spec: MailSpec): HostFile[] {
    if (!spec.webmail) return [];
    const restart: HostFile["onChange"][number][] = ["restart:webmail"];
    return [
        hostFile(
            "/usr/local/sbin/mailstack-webmail",
            renderTemplate("mailstack/webmail.sh", {
                mailVolume: MAIL_VOLUME_MOUNT,
                webmailDir: WEBMAIL_DIR,
                phpFpmUnit: PHP_FPM_UNIT,
            }),
            restart,
            "0755",
        ),
        hostFile(
            `/etc/systemd/system/${PHP_FPM_UNIT}.service.d/mailstack.conf`,
            renderTemplate("systemd/php-fpm-requires-mail-volume.conf", {
                unit: PHP_FPM_UNIT,
                webmailDir: WEBMAIL_DIR,
            }),
            ["daemon-reload", ...restart],
        ),
        hostFile(
            `${PHP_FPM_CONF_DIR}/90-mailstack-webmail.ini`,
            renderTemplate("php/90-mailstack-webmail.ini", {
                confDir: PHP_FPM_CONF_DIR,
                uploadLimit: uploadLimit(spec),
            }),
            restart,
        ),
        // It holds no secret (the des_key is read from the volume), but only php-fpm needs it.
        hostFile(
            "/etc/roundcube/config.inc.php",
            renderTemplate("roundcube/config.inc.php", {
                hostname: spec.hostname,
                databaseFile: WEBMAIL_DATABASE,
                desKeyFile: DES_KEY_FILE,
                imapsPort: port("imaps"),
                submissionsPort: port("submissions"),
                sievePort: port("sieve"),
                attachmentLimit: uploadLimit(spec),
            }),
            restart,
            "0640",
            "root",
            "www-data",
        ),
        hostFile(ORIGIN_PLUGIN, renderTemplate("roundcube/mailstack_origin.php", { path: ORIGIN_PLUGIN }), restart),
        hostFile(
            HELPER_INCLUDE,
            renderTemplate("roundcube/mailstack_helper.php", { path: HELPER_INCLUDE, socket: PASSWORD_SOCKET }),
            restart,
        ),
        hostFile(
            `${PASSWORD_PLUGIN_DIR}/mailstack_password.php`,
            renderTemplate("roundcube/mailstack_password.php", {
                path: `${PASSWORD_PLUGIN_DIR}/mailstack_password.php`,
                socket: PASSWORD_SOCKET,
                helperInclude: HELPER_INCLUDE,
                minLength: MIN_PASSWORD_LENGTH,
                // Calendars and contacts only where Radicale runs.
                appProtocols: APP_PASSWORD_PROTOCOLS.filter((p) => p !== "dav" || spec.dav).join(","),
            }),
            restart,
        ),
        hostFile(
            `${PASSWORD_PLUGIN_DIR}/localization/en_US.inc`,
            renderTemplate("roundcube/mailstack_password.en_US.inc", {
                path: `${PASSWORD_PLUGIN_DIR}/localization/en_US.inc`,
            }),
            restart,
        ),
        hostFile(
            `${TOTP_PLUGIN_DIR}/mailstack_totp.php`,
            renderTemplate("roundcube/mailstack_totp.php", {
                path: `${TOTP_PLUGIN_DIR}/mailstack_totp.php`,
                socket: PASSWORD_SOCKET,
                helperInclude: HELPER_INCLUDE,
                issuer: spec.hostname,
            }),
            restart,
        ),
        hostFile(
            `${TOTP_PLUGIN_DIR}/localization/en_US.inc`,
            renderTemplate("roundcube/mailstack_totp.en_US.inc", {
                path: `${TOTP_PLUGIN_DIR}/localization/en_US.inc`,
                // With Radicale, calendars and contacts take app passwords too.
                apps: spec.dav ? "mail, calendar and contacts apps" : "mail apps",
                Apps: spec.dav ? "Mail, calendar and contacts apps" : "Mail apps",
            }),
            restart,
        ),
        hostFile(
            WEBMAIL_NGINX_CONF,
            renderTemplate("nginx/mailstack-webmail.conf", {
                hostname: spec.hostname,
                uploadLimit: uploadLimit(spec),
                phpFpmSocket: PHP_FPM_SOCKET,
            }),
            ["reload:nginx"],
        ),
    ];
}
