// rspamd on port 25 (issue 10): spam and forgeries refused at SMTP, our own
// Authentication-Results on what is delivered, forged ones removed, thresholds from config.
import assert from "node:assert/strict";
import { test } from "node:test";
import { rspamdActions } from "../../render/host/filter";
import { eventually, imapFetch, rawMessage, sendMail, smtpDialog } from "../clients";
import { labSpec, LAB_PASSWORDS } from "../lab-config";
import { NET, ssh, tag } from "./helpers";

const ALICE = "alice@example.org";
/** The standard anti-spam test string (GTUBE): rspamd's reject action, whatever the score. */
const GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/** A complete message from `from` to alice, with the headers a real client writes. */
function message(from: string, subject: string, body: string, extraHeaders: string[] = []): string {
    return rawMessage({ from, to: ALICE, subject, body, extraHeaders });
}

/** The SMTP dialog of one message on port 25 from the lab's client; every reply, in order. */
async function offer(from: string, raw: string) {
    const { replies } = await smtpDialog(
        25,
        ["EHLO client.sink.test", `MAIL FROM:<${from}>`, `RCPT TO:<${ALICE}>`, "DATA", `${raw}\r\n.`],
        { keepGoing: true },
    );
    return replies.map((r) => ({ code: r.code, text: r.lines.join(" ") }));
}

/** Whether a message with this subject is anywhere in alice's Maildir. */
function inAlicesMaildir(subject: string): boolean {
    const dir = "/srv/mail/vhosts/example.org/alice/Maildir";
    return ssh(`grep -rlsF -- 'Subject: ${subject}' ${dir} || true`).stdout.trim() !== "";
}

/** The values of every header `name` of a raw message (unfolded). */
function headers(source: string, name: string): string[] {
    const head = source.split(/\r?\n\r?\n/)[0].replace(/\r?\n[ \t]+/g, " ");
    const re = new RegExp(`^${name}:\\s*(.*)$`, "gim");
    return [...head.matchAll(re)].map((m) => m[1].trim());
}

void test("A GTUBE message on port 25 is refused with 5xx at the end of DATA and never reaches the mailbox", async () => {
    const subject = tag("gtube");
    const replies = await offer("someone@sink.test", message("someone@sink.test", subject, GTUBE));
    // EHLO, MAIL, RCPT, DATA (354), end of data
    assert.deepEqual(
        replies.slice(1, 4).map((r) => r.code),
        [250, 250, 354],
        JSON.stringify(replies),
    );
    const end = replies[4];
    assert.ok(end.code >= 500 && end.code < 600, `end of DATA answered ${end.code} ${end.text}`);
    assert.equal(inAlicesMaildir(subject), false);
});

void test("Mail forging bank.test, whose DMARC is p=reject and whose SPF does not allow the lab's client, is refused at SMTP", async () => {
    const subject = tag("forged");
    const replies = await offer("security@bank.test", message("security@bank.test", subject, "Please log in."));
    const end = replies[4];
    assert.ok(end?.code >= 500 && end.code < 600, `end of DATA answered ${JSON.stringify(replies)}`);
    // rspamd refused it for DMARC, not for its score.
    const log = ssh(`journalctl -u rspamd --no-pager -o cat | grep -F '${subject}' || true`).stdout;
    assert.match(log, /DMARC_POLICY_REJECT/, log);
    assert.equal(inAlicesMaildir(subject), false);
});

