// Calendars and contacts (mailstack:dav): Radicale behind nginx at https://<hostname>/dav/,
// render/host/dav.ts. Its SRV and TXT records are declared here, its Apple profile accounts
// come with the client files.

import { DAV_PATH, DAV_SERVICES, port, srvName } from "../../model";
import { srvRecord, txtRecord } from "../dns/record";
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
    // RFC 6764: calendar and contact clients (iOS, DAVx5, Thunderbird) find the server from
    // the address alone: the SRV record gives host and port, its TXT the path on it.
    dnsRecords: (spec, domain) =>
        !spec.dav
            ? []
            : DAV_SERVICES.flatMap((s) => [
                  srvRecord(s.srv, domain.name, port("https"), spec.hostname, s.srvPurpose),
                  txtRecord(
                      srvName(s.srv, domain.name),
                      `path=${DAV_PATH}`,
                      `${s.srvPurpose}: its path on ${spec.hostname}`,
                  ),
              ]),
};
