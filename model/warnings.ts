// Settings that are allowed but unwise: each comes back as a warning that names its key path
// and says why, for the program to print (components/config.ts) before it declares anything.

import { configPath } from "./errors";
import { isOverBroadCidr } from "./syntax";
import type { MailSpec } from "./types";

/** Warnings about a valid spec, each `mailstack:<key path>: <why>`. */
export function configWarnings(spec: MailSpec): string[] {
    return spec.sshAllowedCidrs.flatMap((cidr, i) =>
        isOverBroadCidr(cidr)
            ? [
                  `${configPath(["sshAllowedCidrs", i])}: ${cidr} lets (most of) the whole internet reach SSH (port 22): ` +
                      "the deploy key is then the only lock, every scanner fills the log, and a future sshd flaw is " +
                      "open to all; list the addresses you deploy from (your own /32, CI's range) instead",
              ]
            : [],
    );
}
