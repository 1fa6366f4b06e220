// Does a password open a login: IMAPS, and AUTH on 587. Shared by the checks of passwords, app
// passwords and senders (accounts.test.ts, app-passwords.test.ts, senders.test.ts).
//
// An IMAPS login here comes from an address of the check's own (NET.loginProbes4 and the
// like), never from the lab's client (192.0.2.7): a refused login counts in fail2ban's Dovecot
// jail (5 in 10 minutes ban an address) and in Dovecot's delay after failures, both per
// address, and the client's address must stay usable by every later check. And the
// connection is closed as soon as the answer is there: one left open after a refused login
// (imapflow's connect() throwing) keeps the check's process alive until Dovecot's pre-login
// timeout, 3 minutes.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as tls from "node:tls";
import type { Page } from "playwright-core";
import { DAV_PATH, port } from "../../model";
import { authPlain, pop3Session, SERVER, sieveAuthPlain, sieveDialog, smtpDialog } from "../clients";
import { labSpec } from "../lab-config";
import { PASSWORD_SOCKET } from "../../render/host/mailbox-passwords";
import { ssh } from "./helpers";
import { webmailRequest } from "./search";

/**
 * A raw IMAPS LOGIN from `from`: the tagged answer ("a OK ..." or "a NO ..."). Rejects, naming
 * what happened, when the connection fails, times out or is closed before that answer (a
 * server that drops the connection must not leave the check waiting for ever). `to` is the
 * lab server's IMAPS port unless given (the jest test's own server).
 */
export function imapLogin(
    user: string,
    pass: string,
    from: string,
    to: { host?: string; port?: number; timeoutMs?: number } = {},
): Promise<string> {
    return new Promise((resolve, reject) => {
        const sock = tls.connect({
            host: to.host ?? SERVER,
            port: to.port ?? port("imaps"),
            localAddress: from,
            servername: labSpec().hostname,
            rejectUnauthorized: false,
        } as tls.ConnectionOptions);
        let text = "";
        let settled = false;
        const fail = (why: string) => {
            if (settled) return;
            settled = true;
            sock.destroy();
            const said = text.trim() === "" ? "nothing" : JSON.stringify(text.trim().slice(-200));
            reject(new Error(`IMAPS login of ${user} from ${from}: ${why} (the server said ${said})`));
        };
        sock.setEncoding("utf8");
        sock.setTimeout(to.timeoutMs ?? 30_000, () => fail("no answer in time"));
        sock.on("error", (e) => fail(e.message));
        sock.on("close", () => fail("the connection was closed before the LOGIN's answer"));
        let sent = false;
        sock.on("data", (d: string) => {
            text += d;
            if (!sent && /^\* OK/m.test(text)) {
                sent = true;
                sock.write(`a LOGIN "${user}" "${pass}"\r\n`);
            }
            const answer = /^a (?:OK|NO|BAD).*$/m.exec(text)?.[0];
            if (answer && !settled) {
                settled = true;
                if (/^a OK/.test(answer)) sock.write("b LOGOUT\r\n");
                sock.end();
                resolve(answer);
            }
        });
    });
}

/** Whether `pass` opens an IMAPS login for `user`, tried from `from`. */
export async function imapWorks(user: string, pass: string, from: string): Promise<boolean> {
    return /^a OK/.test(await imapLogin(user, pass, from));
}

/** Whether `pass` opens a POP3S login (USER/PASS) for `user`, tried from `from`. */
export async function pop3Works(user: string, pass: string, from: string): Promise<boolean> {
    const replies = await pop3Session([`USER ${user}`, `PASS ${pass}`], {
        tlsOptions: { localAddress: from } as tls.ConnectionOptions,
    });
    return /^\+OK/.test(replies[2] ?? "");
}

/** Whether `pass` opens a ManageSieve login (STARTTLS, AUTHENTICATE PLAIN) for `user`, tried from `from`. */
export async function sieveWorks(user: string, pass: string, from: string): Promise<boolean> {
    const r = await sieveDialog(port("sieve"), [sieveAuthPlain(user, pass)], {
        starttls: true,
        keepGoing: true,
        localAddress: from,
    });
    return r.replies[0]?.status === "OK";
}

