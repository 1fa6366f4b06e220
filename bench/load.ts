// The bench's clients, run by bench/run.ts inside the lab's outside namespace (msl-out),
// one phase per process, so that bench/run.ts can sample the server's memory meanwhile.
// Prints one JSON line with the result.
//
//   tsx bench/load.ts burst '{"port":25,"count":1000,...,"recipients":["alice@example.org"]}'
//   tsx bench/load.ts imap  '{"user":"alice@example.org","pass":"...","subject":"bench-..."}'
//   tsx bench/load.ts pop3  '{"user":"alice@example.org","pass":"...","count":1000}'
//   tsx bench/load.ts logins '{"rounds":10}'   (bench/logins.ts)

import { performance } from "node:perf_hooks";
import { type BurstOptions, smtpBurst } from "../lab/clients/burst";
import { imapFetch, pop3Session } from "../lab/clients";
import { statCount } from "../wire/pop3";
import { measureLogins } from "./logins";

export type BurstArgs = Omit<BurstOptions, "to"> & { recipients: string[] };
export interface ReadResult {
    messages: number;
    bytes: number;
    seconds: number;
}

async function imap(a: { user: string; pass: string; subject: string }): Promise<ReadResult> {
    const start = performance.now();
    const got = await imapFetch(a.user, a.pass, { subject: a.subject });
    const seconds = (performance.now() - start) / 1000;
    return { messages: got.length, bytes: got.reduce((n, m) => n + m.source.length, 0), seconds };
}

/** One POP3S session: log in, STAT, RETR the last `count` messages one after the other. */
async function pop3(a: { user: string; pass: string; count: number }): Promise<ReadResult> {
    const [, , , stat] = await pop3Session([`USER ${a.user}`, `PASS ${a.pass}`, "STAT"]);
    const total = statCount(stat);
    const first = Math.max(1, total - a.count + 1);
    const start = performance.now();
    const retrs = Array.from({ length: total - first + 1 }, (_, k) => `RETR ${first + k}`);
    const replies = await pop3Session([`USER ${a.user}`, `PASS ${a.pass}`, ...retrs]);
    const seconds = (performance.now() - start) / 1000;
    const bodies = replies.slice(3).filter((r) => r.startsWith("+OK"));
    return { messages: bodies.length, bytes: bodies.reduce((n, r) => n + r.length, 0), seconds };
}

async function main(): Promise<void> {
    const [phase, json] = process.argv.slice(2);
    const args = JSON.parse(json ?? "{}");
    let result: unknown;
    if (phase === "burst") {
        const { recipients, ...o } = args as BurstArgs;
        result = await smtpBurst({ ...o, to: (i) => recipients[i % recipients.length] });
    } else if (phase === "imap") result = await imap(args);
    else if (phase === "pop3") result = await pop3(args);
    else if (phase === "logins") result = await measureLogins((args as { rounds: number }).rounds);
    else throw new Error(`unknown phase ${phase}`);
    console.log(JSON.stringify(result));
}

main().catch((err) => {
    console.error(`bench/load: ${(err as Error).stack ?? err}`);
    process.exit(1);
});
