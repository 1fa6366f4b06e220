// The lab's real browser for the webmail checks: Debian's chromium driven by playwright-core,
// trusting pebble's root through its own NSS database (verified TLS, nothing ignored) and
// finding the host name at the lab server's address.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before } from "node:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { pebbleRoot } from "../world/acme";
import { SERVER } from "../clients";
import { labSpec } from "../lab-config";

export const WEBMAIL_HOST = labSpec().hostname;
export const WEBMAIL_URL = `https://${WEBMAIL_HOST}/`;

/** A browser for the lab's webmail; `close` ends it and removes its profile. */
export async function labBrowser(): Promise<{ browser: Browser; close: () => Promise<void> }> {
    // Chromium reads trust for local CAs from the user's NSS database: pebble's root, only.
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-webmail-"));
    const nssdb = path.join(home, ".pki/nssdb");
    fs.mkdirSync(nssdb, { recursive: true });
    const root = path.join(home, "pebble-root.pem");
    fs.writeFileSync(root, await pebbleRoot());
    execFileSync("certutil", ["-d", `sql:${nssdb}`, "-N", "--empty-password"]);
    execFileSync("certutil", ["-d", `sql:${nssdb}`, "-A", "-t", "C,,", "-n", "mailstack-lab-pebble", "-i", root]);
    const browser = await chromium.launch({
        executablePath: "/usr/bin/chromium",
        env: { ...process.env, HOME: home },
        args: [
            // As root in the lab namespace: chromium's sandbox needs user namespaces it cannot have here.
            "--no-sandbox",
            // The name as the lab DNS has it (the stack's A record): the lab server's address.
            `--host-resolver-rules=MAP ${WEBMAIL_HOST} ${SERVER}`,
        ],
    });
    return {
        browser,
        close: async () => {
            await browser.close();
            fs.rmSync(home, { recursive: true, force: true });
        },
    };
}

/**
 * The lab browser of one check file: started before its tests, closed after them. Call at the
 * top level; the function it returns gives the browser inside a test.
 */
export function browserForChecks(): () => Browser {
    let started: { browser: Browser; close: () => Promise<void> } | undefined;
    before(async () => {
        started = await labBrowser();
    });
    after(async () => {
        await started?.close();
    });
    return () => {
        if (started === undefined) throw new Error("the lab browser did not start");
        return started.browser;
    };
}

/** Roundcube's login form, filled and sent. */
export async function webmailLogin(page: Page, user: string, pass: string): Promise<void> {
    await page.goto(WEBMAIL_URL);
    await page.fill("#rcmloginuser", user);
    await page.fill("#rcmloginpwd", pass);
    await Promise.all([page.waitForLoadState("load"), page.click("#rcmloginsubmit")]);
}
