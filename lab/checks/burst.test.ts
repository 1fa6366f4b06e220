import assert from "node:assert/strict";
import { test } from "node:test";
import { smtpBurst } from "../clients/burst";
import { eventually } from "../clients";
import { delivered, mailLogSince, queueLength } from "../clients/delivery";
import { tag } from "./helpers";

// Issue 9: a burst to one mailbox used to be deferred (Postfix opened more LMTP deliveries
// to one user than Dovecot's lmtp_user_concurrency_limit, Dovecot answered 451, and the
// mail waited minutes in the queue). Deferred mail is retried after minutes
// (minimal_backoff_time), so a burst delivered in full within the timeout below was not
// deferred; the log says so too, and it is complete (one LMTP "sent" line per message).
const MESSAGES = 1000;
const SESSIONS = 20;
const SIZE = 4096;

void test(`A burst of ${MESSAGES} messages of 4 KiB in ${SESSIONS} parallel sessions to one mailbox on port 25 is delivered in full to alice's Maildir, none deferred, and the queue is empty afterwards`, async () => {
    const subject = tag("burst");
    const burst = await smtpBurst({
        port: 25,
        count: MESSAGES,
        sessions: SESSIONS,
        from: "newsletter@sink.test",
        to: () => "alice@example.org",
        size: SIZE,
        subject,
    });
    assert.deepEqual(burst.refused.slice(0, 5), [], `${burst.refused.length} of ${MESSAGES} refused`);
    assert.equal(burst.accepted, MESSAGES);
    // Until every file is there, or the log shows a deferral (which would wait minutes).
    const got = await eventually(
        () => {
            const d = delivered("example.org/alice", subject);
            return d.count >= MESSAGES || mailLogSince(burst.startedAt).deferred > 0 ? d : undefined;
        },
        90_000,
        2000,
    ).catch(() => delivered("example.org/alice", subject));
    const log = mailLogSince(burst.startedAt);
    assert.equal(
        log.deferred,
        0,
        `${log.deferred} deliveries deferred (${log.tooManyConcurrent} of them by Dovecot's per-user limit), ${got.count} of ${MESSAGES} in the Maildir, ${queueLength()} queued:\n${log.deferredLines.join("\n")}`,
    );
    assert.equal(got.count, MESSAGES, `${got.count} of ${MESSAGES} in the Maildir after 90 s, ${queueLength()} queued`);
    assert.deepEqual(log.suppressed, [], "journald dropped lines of the mail log: its counts are incomplete");
    assert.ok(log.sent >= MESSAGES, `only ${log.sent} LMTP deliveries logged for ${MESSAGES} messages`);
    await eventually(() => queueLength() === 0, 20_000).catch(() => {
        throw new Error(`the queue still holds ${queueLength()} messages`);
    });
    const seconds = (got.lastAt - burst.startedAt) / 1000;
    console.log(
        `burst: ${burst.perSecond.toFixed(0)} msg/s accepted, ${(MESSAGES / seconds).toFixed(0)} msg/s delivered (${seconds.toFixed(1)} s to the last file)`,
    );
});
