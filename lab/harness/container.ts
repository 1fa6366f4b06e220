// The lab server's life: the image, its root on a tmpfs with the mail volume, the boot
// under systemd-nspawn in msl-srv, cloud-init, a reboot, and the teardown by lab/stop.sh.

import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { acmeLabCa, savedPebbleRoot } from "../world/acme";
import { NET } from "./net";
import { LAB_DIR, readPid, recordPid, sh, shAsync, sleep, startTime, STATE_DIR, writeState } from "./processes";
import {
    keyPath,
    knownHostsFile,
    pinHostKey,
    PRIMARY,
    provisionalHostKey,
    SECONDARY,
    ssh,
    sshAsync,
    type SshTarget,
    waitForSsh,
} from "./ssh";

/** Where the user-data finds the mail volume, shaped like Hetzner's `linuxDevice`. */
export const MAIL_VOLUME_DEVICE = "/dev/disk/by-id/scsi-0HC_Volume_100000001";
/** The tmpfs for the container's root and the volume image. */
const TMPFS_SIZE = "6G";
/** The (sparse) mail volume image. */
const VOLUME_SIZE = "10G";

/** What is up so far, filled in by the runner as each step succeeds. */
export interface Lab {
    root: string;
    loopDevice: string;
    nspawnPid: number;
    leaderPid: number;
    consoleLog: string;
}

/** Build or reuse the cached lab image tarball; returns its path. */
export async function imageTarball(): Promise<string> {
    const r = await shAsync("bash", [path.join(LAB_DIR, "image.sh")], {
        allowFail: true,
        stderrInherit: true,
        timeoutMs: 1_200_000,
    });
    if (r.status !== 0) throw new Error(`lab/image.sh failed (exit ${r.status})`);
    return r.stdout.trim().split("\n").pop()!;
}

/** Another live lab (someone's `--keep`): this run must leave it alone, not stop it. */
export class LabBusyError extends Error {}

/** Refuse to run over a live lab; clean leftovers of a dead one. */
export function prepareState(): void {
    if (fs.existsSync(STATE_DIR)) {
        if (readPid("nspawn") !== undefined) {
            throw new LabBusyError(`a lab is already running (state in ${STATE_DIR}); stop it with: bash lab/stop.sh`);
        }
        teardown();
    }
    for (const ns of [NET.serverNs, NET.outsideNs, NET.mx2Ns]) {
        if (fs.existsSync(`/run/netns/${ns}`)) {
            throw new Error(
                `network namespace ${ns} exists but is not recorded by a lab; remove it with: ip netns del ${ns}`,
            );
        }
    }
    fs.mkdirSync(path.join(STATE_DIR, "pids"), { recursive: true, mode: 0o700 });
}

/** Unpack the image onto a fresh tmpfs, write the NoCloud seed, make the mail volume. */
export function prepareRoot(
    tarball: string,
    opts: { userData: string; hostname: string },
    publicKey: string,
): Pick<Lab, "root" | "loopDevice"> {
    const mnt = path.join(STATE_DIR, "tmpfs");
    fs.mkdirSync(mnt, { recursive: true });
    writeState("mount", `${mnt}\n`);
    sh("mount", ["-t", "tmpfs", "-o", `size=${TMPFS_SIZE},mode=0755`, "mailstack-lab", mnt]);
    const root = unpackRoot(tarball, opts, publicKey);
    return { root, loopDevice: createVolume() };
}

/** The lab's tmpfs, mounted by prepareRoot. */
export function labTmpfs(): string {
    return fs.readFileSync(path.join(STATE_DIR, "mount"), "utf8").trim();
}

/**
 * A new server's root disk: the image unpacked at <tmpfs>/root (what was there is removed),
 * with a NoCloud seed of the given user-data and a new instance id, as Hetzner boots a new
 * server. Returns the root's path.
 */
