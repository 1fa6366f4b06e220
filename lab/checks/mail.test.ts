import assert from "node:assert/strict";
import { test } from "node:test";
import {
    eventually,
    imapFetch,
    pop3Retrieve,
    pop3Session,
    sendMail,
    sinkMessages,
    smtpDialog,
    tcpProbe,
} from "../clients";
import { LAB_PASSWORDS, LAB_SINK_ADDRESS } from "../lab-config";
import { NET, ssh } from "./context";

const tag = () => `lab-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;

void test("Mail from an outside address on port 25 reaches alice's mailbox and a real IMAP client fetches it over 993", async () => {
    const subject = tag();
    await sendMail({ port: 25, from: "someone@sink.test", to: ["alice@example.org"], subject });
    const found = await eventually(
        async () => (await imapFetch("alice@example.org", LAB_PASSWORDS["alice@example.org"], { subject })).length > 0,
    );
    assert.ok(found);
});

// Every local address of the lab's two-domain config and the mailbox it must end in,
// written out by hand (not derived from the spec under test).
const DELIVERY: Record<string, string> = {
    "alice@example.org": "example.org/alice",
    "bob@example.org": "example.org/bob",
    "postmaster@example.org": "example.org/postmaster",
    "info@example.org": "example.org/alice",
    "carol@example.net": "example.net/carol",
    "postmaster@example.net": "example.net/carol",
    // RFC 2142 abuse@ for every domain, and the host name's own addresses.
    "abuse@example.org": "example.org/postmaster",
    "abuse@example.net": "example.net/carol",
    "postmaster@mail.example.org": "example.org/postmaster",
    "abuse@mail.example.org": "example.org/postmaster",
};

void test("Mail from outside on port 25 reaches each mailbox and alias of both domains, abuse@ and the host's postmaster@, as a file in the Maildir on the mail volume", async () => {
    const sent = Object.entries(DELIVERY).map(([rcpt, box]) => ({
        rcpt,
        box,
        subject: `${tag()}-${rcpt.replace(/\W/g, "_")}`,
    }));
    for (const m of sent) await sendMail({ port: 25, from: "someone@sink.test", to: [m.rcpt], subject: m.subject });
    for (const m of sent) {
        const dir = `/srv/mail/vhosts/${m.box}/Maildir`;
        // The file holding this subject, in new/ or cur/ of exactly that mailbox.
        const file = await eventually(() =>
            ssh(`grep -lsF -- 'Subject: ${m.subject}' ${dir}/new/* ${dir}/cur/* || true`).stdout.trim(),
        );
        assert.equal(file.split("\n").length, 1, `${m.rcpt}: ${file}`);
        assert.equal(
            ssh(`findmnt -n -o TARGET -T '${file}'`).stdout.trim(),
            "/srv/mail",
            `${file} is not on the mail volume`,
        );
        // And nowhere else: an alias must not also land in a mailbox of the same name.
        const elsewhere = ssh(
            `grep -rlsF -- 'Subject: ${m.subject}' /srv/mail/vhosts | grep -vF '${dir}/' || true`,
        ).stdout.trim();
        assert.equal(elsewhere, "", `${m.rcpt} also delivered to ${elsewhere}`);
    }
});

void test("Plain-text IMAP (143) and POP3 (110) are closed, so no password crosses the network in clear", async () => {
    for (const port of [143, 110])
        assert.equal(await tcpProbe(port), "refused", `port ${port} answers on ${NET.server4}`);
    const listening = ssh("ss -Hltn").stdout;
    assert.doesNotMatch(listening, /[:\]](110|143)\s/, `a listener on 110 or 143:\n${listening}`);
    // Over TLS on 995, the login itself works (a control for the refusals above).
    const [, user, pass] = await pop3Session(["USER bob@example.org", `PASS ${LAB_PASSWORDS["bob@example.org"]}`]);
    assert.match(user, /^\+OK/);
    assert.match(pass, /^\+OK/);
});

void test("An unknown recipient is rejected with 550 at RCPT", async () => {
    const { replies } = await smtpDialog(
        25,
        ["EHLO client.sink.test", "MAIL FROM:<someone@sink.test>", "RCPT TO:<nobody@example.org>"],
        { keepGoing: true },
    );
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
