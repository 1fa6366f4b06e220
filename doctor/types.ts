// What a check reports: the table's rows and the --json output.

export type Status = "ok" | "warn" | "fail" | "unknown";

export interface CheckResult {
    /** Stable name, e.g. `dns TXT _dmarc.example.org`, `port 25 smtp IPv6`, `ssh daemons`. */
    readonly check: string;
    readonly status: Status;
    /** What was found, in one line. */
    readonly detail: string;
    /** What to do about it, in one line; only for a problem. */
    readonly fix?: string;
    /** Milliseconds the check took. */
    readonly ms?: number;
}

/** A check: a name, and a function that finds its result (the runner adds the time limit). */
export interface Check {
    readonly check: string;
    readonly run: (signal: AbortSignal) => Promise<Omit<CheckResult, "check" | "ms">>;
    /** The fix when run throws (no answer, refused, unreachable, the time limit). */
    readonly onError: string;
}

export const ok = (detail: string) => ({ status: "ok" as const, detail });
export const warn = (detail: string, fix: string) => ({ status: "warn" as const, detail, fix });
export const fail = (detail: string, fix: string) => ({ status: "fail" as const, detail, fix });
export const unknown = (detail: string, fix?: string) => ({
    status: "unknown" as const,
    detail,
    ...(fix ? { fix } : {}),
});
