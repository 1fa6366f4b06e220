// Senders for applications (mailstack:senders, issue 30): the lab's notify@example.org may
// submit on 587 as itself, signed like any mailbox's mail, and do nothing else. Its refused
// logins each come from an address of their own (NET.loginProbes4), at once: Dovecot's delay
// after a failed login grows per address, and fail2ban counts per address. Its own hourly
// limit (mailstack:submissionLimit.senders, 10 in the lab) holds: the eleventh recipient gets
// 450 4.7.1 (its count cleared afterwards).
import assert from "node:assert/strict";
import { test } from "node:test";
import type * as tls from "node:tls";
import { DAV_PATH, port } from "../../model";
import {
    authPlain,
    eventually,
    pop3Session,
    rawMessage,
    sendMail,
    sieveAuthPlain,
    sieveDialog,
    sinkMessages,
    smtpDialog,
} from "../clients";
import { LAB_SENDER, LAB_SENDER_LIMIT, LAB_SENDER_PASSWORDS } from "../lab-config";
import { verify } from "./dkim-verify";
import { NET, ssh, tag } from "./helpers";
import { imapLogin, submissionRcpts } from "./logins";
import { webmailLoginPost, webmailLoginToken, webmailRequest } from "./search";

const SENDER = { user: LAB_SENDER, pass: LAB_SENDER_PASSWORDS[LAB_SENDER] };
const ALICE = "alice@example.org";
const [IMAP_FROM, POP3_FROM, SIEVE_FROM, WEBMAIL_FROM, DAV_FROM, WRONG_FROM] = NET.loginProbes4;

/** Roundcube's login form, filled in from `from`: its HTTP status and page. */
async function webmailLogin(user: string, pass: string, from: string) {
    const jar = new Map<string, string>();
    return webmailLoginPost(jar, await webmailLoginToken(jar, from), user, pass, from);
}

void test("The sender submits on 587 as itself; the outside receives its mail DKIM-signed for example.org", async () => {
    const subject = tag("sender");
    await sendMail({ port: 587, auth: SENDER, from: SENDER.user, to: ["app-user@sink.test"], subject });
    const msg = await eventually(() => sinkMessages().find((m) => m.raw.includes(subject)), 30_000);
    assert.equal(msg.mailFrom, SENDER.user);
    const asked: string[] = [];
    const dkim = await verify(msg.raw, asked, SENDER.user);
    assert.ok(dkim, `no DKIM signature for example.org (asked: ${asked.join(", ")})`);
    assert.equal(dkim.status.result, "pass", JSON.stringify(dkim.status));
});

void test("The sender cannot send as anyone else: another From: is refused after DATA, another envelope sender at MAIL FROM", async () => {
    const to = "app-user@sink.test";
    await assert.rejects(
        sendMail({
            port: 587,
            auth: SENDER,
            from: SENDER.user,
            to: [to],
            raw: rawMessage({ from: ALICE, to, subject: tag("sender-from"), body: "Not mine to send." }),
        }),
        /550 5\.7\.1 From: alice@example\.org is not an address of notify@example\.org/,
    );
    await assert.rejects(
        sendMail({ port: 587, auth: SENDER, from: ALICE, to: [to], subject: tag("sender-envelope") }),
        /553 .*not owned by user notify@example\.org/,
    );
});

void test("The sender's password opens no IMAP, POP3, ManageSieve, webmail or DAV login; a wrong password opens no 587; mail to it is refused", async () => {
    const [imap, pop3, sieve, webmail, dav, wrong, inbound] = await Promise.all([
        imapLogin(SENDER.user, SENDER.pass, IMAP_FROM),
        pop3Session([`USER ${SENDER.user}`, `PASS ${SENDER.pass}`], {
            tlsOptions: { localAddress: POP3_FROM } as tls.ConnectionOptions,
        }),
        sieveDialog(port("sieve"), [sieveAuthPlain(SENDER.user, SENDER.pass)], {
            starttls: true,
            keepGoing: true,
            localAddress: SIEVE_FROM,
        }),
        webmailLogin(SENDER.user, SENDER.pass, WEBMAIL_FROM),
        webmailRequest(new Map(), DAV_PATH, {
            method: "GET",
            headers: { authorization: `Basic ${Buffer.from(`${SENDER.user}:${SENDER.pass}`).toString("base64")}` },
            localAddress: DAV_FROM,
        }),
        smtpDialog(587, ["EHLO client.sink.test", authPlain(SENDER.user, "not-the-senders-password")], {
            starttls: true,
            keepGoing: true,
            localAddress: WRONG_FROM,
        }),
        smtpDialog(
            port("smtp"),
            ["EHLO client.sink.test", "MAIL FROM:<someone@sink.test>", `RCPT TO:<${SENDER.user}>`],
            {
                keepGoing: true,
            },
        ),
    ]);
    // Every probe's verdict at once: a failure names each login that opened.
    const opened = [
        !/^a NO /.test(imap) && `IMAP: ${imap}`,
        !/^-ERR/.test(pop3[2] ?? "") && `POP3: ${pop3.join(" | ")}`,
        sieve.replies[0]?.status !== "NO" && `ManageSieve: ${JSON.stringify(sieve.replies[0])}`,
        (webmail.status === 302 || !/Login failed/i.test(webmail.body)) && `webmail: HTTP ${webmail.status}`,
        dav.status !== 401 && `DAV: HTTP ${dav.status}`,
        wrong.replies[3]?.code !== 535 && `587 with a wrong password: ${JSON.stringify(wrong.replies[3])}`,
        inbound.replies[2]?.code !== 550 && `RCPT TO the sender on 25: ${JSON.stringify(inbound.replies[2])}`,
    ].filter((x): x is string => typeof x === "string");
    assert.deepEqual(opened, []);
});

void test(`The sender's own limit holds: past ${LAB_SENDER_LIMIT} recipients in an hour (mailstack:submissionLimit.senders, the mailboxes' being 300) it gets 450 4.7.1 on 587`, async () => {
    try {
        // The checks above spent some of its hour: every answer is 250 until its limit, 450 after.
        const replies = await submissionRcpts(SENDER, LAB_SENDER_LIMIT + 2, tag("sender-limit"));
        const accepted = replies.findIndex((r) => r.code !== 250);
        assert.ok(
            accepted > 0 && accepted <= LAB_SENDER_LIMIT,
            `${accepted === -1 ? replies.length : accepted} recipients accepted of its limit of ${LAB_SENDER_LIMIT}`,
        );
        for (const r of replies.slice(accepted))
            assert.match(
                `${r.code} ${r.lines.join(" ")}`,
                new RegExp(
                    `^450 4\\.7\\.1 <[^>]+>: Recipient address rejected: notify@example\\.org has sent to ${LAB_SENDER_LIMIT} recipients in the past hour; try again in \\d+ minutes$`,
                ),
            );
    } finally {
        // As it was for the checks after this one (and a run against a kept lab).
        ssh(`mailstack-submission-limit clear ${SENDER.user}`);
    }
});
