// The program's evaluation under mocks (bench/evaluate.ts, each in its own process): how it
// grows with domains and mailboxes, against the SDK's own cost.

import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { shAsync } from "../lab/harness/processes";
import { current, put } from "./figures";
import { BENCH_DIR, SIZE } from "./options";

interface Evaluation {
    domains: number;
    mailboxes: number;
    resources: number;
    startupMs: number;
    programMs: number;
}

/** bench/evaluate.ts in its own process: `DOMAINS MAILBOXES` or `--floor RESOURCES`. */
async function evaluate(...args: (string | number)[]): Promise<Evaluation & { wallMs: number }> {
    const start = performance.now();
    const r = await shAsync(process.execPath, [
        "--import",
        "tsx",
        path.join(BENCH_DIR, "evaluate.ts"),
        ...args.map(String),
    ]);
    const wallMs = performance.now() - start;
    return { ...(JSON.parse(r.stdout.trim().split("\n").pop()!) as Evaluation), wallMs };
}

export async function evaluations(): Promise<void> {
    // Once, unmeasured: tsx compiles the sources into its cache, as a second preview would find it.
    if (current.run === 0) await evaluate(1, 1);
    const got = new Map<string, Evaluation & { wallMs: number }>();
    for (const [d, m] of SIZE.evaluations) {
        const e = await evaluate(d, m);
        got.set(`${d}x${m}`, e);
        const what = `${d} domain${d > 1 ? "s" : ""}, ${d * m} mailboxes (${e.resources} resources)`;
        put(`eval.${d}x${m}.wall`, `evaluation under mocks, ${what}: whole process`, "s", e.wallMs / 1000);
        put(`eval.${d}x${m}.program`, `evaluation under mocks, ${what}: the program alone`, "s", e.programMs / 1000);
    }
    const [base, domainsMax, mailboxesMax] = [SIZE.evaluations[0], SIZE.evaluations.at(-2)!, SIZE.evaluations.at(-1)!];
    const b = got.get(`${base[0]}x${base[1]}`)!;
    const dm = got.get(`${domainsMax[0]}x${domainsMax[1]}`)!;
    const mm = got.get(`${mailboxesMax[0]}x${mailboxesMax[1]}`)!;
    const perMailbox = (mm.programMs - b.programMs) / (mm.mailboxes - b.mailboxes);
    const perDomainWithMailboxes = (dm.programMs - b.programMs) / (dm.domains - b.domains);
    put("eval.per-mailbox", "evaluation: each added mailbox (in one domain)", "ms", perMailbox);
    put(
        "eval.per-domain",
        `evaluation: each added domain with its ${domainsMax[1]} mailboxes`,
        "ms",
        perDomainWithMailboxes,
    );
    put(
        "eval.per-domain-alone",
        "evaluation: each added domain, less its mailboxes",
        "ms",
        perDomainWithMailboxes - domainsMax[1] * perMailbox,
    );
    put(
        "eval.ratio.wall",
        `evaluation: ${dm.domains} domains / 1 domain, whole process`,
        "ratio",
        dm.wallMs / b.wallMs,
    );
    put(
        "eval.ratio.program",
        `evaluation: ${dm.domains} domains / 1 domain, the program alone`,
        "ratio",
        dm.programMs / b.programMs,
    );
    // The SDK's own cost for as many resources, with no program around them: what the
    // ratio above could at best be if the program cost nothing but its registrations.
    const floor = await evaluate("--floor", dm.resources);
    put(
        "eval.floor.program",
        `evaluation: the SDK alone, ${dm.resources} bare DNS records, no program`,
        "s",
        floor.programMs / 1000,
    );
    put("eval.floor.per-resource", "evaluation: the SDK alone, per resource", "ms", floor.programMs / floor.resources);
    put(
        "eval.program.per-resource",
        `evaluation: the program with ${dm.domains} domains, per resource`,
        "ms",
        dm.programMs / dm.resources,
    );
    put(
        "eval.floor.ratio.wall",
        `evaluation: the best ${dm.domains} domains / 1 domain could be (1 domain's start-up + the SDK alone)`,
        "ratio",
        (b.wallMs - b.programMs + floor.programMs) / b.wallMs,
    );
}
