// Full-text search (issue 31): mail delivered in bulk over Dovecot's own LMTP socket on the
// server (one session, far faster than SMTP), the flatcurve index's own account of what it
// holds, and the messages that contain a word read from the Maildir's files themselves.
import assert from "node:assert/strict";
import * as https from "node:https";
import { pebbleRoot } from "../world/acme";
import { eventually, SERVER } from "../clients";
import { labSpec } from "../lab-config";
import { ssh } from "./helpers";

/** The webmail's name (the stack's A record); the lab reaches it at the server's address. */
const WEBMAIL_HOST = labSpec().hostname;

/** What `doveadm fts flatcurve stats` says of a folder's index: the last UID and the messages it holds. */
export interface IndexStats {
    lastUid: number;
    messages: number;
}

/** Postfix's LMTP socket to Dovecot (dovecot.conf, service lmtp): the path every delivery takes. */
const LMTP_SOCKET = "/var/spool/postfix/private/dovecot-lmtp";

/**
 * The corpus's messages, made on the server by python3: `count` small ones, subjects
 * `<subject> <n>`, each a few lines of ordinary words; the ones numbered in `rare` also carry
 * `word`. Then either delivered in one LMTP session (`lmtp <to>`) or written as files into a
 * Maildir folder (`maildir <dir>`). Prints the seconds that took.
 */
const CORPUS_PY = `
import os, smtplib, sys, time, random
how, where, count, subject, word = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
rare = set(int(n) for n in sys.argv[6].split(",") if n)
words = "report meeting invoice weekly project budget holiday train ticket garden letter photo update team review plan draft customer order delivery".split()
rnd = random.Random(31)
started = time.time()
run = int(started)  # in the Message-IDs, never the word: only the rare messages hold it
lmtp = smtplib.LMTP("${LMTP_SOCKET}") if how == "lmtp" else None
for n in range(count):
    lines = [" ".join(rnd.choice(words) for _ in range(12)) for _ in range(4)]
    if n in rare:
        lines.insert(2, "It was all about the " + word + " this year.")
    to = where if lmtp else "lab@example.org"
    msg = "From: Lab <lab@sink.test>\\r\\nTo: <%s>\\r\\nSubject: %s %d\\r\\nMessage-ID: <search-%d-%d@sink.test>\\r\\n\\r\\n%s\\r\\n" % (to, subject, n, n, run, "\\r\\n".join(lines))
    if lmtp:
        lmtp.sendmail("lab@sink.test", [to], msg.encode())
    else:
        with open(os.path.join(where, "new", "%d.M%dP0.corpus" % (run, n)), "w") as f:
            f.write(msg)
if lmtp:
    lmtp.quit()
print("%.2f" % (time.time() - started))
`;

/** Runs CORPUS_PY on the server (as `user`, when given); its seconds. */
function corpus(how: "lmtp" | "maildir", where: string, o: CorpusOptions, user?: string): number {
    const as = user ? `setpriv --reuid=${user} --regid=${user} --clear-groups ` : "";
    const r = ssh(
        `${as}python3 -c '${CORPUS_PY.replace(/'/g, `'"'"'`)}' ${how} ${where} ${o.count} '${o.subject}' ${o.word} ${o.rare.join(",")}`,
        { timeoutMs: 600_000 },
    );
    return Number(r.stdout.trim());
}

interface CorpusOptions {
    count: number;
    subject: string;
    word: string;
    rare: number[];
}

/** The corpus delivered to `to` in one LMTP session (the path every delivery takes); the seconds it took. */
export function deliverCorpus(o: CorpusOptions & { to: string }): number {
    return corpus("lmtp", o.to, o);
}

/**
 * The corpus as a new folder of `user`'s, its files written straight into its Maildir (as an
 * old archive copied in would be: far faster than delivering them), then taken into Dovecot's
 * index and the flatcurve index by one `doveadm index`, as the indexer would. The seconds of each.
 */