/** Whether `pass` opens `user`'s calendars and contacts (a PROPFIND of their own collection: 207, or 401), from `from`. */
export async function davWorks(user: string, pass: string, from: string): Promise<boolean> {
    const r = await webmailRequest(new Map(), `${DAV_PATH}${encodeURIComponent(user)}/`, {
        method: "PROPFIND",
        headers: { authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`, depth: "0" },
        localAddress: from,
    });
    if (r.status !== 207 && r.status !== 401) throw new Error(`PROPFIND of ${user}'s collection: HTTP ${r.status}`);
    return r.status === 207;
}

/** The TOTP code of `secret` (base32) `ahead` seconds from now, by oathtool (Debian's, not our code). */
export function totpCode(secret: string, ahead = 0): string {
    const at = Math.floor(Date.now() / 1000) + ahead;
    return execFileSync("oathtool", ["--totp", "-b", "-N", `@${at}`, secret], { encoding: "utf8" }).trim();
}

/** AUTH on 587 (from the lab's second client address, so fail2ban's counts stay apart): the reply code. */
export async function submissionAuth(user: string, pass: string): Promise<number> {
    const r = await smtpDialog(587, ["EHLO client.sink.test", authPlain(user, pass)], {
        starttls: true,
        keepGoing: true,
        localAddress: "198.51.100.7",
    });
    return r.replies[3]?.code ?? 0;
}

/**
 * RCPT TO answers on 587 for `count` outside addresses (`<prefix>-<i>@sink.test`), logged in as
 * `login` from the lab's client, never sent (RSET): what the submission rate limit says.
 */
export async function submissionRcpts(login: { user: string; pass: string }, count: number, prefix: string) {
    const r = await smtpDialog(
        587,
        [
            "EHLO client.sink.test",
            authPlain(login.user, login.pass),
            `MAIL FROM:<${login.user}>`,
            ...Array.from({ length: count }, (_, i) => `RCPT TO:<${prefix}-${i}@sink.test>`),
            "RSET",
        ],
        { starttls: true, keepGoing: true },
    );
    assert.equal(r.replies[3].code, 235, `AUTH: ${r.replies[3].lines.join(" ")}`);
    assert.equal(r.replies[4].code, 250, `MAIL FROM: ${r.replies[4].lines.join(" ")}`);
    return r.replies.slice(5, 5 + count);
}

/** One request to the password helper's socket as www-data (what the webmail's plugins send): its answer line. */
export function askHelper(request: object): string {
    return askHelperTimed(request).answer;
}

/** askHelper, and how long the helper took to answer, measured on the server (no SSH in it). */
export function askHelperTimed(request: object): { answer: string; ms: number } {
    const out = ssh(
        `runuser -u www-data -- python3 -c 'import socket, sys, time
started = time.monotonic()
s = socket.socket(socket.AF_UNIX)
s.connect("${PASSWORD_SOCKET}")
s.sendall(sys.stdin.buffer.read())
answer = s.makefile().readline()
print(round((time.monotonic() - started) * 1000))
print(answer, end="")'`,
        { input: `${JSON.stringify(request)}\n` },
    ).stdout;
    const newline = out.indexOf("\n");
    return { ms: Number(out.slice(0, newline)), answer: out.slice(newline + 1) };
}

// --- What a login costs (issue 30: logins that cost no hash when repeated) -------------------
// Shared by accounts.test.ts (which prints them) and the bench (bench/logins.ts, which records them).

/** Dovecot's authentication cache forgets `user`: the entries it dropped (0 if none was cached). */
export function flushLoginCache(user: string): number {
    const out = ssh(`doveadm auth cache flush ${user}`).stdout;
    const n = /^(\d+) cache entries flushed/m.exec(out);
    if (!n) throw new Error(`doveadm auth cache flush: ${out}`);
    return Number(n[1]);
}

/** One IMAPS login and logout of `user` from `from`: ms from the connection until the server closes it. */
export function imapLoginLogoutMs(user: string, pass: string, from: string): Promise<number> {
    // Before the clock starts: labSpec() builds and validates the whole lab config, 25 to 30 ms
    // that were counted in every login until 2026-12-07 (docs/benchmarks.md).
    const servername = labSpec().hostname;
    return new Promise((resolve, reject) => {
        const started = performance.now();
        const sock = tls.connect({
            host: SERVER,
            port: port("imaps"),
            localAddress: from,
            servername,
            rejectUnauthorized: false,
        } as tls.ConnectionOptions);
        sock.setEncoding("utf8");
        sock.setTimeout(30_000, () => sock.destroy(new Error("IMAP login timed out")));
        sock.on("error", reject);
        let text = "";
        let state: "greeting" | "login" | "logout" = "greeting";
        sock.on("data", (d: string) => {
            text += d;
            if (state === "greeting" && /^\* OK/m.test(text)) {
                state = "login";
                sock.write(`a LOGIN "${user}" "${pass}"\r\n`);
            } else if (state === "login" && /^a (?:OK|NO|BAD).*$/m.test(text)) {
                if (!/^a OK/m.test(text)) {
                    sock.destroy();
                    reject(new Error(`IMAP login refused: ${text}`));
                    return;
                }
                state = "logout";
                sock.write("b LOGOUT\r\n");
            }
        });
        sock.on("close", () => {
            if (state === "logout") resolve(performance.now() - started);
        });
    });
}

/**
 * One webmail message-list request (`_action=list`; Roundcube logs in to IMAP anew for it) in
 * `page`, logged in: ms, timed in the page (by the page's own global `performance`: this
 * module imports none, which the function's source, run in the browser, would name).
 */
export async function webmailListMs(page: Page): Promise<number> {
    return page.evaluate(async () => {
        const token = (globalThis as unknown as { rcmail: { env: { request_token: string } } }).rcmail.env
            .request_token;
        const t0 = performance.now();
        const r = await fetch("./?_task=mail&_action=list&_mbox=INBOX&_remote=1", {
            headers: { "X-Roundcube-Request": token },
        });
        await r.text();
        if (!r.ok) throw new Error(`message list: HTTP ${r.status}`);
        return performance.now() - t0;
    });
}
