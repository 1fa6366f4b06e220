// Roundcube at https://<hostname>/ (mailstack:webmail), render/host/webmail.ts.

import { PHP_FPM_UNIT, renderWebmailFiles, WEBMAIL_NGINX_CONF } from "../host/webmail";
import type { Feature } from "./feature";

/** Roundcube and PHP: php-fpm first, so that apt gives Roundcube's php php-fpm and not Apache's mod_php. */
export const WEBMAIL_PACKAGES: readonly string[] = [
    "php-fpm",
    "roundcube-core",
    "roundcube-sqlite3",
    "roundcube-plugins",
    // The second factor's QR code, drawn on the server (mailstack_totp; no script from elsewhere).
    "qrencode",
];

export const webmail: Feature = {
    name: "webmail",
    config: ["webmail"],
    optional: {
        on: (spec) => spec.webmail,
        packages: WEBMAIL_PACKAGES,
        units: [PHP_FPM_UNIT],
    },
    actions: ["restart:webmail"],
    laterFiles: (spec) => renderWebmailFiles(spec),
    // nginx's webmail server, once mailstack:webmail is off (Roundcube's packages stay installed, unreachable).
    prune: [
        {
            dir: WEBMAIL_NGINX_CONF.slice(0, WEBMAIL_NGINX_CONF.lastIndexOf("/")),
            pattern: "mailstack-*.conf",
            onChange: ["reload:nginx"],
        },
    ],
};
