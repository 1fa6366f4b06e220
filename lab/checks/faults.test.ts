// The fault lab (issue 34): during a burst of mail to several mailboxes on port 25 (and a
// stream of submissions on 587), one fault at a time: a daemon killed with SIGKILL, the
// resolver's upstream unreachable for a minute, the mail volume full, the server's power cut. After each, with no step by hand, every message the
// server answered 250 is in a mailbox exactly once (or still queued, then delivered), nothing
// else got a 250, no message got a 5xx (the sender would bounce it), every daemon runs again
// within RECOVERY_SECONDS, nothing of the burst is left in the queue, and full-text search
// finds the burst in every mailbox (the index survived the fault). docs/faults.md has
// the table these print, and the durability settings it all rests on.
//
// What SMTP allows: a message may arrive twice only where an acknowledgement was lost. A
// sender that saw no 250 (its connection dropped) sends again, and the first copy may have
// been queued already; Postfix that saw no 250 from Dovecot's LMTP (the delivery agent or
// Dovecot killed between Dovecot's rename into new/ and its answer) delivers again
// (at-least-once, Postfix's queue(5) and lmtp(8)). Those duplicates are counted and printed;
// a duplicate of a message whose every 250 arrived, after a fault that interrupts no LMTP
// delivery, fails the check.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ACTIVE_UNITS } from "../../render/features";
import { POSTFIX_MASTER_PID } from "../../render/host/accounts";
import { smtpBurst, type BurstOptions, type BurstResult } from "../clients/burst";
import { eventually } from "../clients";
import { deliveredCopies, queuedMessageIds } from "../clients/delivery";
import { sshAsync } from "../harness/ssh";
import { LAB_PASSWORDS } from "../lab-config";
import { hardRebootContainer, ssh, tag } from "./helpers";

const MESSAGES = 300;
const SESSIONS = 10;
const SIZE = 2048;
/** The fault strikes once this many messages of the burst were accepted. */
const STRIKE_AT = 100;
/** Submissions on 587 (alice to bob), started as the fault strikes. */
const SUBMISSIONS = 10;
const MAILBOXES = ["alice@example.org", "bob@example.org", "carol@example.net"];
const ALICE = { user: "alice@example.org", pass: LAB_PASSWORDS["alice@example.org"] };
/** Every daemon runs again within this many seconds of the fault (the reboot: of the kill). */
const RECOVERY_SECONDS = 30;
const REBOOT_RECOVERY_SECONDS = 120;
/** Every unit that must be active on a provisioned server. */
const UNITS = ACTIVE_UNITS;

/** The processes a fault kills (a shell command printing their PIDs) and when they are back. */
interface Fault {
    id: string;
    what: string;
    /** PIDs to kill with SIGKILL, printed one a line on the server. */
    pids?: string;
    /** Anything else (the disk, the power): runs while the burst goes on; resolves when the fault is over. */
    strike?: () => Promise<void>;
    /** Whether an LMTP delivery may be cut between Dovecot's rename and its 250 (Postfix then delivers again). */
    cutsDelivery: boolean;
    /** Whether the 587 stream runs during it (not while Dovecot's auth is down: fail2ban's postfix-sasl jail would count the failures against the lab's client). */
    submissions: boolean;
    recoverySeconds?: number;
    /** The server's own timer that acts after this fault (its service), started now instead of waiting for it. */
    timer?: string;
}

const mainPid = (unit: string) => `systemctl show -p MainPID --value ${unit}`;

