// Moving in (issue 31): an old Gmail-like account imported from the lab's old provider
// (lab/world/oldmail.ts) with mailstack:imports, then SEARCH BODY in a mailbox of 20 000 messages
// with and without the full-text index, the index's size beside the mail, and the CPU a
// delivery costs more with indexing. The lab's checks show search at the size
// (search.test.ts, short messages) and the import at 300 (import.test.ts); here both are
// measured at the sizes with bodies of ordinary text.
//
// The account: SIZE.movein.old messages spread as a Gmail account is (most in All Mail, then
// INBOX, Sent, labels), about 9 KB each (bodies of ordinary text, one in ten with an
// attachment), imported into bob@example.org. Then All Mail there gets the messages that make
// bob's Archive (where All Mail lands) SIZE.movein.mailbox, three of them with a rare word,
// and a second run imports them. The search runs in that Archive.

import { performance } from "node:perf_hooks";
import { cpuSecondsSince, containerCpu } from "../lab/harness/memory";
import { labTmpfs } from "../lab/harness/container";
import { sh, sleep } from "../lab/harness/processes";
import { ssh } from "../lab/harness/ssh";
import { deliverCorpus, indexedToTheEnd, lastUid } from "../lab/checks/search";
import { LAB_PASSWORDS, labRawConfig, labSpec } from "../lab/lab-config";
import {
    emptyOldAccount,
    OLD_ACCOUNT,
    seedOldAccount,
    startOldProvider,
    stopOldProvider,
    type OldMessage,
} from "../lab/world/oldmail";
import { provision } from "../lab/scenarios/provision";
import { buildSpec } from "../model";
import { note, put } from "./figures";
import { SIZE } from "./options";
import { sum } from "./server";

const BOB = "bob@example.org";
const CAROL = "carol@example.net";
const DOVECOT_CONF = "/etc/dovecot/dovecot.conf";
const MB = 1e6;

/** Provision the import of the old account into bob (or none: the lab's config). */
async function provisionImport(on: boolean): Promise<void> {
    const spec = on
        ? buildSpec({
              ...labRawConfig(),
              imports: [{ mailbox: BOB, host: OLD_ACCOUNT.host, user: OLD_ACCOUNT.user }],
              importPasswords: { [BOB]: OLD_ACCOUNT.password },
          })
        : labSpec();
    const r = await provision(spec, LAB_PASSWORDS, ["packages", "import"], {
        importPasswords: on ? { [BOB]: OLD_ACCOUNT.password } : {},
    });
    if (!r.ok) throw new Error(`the import step failed: ${r.detail}`);
}

/** The last run of mailstack-import.service: its seconds (systemd's own start and exit times) and bob's status line. */
function lastRun(): { seconds: number; status: string; ok: boolean } {
    const show = ssh(
        "systemctl show -P ExecMainStartTimestampMonotonic mailstack-import.service; systemctl show -P ExecMainExitTimestampMonotonic mailstack-import.service",
    ).stdout.trim();
    const [start, exit] = show.split("\n").map(Number);
    const status = ssh("mailstack-import status").stdout.trim();
    return { seconds: (exit - start) / 1e6, status, ok: /^\S+ ok /.test(status) };
}

/**
 * A run that failed is noted with what the server logged, and then run again as the hourly
 * timer would (it goes on where the last one stopped), at most twice: the seconds and the
 * messages of all those runs together.
 */