void test("Mail from an address a blocklist lists (Spamhaus SBL and XBL, in the lab's DNS) scores between junk and reject, and is greylisted with 4xx on its first try", async () => {
    const subject = tag("listed");
    const { replies } = await smtpDialog(
        25,
        [
            "EHLO client.sink.test",
            "MAIL FROM:<someone@sink.test>",
            `RCPT TO:<${ALICE}>`,
            "DATA",
            `${message("someone@sink.test", subject, "Cheap watches.")}\r\n.`,
        ],
        { keepGoing: true, localAddress: NET.listed4 },
    );
    const end = replies[4];
    assert.ok(end?.code >= 400 && end.code < 500, `end of DATA answered ${JSON.stringify(replies)}`);
    const line = ssh(`journalctl -u rspamd --no-pager -o cat | grep -F 'id: <${subject}@' || true`).stdout;
    assert.match(line, /RBL_SPAMHAUS_SBL\(4\.00\)\{198\.51\.100\.99:from;\}/, line);
    assert.match(line, /RBL_SPAMHAUS_XBL\(4\.00\)/, line);
    const score = Number(/\[(-?\d+\.\d+)\/\d+\.\d+\]/.exec(line)?.[1] ?? NaN);
    const { junk, reject } = labSpec().spamFilter;
    assert.ok(score >= Number(junk) && score < Number(reject), `score ${score}, junk ${junk}, reject ${reject}`);
    assert.equal(inAlicesMaildir(subject), false);
});

void test("Ordinary mail from sink.test lands in alice's INBOX with one Authentication-Results header, ours, showing spf=pass", async () => {
    const subject = tag("clean");
    await sendMail({
        port: 25,
        from: "someone@sink.test",
        to: [ALICE],
        raw: message("someone@sink.test", subject, "Hello."),
    });
    const [msg] = await eventually(async () => {
        const found = await imapFetch(ALICE, LAB_PASSWORDS[ALICE], { subject });
        return found.length > 0 ? found : undefined;
    });
    const ar = headers(msg.source, "Authentication-Results");
    assert.equal(ar.length, 1, `Authentication-Results: ${JSON.stringify(ar)}`);
    assert.match(ar[0], /^mail\.example\.org;/, ar[0]);
    assert.match(ar[0], /\bspf=pass\b[^;]*smtp\.mailfrom=(?:someone@)?sink\.test/, ar[0]);
    assert.match(headers(msg.source, "X-Spam-Status")[0] ?? "", /^No, score=/);
    // rspamd's own line for it: scanned in well under a second (no DNS lookup waiting for a timeout).
    const line = ssh(`journalctl -u rspamd --no-pager -o cat | grep -F 'id: <${subject}@' || true`).stdout.trim();
    const ms = Number(/time: (\d+(?:\.\d+)?)ms/.exec(line)?.[1] ?? NaN);
    if (!(ms < 2000)) {
        const waits = ssh(
            "journalctl -u rspamd --no-pager -o cat | grep -iE 'timeout|timed out|error|cannot' | tail -n 25 || true",
        ).stdout;
        assert.fail(`scan time ${ms} ms: ${line}\nrspamd's complaints:\n${waits}`);
    }
});

void test("An Authentication-Results header that arrives from outside claiming our host name is removed; only ours remains", async () => {
    const subject = tag("forged-ar");
    const forged = [
        "Authentication-Results: mail.example.org; dkim=pass header.d=bank.test; dmarc=pass header.from=bank.test",
        "Authentication-Results: elsewhere.test; spf=pass smtp.mailfrom=bank.test",
    ];
    await sendMail({
        port: 25,
        from: "someone@sink.test",
        to: [ALICE],
        raw: message("someone@sink.test", subject, "Trust me.", forged),
    });
    const [msg] = await eventually(async () => {
        const found = await imapFetch(ALICE, LAB_PASSWORDS[ALICE], { subject });
        return found.length > 0 ? found : undefined;
    });
    const ar = headers(msg.source, "Authentication-Results");
    assert.equal(ar.length, 1, `Authentication-Results: ${JSON.stringify(ar)}`);
    assert.match(ar[0], /^mail\.example\.org;/);
    assert.doesNotMatch(ar[0], /bank\.test|elsewhere\.test/, ar[0]);
});

void test("rspamd on the server runs with the stack config's thresholds (reject, junk, greylist)", () => {
    const want = rspamdActions(labSpec().spamFilter);
    const dump = ssh("rspamadm configdump actions").stdout;
    assert.match(dump, new RegExp(`^reject = ${want.reject};$`, "m"), dump);
    assert.match(dump, new RegExp(`^add_header = ${want.junk};$`, "m"), dump);
    assert.match(dump, new RegExp(`^greylist = ${want.greylist};$`, "m"), dump);
});
