// Moving in from Microsoft 365 (issue 31): carol's old account takes no password over IMAP,
// only XOAUTH2 (lab/world/oldmail.ts's Dovecot checks each access token at the lab's OAuth2 provider,
// lab/world/oauth2.ts, as Microsoft 365 does at Microsoft's). mailstack:imports with auth: "oauth2":
// before anyone signed in the run fails and says what to do; `mailstack-import authorize` prints
// where to sign in and the code (RFC 8628), the person signs in, the refresh token is kept on the
// mail volume (root only) and the import brings Microsoft's folders over XOAUTH2 with mbsync; the
// next run works with the rotated refresh token (the lab's provider takes each one once) and
// brings only what is new; a revoked authorization fails with the provider's reason in the
// journal and in the status doctor reads, importing nothing. A few dozen messages: the import
// itself is import.test.ts's.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { imapFolders } from "../clients";
import { LAB_PASSWORDS, labRawConfig, labSpec } from "../lab-config";
import {
    M365_ACCOUNT,
    M365_FOLDERS,
    seedM365Account,
    startOldProvider,
    stopOldProvider,
    type OldMessage,
} from "../world/oldmail";
import {
    OAUTH2_CLIENT_ID,
    OAUTH2_DEVICE_URL,
    OAUTH2_SCOPE,
    OAUTH2_TOKEN_URL,
    OAUTH2_VERIFY_URL,
    oauth2Internal,
    startOAuth2Provider,
    stopOAuth2Provider,
} from "../world/oauth2";
import { provision } from "../scenarios/provision";
import { buildSpec } from "../../model";
import { runImport, ssh, tag } from "./helpers";

const CAROL = "carol@example.net";
const TOKEN_FILE = `/srv/mail/state/import/${CAROL}/oauth2-refresh-token`;

const spec = () =>
    buildSpec({
        ...labRawConfig(),
        imports: [
            {
                mailbox: CAROL,
                host: M365_ACCOUNT.host,
                user: M365_ACCOUNT.user,
                auth: "oauth2",
                oauth2: {
                    provider: "custom",
                    clientId: OAUTH2_CLIENT_ID,
                    tokenUrl: OAUTH2_TOKEN_URL,
                    deviceUrl: OAUTH2_DEVICE_URL,
                    scope: OAUTH2_SCOPE,
                },
            },
        ],
    });

/** carol's messages here with this tag: folder -> sorted "subject flags @ date". */
async function imported(tagged: string): Promise<Map<string, string[]>> {
    const have = new Map<string, string[]>();
    for (const [folder, messages] of await imapFolders(CAROL, LAB_PASSWORDS[CAROL]))
        for (const m of messages)
            if (m.subject.startsWith(tagged)) {
                const flags = m.flags.filter((f) => f !== "\\Recent").join(" ");
                have.set(folder, [
                    ...(have.get(folder) ?? []),
                    `${m.subject} ${flags} @ ${m.internalDate.toISOString()}`,
                ]);
            }
    for (const list of have.values()) list.sort();
    return have;
}

const FLAG = { S: "\\Seen", F: "\\Flagged", R: "\\Answered" } as Record<string, string>;
function expected(seeded: readonly OldMessage[]): Map<string, string[]> {
    const want = new Map<string, string[]>();
    for (const m of seeded)
        if (m.folder.ours) {
            const flags = [...m.flags]
                .map((f) => FLAG[f])
                .sort()
                .join(" ");
            want.set(m.folder.ours, [
                ...(want.get(m.folder.ours) ?? []),
                `${m.subject} ${flags} @ ${m.date.toISOString()}`,
            ]);
        }
    for (const list of want.values()) list.sort();
    return want;
}
const sorted = (m: Map<string, string[]>) => [...m].sort((a, b) => a[0].localeCompare(b[0]));
const count = (m: Map<string, string[]>) => [...m.values()].reduce((n, l) => n + l.length, 0);

const SEED = tag("m365");
let seeded: OldMessage[] = [];

before(async () => {
    await startOAuth2Provider();
    await startOldProvider();
    seeded = seedM365Account(2 * M365_FOLDERS.length + 3, SEED);
});

after(async () => {
    // Back to the lab's config (no import): the refresh token goes with it. The import step
    // alone: the packages step never removes a package.
    const r = await provision(labSpec(), LAB_PASSWORDS, ["import"]);
    assert.ok(r.ok, r.detail);
    assert.equal(ssh(`test -e '${TOKEN_FILE}' && echo kept || echo gone`).stdout.trim(), "gone");
    await stopOldProvider();
    await stopOAuth2Provider();
});

void test("Before anyone signed in, the run fails and says to run mailstack-import authorize, importing nothing", async () => {
    const r = await provision(spec(), LAB_PASSWORDS, ["packages", "import"]);
    assert.ok(r.ok, r.detail);
    const run = runImport();
    assert.equal(run.ok, false, run.journal);
    const reason = /login: not authorized yet: run `mailstack-import authorize carol@example\.net` on the server/;
    assert.match(run.journal, reason);
    assert.match(run.status, new RegExp(`^${CAROL} failed \\d+ 0 `), run.status);
    assert.match(run.status, reason);
    assert.equal((await imported(SEED)).size, 0);
});

