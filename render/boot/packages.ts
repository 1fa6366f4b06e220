import packages from "./packages.json";

/** What the user-data installs on first boot; the lab pre-downloads exactly these. */
export const MAIL_PACKAGES: readonly string[] = Object.freeze([...packages.mail]);

/**
 * Roundcube and PHP, when mailstack:webmail is on: only the packages step installs them, so
 * switching the webmail on or off never changes the user-data (which would replace the server).
 */
export const WEBMAIL_PACKAGES: readonly string[] = Object.freeze([...packages.webmail]);
