// mailstack doctor (doctor/): the record comparison, the blocklist answer codes, the time
// limits, and the TLS/SMTP probes against servers this test starts on loopback. No network
// beyond 127.0.0.1, no root.

import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import * as dgram from "node:dgram";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";
import { mailDnsRecords } from "../render/dns/dns-records";
import { describeRecord, parseRecord, txtValue } from "../render/dns/text";
import { classify, blocklistChecks, customBlocklist, PUBLIC_BLOCKLISTS, queryName } from "../doctor/dnsbl";
import { DnsError, systemLookup, type Lookup } from "../doctor/dns";
import { dkimRecords, mailDomains, runCheck } from "../doctor/doctor";
import {
    implicitTlsCheck,
    managesieveCheck,
    relayProbe,
    reverseDnsChecks,
    starttlsCheck,
    type Target,
} from "../doctor/outside";
import { parseOutputs, readOutputs } from "../doctor/outputs";
import { compareSet, expectedSets, recordChecks } from "../doctor/records";
import { remoteResults, remoteScript, type RemoteFacts } from "../doctor/remote";
import { exitStatus, table } from "../doctor/report";
import type { Check, CheckResult } from "../doctor/types";
import { labDnsRecords, serveDns } from "../lab/dns";
import { buildSpec } from "../model";
import { twoDomains } from "./helpers/fixtures";

const spec = buildSpec(twoDomains());
const pem = () =>
    generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "pem" }).toString();
const keys = Object.fromEntries(spec.domains.map((d) => [d.name, pem()]));
const facts = (d: string) => ({ ipv4: "192.0.2.25", ipv6: "2001:db8::25", dkimPublicKeyPem: keys[d] });
/** What `pulumi stack output dnsRecords` prints for this spec. */
const published = spec.domains.flatMap((d) => mailDnsRecords(spec, d, facts(d.name)).map(describeRecord));

/** A resolver that answers from a table of `TYPE name` -> values (nothing else exists). */
function fakeLookup(table: Record<string, string[]>): Lookup & { table: Record<string, string[]> } {
    const f = (name: string, type: string) => Promise.resolve(table[`${type} ${name.toLowerCase()}`] ?? []);
    return Object.assign(f, { table });
}

/** The answers public DNS gives when everything was published as the stack says. */
function publishedAnswers(): Record<string, string[]> {
    const t: Record<string, string[]> = {};
    for (const s of expectedSets(published)) t[`${s.type} ${s.name}`] = [...s.values];
    t["PTR 25.2.0.192.in-addr.arpa"] = [spec.hostname];
    t[`PTR ${"5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"}.ip6.arpa`] = [spec.hostname];
    return t;
}

const run = (c: Check, ms = 5000) => runCheck(c, ms);

