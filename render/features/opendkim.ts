// OpenDKIM: signs outgoing mail (keys and tables come with the dkim step).

import { OPENDKIM_SOCKET } from "../host/accounts";
import { renderTemplate } from "../host/template";
import { hostFile as file } from "../host/types";
import type { Feature } from "./feature";

export const opendkim: Feature = {
    name: "opendkim",
    packages: ["opendkim", "opendkim-tools"],
    units: ["opendkim"],
    actions: ["restart:opendkim"],
    files: () => [
        file("/etc/opendkim.conf", renderTemplate("opendkim/opendkim.conf", { socket: OPENDKIM_SOCKET }), [
            "restart:opendkim",
        ]),
        file("/etc/opendkim/trusted.hosts", renderTemplate("opendkim/trusted.hosts"), ["restart:opendkim"]),
    ],
};