export function unpackRoot(
    tarball: string,
    opts: { userData: string; hostname: string },
    publicKey: string,
    target: SshTarget = PRIMARY,
): string {
    // A fresh root boots with the user-data's provisional host key: expect that one.
    pinHostKey(provisionalHostKey(target).publicKeyOpenssh, target);
    const root = path.join(labTmpfs(), target.name ? `root-${target.name}` : "root");
    fs.rmSync(root, { recursive: true, force: true });
    fs.mkdirSync(root);
    sh("tar", ["-C", root, "--numeric-owner", "-xf", tarball]);

    const seed = path.join(root, "var/lib/cloud/seed/nocloud");
    fs.mkdirSync(seed, { recursive: true });
    fs.writeFileSync(path.join(seed, "user-data"), opts.userData);
    fs.writeFileSync(
        path.join(seed, "meta-data"),
        [
            `instance-id: mailstack-lab-${Date.now().toString(36)}`,
            `local-hostname: ${opts.hostname}`,
            "public-keys:",
            `  - ${publicKey}`,
            "",
        ].join("\n"),
    );
    // DNS inside the lab: the outside namespace, which answers nothing (port unreachable),
    // so lookups fail at once instead of timing out; nothing can leave the lab.
    fs.writeFileSync(path.join(root, "etc/resolv.conf"), `nameserver ${NET.client4}\n`);
    // The lab CA stands in for the public CAs: the outside MX and its MTA-STS policy host
    // (lab/world/peer.ts) have its certificates. In the system store (and where update-ca-certificates
    // keeps it), as Postfix and the MTA-STS resolver read it.
    const ca = acmeLabCa();
    fs.writeFileSync(path.join(root, "usr/local/share/ca-certificates/mailstack-lab-ca.crt"), ca);
    fs.appendFileSync(path.join(root, "etc/ssl/certs/ca-certificates.crt"), ca);
    // Pebble's root stands in for Let's Encrypt's, which a real server has in its store:
    // Roundcube verifies the host's own certificate when it logs in to Dovecot and Postfix.
    const pebble = savedPebbleRoot();
    fs.writeFileSync(path.join(root, "usr/local/share/ca-certificates/mailstack-lab-pebble-root.crt"), pebble);
    fs.appendFileSync(path.join(root, "etc/ssl/certs/ca-certificates.crt"), pebble);
    return root;
}

/**
 * A new, empty mail volume: an ext4 image (Hetzner formats volumes with `format: ext4`) on
 * a loop device, recorded for lab/stop.sh. Returns the loop device.
 */
export function createVolume(target: SshTarget = PRIMARY): string {
    const image = target.name ? path.join(labTmpfs(), `queue-volume-${target.name}.img`) : labVolumeImage();
    fs.rmSync(image, { force: true });
    sh("truncate", ["-s", VOLUME_SIZE, image]);
    sh("mkfs.ext4", ["-q", "-F", image]);
    const loopDevice = sh("losetup", ["--find", "--show", image]).stdout.trim();
    writeState(target.name ? `loop-${target.name}` : "loop", `${loopDevice}\n`);
    return loopDevice;
}

/** The mail volume's image file, on the lab's tmpfs. */
export function labVolumeImage(): string {
    return path.join(labTmpfs(), "mail-volume.img");
}

/** The mail volume's loop device of the running lab. */
export function labLoopDevice(): string {
    return fs.readFileSync(path.join(STATE_DIR, "loop"), "utf8").trim();
}

/** The container's PID 1 as seen from the host: a descendant of nspawn that is PID 1 in its namespace. */
function findLeader(nspawnPid: number): number | undefined {
    const queue = [nspawnPid];
    while (queue.length > 0) {
        const pid = queue.shift()!;
        let children: string[] = [];
        try {
            children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
        } catch {
            continue;
        }
        for (const c of children.map(Number)) {
            try {
                const nspid = /^NSpid:\s+(.*)$/m
                    .exec(fs.readFileSync(`/proc/${c}/status`, "utf8"))?.[1]
                    .trim()
                    .split(/\s+/);
                if (nspid && nspid.length > 1 && nspid[nspid.length - 1] === "1") return c;
            } catch {
                /* gone */
            }
            queue.push(c);
        }
    }
    return undefined;
}

/** Boot the root under systemd-nspawn in msl-srv; returns once the container's PID 1 exists. */
export async function bootContainer(
    root: string,
    loopDevice: string,
    target: SshTarget = PRIMARY,
): Promise<Pick<Lab, "nspawnPid" | "leaderPid" | "consoleLog">> {
    const dash = target.name ? `-${target.name}` : "";
    const consoleLog = path.join(STATE_DIR, `console${dash}.log`);
    const out = fs.openSync(consoleLog, "a");
    const child = spawn(
        "setsid",
        [
            "systemd-nspawn",
            "--boot",
            `--directory=${root}`,
            `--machine=mailstack-lab${dash}`,
            "--register=no",
            "--keep-unit",
            `--network-namespace-path=/run/netns/${target === SECONDARY ? NET.mx2Ns : NET.serverNs}`,
            // nspawn grants CAP_NET_ADMIN only with --private-network, not when it joins a
            // namespace. fail2ban needs it for its nftables bans, as on the real VM; it only
            // reaches msl-srv, the lab's own namespace.
            "--capability=CAP_NET_ADMIN",
            "--console=pipe",
            "--resolv-conf=off",
            "--timezone=off",
            `--bind=${loopDevice}:${MAIL_VOLUME_DEVICE}`,
        ],
        { stdio: ["ignore", out, out], detached: false },
    );
    fs.closeSync(out);
    if (child.pid === undefined) throw new Error("could not start systemd-nspawn");
    // setsid execs in place (we are not a group leader), so child.pid is nspawn's PID.
    recordPid(target.nspawn, child.pid);
    child.unref();
    const started = Date.now();
    let leader: number | undefined;
    while (Date.now() - started < 30_000) {
        if (child.exitCode !== null || startTime(child.pid) === undefined) break;
        leader = findLeader(child.pid);
        if (leader !== undefined) break;
        await sleep(100);
    }
    if (leader === undefined) {
        const tail = fs.readFileSync(consoleLog, "utf8").split("\n").slice(-30).join("\n");
        throw new Error(`systemd-nspawn did not start a container:\n${tail}`);
    }
    recordPid(`leader${dash}`, leader);
    return { nspawnPid: child.pid, leaderPid: leader, consoleLog };
}

