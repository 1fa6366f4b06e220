import assert from "node:assert/strict";
import { test } from "node:test";
import { authPlain, eventually, imapFetch, sendMail, sinkMessages, smtpDialog } from "../clients";
import { LAB_PASSWORDS } from "../lab-config";
import { tag } from "./helpers";

const ALICE = { user: "alice@example.org", pass: LAB_PASSWORDS["alice@example.org"] };

void test("Alice sends through 587 with STARTTLS and AUTH: mail to an outside address leaves through the sink", async () => {
    const subject = tag("sub");
    await sendMail({ port: 587, auth: ALICE, from: ALICE.user, to: ["friend@sink.test"], subject });
    const msg = await eventually(() => sinkMessages().find((m) => m.raw.includes(subject)), 30_000);
    assert.deepEqual(msg.rcptTo, ["friend@sink.test"]);
    assert.equal(msg.mailFrom, ALICE.user);
});

void test("Alice sends through 587 to a local mailbox and bob reads it over IMAPS", async () => {
    const subject = tag("sub");
    await sendMail({ port: 587, auth: ALICE, from: ALICE.user, to: ["bob@example.org"], subject });
    assert.ok(
        await eventually(
            async () => (await imapFetch("bob@example.org", LAB_PASSWORDS["bob@example.org"], { subject })).length > 0,
        ),
    );
});

void test("Port 587 offers AUTH only after STARTTLS and refuses AUTH before it", async () => {
    const plain = await smtpDialog(587, ["EHLO client.sink.test", authPlain(ALICE.user, ALICE.pass)], {
        keepGoing: true,
    });
    assert.equal(plain.replies[0].code, 250);
    assert.ok(
        plain.replies[0].lines.includes("STARTTLS"),
        `STARTTLS not offered: ${plain.replies[0].lines.join(", ")}`,
    );
    assert.deepEqual(
        plain.replies[0].lines.filter((l) => /^AUTH\b/i.test(l)),
        [],
    );
    assert.ok(
        plain.replies[1].code >= 500,
        `AUTH before STARTTLS answered ${plain.replies[1].code} ${plain.replies[1].lines.join(" ")}`,
    );
    const secure = await smtpDialog(587, ["EHLO client.sink.test"], { starttls: true });
    assert.match(secure.replies[2].lines.join("\n"), /^AUTH\b.*\bPLAIN\b/m);
});

void test("A wrong password on 587 fails with 535 and the mail is not accepted", async () => {
    const r = await smtpDialog(587, ["EHLO client.sink.test", authPlain(ALICE.user, "not-alices-password")], {
        starttls: true,
        keepGoing: true,
    });
    assert.equal(r.replies[3].code, 535, r.replies[3].lines.join(" "));
    await assert.rejects(
        sendMail({
            port: 587,
            auth: { user: ALICE.user, pass: "not-alices-password" },
            from: ALICE.user,
            to: ["bob@example.org"],
            subject: tag("sub"),
        }),
        /535|auth/i,
    );
});

/** Alice logs in on 587 and tries an envelope sender; the replies to MAIL FROM and RCPT TO. */
async function aliceTriesSender(sender: string) {
    const r = await smtpDialog(
        587,
        [
            "EHLO client.sink.test",
            authPlain(ALICE.user, ALICE.pass),
            `MAIL FROM:<${sender}>`,
            "RCPT TO:<friend@sink.test>",
        ],
        { starttls: true, keepGoing: true },
    );
    assert.equal(r.replies[3].code, 235, `AUTH: ${r.replies[3].lines.join(" ")}`);
    return r;
}

void test("Alice cannot send as bob: the sender address of another user is refused with 553", async () => {
    const r = await aliceTriesSender("bob@example.org");
    const refused = r.replies.slice(4).find((x) => x.code >= 500);
    assert.ok(
        refused,
        `MAIL/RCPT as bob accepted: ${r.replies
            .slice(4)
            .map((x) => x.code)
            .join(", ")}`,
    );
    assert.equal(refused.code, 553, refused.lines.join(" "));
    assert.match(refused.lines.join(" "), /not owned by user/i);
    await assert.rejects(
        sendMail({ port: 587, auth: ALICE, from: "bob@example.org", to: ["friend@sink.test"], subject: tag("sub") }),
        /553/,
    );
});

void test("Alice cannot hide behind the null sender: MAIL FROM:<> after login is refused with 554", async () => {
    const r = await aliceTriesSender("");
    assert.equal(
        r.replies[5]?.code,
        554,
        `RCPT after MAIL FROM:<> answered ${r.replies[5]?.code} ${r.replies[5]?.lines.join(" ")}`,
    );
    assert.match(r.replies[5].lines.join(" "), /own address/);
});

