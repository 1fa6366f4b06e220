// MTA-STS for outgoing mail: postfix-mta-sts-resolver answers Postfix with each domain's policy.

import { renderMtaStsFiles } from "../host/outbound";
import type { Feature } from "./feature";

export const mtaSts: Feature = {
    name: "mta-sts",
    packages: ["postfix-mta-sts-resolver"],
    units: ["postfix-mta-sts-resolver"],
    actions: ["restart:mta-sts"],
    laterFiles: () => renderMtaStsFiles(),
};
