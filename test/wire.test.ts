// wire/: the replies of SMTP (RFC 5321 4.2) and ManageSieve (RFC 5804 4), fed as a network
// may cut them, and a ManageSieve and an SMTP dialog against servers on loopback.

import * as net from "node:net";
import { pop3Answer, retrMessage, statCount } from "../wire/pop3";
import { ReplyReader } from "../wire/session";
import {
    MANAGESIEVE,
    sieveCapabilities,
    sieveDialog,
    sievePutScript,
    sieveReplyEnd,
    sieveTokens,
    type SieveReply,
} from "../wire/sieve";
import { ehloKeywords, SMTP, smtpDialog, smtpReplyEnd, type SmtpReply } from "../wire/smtp";

/** Feed `text` cut into pieces of `size` bytes (1: every byte on its own); all the replies. */
function feed<R>(reader: ReplyReader<R>, text: string | Buffer, size: number): R[] {
    const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, "utf8");
    const out: R[] = [];
    for (let i = 0; i < bytes.length; i += size) out.push(...reader.feed(bytes.subarray(i, i + size)));
    return out;
}

describe("SMTP replies", () => {
    const EHLO = "250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250 CHUNKING\r\n";

    test.each([1, 2, 7, 1000])("a multi-line EHLO reply is one reply, in chunks of %i bytes", (size) => {
        const replies = feed(new ReplyReader(SMTP), EHLO + "220 2.0.0 Ready to start TLS\r\n", size);
        expect(replies).toEqual([
            { code: 250, lines: ["mail.example.org", "PIPELINING", "SIZE 10240000", "STARTTLS", "CHUNKING"] },
            { code: 220, lines: ["2.0.0 Ready to start TLS"] },
        ]);
        expect(ehloKeywords(replies[0].lines)).toEqual(["PIPELINING", "SIZE", "STARTTLS", "CHUNKING"]);
    });

    test("a reply is complete only at its CRLF, even when CR and LF come apart", () => {
        const reader = new ReplyReader(SMTP);
        expect(reader.feed("250 OK\r")).toEqual([]);
        expect(reader.feed("\n")).toEqual([{ code: 250, lines: ["OK"] }]);
    });

    test("the last line may be the code alone; a hyphen never ends a reply", () => {
        expect(smtpReplyEnd(["250-first", "250"])).toEqual({ code: 250, lines: ["first", ""] });
        expect(smtpReplyEnd(["250-first"])).toBeUndefined();
        expect(smtpReplyEnd(["250-first", "250-second"])).toBeUndefined();
    });

    test("a line is a last line only with a reply code of 2xx to 5xx and then a space or nothing", () => {
        expect(smtpReplyEnd(["250OK"])).toBeUndefined();
        expect(smtpReplyEnd(["2500 OK"])).toBeUndefined();
        expect(smtpReplyEnd(["hello 250 OK"])).toBeUndefined();
        expect(smtpReplyEnd(["099 not a reply"])).toBeUndefined();
        expect(smtpReplyEnd(["554 5.7.1 Relay access denied"])).toEqual({
            code: 554,
            lines: ["5.7.1 Relay access denied"],
        });
    });

    test("UTF-8 cut between two chunks stays whole (SMTPUTF8 text)", () => {
        const replies = feed(new ReplyReader(SMTP), "250 Grüße\r\n", 1);
        expect(replies).toEqual([{ code: 250, lines: ["Grüße"] }]);
    });
});

