// The checks that need the server itself, over SSH as the provisioning steps log in: root
// with the deploy key, the host key pinned exactly (a server that shows another key is
// refused before any command runs). One session runs one read-only script; every command in
// it has its own time limit, and each section becomes one check (the sections, each its
// script and its judge: doctor/remote-sections.ts).

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pinnedSshOptions } from "../scripts/commands";
import { SECTIONS, type RemoteFacts } from "./remote-sections";
import { fail, ok, unknown, type CheckResult } from "./types";

export type { RemoteFacts } from "./remote-sections";

/** The remote script: read-only, prints `@@section` then its lines, for each of SECTIONS. */
export function remoteScript(f: RemoteFacts): string {
    const t = `timeout ${f.commandTimeout}`;
    const parts = SECTIONS.map((x) => `s ${x.name}\n${x.script(f, t)}\n`).join("");
    return `set -u
export LC_ALL=C
s() { printf '\\n@@%s\\n' "$1"; }
${parts}s end
`;
}

/** The script's output, by section. */
export function sections(output: string): Map<string, string[]> {
    const map = new Map<string, string[]>();
    let current: string[] | undefined;
    for (const line of output.split("\n")) {
        const m = /^@@(\S+)$/.exec(line);
        if (m) map.set(m[1], (current = []));
        else if (current && line.trim() !== "") current.push(line.trimEnd());
    }
    return map;
}

/** One result per section (the DKIM section one per key), from the script's output, judged by SECTIONS. */
export function remoteResults(output: string, f: RemoteFacts, now = Date.now()): CheckResult[] {
    const sec = sections(output);
    const results: CheckResult[] = [];
    const add = (check: string, r: Omit<CheckResult, "check">) => results.push({ check: `ssh ${check}`, ...r });
    const missing = (check: string, section: string) =>
        add(
            check,
            sec.has(section)
                ? unknown(
                      `no output from the server's command for this part`,
                      "run the command of remoteScript() by hand",
                  )
                : unknown("the script's output ended before this part (time limit?)", "run doctor again"),
        );
    for (const x of SECTIONS)
        x.judge({
            // A section with no line is as good as none: nothing to judge.
            lines: sec.get(x.name)?.length ? sec.get(x.name) : undefined,
            section: (name) => sec.get(name),
            facts: f,
            now,
            add,
            missing,
        });
    return results;
}

export interface SshTarget {
    readonly address: string;
    /** `ssh-ed25519 AAAA...`, the stack output sshHostKey. */
    readonly hostKey: string;
    /** OpenSSH private key (the stack output deployPrivateKey). */
    readonly privateKey: string;
}

/**
 * Run the script on the server: ssh with only the deploy key and a known_hosts file that
 * holds exactly the pinned key (StrictHostKeyChecking=yes), as pulumi-command's hostKey.
 */
export async function runRemote(
    target: SshTarget,
    script: string,
    timeoutMs: number,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-doctor-"));
    try {
        const key = path.join(dir, "id");
        const knownHosts = path.join(dir, "known_hosts");
        fs.writeFileSync(key, target.privateKey.trim() + "\n", { mode: 0o600 });
        fs.writeFileSync(knownHosts, `${target.address} ${target.hostKey.trim()}\n`, { mode: 0o600 });
        const args = [
            ...pinnedSshOptions(key, knownHosts, target.hostKey.trim().split(" ")[0]),
            // No ~/.ssh/config or system known_hosts of this machine has a say.
            "-F",
            "none",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            `ConnectTimeout=${Math.max(1, Math.floor(timeoutMs / 3000))}`,
            `root@${target.address}`,
            "bash -s",
        ];
        return await new Promise((resolve) => {
            const child = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"] });
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
            child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
            const timer = setTimeout(() => {
                stderr += `\nno answer within ${timeoutMs / 1000} s`;
                child.kill("SIGKILL");
            }, timeoutMs);
            child.on("error", (e) => {
                clearTimeout(timer);
                resolve({ status: null, stdout, stderr: `${stderr}${e.message}` });
            });
            child.on("close", (status) => {
                clearTimeout(timer);
                resolve({ status, stdout, stderr });
            });
            child.stdin.end(script);
        });
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** The whole SSH part: the login first, then one result per section. */
export async function sshChecks(target: SshTarget, facts: RemoteFacts, timeoutMs: number): Promise<CheckResult[]> {
    const started = Date.now();
    const r = await runRemote(target, remoteScript(facts), timeoutMs);
    const ms = Date.now() - started;
    const login = `ssh login root@${target.address}`;
    if (!r.stdout.includes("@@units")) {
        const why = r.stderr.trim().split("\n").filter(Boolean).at(-1) ?? `ssh exited ${r.status}`;
        const hostKey = /host key|REMOTE HOST IDENTIFICATION/i.test(r.stderr);
        return [
            {
                check: login,
                ms,
                ...fail(
                    why,
                    hostKey
                        ? "the server shows another host key than the stack's sshHostKey: do not trust it; find out why before anything else"
                        : "check that sshAllowedCidrs includes this machine's address and that the server is up",
                ),
            },
        ];
    }
    return [
        { check: login, ms, ...ok(`deploy key, host key pinned (${target.hostKey.split(" ")[0]})`) },
        ...remoteResults(r.stdout, facts).map((x) => ({ ...x, ms })),
    ];
}