void test("Alice cannot use an address she does not own as envelope sender: another domain's mailbox, an alias of someone else, an alias forwarding outside, a foreign address (553)", async () => {
    const accepted: string[] = [];
    for (const sender of ["carol@example.net", "postmaster@example.net", "fwd@example.net", "friend@sink.test"]) {
        const r = await aliceTriesSender(sender);
        const refused = r.replies.slice(4).find((x) => x.code >= 500);
        if (refused?.code !== 553)
            accepted.push(
                `${sender}: ${r.replies
                    .slice(4)
                    .map((x) => `${x.code} ${x.lines.join(" ")}`)
                    .join(" / ")}`,
            );
    }
    assert.deepEqual(accepted, [], "senders not refused with 553");
});

void test("Alice may send with an alias that reaches her as envelope sender: mail from info@example.org leaves through the sink unchanged", async () => {
    const subject = tag("sub");
    await sendMail({ port: 587, auth: ALICE, from: "info@example.org", to: ["friend@sink.test"], subject });
    const msg = await eventually(() => sinkMessages().find((m) => m.raw.includes(subject)), 30_000);
    assert.equal(msg.mailFrom, "info@example.org");
});

void test("Port 587 refuses mail without a login, after STARTTLS too: not for a local mailbox, not for outside, whatever the sender", async () => {
    const accepted: string[] = [];
    for (const sender of ["alice@example.org", "someone@sink.test"]) {
        for (const rcpt of ["bob@example.org", "friend@sink.test"]) {
            const r = await smtpDialog(587, ["EHLO client.sink.test", `MAIL FROM:<${sender}>`, `RCPT TO:<${rcpt}>`], {
                starttls: true,
                keepGoing: true,
            });
            assert.ok(r.tlsProtocol, "no TLS after STARTTLS");
            // replies: EHLO, STARTTLS, EHLO (in TLS), MAIL, RCPT
            const refused = r.replies.slice(3).find((x) => x.code >= 500);
            if (!refused)
                accepted.push(
                    `${sender} -> ${rcpt}: ${r.replies
                        .slice(3)
                        .map((x) => x.code)
                        .join(", ")}`,
                );
        }
    }
    assert.deepEqual(accepted, [], "accepted on 587 without AUTH");
});

void test("Alice may put only her own addresses in From: (what DKIM signs for): bob's and carol's are refused with 550", async () => {
    const send = (fromHeader: string) =>
        sendMail({
            port: 587,
            auth: ALICE,
            from: ALICE.user,
            to: ["friend@sink.test"],
            raw: `From: ${fromHeader}\r\nTo: friend@sink.test\r\nSubject: ${tag("sub")}\r\n\r\nfrom check\r\n`,
        });
    await assert.rejects(
        send("Bob <bob@example.org>"),
        /550 5\.7\.1 From: bob@example\.org is not an address of alice@example\.org/,
    );
    await assert.rejects(send("carol@example.net"), /550/);
    await assert.rejects(send("alice@example.org, carol@example.net"), /550/);
    // Her own address and an alias that reaches her are fine.
    await send('"Alice" <alice@example.org>');
    await send("info@example.org");
});

void test("Port 465 with implicit TLS sends: carol receives alice's message", async () => {
    const subject = tag("sub");
    const r = await smtpDialog(465, ["EHLO client.sink.test"], { implicitTls: true });
    assert.ok(r.tlsProtocol, "no TLS on 465");
    assert.match(r.replies[0].lines.join("\n"), /^AUTH\b/m);
    await sendMail({ port: 465, auth: ALICE, from: ALICE.user, to: ["carol@example.net"], subject });
    assert.ok(
        await eventually(
            async () =>
                (await imapFetch("carol@example.net", LAB_PASSWORDS["carol@example.net"], { subject })).length > 0,
        ),
    );
});

void test("Carol sends through 465 with implicit TLS to an outside address: it leaves through the sink", async () => {
    const subject = tag("sub");
    const carol = { user: "carol@example.net", pass: LAB_PASSWORDS["carol@example.net"] };
    await sendMail({ port: 465, auth: carol, from: carol.user, to: ["friend@sink.test"], subject });
    const msg = await eventually(() => sinkMessages().find((m) => m.raw.includes(subject)), 30_000);
    assert.deepEqual(msg.rcptTo, ["friend@sink.test"]);
    assert.equal(msg.mailFrom, carol.user);
});
