// mailstack doctor (doctor/): the published records against DNS, and the blocklist answer codes.
// No network, no root.

import * as dgram from "node:dgram";
import { mailDnsRecords } from "../render/dns/dns-records";
import { describeRecord, parseRecord, txtValue } from "../render/dns/text";
import { classify, blocklistChecks, customBlocklist, PUBLIC_BLOCKLISTS, queryName } from "../doctor/dnsbl";
import { DnsError, systemLookup, type Lookup } from "../doctor/dns";
import { runCheck } from "../doctor/doctor";
import { reverseDnsChecks, type Target } from "../doctor/outside";
import { compareSet, expectedSets, recordChecks } from "../doctor/records";
import { labDnsRecords, serveDns } from "../lab/world/dns";
import { spec, keys, facts, published, fakeLookup, publishedAnswers, run } from "./helpers/doctor";

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