const ALL_FAULTS: Fault[] = [
    {
        id: "postfix-master",
        what: "kill -9 of Postfix's master (every Postfix process goes with it)",
        pids: `tr -d ' ' < ${POSTFIX_MASTER_PID}`,
        cutsDelivery: true,
        submissions: true,
    },
    {
        id: "postfix-qmgr",
        what: "kill -9 of Postfix's queue manager",
        pids: "pgrep -x qmgr",
        cutsDelivery: false,
        submissions: true,
    },
    {
        id: "dovecot",
        what: "kill -9 of Dovecot's master (LMTP, auth and IMAP go with it)",
        pids: mainPid("dovecot"),
        cutsDelivery: true,
        submissions: false,
    },
    {
        id: "dovecot-lmtp",
        what: "kill -9 of Dovecot's LMTP processes mid-delivery",
        pids: "pgrep -f '^(dovecot/lmtp|/usr/lib/dovecot/lmtp)'",
        cutsDelivery: true,
        submissions: true,
    },
    {
        id: "rspamd",
        what: "kill -9 of rspamd",
        pids: mainPid("rspamd"),
        cutsDelivery: false,
        submissions: true,
        // Back in about a second when systemd hears that the unit's workers are gone. Inside the
        // lab's container it now and then does not (the host's hybrid cgroup v1): it then waits
        // out TimeoutStopSec twice, after SIGTERM and after SIGKILL (15 s each, rspamd's
        // stop.conf), before the restart. Seen in both CI rehearsals of 2026-12-06 (over 30 s,
        // back a few seconds later). docs/faults.md.
        recoverySeconds: 45,
    },
    {
        id: "opendkim",
        what: "kill -9 of OpenDKIM (signs the 587 stream)",
        pids: mainPid("opendkim"),
        cutsDelivery: false,
        submissions: true,
    },
    {
        id: "valkey",
        what: "kill -9 of Valkey (rspamd's state)",
        pids: mainPid("valkey-server"),
        cutsDelivery: false,
        submissions: true,
    },
    {
        id: "unbound",
        what: "kill -9 of unbound (the resolver)",
        pids: mainPid("unbound"),
        cutsDelivery: false,
        submissions: true,
    },
    {
        id: "resolver-down",
        what: "the resolver's upstream unreachable for a minute (unbound's cache emptied first)",
        strike: resolverUnreachable,
        cutsDelivery: false,
        submissions: true,
    },
    {
        id: "volume-full",
        what: "the mail volume full (every block taken) until the burst is over",
        strike: fillVolume,
        cutsDelivery: false,
        submissions: true,
        // The disk guard (every 2 minutes) ends the indexer workers whose index writes failed.
        timer: "mailstack-disk-guard.service",
    },
    {
        id: "power-cut",
        what: "the server's power cut (every process killed at once), then booted",
        strike: async () => {
            await hardRebootContainer();
        },
        cutsDelivery: true,
        submissions: true,
        recoverySeconds: REBOOT_RECOVERY_SECONDS,
    },
];

/**
 * The faults this run strikes: all of them, or those named in MAILSTACK_LAB_FAULTS (ids, comma
 * separated) when one is being worked on. An unknown id is an error, not an empty run.
 */
const FAULTS: Fault[] = (() => {
    const only = process.env.MAILSTACK_LAB_FAULTS?.split(",").filter(Boolean);
    if (!only) return ALL_FAULTS;
    const unknown = only.filter((id) => !ALL_FAULTS.some((f) => f.id === id));
    if (unknown.length > 0) throw new Error(`MAILSTACK_LAB_FAULTS: no fault ${unknown.join(", ")}`);
    return ALL_FAULTS.filter((f) => only.includes(f.id));
})();

/** Called when the burst is over (the volume-full fault holds until then). */
let burstOver: () => void = () => undefined;
/** When the fault ended: the kill, the power cut, or the volume's blocks given back. */
let faultEndedAt = 0;

/** How long the resolver's upstream stays unreachable. */
const RESOLVER_DOWN_MS = 60_000;
/** nftables table of the server that drops its DNS queries to anything but loopback. */
const NO_DNS = "inet mailstack_fault_dns";

/**
 * The server's own resolver (unbound) loses its upstream for a minute: every query to
 * port 53 beyond loopback is dropped, after unbound's cache (answers and what it knows of
 * its upstream's health) was emptied, so Postfix's and rspamd's lookups find nothing cached.
 * Resolves when the upstream is reachable again.
 */
async function resolverUnreachable(): Promise<void> {
    try {
        await sshAsync(
            `nft add table ${NO_DNS} && nft 'add chain ${NO_DNS} out { type filter hook output priority 0; }' && ` +
                `nft 'add rule ${NO_DNS} out oifname != "lo" meta l4proto { tcp, udp } th dport 53 drop' && ` +
                "unbound-control flush_zone . >/dev/null && unbound-control flush_infra all >/dev/null && unbound-control flush_requestlist >/dev/null",
        );
        // The fault is real: the lab client's name no longer resolves.
        const lookup = await sshAsync(
            "timeout 20 python3 -c 'import socket; socket.getaddrinfo(\"client.sink.test\", 25)'",
            {
                allowFail: true,
                timeoutMs: 30_000,
            },
        );
        assert.notEqual(lookup.status, 0, "client.sink.test still resolved with the resolver's upstream dropped");
        await new Promise((resolve) => setTimeout(resolve, RESOLVER_DOWN_MS));
    } finally {
        await sshAsync(`nft delete table ${NO_DNS}`, { allowFail: true });
        faultEndedAt = Date.now();
    }
}

