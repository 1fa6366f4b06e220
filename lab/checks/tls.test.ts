import assert from "node:assert/strict";
import { test } from "node:test";
import type { ConnectionOptions } from "node:tls";
import { smtpDialog, tlsHandshake } from "../clients";

// Node's OpenSSL would not even offer TLS 1.1 at its default security level: lower the
// client's so that a refusal can only come from the server.
const OLD: ConnectionOptions = { minVersion: "TLSv1", maxVersion: "TLSv1.1", ciphers: "DEFAULT@SECLEVEL=0" };
const TLS12: ConnectionOptions = { minVersion: "TLSv1.2", maxVersion: "TLSv1.2", ciphers: "DEFAULT@SECLEVEL=0" };

const PORTS: [number, string, (o: ConnectionOptions) => Promise<string | undefined>][] = [
    [25, "SMTP STARTTLS", async (o) => (await smtpDialog(25, [], { starttls: true, tlsOptions: o })).tlsProtocol],
    [465, "submissions", (o) => tlsHandshake(465, o)],
    [
        587,
        "submission STARTTLS",
        async (o) => (await smtpDialog(587, [], { starttls: true, tlsOptions: o })).tlsProtocol,
    ],
    [993, "IMAPS", (o) => tlsHandshake(993, o)],
    [995, "POP3S", (o) => tlsHandshake(995, o)],
];

void test("TLS on 25, 465, 587, 993 and 995 refuses TLS 1.1 and below and accepts TLS 1.2", async () => {
    const problems: string[] = [];
    for (const [port, name, connect] of PORTS) {
        const good = await connect(TLS12).catch((e: Error) => `error: ${e.message}`);
        if (good !== "TLSv1.2") problems.push(`${port} ${name}: TLS 1.2 gave ${good}`);
        try {
            const bad = await connect(OLD);
            problems.push(`${port} ${name}: accepted ${bad}`);
        } catch (err) {
            const e = err as Error & { code?: string };
            // The refusal must be the server's: its protocol_version alert (70), not this
            // client failing to offer anything.
            if (e.code !== "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION") {
                problems.push(
                    `${port} ${name}: TLS 1.1 failed, but not with the server's protocol_version alert (${e.code ?? ""} ${e.message.trim()})`,
                );
            }
        }
    }
    assert.deepEqual(problems, []);
});
