// What every check can use: the run's context (written by lab/run.ts), SSH to the server,
// the lab's addresses, and unique tags for the messages a check sends.
// Checks run inside the lab's "outside" namespace (msl-out), launched by run.ts.
import * as fs from "node:fs";
import * as path from "node:path";
import { eventually, imapFetch } from "../clients";
import { STATE_DIR } from "../harness/processes";
import { ssh } from "../harness/ssh";
import type { LabContext } from "../run";

export { hardRebootContainer, MAIL_VOLUME_DEVICE, rebootContainer } from "../harness/container";
export { NET } from "../harness/net";
export { STATE_DIR } from "../harness/processes";
export { ssh } from "../harness/ssh";

export function context(): LabContext {
    return JSON.parse(fs.readFileSync(path.join(STATE_DIR, "context.json"), "utf8")) as LabContext;
}

/** A string no earlier message contains (a subject, a marker), e.g. `relay-m3x0f2-k9a1b`. */
export function tag(prefix: string): string {
    return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}

/** "25, 465, 587, 993 and 995": a list for a check's name. */
export function inWords(items: readonly (string | number)[]): string {
    return items.length < 2 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}

/** What checks keep beside the lab's report (the webmail's screenshots): MAILSTACK_LAB_ARTIFACTS, or this. */
export const ARTIFACTS_DIR = process.env.MAILSTACK_LAB_ARTIFACTS ?? "/var/tmp/mailstack-lab-artifacts";

/** What Postfix's SMTP client logged since `since` (epoch ms). */
export function smtpLog(since: number): string {
    return ssh(`journalctl --no-pager -q -o cat -t postfix/smtp --since=@${Math.floor(since / 1000)}`).stdout;
}

/** The SMTP client's first `status=deferred` line for `to` since `since` (waits up to 60 s). */
export function deferredLine(to: string, since: number): Promise<string> {
    return eventually(
        () =>
            smtpLog(since)
                .split("\n")
                .find((l) => l.includes(`to=<${to}>`) && l.includes("status=deferred")),
        60_000,
    );
}

/** Every queued message with a recipient `to` deleted, so later checks see no leftovers. */
export function dropQueued(to: string): void {
    ssh(
        `postqueue -j | python3 -c 'import json, sys\nfor l in sys.stdin:\n q = json.loads(l)\n if any(r["address"] == "${to}" for r in q["recipients"]): print(q["queue_id"])' | postsuper -d - >/dev/null 2>&1 || true`,
    );
}

/**
 * The one message with this subject in the user's INBOX, fetched over IMAPS (SEARCH SUBJECT,
 * answered from the full-text index) once it arrived; waits up to 60 s, since a search first
 * has the indexer take in what its index lacks (fts_search_add_missing). When it does not
 * come, the error says whether it reached the Maildir and what Dovecot said of the search.
 */
export async function fetchArrived(user: string, pass: string, subject: string) {
    const [local, domain] = user.split("@");
    if (!/^[\w.+-]+$/.test(local ?? "") || !/^[\w.-]+$/.test(domain ?? "") || !/^[\w.-]+$/.test(subject))
        throw new Error(`fetchArrived: unexpected user or subject ${user} ${subject}`);
    return eventually(
        () => imapFetch(user, pass, { subject }).then((m) => (m.length === 1 ? m : undefined)),
        60_000,
    ).catch((err: Error) => {
        const files = ssh(`grep -rlsF -- 'Subject: ${subject}' /srv/mail/vhosts/${domain}/${local}/Maildir | wc -l`, {
            allowFail: true,
        }).stdout.trim();
        const search = ssh(`timeout 40 doveadm search -u ${user} mailbox INBOX subject ${subject} 2>&1 | tail -n 3`, {
            allowFail: true,
            timeoutMs: 60_000,
        }).stdout.trim();
        const log = ssh("journalctl -q -o cat -u dovecot --since=-3min | grep -E 'Error|Warning' | tail -n 5", {
            allowFail: true,
        }).stdout.trim();
        throw new Error(
            `${err.message}: ${subject} is in ${files} file(s) of ${user}'s Maildir; doveadm search: ${search || "(nothing)"}; Dovecot's last errors: ${log || "(none)"}`,
        );
    });
}

/**
 * One run of mailstack-import, as its timer starts it; the status line doctor reads and the
 * run's journal. The step's own first run may still be going: start waits for it, then runs
 * once more. The import checks' runs follow each other within seconds, past systemd's start
 * limit (5 in 10 s): its count is cleared first.
 */
export function runImport(): { ok: boolean; status: string; journal: string } {
    const since = ssh("date +%s").stdout.trim();
    ssh("systemctl reset-failed mailstack-import.service", { allowFail: true });
    const r = ssh("systemctl start mailstack-import.service", { allowFail: true });
    const status = ssh("mailstack-import status").stdout.trim();
    const journal = ssh(`journalctl -q -o cat -u mailstack-import --since=@${since}`).stdout;
    return { ok: r.status === 0, status, journal };
}
