// The whole lab, stood up: image, private network, the lab DNS, the mail sink, the ACME CA
// and the backup target in msl-out, the container booted with the stack's user-data,
// cloud-init, and the stack's provisioning plan over SSH. `npm run lab` (lab/run.ts) and `npm run bench`
// (bench/run.ts) both stand the lab up with this, so both measure the same server.

import * as fs from "node:fs";
import * as path from "node:path";
import type { MailSpec } from "../../model";
import { savePebbleRoot, startAcmeServer } from "../world/acme";
import { startSignedDns } from "../world/dane";
import { applyCloudFirewall, applySecondaryFirewall } from "../world/firewall";
import { labAddressFacts, labDnsRecords } from "../world/dns";
import { LAB_RELAY, labSecondaryUserData, labSpec, labUserData } from "../lab-config";
import { labDkimPublicKeysPem, provision, provisionSecondary } from "./provision";
import { startStorageBox } from "../world/storagebox";
import {
    bootContainer,
    createVolume,
    imageTarball,
    type Lab,
    prepareRoot,
    prepareState,
    unpackRoot,
    waitForCloudInit,
} from "../harness/container";
import { createNetwork, createSecondaryNetwork, NET, startOutsideDaemon } from "../harness/net";
import { LAB_DIR, STATE_DIR } from "../harness/processes";
import { deployKey, SECONDARY, waitForSsh } from "../harness/ssh";

/** What the checks can read about this run: $MAILSTACK_LAB_STATE/context.json. */
export interface LabContext {
    cloudInit: { status: number; long: string };
    provisioning: { ran: boolean; ok: boolean; detail: string };
    /** The backup MX, when this run booted one (`--secondary`). */
    secondary?: {
        cloudInit: { status: number; long: string };
        provisioning: { ran: boolean; ok: boolean; detail: string };
    };
}

/** Runs one stage of the stand-up and records how long it took under `label`. */
export type Timed = <T>(label: string, fn: () => T | Promise<T>) => Promise<T>;

export interface StoodUp {
    spec: MailSpec;
    context: LabContext;
    /** Seconds from starting the container until the last provisioning step was done. */
    bootToProvisioned: number;
}

/**
 * The lab zone's records for `spec` (the stack's own, with the lab's DKIM keys) into the file
 * the lab DNS serves; it reloads the file when it changes. Returns the file's path.
 */
export function writeLabDnsRecords(spec: MailSpec): string {
    const records = labDnsRecords(spec, { ...labAddressFacts(spec), dkimPublicKeysPem: labDkimPublicKeysPem(spec) });
    const file = path.join(STATE_DIR, "dns-records.json");
    // Whole or not at all: the lab DNS may read it at any moment.
    fs.writeFileSync(`${file}.new`, JSON.stringify(records, null, 2));
    fs.renameSync(`${file}.new`, file);
    return file;
}

/**
 * Stand the lab up. `lab` is filled in as each part exists (the caller's teardown and error
 * report use it); `timed` times each stage. Throws when a stage fails; provisioning that
 * fails is not thrown but reported in the returned context (the checks report it).
 */
