// Outbound mail as a receiving provider sees it (issue 13): direct delivery to the outside
// MX (lab/world/peer.ts), which judges SPF, iprev, DKIM and DMARC with mailauth through the lab
// DNS; MTA-STS "enforce" honoured (a self-signed certificate or a stripped STARTTLS means the
// mail waits, never goes in clear); the host's own resolver (unbound) answers; and the relay
// path, by provisioning with mailstack:relay and back.
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, sendMail, sinkMessages } from "../clients";
import { labRelayRawConfig, LAB_PASSWORDS, LAB_RELAY, LAB_SINK_ADDRESS, labSpec } from "../lab-config";
import { provision } from "../scenarios/provision";
import { buildSpec } from "../../model";
import { deferredLine, dropQueued, NET, smtpLog, ssh, tag } from "./helpers";

const ALICE = { user: "alice@example.org", pass: LAB_PASSWORDS["alice@example.org"] };
const CAROL = { user: "carol@example.net", pass: LAB_PASSWORDS["carol@example.net"] };

/** Send through 587 with a login and wait for the message at the sink; returns its envelope. */
async function submitted(auth: { user: string; pass: string }, to: string) {
    const subject = tag("outbound");
    await sendMail({ port: 587, auth, from: auth.user, to: [to], subject });
    return eventually(() => sinkMessages().find((m) => m.raw.includes(subject)), 60_000);
}

function assertJudged(msg: Awaited<ReturnType<typeof submitted>>, domain: string, from: string): void {
    const v = msg.verdict;
    assert.ok(v, `no verdict: the message came in on port ${msg.port}, not through the outside MX`);
    const why = v.authenticationResults;
    assert.equal(msg.port, 25, "delivered straight to the MX (no relay)");
    assert.equal(msg.remoteAddress.replace(/^::ffff:/, ""), from);
    assert.equal(v.spf, "pass", `spf: ${why}`);
    assert.equal(v.spfHelo, "pass", `SPF of the HELO name: ${why}`);
    assert.equal(v.iprev, "pass", `iprev (${v.iprevName}): ${why}`);
    assert.equal(v.iprevName, "mail.example.org");
    const dkim = v.dkim.find((d) => d.domain === domain);
    assert.equal(dkim?.result, "pass", `dkim header.d=${domain}: ${why}`);
    assert.equal(v.dmarc, "pass", `dmarc: ${why}`);
    assert.ok(v.tls, "delivered over TLS");
}

void test("The host resolves through its own unbound (resolv.conf, rspamd), which forwards to the lab DNS in the lab", () => {
    assert.match(ssh("cat /etc/resolv.conf").stdout, /^nameserver 127\.0\.0\.1$/m);
    assert.equal(ssh("systemctl is-active unbound postfix-mta-sts-resolver").stdout.trim(), "active\nactive");
    assert.equal(ssh("getent ahostsv4 mx.peer.test | head -n1 | cut -d' ' -f1").stdout.trim(), NET.mx4);
    const queries = Number(/^total\.num\.queries=(\d+)$/m.exec(ssh("unbound-control stats_noreset").stdout)?.[1]);
    assert.ok(queries > 0, "unbound answered no query");
    assert.match(ssh("rspamadm configdump options").stdout, /nameserver \[\s*"127\.0\.0\.1:53",\s*\]/);
});

void test("alice's mail (587) goes straight to peer.test's MX, which finds spf, iprev, dkim (header.d=example.org) and dmarc pass, over verified TLS (MTA-STS enforce)", async () => {
    const since = Date.now();
    const msg = await submitted(ALICE, "someone@peer.test");
    assertJudged(msg, "example.org", NET.server4);
    console.log(`peer: ${msg.verdict!.authenticationResults.replace(/\r?\n\s*/g, " ")}`);
    assert.match(smtpLog(since), /Verified TLS connection established to mx\.peer\.test\[198\.51\.100\.25\]:25/);
});

void test("The same over IPv6 (peer6.test's MX has only an AAAA record): spf pass for 2001:db8::25", async () => {
    const msg = await submitted(ALICE, "someone@peer6.test");
    assertJudged(msg, "example.org", NET.server6);
});

void test("carol's mail from the second domain passes the same way, with header.d=example.net", async () => {
    const msg = await submitted(CAROL, "someone@peer.test");
    assertJudged(msg, "example.net", NET.server4);
});

void test("Mail an alias forwards to the outside passes SPF there for its SRS sender", async () => {
    const subject = tag("outbound-fwd");
    await sendMail({ port: 25, from: "someone@sink.test", to: ["fwd@example.net"], subject });
    const msg = await eventually(() => sinkMessages().find((m) => m.raw.includes(subject)), 60_000);
    assert.deepEqual(msg.rcptTo, [LAB_SINK_ADDRESS]);
    assert.match(String(msg.mailFrom), /^SRS0=[^@]+@mail\.example\.org$/i);
    assert.equal(msg.verdict?.spf, "pass", msg.verdict?.authenticationResults);
    assert.equal(msg.verdict?.iprev, "pass");
});

/** Mail to `to` is deferred (never delivered), with a log line matching `why`; then deleted from the queue. */
async function deferred(to: string, why: RegExp): Promise<string> {
    const since = Date.now();
    const subject = tag("outbound-deferred");
    await sendMail({ port: 587, auth: ALICE, from: ALICE.user, to: [to], subject });
    try {
        const line = await deferredLine(to, since);
        assert.match(smtpLog(since), why);
        assert.equal(sinkMessages().filter((m) => m.raw.includes(subject)).length, 0, "the message was delivered");
        return line;
    } finally {
        // Out of the queue, so later checks see no leftovers.
        dropQueued(to);
    }
}

void test("MTA-STS enforce with a self-signed certificate on the MX: the mail is deferred, and the policy is what the resolver hands Postfix", async () => {
    const policy = ssh("postmap -q badtls.test socketmap:inet:127.0.0.1:8461:postfix").stdout.trim();
    assert.match(policy, /^secure match=mx\.badtls\.test/, "the MTA-STS resolver's answer for badtls.test");
    const line = await deferred("someone@badtls.test", /certificate verification failed for mx\.badtls\.test/);
    console.log(`badtls: ${line}`);
});

void test("MTA-STS enforce and an MX that offers no STARTTLS (stripped): nothing is sent", async () => {
    assert.match(
        ssh("postmap -q plain.test socketmap:inet:127.0.0.1:8461:postfix").stdout,
        /^secure match=mx\.plain\.test/,
    );
    const line = await deferred("someone@plain.test", /TLS is required, but was not offered by host mx\.plain\.test/);
    console.log(`plain: ${line}`);
});

void test("With mailstack:relay every message goes to the relay (587, login, TLS), and without it straight to the MX again", async () => {
    const relayed = buildSpec(labRelayRawConfig());
    try {
        const r = await provision(relayed);
        assert.ok(r.ok, r.detail);
        const msg = await submitted(ALICE, "someone@peer.test");
        assert.equal(msg.port, LAB_RELAY.port);
        assert.equal(msg.user, LAB_RELAY.username);
        assert.equal(msg.tls, "yes");
        assert.equal(msg.verdict, undefined);
    } finally {
        const r = await provision(labSpec());
        assert.ok(r.ok, r.detail);
    }
    const msg = await submitted(ALICE, "someone@peer.test");
    assert.equal(msg.port, 25);
    assert.equal(ssh("postconf -h relayhost").stdout.trim(), "");
});
