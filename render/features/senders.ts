// Senders for applications (mailstack:senders): logins that may only submit, as their own
// address (render/host/senders.ts). Host-config brings Dovecot's passdb for them (protocol
// smtp only); mail-data their hashes and their sender-logins rows.

import { renderSendersConf } from "../host/senders";
import type { Feature } from "./feature";

export const senders: Feature = {
    name: "senders",
    config: ["senders"],
    laterFiles: () => renderSendersConf(),
};
