// The local accounts and groups the daemons' unix sockets rely on (render/host/accounts.ts).

import { renderAccountFiles } from "../host/accounts";
import type { Feature } from "./feature";

export const accounts: Feature = {
    name: "accounts",
    actions: ["apply:accounts"],
    files: () => renderAccountFiles(),
};
