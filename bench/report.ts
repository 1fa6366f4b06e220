// The report: the table printed, the targets of issue 9, and the JSON file.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { figures, notes, stats } from "./figures";
import { outFile, runs, SIZE, smoke } from "./options";

function machine() {
    const cpus = os.cpus();
    return {
        cpus: cpus.length,
        cpuModel: cpus[0]?.model ?? "unknown",
        memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
        kernel: `${os.type()} ${os.release()}`,
        node: process.version,
    };
}

const fmt = (v: number, unit: string) =>
    unit === "ratio" ? v.toFixed(2) : Math.abs(v) >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1);

function targets(): { target: string; value: string; met: boolean | null }[] {
    const m = (id: string) => stats(figures.get(id)?.values ?? []);
    const check = (target: string, id: string, ok: (s: { min: number; median: number; max: number }) => boolean) => {
        const s = m(id);
        const unit = figures.get(id)?.unit ?? "";
        const value = s ? `${fmt(s.min, unit)}..${fmt(s.max, unit)} ${unit}` : "not measured";
        return { target, value, met: s ? ok(s) : null };
    };
    const domains = SIZE.evaluations.at(-2)![0];
    return [
        check("burst to one mailbox: 0 deferrals", "one.deferred", (s) => s.max === 0),
        check("burst to one mailbox: delivered >= 0.9 x accepted", "one.ratio", (s) => s.min >= 0.9),
        check("port 25 accepted >= 0.06 x smtp-sink ceiling", "one.ceiling", (s) => s.min >= 0.06),
        check("the same without the spam filter", "bare.ceiling", (s) => s.min >= 0.06),
        check(`evaluation: ${domains} domains <= 2 x 1 domain (whole process)`, "eval.ratio.wall", (s) => s.max <= 2),
        check(
            `evaluation: ${domains} domains <= 2 x 1 domain (the program alone)`,
            "eval.ratio.program",
            (s) => s.max <= 2,
        ),
        check("evaluation: each added mailbox <= 5 ms", "eval.per-mailbox", (s) => s.max <= 5),
        check(
            "idle RSS of the stack without spam filtering (the daemons of the 92 MiB) within 10% of 92 MiB",
            "mem.idle.base",
            (s) => s.max <= 92 * 1.1,
        ),
        check("IMAPS login and logout, again: <= 60 ms (issue 30)", "login.imaps.cached", (s) => s.max <= 60),
        check("webmail message-list request, again: <= 80 ms (issue 30)", "login.webmail.cached", (s) => s.max <= 80),
    ];
}

export function report(startedAt: Date): void {
    const rows = [...figures.values()].map((f) => ({ ...f, ...stats(f.values) }));
    const width = Math.max(...rows.map((r) => r.label.length), 10);
    console.log(`\n=== mailstack bench (${smoke ? "smoke" : "full"}, ${runs} run${runs > 1 ? "s" : ""}) ===`);
    console.log(
        `${"figure".padEnd(width)}  ${"unit".padEnd(10)} ${"min".padStart(9)} ${"median".padStart(9)} ${"max".padStart(9)}`,
    );
    for (const r of rows) {
        const cell = (v?: number) => (v === undefined ? "-" : fmt(v, r.unit)).padStart(9);
        console.log(`${r.label.padEnd(width)}  ${r.unit.padEnd(10)} ${cell(r.min)} ${cell(r.median)} ${cell(r.max)}`);
    }
    if (notes.length > 0) console.log(`\nnotes:\n${notes.map((n) => `  ${n.replace(/\n/g, "\n    ")}`).join("\n")}`);
    const t = targets();
    console.log("\ntargets (each names its issue when it is not issue 9):");
    for (const x of t) console.log(`  ${x.met === null ? "n/a " : x.met ? "MET " : "MISS"}  ${x.target}  (${x.value})`);
    const json = {
        mode: smoke ? "smoke" : "full",
        runs,
        startedAt: startedAt.toISOString(),
        seconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
        machine: machine(),
        sizes: SIZE,
        figures: rows.map(({ id, label, unit, values, min, median, max }) => ({
            id,
            label,
            unit,
            min,
            median,
            max,
            values,
        })),
        targets: t,
        notes,
    };
    fs.writeFileSync(outFile, `${JSON.stringify(json, null, 2)}\n`);
    console.log(`\nbench: written to ${path.relative(process.cwd(), outFile) || outFile}`);
}
