// Calendars and contacts (mailstack:dav): Radicale behind nginx at https://<hostname>/dav/,
// render/host/dav.ts. Its SRV and TXT records come with the DNS records, its Apple profile
// accounts with the client files.

import { DAV_PRUNE, DAV_UNIT, renderDavFiles } from "../host/dav";
import type { Feature } from "./feature";

/** Radicale (Debian 13: 3.5): only the packages step installs it, when mailstack:dav is on. */
export const DAV_PACKAGES: readonly string[] = ["radicale"];

export const dav: Feature = {
    name: "dav",
    config: ["dav"],
    optional: {
        on: (spec) => spec.dav,
        packages: DAV_PACKAGES,
        units: [DAV_UNIT],
    },
    actions: ["restart:dav"],
    // All with host-config: Radicale's user, which its files and Dovecot's listener name,
    // exists only after the packages step.
    laterFiles: (spec) => renderDavFiles(spec),
    // Its nginx locations, Dovecot's listener and the jail, once mailstack:dav is off
    // (Radicale stays installed, unreachable).
    prune: DAV_PRUNE,
};
