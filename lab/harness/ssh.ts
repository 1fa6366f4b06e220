// Root's SSH login on the lab server with the lab's deploy key, always from msl-out (the
// server's firewall and sshd see an outside client, as the stack's provisioning would be).

import type { SpawnSyncReturns } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { pinnedSshOptions } from "../../scripts/commands";
import { NET, outside } from "./net";
import { readPid, RunOptions, RunResult, sh, shAsync, sleep, STATE_DIR } from "./processes";

export function keyPath(): string {
    return path.join(STATE_DIR, "ssh", "id_ed25519");
}

/** An ed25519 key pair at `file` (and `file`.pub), made once: the lab's keys live in the state dir. */
export function labSshKey(file: string, comment: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    if (!fs.existsSync(file)) sh("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file]);
}

/** Generate the lab's deploy key (ed25519) in the state dir; returns the public key. */
export function deployKey(): string {
    labSshKey(keyPath(), "mailstack-lab-deploy");
    return fs.readFileSync(`${keyPath()}.pub`, "utf8").trim();
}

/** The lab's provisional host key (ed25519), as the stack's tls.PrivateKey would give it. */
export function provisionalHostKey(): { privateKeyOpenssh: string; publicKeyOpenssh: string } {
    const file = path.join(STATE_DIR, "ssh", "provisional_host_key");
    labSshKey(file, "");
    return {
        privateKeyOpenssh: fs.readFileSync(file, "utf8"),
        publicKeyOpenssh: fs.readFileSync(`${file}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" "),
    };
}

/** The known_hosts file every lab ssh uses: the host key the server must present. */
export function knownHostsFile(): string {
    return path.join(STATE_DIR, "ssh", "known_hosts");
}

/**
 * Pin the server's host key, as the stack's connection.hostKey does: the provisional key
 * until the host-key step, the replaced one after. ssh refuses any other key.
 */
export function pinHostKey(publicKeyOpenssh: string): void {
    fs.mkdirSync(path.dirname(knownHostsFile()), { recursive: true, mode: 0o700 });
    fs.writeFileSync(knownHostsFile(), `${NET.server4} ${publicKeyOpenssh.trim()}\n`, { mode: 0o600 });
}

/** The key ssh currently expects. */
export function pinnedHostKey(): string {
    return fs.readFileSync(knownHostsFile(), "utf8").trim().split(" ").slice(1).join(" ");
}

/** ssh options for the lab's root login with the deploy key, the host key pinned (in `knownHosts`). */
function sshArgs(knownHosts = knownHostsFile()): string[] {
    if (!fs.existsSync(knownHostsFile())) pinHostKey(provisionalHostKey().publicKeyOpenssh);
    return [...pinnedSshOptions(keyPath(), knownHosts, "ssh-ed25519"), "-o", "ConnectTimeout=5", `root@${NET.server4}`];
}

/** Run a command as root on the lab server over SSH from msl-out. */
export function ssh(command: string, opts: RunOptions = {}): SpawnSyncReturns<string> {
    const [cmd, args] = outside(["ssh", ...sshArgs(), command]);
    return sh(cmd, args, opts);
}

/**
 * The same root login, but pinned to `publicKeyOpenssh` instead of the lab's pinned key (its
 * own known_hosts file): for checks that a server showing another key is refused.
 */
export function sshPinnedTo(
    publicKeyOpenssh: string,
    command: string,
    opts: RunOptions = {},
): SpawnSyncReturns<string> {
    const knownHosts = `${knownHostsFile()}.${createHash("sha256").update(publicKeyOpenssh.trim()).digest("hex").slice(0, 12)}`;
    fs.writeFileSync(knownHosts, `${NET.server4} ${publicKeyOpenssh.trim()}\n`, { mode: 0o600 });
    const [cmd, args] = outside(["ssh", ...sshArgs(knownHosts), command]);
    return sh(cmd, args, opts);
}

/** ssh without blocking the event loop. */
export function sshAsync(command: string, opts: RunOptions = {}): Promise<RunResult> {
    const [cmd, args] = outside(["ssh", ...sshArgs(), command]);
    return shAsync(cmd, args, opts);
}

/** Wait until root can log in over SSH with the deploy key (from msl-out). */
export async function waitForSsh(): Promise<void> {
    const timeoutMs = 120_000;
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
