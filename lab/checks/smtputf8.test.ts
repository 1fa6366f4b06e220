// Internationalized mail (issue 31, RFC 6531/6532): a message sent with SMTPUTF8, from a UTF-8
// address, with UTF-8 in From: and Subject:, is not penalised for being UTF-8 and lands in the
// INBOX. The same text without SMTPUTF8 (raw 8-bit headers, which RFC 5322 does not allow) is
// scored as before: rspamd's header-encoding rules still count. rspamd learns of SMTPUTF8 from
// the UTF-8 envelope address, which Postfix takes only with SMTPUTF8 (strict_smtputf8).
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, imapFetch, smtpDialog } from "../clients";
import { LAB_PASSWORDS, labSpec } from "../lab-config";
import { ssh, tag } from "./helpers";

const ALICE = "alice@example.org";
const WORDS = "Grüße aus München";

/** A message with raw UTF-8 in From:, To: and Subject: (RFC 6532), its Message-ID from `id`. */
function utf8Message(from: string, id: string): string {
    return [
        `From: Jürgen Müller <${from}>`,
        `To: Alice <${ALICE}>`,
        `Subject: ${WORDS} ${id}`,
        `Message-ID: <${id}@client.sink.test>`,
        `Date: ${new Date().toUTCString()}`,
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        "Hallo Alice,",
        "",
        "viele Grüße aus München, und bis bald im Büro.",
        "Jürgen",
    ].join("\r\n");
}

/** Offer it on port 25 with or without SMTPUTF8; the end-of-DATA reply, and rspamd's line for it. */
async function offer(from: string, id: string, smtputf8: boolean) {
    const { replies } = await smtpDialog(
        25,
        [
            "EHLO client.sink.test",
            `MAIL FROM:<${from}>${smtputf8 ? " SMTPUTF8 BODY=8BITMIME" : " BODY=8BITMIME"}`,
            `RCPT TO:<${ALICE}>`,
            "DATA",
            `${utf8Message(from, id)}\r\n.`,
        ],
        { keepGoing: true },
    );
    assert.deepEqual(
        replies.slice(1, 4).map((r) => r.code),
        [250, 250, 354],
        JSON.stringify(replies),
    );
    const line = await eventually(() =>
        ssh(`journalctl -u rspamd --no-pager -o cat | grep -F 'id: <${id}@' || true`).stdout.trim(),
    );
    const score = Number(/\[(-?\d+\.\d+)\/\d+\.\d+\]/.exec(line)?.[1] ?? NaN);
    return { end: replies[4], line, score };
}

void test("An SMTPUTF8 message from a UTF-8 address with UTF-8 headers is accepted at once (not greylisted), lands in the INBOX with X-Spam-Status: No, and none of rspamd's encoding rules counted", async () => {
    const id = tag("smtputf8");
    const { end, line, score } = await offer("jürgen@sink.test", id, true);
    assert.equal(end?.code, 250, `end of DATA: ${JSON.stringify(end)}\n${line}`);
    assert.match(line, /MAILSTACK_SMTPUTF8/, line);
    assert.doesNotMatch(
        line,
        /\b(FROM_NEEDS_ENCODING|SUBJECT_NEEDS_ENCODING|TO_NEEDS_ENCODING|R_MIXED_CHARSET)\(/,
        line,
    );
    assert.ok(score < Number(labSpec().spamFilter.greylist), `score ${score}: ${line}`);
    const [msg] = await eventually(async () => {
        const found = await imapFetch(ALICE, LAB_PASSWORDS[ALICE], { subject: id });
        return found.length > 0 ? found : undefined;
    }, 30_000);
    assert.match(msg.source, /^X-Spam-Status: No, score=/m, msg.source.slice(0, 2000));
    assert.ok(msg.source.includes(`Subject: ${WORDS} ${id}`), "the subject arrived as UTF-8, unchanged");
    assert.equal((await imapFetch(ALICE, LAB_PASSWORDS[ALICE], { subject: id, mailbox: "Junk" })).length, 0);
});

void test("The same UTF-8 headers without SMTPUTF8 (raw 8-bit, not allowed by RFC 5322) are scored as before: FROM_NEEDS_ENCODING and SUBJECT_NEEDS_ENCODING count", async () => {
    const id = tag("raw8bit");
    const { line, score } = await offer("juergen@sink.test", id, false);
    assert.doesNotMatch(line, /MAILSTACK_SMTPUTF8/, line);
    assert.match(line, /\bFROM_NEEDS_ENCODING\(1\.00\)/, line);
    assert.match(line, /\bSUBJECT_NEEDS_ENCODING\(1\.00\)/, line);
    assert.ok(score >= 1.5, `score ${score}: ${line}`);
});

void test("A UTF-8 envelope address without SMTPUTF8 is refused with 553 5.6.7 (strict_smtputf8), so a UTF-8 address proves SMTPUTF8 to rspamd", async () => {
    const { replies } = await smtpDialog(25, ["EHLO client.sink.test", "MAIL FROM:<jürgen@sink.test>", "RSET"], {
        keepGoing: true,
    });
    assert.equal(replies[1]?.code, 553, JSON.stringify(replies));
    assert.match(replies[1].lines.join(" "), /5\.6\.7/);
});
