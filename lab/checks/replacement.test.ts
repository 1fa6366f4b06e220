import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, imapFetch, imapSearch, sendMail, sinkMessages } from "../clients";
import { queueLength } from "../clients/delivery";
import { readPid, sleep } from "../harness/processes";
import { startSink, stopSink } from "./sink-process";
import { replaceServer } from "../scenarios/replace";
import { keepObjects, objectsMissing } from "../clients/dav";
import { LAB_PASSWORDS, labSpec } from "../lab-config";
import { verify } from "./dkim-verify";
import { lineDiff, mailboxRecord } from "./mailboxes";
import { fetchArrived, ssh, tag } from "./helpers";
import { indexedToTheEnd, indexStats } from "./search";
import { keptAccountProblems, resetKeptAccount, setUpKeptAccount } from "./kept-account";

// After the first server's checks (lab/checks/order.ts); restore.test.ts replaces it once more.

const ALICE = { user: "alice@example.org", pass: LAB_PASSWORDS["alice@example.org"] };

void test("A replacement server (clean shutdown, new root from the user-data, the same volume and addresses, every step) loses nothing: old mail with its UIDs, the queued message, the DKIM key, the certificate, the full-text index (SEARCH BODY finds the old message at once), alice's event and contact, bob's own password, app password and second factor", async () => {
    // The old server: a message to read again, a record of every mailbox, the certificate.
    const oldSubject = tag("before-replacement");
    const word = `replaced${Date.now()
        .toString(36)
        .replace(/[^a-z]/g, "")}word`;
    await sendMail({
        port: 25,
        from: "someone@sink.test",
        to: ["alice@example.org"],
        subject: oldSubject,
        text: `A ${word} to search.\n`,
    });
    const [oldMessage] = await fetchArrived(ALICE.user, ALICE.pass, oldSubject);
    // The full-text index is on the volume: the new server has it as it was, nothing to rebuild.
    const indexBefore = await indexedToTheEnd(ALICE.user, 120_000);
    const recordBefore = mailboxRecord();
    const certificate = "openssl x509 -in /etc/mailstack/tls/fullchain.pem -noout -serial -enddate";
    const certBefore = ssh(certificate).stdout;
    assert.match(ssh("findmnt -n -o SOURCE /var/spool/postfix").stdout, /\[\/state\/postfix-queue\]/);
    assert.match(ssh("findmnt -n -o SOURCE /etc/letsencrypt").stdout, /\[\/state\/letsencrypt\]/);
    // An event and a contact of alice's (mailstack:dav), read again on the new server.
    const kept = labSpec().dav ? await keepObjects(ALICE, tag("dav-replacement")) : undefined;
    // bob's own password, an app password and his second factor (on the volume's account state).
    const account = setUpKeptAccount();
    let accountLost: string[] = [];

    // A message for a destination that is down: it waits in the old server's queue.
    const queuedSubject = tag("queued-across-replacement");
    await stopSink();
    try {
        await sendMail({
            port: 587,
            auth: ALICE,
            from: ALICE.user,
            to: ["queued@sink.test"],
            subject: queuedSubject,
            text: "Queued on the old server, delivered by the new one.\n",
        });
        await eventually(
            () =>
                ssh(`postqueue -j | grep -F queued@sink.test | grep -q '"delay_reason"' && echo yes`, {
                    allowFail: true,
                }).stdout.trim() === "yes",
            60_000,
        );

        const r = await replaceServer({ freshVolume: false });
        assert.ok(r.volumeCleanlyUnmounted, "the old server left the mail volume's journal dirty (not unmounted)");
        assert.ok([0, 2].includes(r.cloudInit.status), `cloud-init on the new server: ${r.cloudInit.long}`);
        assert.ok(r.provisioning.ok, `provisioning the new server: ${r.provisioning.detail}`);
        const cert = r.provisioning.steps?.find((s) => s.step === "certificate");
        assert.match(
            cert?.output ?? "",
            /issue-certificate: (unchanged|deployed the existing certificate)/,
            "a new certificate was requested",
        );
        assert.equal(ssh(certificate).stdout, certBefore, "the new server serves another certificate");

        // Old mail: every mailbox, folder, UIDVALIDITY, UID and GUID as before; read over IMAP.
        const recordAfter = mailboxRecord();
        assert.ok(recordBefore.length > 1000, `too little mail to compare: ${recordBefore.length} lines`);
        assert.deepEqual(recordAfter, recordBefore, `the mailboxes differ: ${lineDiff(recordBefore, recordAfter)}`);
        const again = await imapFetch(ALICE.user, ALICE.pass, { subject: oldSubject });
        assert.deepEqual(
            again.map((m) => [m.uid, m.source]),
            [[oldMessage.uid, oldMessage.source]],
        );
        assert.deepEqual(indexStats(ALICE.user), indexBefore, "alice's index on the new server");
        assert.deepEqual(
            await imapSearch(ALICE.user, ALICE.pass, { body: word }),
            [oldMessage.uid],
            "SEARCH BODY on the new server",
        );
        if (kept) assert.equal(await objectsMissing(ALICE, kept), "", "alice's calendar or contacts lost");
        accountLost = await keptAccountProblems(account);
        // The queued message is in the new server's queue, waiting.
        assert.ok(queueLength() >= 1, "the queue is empty on the new server");
    } finally {
        if (readPid("sink") === undefined) await startSink();
    }

    // The destination is back: the queued message goes out once, signed with the same key.
    ssh("postqueue -f");
    const sent = await eventually(() => {
        const m = sinkMessages().filter((s) => s.raw.includes(`Subject: ${queuedSubject}`));
        return m.length > 0 ? m : undefined;
    }, 60_000);
    await sleep(2000);
    assert.equal(
        sinkMessages().filter((s) => s.raw.includes(`Subject: ${queuedSubject}`)).length,
        1,
        "delivered more than once",
    );
    const dkim = await verify(sent[0].raw, []);
    assert.equal(dkim?.status.result, "pass", `DKIM of the queued message: ${JSON.stringify(dkim?.status)}`);

    // New mail reaches the new server's mailboxes.
    const newSubject = tag("after-replacement");
    await sendMail({ port: 25, from: "someone@sink.test", to: ["alice@example.org"], subject: newSubject });
    await eventually(
        () => imapFetch(ALICE.user, ALICE.pass, { subject: newSubject }).then((m) => m.length === 1),
        30_000,
    );
    // Asked right after the provisioning, judged here (the queued message's check runs either way).
    assert.deepEqual(accountLost, [], "bob's account on the new server");
    resetKeptAccount();
});
