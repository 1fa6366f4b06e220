// Local accounts speak for no one (issue 28): a process that runs as www-data (the webmail,
// after a code-execution bug) or nobody cannot send mail through sendmail or port 25 on
// loopback, cannot use Valkey, cannot make rspamd learn and cannot clear a login's
// submission limit; root (and vmail, for vacation replies and Sieve redirects) still can.
import assert from "node:assert/strict";
import { test } from "node:test";
import { OPENDKIM_SOCKET, SENDER_MILTER_SOCKET } from "../../render/host/accounts";
import { RSPAMD_CONTROLLER, RSPAMD_CONTROLLER_PASSWORD_FILE, VALKEY_SOCKET } from "../../render/host/filter";
import { SUBMISSION_LIMIT_CONTROL, SUBMISSION_LIMIT_LISTEN } from "../../render/host/limits";
import { eventually, sinkMessages } from "../clients";
import { NET, ssh, tag } from "./helpers";

const ALICE = "alice@example.org";
const OUTSIDE = "local-accounts@sink.test";
const STRANGERS = ["www-data", "nobody"] as const;

/** `command` on the server as `user` (root: as it is), never throwing. */
function as(user: string, command: string, input?: string) {
    const run = user === "root" ? command : `runuser -u ${user} -- ${command}`;
    return ssh(run, { input, allowFail: true, timeoutMs: 60_000 });
}

/** A Python snippet run as `user`; its stdout, trimmed. */
function python(user: string, code: string): string {
    const r = as(user, "/usr/bin/python3 -", code);
    assert.equal(r.status, 0, `python as ${user} failed: ${r.stderr}`);
    return r.stdout.trim();
}

/** A message from alice, as a forger would write it: From: the hosted address. */
function forged(subject: string): string {
    return [
        `From: ${ALICE}`,
        `To: ${OUTSIDE}`,
        `Subject: ${subject}`,
        `Message-ID: <${subject}@example.org>`,
        "",
        "Your account needs attention; log in at the link below.",
        "",
    ].join("\r\n");
}

