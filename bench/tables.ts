// The scale of the tables: the mail-data step, a new smtpd's first session, Dovecot's
// lookups and port 25 with the lab's few mailboxes and with many, and with indexed tables.

import { performance } from "node:perf_hooks";
import type { BurstResult } from "../lab/clients/burst";
import { deliveredTo } from "../lab/clients/delivery";
import { daemonProcesses } from "../lab/harness/memory";
import { sleep } from "../lab/harness/processes";
import { ssh } from "../lab/harness/ssh";
import { labRawConfig, LAB_RELAY, labSpec } from "../lab/lab-config";
import { labPlanInputs, runStep } from "../lab/scenarios/provision";
import { buildSpec, type MailSpec, port } from "../model";
import { renderMailData } from "../render/host/mail-data";
import { renderBundle } from "../render/plan/bundle";
import { hashPassword } from "../render/plan/passwords";
import { MiB, put } from "./figures";
import type { BurstArgs } from "./load";
import { MESSAGE_BYTES, SIZE } from "./options";
import { load, memoryNow, type MemoryPeak, waitFor, withinLogBudget } from "./server";

/** The lab's config with extra mailboxes in example.org, `addresses` mailboxes in all. */
function bigSpec(addresses: number): { spec: MailSpec; extra: string[] } {
    const base = labSpec();
    const existing = base.domains.reduce((n, d) => n + d.mailboxes.length, 0);
    const extra = Array.from({ length: addresses - existing }, (_, i) => `u${String(i).padStart(5, "0")}`);
    const domains = (labRawConfig().domains as { name: string; mailboxes: string[] }[]).map((d) =>
        d.name === "example.org" ? { ...d, mailboxes: [...d.mailboxes, ...extra] } : d,
    );
    return { spec: buildSpec({ ...labRawConfig(), domains }), extra: extra.map((u) => `${u}@example.org`) };
}

/** Apply the mail-data step's bundle for `spec` (extra mailboxes share one password hash); its seconds. */
async function applyMailData(spec: MailSpec, extra: readonly string[], extraHash: string): Promise<number> {
    const { passwordHashes } = labPlanInputs(labSpec());
    const files = renderMailData(spec, {
        passwordHashes: { ...passwordHashes, ...Object.fromEntries(extra.map((a) => [a, extraHash])) },
        relayPassword: LAB_RELAY.password,
    });
    const r = await runStep("apply-bundle.sh", renderBundle(files));
    if (r.status !== 0) throw new Error(`mail-data failed: ${r.output.slice(-1000)}`);
    return r.ms / 1000;
}

/**
 * On the server: a new smtpd on port 25 (loopback) after a reload reads every texthash
 * table; this times connect..RCPT for `rcpt` and reads that smtpd's memory while the
 * session is open, then a second session to the now warm process.
 */
function smtpdProbe(rcpt: string): { firstMs: number; secondMs: number; rssKb: number; privateKb: number } {
    const script = String.raw`
import json, smtplib, subprocess, time
def session(hold):
    t = time.monotonic()
    s = smtplib.SMTP("127.0.0.1", ${port("smtp")}, local_hostname="probe.sink.test")
    s.ehlo(); s.mail("probe@sink.test"); code = s.rcpt("RCPT")[0]
    ms = (time.monotonic() - t) * 1000
    mem = None
    if hold:
        port = s.sock.getsockname()[1]
        out = subprocess.run(["ss", "-Htnp", "state", "established", "(", "sport", "=", ":${port("smtp")}", "and", "dport", "=", f":{port}", ")"], capture_output=True, text=True).stdout
        pid = out.split("pid=")[1].split(",")[0]
        roll = open(f"/proc/{pid}/smaps_rollup").read().split("\n")
        kb = lambda k: sum(int(l.split()[1]) for l in roll if l.startswith(k))
        mem = (kb("Rss:"), kb("Private_Clean:") + kb("Private_Dirty:"))
    s.quit()
    return code, ms, mem
code, first, mem = session(True)
code2, second, _ = session(False)
print(json.dumps({"code": code, "firstMs": first, "secondMs": second, "rssKb": mem[0], "privateKb": mem[1]}))
`.replace("RCPT", rcpt);
    const r = JSON.parse(ssh("python3 -", { input: script }).stdout.trim()) as {
        code: number;
        firstMs: number;
        secondMs: number;
        rssKb: number;
        privateKb: number;
    };
    if (r.code !== 250) throw new Error(`RCPT TO:<${rcpt}> answered ${r.code}`);
    return r;
}

