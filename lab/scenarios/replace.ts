// A server replacement, as the stack does it (`pulumi up --replace`, README "Replacing the
// server"): Hetzner shuts the old server down (shutdownBeforeDeletion: an ACPI shutdown,
// so systemd stops Postfix and Dovecot and unmounts the volume), deletes it, creates a new
// one from the current user-data with the same primary IPs and attaches the same volume;
// then every provisioning step runs. In the lab: the same network namespace and addresses,
// a fresh root from the image, and the same mail volume (or a new empty one, for a restore
// onto a fresh server).

import { labSpec, labUserData } from "../lab-config";
import { provision, type ProvisionResult } from "./provision";
import {
    bootContainer,
    createVolume,
    imageTarball,
    labLoopDevice,
    unpackRoot,
    waitForCloudInit,
} from "../harness/container";
import { readPid, sh, sleep } from "../harness/processes";
import { deployKey, ssh, waitForSsh } from "../harness/ssh";

export interface Replacement {
    /** The old server's volume was cleanly unmounted (no ext4 journal left to replay). */
    volumeCleanlyUnmounted: boolean;
    cloudInit: { status: number; long: string };
    provisioning: ProvisionResult;
}

/** Whether an ext4 volume was unmounted cleanly: its journal needs no recovery. */
export function cleanlyUnmounted(device: string): boolean {
    const features = /^Filesystem features:\s*(.*)$/m.exec(sh("dumpe2fs", ["-h", device]).stdout)?.[1] ?? "";
    return features !== "" && !features.split(/\s+/).includes("needs_recovery");
}

/** Shut the server down as Hetzner does before deleting it (ACPI: systemd's poweroff). */
export async function shutDownServer(timeoutMs = 120_000): Promise<void> {
    if (readPid("nspawn") === undefined) throw new Error("no lab container is running");
    const start = Date.now();
    ssh("systemctl poweroff", { allowFail: true, timeoutMs: 15_000 });
    while (readPid("nspawn") !== undefined) {
        if (Date.now() - start > timeoutMs) throw new Error("the server did not shut down");
        await sleep(200);
    }
}

/**
 * Replace the running lab server by a new one (see the top of this file), booted from
 * `firstBoot` (today's user-data of the lab spec unless given: lab/harness/earlier.ts boots
 * an earlier mailstack's) and provisioned by `provisionIt` (today's plan unless given).
 */
export async function replaceServer(opts: {
    freshVolume: boolean;
    firstBoot?: { userData: string; hostname: string };
    provisionIt?: () => Promise<ProvisionResult>;
}): Promise<Replacement> {
    await shutDownServer();
    const volumeCleanlyUnmounted = cleanlyUnmounted(labLoopDevice());
    if (opts.freshVolume) {
        sh("losetup", ["-d", labLoopDevice()]);
        createVolume();
    }
    const spec = labSpec();
    const root = unpackRoot(
        await imageTarball(),
        opts.firstBoot ?? { userData: labUserData(spec), hostname: spec.hostname },
        deployKey(),
    );
    await bootContainer(root, labLoopDevice());
    await waitForSsh();
    const cloudInit = await waitForCloudInit();
    const provisioning = await (opts.provisionIt ?? (() => provision(spec)))();
    return { volumeCleanlyUnmounted, cloudInit, provisioning };
}
