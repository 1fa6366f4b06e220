// Webmail (issue 11): Roundcube at https://mail.example.org/ in a real browser, Debian's
// chromium driven by playwright-core (lab/checks/browser.ts). The browser trusts pebble's root through its own NSS
// database (verified TLS, nothing ignored) and finds the host name at the lab server's
// address. It logs in as alice, reads a message that came in over port 25, sends one to
// bob (fetched over IMAPS), creates a filter with the managesieve plugin and sees it file
// mail; a wrong password is refused and counted by fail2ban's roundcube-auth jail. The
// inbox and the compose view are kept as screenshots beside the lab's report.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import { before, test } from "node:test";
import type { BrowserContext, Page } from "playwright-core";
import { WEBMAIL_DATABASE, WEBMAIL_DIR } from "../../render/host/webmail";
import { pebbleRoot } from "../world/acme";
import { eventually, imapFetch, SERVER, sendMail } from "../clients";
import { LAB_PASSWORDS } from "../lab-config";
import { browserForChecks, WEBMAIL_HOST, WEBMAIL_URL, webmailLogin } from "./browser";
import { ARTIFACTS_DIR, ssh, tag } from "./helpers";

const HOST = WEBMAIL_HOST;
const URL_BASE = WEBMAIL_URL;
const ALICE = "alice@example.org";
const BOB = "bob@example.org";

const browser = browserForChecks();
const violations: string[] = [];

before(() => {
    fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
});

