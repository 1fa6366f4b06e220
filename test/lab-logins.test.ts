// The lab's raw IMAPS login (lab/checks/logins.ts imapLogin) against a small TLS server here:
// it settles on every way a server can end, never leaving a check waiting for ever.
import * as fs from "node:fs";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { imapLogin } from "../lab/checks/logins";
import { selfSignedCert } from "./helpers/tls";

let key: Buffer;
let cert: string;

beforeAll(() => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-imap-login-"));
    ({ key, cert } = selfSignedCert(dir, "imap", "imap.test", 1));
    fs.rmSync(dir, { recursive: true, force: true });
});

/** A TLS server on 127.0.0.1 that does `onConnection` with each client; its port. */
async function server(onConnection: (s: tls.TLSSocket) => void): Promise<{ port: number; close: () => void }> {
    const srv = tls.createServer({ key, cert }, onConnection);
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    return { port: (srv.address() as AddressInfo).port, close: () => srv.close() };
}

const login = (port: number, timeoutMs = 5_000) =>
    imapLogin("alice@example.org", "secret", "127.0.0.1", { host: "127.0.0.1", port, timeoutMs });

test("the tagged answer is what it resolves to", async () => {
    const s = await server((c) => {
        c.write("* OK ready\r\n");
        c.on("data", (d) => {
            if (d.toString().startsWith("a LOGIN")) c.write("a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
        });
    });
    try {
        await expect(login(s.port)).resolves.toBe("a NO [AUTHENTICATIONFAILED] Authentication failed.");
    } finally {
        s.close();
    }
});

test("a server that closes the connection after LOGIN without a tagged answer: rejected, saying so", async () => {
    const s = await server((c) => {
        c.write("* OK ready\r\n");
        c.on("data", () => c.end("* BYE going away\r\n"));
    });
    try {
        await expect(login(s.port)).rejects.toThrow(
            /alice@example\.org from 127\.0\.0\.1: the connection was closed before the LOGIN's answer \(the server said "\* OK ready\\r\\n\* BYE going away"\)/,
        );
    } finally {
        s.close();
    }
});

test("a server that closes the connection before its greeting, and one that never answers: rejected", async () => {
    const closes = await server((c) => c.destroy());
    const silent = await server(() => undefined);
    try {
        await expect(login(closes.port)).rejects.toThrow(/IMAPS login of alice@example\.org from 127\.0\.0\.1: /);
        await expect(login(silent.port, 500)).rejects.toThrow(/no answer in time \(the server said nothing\)/);
    } finally {
        closes.close();
        silent.close();
    }
});
