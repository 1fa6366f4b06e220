// systemd itself: a changed unit file or drop-in is read after daemon-reload, before any
// other action (re)starts a unit.

import type { Feature } from "./feature";

export const systemd: Feature = {
    name: "systemd",
    actions: ["daemon-reload"],
};
