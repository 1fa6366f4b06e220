// A mailbox's own account state across a new server (issue 30), for replacement.test.ts and
// restore.test.ts: bob sets his own password, makes an app password and turns the second
// factor on, through the password helper's socket as the webmail does (no browser: the
// browser's way is what accounts, app-passwords and totp.test.ts show). The new server must
// then take all three as the old one did: they live on the mail volume
// (`/srv/mail/state/accounts`), in the backup. bob, not alice: these checks read alice's mail
// with her configured password.
import { randomBytes } from "node:crypto";
import {
    PASSWORDS_HELPER,
    USER_APP_PASSWORDS,
    USER_SET_PASSWORDS,
    USER_TOTP,
} from "../../render/host/mailbox-passwords";
import { LAB_PASSWORDS } from "../lab-config";
import { NET, ssh } from "./helpers";
import * as logins from "./logins";
import { webmailLoginPost, webmailLoginToken } from "./search";

const BOB = "bob@example.org";

/** What bob has set for himself: the password he chose, an app password (IMAP and POP3) and his second factor's key. */
export interface KeptAccount {
    readonly user: string;
    readonly password: string;
    readonly appPassword: string;
    readonly secret: string;
}

/**
 * bob as the stack config made him (its password, no app password, no second factor): as root,
 * his rows taken out of the volume's account files under the helper's lock, then
 * `mailstack-passwords apply` writes Dovecot's files again (and flushes his cache entry).
 */
export function resetKeptAccount(): void {
    const files = [USER_SET_PASSWORDS, USER_APP_PASSWORDS, USER_TOTP].join(" ");
    ssh(
        `flock ${USER_SET_PASSWORDS}.lock sh -c 'for f in ${files}; do [ ! -f "$f" ] || sed -i "/^${BOB}:/d" "$f"; done' && ${PASSWORDS_HELPER} apply`,
    );
}

function ask(request: object): Record<string, unknown> {
    const answer = JSON.parse(logins.askHelper(request)) as Record<string, unknown>;
    if (answer.ok !== true)
        throw new Error(`the password helper refused ${JSON.stringify(request)}: ${JSON.stringify(answer)}`);
    return answer;
}

/** bob sets his own password, makes an app password and turns the second factor on (from the configured state). */
export function setUpKeptAccount(): KeptAccount {
    resetKeptAccount();
    const password = `Kept-${randomBytes(6).toString("hex")}-Pass`;
    ask({ action: "change", user: BOB, current: LAB_PASSWORDS[BOB], new: password });
    const app = ask({ action: "app-create", user: BOB, current: password, label: "kept-phone", protocols: ["mail"] });
    const secret = String(ask({ action: "totp-begin", user: BOB, current: password }).secret);
    ask({ action: "totp-confirm", user: BOB, current: password, code: logins.totpCode(secret) });
    return { user: BOB, password, appPassword: String(app.password), secret };
}

/**
 * What of bob's account the server no longer takes, as a list ([] when all is kept): his app
 * password opens IMAPS; the main passwords (his own and the configured one) do not, since the
 * second factor is on; his own password with a code computed from the kept key opens the
 * webmail (Dovecot takes the password from the server itself, the helper the code).
 */
export async function keptAccountProblems(a: KeptAccount): Promise<string[]> {
    const from = NET.keptAccountProbe4;
    const jar = new Map<string, string>();
    const token = await webmailLoginToken(jar, from);
    const [app, own, configured] = await Promise.all([
        logins.imapWorks(a.user, a.appPassword, from),
        logins.imapWorks(a.user, a.password, from),
        logins.imapWorks(a.user, LAB_PASSWORDS[a.user], from),
    ]);
    const webmail = await webmailLoginPost(jar, token, a.user, a.password, from, logins.totpCode(a.secret));
    return [
        !app && "his app password no longer opens IMAPS",
        own && "his own password opens IMAPS from outside (the second factor is off)",
        configured && "the configured password opens IMAPS (his own password or his second factor is lost)",
        webmail.status !== 302 &&
            `his own password and a code of his kept key do not open the webmail (HTTP ${webmail.status})`,
    ].filter((x): x is string => typeof x === "string");
}
