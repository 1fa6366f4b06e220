// The mail daemons' resident memory, for the report and the bench.

import * as fs from "node:fs";
import { readPid } from "./processes";

/** One process of a mail daemon in the lab container, as the host's /proc shows it. */
export interface DaemonProcess {
    pid: number;
    /** postfix, dovecot, opendkim, postsrsd, rspamd, valkey, unbound, mta-sts, nginx, php-fpm (Roundcube), fail2ban, sender-milter, radicale */
    daemon: string;
    /** The process name (`smtpd`, `auth`, `imap-login`, ...). */
    name: string;
    /** Resident memory (kB). */
    rssKb: number;
    /** Proportional set size (kB): shared pages divided among their users, so these add up. Only with `pss`. */
    pssKb?: number;
}

function daemonOf(exe: string, name: string, pid: string): string | undefined {
    if (exe.includes("/postfix/")) return "postfix";
    if (exe === "/usr/sbin/dovecot" || exe.includes("/dovecot/")) return "dovecot";
    if (exe.endsWith("/opendkim")) return "opendkim";
    if (exe.endsWith("/postsrsd")) return "postsrsd";
    if (exe.endsWith("/nginx")) return "nginx";
    // Roundcube's PHP (mailstack:webmail): php-fpm8.4's master and pool workers.
    if (/\/php-fpm[0-9.]*$/.test(exe)) return "php-fpm";
    if (exe.endsWith("/rspamd")) return "rspamd";
    // Debian's valkey-server is a symlink to valkey-check-rdb: the process name tells.
    if (name === "valkey-server") return "valkey";
    if (exe.endsWith("/unbound")) return "unbound";
    if (name.startsWith("fail2ban")) return "fail2ban";
    if (
        name.startsWith("mta-sts-daemon") ||
        (name === "python3" && fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("mta-sts-daemon"))
    )
        return "mta-sts";
    if (name === "python3" && fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("mailstack-sender-milter"))
        return "sender-milter";
    // Calendars and contacts (mailstack:dav): /usr/bin/radicale under python3.
    if (
        name === "radicale" ||
        (name === "python3" && fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("radicale"))
    )
        return "radicale";
    return undefined;
}

/**
 * Every process of the mail daemons in the lab container (empty when no container runs);
 * with `pss`, also each one's proportional set size (from /proc/PID/smaps_rollup).
 */
export function daemonProcesses(o: { pss?: boolean } = {}): DaemonProcess[] {
    // The current leader: a check may have rebooted the container.
    const leaderPid = readPid("leader");
    if (leaderPid === undefined) return [];
    const pidNs = fs.readlinkSync(`/proc/${leaderPid}/ns/pid`);
    const out: DaemonProcess[] = [];
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        try {
            if (fs.readlinkSync(`/proc/${entry}/ns/pid`) !== pidNs) continue;
            const status = fs.readFileSync(`/proc/${entry}/status`, "utf8");
            const name = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? "";
            const rssKb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0);
            const daemon = daemonOf(fs.readlinkSync(`/proc/${entry}/exe`), name, entry);
            if (!daemon) continue;
            const pssKb = o.pss
                ? Number(/^Pss:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${entry}/smaps_rollup`, "utf8"))?.[1] ?? 0)
                : undefined;
            out.push({ pid: Number(entry), daemon, name, rssKb, ...(pssKb !== undefined ? { pssKb } : {}) });
        } catch {
            /* process gone, or a kernel thread */
        }
    }
    return out;
}

/** RSS and PSS (kB) of the mail daemons, each summed per daemon, read from the host's /proc. */
export type DaemonMemory = Record<string, { rssKb: number; pssKb: number }>;

export function daemonMemory(): DaemonMemory {
    const out: DaemonMemory = {};
    for (const p of daemonProcesses({ pss: true })) {
        const m = (out[p.daemon] ??= { rssKb: 0, pssKb: 0 });
        m.rssKb += p.rssKb;
        m.pssKb += p.pssKb ?? 0;
    }
    return out;
}

/**
 * CPU time (clock ticks, 100 a second) of every process in the lab container, keyed by pid
 * and start time (so a reused pid is a new process), each with its daemon (or, for the rest,
 * its process name). A process's ticks include those of its children that have exited, so a
 * Dovecot lmtp or Postfix smtpd that ends during a measurement is counted in its parent.
 */
export type CpuSnapshot = Map<string, { daemon: string; ticks: number }>;

export function containerCpu(): CpuSnapshot {
    const out: CpuSnapshot = new Map();
    const leaderPid = readPid("leader");
    if (leaderPid === undefined) return out;
    const pidNs = fs.readlinkSync(`/proc/${leaderPid}/ns/pid`);
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        try {
            if (fs.readlinkSync(`/proc/${entry}/ns/pid`) !== pidNs) continue;
            const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
            const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
            // Fields after the name (proc(5)): utime, stime, cutime, cstime are 14..17, starttime 22.
            const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
            const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
            const daemon = daemonOf(fs.readlinkSync(`/proc/${entry}/exe`), name, entry) ?? name;
            out.set(`${entry}:${f[19]}`, { daemon, ticks });
        } catch {
            /* process gone, or a kernel thread */
        }
    }
    return out;
}

/**
 * CPU seconds per daemon between two snapshots. A process that ended in between is not
 * counted (its parent's children's time holds it once reaped).
 */
export function cpuSecondsSince(before: CpuSnapshot, after: CpuSnapshot = containerCpu()): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, p] of after) {
        const d = p.ticks - (before.get(key)?.ticks ?? 0);
        if (d > 0) out[p.daemon] = (out[p.daemon] ?? 0) + d / 100;
    }
    return out;
}
