// Sieve: users' filters over ManageSieve (4190), the global scripts (spam to Junk, learning).

import { renderSieveFiles, renderSieveLearners } from "../host/sieve";
import type { Feature } from "./feature";

export const sieve: Feature = {
    name: "sieve",
    config: ["autoExpunge"],
    services: ["sieve"],
    packages: ["dovecot-sieve", "dovecot-managesieved"],
    files: () => renderSieveFiles(),
    // They use rspamd's controller password, which comes with host-config too.
    laterFiles: () => renderSieveLearners(),
};
