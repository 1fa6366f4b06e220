// The table a person reads, and the exit status a script reads.

import type { CheckResult, Status } from "./types";

const ORDER: Status[] = ["fail", "warn", "unknown", "ok"];

export function summary(results: readonly CheckResult[]): Record<Status, number> {
    const counts: Record<Status, number> = { ok: 0, warn: 0, fail: 0, unknown: 0 };
    for (const r of results) counts[r.status]++;
    return counts;
}

/** One line per check, `fix:` under each problem, the counts last. */
export function table(results: readonly CheckResult[]): string {
    const width = Math.min(60, Math.max(...results.map((r) => r.check.length), 5));
    const lines = results.map((r) => {
        const head = `${r.status.padEnd(7)} ${r.check.padEnd(width)}  ${r.detail}`;
        return r.fix && r.status !== "ok" ? `${head}\n${" ".repeat(8)}fix: ${r.fix}` : head;
    });
    const c = summary(results);
    return [...lines, "", ORDER.map((s) => `${c[s]} ${s}`).join(", ")].join("\n");
}

/** Non-zero on any fail: warn and unknown are for a person to read, not to stop a script. */
export function exitStatus(results: readonly CheckResult[]): number {
    return results.some((r) => r.status === "fail") ? 1 : 0;
}