/** Poll until `done` holds for what f returns (every 200 ms, up to `ms`). */
async function until<T>(f: () => T | Promise<T>, done: (v: T) => boolean, ms: number): Promise<T> {
    const start = Date.now();
    for (;;) {
        const v = await f();
        if (done(v) || Date.now() - start > ms) return v;
        await new Promise((r) => setTimeout(r, 200));
    }
}

void test("authorize prints where to sign in and the code; signed in, the refresh token is kept root-only on the mail volume and the import brings Microsoft's folders over XOAUTH2", async () => {
    // As a person runs it over SSH; its output read as they would read their terminal.
    ssh(`setsid bash -c 'mailstack-import authorize ${CAROL}; echo "exit $?"' >/root/authorize.out 2>&1 </dev/null &`);
    const shown = await until(
        () => ssh("cat /root/authorize.out").stdout,
        (t) => /enter the code \w+/.test(t) || /^exit /m.test(t),
        20_000,
    );
    assert.ok(shown.includes(`open ${OAUTH2_VERIFY_URL} in a browser`), shown);
    assert.ok(shown.includes(`sign in as ${M365_ACCOUNT.user}`), shown);
    const code = /enter the code (\w+)/.exec(shown)![1];
    // The person signs in and enters the code.
    assert.deepEqual(await oauth2Internal("approve", { user_code: code, user: M365_ACCOUNT.user }), { approved: true });
    const done = await until(
        () => ssh("cat /root/authorize.out").stdout,
        (t) => /^exit /m.test(t),
        20_000,
    );
    assert.match(done, /^exit 0$/m, done);
    assert.match(done, /carol@example\.net: authorized/);
    assert.equal(ssh(`stat -c '%a %U' '${TOKEN_FILE}'`).stdout.trim(), "600 root");
    // Nothing of the token in what was printed.
    assert.doesNotMatch(done, /rt\.|at\./);

    // authorize started the first import; start waits for it and runs once more.
    const run = runImport();
    assert.ok(run.ok, run.journal);
    const want = expected(seeded);
    assert.deepEqual(sorted(await imported(SEED)), sorted(want));
    assert.match(run.status, new RegExp(`^${CAROL} ok \\d+ \\d+ `), run.status);
    const journal = ssh(`journalctl -q -o cat -u mailstack-import -n 300`).stdout;
    assert.match(journal, /access token obtained from login\.oldmail\.test/);
    assert.match(journal, /folder "Sent Items" -> "Sent"/);
    assert.match(journal, /folder "Outbox": left out/);
    const stats = await oauth2Internal("stats");
    // Every login there was an XOAUTH2 token the provider checked (carol has no password).
    assert.ok((stats.introspectedActive as number) >= 2, JSON.stringify(stats));
    console.log(`import-oauth2: ${count(want)} messages in ${want.size} folders; provider: ${JSON.stringify(stats)}`);
});

void test("The next run works with the rotated refresh token (each one works once) and brings only what is new", async () => {
    const first = ssh(`cat '${TOKEN_FILE}'`).stdout;
    const later = tag("m365new");
    const added = seedM365Account(3, later);
    const before = (await oauth2Internal("stats")).refreshed as number;
    const run = runImport();
    assert.ok(run.ok, run.journal);
    assert.equal((await oauth2Internal("stats")).refreshed, before + 1);
    assert.notEqual(ssh(`cat '${TOKEN_FILE}'`).stdout, first, "the rotated refresh token was not kept");
    const newHere = count(expected(added));
    assert.match(run.status, new RegExp(`^${CAROL} ok \\d+ ${newHere} `), run.status);
    assert.deepEqual(sorted(await imported(later)), sorted(expected(added)));
    assert.equal(count(await imported(SEED)), count(expected(seeded)), "the first run's messages changed");
});

void test("A revoked authorization fails with the provider's reason in the journal and in doctor's status line, importing nothing", async () => {
    assert.deepEqual(await oauth2Internal("revoke", { user: M365_ACCOUNT.user }), { revoked: 1 });
    const later = tag("m365gone");
    seedM365Account(2, later);
    const run = runImport();
    assert.equal(run.ok, false, run.journal);
    const reason =
        /login: the OAuth2 authorization of carol@contoso\.test expired or was revoked: invalid_grant \(AADSTS50173: The provided grant has expired due to it being revoked[^)]*\); nothing was imported; run `mailstack-import authorize carol@example\.net` on the server/;
    assert.match(run.journal, reason);
    assert.match(run.status, new RegExp(`^${CAROL} failed \\d+ 0 `), run.status);
    assert.match(run.status, reason);
    assert.equal((await imported(later)).size, 0);
    // The line `mailstack doctor` reads and shows (test/import-oauth2.test.ts: judged a failure with it).
    assert.match(ssh("mailstack-import status").stdout, reason);
});
