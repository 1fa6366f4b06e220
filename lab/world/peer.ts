// The lab's outside MX: what a large provider's receiving server is to our server. Runs in
// the sink's process (lab/world/sink.ts) in msl-out, on port 25 of its own addresses:
//
// - sink.test and peer.test on NET.mx4, peer6.test on NET.mx6 (IPv6 only): STARTTLS with a
//   certificate of the lab CA (which the container trusts as it would a public CA);
// - badtls.test on NET.badTlsMx4: a self-signed certificate;
// - plain.test on NET.plainMx4: no STARTTLS at all, as if an attacker stripped it;
// - dane.test on NET.mx4, whose records are in the DNSSEC-signed zone with a TLSA record of
//   this MX's key (lab/world/dane.ts), not in the lab DNS.
//
// peer.test, peer6.test, badtls.test and plain.test publish an MTA-STS policy in mode
// enforce (RFC 8461): `_mta-sts` TXT in the lab DNS (lab/world/dns.ts) and the policy over HTTPS on
// NET.mx4:443, with a lab-CA certificate for every mta-sts.<domain>.
//
// Every message is judged as a provider judges it, by mailauth with the lab DNS as its
// resolver: SPF of MAIL FROM and of the HELO name for the connecting address, DKIM, DMARC
// with alignment, ARC; and iprev (RFC 8601 2.7.3: the PTR of the address, and an address
// record of that name leading back to it), which mailauth does not do. The verdicts are
// recorded with the message (PeerVerdict) for the checks to read.

import * as dns from "node:dns";
import * as fs from "node:fs";
import * as https from "node:https";
import * as net from "node:net";
import * as path from "node:path";
import { authenticate, spf } from "mailauth";
import { SMTPServer, type SMTPServerSession } from "smtp-server";
import { labCaCertificate } from "./acme";
import { NET } from "../harness/net";
import { sh, STATE_DIR } from "../harness/processes";

export type MxTls = "valid" | "self-signed" | "none";

/** One outside domain whose MX is this process. */
export interface OutsideMx {
    domain: string;
    mx: string;
    address: string;
    tls: MxTls;
    /** Publishes an MTA-STS policy with mode enforce. */
    mtaSts: boolean;
    /** Its records are in the DNSSEC-signed zone (lab/world/dane.ts), with a TLSA record, not in the lab DNS. */
    signed?: boolean;
}

export const OUTSIDE_MX: readonly OutsideMx[] = [
    { domain: "sink.test", mx: "mx.sink.test", address: NET.mx4, tls: "valid", mtaSts: false },
    { domain: "peer.test", mx: "mx.peer.test", address: NET.mx4, tls: "valid", mtaSts: true },
    { domain: "peer6.test", mx: "mx.peer6.test", address: NET.mx6, tls: "valid", mtaSts: true },
    { domain: "badtls.test", mx: "mx.badtls.test", address: NET.badTlsMx4, tls: "self-signed", mtaSts: true },
    { domain: "plain.test", mx: "mx.plain.test", address: NET.plainMx4, tls: "none", mtaSts: true },
    { domain: "dane.test", mx: "mx.dane.test", address: NET.mx4, tls: "valid", mtaSts: false, signed: true },
];

/** The `_mta-sts` TXT id of every policy here (the policies never change during a run). */
export const MTA_STS_ID = "lab1";

/** The policy text served at https://mta-sts.<domain>/.well-known/mta-sts.txt. */
export function mtaStsPolicy(m: OutsideMx): string {
    return `version: STSv1\r\nmode: enforce\r\nmx: ${m.mx}\r\nmax_age: 86400\r\n`;
}

