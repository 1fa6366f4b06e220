// The lab's DNS: a tiny authoritative server in msl-out (the container's only resolver)
// answering with exactly the records the stack's DNS component publishes
// (render/dns/dns-records.ts `mailDnsRecords`), plus the PTR of the server's addresses.
// Everything else is NXDOMAIN at once, so nothing in the container waits for a timeout and
// no name can resolve to anything outside the lab.
//
//   node --import tsx lab/world/dns.ts RECORDS.json    (run by the lab inside msl-out)

import * as dgram from "node:dgram";
import * as fs from "node:fs";
import * as net from "node:net";
import { mailDnsRecords, MailDnsRecord } from "../../render/dns/dns-records";
import { reverseName } from "../../render/dns/text";
import type { MailSpec } from "../../model";
import { NET } from "../harness/net";
import { outsideMxRecords } from "./peer";
import { STORAGE_BOX } from "./storagebox";

export { reverseName };

export interface LabDnsRecord {
    name: string;
    type: "A" | "AAAA" | "CNAME" | "MX" | "TXT" | "SRV" | "PTR" | "CAA";
    /** A/AAAA address, CNAME/MX/PTR target, TXT content ("quoted" strings). */
    content?: string;
    priority?: number;
    srv?: { priority: number; weight: number; port: number; target: string };
    caa?: { flags: number; tag: string; value: string };
}

const TYPES: Record<LabDnsRecord["type"], number> = {
    A: 1,
    CNAME: 5,
    PTR: 12,
    MX: 15,
    TXT: 16,
    AAAA: 28,
    SRV: 33,
    CAA: 257,
};

/**
 * The "outside world" of the lab: the sink.test domain of outside senders and forward
 * targets, whose MX (and relay) is the sink in msl-out, the outside MX's other domains, bank.test (DMARC p=reject, SPF
 * without the lab's client), and forward-confirmed names for the outside clients' addresses. Documentation addresses and a reserved TLD only.
 */
export function outsideRecords(): LabDnsRecord[] {
    return [
        // sink.test's MX and the other outside domains (lab/world/peer.ts): the outside MX in msl-out.
        ...outsideMxRecords(),
        { name: "sink.test", type: "TXT", content: '"v=spf1 ip4:198.51.100.0/24 ip4:192.0.2.7 ip6:2001:db8::7 -all"' },
        { name: "relay.sink.test", type: "A", content: NET.outside4 },
        // An outside domain that publishes DMARC p=reject and sends only from 203.0.113.0/24,
        // so mail from the lab's client claiming to be it fails SPF and DMARC: a forgery
        // (lab/checks/filter.test.ts).
        { name: "bank.test", type: "TXT", content: '"v=spf1 ip4:203.0.113.0/24 -all"' },
        { name: "_dmarc.bank.test", type: "TXT", content: '"v=DMARC1; p=reject"' },
        { name: "bank.test", type: "MX", content: "mx.bank.test", priority: 10 },
        { name: "mx.bank.test", type: "A", content: "203.0.113.25" },
        // An outside sender with DMARC p=reject whose SPF allows the lab's client only: its mail
        // relayed by the backup MX passes DMARC at the primary only if the primary judges the
        // original client, not the backup MX (lab/checks/secondary-mx.test.ts).
        { name: "shop.test", type: "TXT", content: '"v=spf1 ip4:192.0.2.7 ip6:2001:db8::7 -all"' },
        { name: "_dmarc.shop.test", type: "TXT", content: '"v=DMARC1; p=reject"' },
        { name: "shop.test", type: "A", content: NET.client4 },
        // A blocklist in the lab: Spamhaus ZEN lists NET.listed4 in the SBL (127.0.0.2) and the
        // XBL (127.0.0.4), 4 points each in rspamd; the lab's DNS is all the container asks.
        {
            name: `${reverseName(NET.listed4).replace(/\.in-addr\.arpa$/, "")}.zen.spamhaus.org`,
            type: "A",
            content: "127.0.0.2",
        },
        {
            name: `${reverseName(NET.listed4).replace(/\.in-addr\.arpa$/, "")}.zen.spamhaus.org`,
            type: "A",
            content: "127.0.0.4",
        },
        // The lab's ACME CA (lab/world/acme.ts).
        { name: "acme.lab.test", type: "A", content: NET.outside4 },
        // The backup target (lab/world/storagebox.ts), named like a Hetzner Storage Box.
        { name: STORAGE_BOX.host, type: "A", content: NET.storagebox4 },
        // The import check's old provider (lab/world/oldmail.ts), and its self-signed twin.
        { name: "imap.oldmail.test", type: "A", content: NET.oldImap4 },
        { name: "badcert.oldmail.test", type: "A", content: NET.oldImapBadCert4 },
        // Its OAuth2 login (lab/world/oauth2.ts), for the Microsoft 365 import check.
        { name: "login.oldmail.test", type: "A", content: NET.oauth4 },
        { name: reverseName(NET.outside4), type: "PTR", content: "relay.sink.test" },
        { name: "client.sink.test", type: "A", content: NET.client4 },
        { name: "client.sink.test", type: "AAAA", content: NET.client6 },
        { name: reverseName(NET.client4), type: "PTR", content: "client.sink.test" },
        { name: reverseName(NET.client6), type: "PTR", content: "client.sink.test" },
    ];
}

