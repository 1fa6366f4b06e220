import assert from "node:assert/strict";
import { test } from "node:test";
import type { ConnectionOptions } from "node:tls";
import { TLS_SERVICES } from "../../model";
import { starttlsPeer, tlsHandshake } from "../clients";
import { inWords } from "./helpers";

// Node's OpenSSL would not even offer TLS 1.1 at its default security level: lower the
// client's so that a refusal can only come from the server.
const OLD: ConnectionOptions = { minVersion: "TLSv1", maxVersion: "TLSv1.1", ciphers: "DEFAULT@SECLEVEL=0" };
const TLS12: ConnectionOptions = { minVersion: "TLSv1.2", maxVersion: "TLSv1.2", ciphers: "DEFAULT@SECLEVEL=0" };

/** Every port of the services table that speaks TLS, connected the way the table says. */
const PORTS = TLS_SERVICES.map((s) => ({
    port: s.port,
    name: `${s.name} (${s.tls})`,
    connect: async (o: ConnectionOptions): Promise<string | undefined> =>
        s.tls === "starttls" ? (await starttlsPeer(s, o)).tlsProtocol : tlsHandshake(s.port, o),
}));

void test(`TLS on ${inWords(PORTS.map((p) => p.port))} refuses TLS 1.1 and below and accepts TLS 1.2`, async () => {
    const problems: string[] = [];
    for (const { port, name, connect } of PORTS) {
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