describe("the published records against DNS", () => {
    test("every dnsRecords line parses back into the record it describes", () => {
        for (const d of spec.domains)
            for (const r of mailDnsRecords(spec, d, facts(d.name))) {
                const back = parseRecord(describeRecord(r));
                expect(back).toEqual(
                    Object.fromEntries(
                        Object.entries({
                            name: r.name,
                            type: r.type,
                            content: r.content,
                            priority: r.priority,
                            srv: r.srv,
                            caa: r.caa,
                        }).filter(([k, v]) => v !== undefined && !(r.type === "SRV" && k === "priority")),
                    ),
                );
            }
    });

    test("DNS with exactly the published records: every check ok", async () => {
        const results = await Promise.all(recordChecks(published, fakeLookup(publishedAnswers())).map((c) => run(c)));
        expect(results.filter((r) => r.status !== "ok")).toEqual([]);
        // One check per name and type: MX, A, AAAA, SPF twice, DKIM, DMARC, TLS-RPT, SRV... for both domains.
        expect(results.map((r) => r.check)).toContain(`dns DKIM mail._domainkey.example.org`);
        expect(results.map((r) => r.check)).toContain(`dns SPF nathabee.de`);
    });

    test("a wrong DKIM key is named with its record", async () => {
        const answers = publishedAnswers();
        const name = "mail._domainkey.nathabee.de";
        answers[`TXT ${name}`] = [txtValue(`"v=DKIM1; k=rsa; p=${"B".repeat(392)}"`)];
        const results = await Promise.all(recordChecks(published, fakeLookup(answers)).map((c) => run(c)));
        const bad = results.filter((r) => r.status !== "ok");
        expect(bad).toEqual([expect.objectContaining({ check: `dns DKIM ${name}`, status: "fail" })]);
        expect(bad[0].detail).toMatch(/not the published/);
        expect(bad[0].fix).toMatch(/pulumi up/);
    });

    test("a second SPF record is a failure; other TXT records at the apex are not", () => {
        const [set] = expectedSets(published).filter((s) => s.type === "TXT" && s.name === "nathabee.de");
        expect(compareSet(set, ["v=spf1 mx -all", "google-site-verification=abc"])).toBeUndefined();
        expect(compareSet(set, ["v=spf1 mx -all", "v=spf1 include:_spf.example.net -all"])).toMatch(
            /^2 SPF records at nathabee\.de \(a permanent SPF error/,
        );
        expect(compareSet(set, [])).toBe("no SPF record at nathabee.de");
        expect(compareSet(set, ["v=spf1 a -all"])).toMatch(
            /SPF is "v=spf1 a -all", not the published "v=spf1 mx -all"/,
        );
    });

    test("A/AAAA compare addresses, not spellings; an extra address fails", () => {
        const [aaaa] = expectedSets(published).filter((s) => s.type === "AAAA");
        expect(compareSet(aaaa, ["2001:db8:0:0::25"])).toBeUndefined();
        expect(compareSet(aaaa, ["2001:db8::25", "2001:db8::26"])).toMatch(/besides the published one/);
        const [mx] = expectedSets(published).filter((s) => s.type === "MX");
        expect(compareSet(mx, ["10 mail.nathabee.de", "20 backup.example.net"])).toMatch(/besides/);
    });

    test("forward-confirmed reverse DNS: a missing PTR and a PTR that does not resolve back are named", async () => {
        const t: Target = { hostname: spec.hostname, ipv4: "192.0.2.25", ipv6: "2001:db8::25", minCertDays: 14 };
        const answers = publishedAnswers();
        const all = async () => Promise.all(reverseDnsChecks(t, fakeLookup(answers)).map((c) => run(c)));
        expect((await all()).map((r) => r.status)).toEqual(["ok", "ok"]);
        delete answers[Object.keys(answers).find((k) => k.endsWith(".ip6.arpa"))!];
        answers[`A ${spec.hostname}`] = ["192.0.2.99"];
        const [v4, v6] = await all();
        expect(v4).toMatchObject({
            status: "fail",
            detail: `PTR ${spec.hostname} resolves to 192.0.2.99, not back to 192.0.2.25`,
        });
        expect(v6).toMatchObject({ status: "fail", detail: "2001:db8::25 has no PTR record" });
    });

    test("the real resolver (node's, on a DNS server on loopback) gives the answers in the outputs' form", async () => {
        const records = labDnsRecords(spec, {
            ipv4: "192.0.2.25",
            ipv6: "2001:db8::25",
            dkimPublicKeysPem: keys,
        });
        const port = 20000 + Math.floor(Math.random() * 20000);
        const close = await serveDns(records, ["127.0.0.1"], port);
        try {
            const lookup = systemLookup([`127.0.0.1:${port}`], 2000);
            const results = await Promise.all(
                [
                    ...recordChecks(published, lookup),
                    ...reverseDnsChecks(
                        { hostname: spec.hostname, ipv4: "192.0.2.25", ipv6: "2001:db8::25", minCertDays: 14 },
                        lookup,
                    ),
                ].map((c) => run(c)),
            );
            expect(results.filter((r) => r.status !== "ok")).toEqual([]);
            expect(await lookup("nothing.example.org", "TXT")).toEqual([]);
        } finally {
            close();
        }
    });

    test("a resolver that never answers is reported within the time limit, not waited for", async () => {
        const silent = dgram.createSocket("udp4");
        await new Promise<void>((r) => silent.bind(0, "127.0.0.1", () => r()));
        try {
            const lookup = systemLookup([`127.0.0.1:${silent.address().port}`], 1000);
            await expect(lookup("nathabee.de", "MX")).rejects.toBeInstanceOf(DnsError);
            const started = Date.now();
            const [r] = await Promise.all(
                recordChecks(published, lookup)
                    .slice(0, 1)
                    .map((c) => runCheck(c, 3000)),
            );
            expect(r.status).toBe("fail");
            expect(Date.now() - started).toBeLessThan(3500);
        } finally {
            silent.close();
        }
    });
});

describe("blocklists", () => {
    const zen = PUBLIC_BLOCKLISTS.find((l) => l.zone === "zen.spamhaus.org")!;
    const uribl = PUBLIC_BLOCKLISTS.find((l) => l.zone === "multi.uribl.com")!;
    const dbl = PUBLIC_BLOCKLISTS.find((l) => l.zone === "dbl.spamhaus.org")!;

    test("answer codes: a listing, nothing, and the 'query refused' codes that are not listings", () => {
        expect(classify(zen, [])).toEqual({ state: "clean" });
        expect(classify(zen, ["127.0.0.4", "127.0.0.2"])).toEqual({
            state: "listed",
            codes: ["127.0.0.2", "127.0.0.4"],
        });
        for (const code of ["127.255.255.252", "127.255.255.254", "127.255.255.255"])
            expect(classify(zen, [code])).toMatchObject({ state: "unknown" });
        expect(classify(zen, ["127.255.255.254"])).toMatchObject({
            why: expect.stringMatching(/public\/open resolver/),
        });
        expect(classify(dbl, ["127.0.1.255"])).toMatchObject({ state: "unknown" });
        expect(classify(dbl, ["127.0.1.2"])).toMatchObject({ state: "listed" });
        expect(classify(uribl, ["127.0.0.1"])).toMatchObject({
            state: "unknown",
            why: expect.stringMatching(/refused/),
        });
        expect(classify(uribl, ["127.0.0.2"])).toMatchObject({ state: "listed" });
        // A resolver that answers NXDOMAIN with its own search page's address is not a listing.
        expect(classify(zen, ["203.0.113.80"])).toMatchObject({ state: "unknown" });
    });

    test("queries: reversed IPv4, IPv6 nibbles, domains as they are", () => {
        expect(queryName(zen, "192.0.2.25")).toBe("25.2.0.192.zen.spamhaus.org");
        expect(queryName(zen, "2001:db8::25")).toBe(
            "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.spamhaus.org",
        );
        expect(queryName(dbl, "example.org")).toBe("example.org.dbl.spamhaus.org");
    });

    const subjects = { ips: ["192.0.2.25"], domains: ["nathabee.de"] };
    const bl = customBlocklist("bl.lab.test", "ip");
    const results = (answers: Record<string, string[]>) =>
        Promise.all(blocklistChecks([bl], subjects, fakeLookup(answers)).map((c) => run(c)));

    test("a listed address fails, naming the list and the code", async () => {
        const [r] = await results({
            "A 2.0.0.127.bl.lab.test": ["127.0.0.2"],
            "A 25.2.0.192.bl.lab.test": ["127.0.0.3"],
        });
        expect(r).toMatchObject({
            check: "dnsbl bl.lab.test 192.0.2.25",
            status: "fail",
            detail: "192.0.2.25 is listed (127.0.0.3)",
        });
    });

    test("not listed is ok only when the list answers its test entry; otherwise unknown", async () => {
        expect((await results({ "A 2.0.0.127.bl.lab.test": ["127.0.0.2"] }))[0]).toMatchObject({ status: "ok" });
        const [r] = await results({});
        expect(r).toMatchObject({ status: "unknown" });
        expect(r.detail).toMatch(/did not list its test entry 127\.0\.0\.2/);
    });

    test("an IPv4-only list is not asked about the IPv6 address (its silence would say nothing)", () => {
        const spamcop = PUBLIC_BLOCKLISTS.find((l) => l.zone === "bl.spamcop.net")!;
        const both = { ips: ["192.0.2.25", "2001:db8::25"], domains: [] };
        expect(blocklistChecks([spamcop], both, fakeLookup({})).map((c) => c.check)).toEqual([
            "dnsbl bl.spamcop.net 192.0.2.25",
        ]);
        expect(blocklistChecks([zen], both, fakeLookup({})).map((c) => c.check)).toHaveLength(2);
    });

    test("a resolver error is unknown, not listed and not clean", async () => {
        const lookup: Lookup = () =>
            Promise.reject(new DnsError("A x: the resolver gave no answer (ETIMEOUT)", "ETIMEOUT"));
        const [r] = await Promise.all(blocklistChecks([bl], subjects, lookup).map((c) => run(c)));
        expect(r).toMatchObject({ status: "unknown", detail: expect.stringMatching(/ETIMEOUT/) });
    });
});

describe("the probes, against servers on loopback", () => {
    let dir: string;
    const hostname = "mail.doctor.invalid";
    const cert = (name: string, days: number) => {
        execFileSync(
            "openssl",
            [
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                String(days),
                "-subj",
                `/CN=${hostname}`,
                "-addext",
                `subjectAltName=DNS:${hostname}`,
                "-keyout",
                path.join(dir, `${name}.key`),
                "-out",
                path.join(dir, `${name}.pem`),
            ],
            { stdio: "ignore" },
        );
        return {
            key: fs.readFileSync(path.join(dir, `${name}.key`)),
            cert: fs.readFileSync(path.join(dir, `${name}.pem`), "utf8"),
        };
    };
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

describe("the checks on the server (the SSH script's output)", () => {
    const f: RemoteFacts = {
        hostname: spec.hostname,
        dkim: [{ domain: "nathabee.de", selector: "mail", publicKey: "A".repeat(392) }],
        egress: "198.51.100.7:25",
        commandTimeout: 5,
    };
    const now = 1_800_000_000_000;
    const healthy = (over: Record<string, string> = {}) => {
        const parts: Record<string, string> = {
            units: ["postsrsd", "opendkim", "dovecot", "postfix"].map((u) => `${u} active`).join("\n"),
            egress: "direct ok 198.51.100.7 25",
            queue: "",
            "outbound-tls": "Verified 3\nTrusted 0\nUntrusted 1\nAnonymous 12",
            volume: " 10000000000 2000000000 8000000000 20%",
            certbot: `timer enabled active\nservice success\nrenewed ${now / 1000 - 5 * 86400}\nnow ${now / 1000}`,
            updates: "0",
            reboot: "no",
            backup: "unconfigured",
            fail2ban: "[{'sshd': []}, {'dovecot': []}]",
            dkim: `nathabee.de mail ${"A".repeat(392)}`,
            ...over,
        };
        return (
            Object.entries(parts)
                .map(([k, v]) => `\n@@${k}\n${v}`)
                .join("") + "\n@@end\n"
        );
    };
    const byCheck = (out: string) => Object.fromEntries(remoteResults(out, f, now).map((r) => [r.check, r]));

    test("a healthy server: every part ok", () => {
        const r = remoteResults(healthy(), f, now);
        expect(r.filter((x) => x.status !== "ok")).toEqual([]);
        expect(r.map((x) => x.check)).toEqual([
            "ssh daemons",
            "ssh outbound 25",
            "ssh queue",
            "ssh outbound TLS",
            "ssh mail volume",
            "ssh certificate renewal",
            "ssh security updates",
            "ssh reboot",
            "ssh backup",
            "ssh fail2ban",
            "ssh dkim key mail._domainkey.nathabee.de",
        ]);
    });

    test("each problem is named", () => {
        const r = byCheck(
            healthy({
                units: "postfix active\ndovecot inactive",
                egress: "direct failed 198.51.100.7 25 124",
                queue: JSON.stringify({
                    queue_name: "deferred",
                    arrival_time: now / 1000 - 30 * 3600,
                    recipients: [{ delay_reason: "connect to x: Connection timed out" }],
                }),
                volume: " 10000000000 9600000000 400000000 96%",
                certbot: `timer enabled inactive\nservice success\nrenewed none\nnow ${now / 1000}`,
                updates: "3",
                reboot: "yes\nlinux-image-amd64",
                backup: `stale ${3 * 86400} since-success`,
                fail2ban: "[{'sshd': ['198.51.100.66']}, {'dovecot': []}]",
                dkim: `nathabee.de mail ${"C".repeat(392)}`,
            }),
        );
        expect(r["ssh daemons"]).toMatchObject({
            status: "fail",
            detail: "not active: dovecot inactive",
            fix: expect.stringMatching(/^systemctl start dovecot/),
        });
        expect(r["ssh outbound 25"]).toMatchObject({
            status: "fail",
            fix: expect.stringMatching(/Hetzner support.*mailstack:relay/),
        });
        expect(r["ssh queue"]).toMatchObject({
            status: "warn",
            detail: expect.stringMatching(/1 deferred, the oldest for 30\.0 h: connect to x/),
        });
        expect(r["ssh mail volume"]).toMatchObject({ status: "fail", fix: expect.stringMatching(/mailVolumeSizeGb/) });
        expect(r["ssh certificate renewal"]).toMatchObject({
            status: "fail",
            fix: "systemctl enable --now certbot.timer",
        });
        expect(r["ssh security updates"]).toMatchObject({ status: "warn", detail: "3 security update(s) pending" });
        expect(r["ssh reboot"]).toMatchObject({ status: "warn", detail: expect.stringMatching(/linux-image-amd64/) });
        expect(r["ssh backup"]).toMatchObject({ status: "fail", detail: "the last successful backup was 72.0 h ago" });
        expect(r["ssh fail2ban"]).toMatchObject({ status: "ok", detail: "banned now: sshd 198.51.100.66" });
        expect(r["ssh dkim key mail._domainkey.nathabee.de"]).toMatchObject({
            status: "fail",
            detail: expect.stringMatching(/not the key OpenDKIM signs with/),
        });
    });

    test("outbound TLS: the week's sessions by verification; mail held for a TLS policy is a warning naming the domain", () => {
        expect(byCheck(healthy())["ssh outbound TLS"]).toMatchObject({
            status: "ok",
            detail: "TLS sessions to other servers in 7 days: 3 verified, 0 trusted, 1 untrusted, 12 anonymous",
        });
        const entry = (address: string, delay_reason: string) =>
            JSON.stringify({
                queue_name: "deferred",
                arrival_time: now / 1000 - 600,
                recipients: [{ address, delay_reason }],
            });
        const held = byCheck(
            healthy({
                queue: [
                    entry("a@peer.test", "Server certificate not verified"),
                    entry("b@down.test", "connect to mx.down.test[192.0.2.9]:25: Connection timed out"),
                ].join("\n"),
            }),
        );
        expect(held["ssh outbound TLS"]).toMatchObject({
            status: "warn",
            detail: "1 recipient(s) wait because their TLS policy cannot be met (peer.test): Server certificate not verified",
            fix: expect.stringMatching(/never sent in clear.*posttls-finger -c -l secure peer\.test/),
        });
        // A queue of ordinary deferrals is the queue check's business, not this one's.
        expect(
            byCheck(healthy({ queue: entry("b@down.test", "Connection timed out") }))["ssh outbound TLS"].status,
        ).toBe("ok");
    });

    test("with a relay: 25 blocked is a warning, the relay unreachable a failure", () => {
        const blocked = byCheck(healthy({ egress: "direct failed 198.51.100.7 25 124\nrelay ok 198.51.100.7 587" }));
        expect(blocked["ssh outbound 25"]).toMatchObject({ status: "warn", detail: expect.stringMatching(/blocked/) });
        expect(blocked["ssh outbound relay"]).toMatchObject({ status: "ok" });
        const down = byCheck(healthy({ egress: "direct ok 198.51.100.7 25\nrelay failed 198.51.100.7 587 1" }));
        expect(down["ssh outbound 25"].status).toBe("ok");
        expect(down["ssh outbound relay"]).toMatchObject({
            status: "fail",
            detail: expect.stringMatching(/relay 198\.51\.100\.7 port 587/),
        });
    });

    test("output cut off (time limit on the server): the missing parts are unknown, not ok", () => {
        const out = healthy().split("@@updates")[0];
        const r = byCheck(out);
        expect(r["ssh daemons"].status).toBe("ok");
        expect(r["ssh reboot"]).toMatchObject({ status: "unknown" });
        expect(r["ssh backup"]).toMatchObject({ status: "unknown" });
        // A part that printed nothing (a command that failed silently) is unknown too.
        expect(byCheck(healthy({ volume: "", units: "" }))).toMatchObject({
            "ssh mail volume": { status: "unknown", detail: expect.stringMatching(/no output/) },
            "ssh daemons": { status: "unknown" },
        });
    });

    test("the script is valid bash, limits each command, and reads the units and paths of the renderers", () => {
        const script = remoteScript(f);
        execFileSync("bash", ["-n"], { input: script });
        expect(script).toContain("timeout 5 postqueue -j");
        expect(script).toContain("/etc/opendkim/keys/nathabee.de.mail.private");
        expect(script).toContain("mailstack-sender-milter");
    });

    test("the units part asks for php-fpm only where the webmail's site is, and a stopped one is reported", () => {
        const part = remoteScript(f).split("\ns units\n")[1].split("\ns egress\n")[0];
        const site = "/etc/nginx/conf.d/mailstack-webmail.conf";
        expect(part).toContain(`if [ -e ${site} ]`);
        // Run it with systemctl answering "inactive" for php-fpm only, and the site's path pointed at a file or not.
        const run = (present: boolean) =>
            execFileSync(
                "bash",
                [
                    "-c",
                    `systemctl() { [[ $2 == php* ]] && echo inactive || echo active; }\n${part.replace(site, present ? "/" : "/nonexistent")}`,
                ],
                { encoding: "utf8" },
            ).trim();
        expect(run(false)).not.toMatch(/php/);
        const withSite = run(true);
        expect(withSite).toMatch(/^php8\.4-fpm inactive$/m);
        expect(byCheck(healthy({ units: withSite }))["ssh daemons"]).toMatchObject({
            status: "fail",
            detail: expect.stringContaining("php8.4-fpm"),
        });
    });

    test("the outbound-TLS part, run here on Postfix's log lines, is what the parser reads", () => {
        const part = remoteScript(f).split("\ns outbound-tls\n")[1].split("\ns volume\n")[0];
        const [, awk] = /\| (awk '[\s\S]*')$/.exec(part.trim())!;
        const log = [
            "Verified TLS connection established to mx.peer.test[198.51.100.25]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
            "Anonymous TLS connection established to mx.a.test[192.0.2.1]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
            "Anonymous TLS connection established to mx.b.test[192.0.2.2]:25: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
            "4jg9dM3Fvqz2xBt: to=<a@peer.test>, relay=mx.peer.test[198.51.100.25]:25, delay=0.2, dsn=2.0.0, status=sent (250 OK)",
        ].join("\n");
        const out = execFileSync("bash", ["-c", awk], { input: log, encoding: "utf8" });
        expect(byCheck(healthy({ "outbound-tls": out.trim() }))["ssh outbound TLS"]).toMatchObject({
            status: "ok",
            detail: "TLS sessions to other servers in 7 days: 1 verified, 0 trusted, 0 untrusted, 2 anonymous",
        });
    });

    test("the volume line, run here on /, is what the parser reads", () => {
        const line = remoteScript(f)
            .split("\n")
            .find((l) => l.startsWith("df "))!;
        expect(line).toContain(" /srv/mail ");
        const out = execFileSync("bash", ["-c", line.replace(" /srv/mail ", " / ")], { encoding: "utf8" });
        const r = byCheck(healthy({ volume: out.trim() }));
        expect(r["ssh mail volume"]).toMatchObject({
            detail: expect.stringMatching(/^\/srv\/mail: \d+% used \(\d+\.\d of \d+\.\d GiB\)$/),
        });
    });
});

describe("outputs and report", () => {
    const outputs = {
        hostname: spec.hostname,
        ipv4: "192.0.2.25",
        ipv6: "2001:db8::25",
        dnsRecords: published,
        deployPrivateKey: "[secret]",
        sshHostKey: "ssh-ed25519 AAAA",
    };

    test("the outputs as pulumi prints them; a missing one is named; a hidden secret is absent", () => {
        const o = parseOutputs(JSON.stringify(outputs), "f.json");
        expect(o.deployPrivateKey).toBeUndefined();
        expect(mailDomains(o)).toEqual(["nathabee.de", "example.org"]);
        expect(dkimRecords(o).map((k) => `${k.selector}._domainkey.${k.domain}`)).toEqual([
            "mail._domainkey.nathabee.de",
            "mail._domainkey.example.org",
        ]);
        expect(() => parseOutputs(JSON.stringify({ ...outputs, dnsRecords: undefined }), "f.json")).toThrow(
            /^f\.json: dnsRecords: /,
        );
    });

    test("without --outputs, the Pulumi CLI is asked, with the secrets shown (a fake pulumi on PATH)", () => {
        const bin = fs.mkdtempSync(path.join(os.tmpdir(), "doctor-pulumi-"));
        const saved = process.env.PATH;
        try {
            const log = path.join(bin, "args");
            fs.writeFileSync(
                path.join(bin, "pulumi"),
                `#!/bin/sh\necho "$@" > ${log}\ncat <<'EOF'\n${JSON.stringify({ ...outputs, deployPrivateKey: "KEY" })}\nEOF\n`,
                { mode: 0o755 },
            );
            process.env.PATH = `${bin}:${saved}`;
            expect(readOutputs(undefined, "mail").deployPrivateKey).toBe("KEY");
            expect(fs.readFileSync(log, "utf8").trim()).toBe("stack output --json --show-secrets --stack mail");
            process.env.PATH = bin;
            fs.rmSync(path.join(bin, "pulumi"));
            expect(() => readOutputs(undefined, undefined)).toThrow(
                /the Pulumi CLI is not installed here \(or pass --outputs FILE\)/,
            );
        } finally {
            process.env.PATH = saved;
            fs.rmSync(bin, { recursive: true, force: true });
        }
    });

    test("the table shows a fix under each problem; the exit status is 1 on a fail only", () => {
        const rs: CheckResult[] = [
            { check: "a", status: "ok", detail: "fine" },
            { check: "b", status: "warn", detail: "meh", fix: "do b" },
            { check: "c", status: "unknown", detail: "?" },
        ];
        expect(exitStatus(rs)).toBe(0);
        expect(table(rs)).toMatch(/^warn +b +meh\n {8}fix: do b$/m);
        const failing = [...rs, { check: "d", status: "fail" as const, detail: "broken", fix: "fix d" }];
        expect(exitStatus(failing)).toBe(1);
        expect(table(failing).split("\n").at(-1)).toBe("1 fail, 1 warn, 1 unknown, 1 ok");
    });
});
