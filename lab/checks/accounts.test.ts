// Who owns a password (issue 30): alice changes her own password in the webmail (Settings >
// Password, in the real browser); the old one is refused on IMAPS and 587 and the new one
// works at once; the mail-data step run again keeps it; www-data cannot change anyone's hash
// but through the helper, which wants the current password; a reset marker in the config
// puts the configured password back (which also leaves the server as the lab configured it).
// Logins that cost no hash when repeated: Dovecot's authentication cache answers alice's
// password again, a wrong one leaves nothing in it, and every change of her row flushes her
// entry (the old password refused at once after the change); prints what a login costs.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import {
    CONFIGURED_USERS,
    DOVECOT_USERS,
    PASSWORD_SOCKET,
    USER_SET_PASSWORDS,
} from "../../render/host/mailbox-passwords";
import { buildSpec, type RawConfig } from "../../model";
import { imapFetch } from "../clients";
import { LAB_PASSWORDS, labRawConfig } from "../lab-config";
import { provision } from "../scenarios/provision";
import { browserForChecks, WEBMAIL_URL, webmailLogin } from "./browser";
import { NET, ssh } from "./helpers";
import * as logins from "./logins";

const ALICE = "alice@example.org";
const CONFIGURED = LAB_PASSWORDS[ALICE];
// Neither her address nor her name in it (the helper refuses those).
const CHOSEN = `Q7-${randomBytes(8).toString("hex")}`;

const browser = browserForChecks();

/** The lab config with these reset markers on example.org's mailboxes. */
function withResets(resets: Record<string, string>): RawConfig {
    const raw = labRawConfig();
    const domains = (raw.domains as Record<string, unknown>[]).map((d) =>
        d.name === "example.org" ? { ...d, passwordResets: resets } : d,
    );
    return { ...raw, domains };
}

async function mailData(raw: RawConfig): Promise<void> {
    const r = await provision(buildSpec(raw), LAB_PASSWORDS, ["mail-data"]);
    assert.ok(r.ok, r.detail);
}

// No wait after a change: the main password's passdb (main-password.lua) reads the passwd-file
// on every check that the cache does not answer, and every change flushes the cache.
const imapWorks = (pass: string) => logins.imapWorks(ALICE, pass, NET.accountsProbe4);
const submissionAuth = (pass: string) => logins.submissionAuth(ALICE, pass);

/** alice's hash in Dovecot's passwd-file. */
const dovecotHash = () => ssh(`grep -m1 '^${ALICE}:' ${DOVECOT_USERS} | cut -d: -f2`).stdout.trim();

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

void test("logins that cost no hash when repeated: a login fills Dovecot's cache, the next is answered from it, a wrong password leaves nothing; the figures", async () => {
    const rounds = 5;
    const from = NET.accountsProbe4;
    const login = () => logins.imapLoginLogoutMs(ALICE, CONFIGURED, from);
    logins.flushLoginCache(ALICE);
    // A wrong password is answered by bcrypt and leaves no entry (no negative caching).
    assert.equal(await imapWorks("not-her-password-at-all"), false);
    assert.equal(logins.flushLoginCache(ALICE), 0, "a refused login left a cache entry");
    // Each login with the cache flushed first pays bcrypt (as every login did before the cache).
    const cold: number[] = [];
    for (let i = 0; i < rounds; i++) {
        logins.flushLoginCache(ALICE);
        cold.push(await login());
    }
    const warm: number[] = [];
    for (let i = 0; i < rounds; i++) warm.push(await login());
    // Answered from the cache: with her hash replaced behind the helper's back, her password
    // still opens IMAPS (the passwd-file is not read). The helper's apply writes her row back
    // and flushes her entry.
    ssh(
        `h=$(doveadm pw -s BLF-CRYPT -r 4 -p not-her-password-at-all) && awk -F: -v OFS=: -v h="$h" '$1 == "${ALICE}" { $2 = h } 1' ${DOVECOT_USERS} > ${DOVECOT_USERS}.lab && cat ${DOVECOT_USERS}.lab > ${DOVECOT_USERS} && rm ${DOVECOT_USERS}.lab`,
    );
    assert.ok(await imapWorks(CONFIGURED), "a repeated login was not answered from the cache");
    const applied = ssh("/usr/local/sbin/mailstack-passwords apply 2>&1").stdout;
    assert.match(applied, new RegExp(`cache forgot ${ALICE}`));
    assert.equal(logins.flushLoginCache(ALICE), 0, "the apply left her entry in the cache");
    // A changed password: the old one, cached just before, is refused at once (the change
    // flushed her entry; no login with the new one has replaced it yet).
    assert.ok(await imapWorks(CONFIGURED));
    const interim = `Q8-${randomBytes(8).toString("hex")}`;
    const changed = logins.askHelper({ action: "change", user: ALICE, current: CONFIGURED, new: interim, name: "" });
    assert.match(changed, /"ok": true/);
    assert.equal(await imapWorks(CONFIGURED), false, "the old password, cached, still opens IMAPS after the change");
    // Her configured password again: her own one dropped, the row written again.
    ssh(`sed -i '/^${ALICE}:/d' ${USER_SET_PASSWORDS} && /usr/local/sbin/mailstack-passwords apply`);
    assert.ok(await imapWorks(CONFIGURED));

    const context = await browser().newContext();
    const page = await context.newPage();
    try {
        await webmailLogin(page, ALICE, CONFIGURED);
        await page.waitForURL(/_task=mail/, { timeout: 20_000 });
        const listCold: number[] = [];
        for (let i = 0; i < rounds; i++) {
            logins.flushLoginCache(ALICE);
            listCold.push(await logins.webmailListMs(page));
        }
        const listWarm: number[] = [];
        for (let i = 0; i < rounds; i++) listWarm.push(await logins.webmailListMs(page));
        console.log(
            `accounts: IMAPS login and logout ${mean(cold).toFixed(0)} ms with bcrypt (cache flushed), ${mean(warm).toFixed(0)} ms from the cache; ` +
                `webmail message list ${mean(listCold).toFixed(0)} ms with bcrypt, ${mean(listWarm).toFixed(0)} ms from the cache (mean of ${rounds})`,
        );
    } finally {
        await context.close();
    }
});

