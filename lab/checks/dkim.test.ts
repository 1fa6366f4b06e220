import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, sendMail, sinkMessages } from "../clients";
import { LAB_PASSWORDS } from "../lab-config";
import { verify } from "./dkim-verify";
import { tag } from "./helpers";

void test("Mail sent through 587 carries a DKIM signature that mailauth verifies against the stack's published TXT record, and a tampered copy fails", async () => {
    const subject = tag("dkim");
    await sendMail({
        port: 587,
        auth: { user: "alice@example.org", pass: LAB_PASSWORDS["alice@example.org"] },
        from: "alice@example.org",
        to: ["dkim-check@sink.test"],
        subject,
        text: "Signed by OpenDKIM in the mailstack lab.\n",
    });
    const msg = await eventually(() => sinkMessages().find((m) => m.raw.includes(subject)), 30_000);
    assert.match(msg.raw, /^DKIM-Signature:/im, "no DKIM-Signature header");

    const asked: string[] = [];
    const good = await verify(msg.raw, asked);
    assert.ok(good, `no DKIM result for example.org (asked: ${asked.join(", ")})`);
    assert.equal(good.status.result, "pass", JSON.stringify(good.status));
    assert.ok(
        asked.some((a) => /\._domainkey\.example\.org TXT$/i.test(a)),
        `the key was not looked up: ${asked.join(", ")}`,
    );

    // One body byte changed: the body hash no longer matches.
    const bodyAt = msg.raw.search(/\r?\n\r?\n/);
    const body = msg.raw.slice(bodyAt);
    const i = body.indexOf("Signed by OpenDKIM");
    assert.ok(i > 0, "body text not found");
    const tampered = msg.raw.slice(0, bodyAt) + body.slice(0, i) + "s" + body.slice(i + 1);
    const bad = await verify(tampered, []);
    assert.ok(bad, "no DKIM result for the tampered copy");
    // mailauth reports a body hash mismatch as "neutral" with this comment (RFC 6376 6.3).
    assert.notEqual(bad.status.result, "pass", JSON.stringify(bad.status));
    assert.match(String(bad.status.comment), /body hash did not verify/, JSON.stringify(bad.status));
});

void test("Each domain signs with its own key: carol's mail from example.net verifies against example.net's published TXT record", async () => {
    const subject = tag("dkim");
    await sendMail({
        port: 587,
        auth: { user: "carol@example.net", pass: LAB_PASSWORDS["carol@example.net"] },
        from: "carol@example.net",
        to: ["dkim-check@sink.test"],
        subject,
    });
    const msg = await eventually(() => sinkMessages().find((m) => m.raw.includes(subject)), 30_000);
    const asked: string[] = [];
    const result = await verify(msg.raw, asked, "carol@example.net");
    assert.ok(result, `no DKIM signature for example.net (asked: ${asked.join(", ")})`);
    assert.equal(result.status.result, "pass", JSON.stringify(result.status));
    assert.ok(
        asked.some((a) => /\._domainkey\.example\.net TXT$/i.test(a)),
        `example.net's key was not looked up: ${asked.join(", ")}`,
    );
});