export function fillFolder(o: CorpusOptions & { user: string; maildir: string; folder: string }): {
    written: number;
    indexed: number;
} {
    ssh(`doveadm mailbox create -s -u ${o.user} ${o.folder}`);
    const written = corpus("maildir", `${o.maildir}/.${o.folder}`, o, "vmail");
    const started = Date.now();
    ssh(`doveadm index -u ${o.user} ${o.folder}`, { timeoutMs: 600_000 });
    return { written, indexed: (Date.now() - started) / 1000 };
}

/** The flatcurve index of `mailbox`, or undefined when doveadm has none to show (no fts, no index). */
export function indexStats(user: string, mailbox = "INBOX"): IndexStats | undefined {
    const r = ssh(`doveadm fts flatcurve stats -u ${user} ${mailbox}`, { allowFail: true });
    const lastUid = /\blast_uid=(\d+)/.exec(r.stdout)?.[1];
    const messages = /\bmessages=(\d+)/.exec(r.stdout)?.[1];
    return r.status === 0 && lastUid && messages ? { lastUid: Number(lastUid), messages: Number(messages) } : undefined;
}

/** The folder's highest UID, from Dovecot's mailbox status (not a search). */
export function lastUid(user: string, mailbox = "INBOX"): number {
    // "INBOX uidnext=4012" (doveadm's tab format has a header line and the folder's name first).
    const out = ssh(`doveadm -f flow mailbox status -u ${user} uidnext ${mailbox}`).stdout;
    const next = /\buidnext=(\d+)/.exec(out)?.[1];
    if (!next) throw new Error(`no uidnext in doveadm mailbox status for ${user}'s ${mailbox}: ${out}`);
    return Number(next) - 1;
}

/**
 * The UIDs of the messages whose files contain `word`, found with grep in the Maildir and
 * mapped to UIDs through dovecot-uidlist: the answer a search must give, without Dovecot.
 */
export function uidsOfFilesWith(maildir: string, word: string): number[] {
    const out = ssh(
        `cd ${maildir} && grep -rlF -- '${word}' new cur | sed 's|.*/||; s|:2,.*||' | while read -r f; do awk -v f=":$f" '{ i = index($0, f) } i && i + length(f) == length($0) + 1 { print $1 }' dovecot-uidlist; done`,
    ).stdout;
    return out
        .split("\n")
        .filter(Boolean)
        .map(Number)
        .sort((a, b) => a - b);
}

/**
 * Waits until the flatcurve index of `mailbox` reaches the folder's last UID, with no search
 * asking for it (the indexer's own work, queued by a delivery or a restore); its stats.
 */
export async function indexedToTheEnd(user: string, timeoutMs: number, mailbox = "INBOX"): Promise<IndexStats> {
    const last = lastUid(user, mailbox);
    return eventually(
        () => {
            const s = indexStats(user, mailbox);
            return s && s.lastUid >= last ? s : undefined;
        },
        timeoutMs,
        2000,
    ).catch(() => {
        throw new Error(
            `${user}'s ${mailbox} is not indexed up to UID ${last}: ${JSON.stringify(indexStats(user, mailbox))}`,
        );
    });
}

/**
 * One HTTPS request to the webmail (verified against pebble's root), with the cookies of `jar`,
 * which takes the new ones; from the lab's client address unless `localAddress` names another.
 */
