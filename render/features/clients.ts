// What clients and sending servers fetch over HTTPS: autoconfig, autodiscover, the MTA-STS
// policy (render/host/client-config.ts); the per-domain Apple profiles come with mail-data.

import { renderClientFiles } from "../host/client-config";
import type { Feature } from "./feature";

export const clients: Feature = {
    name: "clients",
    config: ["mtaSts"],
    laterFiles: (spec) => renderClientFiles(spec),
};