/** `cloud-init status --wait`: 0 done, 2 done with deprecation warnings, 1 error. */
export async function waitForCloudInit(target: SshTarget = PRIMARY): Promise<{ status: number; long: string }> {
    const r = await sshAsync("cloud-init status --wait --long", { allowFail: true, timeoutMs: 600_000 }, target);
    return { status: r.status ?? -1, long: (r.stdout + r.stderr).trim() };
}

/**
 * Reboot the container as `reboot` would on a VM: systemd reboots, nspawn exits (it does
 * not restart a container by itself), and the lab boots the same root with the same
 * volume again. Returns the seconds until root can log in again.
 */
export async function rebootContainer(): Promise<number> {
    const timeoutMs = 120_000;
    const old = readPid("nspawn");
    if (old === undefined) throw new Error("no lab container is running");
    const start = Date.now();
    ssh("systemctl reboot", { allowFail: true, timeoutMs: 15_000 });
    while (readPid("nspawn") !== undefined) {
        if (Date.now() - start > timeoutMs) throw new Error("the container did not shut down for the reboot");
        await sleep(200);
    }
    await bootContainer(path.join(labTmpfs(), "root"), labLoopDevice());
    await waitForSsh();
    return (Date.now() - start) / 1000;
}

/**
 * A power cut, as far as a container can have one: the container's PID 1 is killed with
 * SIGKILL from the host, which kills every process in it at once (no daemon stops, flushes
 * or says goodbye), then the lab boots the same root with the same volume. The host's kernel
 * keeps running, so what the daemons had written but not fsynced still reaches the volume
 * image: this shows the daemons' recovery, not the disk's (docs/faults.md). Returns the
 * seconds until root can log in again.
 */
export async function hardRebootContainer(): Promise<number> {
    const timeoutMs = 120_000;
    const leader = readPid("leader");
    if (leader === undefined || readPid("nspawn") === undefined) throw new Error("no lab container is running");
    const start = Date.now();
    process.kill(leader, "SIGKILL");
    while (readPid("nspawn") !== undefined) {
        if (Date.now() - start > timeoutMs)
            throw new Error("systemd-nspawn did not exit after its container was killed");
        await sleep(100);
    }
    await bootContainer(path.join(labTmpfs(), "root"), labLoopDevice());
    await waitForSsh();
    return (Date.now() - start) / 1000;
}

/** Stop everything the lab recorded (lab/stop.sh); returns its output. */
export function teardown(): { ok: boolean; output: string } {
    const r = spawnSync("bash", [path.join(LAB_DIR, "stop.sh")], {
        encoding: "utf8",
        env: { ...process.env, MAILSTACK_LAB_STATE: STATE_DIR },
    });
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim() };
}

/** Shell lines telling a person how to use and stop a lab left running with --keep. */
export function connectHelp(): string {
    const sshCmd = `ip netns exec ${NET.outsideNs} ssh -i ${keyPath()} -o UserKnownHostsFile=${knownHostsFile()} root@${NET.server4}`;
    return [
        `The lab is running (state in ${STATE_DIR}).`,
        `  shell on the server:   ${sshCmd}`,
        `  a client "outside":    ip netns exec ${NET.outsideNs} bash   (server ${NET.server4} / ${NET.server6})`,
        `  e.g. send mail:        ip netns exec ${NET.outsideNs} swaks --server ${NET.server4} --to alice@example.org --from someone@sink.test`,
        `  enter the container:   nsenter -t ${readPid("leader") ?? "<leader>"} -a`,
        `  stop it:               bash ${path.relative(process.cwd(), path.join(LAB_DIR, "stop.sh")) || "lab/stop.sh"}`,
    ].join("\n");
}
