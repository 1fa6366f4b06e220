// `npm run lab` (= `tsx lab/run.ts [--keep]`): build or reuse the lab image, make the lab's
// private network, boot the project's user-data on Debian 13 under systemd-nspawn, run the
// checks (node:test, from the lab's "outside" namespace) and print a report whose last line
// is `N passed, N failed`. Exit status 0 only when every check passed.
//
//   --keep    leave the lab running afterwards and print how to use and stop it.
//   --only a.test.ts,b.test.ts
//             run only these check files (and boot.test.ts, which every check needs), in
//             the order of checks/order.ts: for working on a check. CI never passes it.
//   --secondary
//             with --only: also boot the backup MX (mailstack:secondaryMx) in msl-mx2, beside
//             the primary, and run secondary-mx.test.ts (skipped without it). Implied by --only
//             naming secondary-mx.test.ts, and by a full run (no --only): CI's run has it.
//
// Needs root on Linux (namespaces, tmpfs, loop device). Host tools: lab/install-deps.sh.

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { CHECK_ORDER } from "./checks/order";
import { connectHelp, Lab, LabBusyError, teardown } from "./harness/container";
import { daemonMemory, type DaemonMemory } from "./harness/memory";
import { outside } from "./harness/net";
import { LAB_DIR, REPO_DIR, STATE_DIR } from "./harness/processes";
import { standUpLab } from "./scenarios/standup";

interface CheckResult {
    name: string;
    status: "pass" | "fail" | "skip";
    ms: number;
    error?: string;
    file?: string;
}

/** What the checks can read about this run (written by standUpLab). */
export type { LabContext } from "./scenarios/standup";

const keep = process.argv.includes("--keep");
const onlyArg = process.argv.indexOf("--only");
const only = onlyArg >= 0 ? (process.argv[onlyArg + 1] ?? "").split(",").filter(Boolean) : undefined;
/** The check that needs the backup MX; naming it in --only boots it, as a full run does. */
const SECONDARY_CHECK = "secondary-mx.test.ts";
if (!only || process.argv.includes("--secondary") || only.includes(SECONDARY_CHECK)) {
    // Read by labSpec() here and in every check process (they inherit it): all build one config.
    process.env.MAILSTACK_LAB_SECONDARY = "1";
}
/** The container's console of the last run, kept after the state dir is gone. */
const LAST_CONSOLE_LOG = "/var/tmp/mailstack-lab-console.log";
const timings: [string, number][] = [];
const t0 = Date.now();

async function timed<T>(label: string, fn: () => T | Promise<T>): Promise<T> {
    const start = Date.now();
    try {
        return await fn();
    } finally {
        timings.push([label, (Date.now() - start) / 1000]);
    }
}

let tornDown = false;
/** Set when another lab is live: stopping would stop that one. */
let othersLab = false;
function stopLab(): void {
    if (tornDown || othersLab) return;
    tornDown = true;
    const r = teardown();
    if (r.output) console.log(r.output.replace(/^/gm, "  "));
    if (!r.ok) console.error("lab: teardown left something behind (see above)");
}

for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
        console.error(`\nlab: ${sig}, stopping the lab`);
        stopLab();
        console.log(`lab: interrupted by ${sig}\n0 passed, 1 failed`);
        process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGTERM" ? 15 : 1));
    });
}

const CHECKS_DIR = path.join(LAB_DIR, "checks");

/**
 * The check files in the order of lab/checks/order.ts. Throws when a check file is not in
 * that list or a listed file does not exist: a check must never be skipped silently.
 */
function orderedCheckFiles(): string[] {
    const present = fs.readdirSync(CHECKS_DIR).filter((f) => f.endsWith(".test.ts"));
    const listed: readonly string[] = CHECK_ORDER;
    const unlisted = present.filter((f) => !listed.includes(f));
    const missing = listed.filter((f) => !present.includes(f));
    const twice = listed.filter((f, i) => listed.indexOf(f) !== i);
    if (unlisted.length + missing.length + twice.length > 0) {
        throw new Error(
            "lab/checks/order.ts does not match lab/checks/:" +
                (unlisted.length ? ` not in the list: ${unlisted.join(", ")};` : "") +
                (missing.length ? ` listed but missing: ${missing.join(", ")};` : "") +
                (twice.length ? ` listed twice: ${twice.join(", ")};` : ""),
        );
    }
    if (only) {
        const unknown = only.filter((f) => !listed.includes(f));
        if (unknown.length > 0 || only.length === 0)
            throw new Error(`--only: not check files of lab/checks/order.ts: ${unknown.join(", ") || "(none given)"}`);
    }
    return listed.filter((f) => !only || f === "boot.test.ts" || only.includes(f)).map((f) => path.join(CHECKS_DIR, f));
}

/**
 * Run the check files one after the other, each in its own node:test child process inside
 * msl-out (one process per file: `node --test` sorts the files it is given by name), and
 * collect one result per test. A file that reports no test at all is a failure.
 */
