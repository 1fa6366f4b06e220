// `npm run bench` (= tsx bench/run.ts): the performance of the lab server and of the Pulumi
// program, as one table (printed) and as JSON (bench-results.json, or --out FILE).
//
//   --smoke        one run with small counts: keeps the bench working (CI), measures nothing
//   --runs N       runs of every measurement (default 3); each figure is min/median/max
//   --only lab|eval  the lab measurements only (root, Linux) or the program's evaluation only
//   --out FILE     where the JSON goes
//
// Each run stands a fresh lab up exactly as `npm run lab` does (lab/harness/standup.ts),
// measures, and stops it; a lab left running by `npm run lab -- --keep` is used as it is
// instead (then the boot time is not measured, and the runs share that server). Every
// ratio is computed within one run, from figures measured on the same server minutes apart.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { hashPassword } from "../render/plan/passwords";
import { renderBundle } from "../render/plan/bundle";
import { renderMailData } from "../render/host/mail-data";
import type { BurstResult } from "../lab/burst";
import { deliveredTo, type Delivered, mailLogSince, queueLength } from "../lab/delivery";
import { type Lab, teardown } from "../lab/harness/container";
import { containerCpu, cpuSecondsSince, type CpuSnapshot, daemonProcesses } from "../lab/harness/memory";
import { outside } from "../lab/harness/net";
import { readPid, REPO_DIR, shAsync, sleep, STATE_DIR } from "../lab/harness/processes";
import { ssh } from "../lab/harness/ssh";
import { standUpLab } from "../lab/harness/standup";
import { LAB_PASSWORDS, labRawConfig, LAB_RELAY, labSpec } from "../lab/lab-config";
import { labPlanInputs, runStep } from "../lab/provision";
import { sinkMessages } from "../lab/sink";
import { buildSpec, type MailSpec, port } from "../model";
import type { BurstArgs, ReadResult } from "./load";

const BENCH_DIR = __dirname;
const argv = process.argv.slice(2);
const option = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const smoke = argv.includes("--smoke");
const runs = Number(option("--runs") ?? (smoke ? 1 : 3));
const only = option("--only");
const outFile = path.resolve(option("--out") ?? path.join(REPO_DIR, smoke ? "bench-smoke.json" : "bench-results.json"));

/** How much of everything: the full bench, or the smoke that only proves it still runs. */
const SIZE = smoke
    ? {
          ceiling: 2000,
          burst: 200,
          sessions: 20,
          submission: 40,
          perConnection: 10,
          tableAddresses: 1000,
          tableBurst: 100,
          evaluations: [
              [1, 5],
              [2, 5],
              [1, 50],
          ],
      }
    : {
          ceiling: 10000,
          burst: 1000,
          sessions: 20,
          submission: 200,
          perConnection: 20,
          tableAddresses: 10000,
          tableBurst: 300,
          evaluations: [
              [1, 5],
              [10, 5],
              [100, 5],
              [1, 1000],
          ],
      };
const MESSAGE_BYTES = 4096;
/** The lab's mailboxes, by Maildir ("example.org/alice") and address. */
const MAILBOXES = Object.keys(LAB_PASSWORDS).map((a) => ({ address: a, box: `${a.split("@")[1]}/${a.split("@")[0]}` }));
const ALICE = "alice@example.org";

// --- Figures -------------------------------------------------------------------------

interface Figure {
    id: string;
    label: string;
    unit: string;
    /** One value per run (null: not measured in that run). */
    values: (number | null)[];
}
const figures = new Map<string, Figure>();
let run = 0;
/** What a figure alone does not say (a deferral's log line, ...), per run; in the JSON and after the table. */
const notes: string[] = [];
function note(text: string): void {
    notes.push(`run ${run + 1}: ${text}`);
    console.log(`bench: ${text}`);
}

/** Record the value of figure `id` for the current run. */
function put(id: string, label: string, unit: string, value: number | null): void {
    if (!figures.has(id)) figures.set(id, { id, label, unit, values: [] });
    const f = figures.get(id)!;
    f.values[run] = value === null || Number.isNaN(value) ? null : value;
}

