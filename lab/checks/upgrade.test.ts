// An upgrade (issue 34): a server deployed by an earlier mailstack (EARLIER_MAILSTACK in
// lab/harness/earlier.ts, its user-data, plan and scripts taken from git history and rendered
// by its own code), used as people use it, then changed by today's plan as a `pulumi up` of
// today's mailstack changes it: the first boot's user-data stays the old one (the stack ignores
// a changed user-data), the host-key step does not run again, every other step runs in the
// plan's order with the same Pulumi config. Nothing may be lost and nothing done by hand.
// Last in the order: it replaces the lab's server by the earlier one on a fresh volume.
import assert from "node:assert/strict";
import * as https from "node:https";
import { after, test } from "node:test";
import { RSPAMD_CONTROLLER, RSPAMD_CONTROLLER_PASSWORD_FILE } from "../../render/host/filter";
import { STATE_VERSION, STATE_VERSION_FILE } from "../../render/host/migrations";
import { PROVISIONING_PLAN } from "../../render/plan/plan";
import { allMailboxes, buildSpec } from "../../model";
import { pebbleRoot } from "../world/acme";
import {
    eventually,
    imapFetch,
    imapMove,
    rawMessage,
    sendMail,
    SERVER,
    sieveAuthPlain,
    sieveDialog,
    sievePutScript,
    sinkMessages,
    withImap,
} from "../clients";
import { removeEarlierTree, renderEarlierMailstack } from "../harness/earlier";
import { readPid, sleep } from "../harness/processes";
import { startSink, stopSink } from "./sink-process";
import { replaceServer } from "../scenarios/replace";
import { LAB_PASSWORDS } from "../lab-config";
import { provision, runSteps } from "../scenarios/provision";
import { isPublicList, showResults, startDoctorLab } from "./doctor-lab";
import { lineDiff, mailboxRecord } from "./mailboxes";
import { ssh, tag } from "./helpers";

const ALICE = "alice@example.org";
const BOB = "bob@example.org";
const CAROL = "carol@example.net";
const pass = (a: string) => LAB_PASSWORDS[a];
/**
 * The config both mailstacks are given (the same Pulumi config): carol's mailbox near its
 * quota, and a backup repository of this server's own (the lab's first server has one at the
 * Storage Box's default path, which refuses a volume it has not seen).
 */
const PATCH = { mailboxQuotas: { "example.net": { carol: "1M" } }, backupPath: "mailstack-upgrade" };

after(async () => {
    removeEarlierTree();
    if (readPid("sink") === undefined) await startSink();
});

/** A message as a real client writes it; enough words for rspamd's Bayes. */
function wordy(from: string, to: string, subject: string, lines = 0): string {
    const body = [
        `Hello, this is ${subject}. The quarterly garden club meeting moves to the library on`,
        "Thursday evening; please bring the seed catalogue, the watering rota and the photographs",
        "from the spring show, and tell Margaret whether the greenhouse repairs are finished.",
        ...Array.from({ length: lines }, (_, i) => `line ${i} of a large attachment, filling the mailbox.`),
    ].join("\r\n");
    return rawMessage({ from, to, subject, body });
}

async function deliver(to: string, subject: string, mailbox = "INBOX", lines = 0): Promise<void> {
    const from = `${tag("upgrade")}@sink.test`;
    await sendMail({ port: 25, from, to: [to], raw: wordy(from, to, subject, lines) });
    await eventually(async () => {
        const found = await imapFetch(to, pass(to), { subject, mailbox });
        return found.length === 1 ? true : undefined;
    }, 30_000);
}

