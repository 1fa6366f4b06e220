// Importing old IMAP accounts (mailstack:imports): the import step brings each account's
// settings and password, the script, its folder mapper and its timer (render/host/import.ts).

import type { Feature } from "./feature";

/** mbsync: only the packages step installs it, and only while an import is configured. */
export const IMPORT_PACKAGES: readonly string[] = ["isync"];

export const imports: Feature = {
    name: "import",
    config: ["imports", "importPasswords"],
    optional: {
        on: (spec) => spec.imports.length > 0,
        packages: IMPORT_PACKAGES,
        units: [],
    },
};