void test("alice changes her password in the webmail: the current one is required, then only the new one opens IMAPS and 587", async () => {
    const context = await browser().newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    try {
        await webmailLogin(page, ALICE, CONFIGURED);
        await page.waitForURL(/_task=mail/, { timeout: 20_000 });
        const form = `${WEBMAIL_URL}?_task=settings&_action=plugin.mailstack_password`;
        const submit = async (current: string, next: string) => {
            await page.goto(form);
            await page.fill("#curpasswd", current);
            await page.fill("#newpasswd", next);
            await page.fill("#confpasswd", next);
            await Promise.all([page.waitForLoadState("load"), page.click("#mailstack-password-save")]);
        };

        await submit("not-her-current-password", CHOSEN);
        await page.getByText("the current password is wrong").waitFor({ timeout: 20_000 });
        await submit(CONFIGURED, "alice-example-2026");
        await page.getByText("must not contain your address or your name").waitFor({ timeout: 20_000 });
        assert.ok(await imapWorks(CONFIGURED), "a refused change left the configured password working");

        await submit(CONFIGURED, CHOSEN);
        await page.getByText("Your password is changed").waitFor({ timeout: 20_000 });
        // The session goes on with the new password (Roundcube logs in to IMAP on every request).
        await page.goto(`${WEBMAIL_URL}?_task=mail`);
        await page.locator("#mailboxlist").waitFor({ timeout: 20_000 }); // the folders: the message list is hidden while empty
    } finally {
        await context.close();
    }

    assert.ok(await imapWorks(CHOSEN), "the new password does not open IMAPS");
    assert.equal(await imapWorks(CONFIGURED), false, "the old password still opens IMAPS");
    assert.equal(await submissionAuth(CHOSEN), 235);
    assert.equal(await submissionAuth(CONFIGURED), 535);
    // On the mail volume (backed up), 0600 root; never sent from the deployer.
    const stored = ssh(
        `stat -c '%a %U' ${USER_SET_PASSWORDS} && grep -c '^${ALICE}:{BLF-CRYPT}' ${USER_SET_PASSWORDS}`,
    );
    assert.equal(stored.stdout.trim(), "600 root\n1");
});

void test("the mail-data step run again (bob's password reset) keeps the password alice set", async () => {
    const before = dovecotHash();
    await mailData(withResets({ bob: "lab-reset-1" }));
    assert.equal(dovecotHash(), before);
    assert.ok(await imapWorks(CHOSEN), "mail-data took alice's own password away");
    assert.ok(
        await imapFetch("bob@example.org", LAB_PASSWORDS["bob@example.org"], { subject: "no-such-subject" }),
        "bob's configured password",
    );
});

void test("a new root disk (a replaced server) gets the password alice set back from the mail volume", async () => {
    // What a replacement's first mail-data step finds: no passwd-file and no configured rows yet.
    ssh(`rm -f ${DOVECOT_USERS} ${CONFIGURED_USERS}`);
    await mailData(withResets({ bob: "lab-reset-1" }));
    assert.ok(await imapWorks(CHOSEN), "the password alice set is gone with the root disk");
});

void test("www-data reaches password hashes only through the helper, which wants the user's current password", () => {
    const asUser = (user: string, script: string, input = "") =>
        ssh(`runuser -u ${user} -- python3 -c '${script}'`, { input, allowFail: true });
    // No write access for the webmail's user to any password file, and no read access to the hashes.
    const files = ssh(
        `runuser -u www-data -- sh -c 'test -w ${DOVECOT_USERS} || test -r ${DOVECOT_USERS} || test -r ${USER_SET_PASSWORDS}'`,
        { allowFail: true },
    );
    assert.notEqual(files.status, 0, "www-data can read or write a password file");
    // Through the socket: bob's password cannot be changed with alice's.
    const ask = `import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect("${PASSWORD_SOCKET}")
s.sendall(sys.stdin.buffer.read())
print(s.makefile().readline(), end="")`;
    const request = JSON.stringify({ user: "bob@example.org", current: CHOSEN, new: "taken-over-by-www" });
    const answer = asUser("www-data", ask, `${request}\n`);
    assert.match(answer.stdout, /"ok": false/, `${answer.stdout}${answer.stderr}`);
    // Any other local user cannot even connect.
    const nobody = asUser("nobody", ask, `${request}\n`);
    assert.notEqual(nobody.status, 0);
    assert.match(nobody.stderr, /Permission denied/);
});

void test("a reset marker in the config puts the configured password back, and the lab's config keeps it", async () => {
    await mailData(withResets({ alice: "lab-reset-1" }));
    assert.ok(await imapWorks(CONFIGURED), "the reset did not bring the configured password back");
    assert.equal(await imapWorks(CHOSEN), false, "alice's own password survived the reset");
    assert.equal(ssh(`grep -c '^${ALICE}:' ${USER_SET_PASSWORDS} || true`).stdout.trim(), "0");
    // The lab's own config again (no markers): nothing of alice's own password comes back.
    await mailData(labRawConfig());
    assert.ok(await imapWorks(CONFIGURED));
});