/** A fresh browser profile (no cookies) that records CSP violations and console errors. */
async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser().newContext({ ignoreHTTPSErrors: false, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on("console", (m) => {
        if (m.type() === "error" && /Content[- ]Security[- ]Policy|Refused to/i.test(m.text()))
            violations.push(m.text());
    });
    return { context, page };
}

const login = webmailLogin;

void test("https://mail.example.org/ serves Roundcube with HSTS, a CSP and secure HttpOnly session cookies", async () => {
    const ca = await pebbleRoot();
    const res = await new Promise<{ status: number; headers: Record<string, string | string[] | undefined> }>(
        (resolve, reject) => {
            const req = https.get(
                { host: SERVER, servername: HOST, headers: { host: HOST }, path: "/", ca, rejectUnauthorized: true },
                (r) => {
                    r.resume();
                    r.on("end", () => resolve({ status: r.statusCode ?? 0, headers: r.headers }));
                },
            );
            req.on("error", reject);
        },
    );
    assert.equal(res.status, 200);
    assert.match(String(res.headers["strict-transport-security"]), /^max-age=\d{8,}/);
    const csp = String(res.headers["content-security-policy"]);
    for (const d of ["default-src 'self'", "object-src 'none'", "frame-ancestors 'self'", "form-action 'self'"])
        assert.ok(csp.includes(d), `CSP without ${d}: ${csp}`);
    const cookies = [res.headers["set-cookie"] ?? []].flat();
    const session = cookies.find((c) => c.startsWith("roundcube_sessid="));
    assert.ok(session, `no session cookie: ${JSON.stringify(cookies)}`);
    assert.match(session, /;\s*secure/i);
    assert.match(session, /;\s*HttpOnly/i);
    assert.match(session, /;\s*SameSite=Strict/i);
    assert.equal(res.headers["x-powered-by"], undefined);
});

/** One HTTPS GET to the webmail (verified against pebble's root), the body read and dropped. */
async function get(
    pathname: string,
    headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; bytes: number }> {
    const ca = await pebbleRoot();
    return new Promise((resolve, reject) => {
        const req = https.get(
            {
                host: SERVER,
                servername: HOST,
                headers: { host: HOST, ...headers },
                path: pathname,
                ca,
                rejectUnauthorized: true,
            },
            (r) => {
                let bytes = 0;
                r.on("data", (chunk: Buffer) => (bytes += chunk.length));
                r.on("end", () => resolve({ status: r.statusCode ?? 0, headers: r.headers, bytes }));
            },
        );
        req.on("error", reject);
    });
}

void test("The webmail's pages are never compressed, whatever the browser accepts (BREACH); its static scripts are", async () => {
    const gzip = { "accept-encoding": "gzip, deflate, br" };
    for (const page of ["/", "/?_task=login", "/index.php?_task=mail"]) {
        const res = await get(page, gzip);
        assert.ok([200, 302, 401].includes(res.status), `${page}: HTTP ${res.status}`);
        assert.equal(res.headers["content-encoding"], undefined, `${page} came compressed`);
    }
    const script = await get("/program/js/app.min.js", gzip);
    assert.equal(script.status, 200);
    assert.equal(script.headers["content-encoding"], "gzip", JSON.stringify(script.headers));
});

void test("Roundcube's SQLite database and des_key are on the mail volume; php-fpm needs the volume; no Apache", () => {
    const out = ssh(
        `findmnt -n -o TARGET --target ${WEBMAIL_DATABASE}; stat -c '%U:%G %a' ${WEBMAIL_DIR} ${WEBMAIL_DIR}/des_key; ` +
            `wc -c <${WEBMAIL_DIR}/des_key; systemctl show -p RequiresMountsFor --value php8.4-fpm; ` +
            `dpkg-query -W -f='\${db:Status-Status}\\n' apache2 libapache2-mod-php8.4 2>/dev/null || true`,
    ).stdout;
    const [mount, dirStat, keyStat, keyLen, requires] = out.split("\n");
    assert.equal(mount, "/srv/mail", out);
    assert.equal(dirStat, "www-data:www-data 750", out);
    assert.equal(keyStat, "root:www-data 640", out);
    assert.equal(keyLen.trim(), "25", out); // 24 characters and the newline
    assert.ok(requires.split(" ").includes(WEBMAIL_DIR), out);
    assert.doesNotMatch(out, /^installed$/m, `Apache is installed:\n${out}`);
});

void test("A wrong password is refused, logged by Roundcube and Dovecot with the browser's address, and fail2ban's roundcube-auth jail counts it without banning", async () => {
    const failedBefore = jailCount("Total failed");
    const since = serverNow();
    const { context, page } = await newPage();
    try {
        await login(page, ALICE, "not-alices-password");
        await page
            .locator("#messagestack, .messagestack")
            .getByText(/Login failed/i)
            .waitFor({ timeout: 15_000 });
        assert.ok(await page.locator("#rcmloginuser").isVisible(), "still on the login form");
        const journal = await eventually(
            () =>
                ssh(
                    `journalctl -q -o cat SYSLOG_IDENTIFIER=roundcube --since '-2min' | grep -F 'Failed login for ${ALICE}' || true`,
                ).stdout.trim(),
            15_000,
        );
        assert.match(journal, /Failed login for alice@example\.org from 192\.0\.2\.\d+ in session/);
        // Dovecot saw the browser's address too (Roundcube's ID before login, 127.0.0.1 a trusted
        // login proxy): its auth penalty and fail2ban's dovecot jail count the guesser, not the webmail.
        const failed = await dovecotLogin(ALICE, /auth failed|Login aborted/, since);
        assert.match(failed, /rip=192\.0\.2\.\d+,/, failed);
        await eventually(() => jailCount("Total failed") > failedBefore, 20_000);
        assert.equal(jailCount("Currently banned"), 0);
    } finally {
        await context.close();
    }
});

/** The server's clock, for journalctl --since. */
function serverNow(): string {
    return ssh("date '+%Y-%m-%d %H:%M:%S'").stdout.trim();
}

/** Dovecot's imap-login line for `user` since `since` that matches `what` (waits for it). */
async function dovecotLogin(user: string, what: RegExp, since: string): Promise<string> {
    return eventually(() => {
        const lines = ssh(`journalctl -q -o cat -u dovecot --since '${since}' | grep -F 'imap-login:' || true`).stdout;
        return lines.split("\n").find((l) => l.includes(`user=<${user}>`) && what.test(l));
    }, 20_000);
}

function jailCount(what: "Total failed" | "Currently banned"): number {
    const out = ssh("fail2ban-client status roundcube-auth").stdout;
    const m = new RegExp(`${what}:\\s*(\\d+)`).exec(out);
    assert.ok(m, out);
    return Number(m[1]);
}

void test("alice logs in, reads mail that came over port 25, sends to bob (fetched over IMAPS) and makes a working filter", async () => {
    const inbound = tag("webmail-in");
    await sendMail({ port: 25, from: "someone@sink.test", to: [ALICE], subject: inbound });
    await eventually(async () => (await imapFetch(ALICE, LAB_PASSWORDS[ALICE], { subject: inbound })).length > 0);

    const { context, page } = await newPage();
    try {
        const since = serverNow();
        await login(page, ALICE, LAB_PASSWORDS[ALICE]);
        await page.waitForURL(/_task=mail/, { timeout: 20_000 });
        // Dovecot logs the login with the browser's address, not the webmail's 127.0.0.1.
        const logged = await dovecotLogin(ALICE, /Log(?:ged )?in: /, since);
        assert.match(logged, /rip=192\.0\.2\.\d+,/, logged);
        const cookies = await context.cookies(URL_BASE);
        const sess = cookies.find((c) => c.name === "roundcube_sessid");
        assert.ok(sess && sess.secure && sess.httpOnly, JSON.stringify(cookies));
        await page.locator("#messagelist").getByText(inbound).waitFor({ timeout: 20_000 });
        await page.screenshot({ path: path.join(ARTIFACTS_DIR, "webmail-inbox.png"), fullPage: true });

        // Compose to bob and send.
        const outbound = tag("webmail-out");
        await page.goto(`${URL_BASE}?_task=mail&_action=compose`);
        const to = page.locator(".recipient-input input").first();
        await to.waitFor({ timeout: 20_000 });
        await to.fill(BOB);
        await page.fill("#compose-subject", outbound);
        await page.fill("#composebody", "Written in Roundcube, in the mailstack lab.\n");
        await page.screenshot({ path: path.join(ARTIFACTS_DIR, "webmail-compose.png"), fullPage: true });
        await page.locator("a.send:visible, button.send:visible").first().click();
        await page.waitForURL(/_task=mail(?!.*_action=compose)/, { timeout: 30_000 });
        const got = await eventually(
            async () => (await imapFetch(BOB, LAB_PASSWORDS[BOB], { subject: outbound }))[0],
            30_000,
        );
        assert.match(got.source, /^From: .*alice@example\.org/m);
        assert.match(got.source, /^DKIM-Signature: /m, "signed like any submitted mail");

        // A filter from the managesieve plugin: this subject goes to Junk (Archive is not subscribed,
        // so Roundcube does not offer it).
        const filed = tag("webmail-filter");
        await page.goto(`${URL_BASE}?_task=settings&_action=plugin.managesieve`);
        await page.locator('a.create[onclick*="plugin.managesieve-add"]:visible').first().click();
        const form = page.frameLocator("#filter-box");
        await form.locator("#_name").fill(`mailstack ${filed}`);
        await form.locator("#header0").selectOption("subject");
        await form.locator("#rule_op0").selectOption("contains");
        await form.locator("#rule_target0_list input").first().fill(filed);
        await form.locator("#action_type0").selectOption("fileinto");
        await form.locator("#action_mailbox0").selectOption("Junk");
        // Desktop width: the form's own Save button (elastic moves it to a footer on phones only).
        await form.locator(".formbuttons .submit").first().click();
        const script = await eventually(() => {
            const s = ssh(`doveadm sieve get -u ${ALICE} roundcube 2>/dev/null || true`).stdout;
            return s.includes(filed) ? s : undefined;
        }, 20_000);
        assert.match(script, /fileinto "Junk";/);
        assert.match(ssh(`doveadm sieve list -u ${ALICE}`).stdout, /^roundcube\s+ACTIVE$/m);
        await sendMail({ port: 25, from: "someone@sink.test", to: [ALICE], subject: `${filed} please` });
        await eventually(
            async () => (await imapFetch(ALICE, LAB_PASSWORDS[ALICE], { subject: filed, mailbox: "Junk" })).length > 0,
            30_000,
        );
        assert.equal((await imapFetch(ALICE, LAB_PASSWORDS[ALICE], { subject: filed })).length, 0, "not in INBOX");
    } finally {
        await context.close();
    }
    assert.deepEqual(violations, [], "CSP violations in the browser");
});
