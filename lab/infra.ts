// The lab's infrastructure: image, private network, container boot, SSH, teardown.
//
// Safety (issue #4): the container only ever runs in the lab's own network namespace
// (`msl-srv`), linked by one veth pair to a second lab namespace (`msl-out`) that holds
// the "outside" clients and the mail sink; nothing is linked to the host's network.
// Every address is a documentation address. Everything started is recorded by PID in the
// state directory and stopped by `lab/stop.sh`, which the runner calls on every exit path.

import { execFileSync, spawn, spawnSync, SpawnSyncReturns } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export const LAB_DIR = __dirname;
export const REPO_DIR = path.dirname(__dirname);
export const STATE_DIR = process.env.MAILSTACK_LAB_STATE ?? "/run/mailstack-lab";

/** The lab's network: two namespaces and one veth pair, documentation addresses only. */
export const NET = {
    serverNs: "msl-srv",
    outsideNs: "msl-out",
    serverIf: "eth0",
    outsideIf: "out0",
    server4: "192.0.2.25",
    server6: "2001:db8::25",
    client4: "192.0.2.7",
    client6: "2001:db8::7",
    /** Second "outside" source address and the mail sink (the relayhost of the lab spec). */
    outside4: "198.51.100.7",
    /** A password guesser, for the fail2ban checks (banned and unbanned there). */
    attacker4: "198.51.100.66",
} as const;

/** Where the user-data finds the mail volume, shaped like Hetzner's `linuxDevice`. */
export const MAIL_VOLUME_DEVICE = "/dev/disk/by-id/scsi-0HC_Volume_100000001";

// ---------------------------------------------------------------------------------------
// small process helpers

export function sh(
    cmd: string,
    args: string[],
    opts: { input?: string; allowFail?: boolean; timeoutMs?: number } = {},
): SpawnSyncReturns<string> {
    const r = spawnSync(cmd, args, {
        input: opts.input,
        encoding: "utf8",
        timeout: opts.timeoutMs ?? 600_000,
        maxBuffer: 64 << 20,
    });
    if (!opts.allowFail && (r.status !== 0 || r.error)) {
        throw new Error(
            `${cmd} ${args.join(" ")} failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr || r.stdout || "").trim().slice(-2000)}`,
        );
    }
    return r;
}

export interface RunResult {
    status: number | null;
    stdout: string;
    stderr: string;
}

/**
 * Like sh, without blocking the event loop, so SIGINT/SIGTERM handlers run at once even
 * during long waits (cloud-init, provisioning, the image build).
 */
export function shAsync(
    cmd: string,
    args: string[],
    opts: { input?: string; allowFail?: boolean; timeoutMs?: number; stderrInherit?: boolean } = {},
): Promise<RunResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(cmd, args, { stdio: ["pipe", "pipe", opts.stderrInherit ? "inherit" : "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
        child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
        const timer = setTimeout(() => child.kill("SIGTERM"), opts.timeoutMs ?? 600_000);
        child.on("error", (err) => {
            clearTimeout(timer);
            reject(err);
        });
        child.on("close", (status) => {
            clearTimeout(timer);
            if (!opts.allowFail && status !== 0) {
                reject(
                    new Error(
                        `${cmd} ${args.join(" ")} failed (exit ${status}): ${(stderr || stdout).trim().slice(-2000)}`,
                    ),
                );
            } else {
                resolve({ status, stdout, stderr });
            }
        });
        child.stdin!.on("error", () => undefined);
        child.stdin!.end(opts.input ?? "");
    });
}

/** Start time of a process (field 22 of /proc/PID/stat), to recognise it again by PID. */
export function startTime(pid: number): string | undefined {
    try {
        const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        const rest = fields.slice(fields.lastIndexOf(")") + 2).split(" ");
        // A zombie (exited, not yet reaped by its parent) is not running any more.
        return rest[0] === "Z" ? undefined : rest[19];
    } catch {
        return undefined;
    }
}

