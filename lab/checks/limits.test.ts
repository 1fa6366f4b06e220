// The limits (issue 10): a login past mailstack:submissionLimit gets 450 4.7.1 for each further
// recipient on 587 (other logins and port 25 are not affected, the counts survive a restart),
// and the mail volume filling up: the postmaster is mailed once at 90%, Postfix refuses with
// 4xx near full, and both undo themselves when there is room again. Ends with bob's counts
// cleared and the ballast file removed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DISK_ALERT_PERCENT, DISK_FULL_PERCENT } from "../../render/host/limits";
import { eventually, imapFetch, smtpDialog } from "../clients";
import { submissionRcpts } from "./logins";
import { LAB_PASSWORDS, labSpec } from "../lab-config";
import { ssh, tag } from "./helpers";

const BOB = { user: "bob@example.org", pass: LAB_PASSWORDS["bob@example.org"] };
const ALICE = { user: "alice@example.org", pass: LAB_PASSWORDS["alice@example.org"] };
const POSTMASTER = { user: "postmaster@example.org", pass: LAB_PASSWORDS["postmaster@example.org"] };
const LIMIT = labSpec().submissionLimit.recipientsPerHour as number;
const SERVICE = "mailstack-submission-limit";

const rcptCodes = (login: { user: string; pass: string }, count: number) => submissionRcpts(login, count, tag("limit"));

void test(`A login past ${LIMIT} recipients in an hour gets 450 4.7.1 on 587; another login is not affected, and a restart keeps the count`, async () => {
    try {
        // Earlier checks may have spent some of bob's hour: every answer is 250 until the limit, 450 after.
        const replies = await rcptCodes(BOB, LIMIT + 2);
        const accepted = replies.findIndex((r) => r.code !== 250);
        assert.ok(accepted > 0 && accepted <= LIMIT, `${accepted} recipients accepted of a limit of ${LIMIT}`);
        for (const r of replies.slice(accepted)) {
            assert.equal(r.code, 450, r.lines.join(" "));
            assert.match(
                r.lines.join(" "),
                new RegExp(
                    `^4\\.7\\.1 <[^>]+>: Recipient address rejected: bob@example\\.org has sent to ${LIMIT} recipients in the past hour; try again in \\d+ minutes$`,
                ),
            );
        }
        const log = ssh(
            `journalctl -u ${SERVICE} --no-pager -o cat | grep -F 'over limit: login=bob@example.org' || true`,
        ).stdout;
        assert.match(log, new RegExp(`limit=${LIMIT}/hour client=192\\.0\\.2\\.7`), log);

        const [alice] = await rcptCodes(ALICE, 1);
        assert.equal(alice.code, 250, `alice: ${alice.lines.join(" ")}`);

        // Postfix's smtpd processes hold their connections to it open: a stop must not wait for them.
        const restart = Date.now();
        ssh(`systemctl restart ${SERVICE}`);
        assert.ok(Date.now() - restart < 10_000, `the restart took ${Date.now() - restart} ms`);
        const [again] = await eventually(async () => {
            const r = await rcptCodes(BOB, 1);
            return r[0].code === 451 ? undefined : r; // 451 4.3.5 while it starts
        }, 15_000);
        assert.equal(again.code, 450, `bob after a restart: ${again.lines.join(" ")}`);
    } finally {
        // What the README tells an admin who has dealt with a stolen password.
        assert.match(
            ssh(`${SERVICE} clear ${BOB.user}`).stdout,
            /^bob@example\.org: \d+ recipients of the past hour forgotten$/m,
        );
    }
    const [cleared] = await rcptCodes(BOB, 1);
    assert.equal(cleared.code, 250, `bob after his count was cleared: ${cleared.lines.join(" ")}`);
});

void test("With the rate-limit service stopped, 587 answers RCPT with 451 4.3.5 (the client keeps the mail), never sends unchecked; started again, it accepts", async () => {
    try {
        ssh(`systemctl stop ${SERVICE}`);
        const [down] = await rcptCodes(ALICE, 1);
        assert.equal(down.code, 451, `alice with the service down: ${down.lines.join(" ")}`);
        assert.match(down.lines.join(" "), /^4\.3\.5 /);
    } finally {
        ssh(`systemctl start ${SERVICE}`);
    }
    const [up] = await eventually(async () => {
        const r = await rcptCodes(ALICE, 1);
        return r[0].code === 451 ? undefined : r;
    }, 15_000);
    assert.equal(up.code, 250, `alice after the start: ${up.lines.join(" ")}`);
});

