// The second factor for the webmail (issue 30): alice sets it up in the real browser (Settings >
// Second factor: a QR code and the key as text, confirmed by a code computed here by oathtool);
// with it on, a webmail login without a code or with a replayed one is refused, a fresh code
// opens it and so does a recovery code, once; her main password no longer opens IMAPS or 587
// from outside while an app password does; she turns it off again with her password and a
// code, which gives the main password back to mail apps (and leaves the lab as it was).
// Two refused webmail logins from the lab's client address (each a session that Dovecot
// opened and the plugin ended for want of a valid code; mailstack-password counts them; no
// ban). Then wrong passwords at the login, as many at once as the helper takes requests,
// each from its own address: none reaches the helper (Dovecot judges a password before the
// helper is asked anything), which answers at once meanwhile.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Page } from "playwright-core";
import {
    DOVECOT_USERS,
    HELPER_CONNECTIONS,
    HELPER_FAILURE_DELAY_SECONDS,
    USER_TOTP,
    WEBMAIL_ONLY_FIELD,
} from "../../render/host/mailbox-passwords";
import { LAB_PASSWORDS, labSpec } from "../lab-config";
import { browserForChecks, WEBMAIL_URL } from "./browser";
import { NET, ssh } from "./helpers";
import * as logins from "./logins";
import { webmailLoginPost, webmailLoginToken } from "./search";

const ALICE = "alice@example.org";
const MAIN = LAB_PASSWORDS[ALICE];
const PAGE = `${WEBMAIL_URL}?_task=settings&_action=plugin.mailstack_totp`;

const browser = browserForChecks();

const oathtool = logins.totpCode;

/** Dovecot re-reads its passwd-file at most once a second: a login right after a change waits that out. */
const passwdFileSettles = () => new Promise((r) => setTimeout(r, 1_500));

/** The login form with a code; true when the session opened (the mail view). */
async function login(page: Page, code: string): Promise<boolean> {
    await page.goto(WEBMAIL_URL);
    await page.fill("#rcmloginuser", ALICE);
    await page.fill("#rcmloginpwd", MAIN);
    await page.fill("#rcmlogintotp", code);
    await Promise.all([page.waitForLoadState("load"), page.click("#rcmloginsubmit")]);
    if (/_task=mail/.test(page.url())) return true;
    await page.getByText(/code from your authenticator app/).waitFor({ timeout: 20_000 });
    return false;
}

const webmailOnly = () => ssh(`grep -m1 '^${ALICE}:' ${DOVECOT_USERS}`).stdout.includes(WEBMAIL_ONLY_FIELD);

