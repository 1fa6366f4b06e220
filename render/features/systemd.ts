// systemd itself: a changed unit file or drop-in is read after daemon-reload, before any
// other action (re)starts a unit.

import { renderTemplate } from "../host/template";
import { hostFile as file, type HostFile } from "../host/types";
import type { Feature } from "./feature";

/**
 * A drop-in that starts `unit` again when its main process dies (a crash, the OOM killer,
 * kill -9), for the daemons whose Debian unit has no Restart= (Postfix, Dovecot); rspamd,
 * Valkey, unbound and OpenDKIM restart by their own units. A feature's laterFiles: the first
 * boot's minutes before host-config can do without it, and the user-data has no room.
 */
export function restartAfterCrash(unit: string): HostFile {
    return file(
        `/etc/systemd/system/${unit}.service.d/restart.conf`,
        renderTemplate("systemd/restart-after-crash.conf", { unit }),
        ["daemon-reload"],
    );
}

export const systemd: Feature = {
    name: "systemd",
    actions: ["daemon-reload"],
};
