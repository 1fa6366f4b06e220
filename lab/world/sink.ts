// The lab's mail sink, run inside msl-out: where every outside-bound message of the lab
// server lands. Two ways in:
// - the outside MX on port 25 (lab/world/peer.ts): the MX of sink.test, peer.test and the other
//   outside domains, where mail arrives by direct delivery (the lab's default: no relay), and
//   is judged (SPF, iprev, DKIM, DMARC, ARC) as a provider judges it;
// - the relay on ADDRESS:PORT (198.51.100.7:587, LAB_RELAY), for a config with
//   `mailstack:relay`: STARTTLS with smtp-server's built-in self-signed certificate (a relay
//   given by IP: Postfix's "fingerprint" level, the certificate pinned by LAB_RELAY.tlsFingerprint),
//   AUTH only after STARTTLS, only the lab's relay credentials.
// Every message is captured as NNNN.eml plus NNNN.json (envelope, client, TLS, the port, the
// outside MX's verdict) in DIR.
//
//   node --import tsx lab/world/sink.ts DIR ADDRESS PORT    (run by the lab inside msl-out)

import * as fs from "node:fs";
import * as path from "node:path";
import { SMTPServer, type SMTPServerSession } from "smtp-server";
import { LAB_RELAY } from "../lab-config";
import { type PeerVerdict, startOutsideMx } from "./peer";

export interface SinkEnvelope {
    file: string;
    mailFrom: string | false;
    rcptTo: string[];
    remoteAddress: string;
    user?: string;
    tls?: string;
    /** 25: the outside MX (direct delivery); LAB_RELAY.port: the relay. */
    port: number;
    /** The outside MX's judgement (port 25 only). */
    verdict?: PeerVerdict;
    receivedAt: string;
}

/** Messages captured so far, oldest first (read by the checks). */
export function sinkMessages(dir: string): (SinkEnvelope & { raw: string })[] {
    if (!fs.existsSync(dir)) return [];
    return fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".json"))
        .sort()
        .map((f) => {
            const env = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as SinkEnvelope;
            return { ...env, raw: fs.readFileSync(path.join(dir, env.file), "utf8") };
        });
}

/** Captures messages into DIR as NNNN.eml and NNNN.json; returns the capture function. */
function capturer(dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    let count = fs.readdirSync(dir).filter((f) => f.endsWith(".eml")).length;
    return (raw: Buffer, session: SMTPServerSession, extra: { port: number; verdict?: PeerVerdict }): string => {
        count += 1;
        const base = String(count).padStart(4, "0");
        fs.writeFileSync(path.join(dir, `${base}.eml`), raw);
        const env: SinkEnvelope = {
            file: `${base}.eml`,
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : false,
            rcptTo: session.envelope.rcptTo.map((r) => r.address),
            remoteAddress: session.remoteAddress,
            user: typeof session.user === "string" ? session.user : undefined,
            tls: session.secure ? "yes" : undefined,
            ...extra,
            receivedAt: new Date().toISOString(),
        };
        // The .json last: a reader that sees it sees a complete message.
        fs.writeFileSync(path.join(dir, `${base}.json`), JSON.stringify(env, null, 2));
        return `lab-${base}`;
    };
}

/** The relay on address:port and the outside MX, both capturing into dir. */
export async function startSink(dir: string, address: string, port: number): Promise<SMTPServer> {
    const save = capturer(dir);
    const server = new SMTPServer({
        name: "relay.sink.test",
        banner: "mailstack lab sink",
        secure: false,
        allowInsecureAuth: false,
        authMethods: ["PLAIN", "LOGIN"],
        size: 100 * 1024 * 1024,
        logger: false,
        onAuth(auth, _session, cb) {
            if (auth.username === LAB_RELAY.username && auth.password === LAB_RELAY.password)
                return cb(null, { user: auth.username });
            return cb(new Error("Invalid username or password"));
        },
        onMailFrom(_address, session, cb) {
            if (!session.user) return cb(Object.assign(new Error("Authentication required"), { responseCode: 530 }));
            return cb();
        },
        onData(stream, session, cb) {
            const chunks: Buffer[] = [];
            stream.on("data", (c: Buffer) => chunks.push(c));
            stream.on("end", () => cb(null, `queued as ${save(Buffer.concat(chunks), session, { port })}`));
        },
    });
    server.on("error", (err) => console.error(`lab-sink: ${err.message}`));
    await new Promise<void>((resolve, reject) => {
        server.server.once("error", reject);
        server.listen(port, address, () => resolve());
    });
    await startOutsideMx(save);
    return server;
}

if (require.main === module) {
    const [dir, address, port] = process.argv.slice(2);
    startSink(dir, address, Number(port)).then(
        () => console.log(`lab-sink: ready on ${address}:${port}, capturing into ${dir}`),
        (err) => {
            console.error(`lab-sink: ${err}`);
            process.exit(1);
        },
    );
}
