import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, imapFetch, imapSearch, sendMail } from "../clients";
import { replaceServer } from "../scenarios/replace";
import { keepObjects, objectsMissing } from "../clients/dav";
import { LAB_PASSWORDS, labSpec } from "../lab-config";
import { fetchArrived, ssh, tag } from "./helpers";
import { lineDiff, mailboxRecord } from "./mailboxes";
import { indexedToTheEnd } from "./search";
import { keptAccountProblems, resetKeptAccount, setUpKeptAccount } from "./kept-account";

// Last (lab/checks/order.ts): the volume is lost with the server. A new server on a new,
// empty volume, provisioned by every step, gets everything back from the Storage Box with
// `mailstack-restore all`. It leaves the lab running on that server.

const ALICE = { user: "alice@example.org", pass: LAB_PASSWORDS["alice@example.org"] };
const CERT = "openssl x509 -in /etc/letsencrypt/live/mail.example.org/cert.pem -noout -serial";

void test("A new server on an empty volume refuses to back itself up over the old server's backups, and mailstack-restore all brings back every mailbox (UIDs, UIDVALIDITY, bytes), alice's calendar and contacts, bob's own password, app password and second factor and the certificate state, and builds the full-text index again (SEARCH BODY finds the last message); then backups and mail go on", async () => {
    // The old server's last backup, and what it holds.
    const subject = tag("before-the-volume-was-lost");
    const word = `lostvolume${Date.now()
        .toString(36)
        .replace(/[^a-z]/g, "")}word`;
    await sendMail({ port: 25, from: "someone@sink.test", to: [ALICE.user], subject, text: `A ${word} to search.\n` });
    const [before] = await fetchArrived(ALICE.user, ALICE.pass, subject);
    // An event and a contact of alice's (mailstack:dav), in the same backup.
    const kept = labSpec().dav ? await keepObjects(ALICE, tag("dav-restore")) : undefined;
    // bob's own password, an app password and his second factor, in the same backup.
    const account = setUpKeptAccount();
    const backup = ssh("systemctl start mailstack-backup.service", { allowFail: true, timeoutMs: 300_000 });
    assert.equal(backup.status, 0, `the last backup failed: ${backup.stderr}`);
    const recordBefore = mailboxRecord();
    const certBefore = ssh(CERT).stdout;
    // The newest snapshot's id (forget keeps one a day, so there may be just this one).
    const latest = () =>
        (JSON.parse(ssh("mailstack-backup restic snapshots --latest 1 --json").stdout) as { id: string }[])[0]?.id;
    const latestBefore = latest();
    assert.ok(latestBefore, "no snapshot");

    // The volume is gone: a new server, a new empty volume, every provisioning step.
    const r = await replaceServer({ freshVolume: true });
    assert.ok([0, 2].includes(r.cloudInit.status), `cloud-init on the new server: ${r.cloudInit.long}`);
    assert.ok(r.provisioning.ok, `provisioning the new server: ${r.provisioning.detail}`);
    assert.deepEqual(await imapFetch(ALICE.user, ALICE.pass, { subject }), [], "the new volume is not empty");
    if (kept) assert.notEqual(await objectsMissing(ALICE, kept), "", "the new volume already has alice's calendar");

    // Its first backup would become the latest snapshot, the one a restore takes: refused.
    const refused = ssh("mailstack-backup run", { allowFail: true, timeoutMs: 300_000 });
    assert.notEqual(refused.status, 0, "a new, empty volume was backed up over the old server's backups");
    assert.match(refused.stderr, /never been backed up to .* restore it first \(mailstack-restore all\)/);
    assert.equal(latest(), latestBefore, "a snapshot was added");

    const restore = ssh("mailstack-restore all", { allowFail: true, timeoutMs: 600_000 });
    assert.equal(restore.status, 0, `mailstack-restore all: ${restore.stdout}${restore.stderr}`);
    for (const unit of [
        "postfix",
        "dovecot",
        "etc-letsencrypt.mount",
        "var-spool-postfix.mount",
        "var-lib-valkey.mount",
        "certbot.timer",
        "valkey-server",
        "rspamd",
        ...(labSpec().dav ? ["radicale"] : []),
    ])
        assert.equal(ssh(`systemctl is-active ${unit}`, { allowFail: true }).stdout.trim(), "active", unit);
    // The bind mount is the restored directory, not the one moved aside.
    assert.match(ssh("findmnt -n -o SOURCE /etc/letsencrypt").stdout, /\[\/state\/letsencrypt\]/);
    assert.equal(ssh(CERT).stdout, certBefore, "/etc/letsencrypt is not the old server's");

    if (kept) assert.equal(await objectsMissing(ALICE, kept), "", "alice's calendar or contacts not restored");
    const accountLost = await keptAccountProblems(account);
    const recordAfter = mailboxRecord();
    assert.ok(
        recordBefore.some((l) => l.startsWith(`${ALICE.user} INBOX\t${before.uid}\t`)),
        `alice's message is not in the record: ${recordBefore.join(" / ")}`,
    );
    assert.deepEqual(recordAfter, recordBefore, `the mailboxes differ: ${lineDiff(recordBefore, recordAfter)}`);
    // The index is not in the backup: the restore queued its rebuild, done with no search asking.
    await indexedToTheEnd(ALICE.user, 180_000);
    assert.deepEqual(
        await imapSearch(ALICE.user, ALICE.pass, { body: word }),
        [before.uid],
        "SEARCH BODY after the restore",
    );
    const again = await imapFetch(ALICE.user, ALICE.pass, { subject });
    assert.deepEqual(
        again.map((m) => [m.uid, m.source]),
        [[before.uid, before.source]],
    );

    // The restored volume carries its repository mark: the timer's backup runs again.
    const next = ssh("systemctl start mailstack-backup.service", { allowFail: true, timeoutMs: 300_000 });
    assert.equal(next.status, 0, `the backup after the restore failed: ${next.stderr}`);
    assert.notEqual(latest(), latestBefore, "no new snapshot");
    const newSubject = tag("after-restore-all");
    await sendMail({ port: 25, from: "someone@sink.test", to: [ALICE.user], subject: newSubject });
    await eventually(
        () => imapFetch(ALICE.user, ALICE.pass, { subject: newSubject }).then((m) => m.length === 1),
        30_000,
    );
    // Asked right after the restore, judged here (the backup after it runs either way).
    assert.deepEqual(accountLost, [], "bob's account after mailstack-restore all");
    resetKeptAccount();
});