/**
 * Bench only, undone by unindexTables: every texthash table of main.cf as a Berkeley DB
 * `hash:` table (postmap), main.cf pointed at them, Postfix reloaded. Returns the seconds.
 */
function indexTables(): number {
    const start = performance.now();
    ssh(
        [
            "set -e",
            "cp -p /etc/postfix/main.cf /run/mailstack-bench-main.cf",
            "for f in $(postconf -n | grep -o 'texthash:[^ ,]*' | sort -u | sed 's/^texthash://'); do postmap hash:$f; done",
            "sed -i 's/texthash:/hash:/g' /etc/postfix/main.cf",
            "postfix reload 2>/dev/null",
        ].join("\n"),
    );
    return (performance.now() - start) / 1000;
}

function unindexTables(): void {
    ssh(
        [
            "set -e",
            "mv /run/mailstack-bench-main.cf /etc/postfix/main.cf",
            "rm -f /etc/postfix/mailstack/*.db",
            "postfix reload 2>/dev/null",
        ].join("\n"),
    );
}

/** Dovecot: a userdb lookup of `user` right after the passwd-file changed, then again; auth's memory. */
function dovecotProbe(user: string): { firstMs: number; secondMs: number; authRssKb: number } {
    const [first, second] = ssh(
        `for i in 1 2; do s=$(date +%s%N); doveadm user ${user} >/dev/null || exit 1; e=$(date +%s%N); echo $(( (e - s) / 1000 )); done`,
    )
        .stdout.trim()
        .split("\n")
        .map((us) => Number(us) / 1000);
    const auth = daemonProcesses().filter((p) => p.daemon === "dovecot" && p.name === "auth");
    return { firstMs: first, secondMs: second, authRssKb: Math.max(0, ...auth.map((p) => p.rssKb)) };
}

