// Sieve (issue 10): ManageSieve on 4190 (STARTTLS before any login), a user's own filter
// and vacation reply, the server's spam rule (Junk before the user's script) and learning
// when the user moves mail into or out of Junk. The messages go to bob, whose mailbox no
// other check reads.
import assert from "node:assert/strict";
import { test } from "node:test";
import { RSPAMD_CONTROLLER, RSPAMD_CONTROLLER_PASSWORD_FILE } from "../../render/host/filter";
import { port } from "../../model";
import {
    eventually,
    imapFetch,
    imapMove,
    rawMessage,
    sendMail,
    sieveAuthPlain,
    sieveCapabilities,
    sieveDialog,
    sievePutScript,
    sinkMessages,
} from "../clients";
import { LAB_PASSWORDS } from "../lab-config";
import { ssh, tag } from "./helpers";

const BOB = "bob@example.org";
const PASS = LAB_PASSWORDS[BOB];
const SIEVE = port("sieve");

/** A message from `from` to bob, as a real client writes it; enough words for rspamd's Bayes. */
function message(from: string, subject: string, extraHeaders: string[] = []): string {
    const body = [
        `Hello Bob, this is ${subject}. The quarterly garden club meeting moves to the library on`,
        "Thursday evening; please bring the seed catalogue, the watering rota and the photographs",
        "from the spring show, and tell Margaret whether the greenhouse repairs are finished.",
    ].join("\r\n");
    return rawMessage({ from, to: BOB, subject, body, extraHeaders });
}

async function toBob(from: string, subject: string, extraHeaders: string[] = []): Promise<void> {
    try {
        await sendMail({ port: 25, from, to: [BOB], raw: message(from, subject, extraHeaders) });
    } catch (e) {
        // rspamd's line for it says why (its symbols and score).
        const line = ssh(`journalctl -u rspamd --no-pager -o cat | grep -F 'id: <${subject}@' || true`).stdout;
        throw new Error(`${(e as Error).message}\nrspamd: ${line}`);
    }
}

/** Wait until a message with this subject is in bob's folder; returns its source. */
async function arrived(subject: string, mailbox = "INBOX"): Promise<string> {
    const [m] = await eventually(async () => {
        const found = await imapFetch(BOB, PASS, { subject, mailbox });
        return found.length > 0 ? found : undefined;
    }, 30_000);
    return m.source;
}

async function countIn(subject: string, mailbox: string): Promise<number> {
    return (await imapFetch(BOB, PASS, { subject, mailbox }).catch(() => [])).length;
}

/** How many messages rspamd's Bayes has learned as spam and as ham (rspamc stat, on the server). */
function learnedCounts(): { spam: number; ham: number } {
    // The controller answers nothing without its password (issue 28); root reads it.
    const stat = ssh(
        `rspamc --connect ${RSPAMD_CONTROLLER} -P "$(cat ${RSPAMD_CONTROLLER_PASSWORD_FILE})" stat`,
    ).stdout;
    const count = (symbol: string) => {
        const m = new RegExp(`Statfile: ${symbol}\\b[^\\n]*learned: (\\d+)`).exec(stat);
        assert.ok(m, `rspamc stat shows no ${symbol} statfile:\n${stat}`);
        return Number(m[1]);
    };
    return { spam: count("BAYES_SPAM"), ham: count("BAYES_HAM") };
}

/**
 * What rspamd's controller learned, by Message-ID: its log line "learned message as spam:
 * <id>" (rspamc stat's counters lag by up to a minute; the log line is written at once).
 */
function learnedAs(subject: string): string[] {
    const log = ssh(
        `journalctl -u rspamd --no-pager -o cat | grep -F 'learned message as ' | grep -F ': ${subject}@' || true`,
    ).stdout;
    return [...log.matchAll(/learned message as (spam|ham): /g)].map((m) => m[1]);
}

/** Deliver a message to bob on the server itself, over Postfix's LMTP socket to Dovecot, as Postfix does. */
function deliverLocally(from: string, raw: string): void {
    const py = [
        "import smtplib, sys",
        "c = smtplib.LMTP('/var/spool/postfix/private/dovecot-lmtp')",
        `c.sendmail('${from}', ['${BOB}'], sys.stdin.buffer.read())`,
        "c.quit()",
    ].join("\n");
    ssh(`python3 -c "${py}"`, { input: raw });
}

void test("ManageSieve on 4190 offers STARTTLS and no login before it, and PLAIN inside TLS", async () => {
    const plain = await sieveDialog(SIEVE, [sieveAuthPlain(BOB, PASS)], { keepGoing: true });
    const before = sieveCapabilities(plain.greeting);
    assert.ok("STARTTLS" in before, JSON.stringify(before));
    assert.equal(before.SASL ?? "", "", `logins offered in clear: ${JSON.stringify(before)}`);
    // One failed login in clear (Dovecot counts it, fail2ban's dovecot jail allows 5 in 10 minutes).
    assert.notEqual(plain.replies[0]?.status, "OK", "a login in clear was accepted");
    const secure = await sieveDialog(SIEVE, [sieveAuthPlain(BOB, PASS)], { starttls: true });
    assert.equal(secure.starttls?.status, "OK");
    assert.match(sieveCapabilities(secure.capabilitiesInTls!).SASL ?? "", /\bPLAIN\b/);
    assert.equal(secure.replies[0]?.status, "OK", JSON.stringify(secure.replies));
});

