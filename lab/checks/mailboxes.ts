// What Dovecot serves of the lab's mailboxes, for the checks that prove mail survives
// something (a server replacement, a restore): compared line by line before and after.
import { allMailboxes } from "../../model";
import { labSpec } from "../lab-config";
import { ssh } from "./helpers";

/**
 * Every mailbox's folders with UIDVALIDITY and message count, and every message's UID,
 * physical size and received date (the file's mtime), as Dovecot serves them; with
 * `flags`, each message's flags and keywords too. By default the lab spec's mailboxes: the
 * one the reprovision check added is not in the config a new server is provisioned from
 * (its Maildir stays on the volume, without a login).
 */
export function mailboxRecord(
    users: readonly string[] = allMailboxes(labSpec()).sort(),
    o: { flags?: boolean } = {},
): string[] {
    const fields = `mailbox uid${o.flags ? " flags" : ""} size.physical date.received`;
    return ssh(
        `for u in ${users.join(" ")}; do
            doveadm -f tab mailbox status -u "$u" "uidvalidity messages" '*' | sed "s|^|$u |"
            doveadm -f tab fetch -u "$u" "${fields}" ALL | sed "s|^|$u |"
        done`,
        { timeoutMs: 120_000 },
    )
        .stdout.trim()
        .split("\n");
}

/** The lines only in `a` and only in `b`, the first few of each, for a readable failure. */
export function lineDiff(a: readonly string[], b: readonly string[]): string {
    const only = (x: readonly string[], y: readonly string[]) => x.filter((l) => !y.includes(l)).slice(0, 5);
    return `before only: ${JSON.stringify(only(a, b))}; after only: ${JSON.stringify(only(b, a))}`;
}