describe("ManageSieve responses", () => {
    const GREETING = [
        '"IMPLEMENTATION" "Dovecot Pigeonhole"',
        '"SIEVE" "fileinto reject envelope vacation"',
        '"NOTIFY" "mailto"',
        '"SASL" ""',
        '"STARTTLS"',
        '"VERSION" "1.0"',
        'OK "Dovecot ready."',
        "",
    ].join("\r\n");

    test.each([1, 3, 1000])("the greeting is one response with its capabilities, in chunks of %i bytes", (size) => {
        const [greeting, ...more] = feed(new ReplyReader(MANAGESIEVE), GREETING, size);
        expect(more).toEqual([]);
        expect(greeting.status).toBe("OK");
        expect(greeting.message).toBe("Dovecot ready.");
        expect(sieveCapabilities(greeting)).toEqual({
            IMPLEMENTATION: "Dovecot Pigeonhole",
            SIEVE: "fileinto reject envelope vacation",
            NOTIFY: "mailto",
            SASL: "",
            STARTTLS: "",
            VERSION: "1.0",
        });
    });

    test("OK, NO and BYE with a response code and a quoted string; the raw text is kept", () => {
        const no = sieveReplyEnd(['NO (QUOTA/MAXSIZE) "Quota exceeded"']);
        expect(no).toEqual({
            status: "NO",
            lines: [],
            text: '(QUOTA/MAXSIZE) "Quota exceeded"',
            code: "QUOTA/MAXSIZE",
            message: "Quota exceeded",
        });
        expect(sieveReplyEnd(["ok"])).toEqual({ status: "OK", lines: [], text: "" });
        expect(sieveReplyEnd(['BYE (TRYLATER) "Shutting down"'])?.code).toBe("TRYLATER");
    });

    test("a data line that only starts with the letters of a status is data", () => {
        expect(sieveReplyEnd(["OKAY"])).toBeUndefined();
        expect(sieveReplyEnd(["NO-OP"])).toBeUndefined();
        expect(sieveReplyEnd(["BYEBYE"])).toBeUndefined();
        expect(sieveReplyEnd(['"holiday" ACTIVE'])).toBeUndefined();
    });

    test("quoted strings undo their escapes; a capability string with a quote in it stays one value", () => {
        expect(sieveTokens('"a \\"quoted\\" word" "back\\\\slash" ACTIVE')).toEqual([
            { kind: "string", value: 'a "quoted" word' },
            { kind: "string", value: "back\\slash" },
            { kind: "atom", value: "ACTIVE" },
        ]);
        expect(sieveCapabilities({ lines: ['"IMPLEMENTATION" "Sieve \\"x\\" 1.0"'] })).toEqual({
            IMPLEMENTATION: 'Sieve "x" 1.0',
        });
        expect(sieveTokens('"open')).toBeUndefined();
    });

    test("a literal's octets belong to its line, even lines in it that look like a status (GETSCRIPT)", () => {
        const script = 'require "fileinto";\r\nOK this is the script, not the status\r\nNO neither\r\n';
        const wire = `{${Buffer.byteLength(script)}}\r\n${script}\r\nOK "Getscript completed."\r\n`;
        for (const size of [1, 5, 1000]) {
            const replies = feed(new ReplyReader(MANAGESIEVE), wire, size);
            expect(replies).toHaveLength(1);
            expect(replies[0].status).toBe("OK");
            expect(replies[0].message).toBe("Getscript completed.");
            expect(replies[0].lines).toHaveLength(1);
            expect(sieveTokens(replies[0].lines[0])).toEqual([{ kind: "string", value: script }]);
        }
    });

    test("a literal is counted in octets, not characters, and may carry the status line's text", () => {
        const text = "Überschreitung der Quote";
        const wire = Buffer.from(`NO (QUOTA) {${Buffer.byteLength(text)}}\r\n${text}\r\n`, "utf8");
        const replies = feed(new ReplyReader<SieveReply>(MANAGESIEVE), wire, 1);
        expect(replies).toHaveLength(1);
        expect(replies[0]).toMatchObject({ status: "NO", code: "QUOTA", message: text });
    });

    test("a capability whose value is a literal", () => {
        const wire = '"SIEVE" {8}\r\nfileinto\r\nOK\r\n';
        const [r] = feed(new ReplyReader(MANAGESIEVE), wire, 2);
        expect(sieveCapabilities(r)).toEqual({ SIEVE: "fileinto" });
    });

    test("PUTSCRIPT's literal counts octets", () => {
        expect(sievePutScript("ü", "ä\r\n")).toBe('PUTSCRIPT "ü" {4+}\r\nä\r\n');
    });
});

