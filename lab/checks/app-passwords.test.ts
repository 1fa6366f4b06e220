// App passwords (issue 30): alice makes them in the webmail (Settings > App passwords, in the
// real browser, through the plugin and the helper's socket as a user's browser does); each is
// shown once, opens only the protocols it was made for, notes when it was last used, and is
// refused at once when revoked; her main password keeps working; bob cannot list or revoke
// hers. Prints what an IMAPS login costs with an app password and with the main password.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Page } from "playwright-core";
import { APP_PASSWORDS_LAST_USED } from "../../render/host/mailbox-passwords";
import { imapFetch } from "../clients";
import { LAB_PASSWORDS } from "../lab-config";
import { browserForChecks, WEBMAIL_URL, webmailLogin } from "./browser";
import { NET, ssh } from "./helpers";
import * as logins from "./logins";

const ALICE = "alice@example.org";
const BOB = "bob@example.org";
const MAIN = LAB_PASSWORDS[ALICE];
const PAGE = `${WEBMAIL_URL}?_task=settings&_action=plugin.mailstack_apppasswords`;

const browser = browserForChecks();

const imapWorks = (pass: string) => logins.imapWorks(ALICE, pass, NET.appPasswordsProbe4);
const submissionAuth = (pass: string) => logins.submissionAuth(ALICE, pass);

/** Create an app password on the page, opening only `opens` (checkbox values); the password shown once. */
async function create(page: Page, label: string, opens: string[]): Promise<string> {
    await page.goto(PAGE);
    await page.fill("#applabel", label);
    for (const box of await page.locator("input[name='_protocols[]']").all()) {
        const value = (await box.getAttribute("value")) ?? "";
        await box.setChecked(opens.includes(value));
    }
    await Promise.all([page.waitForLoadState("load"), page.click("#mailstack-apppassword-create")]);
    const shown = (await page.locator("#mailstack-apppassword-new").textContent({ timeout: 20_000 })) ?? "";
    assert.match(shown, /^[a-z]{4}-[a-z]{4}-[a-z]{4}-[a-z]{4}$/);
    return shown;
}

const row = (page: Page, label: string) => page.locator(`#mailstack-apppasswords tr:has(td.name:text-is("${label}"))`);

/** The mean time of `rounds` IMAPS logins, searches and logouts with `pass`. */
async function imapMs(pass: string, rounds = 5): Promise<number> {
    const started = performance.now();
    for (let i = 0; i < rounds; i++) await imapFetch(ALICE, pass, { subject: "no-such-subject" });
    return (performance.now() - started) / rounds;
}

void test("alice's app passwords from the webmail: each opens what it was made for, its last use shows, revoked it fails at once", async () => {
    const context = await browser().newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    try {
        await webmailLogin(page, ALICE, MAIN);
        await page.waitForURL(/_task=mail/, { timeout: 20_000 });
        const phone = await create(page, "phone", ["mail"]);
        const laptop = await create(page, "laptop", ["mail", "submission"]);

        assert.ok(await imapWorks(phone), "the phone's app password does not open IMAPS");
        assert.equal(await submissionAuth(phone), 535, "an app password for mail opens submission");
        assert.equal(await submissionAuth(laptop), 235, "the laptop's app password does not open submission");

        // Shown once: the page lists it with when it was last used, never the password again.
        await page.goto(PAGE);
        const used = (await row(page, "phone").locator("td.lastused").textContent()) ?? "";
        assert.ok(used !== "" && used !== "never", `last used: ${used}`);
        assert.equal(await page.getByText(phone).count(), 0, "the page shows the password again");
        // Both were used once (the phone on IMAPS, the laptop on 587): each has its note on the volume.
        assert.equal(ssh(`ls ${APP_PASSWORDS_LAST_USED} | wc -l`).stdout.trim(), "2");

        const appMs = await imapMs(laptop);
        const mainMs = await imapMs(MAIN);
        console.log(
            `app-passwords: IMAPS login, search and logout ${appMs.toFixed(0)} ms with an app password, ${mainMs.toFixed(0)} ms with the main password (from Dovecot's cache after its first; mean of 5)`,
        );

        await Promise.all([page.waitForLoadState("load"), row(page, "phone").locator("button.revoke").click()]);
        await page.getByText("The app password is revoked").waitFor({ timeout: 20_000 });
        assert.equal(await row(page, "phone").count(), 0);
        assert.equal(await imapWorks(phone), false, "a revoked app password still opens IMAPS");
        assert.ok(await imapWorks(MAIN), "the main password no longer opens IMAPS");
        assert.equal(await submissionAuth(MAIN), 235);
    } finally {
        await context.close();
    }
});

void test("bob can neither list nor revoke alice's app passwords through the webmail's socket", () => {
    // The helper acts on the user a request names, with that user's password as the proof:
    // what the plugin sends for the logged-in user. alice's laptop is still there.
    const id = ssh(
        `grep -m1 '^${ALICE}:[0-9a-f]*:laptop:' /srv/mail/state/accounts/app-passwords | cut -d: -f2`,
    ).stdout.trim();
    assert.match(id, /^[0-9a-f]{16}$/);
    const ask = logins.askHelper;
    const bob = { user: BOB, current: LAB_PASSWORDS[BOB] };
    assert.match(ask({ action: "app-list", ...bob }), /"appPasswords": \[\]/);
    assert.match(ask({ action: "app-list", user: ALICE, current: LAB_PASSWORDS[BOB] }), /"ok": false/);
    assert.match(ask({ action: "app-revoke", ...bob, id }), /no such app password/);
    // Her own revocation, which also leaves the lab as it was.
    assert.match(ask({ action: "app-revoke", user: ALICE, current: MAIN, id }), /"ok": true/);
});