/**
 * The lab server's addresses as the stack's outputs give them to the DNS records: the primary's,
 * and the backup MX's when `spec` has one (its MX records need them).
 */
export function labAddressFacts(spec: MailSpec): {
    ipv4: string;
    ipv6: string;
    secondary?: { ipv4: string; ipv6: string };
} {
    return {
        ipv4: NET.server4,
        ipv6: NET.server6,
        ...(spec.secondaryMx ? { secondary: { ipv4: NET.mx2Server4, ipv6: NET.mx2Server6 } } : {}),
    };
}

/** The lab's zone: the stack's own records for every domain, and PTRs for the server. */
export function labDnsRecords(
    spec: MailSpec,
    facts: {
        ipv4: string;
        ipv6: string;
        dkimPublicKeysPem: Record<string, string>;
        /** The backup MX's addresses, when spec.secondaryMx is set. */
        secondary?: { ipv4: string; ipv6: string };
    },
): LabDnsRecord[] {
    const records: LabDnsRecord[] = spec.domains.flatMap((d) =>
        mailDnsRecords(spec, d, {
            ipv4: facts.ipv4,
            ipv6: facts.ipv6,
            dkimPublicKeyPem: facts.dkimPublicKeysPem[d.name],
            ...(facts.secondary ? { secondary: facts.secondary } : {}),
        }).map((r: MailDnsRecord): LabDnsRecord => ({
            name: r.name,
            type: r.type,
            content: r.content,
            priority: r.priority,
            srv: r.srv,
            caa: r.caa,
        })),
    );
    records.push({ name: reverseName(facts.ipv4), type: "PTR", content: spec.hostname });
    records.push({ name: reverseName(facts.ipv6), type: "PTR", content: spec.hostname });
    if (facts.secondary && spec.secondaryMx)
        for (const ip of [facts.secondary.ipv4, facts.secondary.ipv6])
            records.push({ name: reverseName(ip), type: "PTR", content: spec.secondaryMx.hostname });
    records.push(...outsideRecords());
    return records;
}

function encodeName(name: string): Buffer {
    const parts = name.replace(/\.$/, "").split(".").filter(Boolean);
    return Buffer.concat([
        ...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, "ascii")])),
        Buffer.from([0]),
    ]);
}

function rdata(r: LabDnsRecord): Buffer {
    switch (r.type) {
        case "A":
            return Buffer.from(r.content!.split(".").map(Number));
        case "AAAA": {
            const rev = reverseName(r.content!)
                .replace(/\.ip6\.arpa$/, "")
                .split(".")
                .reverse()
                .join("");
            return Buffer.from(rev, "hex");
        }
        case "MX": {
            const pref = Buffer.alloc(2);
            pref.writeUInt16BE(r.priority ?? 10);
            return Buffer.concat([pref, encodeName(r.content!)]);
        }
        case "CNAME":
        case "PTR":
            return encodeName(r.content!);
        case "TXT": {
            const strings = [...r.content!.matchAll(/"([^"]*)"/g)].map((m) => Buffer.from(m[1], "utf8"));
            return Buffer.concat(strings.map((s) => Buffer.concat([Buffer.from([s.length]), s])));
        }
        case "CAA": {
            const tag = Buffer.from(r.caa!.tag, "ascii");
            return Buffer.concat([Buffer.from([r.caa!.flags, tag.length]), tag, Buffer.from(r.caa!.value, "utf8")]);
        }
        case "SRV": {
            const head = Buffer.alloc(6);
            head.writeUInt16BE(r.srv!.priority, 0);
            head.writeUInt16BE(r.srv!.weight, 2);
            head.writeUInt16BE(r.srv!.port, 4);
            return Buffer.concat([head, encodeName(r.srv!.target === "." ? "" : r.srv!.target)]);
        }
    }
}

/** An SOA record for the zone of a name (its last two labels), for negative answers. */
function soa(labels: string[]): Buffer {
    const zone = encodeName(labels.slice(-2).join("."));
    const times = Buffer.alloc(20);
    [1, 3600, 600, 86400, 300].forEach((v, i) => times.writeUInt32BE(v, i * 4)); // serial .. negative TTL
    const data = Buffer.concat([encodeName("ns.lab.test"), encodeName("hostmaster.lab.test"), times]);
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(6, 0); // SOA
    fixed.writeUInt16BE(1, 2);
    fixed.writeUInt32BE(300, 4);
    fixed.writeUInt16BE(data.length, 8);
    return Buffer.concat([zone, fixed, data]);
}

