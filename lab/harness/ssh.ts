// Root's SSH login on the lab server with the lab's deploy key, always from msl-out (the
// server's firewall and sshd see an outside client, as the stack's provisioning would be).

import type { SpawnSyncReturns } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { pinnedSshOptions } from "../../scripts/commands";
import { NET, outside } from "./net";
import { readPid, RunOptions, RunResult, sh, shAsync, sleep, STATE_DIR } from "./processes";

/**
 * A lab server root logs in to: the mail server (the default everywhere) or the backup MX
 * (`--secondary`). Each has its own address, provisional host key and pinned key; the backup
 * MX's SSH comes from the deployers' address 192.0.2.7 (mailstack:sshAllowedCidrs), as from
 * the stack's deployer, not from msl-out's address on its link.
 */
export interface SshTarget {
    /** "" for the mail server; a suffix of the state files (known_hosts.mx2, ...) otherwise. */
    readonly name: "" | "mx2";
    readonly address: string;
    /** The recorded PID name of its systemd-nspawn. */
    readonly nspawn: string;
    readonly bindAddress?: string;
}

export const PRIMARY: SshTarget = { name: "", address: NET.server4, nspawn: "nspawn" };
export const SECONDARY: SshTarget = {
    name: "mx2",
    address: NET.mx2Server4,
    nspawn: "nspawn-mx2",
    bindAddress: NET.client4,
};

const suffix = (t: SshTarget) => (t.name ? `.${t.name}` : "");

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
export function provisionalHostKey(target: SshTarget = PRIMARY): {
    privateKeyOpenssh: string;
    publicKeyOpenssh: string;
} {
    const file = path.join(STATE_DIR, "ssh", `provisional_host_key${suffix(target)}`);
    labSshKey(file, "");
    return {
        privateKeyOpenssh: fs.readFileSync(file, "utf8"),
        publicKeyOpenssh: fs.readFileSync(`${file}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" "),
    };
}

/** The known_hosts file every lab ssh uses: the host key the server must present. */
export function knownHostsFile(target: SshTarget = PRIMARY): string {
    return path.join(STATE_DIR, "ssh", `known_hosts${suffix(target)}`);
}

/**
 * Pin the server's host key, as the stack's connection.hostKey does: the provisional key
 * until the host-key step, the replaced one after. ssh refuses any other key.
 */
export function pinHostKey(publicKeyOpenssh: string, target: SshTarget = PRIMARY): void {
    fs.mkdirSync(path.dirname(knownHostsFile(target)), { recursive: true, mode: 0o700 });
    fs.writeFileSync(knownHostsFile(target), `${target.address} ${publicKeyOpenssh.trim()}\n`, { mode: 0o600 });
}

/** The key ssh currently expects. */
export function pinnedHostKey(target: SshTarget = PRIMARY): string {
    return fs.readFileSync(knownHostsFile(target), "utf8").trim().split(" ").slice(1).join(" ");
}

/** ssh options for the lab's root login with the deploy key, the host key pinned (in `knownHosts`). */
function sshArgs(knownHosts = knownHostsFile(), target: SshTarget = PRIMARY): string[] {
    if (!fs.existsSync(knownHostsFile(target))) pinHostKey(provisionalHostKey(target).publicKeyOpenssh, target);
    return [
        ...pinnedSshOptions(keyPath(), knownHosts, "ssh-ed25519"),
        "-o",
        "ConnectTimeout=5",
        ...(target.bindAddress ? ["-o", `BindAddress=${target.bindAddress}`] : []),
        `root@${target.address}`,
    ];
}

/** Run a command as root on the lab server (or `target`) over SSH from msl-out. */
export function ssh(command: string, opts: RunOptions = {}, target: SshTarget = PRIMARY): SpawnSyncReturns<string> {
    const [cmd, args] = outside(["ssh", ...sshArgs(knownHostsFile(target), target), command]);
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
export function sshAsync(command: string, opts: RunOptions = {}, target: SshTarget = PRIMARY): Promise<RunResult> {
    const [cmd, args] = outside(["ssh", ...sshArgs(knownHostsFile(target), target), command]);
    return shAsync(cmd, args, opts);
}

/** Wait until root can log in over SSH with the deploy key (from msl-out). */
export async function waitForSsh(target: SshTarget = PRIMARY): Promise<void> {
    const timeoutMs = 120_000;
    const started = Date.now();
    let last = "";
    while (Date.now() - started < timeoutMs) {
        if (readPid(target.nspawn) === undefined) throw new Error("the container stopped while waiting for SSH");
        const r = await sshAsync("true", { allowFail: true, timeoutMs: 15_000 }, target);
        if (r.status === 0) return;
        last = (r.stderr || "").trim();
        await sleep(500);
    }
    throw new Error(`no SSH login on ${target.address} after ${timeoutMs / 1000} s: ${last}`);
}
