// The state a rebuilt server must keep, on the mail volume (bind mounts of /srv/mail/state/<name>),
// and the state version's migrations.

import { migrateFile } from "../host/migrations";
import { renderTemplate } from "../host/template";
import { hostFile as file, type HostFile, type ServiceAction } from "../host/types";
import {
    MAIL_VOLUME_MOUNT,
    mountUnitName,
    VOLUME_STATE_DIRS,
    VOLUME_STATE_ROOT,
    VOLUME_STATE_UNITS,
    volumeStatePath,
} from "../host/volume";
import type { Feature } from "./feature";

/**
 * The bind mounts that put the state in VOLUME_STATE_DIRS on the mail volume, and the script
 * that moves it there; `stateUnits` the units it stops for the move (the backup MX has no Dovecot).
 */
export function volumeStateFiles(stateUnits: readonly string[] = VOLUME_STATE_UNITS): HostFile[] {
    const onChange: ServiceAction[] = ["daemon-reload", "apply:volume-state"];
    return [
        file(
            "/usr/local/sbin/mailstack-volume-state",
            renderTemplate("mailstack/volume-state.sh", {
                mailVolume: MAIL_VOLUME_MOUNT,
                stateRoot: VOLUME_STATE_ROOT,
                stateDirs: VOLUME_STATE_DIRS.map((d) => `${d.path} ${d.name} ${mountUnitName(d.path)}`).join("\n"),
                stateUnits: stateUnits.join(" "),
            }),
            ["apply:volume-state"],
            "0755",
        ),
        ...VOLUME_STATE_DIRS.map((d) =>
            file(
                `/etc/systemd/system/${mountUnitName(d.path)}`,
                renderTemplate("systemd/volume-state.mount", {
                    unit: mountUnitName(d.path),
                    where: d.path,
                    why: d.why,
                    mailVolume: MAIL_VOLUME_MOUNT,
                    what: volumeStatePath(d),
                    options: d.mountOptions,
                }),
                onChange,
            ),
        ),
        file(
            "/etc/systemd/system/certbot.service.d/mailstack.conf",
            renderTemplate("systemd/certbot-requires-volume-state.conf"),
            ["daemon-reload"],
        ),
    ];
}

export const volumeState: Feature = {
    name: "volume-state",
    actions: ["apply:volume-state"],
    files: () => volumeStateFiles(),
    // host-config runs the migrations from its own command first; the first boot stamps a
    // fresh volume's state version itself, in first-boot.sh.
    laterFiles: () => [migrateFile()],
};
