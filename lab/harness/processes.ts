// The lab's paths, running programs on the host, and the PID records lab/stop.sh reads.
//
// Everything the lab starts is recorded by PID (with its start time, so a reused PID is not
// mistaken for it) in the state directory; lab/stop.sh stops exactly those.

import { spawn, spawnSync, SpawnSyncReturns } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** lab/ itself (this file is lab/harness/processes.ts). */
export const LAB_DIR = path.dirname(__dirname);
export const REPO_DIR = path.dirname(LAB_DIR);
export const STATE_DIR = process.env.MAILSTACK_LAB_STATE ?? "/run/mailstack-lab";

export interface RunOptions {
    input?: string;
    allowFail?: boolean;
    timeoutMs?: number;
    /** sh only: the working directory and environment (the runner's unless given). */
    cwd?: string;
    env?: NodeJS.ProcessEnv;
}

export function sh(cmd: string, args: string[], opts: RunOptions = {}): SpawnSyncReturns<string> {
    const r = spawnSync(cmd, args, {
        input: opts.input,
        encoding: "utf8",
        cwd: opts.cwd,
        env: opts.env,
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
    opts: RunOptions & { stderrInherit?: boolean } = {},
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

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/** Write a file of the state dir (e.g. what stop.sh must undo: the mount, the loop device). */
export function writeState(name: string, content: string): void {
    fs.mkdirSync(path.dirname(path.join(STATE_DIR, name)), { recursive: true });
    fs.writeFileSync(path.join(STATE_DIR, name), content);
}

/** Record a PID we started so that stop.sh (and only stop.sh) stops it. */
/**
 * Record a started process for lab/stop.sh. `stopSignal` KILL is for a process that ignores
 * SIGTERM by design (`unshare --fork` blocks it; its `--kill-child` then ends the rest).
 */
export function recordPid(name: string, pid: number, stopSignal: "TERM" | "KILL" = "TERM"): void {
    writeState(`pids/${name}`, `${pid} ${startTime(pid) ?? "?"}${stopSignal === "KILL" ? " KILL" : ""}\n`);
}

/** The recorded PID of NAME while that very process still runs. */
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

/** Stop a recorded process by its PID with `signal`; resolves once it is gone (10 s at most). */
export async function stopRecorded(name: string, signal: "SIGTERM" | "SIGKILL", what: string): Promise<void> {
    const pid = readPid(name);
    if (pid === undefined) return;
    process.kill(pid, signal);
    const start = Date.now();
    while (readPid(name) !== undefined) {
        if (Date.now() - start > 10_000) throw new Error(`${what} did not stop`);
        await sleep(100);
    }
}