describe("POP3 answers", () => {
    test("a one-line answer, a multi-line one without its end, -ERR one line always", () => {
        expect(pop3Answer("+OK 2 320\r\n", false)).toEqual({ answer: "+OK 2 320", rest: "" });
        expect(pop3Answer("+OK 120 octets\r\nSubject: x\r\n", true)).toBeUndefined();
        expect(pop3Answer("+OK 120 octets\r\nSubject: x\r\n\r\n..dot\r\n.\r\n+OK", true)).toEqual({
            answer: "+OK 120 octets\r\nSubject: x\r\n\r\n..dot",
            rest: "+OK",
        });
        expect(pop3Answer("-ERR no such message\r\n", true)).toEqual({ answer: "-ERR no such message", rest: "" });
        expect(statCount("+OK 3 1200")).toBe(3);
        expect(retrMessage("+OK 120 octets\r\nSubject: x\r\n\r\n..dot")).toBe("Subject: x\r\n\r\n.dot");
    });
});

describe("dialogs against servers on loopback", () => {
    /** A server that answers each line it gets with the next of `script` (the first on connect). */
    async function scripted(script: string[], chunk = 3): Promise<{ port: number; close: () => void; got: string[] }> {
        const got: string[] = [];
        const server = net.createServer((s) => {
            const answers = [...script];
            const say = async (text: string) => {
                // Cut into small pieces, each written on its own turn of the event loop.
                for (let i = 0; i < text.length; i += chunk) {
                    s.write(text.slice(i, i + chunk));
                    await new Promise((r) => setImmediate(r));
                }
            };
            void say(answers.shift() ?? "");
            let buf = "";
            s.on("data", (d) => {
                buf += d.toString();
                let i: number;
                while ((i = buf.indexOf("\r\n")) >= 0) {
                    got.push(buf.slice(0, i));
                    buf = buf.slice(i + 2);
                    const next = answers.shift();
                    if (next !== undefined) void say(next);
                }
            });
            s.on("error", () => undefined);
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        return { port: (server.address() as net.AddressInfo).port, close: () => server.close(), got };
    }

    test("an SMTP dialog: every reply in order, stopping at the first refusal", async () => {
        const s = await scripted([
            "220-mail.example.org ESMTP\r\n220 second greeting line\r\n",
            "250-mail.example.org\r\n250 SIZE 1000\r\n",
            "550 5.7.1 no\r\n",
            "250 never asked\r\n",
            "221 bye\r\n",
        ]);
        try {
            const r = await smtpDialog(
                { host: "127.0.0.1", port: s.port, timeoutMs: 5000 },
                ["EHLO test", "MAIL FROM:<a@b>", "RCPT TO:<c@d>"],
                { ehloName: "test" },
            );
            expect(r.greeting).toEqual({ code: 220, lines: ["mail.example.org ESMTP", "second greeting line"] });
            expect(r.replies.map((x: SmtpReply) => x.code)).toEqual([250, 550]);
        } finally {
            s.close();
        }
    });

    test("a ManageSieve dialog with a literal in a reply", async () => {
        const s = await scripted([
            '"IMPLEMENTATION" "test"\r\n"SASL" "PLAIN"\r\nOK "ready"\r\n',
            '{4}\r\nOK\r\n\r\nOK "Getscript completed."\r\n',
            "OK\r\n",
        ]);
        try {
            const r = await sieveDialog({ host: "127.0.0.1", port: s.port, timeoutMs: 5000 }, ['GETSCRIPT "x"']);
            expect(sieveCapabilities(r.greeting)).toEqual({ IMPLEMENTATION: "test", SASL: "PLAIN" });
            expect(r.replies).toHaveLength(1);
            expect(r.replies[0].status).toBe("OK");
            expect(sieveTokens(r.replies[0].lines[0])).toEqual([{ kind: "string", value: "OK\r\n" }]);
        } finally {
            s.close();
        }
    });
});