function writeState(name: string, content: string): void {
    fs.mkdirSync(path.dirname(path.join(STATE_DIR, name)), { recursive: true });
    fs.writeFileSync(path.join(STATE_DIR, name), content);
}

/** Record a PID we started so that stop.sh (and only stop.sh) stops it. */
export function recordPid(name: string, pid: number): void {
    writeState(`pids/${name}`, `${pid} ${startTime(pid) ?? "?"}\n`);
}

export function readPid(name: string): number | undefined {
    try {
        const [pid, st] = fs
            .readFileSync(path.join(STATE_DIR, "pids", name), "utf8")
            .trim()
            .split(" ");
        return startTime(Number(pid)) === st ? Number(pid) : undefined;
    } catch {
        return undefined;
    }
}

// ---------------------------------------------------------------------------------------
// running things inside the lab's "outside" namespace

function nsInode(p: string): number | undefined {
    try {
        return fs.statSync(p).ino;
    } catch {
        return undefined;
    }
}

/** True when this process already runs in msl-out (e.g. the checks' child process). */
export function inOutsideNs(): boolean {
    const ino = nsInode(`/run/netns/${NET.outsideNs}`);
    return ino !== undefined && ino === nsInode("/proc/self/ns/net");
}

/**
 * argv that runs `argv` in msl-out (unchanged if we already are there). `nsenter --net`
 * switches only the network namespace: unlike `ip netns exec` it keeps the host's mounts
 * (/sys/fs/cgroup), so a check can still start systemd-nspawn, e.g. to reboot the server.
 * (It also keeps the host's /sys/class/net: list links with `ip link`, not sysfs.)
 */
export function outside(argv: string[]): [string, string[]] {
    if (inOutsideNs()) return [argv[0], argv.slice(1)];
    return ["nsenter", [`--net=/run/netns/${NET.outsideNs}`, "--", ...argv]];
}

export function keyPath(): string {
    return path.join(STATE_DIR, "ssh", "id_ed25519");
}

/** ssh options for the lab's root login with the deploy key (the lab network is private). */
export function sshArgs(connectTimeout = 5): string[] {
    return [
        "-i",
        keyPath(),
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        `ConnectTimeout=${connectTimeout}`,
        "-o",
        "ServerAliveInterval=5",
        `root@${NET.server4}`,
    ];
}

/** Run a command as root on the lab server over SSH from msl-out. */
export function ssh(
    command: string,
    opts: { input?: string; allowFail?: boolean; timeoutMs?: number } = {},
): SpawnSyncReturns<string> {
    const [cmd, args] = outside(["ssh", ...sshArgs(), command]);
    return sh(cmd, args, opts);
}

/** ssh without blocking the event loop. */
export function sshAsync(
    command: string,
    opts: { input?: string; allowFail?: boolean; timeoutMs?: number } = {},
): Promise<RunResult> {
    const [cmd, args] = outside(["ssh", ...sshArgs(), command]);
    return shAsync(cmd, args, opts);
}

// ---------------------------------------------------------------------------------------
// image

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

// ---------------------------------------------------------------------------------------
// lifecycle

export interface BootOptions {
    userData: string;
    hostname: string;
    /** tmpfs size for the container's root and the volume image. */
    tmpfsSize?: string;
    /** Size of the (sparse) mail volume image. */
    volumeSize?: string;
}

export interface Lab {
    root: string;
    mnt: string;
    loopDevice: string;
    nspawnPid: number;
    leaderPid: number;
    consoleLog: string;
    publicKey: string;
}

