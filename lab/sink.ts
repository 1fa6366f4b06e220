// The lab's mail sink: the relay every outside-bound message of the lab server goes to
// (the lab spec's relay is 198.51.100.7:587), run inside msl-out. STARTTLS with
// smtp-server's built-in self-signed certificate (Postfix uses `encrypt` for a relay given
// by IP: TLS required, certificate not verified), AUTH only after STARTTLS, only the lab's
// relay credentials. Every message is captured as NNNN.eml plus NNNN.json (envelope,
// client, TLS) in DIR.
//
//   node --import tsx lab/sink.ts DIR ADDRESS PORT    (run by the lab inside msl-out)

import * as fs from "node:fs";
import * as path from "node:path";
import { SMTPServer } from "smtp-server";
import { LAB_RELAY } from "./lab-config";

export interface SinkEnvelope {
    file: string;
    mailFrom: string | false;
    rcptTo: string[];
    remoteAddress: string;
    user?: string;
    tls?: string;
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

export function startSink(dir: string, address: string, port: number): Promise<SMTPServer> {
    fs.mkdirSync(dir, { recursive: true });
    let count = fs.readdirSync(dir).filter((f) => f.endsWith(".eml")).length;
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
            stream.on("end", () => {
                count += 1;
                const base = String(count).padStart(4, "0");
                fs.writeFileSync(path.join(dir, `${base}.eml`), Buffer.concat(chunks));
                const env: SinkEnvelope = {
                    file: `${base}.eml`,
                    mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : false,
                    rcptTo: session.envelope.rcptTo.map((r) => r.address),
                    remoteAddress: session.remoteAddress,
                    user: typeof session.user === "string" ? session.user : undefined,
                    tls: session.secure ? "yes" : undefined,
                    receivedAt: new Date().toISOString(),
                };
                // The .json last: a reader that sees it sees a complete message.
                fs.writeFileSync(path.join(dir, `${base}.json`), JSON.stringify(env, null, 2));
                cb(null, `queued as lab-${base}`);
            });
        },
    });
    server.on("error", (err) => console.error(`lab-sink: ${err.message}`));
    return new Promise((resolve, reject) => {
        server.server.once("error", reject);
        server.listen(port, address, () => resolve(server));
    });
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
