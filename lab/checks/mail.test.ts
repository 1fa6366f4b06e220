import assert from "node:assert/strict";
import { test } from "node:test";
import {
    eventually,
    imapFetch,
    pop3Retrieve,
    pop3Session,
    sendMail,
    SERVER,
    sinkMessages,
    smtpDialog,
    tcpProbe,
} from "../clients";
import { LAB_PASSWORDS, LAB_SINK_ADDRESS } from "../lab-config";
import { NET, ssh, tag } from "./helpers";

void test("Mail from an outside address on port 25 reaches alice's mailbox and a real IMAP client fetches it over 993", async () => {
    const subject = tag("mail");
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
        subject: `${tag("mail")}-${rcpt.replace(/\W/g, "_")}`,
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
    // The cloud firewall drops them (lab/world/firewall.ts), and nothing listens behind it either.
    for (const port of [143, 110])
        assert.notEqual(
            await tcpProbe(port, SERVER, undefined, 3_000),
            "open",
            `port ${port} answers on ${NET.server4}`,
        );
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
    const subject = tag("mail");
    await sendMail({ port: 25, from: "someone@sink.test", to: ["bob@example.org"], subject });
    const got = await eventually(async () => {
        const r = await pop3Retrieve("bob@example.org", LAB_PASSWORDS["bob@example.org"]);
        return r.last?.includes(subject) ? r : undefined;
    });
    assert.ok(got.count >= 1);
});

void test("Mail to an alias with an outside target leaves through the lab's sink with an SRS-rewritten envelope sender", async () => {
    const subject = tag("mail");
    await sendMail({ port: 25, from: "someone@sink.test", to: ["fwd@example.net"], subject });
    const msg = await eventually(() => sinkMessages().find((m) => m.raw.includes(subject)), 30_000);
    assert.deepEqual(msg.rcptTo, [LAB_SINK_ADDRESS]);
    assert.match(String(msg.mailFrom), /^SRS0[=+-]/i);
});

void test("Mail to alice+tag@example.org (an address extension) reaches alice's mailbox, written by vmail (5000:5000) on the mail volume", async () => {
    const subject = tag("mail");
    await sendMail({ port: 25, from: "someone@sink.test", to: ["alice+lab-tag@example.org"], subject });
    const dir = "/srv/mail/vhosts/example.org/alice/Maildir";
    const file = await eventually(() =>
        ssh(`grep -lsF -- 'Subject: ${subject}' ${dir}/new/* ${dir}/cur/* || true`).stdout.trim(),
    );
    assert.equal(file.split("\n").length, 1, file);
    assert.equal(ssh(`stat -c %u:%g '${file}'`).stdout.trim(), "5000:5000", `${file} is not owned by vmail`);
    assert.equal(ssh(`findmnt -n -o TARGET -T '${file}'`).stdout.trim(), "/srv/mail");
});

void test("Dovecot's LMTP, behind Postfix's own recipient check, refuses an unknown mailbox with 550", () => {
    // On the server, straight to the socket Postfix delivers to: Postfix never lets an
    // unknown recipient get this far, so this is the second line of defence on its own.
    const script = [
        "import smtplib",
        'with smtplib.LMTP("/var/spool/postfix/private/dovecot-lmtp") as l:',
        "    l.ehlo()",
        '    l.mail("someone@sink.test")',
        '    print(l.rcpt("nobody@example.org")[0], l.rcpt("alice@example.org")[0])',
    ].join("\n");
    const [unknown, known] = ssh("python3 -", { input: script }).stdout.trim().split(" ").map(Number);
    assert.equal(unknown, 550, `RCPT TO:<nobody@example.org> answered ${unknown}`);
    assert.equal(known, 250, `RCPT TO:<alice@example.org> (the control) answered ${known}`);
});

void test("The SRS address of a forwarded message is at the host name and takes a bounce, which reaches the original sender", async () => {
    const subject = tag("mail");
    await sendMail({ port: 25, from: "someone@sink.test", to: ["fwd@example.net"], subject });
    const fwd = await eventually(() => sinkMessages().find((m) => m.raw.includes(subject)), 30_000);
    const srs = String(fwd.mailFrom);
    assert.match(srs, /^SRS0=[^@]+@mail\.example\.org$/i);
    // The receiver of the forward bounces it: the null sender, to the SRS address, on port 25.
    const bounce = `${subject}-bounce`;
    const { replies } = await smtpDialog(25, [
        "EHLO relay.sink.test",
        "MAIL FROM:<>",
        `RCPT TO:<${srs}>`,
        "DATA",
        // Headers a real bounce has (RFC 5322 Date and Message-ID): without them rspamd's score
        // reaches the greylisting threshold, and the first try is answered 451.
        `From: MAILER-DAEMON@sink.test\r\nTo: <${srs}>\r\nSubject: ${bounce}\r\nDate: ${new Date().toUTCString()}\r\n` +
            `Message-ID: <${bounce}@relay.sink.test>\r\n\r\nundeliverable\r\n.`,
    ]);
    assert.deepEqual(
        replies.map((r) => r.code),
        [250, 250, 250, 354, 250],
        replies.map((r) => `${r.code} ${r.lines.join(" ")}`).join("\n"),
    );
    const back = await eventually(() => sinkMessages().find((m) => m.raw.includes(bounce)), 30_000);
    assert.deepEqual(back.rcptTo, ["someone@sink.test"]);
});
