// Unattended security upgrades, keeping mailstack's config files.

import { renderTemplate } from "../host/template";
import { hostFile as file } from "../host/types";
import type { Feature } from "./feature";

const UNATTENDED_UPGRADES_CONF = "/etc/apt/apt.conf.d/52mailstack-unattended-upgrades";

export const upgrades: Feature = {
    name: "upgrades",
    packages: ["unattended-upgrades"],
    // The packages step installs today's packages first.
    laterFiles: () => [file(UNATTENDED_UPGRADES_CONF, renderTemplate("apt/52mailstack-unattended-upgrades"), [])],
};
