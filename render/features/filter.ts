// The spam filter: rspamd (milter on port 25's mail) with Valkey for its statistics.

import { renderFilterFiles } from "../host/filter";
import type { Feature } from "./feature";

export const filter: Feature = {
    name: "filter",
    config: ["spamFilter"],
    packages: ["rspamd", "valkey-server"],
    units: ["valkey-server"],
    // Its config comes with host-config only; first-boot leaves it stopped until then, so
    // Postfix defers mail from outside rather than letting it in unchecked.
    laterUnits: ["rspamd"],
    actions: ["restart:valkey", "apply:rspamd-password", "restart:rspamd"],
    laterFiles: (spec) => renderFilterFiles(spec),
};