/** What rspamd's Bayes learned (its statistics, as rspamc reads them with or without the controller's password). */
function learned(): { spam: number; ham: number } {
    const stat = ssh(
        `if [ -r ${RSPAMD_CONTROLLER_PASSWORD_FILE} ]; then rspamc --connect ${RSPAMD_CONTROLLER} -P "$(cat ${RSPAMD_CONTROLLER_PASSWORD_FILE})" stat; else rspamc --connect ${RSPAMD_CONTROLLER} stat; fi`,
    ).stdout;
    const count = (symbol: string) =>
        Number(new RegExp(`Statfile: ${symbol}\\b[^\\n]*learned: (\\d+)`).exec(stat)?.[1]);
    return { spam: count("BAYES_SPAM"), ham: count("BAYES_HAM") };
}

/**
 * Every message of the config's mailboxes with UID, UIDVALIDITY, flags and keywords. \Recent
 * is left out: it belongs to a session (the first that sees a message clears it), not the mail.
 */
const mailRecord = (users: readonly string[]) =>
    mailboxRecord(users, { flags: true }).map((l) => l.replace(/\\Recent ?/g, ""));

/** bob's Sieve scripts as files on the volume: the active one and each script's digest. */
const sieveFiles = () =>
    ssh("cd /srv/mail/vhosts/example.org/bob && readlink .dovecot.sieve && sha256sum sieve/*.sieve").stdout;

/**
 * Roundcube's database (the file its config names, as Roundcube finds it) and its users with
 * their saved preferences, read-only as root.
 */
const webmailUsers = () =>
    ssh(
        `php -r 'include "/etc/roundcube/config.inc.php"; $f = preg_replace("#^sqlite:///([^?]*).*#", "$1", $config["db_dsnw"]); echo $f, "\n"; $d = new PDO("sqlite:$f", null, null, [PDO::SQLITE_ATTR_OPEN_FLAGS => PDO::SQLITE_OPEN_READONLY]); foreach ($d->query("SELECT user_id, username, preferences FROM users ORDER BY user_id") as $r) echo $r[0], " ", $r[1], " ", $r[2], "\n";'`,
    ).stdout;

/** carol's quota from Dovecot: STORAGE used and limit in KiB. */
function carolQuota(): { used: number; limit: number } {
    const line = ssh(`doveadm -f tab quota get -u ${CAROL} | grep -P '\\tSTORAGE\\t'`).stdout.trim().split("\t");
    return { used: Number(line[2]), limit: Number(line[3]) };
}

/** The backup repository's id and its snapshots (each with the snapshot restic based it on). */
function backupRepository(): { id: string; snapshots: { id: string; parent?: string }[] } {
    const config = JSON.parse(ssh("mailstack-backup restic cat config").stdout) as { id: string };
    const snapshots = JSON.parse(ssh("mailstack-backup restic snapshots --json").stdout) as {
        id: string;
        parent?: string;
    }[];
    return { id: config.id, snapshots: snapshots.map((s) => ({ id: s.id, parent: s.parent })) };
}

// A browser's requests to Roundcube, over verified TLS to the lab server's address.
type Jar = Map<string, string>;
async function webmail(
    jar: Jar,
    method: "GET" | "POST",
    url: string,
    form?: Record<string, string>,
): Promise<{ status: number; body: string; location?: string }> {
    const ca = await pebbleRoot();
    const body = form ? new URLSearchParams(form).toString() : undefined;
    return new Promise((resolve, reject) => {
        const req = https.request(
            {
                host: SERVER,
                servername: "mail.example.org",
                path: url,
                method,
                ca,
                headers: {
                    host: "mail.example.org",
                    cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; "),
                    ...(body
                        ? {
                              "content-type": "application/x-www-form-urlencoded",
                              "content-length": Buffer.byteLength(body),
                          }
                        : {}),
                },
            },
            (res) => {
                for (const c of [res.headers["set-cookie"] ?? []].flat()) {
                    const [kv] = c.split(";");
                    const i = kv.indexOf("=");
                    const value = kv.slice(i + 1);
                    if (value === "-del-" || value === "") jar.delete(kv.slice(0, i));
                    else jar.set(kv.slice(0, i), value);
                }
                let text = "";
                res.setEncoding("utf8").on("data", (d: string) => (text += d));
                res.on("end", () =>
                    resolve({ status: res.statusCode ?? 0, body: text, location: res.headers.location }),
                );
            },
        );
        req.on("error", reject);
        req.end(body);
    });
}