/** Free bytes on the mail volume below which it counts as full (a few blocks the burst frees and takes again). */
const FULL_BELOW = 65536;

/**
 * Takes the mail volume's free blocks (fallocate: nothing written). The burst frees blocks while
 * this runs (a delivered message's queue file is removed) and takes others, and ext4 needs a few
 * blocks of its own for a large allocation's extents, so a request for every free byte can fail
 * again and again. Each round asks for all but 32 KiB in a file of its own, halving the request
 * while it fails, until df shows less than FULL_BELOW free. Prints the free bytes at the end.
 */
const FILL =
    "for i in $(seq 1 40); do a=$(df -B1 --output=avail /srv/mail | tail -n 1 | tr -dc 0-9); " +
    `[ "$a" -lt ${FULL_BELOW} ] && break; n=$((a - 32768)); ` +
    'while [ "$n" -ge 4096 ] && ! fallocate -l "$n" "/srv/mail/fault-ballast.$$.$i" 2>/dev/null; do n=$((n / 2)); done; done; ' +
    "df -B1 --output=avail /srv/mail | tail -n 1";

/**
 * Takes every free block of the mail volume and keeps it full until the burst is over: every
 * second, blocks the burst freed (queue files of delivered messages) are taken again.
 */
async function fillVolume(): Promise<void> {
    let over = false;
    const ended = new Promise<void>((resolve) => (burstOver = resolve)).then(() => {
        over = true;
    });
    try {
        const r = await sshAsync(FILL);
        assert.ok(Number(r.stdout.trim()) < FULL_BELOW, `the volume still has ${r.stdout.trim()} bytes free`);
        while (!over) {
            await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 1000))]);
            if (!over) await sshAsync(FILL, { allowFail: true });
        }
    } finally {
        await sshAsync("rm -f /srv/mail/fault-ballast.*", { allowFail: true });
        faultEndedAt = Date.now();
    }
}

/**
 * The mailboxes whose full-text search does not find the burst: for each, the messages of
 * the burst in its INBOX (files) against what a SEARCH SUBJECT finds there (answered from
 * the index, fts_search_read_fallback = no). A folder whose index was left locked or broken
 * by the fault finds nothing (after fts_search_timeout) or too little.
 */
function searchMisses(subject: string): string[] {
    const script = MAILBOXES.map((address) => {
        const [local, domain] = address.split("@");
        const dir = `/srv/mail/vhosts/${domain}/${local}/Maildir`;
        return (
            `files=$(grep -rlsF -- 'Subject: ${subject}' ${dir}/new ${dir}/cur | wc -l); ` +
            `found=$(timeout 60 doveadm search -u ${address} mailbox INBOX subject ${subject} 2>/tmp/fault-search.err | grep -c . || true); ` +
            `[ "$files" = "$found" ] || echo "${address}: $files in INBOX, search found $found $(head -c 300 /tmp/fault-search.err)"`
        );
    }).join("; ");
    return ssh(script, { timeoutMs: 200_000 }).stdout.trim().split("\n").filter(Boolean);
}

/** The units that are not active. */
function unitsDown(): string[] {
    const states = ssh(`for u in ${UNITS.join(" ")}; do printf '%s %s\\n' $u $(systemctl is-active $u); done`, {
        allowFail: true,
    }).stdout;
    return states
        .trim()
        .split("\n")
        .filter((l) => !l.endsWith(" active"));
}

/**
 * Seconds from the end of the fault until every unit is active and each killed process is
 * gone with another in its place (but Dovecot's LMTP, started on demand); asks every 250 ms
 * without holding up the burst.
 */
