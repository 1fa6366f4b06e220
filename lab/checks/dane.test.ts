// DANE (RFC 7672, issue 13): dane.test is signed with DNSSEC by the lab's Knot DNS
// (lab/world/dane.ts), and its MX has a TLSA record (3 1 1) of the outside MX's key. The server's
// unbound validates the zone against the DS in mailstack:resolver.signedZones, so Postfix
// (smtp_tls_security_level = dane) sends to it only over TLS with that key: with the record
// changed to a digest no key has, the mail waits in the queue and nothing is sent; with the
// right record back, a flush delivers it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { eventually, sendMail, sinkMessages } from "../clients";
import { DANE_MX, DANE_TLSA_NAME, DANE_TLSA_TTL, DANE_ZONE, peerTlsa, wrongTlsa, writeDaneZone } from "../world/dane";
import { LAB_PASSWORDS } from "../lab-config";
import { deferredLine, dropQueued, NET, smtpLog, ssh, tag } from "./helpers";
import { sleep } from "../harness/processes";

const ALICE = { user: "alice@example.org", pass: LAB_PASSWORDS["alice@example.org"] };
const TO = `someone@${DANE_ZONE}`;

/**
 * The zone with this TLSA record, re-signed by knotd; unbound's cached copy of the zone
 * dropped, and the record's TTL waited out: each of Postfix's (long-lived) smtp processes keeps
 * a TLSA RRset until its TTL + 1 s have passed, counted in whole seconds (tls_dane.c).
 */
async function publish(tlsa: string): Promise<void> {
    writeDaneZone(tlsa);
    ssh(`unbound-control flush_zone ${DANE_ZONE} >/dev/null && unbound-control flush_bogus >/dev/null`);
    await sleep((DANE_TLSA_TTL + 3) * 1000);
}

const escape = (s: string) => s.replace(/[.[\]]/g, "\\$&");
const VERIFIED = new RegExp(`Verified TLS connection established to ${escape(DANE_MX)}\\[${escape(NET.mx4)}\\]:25`);

// The zone as the lab starts it (whatever an earlier, interrupted run left), and again at the end.
before(() => publish(peerTlsa()));
after(async () => {
    await publish(peerTlsa());
    // Nothing for dane.test left in the queue (doctor and the burst check count what waits there).
    dropQueued(TO);
});

void test("posttls-finger on the server finds dane.test's TLSA record DNSSEC-validated and the MX's key matching it", () => {
    const out = ssh(`posttls-finger -t30 -T60 -c -l dane -L verbose,summary ${DANE_ZONE} 2>&1`).stdout;
    // Postfix's DNS library saw the AD bit (unbound validated the answer against the DS).
    assert.match(
        out,
        new RegExp(`DNSSEC-signed TLSA record: ${escape(DANE_TLSA_NAME)}: ${peerTlsa()}$`, "im"),
        `posttls-finger:\n${out}`,
    );
    assert.match(out, new RegExp(`Matched DANE EE certificate at depth 0: ${peerTlsa()}$`, "im"), out);
    assert.match(out, VERIFIED, `posttls-finger:\n${out}`);
});

void test("alice's mail (587) to dane.test goes to its MX over TLS verified by the TLSA record (DANE)", async () => {
    const since = Date.now();
    const subject = tag("dane");
    await sendMail({ port: 587, auth: ALICE, from: ALICE.user, to: [TO], subject });
    const msg = await eventually(() => sinkMessages().find((m) => m.raw.includes(subject)), 60_000);
    assert.equal(msg.port, 25);
    assert.equal(msg.verdict?.mx, DANE_MX);
    assert.ok(msg.verdict?.tls, "delivered over TLS");
    const log = smtpLog(since);
    assert.match(log, VERIFIED, log);
    console.log(`dane: ${log.split("\n").find((l) => VERIFIED.test(l))}`);
});

void test("With a TLSA record no key matches (re-signed), the mail is deferred and not sent; with the right one back, a flush delivers it", async () => {
    const subject = tag("dane-wrong");
    await publish(wrongTlsa());
    // After the wait: the log of the delivery before this test is not this test's.
    const since = Date.now();
    try {
        await sendMail({ port: 587, auth: ALICE, from: ALICE.user, to: [TO], subject });
        const line = await deferredLine(TO, since);
        console.log(`dane, wrong TLSA: ${line}`);
        assert.match(line, /dsn=4\.7\.5, status=deferred \(Server certificate not verified\)/);
        const log = smtpLog(since);
        assert.match(
            log,
            new RegExp(
                `server certificate verification failed for ${escape(DANE_MX)}\\[${escape(NET.mx4)}\\]:25: num=65:no matching DANE TLSA records`,
            ),
            log,
        );
        assert.doesNotMatch(log, VERIFIED, log);
        assert.equal(sinkMessages().filter((m) => m.raw.includes(subject)).length, 0, "the message was delivered");
    } finally {
        await publish(peerTlsa());
    }
    const flushed = Date.now();
    ssh("postqueue -f");
    const msg = await eventually(() => sinkMessages().find((m) => m.raw.includes(subject)), 60_000);
    assert.equal(msg.verdict?.mx, DANE_MX);
    assert.match(smtpLog(flushed), VERIFIED);
});
