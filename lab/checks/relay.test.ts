import assert from "node:assert/strict";
import { test } from "node:test";
import { sinkMessages, smtpDialog } from "../clients";
import { NET, tag } from "./helpers";

/** Recipients that would make the server relay to sink.test (a foreign domain) if it were open. */
const TRICKS = [
    "<x@sink.test>",
    "<X@SINK.TEST>",
    "<x@sink.test.>",
    "<x@[198.51.100.7]>",
    "<user%sink.test@example.org>",
    "<user%sink.test@mail.example.org>",
    "<@example.org:user@sink.test>",
    "<@mail.example.org,@example.net:user@sink.test>",
    '<"user@sink.test"@example.org>',
    '<"user%sink.test"@example.net>',
    "<user!sink.test@example.org>",
    "<sink.test!user@example.org>",
    "<user@sink.test@example.org>",
];
/** Outside sources: both outside IPv4 addresses and the IPv6 one (to the server's IPv6). */
const SOURCES = [
    { localAddress: NET.client4, host: NET.server4 },
    { localAddress: NET.outside4, host: NET.server4 },
    { localAddress: NET.client6, host: NET.server6 },
];
/** An outside sender, one of our own, and the null sender of bounces. */
const SENDERS = ["someone@sink.test", "alice@example.org", ""];

void test("An outside client cannot relay through port 25 to a foreign domain, not even with classic address tricks or over IPv6", async (t) => {
    const marker = tag("relay");
    const sinkBefore = sinkMessages().length;
    let probes = 0;
    const accepted: string[] = [];
    for (const src of SOURCES) {
        for (const from of SENDERS) {
            for (const rcpt of TRICKS) {
                probes++;
                const subject = `${marker}-${probes}`;
                const { greeting, replies } = await smtpDialog(
                    25,
                    [
                        "EHLO client.sink.test",
                        `MAIL FROM:<${from}>`,
                        `RCPT TO:${rcpt}`,
                        "DATA",
                        `From: <${from}>\r\nTo: x@sink.test\r\nSubject: ${subject}\r\n\r\nrelay probe ${subject}\r\n.`,
                    ],
                    src,
                );
                assert.equal(greeting.code, 220, `greeting from ${src.host}`);
                assert.equal(
                    replies[1]?.code,
                    250,
                    `MAIL FROM:<${from}> from ${src.localAddress}: ${replies[1]?.lines.join(" ")}`,
                );
                const rcptReply = replies[2];
                if (!rcptReply || rcptReply.code < 500) {
                    accepted.push(
                        `${src.localAddress} ${from} -> ${rcpt}: ${rcptReply?.code ?? "none"} ${rcptReply?.lines.join(" ") ?? ""}`,
                    );
                }
            }
        }
    }
    // Whatever was accepted must not reach the outside world either (give the queue time).
    await new Promise((r) => setTimeout(r, accepted.length > 0 ? 5000 : 1000));
    const relayed = sinkMessages()
        .slice(sinkBefore)
        .filter((m) => m.raw.includes(marker));
    t.diagnostic(
        `open relay probes: ${probes}, accepted at RCPT: ${accepted.length}, reached the sink: ${relayed.length}`,
    );
    console.log(`open relay: ${probes} probes, ${accepted.length} accepted, ${relayed.length} relayed`);
    assert.ok(probes >= TRICKS.length * SOURCES.length);
    assert.deepEqual(accepted, [], "recipients accepted for a foreign destination (must be 5xx at RCPT)");
    assert.equal(relayed.length, 0, "probe messages reached the sink");
});

void test("Nobody outside can use our domains as sender on port 25 (IPv4 or IPv6); an outside sender gets through", async () => {
    const accepted: string[] = [];
    for (const src of SOURCES) {
        for (const from of ["alice@example.org", "nobody@example.net", "root@mail.example.org"]) {
            const { replies } = await smtpDialog(
                25,
                ["EHLO client.sink.test", `MAIL FROM:<${from}>`, "RCPT TO:<bob@example.org>"],
                src,
            );
            if (replies[2]?.code !== 554)
                accepted.push(`${src.localAddress} ${from}: ${replies[2]?.code} ${replies[2]?.lines.join(" ")}`);
        }
        const control = await smtpDialog(
            25,
            ["EHLO client.sink.test", "MAIL FROM:<someone@sink.test>", "RCPT TO:<bob@example.org>"],
            src,
        );
        assert.equal(
            control.replies[2]?.code,
            250,
            `outside sender from ${src.localAddress}: ${control.replies[2]?.lines.join(" ")}`,
        );
    }
    assert.deepEqual(accepted, [], "our own domains accepted as sender on port 25");
});

void test("Port 25 takes bounces: the null sender reaches a mailbox of each domain and the host's postmaster@ (IPv4 or IPv6)", async () => {
    const refused: string[] = [];
    for (const src of SOURCES) {
        for (const rcpt of ["bob@example.org", "carol@example.net", "postmaster@mail.example.org"]) {
            const { replies } = await smtpDialog(
                25,
                ["EHLO client.sink.test", "MAIL FROM:<>", `RCPT TO:<${rcpt}>`],
                src,
            );
            if (replies[1]?.code !== 250 || replies[2]?.code !== 250)
                refused.push(`${src.localAddress} <> -> ${rcpt}: ${replies.map((r) => r.code).join(", ")}`);
        }
    }
    assert.deepEqual(refused, [], "bounces refused on port 25");
});

void test("Port 25 offers no AUTH, before or after STARTTLS", async () => {
    const plain = await smtpDialog(25, ["EHLO client.sink.test"]);
    assert.equal(plain.replies[0].code, 250);
    assert.ok(
        plain.replies[0].lines.includes("STARTTLS"),
        `STARTTLS not offered: ${plain.replies[0].lines.join(", ")}`,
    );
    assert.deepEqual(
        plain.replies[0].lines.filter((l) => /^AUTH\b/i.test(l)),
        [],
    );
    const secure = await smtpDialog(25, ["EHLO client.sink.test"], { starttls: true });
    assert.ok(secure.tlsProtocol, "no TLS after STARTTLS");
    assert.equal(secure.replies[2].code, 250);
    assert.deepEqual(
        secure.replies[2].lines.filter((l) => /^AUTH\b/i.test(l)),
        [],
    );
    const tryAuth = await smtpDialog(25, ["EHLO client.sink.test", "AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHg="], {
        starttls: true,
        keepGoing: true,
    });
    assert.ok(tryAuth.replies[3].code >= 500, `AUTH on 25 answered ${tryAuth.replies[3].code}`);
});