async function backAfter(fault: Fault, killed: readonly string[]): Promise<number> {
    const limit = (fault.recoverySeconds ?? RECOVERY_SECONDS) * 1000;
    const pids = killed.length > 0 && fault.id !== "dovecot-lmtp" ? `$(${fault.pids}) ${killed.join(" ")}` : "";
    const probe =
        `for u in ${UNITS.join(" ")}; do [ "$(systemctl is-active $u)" = active ] || echo "down $u"; done; ` +
        `for p in ${pids}; do [ "$p" != 0 ] && kill -0 $p 2>/dev/null && echo "live $p"; done; true`;
    let last = "";
    for (;;) {
        const r = await sshAsync(probe, { allowFail: true, timeoutMs: 15_000 });
        const lines = r.status === 0 ? r.stdout.trim().split("\n").filter(Boolean) : ["down ssh"];
        const live = lines.filter((l) => l.startsWith("live ")).map((l) => l.slice(5));
        const down = lines.filter((l) => l.startsWith("down "));
        const replaced = pids === "" || (live.length > 0 && live.every((p) => !killed.includes(p)));
        if (down.length === 0 && replaced) return Math.round((Date.now() - faultEndedAt) / 100) / 10;
        last = down.join(", ") || `${fault.pids}: ${live.join(" ") || "none"} (killed ${killed.join(" ")})`;
        if (Date.now() - faultEndedAt > limit)
            throw new Error(`not back within ${limit / 1000} s of the fault: ${last}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
    }
}

interface Row {
    fault: string;
    accepted: number;
    refused: number;
    resent: number;
    delivered: number;
    lost: number;
    duplicated: number;
    deferred: number;
    recovered: number;
}
const rows: Row[] = [];

/** Sends what the burst did not get accepted again, as a sender retries, until all is accepted (at most a few rounds). */
async function retry(o: BurstOptions, first: BurstResult): Promise<{ accepted: Set<number>; resent: number }> {
    const accepted = new Set(first.acceptedNumbers);
    let todo = first.notAcceptedNumbers;
    let resent = 0;
    for (let round = 0; todo.length > 0 && round < 5; round++) {
        if (round > 0) await new Promise((r) => setTimeout(r, 3000));
        resent += todo.length;
        const again = await smtpBurst({ ...o, only: todo });
        assert.deepEqual(
            again.refused.filter((r) => /^5/.test(r)),
            [],
            "a retry was refused for good (5xx): the sender would bounce it",
        );
        for (const i of again.acceptedNumbers) accepted.add(i);
        todo = again.notAcceptedNumbers;
    }
    assert.deepEqual(todo, [], `still not accepted after the sender's retries: ${todo.length}`);
    return { accepted, resent };
}

for (const fault of FAULTS) {
    void test(`Fault: ${fault.what}, mid-burst of ${MESSAGES} messages to ${MAILBOXES.length} mailboxes${fault.submissions ? ` and ${SUBMISSIONS} submissions` : ""}: every message answered 250 is delivered, none lost, none duplicated beyond a lost 250, no 5xx, every daemon back within ${fault.recoverySeconds ?? RECOVERY_SECONDS} s, the queue empty of it`, async () => {
        assert.deepEqual(unitsDown(), [], "a unit is down before the fault");
        const subject = tag(`fault-${fault.id}`);
        const inbound: BurstOptions = {
            port: 25,
            count: MESSAGES,
            sessions: SESSIONS,
            from: "newsletter@sink.test",
            to: (i) => MAILBOXES[i % MAILBOXES.length],
            size: SIZE,
            subject,
        };
        const submitted: BurstOptions = {
            port: 587,
            count: SUBMISSIONS,
            sessions: 2,
            from: ALICE.user,
            to: () => "bob@example.org",
            size: SIZE,
            subject: `${subject}-sub`,
            auth: ALICE,
        };
        let killed: string[] = [];
        let strike: Promise<void> | undefined;
        let recovery: Promise<number> | undefined;
        let submissions: Promise<BurstResult> | undefined;
        let n = 0;
        try {
            const burst = await smtpBurst({
                ...inbound,
                onAccepted: () => {
                    if (++n !== STRIKE_AT) return;
                    faultEndedAt = Date.now();
                    strike = fault.pids
                        ? sshAsync(`p=$(${fault.pids}); kill -9 $p; echo $p`).then((r) => {
                              killed = r.stdout.trim().split(/\s+/).filter(Boolean);
                          })
                        : fault.strike!();
                    // Timed while the burst goes on, from the kill, the power cut or the volume's blocks given back.
                    recovery = strike.then(() => backAfter(fault, killed));
                    recovery.catch(() => undefined); // awaited below: no unhandled rejection meanwhile
                    if (fault.submissions) submissions = smtpBurst(submitted);
                },
            });
            assert.ok(strike, `the burst ended before ${STRIKE_AT} messages were accepted: ${burst.refused[0]}`);
            burstOver();
            await strike;
            if (fault.pids) assert.ok(killed.length > 0, `nothing to kill: ${fault.pids}`);
            const sub = submissions ? await submissions : undefined;
            const recovered = await recovery!;

            for (const r of [burst, sub]) {
                assert.deepEqual(
                    r?.refused.filter((x) => /^5/.test(x)) ?? [],
                    [],
                    "refused for good (5xx) during the fault: the sender would bounce it",
                );
            }
            const first = new Set(burst.acceptedNumbers.map((i) => `${subject}.${i}`));
            for (const i of sub?.acceptedNumbers ?? []) first.add(`${subject}-sub.${i}`);
            const again = await retry(inbound, burst);
            const againSub = sub ? await retry(submitted, sub) : undefined;
            const ids = [
                ...[...again.accepted].map((i) => `${subject}.${i}`),
                ...[...(againSub?.accepted ?? [])].map((i) => `${subject}-sub.${i}`),
            ];
            const expected = MESSAGES + (sub ? SUBMISSIONS : 0);
            assert.equal(ids.length, expected);

            // Until each accepted message is in a mailbox, or waits in the deferred queue for
            // its next try (and nothing of the burst is still being delivered).
            const arrived = () => deliveredCopies(subject);
            const settled = () => {
                const c = arrived();
                const missing = ids.filter((id) => !c.has(id));
                if (missing.length === 0) return { copies: c, deferred: [] as string[] };
                const queued = queuedMessageIds(subject);
                const deferred = new Set(queued.filter((q) => q.queue === "deferred").map((q) => q.id));
                const busy = queued.some((q) => q.queue !== "deferred");
                return !busy && missing.every((id) => deferred.has(id)) ? { copies: c, deferred: missing } : undefined;
            };
            // 120 s: a fault that also failed Postfix's own writes to the queue (the volume full)
            // can leave the LMTP transport suspended for transport_retry_time (60 s) after it.
            const state = await eventually(settled, 120_000, 1000).catch(() => {
                const c = arrived();
                const queued = new Set(queuedMessageIds(subject).map((q) => q.id));
                const lost = ids.filter((id) => !c.has(id) && !queued.has(id));
                throw new Error(
                    `after 120 s: ${ids.length - lost.length} of ${ids.length} accepted messages delivered or queued; lost: ${lost.slice(0, 5).join(", ") || "none, still being delivered"}\n${ssh("postqueue -p | head -n 40").stdout}`,
                );
            });
            // Deferred by the fault (Dovecot down, the volume full): Postfix tries them again
            // after minimal_backoff_time (5 minutes); the lab asks for that try now instead.
            let copies = state.copies;
            if (state.deferred.length > 0) {
                ssh("postqueue -f");
                copies = await eventually(
                    () => {
                        const c = arrived();
                        return ids.every((id) => c.has(id)) ? c : undefined;
                    },
                    60_000,
                    1000,
                ).catch(() => {
                    const c = arrived();
                    throw new Error(
                        `after the queue's next try ${ids.filter((id) => !c.has(id)).length} of ${ids.length} accepted messages still not delivered`,
                    );
                });
            }
            // A queue file can outlive its delivery: with the queue manager killed while a
            // delivery agent had the file open, the new queue manager finds it locked. It puts
            // it back in incoming with its time stamp 60 s ahead (qmgr_active_feed), where only
            // the next scan of incoming looks again: new mail's trigger, or the queue manager's
            // wakeup (300 s in master.cf). Or the delivery agent's report is lost and the file
            // waits in deferred for minimal_backoff_time (both seen in CI), its recipients all
            // marked done. The next look only removes it; the lab asks for it now (postqueue -f
            // scans incoming and deferred, time stamps ignored), and says why it waited.
            let lateDeferred = 0;
            await eventually(
                () => {
                    const left = queuedMessageIds(subject);
                    const waiting = left.filter((q) => q.queue === "deferred" || q.queue === "incoming");
                    if (waiting.length > 0 && lateDeferred === 0) {
                        lateDeferred = waiting.length;
                        console.log(
                            `fault ${fault.id}: ${waiting.length} delivered message(s) still waiting in ${[...new Set(waiting.map((q) => q.queue))].join(" and ")}:\n${ssh("postqueue -p").stdout}`,
                        );
                        ssh("postqueue -f");
                    }
                    return left.length === 0;
                },
                60_000,
                1000,
            ).catch(() => {
                throw new Error(
                    `${queuedMessageIds(subject).length} messages of the burst still queued:\n${ssh("postqueue -p").stdout}`,
                );
            });
            copies = arrived();
            const dupes = [...copies].filter(([, c]) => c > 1);
            // A copy too many is allowed where a 250 was lost: the sender's (it sent again a
            // message it saw no 250 for), or Postfix's (an LMTP delivery cut before Dovecot's 250).
            const unexplained = dupes.filter(([id]) => first.has(id) && !fault.cutsDelivery);
            const row: Row = {
                fault: fault.id,
                accepted: first.size,
                refused: expected - first.size,
                resent: again.resent + (againSub?.resent ?? 0),
                delivered: copies.size,
                lost: ids.filter((id) => !copies.has(id)).length,
                duplicated: dupes.reduce((sum, [, c]) => sum + c - 1, 0),
                deferred: state.deferred.length + lateDeferred,
                recovered,
            };
            rows.push(row);
            console.log(`fault ${JSON.stringify(row)}`);
            assert.equal(row.lost, 0);
            assert.deepEqual(unexplained, [], "duplicated although every 250 arrived and no LMTP delivery was cut");
            // Search still works: every mailbox's index took the burst in (or takes it in now).
            if (fault.timer) {
                ssh(`systemctl start ${fault.timer}`);
                console.log(
                    `fault ${fault.id}, ${fault.timer}: ${ssh(`journalctl -q -o cat -u ${fault.timer} -n 12`).stdout}`,
                );
            }
            // Within 5 minutes: a folder the guard's rescan queued is being indexed again, and a
            // search that comes first waits for that and may time out (fts_search_timeout, 30 s),
            // as a user's would; a later one finds it all (seen: 121 s, three timeouts, carol's
            // INBOX). How long it took is printed, and the indexer's state at the first miss.
            const searchFrom = Date.now();
            let misses = searchMisses(subject);
            for (let tries = 1; misses.length > 0; tries++) {
                console.log(`fault ${fault.id}: search, try ${tries}: ${misses.join("; ")}`);
                const late = Date.now() - searchFrom > 300_000;
                if (tries === 1 || late)
                    console.log(
                        `fault ${fault.id}: ${ssh("doveadm indexer list; pgrep -a indexer; journalctl -q -o cat -u dovecot -n 20 | grep -i index", { allowFail: true }).stdout}`,
                    );
                if (late) break;
                await new Promise((r) => setTimeout(r, 5000));
                misses = searchMisses(subject);
            }
            if (Date.now() - searchFrom > 5000)
                console.log(
                    `fault ${fault.id}: search whole again after ${((Date.now() - searchFrom) / 1000).toFixed(0)} s`,
                );
            assert.deepEqual(misses, [], "full-text search after the fault, 5 minutes on");
        } finally {
            // Whatever failed, the next fault (and check) gets a whole server.
            burstOver();
            burstOver = () => undefined;
            await strike?.catch(() => undefined);
            await recovery?.catch(() => undefined);
            ssh(`rm -f /srv/mail/fault-ballast.*; systemctl start ${UNITS.join(" ")}; postqueue -f`, {
                allowFail: true,
            });
        }
    });
}

void test("The fault table", () => {
    const header =
        "| fault | 250 at first | not accepted (4xx, dropped) | sent again | delivered | lost | duplicated | deferred | back after (s) |";
    const lines = rows.map(
        (r) =>
            `| ${r.fault} | ${r.accepted} | ${r.refused} | ${r.resent} | ${r.delivered} | ${r.lost} | ${r.duplicated} | ${r.deferred} | ${r.recovered} |`,
    );
    console.log([header, "|---|---|---|---|---|---|---|---|---|", ...lines].join("\n"));
    assert.equal(rows.length, FAULTS.length, "a fault's check failed before its row");
});
