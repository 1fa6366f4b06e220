import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, imapFetch, pop3Retrieve, sendMail, sinkMessages, smtpDialog } from "../clients";
import { LAB_PASSWORDS, LAB_SINK_ADDRESS } from "../spec";

const tag = () => `lab-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;

void test("Mail from an outside address on port 25 reaches alice's mailbox and a real IMAP client fetches it over 993", async () => {
    const subject = tag();
    await sendMail({ port: 25, from: "someone@sink.test", to: ["alice@example.org"], subject });
    const found = await eventually(async () => (await imapFetch("alice@example.org", LAB_PASSWORDS["alice@example.org"], { subject })).length > 0);
    assert.ok(found);
});

void test("An unknown recipient is rejected with 550 at RCPT", async () => {
    const { replies } = await smtpDialog(25, ["EHLO client.sink.test", "MAIL FROM:<someone@sink.test>", "RCPT TO:<nobody@example.org>"], { keepGoing: true });
    assert.equal(replies[2].code, 550, replies[2].lines.join(" "));
});

void test("POP3S on 995 retrieves a message delivered to bob", async () => {
    const subject = tag();
    await sendMail({ port: 25, from: "someone@sink.test", to: ["bob@example.org"], subject });
    const got = await eventually(async () => {
        const r = await pop3Retrieve("bob@example.org", LAB_PASSWORDS["bob@example.org"]);
        return r.last?.includes(subject) ? r : undefined;
    });
    assert.ok(got.count >= 1);
});

void test("Mail to an alias with an outside target leaves through the lab's sink with an SRS-rewritten envelope sender", async () => {
    const subject = tag();
    await sendMail({ port: 25, from: "someone@sink.test", to: ["fwd@example.net"], subject });
    const msg = await eventually(() => sinkMessages().find((m) => m.raw.includes(subject)), 30_000);
    assert.deepEqual(msg.rcptTo, [LAB_SINK_ADDRESS]);
    assert.match(String(msg.mailFrom), /^SRS0[=+-]/i);
});
