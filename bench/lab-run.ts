// One run against the lab: stand it up (or use the one kept running), wait until it is
// idle, measure every load and the memory, then the tables; stop it again.

import { performance } from "node:perf_hooks";
import { type Lab, teardown } from "../lab/harness/container";
import { readPid, STATE_DIR } from "../lab/harness/processes";
import { standUpLab } from "../lab/scenarios/standup";
import { current, MiB, note, put } from "./figures";
import { logins } from "./logins";
import { port25, reading, sinkCeiling, submission, withoutSpamFilter } from "./mail-load";
import { handover } from "./handover";
import { movein } from "./movein";
import { ALICE, MAILBOXES, only, SIZE } from "./options";
import { BASE_DAEMONS, memoryNow, MemoryPeak, sum, untilIdle } from "./server";
import { tables } from "./tables";

export async function labRun(): Promise<void> {
    const kept = readPid("nspawn") !== undefined;
    const lab: Partial<Lab> = {};
    let started = false;
    try {
        if (kept) {
            console.log(`bench: run ${current.run + 1}: using the lab that is running (state in ${STATE_DIR})`);
            put("boot", "boot to every provisioning step done", "s", null);
        } else {
            console.log(`bench: run ${current.run + 1}: standing the lab up`);
            started = true;
            const up = await standUpLab(lab, async (label, fn) => {
                const t = performance.now();
                const v = await fn();
                if (label === "cloud-init (after SSH)")
                    put("boot.cloud-init", "boot: cloud-init (after SSH)", "s", (performance.now() - t) / 1000);
                if (label === "provisioning")
                    put("boot.provisioning", "boot: provisioning steps", "s", (performance.now() - t) / 1000);
                return v;
            });
            if (!up.context.provisioning.ok) throw new Error(`provisioning failed: ${up.context.provisioning.detail}`);
            put("boot", "boot to every provisioning step done", "s", up.bootToProvisioned);
        }
        const settled = await untilIdle();
        put("boot.settle", "after provisioning: until the server is idle (< 10% CPU for 5 s)", "s", settled.seconds);
        note(`settling took ${settled.seconds.toFixed(0)} s; busy: ${settled.busy || "nothing"}`);
        if (only === "movein") {
            await movein();
            return;
        }
        if (only === "logins") {
            await logins();
            return;
        }
        if (only === "handover") {
            await handover();
            return;
        }
        const idle = memoryNow();
        const peak = new MemoryPeak();
        peak.sample();

        const ceiling = sinkCeiling();
        put("ceiling", `smtp-sink ceiling: smtp-source, 20 sessions, on the server's loopback`, "msg/s", ceiling);
        console.log(`bench: smtp-sink ceiling ${ceiling.toFixed(0)} msg/s`);

        const one = await port25("one", `burst of ${SIZE.burst} to one mailbox`, [ALICE], SIZE.burst, peak);
        put("one.ceiling", "burst to one mailbox: accepted / smtp-sink ceiling", "ratio", one.accepted / ceiling);
        await reading(one.subject, SIZE.burst);

        // The same burst with port 25's milter (rspamd) off: what the spam filter costs.
        const bare = await withoutSpamFilter(() =>
            port25("bare", `burst of ${SIZE.burst} to one mailbox, without the spam filter`, [ALICE], SIZE.burst, peak),
        );
        put(
            "bare.ceiling",
            "burst without the spam filter: accepted / smtp-sink ceiling",
            "ratio",
            bare.accepted / ceiling,
        );
        put(
            "filter.cost",
            "burst to one mailbox: accepted with / without the spam filter",
            "ratio",
            one.accepted / bare.accepted,
        );

        const all = MAILBOXES.map((m) => m.address);
        const spread = await port25(
            "spread",
            `burst of ${SIZE.burst} over all ${all.length} mailboxes`,
            all,
            SIZE.burst,
            peak,
        );
        put(
            "spread.ceiling",
            "burst over all mailboxes: accepted / smtp-sink ceiling",
            "ratio",
            spread.accepted / ceiling,
        );
        put(
            "spread.vs.one",
            "delivered: over all mailboxes / to one mailbox",
            "ratio",
            spread.delivered / one.delivered,
        );

        await submission(peak);
        await logins();

        for (const d of [...new Set([...Object.keys(idle.rss), ...Object.keys(peak.peak.rss)])].sort()) {
            put(`mem.idle.${d}`, `memory idle: ${d} (RSS)`, "MiB", MiB(idle.rss[d] ?? 0));
            put(`mem.peak.${d}`, `memory peak under load: ${d} (RSS)`, "MiB", MiB(peak.peak.rss[d] ?? 0));
            put(`mem.peak.pss.${d}`, `memory peak under load: ${d} (PSS)`, "MiB", MiB(peak.peak.pss[d] ?? 0));
        }
        put("mem.idle.total", "memory idle: all mail daemons (RSS, as the lab reports it)", "MiB", MiB(sum(idle.rss)));
        put(
            "mem.idle.base",
            `memory idle: the daemons of issue 9's 92 MiB (${BASE_DAEMONS.join(", ")}; RSS)`,
            "MiB",
            MiB(sum(Object.fromEntries(BASE_DAEMONS.map((d) => [d, idle.rss[d] ?? 0])))),
        );
        put("mem.idle.total.pss", "memory idle: all mail daemons (PSS)", "MiB", MiB(sum(idle.pss)));
        put("mem.peak.total", "memory peak under load: all mail daemons (RSS)", "MiB", MiB(peak.total.rss));
        put("mem.peak.total.pss", "memory peak under load: all mail daemons (PSS)", "MiB", MiB(peak.total.pss));

        await tables(peak);
        await movein();
        await handover();
    } finally {
        if (started) {
            const r = teardown();
            if (!r.ok) console.error(`bench: teardown left something behind:\n${r.output}`);
        }
    }
}
