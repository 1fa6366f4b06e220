// What became of mail sent to the lab server, read on the server over SSH: the files that
// reached a Maildir, what Postfix logged since a moment, and the queue. Used by the checks
// and by the bench (bench/).

import { ssh } from "../harness/ssh";

export interface Delivered {
    /** Files in the Maildir (new/ and cur/) whose Subject starts with the given subject. */
    count: number;
    /** Epoch ms of the newest of them (its mtime: when Dovecot wrote it); 0 when none. */
    lastAt: number;
}

/** The messages of one burst (Subject `<subject> <n>`) in the Maildir of `box`, e.g. "example.org/alice". */
export function delivered(box: string, subject: string): Delivered {
    if (!/^[\w.-]+\/[\w.+-]+$/.test(box) || !/^[\w.-]+$/.test(subject))
        throw new Error(`delivered: unexpected mailbox or subject ${box} ${subject}`);
    const dir = `/srv/mail/vhosts/${box}/Maildir`;
    const [count, last] = ssh(
        `grep -rlsF -- 'Subject: ${subject} ' ${dir}/new ${dir}/cur | xargs -r stat -c %.3Y | sort -n | awk 'END { print NR, $0 }'`,
    )
        .stdout.trim()
        .split(" ");
    return { count: Number(count), lastAt: Math.round(Number(last || 0) * 1000) };
}

/** The same for several mailboxes, added up; lastAt is the newest file of them all. */
export function deliveredTo(boxes: readonly string[], subject: string): Delivered {
    const each = boxes.map((b) => delivered(b, subject));
    return { count: each.reduce((n, d) => n + d.count, 0), lastAt: Math.max(0, ...each.map((d) => d.lastAt)) };
}

export interface MailLog {
    /** LMTP deliveries to Dovecot that succeeded (`postfix/lmtp ... status=sent`). */
    sent: number;
    /** Deliveries Postfix put off for later (`status=deferred`), and the first few of those lines. */
    deferred: number;
    deferredLines: string[];
    /** Dovecot's refusals above its per-user limit (`451 ... Too many concurrent deliveries`). */
    tooManyConcurrent: number;
    /** journald's own notices that it dropped lines (its rate limit): the counts above are then incomplete. */
    suppressed: string[];
}

/** What Postfix logged from `sinceMs` (epoch ms, rounded down to the second) until now. */
export function mailLogSince(sinceMs: number): MailLog {
    const since = Math.floor(sinceMs / 1000);
    const text = ssh(`journalctl --no-pager -q -o short-iso --since=@${since}`, { timeoutMs: 60_000 }).stdout;
    const lines = text.split("\n");
    const deferred = lines.filter((l) => / postfix\/\S+\[\d+\]: .*status=deferred/.test(l));
    return {
        sent: lines.filter((l) => / postfix\/lmtp\[\d+\]: .*status=sent/.test(l)).length,
        deferred: deferred.length,
        deferredLines: deferred.slice(0, 3),
        tooManyConcurrent: lines.filter((l) => /Too many concurrent deliveries/.test(l)).length,
        suppressed: lines.filter((l) => /systemd-journald\[\d+\]: Suppressed \d+ messages/.test(l)),
    };
}

/** Messages in Postfix's queue (active, incoming, deferred, hold), from `postqueue -j`. */
export function queueLength(): number {
    return Number(ssh("postqueue -j | wc -l").stdout.trim());
}

/** `<prefix>...>` Message-IDs, checked before they go into a shell command. */
function messageIdPattern(prefix: string): string {
    if (!/^[\w.-]+$/.test(prefix)) throw new Error(`unexpected Message-ID prefix ${prefix}`);
    return `Message-ID: <${prefix.replace(/\./g, "\\.")}[^>]*>`;
}

/**
 * How many copies of each message whose Message-ID starts with `prefix` are in any Maildir
 * folder of any mailbox (new/ and cur/; tmp/ holds deliveries not finished), by the
 * Message-ID's left part (before the @).
 */
export function deliveredCopies(prefix: string): Map<string, number> {
    const out = ssh(
        `grep -rhoIE --exclude-dir=tmp -e '^${messageIdPattern(prefix)}' /srv/mail/vhosts | sort | uniq -c`,
        { allowFail: true, timeoutMs: 60_000 },
    ).stdout;
    const copies = new Map<string, number>();
    for (const m of out.matchAll(/^\s*(\d+) Message-ID: <([^@>]+)@[^>]*>$/gm)) copies.set(m[2], Number(m[1]));
    return copies;
}

/** The messages in Postfix's queue whose Message-ID starts with `prefix`: each Message-ID's left part with its queue (active, deferred, ...). */
export function queuedMessageIds(prefix: string): { id: string; queue: string }[] {
    const out = ssh(
        `postqueue -j | python3 -c 'import json, sys\nfor l in sys.stdin:\n q = json.loads(l)\n print(q["queue_name"], q["queue_id"])' | ` +
            `while read -r queue id; do postcat -h -q "$id" 2>/dev/null | grep -oE -e '${messageIdPattern(prefix)}' | sed "s/^/$queue /"; done; true`,
        { timeoutMs: 60_000 },
    ).stdout;
    return [...out.matchAll(/^(\S+) Message-ID: <([^@>]+)@[^>]*>$/gm)].map((m) => ({ queue: m[1], id: m[2] }));
}
