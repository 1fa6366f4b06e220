// What a login costs (issue 30, "Logins that cost no hash when repeated"): alice's IMAPS login
// and logout, and a webmail message-list request (Roundcube logs in to IMAP anew for each),
// each with her entry in Dovecot's authentication cache flushed first (bcrypt, what every
// login cost before the cache) and again from the cache. Measured from msl-out (bench/load.ts
// phase "logins"), on the same server minutes apart.

import { labBrowser, webmailLogin } from "../lab/checks/browser";
import { flushLoginCache, imapLoginLogoutMs, webmailListMs } from "../lab/checks/logins";
import { NET } from "../lab/harness/net";
import { LAB_PASSWORDS } from "../lab/lab-config";
import { put } from "./figures";
import { ALICE, smoke } from "./options";
import { load } from "./server";

export interface LoginResult {
    imapBcrypt: number;
    imapCached: number;
    listBcrypt: number;
    listCached: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** In msl-out: `rounds` of each, mean ms. */
export async function measureLogins(rounds: number): Promise<LoginResult> {
    const pass = LAB_PASSWORDS[ALICE];
    const cold = async (fn: () => Promise<number>) => {
        const ms: number[] = [];
        for (let i = 0; i < rounds; i++) {
            flushLoginCache(ALICE);
            ms.push(await fn());
        }
        return mean(ms);
    };
    const warm = async (fn: () => Promise<number>) => {
        await fn();
        const ms: number[] = [];
        for (let i = 0; i < rounds; i++) ms.push(await fn());
        return mean(ms);
    };
    const imap = () => imapLoginLogoutMs(ALICE, pass, NET.accountsProbe4);
    const imapBcrypt = await cold(imap);
    const imapCached = await warm(imap);
    const { browser, close } = await labBrowser();
    try {
        const page = await browser.newPage();
        await webmailLogin(page, ALICE, pass);
        await page.waitForURL(/_task=mail/, { timeout: 20_000 });
        const list = () => webmailListMs(page);
        return { imapBcrypt, imapCached, listBcrypt: await cold(list), listCached: await warm(list) };
    } finally {
        await close();
    }
}

export async function logins(): Promise<void> {
    const r = await load<LoginResult>("logins", { rounds: smoke ? 2 : 10 });
    put(
        "login.imaps.bcrypt",
        "IMAPS login and logout of alice, her cache entry flushed first (bcrypt)",
        "ms",
        r.imapBcrypt,
    );
    put(
        "login.imaps.cached",
        "IMAPS login and logout of alice again (Dovecot's authentication cache)",
        "ms",
        r.imapCached,
    );
    put(
        "login.webmail.bcrypt",
        "webmail message-list request, her cache entry flushed first (bcrypt)",
        "ms",
        r.listBcrypt,
    );
    put(
        "login.webmail.cached",
        "webmail message-list request again (Dovecot's authentication cache)",
        "ms",
        r.listCached,
    );
    console.log(
        `bench: IMAPS login and logout ${r.imapBcrypt.toFixed(0)} ms with bcrypt, ${r.imapCached.toFixed(0)} ms cached; webmail list ${r.listBcrypt.toFixed(0)} ms, ${r.listCached.toFixed(0)} ms`,
    );
}