function untilDone(run: { seconds: number; status: string; ok: boolean }, what: string) {
    let seconds = run.seconds;
    let imported = run.ok
        ? importedNumber(run.status)
        : Number(/(\d+) message\(s\) imported/.exec(run.status)?.[1] ?? 0);
    let runs = 1;
    while (!run.ok) {
        const why = ssh(
            "journalctl -q -o cat -u mailstack-import -n 12; journalctl -q -o cat -u dovecot -p warning --since=-20min | tail -n 12; df -h /srv/mail / | tail -n 2; free -m | head -n 2",
            { allowFail: true },
        ).stdout;
        const tmpfs = sh("df", ["-h", labTmpfs()]).stdout.trim().split("\n").pop();
        note(`${what}: run ${runs} failed after ${run.seconds.toFixed(1)} s: ${run.status}\n${why}lab tmpfs: ${tmpfs}`);
        if (runs === 3) throw new Error(`${what}: the import failed ${runs} times: ${run.status}`);
        importAgain();
        run = lastRun();
        runs++;
        seconds += run.seconds;
        imported += run.ok
            ? importedNumber(run.status)
            : Number(/(\d+) message\(s\) imported/.exec(run.status)?.[1] ?? 0);
    }
    if (runs > 1) note(`${what}: done in ${runs} runs`);
    return { seconds, imported, runs };
}

/** Wait for the first run (the import step starts it without waiting) to end: bob's status says ok or failed. */
async function importDone(timeoutMs: number): Promise<void> {
    const start = Date.now();
    for (;;) {
        const status = ssh("mailstack-import status").stdout.trim();
        const active = ssh("systemctl is-active mailstack-import.service", { allowFail: true }).stdout.trim();
        if (/^\S+ (ok|failed) /.test(status) && active !== "activating") return;
        if (Date.now() - start > timeoutMs) throw new Error(`the import did not end in time: ${status}`);
        await sleep(1000);
    }
}

/** Run the import once more and wait for it. */
function importAgain(): void {
    ssh("systemctl start mailstack-import.service", { timeoutMs: 3_600_000 });
}

const importedNumber = (status: string) => Number(status.split(" ")[3]);

/**
 * `UID SEARCH BODY word` in bob's Archive over IMAPS on the server's loopback: the command's
 * own time (after login and SELECT) and the UIDs it found; `runs` times in one session.
 */
function imapSearch(word: string, runs = 2): { ms: number[]; uids: string } {
    const script = String.raw`
import imaplib, json, ssl, sys, time
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
c = imaplib.IMAP4_SSL("127.0.0.1", 993, ssl_context=ctx)
c.login(sys.argv[1], sys.argv[2])
c.select("Archive", readonly=True)
ms, uids = [], ""
for _ in range(int(sys.argv[4])):
    t = time.monotonic()
    typ, data = c.uid("SEARCH", "BODY", sys.argv[3])
    ms.append((time.monotonic() - t) * 1000)
    if typ != "OK": raise SystemExit("SEARCH: %s %s" % (typ, data))
    uids = data[0].decode()
c.logout()
print(json.dumps({"ms": ms, "uids": uids}))
`;
    const r = ssh(`python3 - ${BOB} '${LAB_PASSWORDS[BOB]}' ${word} ${runs}`, { input: script, timeoutMs: 600_000 });
    return JSON.parse(r.stdout.trim()) as { ms: number[]; uids: string };
}

/** Bytes of the message files (cur/ and new/) and of the flatcurve index of bob's Archive. */
function archiveBytes(): { mail: number; index: number; files: number } {
    const dir = `/srv/mail/vhosts/example.org/bob/Maildir/.Archive`;
    const out = ssh(
        `cd ${dir} && find cur new -type f -printf '%s\\n' | awk '{ s += $1; n++ } END { print s, n }'; du -sb --apparent-size fts-flatcurve | cut -f1`,
    ).stdout.trim();
    const [line, index] = out.split("\n");
    const [mail, files] = line.split(" ").map(Number);
    return { mail, files, index: Number(index) };
}

/** Dovecot with `sed` applied to its config (reloaded), for `fn`; put back (reloaded) afterwards. */
async function withDovecotChanged<T>(sed: string, fn: () => Promise<T>): Promise<T> {
    ssh(`cp -p ${DOVECOT_CONF} ${DOVECOT_CONF}.bench && sed -i '${sed}' ${DOVECOT_CONF} && doveadm reload`);
    await sleep(2000);
    try {
        return await fn();
    } finally {
        ssh(`mv ${DOVECOT_CONF}.bench ${DOVECOT_CONF} && doveadm reload`);
        await sleep(2000);
    }
}

