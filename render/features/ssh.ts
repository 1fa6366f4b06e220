// sshd: keys only, root with a key only (the firewall lets only the deployers reach it).

import { renderTemplate } from "../host/template";
import { hostFile as file } from "../host/types";
import type { Feature } from "./feature";

export const ssh: Feature = {
    name: "ssh",
    config: ["sshAllowedCidrs"],
    actions: ["restart:ssh"],
    files: () => [
        file("/etc/ssh/sshd_config.d/00-mailstack.conf", renderTemplate("ssh/00-mailstack.conf"), ["restart:ssh"]),
    ],
};
