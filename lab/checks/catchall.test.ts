// Catch-all per domain (issue 31): example.net has `catchAll: carol`, example.org has none.
// Mail to an unknown address of example.net lands in carol's mailbox; listed mailboxes and
// aliases still win; example.org still refuses unknown recipients at RCPT.
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, sendMail, sinkMessages, smtpDialog } from "../clients";
import { LAB_SINK_ADDRESS } from "../lab-config";
import { ssh, tag } from "./helpers";

/** The one Maildir file under /srv/mail/vhosts holding this subject, as a path relative to it ("" when none). */
async function whereDelivered(subject: string, waitMs = 30_000): Promise<string> {
    const deadline = Date.now() + waitMs;
    for (;;) {
        // Messages only (new/ and cur/ of any folder), not Dovecot's index cache of their headers.
        const found = ssh(
            `cd /srv/mail/vhosts && grep -rlsF -- 'Subject: ${subject}' . | grep -E '/(new|cur)/' || true`,
        ).stdout.trim();
        if (found !== "" || Date.now() > deadline) return found;
        await new Promise((r) => setTimeout(r, 500));
    }
}

void test("Mail to an unknown address of a catch-all domain (example.net, catchAll carol) lands in carol's mailbox and nowhere else", async () => {
    const subject = tag("catchall");
    await sendMail({ port: 25, from: "someone@sink.test", to: [`${tag("nobody-listed")}@example.net`], subject });
    const file = await whereDelivered(subject);
    assert.match(file, /^\.\/example\.net\/carol\/Maildir\/(new|cur)\/[^\n]+$/, file);
});

void test("With a catch-all, a listed alias still goes to its target: fwd@example.net leaves for the sink and never reaches carol", async () => {
    const subject = tag("catchall-alias");
    await sendMail({ port: 25, from: "someone@sink.test", to: ["fwd@example.net"], subject });
    const msg = await eventually(() => sinkMessages().find((m) => m.raw.includes(subject)), 30_000);
    assert.deepEqual(msg.rcptTo, [LAB_SINK_ADDRESS]);
    assert.equal(await whereDelivered(subject, 0), "", "the alias's mail also landed in a mailbox");
});

void test("A domain without a catch-all (example.org) still refuses an unknown recipient with 550 at RCPT, while example.net takes one", async () => {
    const { replies } = await smtpDialog(
        25,
        [
            "EHLO client.sink.test",
            "MAIL FROM:<someone@sink.test>",
            "RCPT TO:<nobody-catchall@example.org>",
            "RCPT TO:<nobody-catchall@example.net>",
            "RSET",
        ],
        { keepGoing: true },
    );
    assert.equal(replies[2].code, 550, replies[2].lines.join(" "));
    assert.equal(replies[3].code, 250, replies[3].lines.join(" "));
});
