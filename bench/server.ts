// The lab server's side of the bench: memory and CPU of its daemons, waiting until it is
// idle, the load generator (bench/load.ts) run in msl-out, journald's budget.

import * as path from "node:path";
import { type Delivered } from "../lab/clients/delivery";
import { containerCpu, cpuSecondsSince, type CpuSnapshot, daemonProcesses } from "../lab/harness/memory";
import { outside } from "../lab/harness/net";
import { shAsync, sleep } from "../lab/harness/processes";
import { ssh } from "../lab/harness/ssh";
import { put } from "./figures";
import { BENCH_DIR } from "./options";

export interface Memory {
    /** Resident memory summed per daemon (kB), as the lab's report shows it. */
    rss: Record<string, number>;
    /** Proportional set size summed per daemon (kB): shared libraries counted once. */
    pss: Record<string, number>;
}

export function memoryNow(): Memory {
    const m: Memory = { rss: {}, pss: {} };
    for (const p of daemonProcesses({ pss: true })) {
        m.rss[p.daemon] = (m.rss[p.daemon] ?? 0) + p.rssKb;
        m.pss[p.daemon] = (m.pss[p.daemon] ?? 0) + (p.pssKb ?? 0);
    }
    return m;
}

export const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

/**
 * The daemons issue 9 measured at 92 MiB idle (2026-12-02), before the spam filter (rspamd,
 * Valkey), the resolver (unbound), the MTA-STS resolver and the webmail (php-fpm) came: its
 * target is for this same set.
 */
export const BASE_DAEMONS = ["dovecot", "fail2ban", "nginx", "opendkim", "postfix", "postsrsd", "sender-milter"];

/** The peak memory per daemon and of all of them together, sampled every 250 ms while load runs. */
export class MemoryPeak {
    peak: Memory = { rss: {}, pss: {} };
    total = { rss: 0, pss: 0 };
    private timer?: NodeJS.Timeout;
    sample(): void {
        const now = memoryNow();
        for (const k of ["rss", "pss"] as const) {
            for (const [d, kb] of Object.entries(now[k])) this.peak[k][d] = Math.max(this.peak[k][d] ?? 0, kb);
            this.total[k] = Math.max(this.total[k], sum(now[k]));
        }
    }
    start(): void {
        this.timer ??= setInterval(() => this.sample(), 250);
    }
    stop(): void {
        clearInterval(this.timer);
        this.timer = undefined;
    }
}

/**
 * Whether rspamd's running main process has loaded its hyperscan databases. After each
 * (re)start its hs_helper compiles them (or finds them in /var/lib/rspamd), and until the
 * main process logs "hyperscan cache loaded" rspamd holds two to three times its idle memory
 * and may pause between compiling classes, quiet enough to pass for idle.
 */
function rspamdHyperscanLoaded(): boolean {
    const r = ssh(
        'pid=$(systemctl show -p MainPID --value rspamd) && [ "$pid" != 0 ] && ' +
            "journalctl -q --no-pager _PID=$pid -g 'hyperscan cache loaded' | grep -q .",
        { allowFail: true },
    );
    return r.status === 0;
}

/**
 * Wait until the server is quiet: a freshly booted one runs its first apt, man-db and
 * fail2ban jobs for a while, which would take the CPU the measurements need, and rspamd
 * compiles its hyperscan databases. Quiet: rspamd has loaded them and the container's
 * processes use less than 10% of one core for 5 s in a row (at most 180 s). Returns the
 * seconds waited and what was busy.
 */
export async function untilIdle(): Promise<{ seconds: number; busy: string }> {
    const start = Date.now();
    const busy = new Map<string, number>();
    let quiet = 0;
    let last = containerCpu();
    let hyperscan = rspamdHyperscanLoaded();
    while ((quiet < 5 || !hyperscan) && Date.now() - start < 180_000) {
        await sleep(1000);
        const now = containerCpu();
        let ticks = 0;
        for (const [name, seconds] of Object.entries(cpuSecondsSince(last, now))) {
            const d = seconds * 100;
            ticks += d;
            busy.set(name, (busy.get(name) ?? 0) + d);
        }
        last = now;
        quiet = ticks < 10 ? quiet + 1 : 0; // 100 ticks per second = one core
        if (!hyperscan) hyperscan = rspamdHyperscanLoaded();
    }
    const top = [...busy].sort((a, b) => b[1] - a[1]).slice(0, 4);
    return {
        seconds: (Date.now() - start) / 1000,
        busy:
            top.map(([n, t]) => `${n} ${(t / 100).toFixed(1)} s`).join(", ") +
            (hyperscan ? "" : "; rspamd had not loaded its hyperscan databases after 180 s"),
    };
}

/** One phase of bench/load.ts in msl-out; its JSON result. */
export async function load<T>(phase: string, args: unknown): Promise<T> {
    const [cmd, a] = outside([
        process.execPath,
        "--import",
        "tsx",
        path.join(BENCH_DIR, "load.ts"),
        phase,
        JSON.stringify(args),
    ]);
    const r = await shAsync(cmd, a, { timeoutMs: 600_000 });
    return JSON.parse(r.stdout.trim().split("\n").pop()!) as T;
}

/**
 * journald keeps at most 10 000 lines of one unit per 30 s (RateLimitBurst, scaled up with
 * free disk space); Postfix logs about 7 lines a message. Sending more than 1200 messages
 * within 30 s would lose lines and with them deferrals; wait for a new window instead.
 */
const journalWindow = { start: 0, messages: 0 };
export async function withinLogBudget(messages: number): Promise<void> {
    const age = Date.now() - journalWindow.start;
    if (age > 32_000) Object.assign(journalWindow, { start: Date.now(), messages: 0 });
    else if (journalWindow.messages + messages > 1200) {
        await sleep(32_000 - age);
        Object.assign(journalWindow, { start: Date.now(), messages: 0 });
    }
    journalWindow.messages += messages;
}

export async function waitFor(check: () => Delivered, count: number, peak: MemoryPeak, timeoutMs = 120_000) {
    const start = Date.now();
    for (;;) {
        const d = check();
        peak.sample();
        if (d.count >= count || Date.now() - start > timeoutMs) return d;
        await sleep(500);
    }
}

/** The daemons whose CPU per message the bench shows on their own; the rest is "other". */
const CPU_DAEMONS = ["postfix", "dovecot", "rspamd", "opendkim", "postsrsd", "sender-milter", "systemd-journal"];

/**
 * The server's CPU per message since `before`, in all and per daemon (ms): where a burst's
 * time goes on a box whose two cores it fills.
 */
export function putCpu(id: string, what: string, before: CpuSnapshot, messages: number): void {
    const seconds = cpuSecondsSince(before);
    const perMessage = (s: number) => (messages > 0 ? (s * 1000) / messages : NaN);
    put(`${id}.cpu`, `${what}: the server's CPU per message`, "ms", perMessage(sum(seconds)));
    let other = 0;
    for (const [daemon, s] of Object.entries(seconds)) if (!CPU_DAEMONS.includes(daemon)) other += s;
    for (const daemon of CPU_DAEMONS)
        put(`${id}.cpu.${daemon}`, `${what}: CPU per message, ${daemon}`, "ms", perMessage(seconds[daemon] ?? 0));
    put(`${id}.cpu.other`, `${what}: CPU per message, everything else`, "ms", perMessage(other));
}
