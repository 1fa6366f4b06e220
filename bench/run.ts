// `npm run bench` (= tsx bench/run.ts): the performance of the lab server and of the Pulumi
// program, as one table (printed) and as JSON (bench-results.json, or --out FILE).
//
//   --smoke        one run with small counts: keeps the bench working (CI), measures nothing
//   --runs N       runs of every measurement (default 3); each figure is min/median/max
//   --only lab|eval|movein|logins|handover  the lab measurements only (root, Linux), the
//                  program's evaluation only, the lab's moving-in phase only (import and
//                  search, movein.ts), what a login costs only (logins.ts), or the backup MX's
//                  hand-over only (handover.ts, with --secondary)
//   --secondary    stand the lab up with the backup MX (mailstack:secondaryMx) and measure its
//                  hand-over (handover.ts); without it that figure is not measured
//   --out FILE     where the JSON goes
//
// Each run stands a fresh lab up exactly as `npm run lab` does (lab/scenarios/standup.ts),
// measures, and stops it; a lab left running by `npm run lab -- --keep` is used as it is
// instead (then the boot time is not measured, and the runs share that server). Every
// ratio is computed within one run, from figures measured on the same server minutes apart.
//
// The parts: options.ts (the command line, how much), figures.ts (one value per run),
// server.ts (the server's memory and CPU, idleness, the load generator load.ts in msl-out),
// mail-load.ts (the ceiling, port 25, 587, IMAPS and POP3S), tables.ts (the tables' scale),
// movein.ts (import from the old provider, search in 20 000 messages), handover.ts (the backup
// MX's queue delivered once the primary answers again, with --secondary),
// lab-run.ts (one run against the lab), evaluations.ts (the program under mocks,
// evaluate.ts), report.ts (the table, the targets, the JSON).

import { teardown } from "../lab/harness/container";
import { readPid, REPO_DIR } from "../lab/harness/processes";
import { evaluations } from "./evaluations";
import { current } from "./figures";
import { labRun } from "./lab-run";
import { only, runs } from "./options";
import { report } from "./report";

async function main(): Promise<void> {
    const startedAt = new Date();
    process.chdir(REPO_DIR);
    const withLab = only !== "eval";
    if (withLab && (process.platform !== "linux" || process.getuid?.() !== 0))
        throw new Error("the lab part of the bench needs root on Linux (use --only eval for the evaluation alone)");
    for (current.run = 0; current.run < runs; current.run++) {
        if (!["lab", "movein", "logins", "handover"].includes(only ?? "")) await evaluations();
        if (withLab) await labRun();
    }
    report(startedAt);
}

for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
        console.error(`\nbench: ${sig}, stopping`);
        if (readPid("nspawn") !== undefined && !keptAtStart) teardown();
        process.exit(1);
    });
}
const keptAtStart = readPid("nspawn") !== undefined;

main().catch((err) => {
    console.error(`bench: ${(err as Error).stack ?? err}`);
    if (!keptAtStart) teardown();
    process.exit(1);
});
