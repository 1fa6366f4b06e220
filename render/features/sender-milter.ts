// mailstack-sender-milter: the From: header must be an address the login may send as.

import { POSTFIX_SPOOL, SENDER_MILTER_SOCKET, SENDER_MILTER_USER, socketDir } from "../host/accounts";
import { renderTemplate } from "../host/template";
import { hostFile as file } from "../host/types";
import type { Feature } from "./feature";

export const senderMilter: Feature = {
    name: "sender-milter",
    packages: ["python3-milter"],
    units: ["mailstack-sender-milter"],
    actions: ["restart:sender-milter"],
    files: () => [
        file(
            "/usr/local/sbin/mailstack-sender-milter",
            renderTemplate("mailstack/sender-milter.py", {
                socket: SENDER_MILTER_SOCKET,
                milterUser: SENDER_MILTER_USER,
            }),
            ["restart:sender-milter"],
            "0755",
        ),
        file(
            "/etc/systemd/system/mailstack-sender-milter.service",
            renderTemplate("systemd/mailstack-sender-milter.service", {
                socket: SENDER_MILTER_SOCKET,
                socketDir: socketDir(SENDER_MILTER_SOCKET),
                spool: POSTFIX_SPOOL,
                user: SENDER_MILTER_USER,
            }),
            ["daemon-reload", "restart:sender-milter"],
        ),
    ],
};