function stats(values: (number | null)[]): { min: number; median: number; max: number } | undefined {
    const v = values.filter((x): x is number => typeof x === "number").sort((a, b) => a - b);
    if (v.length === 0) return undefined;
    const mid = Math.floor(v.length / 2);
    return { min: v[0], median: v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2, max: v[v.length - 1] };
}

const MiB = (kb: number) => kb / 1024;

// --- The lab's side -------------------------------------------------------------------

interface Memory {
    /** Resident memory summed per daemon (kB), as the lab's report shows it. */
    rss: Record<string, number>;
    /** Proportional set size summed per daemon (kB): shared libraries counted once. */
    pss: Record<string, number>;
}

function memoryNow(): Memory {
    const m: Memory = { rss: {}, pss: {} };
    for (const p of daemonProcesses({ pss: true })) {
        m.rss[p.daemon] = (m.rss[p.daemon] ?? 0) + p.rssKb;
        m.pss[p.daemon] = (m.pss[p.daemon] ?? 0) + (p.pssKb ?? 0);
    }
    return m;
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

/**
 * The daemons issue 9 measured at 92 MiB idle (2026-12-02), before the spam filter (rspamd,
 * Valkey), the resolver (unbound), the MTA-STS resolver and the webmail (php-fpm) came: its
 * target is for this same set.
 */
const BASE_DAEMONS = ["dovecot", "fail2ban", "nginx", "opendkim", "postfix", "postsrsd", "sender-milter"];

/** The peak memory per daemon and of all of them together, sampled every 250 ms while load runs. */
class MemoryPeak {
    peak: Memory = { rss: {}, pss: {} };
    total = { rss: 0, pss: 0 };
    private timer?: NodeJS.Timeout;
    sample(): void {
        const now = memoryNow();
        for (const k of ["rss", "pss"] as const) {
            for (const [d, kb] of Object.entries(now[k])) this.peak[k][d] = Math.max(this.peak[k][d] ?? 0, kb);
            this.total[k] = Math.max(this.total[k], sum(now[k]));
        }
    }
    start(): void {
        this.timer ??= setInterval(() => this.sample(), 250);
    }
    stop(): void {
        clearInterval(this.timer);
        this.timer = undefined;
    }
}

/**
 * Whether rspamd's running main process has loaded its hyperscan databases. After each
 * (re)start its hs_helper compiles them (or finds them in /var/lib/rspamd), and until the
 * main process logs "hyperscan cache loaded" rspamd holds two to three times its idle memory
 * and may pause between compiling classes, quiet enough to pass for idle.
 */
function rspamdHyperscanLoaded(): boolean {
    const r = ssh(
        'pid=$(systemctl show -p MainPID --value rspamd) && [ "$pid" != 0 ] && ' +
            "journalctl -q --no-pager _PID=$pid -g 'hyperscan cache loaded' | grep -q .",
        { allowFail: true },
    );
    return r.status === 0;
}

/**
 * Wait until the server is quiet: a freshly booted one runs its first apt, man-db and
 * fail2ban jobs for a while, which would take the CPU the measurements need, and rspamd
 * compiles its hyperscan databases. Quiet: rspamd has loaded them and the container's
 * processes use less than 10% of one core for 5 s in a row (at most 180 s). Returns the
 * seconds waited and what was busy.
 */
async function untilIdle(): Promise<{ seconds: number; busy: string }> {
    const start = Date.now();
    const busy = new Map<string, number>();
    let quiet = 0;
    let last = containerCpu();
    let hyperscan = rspamdHyperscanLoaded();
    while ((quiet < 5 || !hyperscan) && Date.now() - start < 180_000) {
        await sleep(1000);
        const now = containerCpu();
        let ticks = 0;
        for (const [name, seconds] of Object.entries(cpuSecondsSince(last, now))) {
            const d = seconds * 100;
            ticks += d;
            busy.set(name, (busy.get(name) ?? 0) + d);
        }
        last = now;
        quiet = ticks < 10 ? quiet + 1 : 0; // 100 ticks per second = one core
        if (!hyperscan) hyperscan = rspamdHyperscanLoaded();
    }
    const top = [...busy].sort((a, b) => b[1] - a[1]).slice(0, 4);
    return {
        seconds: (Date.now() - start) / 1000,
        busy:
            top.map(([n, t]) => `${n} ${(t / 100).toFixed(1)} s`).join(", ") +
            (hyperscan ? "" : "; rspamd had not loaded its hyperscan databases after 180 s"),
    };
}

/** One phase of bench/load.ts in msl-out; its JSON result. */
async function load<T>(phase: string, args: unknown): Promise<T> {
    const [cmd, a] = outside([
        process.execPath,
        "--import",
        "tsx",
        path.join(BENCH_DIR, "load.ts"),
        phase,
        JSON.stringify(args),
    ]);
    const r = await shAsync(cmd, a, { timeoutMs: 600_000 });
    return JSON.parse(r.stdout.trim().split("\n").pop()!) as T;
}

/**
 * journald keeps at most 10 000 lines of one unit per 30 s (RateLimitBurst, scaled up with
 * free disk space); Postfix logs about 7 lines a message. Sending more than 1200 messages
 * within 30 s would lose lines and with them deferrals; wait for a new window instead.
 */
const journalWindow = { start: 0, messages: 0 };
async function withinLogBudget(messages: number): Promise<void> {
    const age = Date.now() - journalWindow.start;
    if (age > 32_000) Object.assign(journalWindow, { start: Date.now(), messages: 0 });
    else if (journalWindow.messages + messages > 1200) {
        await sleep(32_000 - age);
        Object.assign(journalWindow, { start: Date.now(), messages: 0 });
    }
    journalWindow.messages += messages;
}

async function waitFor(check: () => Delivered, count: number, peak: MemoryPeak, timeoutMs = 120_000) {
    const start = Date.now();
    for (;;) {
        const d = check();
        peak.sample();
        if (d.count >= count || Date.now() - start > timeoutMs) return d;
        await sleep(500);
    }
}

/** The daemons whose CPU per message the bench shows on their own; the rest is "other". */
const CPU_DAEMONS = ["postfix", "dovecot", "rspamd", "opendkim", "postsrsd", "sender-milter", "systemd-journal"];

/**
 * The server's CPU per message since `before`, in all and per daemon (ms): where a burst's
 * time goes on a box whose two cores it fills.
 */
function putCpu(id: string, what: string, before: CpuSnapshot, messages: number): void {
    const seconds = cpuSecondsSince(before);
    const perMessage = (s: number) => (messages > 0 ? (s * 1000) / messages : NaN);
    put(`${id}.cpu`, `${what}: the server's CPU per message`, "ms", perMessage(sum(seconds)));
    let other = 0;
    for (const [daemon, s] of Object.entries(seconds)) if (!CPU_DAEMONS.includes(daemon)) other += s;
    for (const daemon of CPU_DAEMONS)
        put(`${id}.cpu.${daemon}`, `${what}: CPU per message, ${daemon}`, "ms", perMessage(seconds[daemon] ?? 0));
    put(`${id}.cpu.other`, `${what}: CPU per message, everything else`, "ms", perMessage(other));
}

/** smtp-source against smtp-sink, both on the server's loopback: what this box does for SMTP at most. */
function sinkCeiling(): number {
    const r = ssh(
        [
            "smtp-sink -u nobody 127.0.0.1:2525 256 >/dev/null 2>&1 & sink=$!",
            "sleep 0.5",
            "s=$(date +%s.%N)",
            `smtp-source -s 20 -m ${SIZE.ceiling} -l ${MESSAGE_BYTES} -f bench@sink.test -t ${ALICE} 127.0.0.1:2525; rc=$?`,
            "e=$(date +%s.%N)",
            "kill $sink",
            'echo "$rc $s $e"',
        ].join("\n"),
        { timeoutMs: 300_000 },
    );
    const [rc, s, e] = r.stdout.trim().split("\n").pop()!.split(" ").map(Number);
    if (rc !== 0) throw new Error(`smtp-source exited ${rc}: ${r.stderr}`);
    return SIZE.ceiling / (e - s);
}

/** A burst on port 25 to `recipients` (round robin), delivered into their Maildirs; records its figures under `id`. */
async function port25(
    id: string,
    what: string,
    recipients: string[],
    count: number,
    peak: MemoryPeak,
): Promise<{ accepted: number; delivered: number; subject: string }> {
    await withinLogBudget(count);
    const subject = `bench-${id}-${Date.now().toString(36)}`;
    peak.start();
    const cpuBefore = containerCpu();
    const burst = await load<BurstResult>("burst", {
        port: port("smtp"),
        count,
        sessions: SIZE.sessions,
        from: "newsletter@sink.test",
        recipients,
        size: MESSAGE_BYTES,
        subject,
    } satisfies BurstArgs);
    const boxes = MAILBOXES.filter((m) => recipients.includes(m.address)).map((m) => m.box);
    const extraBoxes = recipients.filter((r) => !MAILBOXES.some((m) => m.address === r));
    const allBoxes = [...boxes, ...extraBoxes.map((a) => `${a.split("@")[1]}/${a.split("@")[0]}`)];
    const got = await waitFor(() => deliveredTo(allBoxes, subject), burst.accepted, peak);
    peak.stop();
    putCpu(id, what, cpuBefore, got.count);
    const log = mailLogSince(burst.startedAt);
    const complete = log.suppressed.length === 0 && log.sent >= got.count;
    const accepted = burst.perSecond;
    const delivered = got.count >= burst.accepted ? got.count / ((got.lastAt - burst.startedAt) / 1000) : NaN;
    put(`${id}.accepted`, `${what}: accepted on port 25`, "msg/s", accepted);
    put(`${id}.delivered`, `${what}: delivered to the Maildir (first connect to last file)`, "msg/s", delivered);
    put(`${id}.refused`, `${what}: refused or failed`, "messages", burst.refused.length);
    put(`${id}.missing`, `${what}: not in the Maildir after 120 s`, "messages", count - got.count);
    put(`${id}.deferred`, `${what}: deferred (mail log)`, "deliveries", complete ? log.deferred : null);
    put(`${id}.ratio`, `${what}: delivered / accepted`, "ratio", delivered / accepted);
    if (!complete) console.error(`bench: ${id}: the mail log is incomplete (${log.suppressed.join("; ")})`);
    if (log.deferred > 0) note(`${id}: ${log.deferred} deferred, e.g.\n${log.deferredLines.join("\n")}`);
    console.log(
        `bench: ${id}: ${count} messages, ${accepted.toFixed(0)} msg/s accepted, ${delivered.toFixed(0)} msg/s delivered, ${log.deferred} deferred, queue ${queueLength()}`,
    );
    return { accepted, delivered, subject };
}

/**
 * Runs `f` with port 25's milters (rspamd) switched off in main.cf, and puts the rendered
 * main.cf back afterwards, byte for byte.
 */
async function withoutSpamFilter<T>(f: () => Promise<T>): Promise<T> {
    ssh("cp -p /etc/postfix/main.cf /run/main.cf.bench && postconf -e 'smtpd_milters =' && postfix reload");
    try {
        return await f();
    } finally {
        ssh("cp -p /run/main.cf.bench /etc/postfix/main.cf && rm /run/main.cf.bench && postfix reload");
    }
}

/** Submission on 587: STARTTLS, AUTH, the From: milter and DKIM, relayed to the lab's sink. */
async function submission(peak: MemoryPeak): Promise<void> {
    await withinLogBudget(SIZE.submission);
    const subject = `bench-587-${Date.now().toString(36)}`;
    const sinkDir = path.join(STATE_DIR, "sink");
    peak.start();
    const cpuBefore = containerCpu();
    const burst = await load<BurstResult>("burst", {
        port: port("submission"),
        count: SIZE.submission,
        sessions: Math.max(1, Math.min(SIZE.sessions, SIZE.submission / SIZE.perConnection)),
        perConnection: SIZE.perConnection,
        from: ALICE,
        recipients: ["bench@sink.test"],
        size: MESSAGE_BYTES,
        subject,
        auth: { user: ALICE, pass: LAB_PASSWORDS[ALICE] },
    } satisfies BurstArgs);
    let arrived: ReturnType<typeof sinkMessages> = [];
    const start = Date.now();
    while (Date.now() - start < 120_000) {
        arrived = sinkMessages(sinkDir).filter((m) => m.raw.includes(`Subject: ${subject} `));
        peak.sample();
        if (arrived.length >= burst.accepted) break;
        await sleep(500);
    }
    peak.stop();
    putCpu("587", "submission 587", cpuBefore, arrived.length);
    const lastAt = Math.max(...arrived.map((m) => Date.parse(m.receivedAt)));
    const signed = arrived.filter((m) => /^DKIM-Signature:/im.test(m.raw)).length;
    const log = mailLogSince(burst.startedAt);
    put("587.accepted", "submission 587 (STARTTLS, AUTH, From: milter, DKIM): accepted", "msg/s", burst.perSecond);
    put(
        "587.delivered",
        "submission 587: relayed to the lab's sink (first connect to last arrival)",
        "msg/s",
        arrived.length >= burst.accepted ? arrived.length / ((lastAt - burst.startedAt) / 1000) : NaN,
    );
    put("587.refused", "submission 587: refused or failed", "messages", burst.refused.length);
    put("587.unsigned", "submission 587: arrived without a DKIM signature", "messages", arrived.length - signed);
    put(
        "587.deferred",
        "submission 587: deferred (mail log)",
        "deliveries",
        log.suppressed.length ? null : log.deferred,
    );
    if (log.deferred > 0) note(`587: ${log.deferred} deferred, e.g.\n${log.deferredLines.join("\n")}`);
    console.log(
        `bench: 587: ${SIZE.submission} messages in ${SIZE.submission / SIZE.perConnection} logins, ${burst.perSecond.toFixed(0)} msg/s accepted, ${arrived.length} at the sink`,
    );
}

/** Reading: IMAP fetches the burst's messages (headers and bodies), POP3 downloads as many. */
async function reading(subject: string, count: number): Promise<void> {
    const imap = await load<ReadResult>("imap", { user: ALICE, pass: LAB_PASSWORDS[ALICE], subject });
    put("imap.seconds", `IMAPS: fetch ${count} messages (headers and bodies, one session)`, "s", imap.seconds);
    put("imap.rate", "IMAPS: fetched", "msg/s", imap.messages / imap.seconds);
    put("imap.count", "IMAPS: messages fetched", "messages", imap.messages);
    const pop3 = await load<ReadResult>("pop3", { user: ALICE, pass: LAB_PASSWORDS[ALICE], count });
    put("pop3.seconds", `POP3S: download ${count} messages (RETR, one session)`, "s", pop3.seconds);
    put("pop3.rate", "POP3S: downloaded", "msg/s", pop3.messages / pop3.seconds);
    put("pop3.count", "POP3S: messages downloaded", "messages", pop3.messages);
}

// --- Scale of the tables ------------------------------------------------------------------

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

async function tables(peak: MemoryPeak): Promise<void> {
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

// --- One run against the lab -----------------------------------------------------------------

async function labRun(): Promise<void> {
    const kept = readPid("nspawn") !== undefined;
    const lab: Partial<Lab> = {};
    let started = false;
    try {
        if (kept) {
            console.log(`bench: run ${run + 1}: using the lab that is running (state in ${STATE_DIR})`);
            put("boot", "boot to every provisioning step done", "s", null);
        } else {
            console.log(`bench: run ${run + 1}: standing the lab up`);
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
    } finally {
        if (started) {
            const r = teardown();
            if (!r.ok) console.error(`bench: teardown left something behind:\n${r.output}`);
        }
    }
}

// --- The program's evaluation under mocks -----------------------------------------------------

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

async function evaluations(): Promise<void> {
    // Once, unmeasured: tsx compiles the sources into its cache, as a second preview would find it.
    if (run === 0) await evaluate(1, 1);
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

// --- Report ----------------------------------------------------------------------------------

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
    ];
}

function report(startedAt: Date): void {
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
    console.log("\ntargets (issue 9):");
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

async function main(): Promise<void> {
    const startedAt = new Date();
    process.chdir(REPO_DIR);
    const withLab = only !== "eval";
    if (withLab && (process.platform !== "linux" || process.getuid?.() !== 0))
        throw new Error("the lab part of the bench needs root on Linux (use --only eval for the evaluation alone)");
    for (run = 0; run < runs; run++) {
        if (only !== "lab") await evaluations();
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