void test("A filter bob uploads over ManageSieve files mail into its folder; its vacation reply goes once per sender, never to a list", async () => {
    const folderTag = tag("sieve-folder");
    const script = [
        'require ["fileinto", "mailbox", "vacation"];',
        `if header :contains "Subject" "${folderTag}" {`,
        '    fileinto :create "Garden";',
        "    stop;",
        "}",
        'vacation :days 1 :subject "Away until Monday" "I am away until Monday and read mail then.";',
        "",
    ].join("\r\n");
    const started = Date.now();
    const upload = await sieveDialog(
        SIEVE,
        [sieveAuthPlain(BOB, PASS), sievePutScript("holiday", script), 'SETACTIVE "holiday"', "LISTSCRIPTS"],
        { starttls: true },
    );
    assert.deepEqual(
        upload.replies.map((r) => r.status),
        ["OK", "OK", "OK", "OK"],
        JSON.stringify(upload.replies),
    );
    assert.deepEqual(upload.replies[3].lines, ['"holiday" ACTIVE']);
    try {
        // Into its folder, and no vacation reply (the script stops first).
        const filed = tag("filed");
        await toBob(`${tag("gardener")}@sink.test`, `${folderTag} ${filed}`);
        await arrived(filed, "Garden");
        assert.equal(await countIn(filed, "INBOX"), 0);

        // Two messages from one sender: one reply, from bob, to the envelope sender, marked auto-replied.
        const someone = `${tag("someone")}@sink.test`;
        const first = tag("away-1");
        const second = tag("away-2");
        await toBob(someone, first);
        await arrived(first);
        await toBob(someone, second);
        await arrived(second);
        // A list's message never gets one.
        const list = tag("list");
        const news = `${tag("news")}@sink.test`;
        await toBob(news, list, ["List-Id: <garden.sink.test>", "Precedence: list"]);
        await arrived(list);
        const replies = () =>
            sinkMessages().filter((m) => m.raw.includes("Subject: Away until Monday") && m.raw.includes(first));
        const [reply] = await eventually(() => (replies().length > 0 ? replies() : undefined), 60_000);
        assert.deepEqual(reply.rcptTo, [someone]);
        assert.ok(
            !reply.mailFrom,
            `a vacation reply goes with the null sender (RFC 3834), not ${String(reply.mailFrom)}`,
        );
        assert.match(reply.raw, /^Auto-Submitted: auto-replied/im);
        assert.match(reply.raw, /^From: .*bob@example\.org/im);
        // Give a second reply (or one to the list) time to arrive, then count.
        await new Promise((r) => setTimeout(r, 10_000));
        const all = sinkMessages().filter(
            (m) => m.raw.includes("Subject: Away until Monday") && Date.parse(m.receivedAt) >= started,
        );
        assert.deepEqual(
            all.map((m) => m.rcptTo.join(",")),
            [someone],
            `one reply to ${someone}, none to the filed message's sender or ${news} (a list)`,
        );
        // bob's scripts live in his home on the mail volume.
        assert.match(
            ssh("ls -la /srv/mail/vhosts/example.org/bob/").stdout,
            /\.dovecot\.sieve -> sieve\/holiday\.sieve/,
        );
    } finally {
        const off = await sieveDialog(SIEVE, [sieveAuthPlain(BOB, PASS), 'SETACTIVE ""', 'DELETESCRIPT "holiday"'], {
            starttls: true,
        });
        assert.deepEqual(
            off.replies.map((r) => r.status),
            ["OK", "OK", "OK"],
        );
    }
});

void test("Mail rspamd marked as spam (X-Spam-Status: Yes) goes to Junk, before the user's own script", async () => {
    // rspamd's add_header verdict, as Postfix hands it to Dovecot after the milter. (From
    // outside, an X-Spam-Status the message arrives with is replaced by rspamd's own, see
    // filter.test.ts; rspamd also scores it, SPAM_FLAG, so it is greylisted first.)
    const junked = tag("junked");
    const sender = `${tag("sender")}@sink.test`;
    deliverLocally(sender, message(sender, junked, ["X-Spam-Status: Yes, score=9.10"]));
    await arrived(junked, "Junk");
    assert.equal(await countIn(junked, "INBOX"), 0);
});

void test("Moving a message into Junk teaches rspamd it is spam; moving one out of Junk teaches it ham", async () => {
    const log = () => ssh("journalctl -u rspamd -u dovecot --no-pager -o cat -n 60").stdout;
    const before = learnedCounts();
    const spam = tag("learn-spam");
    const sender = `${tag("learner")}@sink.test`;
    await toBob(sender, spam);
    await arrived(spam);
    assert.deepEqual(learnedAs(spam), []);
    assert.equal(await imapMove(BOB, PASS, { subject: spam, from: "INBOX", to: "Junk" }), 1);
    await eventually(() => learnedAs(spam).length > 0, 20_000).catch(() => undefined);
    assert.deepEqual(learnedAs(spam), ["spam"], log());

    const ham = tag("learn-ham");
    deliverLocally(sender, message(sender, ham, ["X-Spam-Status: Yes, score=7.00"]));
    await arrived(ham, "Junk");
    assert.equal(await imapMove(BOB, PASS, { subject: ham, from: "Junk", to: "INBOX" }), 1);
    await eventually(() => learnedAs(ham).length > 0, 20_000).catch(() => undefined);
    assert.deepEqual(learnedAs(ham), ["ham"], log());
    // Out of Junk into Trash is tidying up, not a verdict: nothing more is learned.
    assert.equal(await imapMove(BOB, PASS, { subject: spam, from: "Junk", to: "Trash" }), 1);
    await arrived(spam, "Trash");
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(learnedAs(spam), ["spam"], log());
    // And Bayes counts them (rspamc stat catches up within a minute).
    const want = { spam: before.spam + 1, ham: before.ham + 1 };
    let counts = before;
    await eventually(() => {
        counts = learnedCounts();
        return counts.spam >= want.spam && counts.ham >= want.ham;
    }, 90_000).catch(() => undefined);
    assert.deepEqual(counts, want);
});
