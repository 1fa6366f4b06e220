import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { eventually, imapFetch, imapSearch, sendMail } from "../clients";
import { readPid, sh } from "../harness/processes";
import { davRequest, keepObjects, objectsMissing } from "../clients/dav";
import { LAB_PASSWORDS, labSpec } from "../lab-config";
import { startStorageBox, storageBoxRepository, stopStorageBox } from "../world/storagebox";
import { ssh, tag } from "./helpers";
import { lineDiff, mailboxRecord } from "./mailboxes";
import { indexedToTheEnd } from "./search";

// Backups to the lab's Storage Box (lab/world/storagebox.ts: Debian's sshd, SFTP on port 23, its
// host key pinned in mailstack:backup), set up by the backup provisioning step. Before the
// reboot check, which then sees the restored mailbox survive a reboot.

const ALICE = { user: "alice@example.org", pass: LAB_PASSWORDS["alice@example.org"] };
const POSTMASTER = { user: "postmaster@example.org", pass: LAB_PASSWORDS["postmaster@example.org"] };
const MAILDIR = "/srv/mail/vhosts/example.org/alice";
const TIMERS = ["mailstack-backup.timer", "mailstack-backup-check.timer", "mailstack-backup-stale.timer"];

/** Run a backup unit as its timer would; the exit status of `systemctl start` is the unit's. */
function startUnit(unit: string): { status: number | null; output: string } {
    const r = ssh(`systemctl start ${unit}`, { allowFail: true, timeoutMs: 300_000 });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/**
 * Every file of a Maildir with its SHA-256, but Dovecot's index caches (rewritten on any access)
 * and the full-text index (not in the backup: built again after a restore).
 */
function maildirFiles(dir: string): string[] {
    return ssh(
        `cd ${dir} && find . -type f ! -name 'dovecot.index*' ! -name 'dovecot.list.index*' ! -path '*/fts-flatcurve/*' -print0 | sort -z | xargs -0 sha256sum`,
    )
        .stdout.trim()
        .split("\n");
}

/**
 * The messages in postmaster@'s INBOX whose subject contains `subject`. When none arrives,
 * the error carries the notifying units' journal and the mail log, to say why.
 */
async function postmasterMail(subject: string) {
    try {
        return await eventually(
            () => imapFetch(POSTMASTER.user, POSTMASTER.pass, { subject }).then((m) => (m.length > 0 ? m : undefined)),
            60_000,
        );
    } catch (err) {
        const log = ssh(
            "journalctl --no-pager -n 40 -u 'mailstack-backup-failed@*' -u mailstack-backup-stale.service; journalctl --no-pager -n 30 -t postfix/pickup -t postfix/cleanup -t postfix/qmgr -t postfix/lmtp -t postfix/local",
            { allowFail: true },
        );
        throw new Error(`${(err as Error).message}: no mail "${subject}" for postmaster@\n${log.stdout}${log.stderr}`);
    }
}

void test("The backup step enables the timers; a backup runs over SFTP to the Storage Box (host key pinned): /srv/mail without the Postfix queue, and restic check passes", () => {
    for (const t of TIMERS) assert.equal(ssh(`systemctl is-enabled ${t}`).stdout.trim(), "enabled", t);
    const run = startUnit("mailstack-backup.service");
    assert.equal(run.status, 0, `mailstack-backup.service: ${run.output}`);
    const snapshots = JSON.parse(ssh("mailstack-backup restic snapshots --tag mailstack --json").stdout) as {
        paths: string[];
        hostname: string;
    }[];
    assert.ok(snapshots.length >= 1, "no snapshot");
    assert.deepEqual(snapshots.at(-1)!.paths, ["/srv/mail"]);
    const state = ssh("mailstack-backup restic ls latest /srv/mail/state").stdout;
    assert.match(state, /^\/srv\/mail\/state\/letsencrypt$/m, "the certificate state is not in the backup");
    assert.match(state, /^\/srv\/mail\/state\/valkey$/m, "rspamd's state (Valkey) is not in the backup");
    assert.match(
        state,
        /^\/srv\/mail\/state\/backup-repository$/m,
        "the volume's repository mark is not in the backup",
    );
    assert.doesNotMatch(state, /postfix-queue/, "the Postfix queue is in the backup");
    const age = Number(ssh("echo $(( $(date +%s) - $(cat /var/lib/mailstack/backup-last-success) ))").stdout);
    assert.ok(age >= 0 && age < 120, `the success stamp is ${age} s old`);
    // The repository is where the config says, on the box.
    assert.ok(fs.existsSync(path.join(storageBoxRepository(), "config")), "no repository on the Storage Box");
    const check = startUnit("mailstack-backup-check.service");
    assert.equal(check.status, 0, `mailstack-backup-check.service: ${check.output}`);
});

void test("A lost mailbox comes back from the backup: mailstack-restore mailbox gives every file byte for byte (the quota total counted again), the same UIDs and UIDVALIDITY, and its owner's calendar and contacts, and moves what was there aside; the full-text index, not in the snapshot, is built again and SEARCH BODY finds the message", async () => {
    // A message to read again over IMAP, in the backup.
    const subject = tag("restore-me");
    const word = `restorable${Date.now()
        .toString(36)
        .replace(/[^a-z]/g, "")}word`;
    await sendMail({ port: 25, from: "someone@sink.test", to: [ALICE.user], subject, text: `A ${word} to search.\n` });
    const [before] = await eventually(() =>
        imapFetch(ALICE.user, ALICE.pass, { subject }).then((m) => (m.length === 1 ? m : undefined)),
    );
    // alice's event and contact (mailstack:dav): the mailbox's owner's, restored with it.
    const kept = labSpec().dav ? await keepObjects(ALICE, tag("dav-backup")) : undefined;
    assert.equal(startUnit("mailstack-backup.service").status, 0, "the backup before the loss failed");
    const inSnapshot = ssh(
        `mailstack-backup restic ls latest ${MAILDIR}/Maildir | grep -c /fts-flatcurve || true`,
    ).stdout;
    assert.equal(inSnapshot.trim(), "0", "the full-text index is in the snapshot");
    const filesBefore = maildirFiles(MAILDIR);
    const recordBefore = mailboxRecord([ALICE.user]);
    // The quota counted from the files (Maildir++'s running total may have drifted by a message
    // since it was last counted; the restore counts again).
    const quota = () =>
        ssh(`doveadm quota recalc -u ${ALICE.user} && doveadm -f tab quota get -u ${ALICE.user}`).stdout;
    const quotaBefore = quota();
    assert.ok(
        filesBefore.some((l) => l.endsWith("/dovecot-uidlist")) && filesBefore.some((l) => /\/(cur|new)\//.test(l)),
        `no messages and uidlist to compare: ${filesBefore.join(", ")}`,
    );
    // The box holds it encrypted: not even a subject in clear.
    const clear = sh("grep", ["-rlF", subject, storageBoxRepository()], { allowFail: true });
    assert.equal(clear.status, 1, `the subject is readable on the Storage Box: ${clear.stdout}`);

    // The loss: the Maildir is gone, and Dovecot makes a new, empty one on the next access.
    ssh(`rm -rf ${MAILDIR} && doveadm kick ${ALICE.user} >/dev/null 2>&1 || true`);
    if (kept)
        for (const url of [kept.event, kept.contact])
            assert.equal((await davRequest(url, { method: "DELETE", auth: ALICE })).status, 200);
    const left = ssh(`doveadm -f tab mailbox status -u ${ALICE.user} messages INBOX | tail -n 1`).stdout;
    assert.equal(left.trim().split("\t").at(-1), "0", `messages in the new INBOX: ${left}`);

    const r = ssh(`mailstack-restore mailbox ${ALICE.user}`, { allowFail: true, timeoutMs: 300_000 });
    assert.equal(r.status, 0, `mailstack-restore: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, new RegExp(`the current ${MAILDIR} is now ${MAILDIR}\\.before-restore-`));
    // maildirsize is the quota's running total: the restore counts it again (the same sum in a new file).
    const mailFiles = (files: string[]) => files.filter((l) => !l.endsWith("/Maildir/maildirsize"));
    assert.deepEqual(mailFiles(maildirFiles(MAILDIR)), mailFiles(filesBefore), "the restored Maildir's files differ");
    assert.equal(quota(), quotaBefore, "the quota in use after the restore");
    // The restore queued the index's rebuild: it reaches the last UID with no search asking.
    await indexedToTheEnd(ALICE.user, 120_000);
    assert.deepEqual(
        await imapSearch(ALICE.user, ALICE.pass, { body: word }),
        [before.uid],
        "SEARCH BODY after the restore",
    );
    const recordAfter = mailboxRecord([ALICE.user]);
    assert.deepEqual(recordAfter, recordBefore, `alice's mailbox differs: ${lineDiff(recordBefore, recordAfter)}`);
    assert.equal(ssh(`stat -c %U:%G ${MAILDIR} ${MAILDIR}/Maildir/cur`).stdout.trim(), "vmail:vmail\nvmail:vmail");
    if (kept)
        assert.equal(
            await objectsMissing(ALICE, kept),
            "",
            "alice's calendar or contacts not restored with her mailbox",
        );
    const again = await imapFetch(ALICE.user, ALICE.pass, { subject });
    assert.deepEqual(
        again.map((m) => [m.uid, m.source]),
        [[before.uid, before.source]],
    );
    // And mail goes on arriving in the restored Maildir.
    const next = tag("after-restore");
    await sendMail({ port: 25, from: "someone@sink.test", to: [ALICE.user], subject: next });
    await eventually(() => imapFetch(ALICE.user, ALICE.pass, { subject: next }).then((m) => m.length === 1), 30_000);
});

void test("A backup that fails (the Storage Box is down) mails the postmaster, and so does a last success more than 2 days old; the next backup succeeds when the box is back", async () => {
    await stopStorageBox();
    try {
        const run = startUnit("mailstack-backup.service");
        assert.notEqual(run.status, 0, "the backup succeeded with its target down");
        const [failed] = await postmasterMail("mailstack: mailstack-backup.service failed on mail.example.org");
        assert.match(failed.source, /mailstack-backup/);
    } finally {
        if (readPid("storagebox") === undefined) await startStorageBox();
    }
    ssh("systemctl reset-failed mailstack-backup.service");

    // The timer stopped firing two days ago: the stale check says so.
    ssh("echo $(( $(date +%s) - 3 * 86400 )) >/var/lib/mailstack/backup-last-success");
    assert.equal(startUnit("mailstack-backup-stale.service").status, 0);
    const [stale] = await postmasterMail("mailstack: no successful backup for 3 days");
    assert.match(stale.source, /The last successful backup of mail\.example\.org was 72 hours ago/);

    assert.equal(startUnit("mailstack-backup.service").status, 0, "the backup failed with the box back");
    const age = Number(ssh("echo $(( $(date +%s) - $(cat /var/lib/mailstack/backup-last-success) ))").stdout);
    assert.ok(age >= 0 && age < 120, `the success stamp is ${age} s old`);
});
