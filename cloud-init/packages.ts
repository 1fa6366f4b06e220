import packages from "./packages.json";

/** What the user-data installs on first boot; the lab pre-downloads exactly these. */
export const MAIL_PACKAGES: readonly string[] = Object.freeze([...packages.mail]);