/** The lab DNS's records for the outside MX and its policies. */
export function outsideMxRecords(): {
    name: string;
    type: "A" | "AAAA" | "MX" | "TXT";
    content: string;
    priority?: number;
}[] {
    return OUTSIDE_MX.filter((m) => !m.signed).flatMap((m) => [
        { name: m.domain, type: "MX" as const, content: m.mx, priority: 10 },
        { name: m.mx, type: net.isIPv6(m.address) ? ("AAAA" as const) : ("A" as const), content: m.address },
        ...(m.mtaSts
            ? [
                  { name: `_mta-sts.${m.domain}`, type: "TXT" as const, content: `"v=STSv1; id=${MTA_STS_ID}"` },
                  { name: `mta-sts.${m.domain}`, type: "A" as const, content: NET.mx4 },
              ]
            : []),
    ]);
}

/** What the outside MX concluded about one message (RFC 8601 results). */
export interface PeerVerdict {
    mx: string;
    tls: string | false;
    spf: string;
    spfHelo: string;
    iprev: string;
    iprevName?: string;
    dkim: { result: string; domain: string; aligned: string | false }[];
    dmarc: string;
    arc: string;
    /** mailauth's Authentication-Results header, as a provider adds it. */
    authenticationResults: string;
}

const resolver = new dns.promises.Resolver({ timeout: 2000, tries: 1 });
resolver.setServers([NET.client4]);
const lookup = (name: string, type: string) => resolver.resolve(name, type as "A") as Promise<never>;

/** iprev (RFC 8601 2.7.3): pass when a PTR name of `ip` has an address record equal to `ip`. */
async function iprev(ip: string): Promise<{ result: string; name?: string }> {
    let names: string[];
    try {
        names = await resolver.reverse(ip);
    } catch (err) {
        return { result: (err as { code?: string }).code === "ENOTFOUND" ? "fail" : "temperror" };
    }
    for (const name of names) {
        const addrs = await (net.isIPv6(ip) ? resolver.resolve6(name) : resolver.resolve4(name)).catch(() => []);
        if (addrs.some((a) => (net.isIPv6(ip) ? a.toLowerCase() === ip.toLowerCase() : a === ip)))
            return { result: "pass", name };
    }
    return { result: "fail", name: names[0] };
}

/** Judge one message as it arrived in `session`. */
export async function judge(raw: Buffer, session: SMTPServerSession, mx: string): Promise<PeerVerdict> {
    const ip = session.remoteAddress.replace(/^::ffff:/, "");
    const helo = session.hostNameAppearsAs;
    const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
    const res = await authenticate(raw, { ip, helo, sender, mta: mx, resolver: lookup as never, disableBimi: true });
    // RFC 7208 2.3: the HELO identity is checked as the sender postmaster@<helo>.
    const heloSpf = await spf({ sender: `postmaster@${helo}`, ip, helo, mta: mx, resolver: lookup as never });
    const rev = await iprev(ip);
    return {
        mx,
        tls: session.secure
            ? session.tlsOptions
                ? `${session.tlsOptions.standardName ?? session.tlsOptions.name}`
                : "yes"
            : false,
        spf: res.spf ? res.spf.status.result : "none",
        spfHelo: heloSpf ? heloSpf.status.result : "none",
        iprev: rev.result,
        ...(rev.name ? { iprevName: rev.name } : {}),
        dkim: (res.dkim.results ?? []).map((r) => ({
            result: r.status.result,
            domain: r.signingDomain ?? "",
            aligned: r.status.aligned ?? false,
        })),
        dmarc: res.dmarc ? res.dmarc.status.result : "none",
        arc: res.arc ? res.arc.status.result : "none",
        authenticationResults: `${res.headers.split(/\r?\n(?=\S)/).find((h) => h.startsWith("Authentication-Results:")) ?? ""}${iprevResult(rev, ip)}`,
    };
}

function iprevResult(rev: { result: string }, ip: string): string {
    return `;\r\n iprev=${rev.result} policy.iprev=${ip}`;
}

const certDir = () => path.join(STATE_DIR, "peer");

/** The private key of the valid MX certificate (dane.test's TLSA record is made from it). */
export const mxKeyFile = () => path.join(certDir(), "mx.key");