/** The request token a Roundcube page carries (its forms' hidden _token, or rcmail's env). */
function requestToken(page: string): string {
    const t = /name="_token" value="([^"]+)"/.exec(page)?.[1] ?? /"request_token":"([^"]+)"/.exec(page)?.[1];
    assert.ok(t, `no request token in the page: ${page.slice(0, 300)}`);
    return t;
}

/** alice logs in to the webmail; returns her session's cookies. */
async function webmailLogin(): Promise<Jar> {
    const jar: Jar = new Map();
    const page = await webmail(jar, "GET", "/");
    const r = await webmail(jar, "POST", "/?_task=login", {
        _token: requestToken(page.body),
        _task: "login",
        _action: "login",
        _timezone: "Europe/Berlin",
        _url: "",
        _user: ALICE,
        _pass: pass(ALICE),
    });
    assert.equal(r.status, 302, `webmail login: ${r.status} ${r.body.slice(0, 300)}`);
    assert.match(r.location ?? "", /_task=mail/);
    return jar;
}

/** alice's settings, as she saves them on Roundcube's Preferences > User Interface page. */
async function webmailSaveSettings(jar: Jar): Promise<void> {
    const page = await webmail(jar, "GET", "/?_task=settings&_action=edit-prefs&_section=general&_framed=1");
    assert.equal(page.status, 200);
    const r = await webmail(jar, "POST", "/?_task=settings&_action=save-prefs", {
        _token: requestToken(page.body),
        _section: "general",
        _framed: "1",
        _timezone: "Pacific/Auckland",
        _date_format: "d.m.Y",
        _time_format: "H:i",
        _refresh_interval: "5",
    });
    assert.equal(r.status, 200, `saving the settings: ${r.status}`);
}

void test("A server deployed by an earlier mailstack and used for mail, filters, webmail settings, learning, a queue and a backup is upgraded by today's plan with nothing lost and nothing done by hand", async () => {
    // The earlier mailstack's server, on a fresh volume, exactly as that commit deployed it.
    const earlier = renderEarlierMailstack(PATCH);
    const boot = await replaceServer({
        freshVolume: true,
        firstBoot: { userData: earlier.userData, hostname: earlier.hostname },
        provisionIt: () => runSteps(earlier.steps),
    });
    assert.ok([0, 2].includes(boot.cloudInit.status), `cloud-init of ${earlier.commit}: ${boot.cloudInit.long}`);
    assert.ok(boot.provisioning.ok, `provisioning by ${earlier.commit}: ${boot.provisioning.detail}`);
    // What the upgrade crosses: no state version yet, Dovecot's count quota.
    assert.equal(ssh(`cat ${STATE_VERSION_FILE} 2>/dev/null || echo none`).stdout.trim(), "none");
    assert.match(ssh("cat /etc/dovecot/dovecot.conf").stdout, /^\s+driver = count$/m);

    // Mail in several mailboxes and folders, with flags and a keyword set by a mail client.
    const subjects = { a1: tag("a1"), a2: tag("a2"), a3: tag("a3"), b1: tag("b1") };
    for (const s of [subjects.a1, subjects.a2, subjects.a3]) await deliver(ALICE, s);
    await deliver(BOB, subjects.b1);
    await withImap(ALICE, pass(ALICE), async (c) => {
        await c.mailboxCreate("Projects");
        await c.mailboxOpen("INBOX");
        const uid = async (subject: string) => {
            const found = await c.search({ subject }, { uid: true });
            assert.ok(found && found.length === 1, `alice's ${subject}: ${JSON.stringify(found)}`);
            return found[0];
        };
        const a1 = await uid(subjects.a1);
        const a2 = await uid(subjects.a2);
        await c.messageFlagsAdd(String(a1), ["\\Seen", "\\Flagged", "$Important"], { uid: true });
        await c.messageFlagsAdd(String(a2), ["\\Seen", "\\Answered"], { uid: true });
        await c.messageMove(String(a2), "Projects", { uid: true });
    });
    // bob's own Sieve filter, uploaded over ManageSieve; it files mail already.
    const filterTag = tag("receipt");
    const script = `require ["fileinto", "mailbox"];\r\nif header :contains "Subject" "${filterTag}" {\r\n    fileinto :create "Receipts";\r\n}\r\n`;
    const up = await sieveDialog(
        4190,
        [sieveAuthPlain(BOB, pass(BOB)), sievePutScript("receipts", script), 'SETACTIVE "receipts"'],
        { starttls: true },
    );
    assert.deepEqual(
        up.replies.map((r) => r.status),
        ["OK", "OK", "OK"],
        JSON.stringify(up.replies),
    );
    await deliver(BOB, `${filterTag} ${tag("first")}`, "Receipts");
    // Spam learned from bob moving a message into Junk (IMAPSieve hands it to rspamd).
    const spamSubject = tag("learned-spam");
    await deliver(BOB, spamSubject);
    const learnedBefore = learned();
    assert.equal(await imapMove(BOB, pass(BOB), { subject: spamSubject, from: "INBOX", to: "Junk" }), 1);
    await eventually(() => (learned().spam > learnedBefore.spam ? true : undefined), 30_000);
    // carol near her quota (1M): the 80% warning arrives.
    await deliver(CAROL, tag("fill"), "INBOX", 16_000);
    await eventually(async () => {
        const w = await imapFetch(CAROL, pass(CAROL), { subject: "Your mailbox is 80% full" });
        return w.length > 0 ? true : undefined;
    }, 30_000);
    // alice's webmail settings, saved in Roundcube.
    await webmailSaveSettings(await webmailLogin());
    assert.match(webmailUsers(), /Pacific\/Auckland/);
    // A backup.
    ssh("systemctl start mailstack-backup.service", { timeoutMs: 300_000 });

    const queuedSubject = tag("queued-across-upgrade");
    const users = allMailboxes(buildSpec(earlier.raw)).sort();
    const before = {
        mail: mailRecord(users),
        sieve: sieveFiles(),
        webmail: webmailUsers(),
        learned: learned(),
        quota: carolQuota(),
        backup: backupRepository(),
    };
    assert.ok(before.learned.spam >= 1, JSON.stringify(before.learned));
    assert.ok(before.quota.used > 0.8 * before.quota.limit, JSON.stringify(before.quota));
    assert.equal(before.backup.snapshots.length, 1);
    assert.match(before.mail.join("\n"), /\$Important/);

    // A message for a destination that is down waits in the queue across the upgrade.
    let hostConfig = "";
    await stopSink();
    try {
        await sendMail({
            port: 587,
            auth: { user: ALICE, pass: pass(ALICE) },
            from: ALICE,
            to: ["queued@sink.test"],
            subject: queuedSubject,
            text: "Queued by the earlier mailstack, delivered after the upgrade.\n",
        });
        await eventually(
            () =>
                ssh(`postqueue -j | grep -F queued@sink.test | grep -q '"delay_reason"' && echo yes`, {
                    allowFail: true,
                }).stdout.trim() === "yes",
            60_000,
        );

        // The upgrade: today's plan, the same config, the same code lab/scenarios/provision.ts runs for every lab.
        const upgrade = await provision(buildSpec(earlier.raw));
        assert.ok(upgrade.ok, `today's plan on the earlier server: ${upgrade.detail}`);
        // Every step but host-key (its inputs are unchanged on this server: it never runs again).
        assert.deepEqual(
            upgrade.steps?.map((s) => s.step),
            PROVISIONING_PLAN.map((s) => s.role).filter((r) => r !== "host-key"),
        );
        hostConfig = upgrade.steps!.find((s) => s.step === "host-config")!.output;
        assert.match(hostConfig, new RegExp(`state is now version ${STATE_VERSION} \\(was 0\\)`));
        assert.equal(ssh(`cat ${STATE_VERSION_FILE}`).stdout.trim(), String(STATE_VERSION));
        assert.doesNotMatch(ssh("cat /etc/dovecot/dovecot.conf").stdout, /^\s+driver = count$/m);

        // Every message with its UID, UIDVALIDITY, flags and keywords, in its folder.
        const mailAfter = mailRecord(users);
        assert.deepEqual(mailAfter, before.mail, `the mailboxes differ: ${lineDiff(before.mail, mailAfter)}`);
        assert.match(
            ssh("postqueue -j").stdout,
            /queued@sink\.test/,
            "the queued message is not in the queue after the upgrade",
        );
    } finally {
        if (readPid("sink") === undefined) await startSink();
    }

    // The destination is back: the queued message goes out once.
    ssh("postqueue -f");
    await eventually(() => sinkMessages().some((s) => s.raw.includes(`Subject: ${queuedSubject}`)), 60_000);
    await sleep(2000);
    assert.equal(sinkMessages().filter((s) => s.raw.includes(`Subject: ${queuedSubject}`)).length, 1);

    // bob's filter: the same script, active, and it still files mail.
    assert.equal(sieveFiles(), before.sieve);
    await deliver(BOB, `${filterTag} ${tag("after")}`, "Receipts");
    // The webmail: the same users with the same settings, and alice logs in again.
    assert.equal(webmailUsers(), before.webmail);
    await webmailLogin();
    // The spam filter's data: what Bayes learned is still there.
    assert.deepEqual(learned(), before.learned);
    // carol's quota: the same limit, the same mail counted by the new driver.
    const quota = carolQuota();
    assert.equal(quota.limit, before.quota.limit);
    assert.ok(Math.abs(quota.used - before.quota.used) <= 0.02 * before.quota.used, JSON.stringify({ before, quota }));
    // The backup: a new snapshot in the same repository, made on top of the earlier one (which
    // the retention, one snapshot a day, then forgets).
    ssh("systemctl start mailstack-backup.service", { timeoutMs: 300_000 });
    const backup = backupRepository();
    assert.equal(backup.id, before.backup.id, "the backup went to another repository");
    const latest = backup.snapshots.at(-1)!;
    assert.notEqual(latest.id, before.backup.snapshots[0].id, "no new snapshot");
    assert.equal(latest.parent, before.backup.snapshots[0].id, JSON.stringify({ before: before.backup, backup }));

    console.log(
        `upgrade from ${earlier.commit.slice(0, 7)}: ${before.mail.length} mailbox lines kept; host-config: ` +
            `${hostConfig
                .split("\n")
                .filter((l) => l.startsWith("mailstack-migrate"))
                .join("; ")}; learned ` +
            `${JSON.stringify(before.learned)}; carol's quota ${before.quota.used} -> ${quota.used} of ${quota.limit} KiB; ` +
            `backup ${before.backup.snapshots[0].id.slice(0, 8)} -> ${latest.id.slice(0, 8)} in repository ${backup.id.slice(0, 8)}`,
    );

    // Every daemon active, and doctor finds nothing wrong.
    const doctor = await startDoctorLab(buildSpec(earlier.raw));
    try {
        const { status, results } = await doctor.run();
        const bad = results.filter((r) => r.status !== "ok" && !isPublicList(r));
        assert.deepEqual(bad, [], showResults(bad));
        assert.equal(status, 0);
        assert.ok(results.some((r) => r.check === "ssh daemons" && r.status === "ok"));
    } finally {
        doctor.stop();
    }
});
