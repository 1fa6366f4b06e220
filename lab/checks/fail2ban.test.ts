import assert from "node:assert/strict";
import { test } from "node:test";
import * as tls from "node:tls";
import { authPlain, eventually, SERVER, sieveAuthPlain, sieveDialog, smtpDialog, tcpProbe } from "../clients";
import { NET, ssh } from "./helpers";

// A password guesser at its own documentation address: banned here, unbanned at the end,
// so no other check is affected.
const GUESSER = NET.attacker4;

function banned(jail: string): string[] {
    const out = ssh(`fail2ban-client status ${jail}`).stdout;
    return (/Banned IP list:\s*(.*)$/m.exec(out)?.[1] ?? "").split(/\s+/).filter(Boolean);
}

/** Whether GUESSER can still open a TCP connection to the port (a ban rejects or drops). */
async function reachable(port: number): Promise<boolean> {
    return (await tcpProbe(port, SERVER, GUESSER).catch(() => "refused")) === "open";
}

/** One failed IMAPS login from GUESSER. */
async function failedImapLogin(): Promise<string> {
    return new Promise((resolve, reject) => {
        // tls.connect hands localAddress on to its TCP connection (not in its type).
        const s = tls.connect({
            host: SERVER,
            port: 993,
            localAddress: GUESSER,
            rejectUnauthorized: false,
            servername: "mail.example.org",
        } as tls.ConnectionOptions);
        let buf = "";
        let sent = false;
        s.setEncoding("utf8");
        s.setTimeout(60_000, () => s.destroy(new Error("IMAP timeout")));
        s.on("data", (d: string) => {
            buf += d;
            if (!sent && /^\* OK/m.test(buf)) {
                sent = true;
                s.write('a1 LOGIN "bob@example.org" "not-bobs-password"\r\n');
            }
            const m = /^a1 (OK|NO|BAD)[^\r\n]*/m.exec(buf);
            if (m) {
                s.end("a2 LOGOUT\r\n");
                resolve(m[0]);
            }
        });
        s.once("error", reject);
    });
}

void test("fail2ban watches Postfix SASL, Dovecot and sshd in the journal", () => {
    const status = ssh("fail2ban-client status").stdout;
    for (const jail of ["postfix-sasl", "dovecot", "sshd"]) assert.match(status, new RegExp(`\\b${jail}\\b`), status);
});

void test("Password guessing on 587 gets the guesser's address banned from the mail ports, and only that address", async () => {
    try {
        // Six guesses at once: Dovecot delays answers to an address that keeps failing (up
        // to 15 s), so one after the other would mostly measure that delay.
        const replies = await Promise.all(
            Array.from({ length: 6 }, (_, i) =>
                smtpDialog(
                    587,
                    ["EHLO client.sink.test", authPlain("alice@example.org", `guess-${i}-wrong-password`)],
                    { starttls: true, localAddress: GUESSER, keepGoing: true, timeoutMs: 60_000 },
                ),
            ),
        );
        for (const r of replies) assert.equal(r.replies.at(-1)?.code, 535, JSON.stringify(r.replies));
        await eventually(() => banned("postfix-sasl").includes(GUESSER), 30_000, 500);
        // fail2ban lists the address as banned just before its action adds the nftables rule.
        const blocked = await eventually(async () => !(await reachable(587)), 10_000, 250).catch(() => false);
        assert.ok(blocked, "the banned address still reaches 587 10 s after the ban");
        assert.equal(await tcpProbe(587), "open", "the ban also hit the other clients");
    } finally {
        ssh(`fail2ban-client set postfix-sasl unbanip ${GUESSER} >/dev/null 2>&1 || true`);
    }
    assert.ok(await eventually(() => reachable(587), 10_000, 500), "still blocked after unban");
});

void test("Password guessing on IMAPS gets the guesser's address banned by the Dovecot jail", async () => {
    try {
        const answers = await Promise.all(Array.from({ length: 6 }, () => failedImapLogin()));
        for (const a of answers) assert.match(a, /^a1 NO/);
        await eventually(() => banned("dovecot").includes(GUESSER), 30_000, 500);
        // fail2ban lists the address as banned just before its action adds the nftables rule.
        const blocked = await eventually(async () => !(await reachable(993)), 10_000, 250).catch(() => false);
        assert.ok(blocked, "the banned address still reaches 993 10 s after the ban");
    } finally {
        ssh(`fail2ban-client set dovecot unbanip ${GUESSER} >/dev/null 2>&1 || true`);
    }
    assert.ok(await eventually(() => reachable(993), 10_000, 500), "still blocked after unban");
});

void test("Password guessing on ManageSieve (4190) gets the guesser's address banned by the Dovecot jail", async () => {
    try {
        const answers = await Promise.all(
            Array.from({ length: 6 }, (_, i) =>
                sieveDialog(4190, [sieveAuthPlain("bob@example.org", `guess-${i}-wrong-password`)], {
                    starttls: true,
                    localAddress: GUESSER,
                    keepGoing: true,
                    timeoutMs: 60_000,
                }),
            ),
        );
        for (const a of answers) assert.equal(a.replies[0]?.status, "NO", JSON.stringify(a.replies));
        await eventually(() => banned("dovecot").includes(GUESSER), 30_000, 500);
        const blocked = await eventually(async () => !(await reachable(4190)), 10_000, 250).catch(() => false);
        assert.ok(blocked, "the banned address still reaches 4190 10 s after the ban");
        assert.equal(await tcpProbe(4190), "open", "the ban also hit the other clients");
    } finally {
        ssh(`fail2ban-client set dovecot unbanip ${GUESSER} >/dev/null 2>&1 || true`);
    }
    assert.ok(await eventually(() => reachable(4190), 10_000, 500), "still blocked after unban");
});