export async function tables(peak: MemoryPeak): Promise<void> {
    const n = SIZE.tableAddresses;
    const hash = hashPassword("bench-table-password", "benchbenchbenchbenchbe");
    const small = bigSpec(labSpec().domains.reduce((k, d) => k + d.mailboxes.length, 0) + 1);
    const big = bigSpec(n);
    type Variant = "small" | "big" | "indexed";
    const results: Record<Variant, Record<string, number>> = { small: {}, big: {}, indexed: {} };
    const variants: [Variant, ReturnType<typeof bigSpec>, () => Promise<number> | number][] = [
        ["small", small, () => applyMailData(small.spec, small.extra, hash)],
        ["big", big, () => applyMailData(big.spec, big.extra, hash)],
        // The same big tables in an indexed format: Berkeley DB `hash:` stands in for lmdb/cdb
        // (built into Debian's postfix; postfix-lmdb is not in the lab's package set).
        [
            "indexed",
            big,
            () => {
                indexed = true;
                return indexTables();
            },
        ],
    ];
    let indexed = false;
    try {
        await measureVariants();
    } finally {
        if (indexed) unindexTables();
    }
    async function measureVariants() {
        for (const [size, t, prepare] of variants) {
            const apply = await prepare();
            await sleep(2000); // the reload lets idle smtpd processes exit; the next one is new
            const last = t.extra.at(-1)!;
            const smtpd = smtpdProbe(last);
            const dove = dovecotProbe(last);
            await withinLogBudget(SIZE.tableBurst);
            const subject = `bench-tables-${size}-${Date.now().toString(36)}`;
            const burst = await load<BurstResult>("burst", {
                port: port("smtp"),
                count: SIZE.tableBurst,
                sessions: SIZE.sessions,
                from: "newsletter@sink.test",
                recipients: [last],
                size: MESSAGE_BYTES,
                subject,
            } satisfies BurstArgs);
            await waitFor(() => deliveredTo([`example.org/${last.split("@")[0]}`], subject), burst.accepted, peak);
            const postfixKb = memoryNow().pss.postfix ?? 0;
            results[size] = {
                apply,
                smtpdFirst: smtpd.firstMs,
                smtpdSecond: smtpd.secondMs,
                smtpdRss: smtpd.rssKb,
                smtpdPrivate: smtpd.privateKb,
                doveFirst: dove.firstMs,
                doveSecond: dove.secondMs,
                authRss: dove.authRssKb,
                accepted: burst.perSecond,
                postfixRss: postfixKb,
            };
        }
    }
    const s = results.small;
    const b = results.big;
    const x = results.indexed;
    const label = `${n} addresses`;
    put("tables.apply.small", "tables: mail-data step with the lab's 5 mailboxes (install + reloads)", "s", s.apply);
    put("tables.apply.big", `tables: mail-data step with ${label}`, "s", b.apply);
    put(
        "tables.smtpd.first.small",
        "tables: first port-25 session after the reload, connect..RCPT (small)",
        "ms",
        s.smtpdFirst,
    );
    put(
        "tables.smtpd.first.big",
        `tables: first port-25 session after the reload, connect..RCPT (${label})`,
        "ms",
        b.smtpdFirst,
    );
    put("tables.smtpd.second.big", `tables: next session, same smtpd (${label})`, "ms", b.smtpdSecond);
    put("tables.smtpd.rss.small", "tables: one smtpd process, resident (small)", "MiB", MiB(s.smtpdRss));
    put("tables.smtpd.rss.big", `tables: one smtpd process, resident (${label})`, "MiB", MiB(b.smtpdRss));
    put("tables.smtpd.private.small", "tables: one smtpd process, private memory (small)", "MiB", MiB(s.smtpdPrivate));
    put("tables.smtpd.private.big", `tables: one smtpd process, private memory (${label})`, "MiB", MiB(b.smtpdPrivate));
    put("tables.dovecot.first.small", "tables: doveadm user after the passwd-file changed (small)", "ms", s.doveFirst);
    put("tables.dovecot.first.big", `tables: doveadm user after the passwd-file changed (${label})`, "ms", b.doveFirst);
    put("tables.dovecot.second.big", `tables: doveadm user again (${label})`, "ms", b.doveSecond);
    put("tables.auth.rss.small", "tables: Dovecot auth process, resident (small)", "MiB", MiB(s.authRss));
    put("tables.auth.rss.big", `tables: Dovecot auth process, resident (${label})`, "MiB", MiB(b.authRss));
    put(
        "tables.accepted.small",
        `tables: ${SIZE.tableBurst} messages on port 25 after the reload (small)`,
        "msg/s",
        s.accepted,
    );
    put(
        "tables.accepted.big",
        `tables: ${SIZE.tableBurst} messages on port 25 after the reload (${label})`,
        "msg/s",
        b.accepted,
    );
    put("tables.accepted.ratio", "tables: accepted with big / with small tables", "ratio", b.accepted / s.accepted);
    put("tables.indexed.postmap", `tables: postmap of every table (${label}) to hash: and reload`, "s", x.apply);
    put(
        "tables.indexed.smtpd.first",
        `tables, hash:: first port-25 session after the reload (${label})`,
        "ms",
        x.smtpdFirst,
    );
    put(
        "tables.indexed.smtpd.private",
        `tables, hash:: one smtpd process, private memory (${label})`,
        "MiB",
        MiB(x.smtpdPrivate),
    );
    put(
        "tables.indexed.accepted",
        `tables, hash:: ${SIZE.tableBurst} messages on port 25 after the reload (${label})`,
        "msg/s",
        x.accepted,
    );
    put(
        "tables.indexed.ratio",
        "tables: accepted with big hash: / with small texthash tables",
        "ratio",
        x.accepted / s.accepted,
    );
    put(
        "tables.indexed.postfix",
        `tables, hash:: all Postfix processes after that burst, PSS (${label})`,
        "MiB",
        MiB(x.postfixRss),
    );
    put(
        "tables.postfix.small",
        "tables: all Postfix processes after that burst, PSS (small)",
        "MiB",
        MiB(s.postfixRss),
    );
    put(
        "tables.postfix.big",
        `tables: all Postfix processes after that burst, PSS (${label})`,
        "MiB",
        MiB(b.postfixRss),
    );
    // Back to the lab's own mailboxes (a kept lab stays as it was).
    const spec = labSpec();
    await applyMailData(spec, [], hash);
    console.log(`bench: tables: ${JSON.stringify(results)}`);
}