export async function webmailRequest(
    jar: Map<string, string>,
    pathname: string,
    o: {
        method?: "GET" | "POST" | "PROPFIND";
        form?: Record<string, string>;
        headers?: Record<string, string>;
        localAddress?: string;
    } = {},
): Promise<{ status: number; body: string }> {
    const ca = await pebbleRoot();
    const body = o.form ? new URLSearchParams(o.form).toString() : undefined;
    const headers: Record<string, string> = {
        host: WEBMAIL_HOST,
        cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; "),
        ...(body ? { "content-type": "application/x-www-form-urlencoded" } : {}),
        ...o.headers,
    };
    return new Promise((resolve, reject) => {
        const req = https.request(
            {
                host: SERVER,
                servername: WEBMAIL_HOST,
                path: pathname,
                method: o.method ?? "GET",
                headers,
                ca,
                ...(o.localAddress ? { localAddress: o.localAddress } : {}),
            },
            (r) => {
                for (const c of [r.headers["set-cookie"] ?? []].flat()) {
                    const [pair] = c.split(";");
                    const eq = pair.indexOf("=");
                    jar.set(pair.slice(0, eq), pair.slice(eq + 1));
                }
                let text = "";
                r.setEncoding("utf8");
                r.on("data", (d: string) => (text += d));
                r.on("end", () => resolve({ status: r.statusCode ?? 0, body: text }));
            },
        );
        req.on("error", reject);
        req.end(body);
    });
}

/** Roundcube's login form, fetched into `jar` (from `localAddress`): its request token. */
export async function webmailLoginToken(jar: Map<string, string>, localAddress?: string): Promise<string> {
    const page = await webmailRequest(jar, "/", { localAddress });
    const token = /name="_token" value="([^"]+)"/.exec(page.body)?.[1];
    assert.ok(token, `no login form at https://${WEBMAIL_HOST}/ (HTTP ${page.status})`);
    return token;
}

/**
 * The login form sent with `token` (webmailLoginToken): Roundcube's answer, 302 when a session
 * opened. `code`: the second factor's field (the mailstack_totp plugin's `_totp`).
 */
export function webmailLoginPost(
    jar: Map<string, string>,
    token: string,
    user: string,
    pass: string,
    localAddress?: string,
    code?: string,
): Promise<{ status: number; body: string }> {
    return webmailRequest(jar, "/?_task=login", {
        method: "POST",
        form: {
            _token: token,
            _task: "login",
            _action: "login",
            _timezone: "UTC",
            _url: "",
            _user: user,
            _pass: pass,
            ...(code === undefined ? {} : { _totp: code }),
        },
        localAddress,
    });
}

/**
 * A search in Roundcube, as its search box sends it with "Body" ticked (`_action=search`,
 * `_headers=body`, which Roundcube turns into IMAP `SEARCH BODY`): logs in as `user`, then
 * returns the message count Roundcube shows and the UIDs of the rows it lists.
 */
export async function webmailSearch(
    user: string,
    pass: string,
    word: string,
    mailbox = "INBOX",
): Promise<{ count: number; uids: number[] }> {
    const jar = new Map<string, string>();
    const login = await webmailLoginPost(jar, await webmailLoginToken(jar), user, pass);
    assert.equal(login.status, 302, `Roundcube's login for ${user}: HTTP ${login.status}`);
    const mail = await webmailRequest(jar, `/?_task=mail&_mbox=${encodeURIComponent(mailbox)}`);
    const token = /"request_token":"([^"]+)"/.exec(mail.body)?.[1];
    assert.ok(token, `no request token in Roundcube's mail view (HTTP ${mail.status})`);
    const q = new URLSearchParams({
        _task: "mail",
        _action: "search",
        _q: word,
        _headers: "body",
        _mbox: mailbox,
        _scope: "base",
        _filter: "ALL",
        _remote: "1",
    });
    const res = await webmailRequest(jar, `/?${q.toString()}`, { headers: { "X-Roundcube-Request": token } });
    assert.equal(res.status, 200, `Roundcube's search: HTTP ${res.status} ${res.body.slice(0, 300)}`);
    const json = JSON.parse(res.body) as { env?: { messagecount?: number }; exec?: string };
    const uids = [...(json.exec ?? "").matchAll(/add_message_row\((\d+),/g)].map((m) => Number(m[1]));
    return { count: json.env?.messagecount ?? -1, uids: uids.sort((a, b) => a - b) };
}
