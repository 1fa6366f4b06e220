// mailstack doctor (doctor/): the time limits, and the TLS/SMTP probes against servers this test
// starts on loopback. No network beyond 127.0.0.1, no root.

import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";
import { runCheck } from "../doctor/doctor";
import { implicitTlsCheck, managesieveCheck, relayProbe, starttlsCheck, type Target } from "../doctor/outside";
import type { Check } from "../doctor/types";
import { selfSignedCert } from "./helpers/tls";

describe("the probes, against servers on loopback", () => {
    let dir: string;
    const hostname = "mail.doctor.invalid";
    const cert = (name: string, days: number) => selfSignedCert(dir, name, hostname, days);
    let good: { key: Buffer; cert: string };
    let expiring: { key: Buffer; cert: string };
    const closers: (() => void)[] = [];

    beforeAll(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "doctor-test-"));
        good = cert("good", 90);
        expiring = cert("expiring", 5);
    });
    afterAll(() => {
        closers.forEach((c) => c());
        fs.rmSync(dir, { recursive: true, force: true });
    });

    const listen = (server: net.Server) =>
        new Promise<number>((resolve) => {
            server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
            closers.push(() => server.close());
        });
    const smtp = async (options: SMTPServerOptions) => {
        const server = new SMTPServer({ logger: false, key: good.key, cert: good.cert, ...options });
        const port = await new Promise<number>((resolve) => {
            server.listen(0, "127.0.0.1", () => resolve((server.server.address() as net.AddressInfo).port));
        });
        closers.push(() => server.close());
        return port;
    };
    const target = (ca: string): Target => ({ hostname, ipv4: "127.0.0.1", ipv6: "::1", ca: [ca], minCertDays: 14 });
    const signal = () => AbortSignal.timeout(5000);

    test("implicit TLS: a valid certificate is ok; an expiring one, another name, an unknown CA fail", async () => {
        const serve = (c: { key: Buffer; cert: string }) =>
            listen(tls.createServer({ key: c.key, cert: c.cert }, (s) => s.end()));
        const okPort = await serve(good);
        const e = (port: number, name = hostname) => ({
            address: "127.0.0.1",
            port,
            hostname: name,
            ca: [good.cert, expiring.cert],
        });
        expect(await implicitTlsCheck(e(okPort), target(good.cert), signal())).toMatchObject({
            status: "ok",
            detail: expect.stringMatching(/^TLS: TLSv1\.3, certificate valid (89|90) more days$/),
        });
        const soon = await implicitTlsCheck(e(await serve(expiring)), target(expiring.cert), signal());
        expect(soon).toMatchObject({ status: "fail", detail: expect.stringMatching(/expires in [45] day/) });
        expect((soon as { fix?: string }).fix).toMatch(/certbot/);
        const other = await implicitTlsCheck(e(okPort, "other.doctor.invalid"), target(good.cert), signal());
        expect(other).toMatchObject({
            status: "fail",
            detail: expect.stringMatching(/not valid for mail\.doctor\.invalid/),
        });
        const untrusted = await implicitTlsCheck(
            { address: "127.0.0.1", port: okPort, hostname },
            target(good.cert),
            signal(),
        );
        expect(untrusted).toMatchObject({ status: "fail", detail: expect.stringMatching(/SELF_SIGNED|self-signed/i) });
    });

    test("STARTTLS on 25: offered, no AUTH is ok; AUTH offered fails; no STARTTLS fails", async () => {
        const e = (port: number) => ({ address: "127.0.0.1", port, hostname, ca: [good.cert] });
        const mx = await smtp({ disabledCommands: ["AUTH"] });
        expect(await starttlsCheck(e(mx), target(good.cert), signal(), true)).toMatchObject({ status: "ok" });
        const auth = await smtp({ allowInsecureAuth: true });
        expect(await starttlsCheck(e(auth), target(good.cert), signal(), true)).toMatchObject({
            status: "fail",
            detail: "port 25 offers AUTH",
        });
        const plain = await smtp({ disabledCommands: ["STARTTLS", "AUTH"] });
        expect(await starttlsCheck(e(plain), target(good.cert), signal(), true)).toMatchObject({
            status: "fail",
            detail: "no STARTTLS offered",
        });
        // Submission: AUTH after STARTTLS is what it is for.
        expect(await starttlsCheck(e(auth), target(good.cert), signal(), false)).toMatchObject({ status: "ok" });
    });

    /** A ManageSieve server as Dovecot's: capabilities, STARTTLS, the capabilities again inside TLS. */
    const managesieve = (o: { starttls: boolean; saslBeforeTls: string; saslInTls: string }) =>
        listen(
            net.createServer((plain) => {
                const caps = (sasl: string, tlsOffered: boolean) =>
                    [
                        `"IMPLEMENTATION" "Dovecot Pigeonhole"`,
                        `"SIEVE" "fileinto vacation"`,
                        `"SASL" "${sasl}"`,
                        ...(tlsOffered ? [`"STARTTLS"`] : []),
                        `"VERSION" "1.0"`,
                        `OK "ready."`,
                    ].join("\r\n") + "\r\n";
                plain.write(caps(o.saslBeforeTls, o.starttls));
                plain.once("data", (d) => {
                    if (!o.starttls || d.toString() !== "STARTTLS\r\n") return void plain.end(`NO "unknown"\r\n`);
                    plain.write(`OK "Begin TLS negotiation now."\r\n`);
                    const secure = new tls.TLSSocket(plain, { isServer: true, key: good.key, cert: good.cert });
                    secure.once("secure", () => secure.write(caps(o.saslInTls, false)));
                    secure.on("data", () => secure.end(`OK "Logout completed."\r\n`));
                    secure.on("error", () => undefined);
                });
                plain.on("error", () => undefined);
            }),
        );

    test("ManageSieve on 4190: STARTTLS and PLAIN only inside TLS is ok; a login before TLS or no STARTTLS fails", async () => {
        const e = (port: number) => ({ address: "127.0.0.1", port, hostname, ca: [good.cert] });
        const check = async (o: Parameters<typeof managesieve>[0]) =>
            managesieveCheck(e(await managesieve(o)), target(good.cert), signal());
        expect(await check({ starttls: true, saslBeforeTls: "", saslInTls: "PLAIN LOGIN" })).toMatchObject({
            status: "ok",
            detail: expect.stringMatching(/^STARTTLS: TLSv1\.3, certificate valid/),
        });
        expect(await check({ starttls: true, saslBeforeTls: "PLAIN", saslInTls: "PLAIN" })).toMatchObject({
            status: "fail",
            detail: "logins offered before STARTTLS (SASL PLAIN)",
        });
        expect(await check({ starttls: false, saslBeforeTls: "", saslInTls: "" })).toMatchObject({
            status: "fail",
            detail: "no STARTTLS offered",
        });
        expect(await check({ starttls: true, saslBeforeTls: "", saslInTls: "" })).toMatchObject({
            status: "warn",
            detail: expect.stringMatching(/no PLAIN login inside TLS$/),
        });
    });

    test("the relay probe: a refused outside recipient is ok, an accepted one is an open relay", async () => {
        const e = (port: number) => ({ address: "127.0.0.1", port, hostname });
        const closed = await smtp({
            disabledCommands: ["AUTH"],
            onRcptTo: (_a, _s, cb) => cb(Object.assign(new Error("5.7.1 Relay access denied"), { responseCode: 554 })),
        });
        expect(await relayProbe(e(closed), signal())).toMatchObject({
            status: "ok",
            detail: expect.stringMatching(/^relaying refused: 554/),
        });
        const open = await smtp({ disabledCommands: ["AUTH"], onRcptTo: (_a, _s, cb) => cb() });
        expect(await relayProbe(e(open), signal())).toMatchObject({
            status: "fail",
            detail: expect.stringMatching(/OPEN RELAY/),
        });
    });

    test("a server that accepts and never speaks, and a closed port, are reported within the time limit", async () => {
        const mute = await listen(net.createServer(() => undefined));
        const check = (port: number): Check => ({
            check: `port ${port}`,
            onError: "is it up?",
            run: (s) => starttlsCheck({ address: "127.0.0.1", port, hostname }, target(good.cert), s, true),
        });
        const started = Date.now();
        const r = await runCheck(check(mute), 1000);
        expect(Date.now() - started).toBeLessThan(2000);
        expect(r).toMatchObject({ status: "fail", detail: expect.stringMatching(/time limit/), fix: "is it up?" });
        const free = await listen(net.createServer());
        closers.pop()!();
        await new Promise((r) => setTimeout(r, 50));
        expect(await runCheck(check(free), 1000)).toMatchObject({
            status: "fail",
            detail: expect.stringMatching(/refused the connection/),
        });
    });
});