void test("www-data and nobody cannot send mail through sendmail, not even as a hosted address; root and vmail can, and their mail is signed", async () => {
    const refused: string[] = [];
    for (const user of STRANGERS) {
        const subject = tag(`sendmail-${user}`);
        refused.push(subject);
        const r = as(user, `/usr/sbin/sendmail -i -f ${ALICE} ${OUTSIDE}`, forged(subject));
        assert.notEqual(r.status, 0, `${user}'s sendmail was accepted: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, /not allowed to submit mail/, `${user}: ${r.stderr}`);
    }
    for (const user of ["root", "vmail"]) {
        const subject = tag(`sendmail-${user}`);
        const r = as(user, `/usr/sbin/sendmail -i -f ${ALICE} ${OUTSIDE}`, forged(subject));
        assert.equal(r.status, 0, `${user}'s sendmail was refused: ${r.stderr}`);
        const msg = await eventually(() => sinkMessages().find((m) => m.raw.includes(subject)), 30_000);
        assert.match(msg.raw, /^DKIM-Signature:[^]*?\bd=example\.org;/im, `${user}'s mail left unsigned`);
    }
    // Nothing of the refused ones was queued or went out meanwhile.
    const queued = ssh("postqueue -j || true").stdout;
    for (const subject of refused) {
        assert.ok(!sinkMessages().some((m) => m.raw.includes(subject)), `${subject} reached the outside`);
        assert.ok(!queued.includes(subject), `${subject} is queued`);
    }
});

/** One SMTP dialog with 127.0.0.1:25 as `user`: the reply code of MAIL FROM and of RCPT TO. */
function loopbackSmtp(user: string, from: string, to: string): { mail: number; rcpt: number } {
    const out = python(
        user,
        `
import smtplib
c = smtplib.SMTP("127.0.0.1", 25, local_hostname="localhost", timeout=20)
c.ehlo()
mail = c.mail("${from}")[0]
rcpt = c.rcpt("${to}")[0] if mail < 400 else 0
c.rset(); c.quit()
print(mail, rcpt)
`,
    );
    const [mail, rcpt] = out.split(" ").map(Number);
    return { mail, rcpt };
}

void test("No local process relays through port 25 on 127.0.0.1: RCPT to an outside address is refused, for root too, and a hosted sender is refused there as a forgery", () => {
    for (const user of [...STRANGERS, "root"]) {
        const relay = loopbackSmtp(user, `${user}@mail.example.org`, OUTSIDE);
        assert.ok(relay.mail < 400, `${user}: MAIL FROM got ${relay.mail}`);
        assert.ok(relay.rcpt >= 500, `${user}: RCPT TO ${OUTSIDE} on 127.0.0.1:25 got ${relay.rcpt}, not a refusal`);
        const forgery = loopbackSmtp(user, ALICE, "bob@example.org");
        assert.ok(
            forgery.mail >= 500 || forgery.rcpt >= 500,
            `${user}: MAIL FROM ${ALICE} to bob on 127.0.0.1:25 got ${forgery.mail}/${forgery.rcpt}`,
        );
    }
});

/** PING to Valkey over loopback TCP and over its unix socket, as `user`: each answer or error. */
function valkeyPing(user: string): { tcp: string; unix: string } {
    const out = python(
        user,
        `
import json, socket
def ping(family, address):
    try:
        s = socket.socket(family, socket.SOCK_STREAM); s.settimeout(5); s.connect(address)
        s.sendall(b"PING\\r\\n"); return s.recv(64).decode().strip() or "closed"
    except OSError as e:
        return type(e).__name__
print(json.dumps({"tcp": ping(socket.AF_INET, ("127.0.0.1", 6379)), "unix": ping(socket.AF_UNIX, "${VALKEY_SOCKET}")}))
`,
    );
    return JSON.parse(out) as { tcp: string; unix: string };
}

void test("Only Postfix and root open connections to another server's port 25: www-data and nobody cannot hand a forged message straight to an outside MX (our address passes SPF)", () => {
    assert.equal(ssh("systemctl is-active mailstack-smtp-egress-guard", { allowFail: true }).stdout.trim(), "active");
    const connect = `import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.settimeout(5)
try:
    s.connect(("${NET.mx4}", 25)); print("connected")
except socket.timeout: print("timeout")
except OSError as e: print(type(e).__name__)`;
    for (const user of STRANGERS)
        assert.equal(python(user, connect), "ConnectionRefusedError", `${user} reached the outside MX's port 25`);
    assert.equal(python("root", connect), "connected", "root no longer reaches the outside MX");
    // Postfix's own SMTP client (user postfix) still delivers: outbound.test.ts and dkim.test.ts send through it.
});

void test("Valkey answers nobody but rspamd and root: www-data's and nobody's PING gets no PONG, over TCP or its socket", () => {
    for (const user of STRANGERS) {
        const r = valkeyPing(user);
        assert.notEqual(r.tcp, "+PONG", `${user} reached Valkey over TCP: ${JSON.stringify(r)}`);
        assert.notEqual(r.unix, "+PONG", `${user} reached Valkey's socket: ${JSON.stringify(r)}`);
    }
    for (const user of ["_rspamd", "root"]) {
        assert.equal(valkeyPing(user).unix, "+PONG", `${user} cannot reach Valkey's socket`);
    }
    assert.equal(ssh("ss -Hltn 'sport = :6379'").stdout.trim(), "", "Valkey still listens on TCP");
});

/** rspamd's controller refuses a command without the right password: 401 (rspamd 3.12), 403 (older). */
const REFUSED = [401, 403];

/** A learnspam request to rspamd's controller as `user`, with `password` or none: the HTTP status. */
function learnSpam(user: string, password: string | undefined, subject: string): number {
    const words = Array.from({ length: 60 }, (_, i) => `${subject.replace(/\W/g, "")}w${i}`).join(" ");
    const body = `From: spammer@sink.test\r\nTo: ${ALICE}\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@sink.test>\r\n\r\nCheap offer ${words}\r\n`;
    const out = python(
        user,
        `
import urllib.request, urllib.error
req = urllib.request.Request("http://${RSPAMD_CONTROLLER}/learnspam", data=${JSON.stringify(body)}.encode(), method="POST")
${password ? `req.add_header("Password", ${JSON.stringify(password)})` : ""}
try:
    print(urllib.request.urlopen(req, timeout=30).status)
except urllib.error.HTTPError as e:
    print(e.code)
`,
    );
    return Number(out);
}

void test("rspamd learns nothing without its controller's password: www-data's and nobody's learnspam is refused, root's with the password is taken", () => {
    for (const user of STRANGERS) {
        const status = learnSpam(user, undefined, tag(`learn-${user}`));
        assert.ok(REFUSED.includes(status), `${user}'s learnspam without a password got HTTP ${status}`);
        const read = as(user, `cat ${RSPAMD_CONTROLLER_PASSWORD_FILE}`);
        assert.notEqual(read.status, 0, `${user} can read the controller's password`);
    }
    const password = ssh(`cat ${RSPAMD_CONTROLLER_PASSWORD_FILE}`, { allowFail: true }).stdout.trim();
    assert.ok(password.length >= 20, `no controller password in ${RSPAMD_CONTROLLER_PASSWORD_FILE}`);
    const guess = learnSpam("nobody", "not-the-password", tag("learn-guess"));
    assert.ok(REFUSED.includes(guess), `a wrong password got HTTP ${guess}`);
    const status = learnSpam("root", password, tag("learn-root"));
    assert.ok(status === 200 || status === 204, `root's learnspam with the password got HTTP ${status}`);
});

void test("Only root clears a login's submission limit: nobody's and www-data's clear is refused, root's clears", () => {
    for (const user of STRANGERS) {
        const cli = as(user, "/usr/bin/python3 /usr/local/sbin/mailstack-submission-limit clear bob@example.org");
        assert.notEqual(cli.status, 0, `${user}'s clear was taken: ${cli.stdout}`);
        // The policy port Postfix asks takes no clear request either, whoever sends it.
        const [host, port] = SUBMISSION_LIMIT_LISTEN.split(":");
        const answer = python(
            user,
            `
import socket
c = socket.create_connection(("${host}", ${port}), timeout=10)
c.sendall(b"request=mailstack_clear\\nsasl_username=bob@example.org\\n\\n")
print(c.makefile().readline().strip())
`,
        );
        assert.doesNotMatch(answer, /cleared/, `${user}'s clear over ${SUBMISSION_LIMIT_LISTEN}: ${answer}`);
    }
    const root = as("root", "mailstack-submission-limit clear bob@example.org");
    assert.equal(root.status, 0, root.stderr);
    assert.match(root.stdout, /recipients of the past hour forgotten/);
    assert.match(ssh(`stat -c '%a' ${SUBMISSION_LIMIT_CONTROL.replace(/\/[^/]+$/, "")}`).stdout.trim(), /^700$/);
});

void test("OpenDKIM and the From: header check listen only on unix sockets in Postfix's spool that postfix may open and nobody else", () => {
    assert.equal(ssh("ss -Hltn 'sport = :8891 or sport = :8893'").stdout.trim(), "", "a milter still listens on TCP");
    for (const socket of [OPENDKIM_SOCKET, SENDER_MILTER_SOCKET]) {
        const probe = `
import socket
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("${socket}"); print("connected")
except OSError as e:
    print(type(e).__name__)
`;
        assert.equal(python("postfix", probe), "connected", `postfix cannot open ${socket}`);
        for (const user of STRANGERS)
            assert.equal(python(user, probe), "PermissionError", `${user} reached ${socket} (or it is missing)`);
    }
});
