import assert from "node:assert/strict";
import { test } from "node:test";
import { buildSpec, type MailSpec } from "../../model";
import { eventually, sendMail, sinkMessages } from "../clients";
import { LAB_PASSWORDS, labRawConfig, labSpec } from "../lab-config";
import { provision } from "../scenarios/provision";
import { publishedDkimTxt, verify } from "./dkim-verify";
import { ssh, tag } from "./helpers";

// A DKIM key rotation as README "Rotating a DKIM key" does it: example.org's selector
// changes from mail to mail2, with mail listed in dkimRetiredSelectors. The stack publishes
// both records (the new one before the dkim step runs), the dkim step installs the new key
// and removes the old one. The records are the stack's own (mailDnsRecords for the rotated
// spec, publishedDkimTxt); the lab's retirement "time" is the spec's date against today.
// Ends as it began (selector mail), for the checks after it.

const ALICE = { user: "alice@example.org", pass: LAB_PASSWORDS["alice@example.org"] };
const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);

/** The lab spec with example.org signing with mail2 and mail retired until `until`. */
function rotated(until: string): MailSpec {
    const raw = labRawConfig();
    const domains = (raw.domains as Record<string, unknown>[]).map((d) =>
        d.name === "example.org" ? { ...d, dkimSelector: "mail2", dkimRetiredSelectors: { mail: until } } : d,
    );
    return buildSpec({ ...raw, domains });
}

async function signedMessage(what: string): Promise<string> {
    const subject = tag(what);
    await sendMail({ port: 587, auth: ALICE, from: ALICE.user, to: [`${what}@sink.test`], subject });
    return (await eventually(() => sinkMessages().find((m) => m.raw.includes(subject)), 30_000)).raw;
}

const selectorOf = (raw: string) => /^DKIM-Signature:[^]*?\bs=([a-z0-9-]+);/im.exec(raw)?.[1];
const keysOnServer = () => ssh("ls /etc/opendkim/keys").stdout.trim().split("\n").sort();

void test("A DKIM rotation without a gap: mail signed before it still verifies against what the stack publishes, new mail is signed with the new key, the old key leaves the server at once and its record after its last day", async () => {
    const before = await signedMessage("rotation-before");
    assert.equal(selectorOf(before), "mail");
    assert.equal((await verify(before, []))?.status.result, "pass");

    try {
        // The rotation: both records are published (mail until in 7 days), then the dkim step.
        const during = rotated(day(7));
        const txtDuring = publishedDkimTxt(during);
        assert.ok(txtDuring.has("mail._domainkey.example.org") && txtDuring.has("mail2._domainkey.example.org"));
        const r = await provision(during, undefined, ["dkim"]);
        assert.ok(r.ok, r.detail);
        assert.match(r.steps![0].output, /removed {3}\/etc\/opendkim\/keys\/example\.org\.mail\.private/);
        assert.deepEqual(keysOnServer(), ["example.net.mail.private", "example.org.mail2.private"]);

        // Mail in transit, signed before the switch, verifies against the records published now.
        assert.equal((await verify(before, [], ALICE.user, txtDuring))?.status.result, "pass");
        const after = await signedMessage("rotation-after");
        assert.equal(selectorOf(after), "mail2");
        assert.equal((await verify(after, [], ALICE.user, txtDuring))?.status.result, "pass");

        // After mail's last day: its record is no longer published; nothing changes on the server.
        const retired = rotated(day(-1));
        const txtRetired = publishedDkimTxt(retired);
        assert.ok(!txtRetired.has("mail._domainkey.example.org"), "the retired record is still published");
        const again = await provision(retired, undefined, ["dkim"]);
        assert.ok(again.ok, again.detail);
        assert.match(again.steps![0].output, /apply-bundle: unchanged/);
        assert.notEqual((await verify(before, [], ALICE.user, txtRetired))?.status.result, "pass");
        assert.equal((await verify(after, [], ALICE.user, txtRetired))?.status.result, "pass");
    } finally {
        // Back to the lab's own selector for the checks after this one.
        const back = await provision(labSpec(), undefined, ["dkim"]);
        assert.ok(back.ok, back.detail);
    }
    assert.deepEqual(keysOnServer(), ["example.net.mail.private", "example.org.mail.private"]);
    const last = await signedMessage("rotation-back");
    assert.equal(selectorOf(last), "mail");
    assert.equal((await verify(last, []))?.status.result, "pass");
});
