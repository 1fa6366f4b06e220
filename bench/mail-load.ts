// The mail loads: the smtp-sink ceiling, bursts on port 25, submission on 587, reading
// over IMAPS and POP3S.

import * as path from "node:path";
import type { BurstResult } from "../lab/clients/burst";
import { deliveredTo, mailLogSince, queueLength } from "../lab/clients/delivery";
import { containerCpu } from "../lab/harness/memory";
import { sleep, STATE_DIR } from "../lab/harness/processes";
import { ssh } from "../lab/harness/ssh";
import { LAB_PASSWORDS } from "../lab/lab-config";
import { sinkMessages } from "../lab/world/sink";
import { port } from "../model";
import { note, put } from "./figures";
import type { BurstArgs, ReadResult } from "./load";
import { ALICE, MAILBOXES, MESSAGE_BYTES, SIZE } from "./options";
import { load, type MemoryPeak, putCpu, waitFor, withinLogBudget } from "./server";

export function sinkCeiling(): number {
    const r = ssh(
        [
            "smtp-sink -u nobody 127.0.0.1:2525 256 >/dev/null 2>&1 & sink=$!",
            "sleep 0.5",
            "s=$(date +%s.%N)",
            `smtp-source -s 20 -m ${SIZE.ceiling} -l ${MESSAGE_BYTES} -f bench@sink.test -t ${ALICE} 127.0.0.1:2525; rc=$?`,
            "e=$(date +%s.%N)",
            "kill $sink",
            'echo "$rc $s $e"',
        ].join("\n"),
        { timeoutMs: 300_000 },
    );
    const [rc, s, e] = r.stdout.trim().split("\n").pop()!.split(" ").map(Number);
    if (rc !== 0) throw new Error(`smtp-source exited ${rc}: ${r.stderr}`);
    return SIZE.ceiling / (e - s);
}

/** A burst on port 25 to `recipients` (round robin), delivered into their Maildirs; records its figures under `id`. */
export async function port25(
    id: string,
    what: string,
    recipients: string[],
    count: number,
    peak: MemoryPeak,
): Promise<{ accepted: number; delivered: number; subject: string }> {
    await withinLogBudget(count);
    const subject = `bench-${id}-${Date.now().toString(36)}`;
    peak.start();
    const cpuBefore = containerCpu();
    const burst = await load<BurstResult>("burst", {
        port: port("smtp"),
        count,
        sessions: SIZE.sessions,
        from: "newsletter@sink.test",
        recipients,
        size: MESSAGE_BYTES,
        subject,
    } satisfies BurstArgs);
    const boxes = MAILBOXES.filter((m) => recipients.includes(m.address)).map((m) => m.box);
    const extraBoxes = recipients.filter((r) => !MAILBOXES.some((m) => m.address === r));
    const allBoxes = [...boxes, ...extraBoxes.map((a) => `${a.split("@")[1]}/${a.split("@")[0]}`)];
    const got = await waitFor(() => deliveredTo(allBoxes, subject), burst.accepted, peak);
    peak.stop();
    putCpu(id, what, cpuBefore, got.count);
    const log = mailLogSince(burst.startedAt);
    const complete = log.suppressed.length === 0 && log.sent >= got.count;
    const accepted = burst.perSecond;
    const delivered = got.count >= burst.accepted ? got.count / ((got.lastAt - burst.startedAt) / 1000) : NaN;
    put(`${id}.accepted`, `${what}: accepted on port 25`, "msg/s", accepted);
    put(`${id}.delivered`, `${what}: delivered to the Maildir (first connect to last file)`, "msg/s", delivered);
    put(`${id}.refused`, `${what}: refused or failed`, "messages", burst.refused.length);
    put(`${id}.missing`, `${what}: not in the Maildir after 120 s`, "messages", count - got.count);
    put(`${id}.deferred`, `${what}: deferred (mail log)`, "deliveries", complete ? log.deferred : null);
    put(`${id}.ratio`, `${what}: delivered / accepted`, "ratio", delivered / accepted);
    if (!complete) console.error(`bench: ${id}: the mail log is incomplete (${log.suppressed.join("; ")})`);
    if (log.deferred > 0) note(`${id}: ${log.deferred} deferred, e.g.\n${log.deferredLines.join("\n")}`);
    console.log(
        `bench: ${id}: ${count} messages, ${accepted.toFixed(0)} msg/s accepted, ${delivered.toFixed(0)} msg/s delivered, ${log.deferred} deferred, queue ${queueLength()}`,
    );
    return { accepted, delivered, subject };
}

