// Importing old IMAP accounts (mailstack:imports): the import step brings each account's
// settings and password, the script, its folder mapper and its timer (render/host/import.ts).

import type { Feature } from "./feature";

/**
 * mbsync, and Cyrus SASL's XOAUTH2 client plugin that mbsync's `AuthMechs XOAUTH2` loads
 * (OAuth2 imports, e.g. Microsoft 365): only the packages step installs them, and only while
 * an import is configured.
 */
export const IMPORT_PACKAGES: readonly string[] = ["isync", "libsasl2-modules-kdexoauth2"];

export const imports: Feature = {
    name: "import",
    config: ["imports", "importPasswords"],
    optional: {
        on: (spec) => spec.imports.length > 0,
        packages: IMPORT_PACKAGES,
        units: [],
    },
};