async function runChecks(files: string[]): Promise<CheckResult[]> {
    const all: CheckResult[] = [];
    for (const file of files) {
        const results = path.join(STATE_DIR, "results", `${path.basename(file, ".test.ts")}.jsonl`);
        fs.mkdirSync(path.dirname(results), { recursive: true });
        fs.rmSync(results, { force: true });
        const [cmd, args] = outside([
            process.execPath,
            "--import",
            "tsx",
            "--test",
            "--test-reporter=spec",
            "--test-reporter-destination=stdout",
            `--test-reporter=${path.join(CHECKS_DIR, "reporter.mjs")}`,
            `--test-reporter-destination=${results}`,
            file,
        ]);
        const status = await new Promise<number | null>((resolve) => {
            const child = spawn(cmd, args, {
                cwd: REPO_DIR,
                stdio: ["ignore", "inherit", "inherit"],
                env: { ...process.env, MAILSTACK_LAB_STATE: STATE_DIR },
            });
            child.on("exit", (code) => resolve(code));
        });
        const lines = fs.existsSync(results) ? fs.readFileSync(results, "utf8").split("\n").filter(Boolean) : [];
        if (lines.length === 0) {
            all.push({
                name: `lab/checks/${path.basename(file)} runs its tests`,
                status: "fail",
                ms: 0,
                error: `no test reported (node --test exit ${status})`,
                file,
            });
        }
        all.push(...lines.map((l) => JSON.parse(l) as CheckResult));
    }
    return all;
}

function report(results: CheckResult[], idle: DaemonMemory, after: DaemonMemory): void {
    const passed = results.filter((r) => r.status === "pass").length;
    const failed = results.filter((r) => r.status === "fail").length;
    const skipped = results.filter((r) => r.status === "skip").length;
    console.log("\n=== mailstack lab report ===");
    for (const r of results) {
        const mark = r.status === "pass" ? "PASS" : r.status === "fail" ? "FAIL" : "SKIP";
        console.log(
            `${mark}  ${r.name}${r.status === "fail" && r.error ? `\n        ${r.error.split("\n").slice(0, 6).join("\n        ")}` : ""}`,
        );
    }
    console.log("\ntimings:");
    for (const [label, s] of timings) console.log(`  ${label.padEnd(28)} ${s.toFixed(1)} s`);
    console.log(`  ${"total".padEnd(28)} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // RSS counts a shared page once per process (rspamd's and Postfix's many processes share
    // most of theirs); PSS divides it among them, so PSS adds up to what the daemons cost.
    const mib = (kb: number) => `${(kb / 1024).toFixed(1)} MiB`.padStart(10);
    const memory = (title: string, m: DaemonMemory) => {
        if (Object.keys(m).length === 0) return;
        console.log(`\n${title}:${" ".repeat(Math.max(1, 29 - title.length))}       RSS        PSS`);
        const total = { rssKb: 0, pssKb: 0 };
        for (const [daemon, { rssKb, pssKb }] of Object.entries(m).sort()) {
            total.rssKb += rssKb;
            total.pssKb += pssKb;
            console.log(`  ${daemon.padEnd(28)} ${mib(rssKb)} ${mib(pssKb)}`);
        }
        console.log(`  ${"all mail daemons".padEnd(28)} ${mib(total.rssKb)} ${mib(total.pssKb)}`);
    };
    // Idle: the server as it waits for mail. After the checks: Postfix keeps idle smtpd
    // processes of the last connections for up to 100 s, so this one is the busy figure.
    memory("memory, idle after provisioning", idle);
    memory("memory right after the checks", after);
    if (skipped > 0) console.log(`\n${skipped} skipped`);
    if (only) console.log(`partial run (--only ${only.join(",")}): the other checks did not run`);
    console.log(`${passed} passed, ${failed} failed`);
    process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
}

async function main(): Promise<void> {
    if (process.platform !== "linux" || process.getuid?.() !== 0) {
        throw new Error("the lab needs root on Linux (namespaces, tmpfs, loop devices); see lab/install-deps.sh");
    }
    // Before anything is built or started: a wrong check list fails at once.
    const checkFiles = orderedCheckFiles();
    const results: CheckResult[] = [];
    let after: DaemonMemory = {};
    let idle: DaemonMemory = {};
    const lab: Partial<Lab> = {};
    try {
        await standUpLab(lab, timed);
        idle = daemonMemory();
        results.push(...(await timed("checks", () => runChecks(checkFiles))));
        after = daemonMemory();
    } catch (err) {
        othersLab = err instanceof LabBusyError;
        results.push({
            name: "The lab stands up: image, network, boot, SSH login with the deploy key, cloud-init",
            status: "fail",
            ms: 0,
            error: (err as Error).message,
        });
        if (lab.nspawnPid) {
            const log = path.join(STATE_DIR, "console.log");
            if (fs.existsSync(log))
                console.error(
                    `lab: last console lines:\n${fs.readFileSync(log, "utf8").split("\n").slice(-25).join("\n")}`,
                );
        }
    } finally {
        const consoleLog = path.join(STATE_DIR, "console.log");
        if (fs.existsSync(consoleLog)) fs.copyFileSync(consoleLog, LAST_CONSOLE_LOG);
        if (keep && lab.nspawnPid) {
            console.log(`\n${connectHelp()}`);
        } else {
            await timed("stop", () => stopLab());
        }
    }
    report(results, idle, after);
}

main().catch((err) => {
    console.error(`lab: ${(err as Error).stack ?? err}`);
    stopLab();
    console.log("0 passed, 1 failed");
    process.exit(1);
});