/**
 * Runs `f` with port 25's milters (rspamd) switched off in main.cf, and puts the rendered
 * main.cf back afterwards, byte for byte.
 */
export async function withoutSpamFilter<T>(f: () => Promise<T>): Promise<T> {
    ssh("cp -p /etc/postfix/main.cf /run/main.cf.bench && postconf -e 'smtpd_milters =' && postfix reload");
    try {
        return await f();
    } finally {
        ssh("cp -p /run/main.cf.bench /etc/postfix/main.cf && rm /run/main.cf.bench && postfix reload");
    }
}

/** Submission on 587: STARTTLS, AUTH, the From: milter and DKIM, relayed to the lab's sink. */
export async function submission(peak: MemoryPeak): Promise<void> {
    await withinLogBudget(SIZE.submission);
    const subject = `bench-587-${Date.now().toString(36)}`;
    const sinkDir = path.join(STATE_DIR, "sink");
    peak.start();
    const cpuBefore = containerCpu();
    const burst = await load<BurstResult>("burst", {
        port: port("submission"),
        count: SIZE.submission,
        sessions: Math.max(1, Math.min(SIZE.sessions, SIZE.submission / SIZE.perConnection)),
        perConnection: SIZE.perConnection,
        from: ALICE,
        recipients: ["bench@sink.test"],
        size: MESSAGE_BYTES,
        subject,
        auth: { user: ALICE, pass: LAB_PASSWORDS[ALICE] },
    } satisfies BurstArgs);
    let arrived: ReturnType<typeof sinkMessages> = [];
    const start = Date.now();
    while (Date.now() - start < 120_000) {
        arrived = sinkMessages(sinkDir).filter((m) => m.raw.includes(`Subject: ${subject} `));
        peak.sample();
        if (arrived.length >= burst.accepted) break;
        await sleep(500);
    }
    peak.stop();
    putCpu("587", "submission 587", cpuBefore, arrived.length);
    const lastAt = Math.max(...arrived.map((m) => Date.parse(m.receivedAt)));
    const signed = arrived.filter((m) => /^DKIM-Signature:/im.test(m.raw)).length;
    const log = mailLogSince(burst.startedAt);
    put("587.accepted", "submission 587 (STARTTLS, AUTH, From: milter, DKIM): accepted", "msg/s", burst.perSecond);
    put(
        "587.delivered",
        "submission 587: relayed to the lab's sink (first connect to last arrival)",
        "msg/s",
        arrived.length >= burst.accepted ? arrived.length / ((lastAt - burst.startedAt) / 1000) : NaN,
    );
    put("587.refused", "submission 587: refused or failed", "messages", burst.refused.length);
    put("587.unsigned", "submission 587: arrived without a DKIM signature", "messages", arrived.length - signed);
    put(
        "587.deferred",
        "submission 587: deferred (mail log)",
        "deliveries",
        log.suppressed.length ? null : log.deferred,
    );
    if (log.deferred > 0) note(`587: ${log.deferred} deferred, e.g.\n${log.deferredLines.join("\n")}`);
    console.log(
        `bench: 587: ${SIZE.submission} messages in ${SIZE.submission / SIZE.perConnection} logins, ${burst.perSecond.toFixed(0)} msg/s accepted, ${arrived.length} at the sink`,
    );
}

/** Reading: IMAP fetches the burst's messages (headers and bodies), POP3 downloads as many. */
export async function reading(subject: string, count: number): Promise<void> {
    const imap = await load<ReadResult>("imap", { user: ALICE, pass: LAB_PASSWORDS[ALICE], subject });
    put("imap.seconds", `IMAPS: fetch ${count} messages (headers and bodies, one session)`, "s", imap.seconds);
    put("imap.rate", "IMAPS: fetched", "msg/s", imap.messages / imap.seconds);
    put("imap.count", "IMAPS: messages fetched", "messages", imap.messages);
    const pop3 = await load<ReadResult>("pop3", { user: ALICE, pass: LAB_PASSWORDS[ALICE], count });
    put("pop3.seconds", `POP3S: download ${count} messages (RETR, one session)`, "s", pop3.seconds);
    put("pop3.rate", "POP3S: downloaded", "msg/s", pop3.messages / pop3.seconds);
    put("pop3.count", "POP3S: messages downloaded", "messages", pop3.messages);
}
