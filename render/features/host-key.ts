// The host-key step's script: replaces the provisional SSH host key (render/plan/plan.ts).

import { renderTemplate } from "../host/template";
import { hostFile as file } from "../host/types";
import type { Feature } from "./feature";

export const hostKey: Feature = {
    name: "host-key",
    files: () => [file("/usr/local/sbin/mailstack-host-key", renderTemplate("mailstack/host-key.sh"), [], "0755")],
};