void test("alice's second factor: set up with a QR code, a code at every webmail login (once each), recovery codes once, mail apps on app passwords only, off again", async () => {
    const context = await browser().newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    let recovery: string[] = [];
    let appId = "";
    try {
        // Without the second factor the code field stays empty and the login works.
        assert.ok(await login(page, ""), "alice cannot log in without the second factor");
        await page.goto(PAGE);
        assert.equal(await page.locator("#mailstack-totp-status").getAttribute("data-state"), "off");
        await Promise.all([page.waitForLoadState("load"), page.click("#mailstack-totp-begin-submit")]);
        const secret = ((await page.locator("#mailstack-totp-secret").textContent({ timeout: 20_000 })) ?? "").replace(
            / /g,
            "",
        );
        assert.match(secret, /^[A-Z2-7]{32}$/);
        // The QR code: an SVG drawn on the server, shown as an image (CSP: img-src data:).
        const qr = page.locator("#mailstack-totp-qr");
        assert.match((await qr.getAttribute("src")) ?? "", /^data:image\/svg\+xml;base64,/);
        assert.ok(
            await qr.evaluate(
                (img) => (img as unknown as { complete: boolean; naturalWidth: number }).naturalWidth > 0,
            ),
            "the QR code is no image",
        );
        const enrolCode = oathtool(secret);
        await page.fill("#totpcode", enrolCode);
        await Promise.all([page.waitForLoadState("load"), page.click("#mailstack-totp-confirm-submit")]);
        recovery = await page.locator("#mailstack-totp-recovery code").allTextContents();
        assert.equal(recovery.length, 10, "ten recovery codes, shown once");
        assert.equal(await page.locator("#mailstack-totp-status").getAttribute("data-state"), "on");
        await page.goto(PAGE);
        assert.equal(await page.locator("#mailstack-totp-recovery").count(), 0, "the recovery codes are shown again");

        // On the volume (0600 root): the secret, and the recovery codes only as hashes.
        const stored = ssh(`stat -c '%a %U' ${USER_TOTP}; grep '^${ALICE}:' ${USER_TOTP}`).stdout;
        assert.match(stored, /^600 root\n/);
        assert.ok(stored.includes(secret) && !recovery.some((c) => stored.includes(c)), stored);

        // Mail apps: the main password is refused from outside on IMAPS, 587, POP3S, ManageSieve
        // and calendars and contacts; an app password opens them. Each refused login from an
        // address of its own, all at once (one Dovecot delay, no jail counts more than one).
        const made = JSON.parse(
            logins.askHelper({
                action: "app-create",
                user: ALICE,
                current: MAIN,
                label: "totp-phone",
                protocols: ["mail", "sieve", ...(labSpec().dav ? ["dav"] : [])],
            }),
        ) as { ok: boolean; id: string; password: string };
        assert.ok(made.ok, JSON.stringify(made));
        appId = made.id;
        const [pop3From, sieveFrom, davFrom] = NET.totpProbes4;
        await passwdFileSettles();
        const probes: [string, boolean, Promise<boolean>][] = [
            ["the main password on IMAPS", false, logins.imapWorks(ALICE, MAIN, NET.totpProbe4)],
            ["the main password on 587", false, logins.submissionAuth(ALICE, MAIN).then((code) => code !== 535)],
            ["the main password on POP3S", false, logins.pop3Works(ALICE, MAIN, pop3From)],
            ["the main password on ManageSieve", false, logins.sieveWorks(ALICE, MAIN, sieveFrom)],
            ["the app password on IMAPS", true, logins.imapWorks(ALICE, made.password, NET.totpProbe4)],
            ["the app password on POP3S", true, logins.pop3Works(ALICE, made.password, pop3From)],
            ["the app password on ManageSieve", true, logins.sieveWorks(ALICE, made.password, sieveFrom)],
            ...(labSpec().dav
                ? ([
                      ["the main password on calendars and contacts", false, logins.davWorks(ALICE, MAIN, davFrom)],
                      [
                          "the app password on calendars and contacts",
                          true,
                          logins.davWorks(ALICE, made.password, davFrom),
                      ],
                  ] as [string, boolean, Promise<boolean>][])
                : []),
        ];
        const opened = await Promise.all(probes.map(([, , p]) => p));
        assert.deepEqual(
            [
                ...(webmailOnly() ? [] : [`no ${WEBMAIL_ONLY_FIELD} on alice's passdb row`]),
                ...probes
                    .filter(([, want], i) => opened[i] !== want)
                    .map(([what, want]) => `${what} ${want ? "is refused" : "opens a login"}`),
            ],
            [],
        );

        // The webmail: no session without a code; a fresh code opens one, and that code a
        // second time (seconds later, still inside its time window) opens none.
        const nextCode = oathtool(secret, 30);
        assert.notEqual(nextCode, enrolCode);
        const fresh = await browser().newContext();
        const replayed = await browser().newContext();
        try {
            const other = await fresh.newPage();
            assert.equal(await login(other, ""), false, "a login without a code opened the webmail");
            assert.ok(await login(other, nextCode), "a fresh code does not open the webmail");
            await other.locator("#mailboxlist").waitFor({ timeout: 20_000 }); // the folders: the message list is hidden while empty
            assert.equal(await login(await replayed.newPage(), nextCode), false, "a replayed code opened the webmail");
        } finally {
            await fresh.close();
            await replayed.close();
        }
        const byRecovery = await browser().newContext();
        try {
            assert.ok(
                await login(await byRecovery.newPage(), recovery[0]),
                "a recovery code does not open the webmail",
            );
        } finally {
            await byRecovery.close();
        }
        // Used up: the helper refuses it a second time (asked directly: no third failed login from the lab's address).
        assert.match(
            logins.askHelper({ action: "totp-login", user: ALICE, current: MAIN, code: recovery[0] }),
            /the code is wrong/,
        );

        // Off again: her password and a code.
        await page.goto(PAGE);
        await page.fill("#totpcurpasswd", MAIN);
        await page.fill("#totpoffcode", recovery[1]);
        await Promise.all([page.waitForLoadState("load"), page.click("#mailstack-totp-disable-submit")]);
        await page.locator("#mailstack-totp-status[data-state=off]").waitFor({ timeout: 20_000 });
        assert.equal(webmailOnly(), false, "the passdb row still limits the main password");
        await passwdFileSettles();
        assert.ok(await logins.imapWorks(ALICE, MAIN, NET.totpProbe4), "the main password does not open IMAPS again");
    } finally {
        await context.close();
        // Whatever failed above: the lab's alice as she was (no second factor, no app password).
        if (appId !== "") logins.askHelper({ action: "app-revoke", user: ALICE, current: MAIN, id: appId });
        if (recovery.length > 2)
            logins.askHelper({ action: "totp-disable", user: ALICE, current: MAIN, code: recovery[2] });
    }
});