export async function standUpLab(lab: Partial<Lab>, timed: Timed): Promise<StoodUp> {
    prepareState();
    const tarball = await timed("image (build or reuse)", () => imageTarball());
    const spec = labSpec();
    const userData = labUserData(spec);
    console.log(`lab: image ${tarball}\nlab: user-data from renderUserData (${userData.length} bytes)`);
    await timed("network", () => {
        createNetwork();
        // Every check runs behind the firewall the real server gets.
        applyCloudFirewall(spec);
        if (spec.secondaryMx) {
            createSecondaryNetwork();
            applySecondaryFirewall(spec);
        }
    });
    const publicKey = deployKey();
    await timed("lab DNS in msl-out", async () => {
        const file = writeLabDnsRecords(spec);
        await startOutsideDaemon("dns", path.join(LAB_DIR, "world", "dns.ts"), [file, NET.client4, NET.client6]);
    });
    // The CA first: its lab CA signs the outside MX's certificates too.
    await timed("ACME CA (pebble) in msl-out", async () => {
        await startAcmeServer();
        await savePebbleRoot();
    });
    await timed("mail sink and outside MX in msl-out", () =>
        startOutsideDaemon("sink", path.join(LAB_DIR, "world", "sink.ts"), [
            path.join(STATE_DIR, "sink"),
            NET.outside4,
            String(LAB_RELAY.port),
        ]),
    );
    // After the outside MX, whose key the zone's TLSA record names.
    await timed("signed DNS (Knot, dane.test) in msl-out", () => startSignedDns());
    Object.assign(
        lab,
        await timed("unpack onto tmpfs", () => prepareRoot(tarball, { userData, hostname: spec.hostname }, publicKey)),
    );
    const secondaryRoot = spec.secondaryMx
        ? await timed("backup MX: unpack onto tmpfs", () => ({
              root: unpackRoot(
                  tarball,
                  { userData: labSecondaryUserData(spec), hostname: spec.secondaryMx!.hostname },
                  publicKey,
                  SECONDARY,
              ),
              loopDevice: createVolume(SECONDARY),
          }))
        : undefined;
    await timed("Storage Box in msl-out", () => startStorageBox(tarball));
    const booted = Date.now();
    // The backup MX boots and is provisioned beside the primary (its plan needs nothing of the
    // primary's), so it costs the lab little wall time.
    const [primary, secondary] = await Promise.all([
        (async () => {
            Object.assign(
                lab,
                await timed("boot to SSH login", async () => {
                    const b = await bootContainer(lab.root!, lab.loopDevice!);
                    console.log(
                        `lab: systemd-nspawn pid ${b.nspawnPid}, container leader pid ${b.leaderPid}, console ${b.consoleLog}`,
                    );
                    await waitForSsh();
                    return b;
                }),
            );
            const cloudInit = await timed("cloud-init (after SSH)", () => waitForCloudInit());
            console.log(`lab: cloud-init status exit ${cloudInit.status}\n${cloudInit.long.replace(/^/gm, "  ")}`);
            const provisioning = await timed("provisioning", () => provision(spec));
            return { cloudInit, provisioning };
        })(),
        secondaryRoot && standUpSecondary(spec, secondaryRoot, timed),
    ]);
    const { cloudInit, provisioning } = primary;
    const bootToProvisioned = (Date.now() - booted) / 1000;
    console.log(`lab: provisioning: ${provisioning.detail}`);
    const context: LabContext = { cloudInit, provisioning, ...(secondary ? { secondary } : {}) };
    fs.writeFileSync(path.join(STATE_DIR, "context.json"), JSON.stringify(context, null, 2));
    return { spec, context, bootToProvisioned };
}

/** The backup MX: booted from its own user-data in msl-mx2, cloud-init, then its plan. */
async function standUpSecondary(
    spec: MailSpec,
    disk: { root: string; loopDevice: string },
    timed: Timed,
): Promise<NonNullable<LabContext["secondary"]>> {
    await timed("backup MX: boot to SSH login", async () => {
        const b = await bootContainer(disk.root, disk.loopDevice, SECONDARY);
        console.log(`lab: backup MX: systemd-nspawn pid ${b.nspawnPid}, console ${b.consoleLog}`);
        await waitForSsh(SECONDARY);
    });
    const cloudInit = await timed("backup MX: cloud-init", () => waitForCloudInit(SECONDARY));
    console.log(`lab: backup MX: cloud-init status exit ${cloudInit.status}\n${cloudInit.long.replace(/^/gm, "  ")}`);
    const provisioning = await timed("backup MX: provisioning", () => provisionSecondary(spec));
    console.log(`lab: backup MX: provisioning: ${provisioning.detail}`);
    return { cloudInit, provisioning };
}
