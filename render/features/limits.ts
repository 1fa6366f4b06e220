// Limits: recipients per login and hour on submission, and the disk guard.

import { renderLimitFiles } from "../host/limits";
import type { Feature } from "./feature";

export const limits: Feature = {
    name: "limits",
    config: ["submissionLimit"],
    laterUnits: ["mailstack-submission-limit", "mailstack-disk-guard.timer"],
    actions: ["restart:submission-limit", "enable:disk-guard"],
    laterFiles: (spec) => renderLimitFiles(spec),
};
