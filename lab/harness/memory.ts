// The mail daemons' resident memory, for the report.

import * as fs from "node:fs";
import { readPid } from "./processes";

/** Resident memory (kB) of the mail daemons, summed per daemon, read from the host's /proc. */
export function daemonRss(): Record<string, number> {
    // The current leader: a check may have rebooted the container.
    const leaderPid = readPid("leader");
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