/** Refuse to run over a live lab; clean leftovers of a dead one. */
export function prepareState(): void {
    if (fs.existsSync(STATE_DIR)) {
        if (readPid("nspawn") !== undefined) {
            throw new Error(`a lab is already running (state in ${STATE_DIR}); stop it with: bash lab/stop.sh`);
        }
        teardown();
    }
    for (const ns of [NET.serverNs, NET.outsideNs]) {
        if (fs.existsSync(`/run/netns/${ns}`)) {
            throw new Error(
                `network namespace ${ns} exists but is not recorded by a lab; remove it with: ip netns del ${ns}`,
            );
        }
    }
    fs.mkdirSync(path.join(STATE_DIR, "pids"), { recursive: true, mode: 0o700 });
}

/** Create msl-srv and msl-out with one veth pair between them. No link to the host. */
export function createNetwork(): void {
    const { serverNs: s, outsideNs: o } = NET;
    for (const ns of [s, o]) {
        // Recorded before creation, so a failure halfway is still cleaned up.
        fs.appendFileSync(path.join(STATE_DIR, "netns"), `${ns}\n`);
        sh("ip", ["netns", "add", ns]);
    }
    // Created inside msl-out with its peer directly in msl-srv: it never exists in the host netns.
    sh("ip", ["-n", o, "link", "add", NET.outsideIf, "type", "veth", "peer", "name", NET.serverIf, "netns", s]);
    const run = (ns: string, ...args: string[]) => sh("ip", ["-n", ns, ...args]);
    for (const ns of [s, o]) run(ns, "link", "set", "lo", "up");
    run(s, "addr", "add", `${NET.server4}/24`, "dev", NET.serverIf);
    run(s, "-6", "addr", "add", `${NET.server6}/64`, "dev", NET.serverIf, "nodad");
    run(s, "link", "set", NET.serverIf, "up");
    // Everything "outside" is reached through msl-out (the sink at 198.51.100.7 too).
    run(s, "route", "add", "default", "via", NET.client4);
    run(s, "-6", "route", "add", "default", "via", NET.client6);
    run(o, "addr", "add", `${NET.client4}/24`, "dev", NET.outsideIf);
    run(o, "addr", "add", `${NET.outside4}/32`, "dev", NET.outsideIf);
    run(o, "addr", "add", `${NET.attacker4}/32`, "dev", NET.outsideIf);
    run(o, "-6", "addr", "add", `${NET.client6}/64`, "dev", NET.outsideIf, "nodad");
    run(o, "link", "set", NET.outsideIf, "up");
}