/** Answer one DNS query message; undefined for garbage. */
export function answer(records: LabDnsRecord[], query: Buffer, maxSize: number): Buffer | undefined {
    if (query.length < 12 || query.readUInt16BE(4) !== 1) return undefined;
    let off = 12;
    const labels: string[] = [];
    while (off < query.length && query[off] !== 0) {
        const len = query[off];
        if (len > 63) return undefined;
        labels.push(query.subarray(off + 1, off + 1 + len).toString("ascii"));
        off += len + 1;
    }
    off += 1;
    if (off + 4 > query.length) return undefined;
    const qtype = query.readUInt16BE(off);
    const question = query.subarray(12, off + 4);
    const name = labels.join(".").toLowerCase();
    const byName = records.filter((r) => r.name.toLowerCase() === name);
    const matches = byName.filter((r) => TYPES[r.type] === qtype || qtype === 255);
    // A CNAME answers every type, followed by the target's records of that type, as a
    // recursive resolver hands them over (the lab DNS is the container's only resolver).
    const alias = byName.find((r) => r.type === "CNAME");
    const chased =
        alias && qtype !== TYPES.CNAME && qtype !== 255
            ? records.filter((r) => r.name.toLowerCase() === alias.content!.toLowerCase() && TYPES[r.type] === qtype)
            : [];
    if (alias && !matches.includes(alias)) matches.push(alias);
    const header = Buffer.alloc(12);
    header.writeUInt16BE(query.readUInt16BE(0), 0);
    // QR, opcode 0, AA, RD copied; RA 0; rcode NXDOMAIN when the name has no record at all.
    header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100) | (byName.length === 0 ? 3 : 0), 2);
    header.writeUInt16BE(1, 4);
    const answers = [...matches, ...chased].map((r) => {
        const data = rdata(r);
        // The question's own name as a pointer to it; a CNAME target's records in full.
        const owner = r.name.toLowerCase() === name ? Buffer.from([0xc0, 0x0c]) : encodeName(r.name);
        const fixed = Buffer.alloc(10);
        fixed.writeUInt16BE(TYPES[r.type], 0);
        fixed.writeUInt16BE(1, 2);
        fixed.writeUInt32BE(300, 4);
        fixed.writeUInt16BE(data.length, 8);
        return Buffer.concat([owner, fixed, data]);
    });
    header.writeUInt16BE(answers.length, 6);
    // No answer (NXDOMAIN or no record of that type): the zone's SOA in the authority
    // section, as a real server sends it (RFC 2308). rspamd's resolver retries a bare
    // NOERROR without answers for its full timeout (5 s), and every scan waited for it.
    const authority = answers.length === 0 ? [soa(labels)] : [];
    header.writeUInt16BE(authority.length, 8);
    let msg = Buffer.concat([header, question, ...answers, ...authority]);
    if (msg.length > maxSize) {
        header.writeUInt16BE(header.readUInt16BE(2) | 0x0200, 2); // TC: ask again over TCP
        header.writeUInt16BE(0, 6);
        msg = Buffer.concat([header, question]);
    }
    return msg;
}

/** Serve the records on UDP and TCP port 53 of each address; resolves when listening. */
export async function serveDns(records: LabDnsRecord[], addresses: string[], port = 53): Promise<() => void> {
    const closers: (() => void)[] = [];
    for (const address of addresses) {
        const udp = dgram.createSocket(net.isIPv6(address) ? "udp6" : "udp4");
        udp.on("message", (msg, rinfo) => {
            const reply = answer(records, msg, 512);
            if (reply) udp.send(reply, rinfo.port, rinfo.address);
        });
        await new Promise<void>((resolve, reject) => {
            udp.once("error", reject);
            udp.bind(port, address, () => resolve());
        });
        const tcp = net.createServer((sock) => {
            let buf = Buffer.alloc(0);
            sock.on("data", (chunk) => {
                buf = Buffer.concat([buf, chunk]);
                while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
                    const q = buf.subarray(2, 2 + buf.readUInt16BE(0));
                    buf = buf.subarray(2 + q.length);
                    const reply = answer(records, q, 65535);
                    if (!reply) {
                        sock.destroy();
                        return;
                    }
                    const len = Buffer.alloc(2);
                    len.writeUInt16BE(reply.length);
                    sock.write(Buffer.concat([len, reply]));
                }
            });
            sock.on("error", () => sock.destroy());
        });
        await new Promise<void>((resolve, reject) => {
            tcp.once("error", reject);
            tcp.listen(port, address, () => resolve());
        });
        closers.push(
            () => udp.close(),
            () => tcp.close(),
        );
    }
    return () => closers.forEach((c) => c());
}

if (require.main === module) {
    const [recordsFile, ...addresses] = process.argv.slice(2);
    const read = () => JSON.parse(fs.readFileSync(recordsFile, "utf8")) as LabDnsRecord[];
    const records = read();
    // A check that changes the stack's domains writes the file again (writeLabDnsRecords):
    // the zone follows, as Cloudflare's would after `pulumi up`.
    fs.watchFile(recordsFile, { interval: 200 }, () => {
        try {
            records.splice(0, records.length, ...read());
            console.log(`lab-dns: reloaded, ${records.length} records`);
        } catch (err) {
            console.error(`lab-dns: kept the old records: ${err}`);
        }
    });
    serveDns(records, addresses).then(
        () => console.log(`lab-dns: ready on ${addresses.join(", ")} with ${records.length} records`),
        (err) => {
            console.error(`lab-dns: ${err}`);
            process.exit(1);
        },
    );
}