/** Deliver `count` messages to carol over LMTP and wait until the server is quiet; CPU seconds of the container meanwhile. */
async function deliveryCpu(count: number, word: string, indexed: boolean): Promise<{ cpu: number; byDaemon: string }> {
    const before = containerCpu();
    deliverCorpus({ to: CAROL, count, subject: `cpu ${indexed ? "indexed" : "plain"}`, word, rare: [1] });
    if (indexed) await indexedToTheEnd(CAROL, 600_000);
    // The indexer's and the delivery's processes are done; a few seconds for what they left.
    await sleep(3000);
    const seconds = cpuSecondsSince(before);
    const top = Object.entries(seconds)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 4)
        .map(([d, s]) => `${d} ${s.toFixed(1)} s`)
        .join(", ");
    return { cpu: sum(seconds), byDaemon: top };
}

export async function movein(): Promise<void> {
    const n = SIZE.movein;
    // The old provider, emptied (a lab kept after the import check holds its messages), then filled.
    await stopOldProvider();
    await startOldProvider(); // builds its root the first time
    await stopOldProvider();
    emptyOldAccount();
    let t = performance.now();
    const old = seedOldAccount(n.old, "bench-old", { layout: "gmail", body: "real" });
    const seedSeconds = (performance.now() - t) / 1000;
    const oldBytes = old.reduce((s, m) => s + m.bytes, 0);
    put("movein.seed", `old provider: ${n.old} messages written as Maildir files`, "msg/s", n.old / seedSeconds);
    await startOldProvider();
    const expected = (ms: OldMessage[]) => ms.filter((m) => m.folder.ours).length;

    // Bob starts from nothing (a kept lab may have imported into him before).
    ssh(`rm -rf /srv/mail/state/import/${BOB} /srv/mail/vhosts/example.org/bob/Maildir/.Archive`);
    ssh(`doveadm force-resync -u ${BOB} '*'`, { allowFail: true });

    // The first run: the import step starts it; systemd's times say how long it took.
    await provisionImport(true);
    await importDone(3_600_000);
    const first = untilDone(lastRun(), "first import");
    const want = expected(old);
    const firstBytes = old.filter((m) => m.folder.ours).reduce((s, m) => s + m.bytes, 0);
    if (first.imported !== want) throw new Error(`the first import brought ${first.imported} of ${want}`);
    put("movein.import.msgs", `import: first run, ${want} messages (${n.old} there)`, "msg/s", want / first.seconds);
    put(
        "movein.import.mbs",
        `import: first run, ${(firstBytes / MB).toFixed(0)} MB`,
        "MB/s",
        firstBytes / MB / first.seconds,
    );
    put("movein.import.seconds", `import: first run of ${want} messages`, "s", first.seconds);
    put("movein.import.runs", "import: runs the first import took (a failed run is run again)", "runs", first.runs);
    note(
        `import: ${n.old} messages there (${(oldBytes / MB).toFixed(0)} MB, written in ${seedSeconds.toFixed(1)} s), ${want} imported in ${first.seconds.toFixed(1)} s (Starred left out)`,
    );

    // Again, nothing new there.
    importAgain();
    const again = lastRun();
    if (!again.ok || importedNumber(again.status) !== 0) throw new Error(`the run with nothing new: ${again.status}`);
    put("movein.import.nothing", "import: a run with nothing new", "s", again.seconds);

    // All Mail there grows until bob's Archive holds n.mailbox messages, three with a rare word.
    const word = `quokka${Math.random()
        .toString(36)
        .replace(/[^a-z]/g, "")
        .slice(0, 8)}fest`;
    const more = n.mailbox - lastUid(BOB, "Archive");
    const added = seedOldAccount(more, "bench-more", {
        layout: "all-mail",
        body: "real",
        rare: { word, at: [7, Math.floor(more / 2), more - 5] },
    });
    const addedBytes = added.reduce((s, m) => s + m.bytes, 0);
    t = performance.now();
    importAgain();
    const second = untilDone(lastRun(), "later import");
    if (second.imported !== more) throw new Error(`the later import brought ${second.imported} of ${more}`);
    const importEnded = performance.now();
    put("movein.import.more", `import: a later run with ${more} new messages`, "msg/s", more / second.seconds);
    put(
        "movein.import.more.mbs",
        `import: a later run, ${(addedBytes / MB).toFixed(0)} MB`,
        "MB/s",
        addedBytes / MB / second.seconds,
    );

    // Indexed as it was imported: how long after the import's end the index reaches the last UID.
    const stats = await indexedToTheEnd(BOB, 1_800_000, "Archive");
    const lag = (performance.now() - importEnded) / 1000;
    put("movein.index.lag", `index: Archive (${n.mailbox} messages) complete, after the import's end`, "s", lag);
    note(`index: ${JSON.stringify(stats)} ${lag.toFixed(1)} s after the import ended`);

    const withIndex = imapSearch(word);
    const found = withIndex.uids.split(" ").filter(Boolean).length;
    if (found !== 3) throw new Error(`SEARCH BODY with the index found ${found} messages, not 3: ${withIndex.uids}`);
    put(
        "movein.search.index",
        `SEARCH BODY, rare word, ${n.mailbox} messages, with the index (first)`,
        "ms",
        withIndex.ms[0],
    );
    put("movein.search.index.again", "SEARCH BODY with the index (the same again)", "ms", withIndex.ms[1]);

    // Without: the fts plugins out of mail_plugins, so Dovecot reads every message (page cache warm).
    const without = await withDovecotChanged(
        "/^mail_plugins {$/,/^}$/{/^  fts = yes$/d;/^  fts_flatcurve = yes$/d}",
        () => Promise.resolve(imapSearch(word)),
    );
    const foundWithout = without.uids.split(" ").filter(Boolean).length;
    if (foundWithout !== 3) throw new Error(`SEARCH BODY without the index found ${foundWithout}: ${without.uids}`);
    put(
        "movein.search.read",
        `SEARCH BODY, rare word, ${n.mailbox} messages, without the index (first)`,
        "ms",
        without.ms[0],
    );
    put("movein.search.read.again", "SEARCH BODY without the index (the same again)", "ms", without.ms[1]);

    const size = archiveBytes();
    put(
        "movein.index.per.gb",
        `index size per GB of mail (Archive: ${size.files} files, ${(size.mail / MB).toFixed(0)} MB)`,
        "MB",
        size.index / MB / (size.mail / 1e9),
    );
    note(
        `index: ${(size.index / MB).toFixed(1)} MB beside ${(size.mail / MB).toFixed(1)} MB of mail in ${size.files} files`,
    );

    // The CPU of a delivery over LMTP (carol's INBOX, no spam filter on this path) with and without indexing.
    const indexed = await deliveryCpu(n.deliveries, word, true);
    const plain = await withDovecotChanged("s/^fts_autoindex = yes$/fts_autoindex = no/", () =>
        deliveryCpu(n.deliveries, word, false),
    );
    put(
        "movein.delivery.cpu.indexed",
        "LMTP delivery, CPU per message, with indexing (the indexer's included)",
        "ms",
        (indexed.cpu * 1000) / n.deliveries,
    );
    put(
        "movein.delivery.cpu.plain",
        "LMTP delivery, CPU per message, without indexing",
        "ms",
        (plain.cpu * 1000) / n.deliveries,
    );
    put("movein.delivery.cpu.more", "LMTP delivery: CPU with indexing / without", "ratio", indexed.cpu / plain.cpu);
    note(`delivery CPU, indexed: ${indexed.byDaemon}; plain: ${plain.byDaemon}`);

    // Back to the lab's config: no import; the old provider stopped.
    await provisionImport(false);
    await stopOldProvider();
}