/** Generate the lab's deploy key (ed25519) in the state dir; returns the public key. */
export function deployKey(): string {
    fs.mkdirSync(path.dirname(keyPath()), { recursive: true, mode: 0o700 });
    if (!fs.existsSync(keyPath()))
        sh("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "mailstack-lab-deploy", "-f", keyPath()]);
    return fs.readFileSync(`${keyPath()}.pub`, "utf8").trim();
}

/** Unpack the image onto a fresh tmpfs, write the NoCloud seed, make the mail volume. */
export function prepareRoot(
    tarball: string,
    opts: BootOptions,
    publicKey: string,
): Pick<Lab, "root" | "mnt" | "loopDevice"> {
    const mnt = path.join(STATE_DIR, "tmpfs");
    fs.mkdirSync(mnt, { recursive: true });
    writeState("mount", `${mnt}\n`);
    sh("mount", ["-t", "tmpfs", "-o", `size=${opts.tmpfsSize ?? "6G"},mode=0755`, "mailstack-lab", mnt]);
    const root = path.join(mnt, "root");
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

    // The mail volume: an ext4 image (Hetzner formats volumes with `format: ext4`).
    const image = path.join(mnt, "mail-volume.img");
    sh("truncate", ["-s", opts.volumeSize ?? "10G", image]);
    sh("mkfs.ext4", ["-q", "-F", image]);
    const loopDevice = sh("losetup", ["--find", "--show", image]).stdout.trim();
    writeState("loop", `${loopDevice}\n`);
    return { root, mnt, loopDevice };
}

/** The container's PID 1 as seen from the host: a descendant of nspawn that is PID 1 in its namespace. */
export function findLeader(nspawnPid: number): number | undefined {
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Boot the root under systemd-nspawn in msl-srv; returns once the container's PID 1 exists. */
export async function bootContainer(
    root: string,
    loopDevice: string,
): Promise<Pick<Lab, "nspawnPid" | "leaderPid" | "consoleLog">> {
    const consoleLog = path.join(STATE_DIR, "console.log");
    const out = fs.openSync(consoleLog, "a");
    const child = spawn(
        "setsid",
        [
            "systemd-nspawn",
            "--boot",
            `--directory=${root}`,
            "--machine=mailstack-lab",
            "--register=no",
            "--keep-unit",
            `--network-namespace-path=/run/netns/${NET.serverNs}`,
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
    recordPid("nspawn", child.pid);
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
    recordPid("leader", leader);
    return { nspawnPid: child.pid, leaderPid: leader, consoleLog };
}

/** Wait until root can log in over SSH with the deploy key (from msl-out). */
export async function waitForSsh(timeoutMs = 120_000): Promise<void> {
    const started = Date.now();
    let last = "";
    while (Date.now() - started < timeoutMs) {
        if (readPid("nspawn") === undefined) throw new Error("the container stopped while waiting for SSH");
        const r = await sshAsync("true", { allowFail: true, timeoutMs: 15_000 });
        if (r.status === 0) return;
        last = (r.stderr || "").trim();
        await sleep(500);
    }
    throw new Error(`no SSH login on ${NET.server4} after ${timeoutMs / 1000} s: ${last}`);
}

/** `cloud-init status --wait`: 0 done, 2 done with deprecation warnings, 1 error. */
export async function waitForCloudInit(): Promise<{ status: number; long: string }> {
    const r = await sshAsync("cloud-init status --wait --long", { allowFail: true, timeoutMs: 600_000 });
    return { status: r.status ?? -1, long: (r.stdout + r.stderr).trim() };
}

/** Stop everything the lab recorded (lab/stop.sh); returns its output. */
export function teardown(): { ok: boolean; output: string } {
    const r = spawnSync("bash", [path.join(LAB_DIR, "stop.sh")], {
        encoding: "utf8",
        env: { ...process.env, MAILSTACK_LAB_STATE: STATE_DIR },
    });
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim() };
}

/** Resident memory (kB) of the mail daemons, summed per daemon, read from the host's /proc. */
export function daemonRss(leaderPid: number | undefined = readPid("leader")): Record<string, number> {
    if (leaderPid === undefined) return {};
    const groupOf = (exe: string, name: string, pid: string): string | undefined => {
        if (exe.includes("/postfix/")) return "postfix";
        if (exe === "/usr/sbin/dovecot" || exe.includes("/dovecot/")) return "dovecot";
        if (exe.endsWith("/opendkim")) return "opendkim";
        if (exe.endsWith("/postsrsd")) return "postsrsd";
        if (exe.endsWith("/nginx")) return "nginx";
        if (name.startsWith("fail2ban")) return "fail2ban";
        if (name === "python3" && fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("mailstack-sender-milter"))
            return "sender-milter";
        return undefined;
    };
    const pidNs = fs.readlinkSync(`/proc/${leaderPid}/ns/pid`);
    const out: Record<string, number> = {};
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        try {
            if (fs.readlinkSync(`/proc/${entry}/ns/pid`) !== pidNs) continue;
            const status = fs.readFileSync(`/proc/${entry}/status`, "utf8");
            const name = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? "";
            const rss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0);
            const group = groupOf(fs.readlinkSync(`/proc/${entry}/exe`), name, entry);
            if (group) out[group] = (out[group] ?? 0) + rss;
        } catch {
            /* process gone, or a kernel thread */
        }
    }
    return out;
}

/** Shell lines telling a person how to use and stop a lab left running with --keep. */
export function connectHelp(): string {
    const sshCmd = `ip netns exec ${NET.outsideNs} ssh -i ${keyPath()} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@${NET.server4}`;
    return [
        `The lab is running (state in ${STATE_DIR}).`,
        `  shell on the server:   ${sshCmd}`,
        `  a client "outside":    ip netns exec ${NET.outsideNs} bash   (server ${NET.server4} / ${NET.server6})`,
        `  e.g. send mail:        ip netns exec ${NET.outsideNs} swaks --server ${NET.server4} --to alice@example.org --from someone@sink.test`,
        `  enter the container:   nsenter -t ${readPid("leader") ?? "<leader>"} -a`,
        `  stop it:               bash ${path.relative(process.cwd(), path.join(LAB_DIR, "stop.sh")) || "lab/stop.sh"}`,
    ].join("\n");
}

export function hostHasTool(tool: string): boolean {
    try {
        execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
        return true;
    } catch {
        return false;
    }
}

/**
 * Start a long-running helper (DNS, SMTP sink, ...) inside msl-out with this Node and tsx,
 * record its PID, and wait until its log shows `ready`. Its output goes to STATE_DIR/NAME.log.
 */
export async function startOutsideDaemon(
    name: string,
    script: string,
    args: string[],
    timeoutMs = 20_000,
): Promise<number> {
    return startOutsideProcess(name, [process.execPath, "--import", "tsx", script, ...args], /\bready\b/, timeoutMs);
}

/**
 * Start a program in msl-out, in the background, recorded by PID for lab/stop.sh; resolves
 * once its log (STATE_DIR/NAME.log) matches `ready`.
 */
export async function startOutsideProcess(
    name: string,
    argv: string[],
    ready: RegExp,
    timeoutMs = 20_000,
    env: NodeJS.ProcessEnv = {},
): Promise<number> {
    const log = path.join(STATE_DIR, `${name}.log`);
    const out = fs.openSync(log, "a");
    // nsenter execs the command in place, so the PID is the program's own.
    const [cmd, args] = outside(argv);
    const child = spawn(cmd, args, {
        cwd: REPO_DIR,
        stdio: ["ignore", out, out],
        detached: true,
        env: { ...process.env, MAILSTACK_LAB_STATE: STATE_DIR, ...env },
    });
    fs.closeSync(out);
    if (child.pid === undefined) throw new Error(`could not start ${name}`);
    recordPid(name, child.pid);
    child.unref();
    const started = Date.now();
    while (Date.now() - started < timeoutMs) {
        const text = fs.readFileSync(log, "utf8");
        if (ready.test(text)) return child.pid;
        if (child.exitCode !== null || startTime(child.pid) === undefined)
            throw new Error(`${name} exited: ${text.trim().slice(-1000)}`);
        await sleep(100);
    }
    throw new Error(
        `${name} not ready after ${timeoutMs / 1000} s: ${fs.readFileSync(log, "utf8").trim().slice(-1000)}`,
    );
}

/**
 * Reboot the container as `reboot` would on a VM: systemd reboots, nspawn exits (it does
 * not restart a container by itself), and the lab boots the same root with the same
 * volume again. Returns the seconds until root can log in again.
 */
export async function rebootContainer(timeoutMs = 120_000): Promise<number> {
    const old = readPid("nspawn");
    if (old === undefined) throw new Error("no lab container is running");
    const start = Date.now();
    ssh("systemctl reboot", { allowFail: true, timeoutMs: 15_000 });
    while (readPid("nspawn") !== undefined) {
        if (Date.now() - start > timeoutMs) throw new Error("the container did not shut down for the reboot");
        await sleep(200);
    }
    const root = path.join(fs.readFileSync(path.join(STATE_DIR, "mount"), "utf8").trim(), "root");
    const loop = fs.readFileSync(path.join(STATE_DIR, "loop"), "utf8").trim();
    await bootContainer(root, loop);
    await waitForSsh(timeoutMs);
    return (Date.now() - start) / 1000;
}