/** The outside MX's certificates: lab CA for the valid MX names and the policy host, self-signed for badtls. */
function certificates(): void {
    const d = certDir();
    if (fs.existsSync(path.join(d, "policy.pem"))) return;
    labCaCertificate(
        d,
        "mx",
        OUTSIDE_MX.filter((m) => m.tls === "valid").map((m) => m.mx),
    );
    labCaCertificate(
        d,
        "policy",
        OUTSIDE_MX.filter((m) => m.mtaSts).map((m) => `mta-sts.${m.domain}`),
    );
    const bad = OUTSIDE_MX.find((m) => m.tls === "self-signed")!;
    sh("openssl", [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        `/CN=${bad.mx}`,
        "-addext",
        `subjectAltName=DNS:${bad.mx}`,
        "-keyout",
        path.join(d, "self-signed.key"),
        "-out",
        path.join(d, "self-signed.pem"),
    ]);
}

/** Saves one judged message; the sink's capture. */
export type Save = (raw: Buffer, session: SMTPServerSession, extra: { port: number; verdict: PeerVerdict }) => string;

/** Start the outside MX on port 25 of each of its addresses, and the MTA-STS policy server. */
export async function startOutsideMx(save: Save): Promise<void> {
    certificates();
    const d = certDir();
    const byAddress = new Map<string, OutsideMx[]>();
    for (const m of OUTSIDE_MX) byAddress.set(m.address, [...(byAddress.get(m.address) ?? []), m]);
    for (const [address, mxs] of byAddress) {
        const tls = mxs[0].tls;
        const pair = tls === "valid" ? "mx" : "self-signed";
        const server = new SMTPServer({
            name: mxs[0].mx,
            banner: "mailstack lab outside MX",
            authOptional: true,
            disabledCommands: tls === "none" ? ["AUTH", "STARTTLS"] : ["AUTH"],
            ...(tls === "none"
                ? {}
                : {
                      key: fs.readFileSync(path.join(d, `${pair}.key`)),
                      cert: fs.readFileSync(path.join(d, `${pair}.pem`)),
                  }),
            size: 100 * 1024 * 1024,
            logger: false,
            onData(stream, session, cb) {
                const chunks: Buffer[] = [];
                stream.on("data", (c: Buffer) => chunks.push(c));
                stream.on("end", () => {
                    const raw = Buffer.concat(chunks);
                    const rcptDomain = session.envelope.rcptTo[0]?.address.split("@")[1]?.toLowerCase();
                    const mx = (mxs.find((m) => m.domain === rcptDomain) ?? mxs[0]).mx;
                    judge(raw, session, mx).then(
                        (verdict) => cb(null, `queued as ${save(raw, session, { port: 25, verdict })}`),
                        (err: Error) => cb(Object.assign(new Error(`lab peer: ${err.message}`), { responseCode: 451 })),
                    );
                });
            },
        });
        server.on("error", (err) => console.error(`lab-peer: ${err.message}`));
        await new Promise<void>((resolve, reject) => {
            server.server.once("error", reject);
            server.listen(25, address, () => resolve());
        });
    }
    const policies = new Map(OUTSIDE_MX.filter((m) => m.mtaSts).map((m) => [`mta-sts.${m.domain}`, mtaStsPolicy(m)]));
    const web = https.createServer(
        { key: fs.readFileSync(path.join(d, "policy.key")), cert: fs.readFileSync(path.join(d, "policy.pem")) },
        (req, res) => {
            const policy = policies.get((req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase());
            if (req.url !== "/.well-known/mta-sts.txt" || policy === undefined) {
                res.writeHead(404).end();
                return;
            }
            res.writeHead(200, { "Content-Type": "text/plain" }).end(policy);
        },
    );
    await new Promise<void>((resolve, reject) => {
        web.once("error", reject);
        web.listen(443, NET.mx4, () => resolve());
    });
}