void test("wrong passwords at the webmail's login never reach the password helper: as many guessers at once as it has connections are refused by Dovecot, and it answers at once meanwhile", async () => {
    // One wrong login from each guesser's address, at postmaster's password (not alice's, whose
    // login follows). The forms first, so that the logins themselves go out together.
    const guessers = await Promise.all(
        NET.webmailGuessers4.map(async (from) => {
            const jar = new Map<string, string>();
            return { from, jar, token: await webmailLoginToken(jar, from) };
        }),
    );
    assert.ok(guessers.length >= HELPER_CONNECTIONS, "fewer guessers than the helper has connections");
    const since = ssh("date +%s").stdout.trim();
    const wrong = guessers.map((g) =>
        webmailLoginPost(g.jar, g.token, "postmaster@example.org", "not-the-postmasters-password", g.from),
    );
    // Time for the wrong logins to get wherever they are judged: a plugin that asked the
    // helper first had them hold its connections from here on, each for the failure delay.
    await new Promise((r) => setTimeout(r, 500));
    const { answer, ms } = logins.askHelperTimed({ action: "totp-status", user: ALICE, current: MAIN });
    const refused = await Promise.all(wrong);
    assert.match(answer, /"ok": true/);
    for (const r of refused)
        assert.ok(r.status !== 302 && /Login failed/i.test(r.body), `a wrong password: HTTP ${r.status}`);
    // None of them reached the helper: it logs every wrong password it is given (for fail2ban).
    const reached = ssh(
        `journalctl -q -o cat SYSLOG_IDENTIFIER=mailstack-password --since '@${since}' | grep -F 'refused for postmaster@example.org' || true`,
    ).stdout.trim();
    assert.equal(reached, "", "wrong passwords at the webmail's login reached the password helper");
    assert.ok(
        ms < HELPER_FAILURE_DELAY_SECONDS * 750,
        `the helper answered after ${ms} ms while ${guessers.length} wrong passwords were tried at the webmail: they held its connections`,
    );
    // And the webmail takes alice's password as before.
    const jar = new Map<string, string>();
    const good = await webmailLoginPost(jar, await webmailLoginToken(jar, NET.totpProbe4), ALICE, MAIN, NET.totpProbe4);
    assert.equal(good.status, 302, `alice's login: HTTP ${good.status}`);
});