/** The mail volume's use as df shows it, in percent. */
const percentUsed = () => Number(ssh("df --output=pcent /srv/mail | tail -n 1 | tr -dc 0-9").stdout);

/** Grows the ballast file until the volume is `percent` full (fallocate: no data written). */
function fillTo(percent: number): void {
    const [used, avail] = ssh("df -B1 --output=used,avail /srv/mail | tail -n 1")
        .stdout.trim()
        .split(/\s+/)
        .map(Number);
    const ballast = Number(ssh("stat -c %s /srv/mail/ballast 2>/dev/null || echo 0").stdout.trim());
    const want = Math.ceil(((used + avail) * percent) / 100) - (used - ballast);
    ssh(`fallocate -l ${want} /srv/mail/ballast`);
    assert.ok(percentUsed() >= percent, `${percentUsed()}% used after the ballast, wanted ${percent}%`);
}

/** The disk guard's mails in the postmaster's INBOX. */
const guardMails = () =>
    imapFetch(POSTMASTER.user, POSTMASTER.pass, { subject: `Mail volume of ${labSpec().hostname}` });

/** MAIL FROM's answer on port 25. */
async function mailFrom(): Promise<{ code: number; text: string }> {
    const r = await smtpDialog(25, ["EHLO client.sink.test", `MAIL FROM:<${tag("disk")}@sink.test>`, "QUIT"], {
        keepGoing: true,
    });
    return { code: r.replies[1].code, text: r.replies[1].lines.join(" ") };
}

void test(`The mail volume past ${DISK_ALERT_PERCENT}%: one mail to the postmaster; past ${DISK_FULL_PERCENT}% port 25 answers 452; room again undoes both`, async () => {
    const before = (await guardMails()).length;
    // One run of the timer's service, and what the script said: its lines after a journal cursor
    // taken before the start, by the script's identifier. (Not by _SYSTEMD_INVOCATION_ID: journald
    // may not attribute the lines of a process that ends at once to its invocation; a full lab saw
    // the second, instant run's lines without it.)
    const unit = "mailstack-disk-guard.service";
    const guard = () =>
        ssh(
            `c=$(journalctl -n 1 --show-cursor -o cat | sed -n 's/^-- cursor: //p') && systemctl start ${unit} && ` +
                `for i in $(seq 50); do out=$(journalctl --no-pager -o cat --after-cursor="$c" -t mailstack-disk-guard); ` +
                `[ -n "$out" ] && break; sleep 0.1; done; printf '%s\\n' "$out"`,
        ).stdout;
    try {
        fillTo(DISK_ALERT_PERCENT + 1);
        assert.match(guard(), /^alert: \/srv\/mail at \d+%, postmaster postmaster@example\.org told/m);
        const [alert] = await eventually(async () => {
            const found = (await guardMails()).filter((m) => /is \d+% full/.test(m.source));
            return found.length > 0 ? found : undefined;
        }, 30_000);
        assert.match(alert.source, /^Subject: Mail volume of \S+ is 9\d% full$/m);
        assert.match(alert.source, /Raise mailstack:mailVolumeSizeGb/);
        // Still over: told once, not every 10 minutes.
        assert.match(guard(), /postmaster already told/);
        assert.equal(ssh("mailstack-disk-guard status").stdout.trim().split(" ")[0], "alert");

        assert.equal((await mailFrom()).code, 250, "90% full still takes mail");
        fillTo(DISK_FULL_PERCENT + 1);
        const full = await mailFrom();
        assert.equal(full.code, 452, `MAIL FROM with the volume ${percentUsed()}% full: ${full.code} ${full.text}`);
        assert.match(full.text, /^4\.3\.1 Insufficient system storage/);
    } finally {
        ssh("rm -f /srv/mail/ballast");
    }
    assert.equal((await mailFrom()).code, 250, "room again: port 25 takes mail");
    assert.match(guard(), /^clear: \/srv\/mail at \d+%/m);
    await eventually(async () => {
        const found = (await guardMails()).filter((m) => /is back to \d+%/.test(m.source));
        return found.length > 0 ? found : undefined;
    }, 30_000);
    // Exactly two mails for the crossing: one going up, one coming back.
    assert.equal((await guardMails()).length, before + 2);
    assert.equal(ssh("mailstack-disk-guard status").stdout.trim().split(" ")[0], "ok");
});
