import assert from "node:assert/strict";
import { test } from "node:test";
import { smtpDialog } from "../clients";
import { NET, tag } from "./helpers";
import { RELAY_TRICKS, relayProbes } from "./relay-probes";

/** Outside sources: both outside IPv4 addresses and the IPv6 one (to the server's IPv6). */
const SOURCES = [
    { localAddress: NET.client4, host: NET.server4 },
    { localAddress: NET.outside4, host: NET.server4 },
    { localAddress: NET.client6, host: NET.server6 },
];

void test("An outside client cannot relay through port 25 to a foreign domain, not even with classic address tricks or over IPv6", async (t) => {
    const { probes, accepted, relayed } = await relayProbes(SOURCES, tag("relay"));
    t.diagnostic(
        `open relay probes: ${probes}, accepted at RCPT: ${accepted.length}, reached the sink: ${relayed.length}`,
    );
    console.log(`open relay: ${probes} probes, ${accepted.length} accepted, ${relayed.length} relayed`);
    assert.ok(probes >= RELAY_TRICKS.length * SOURCES.length);
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
