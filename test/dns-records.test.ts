import { generateKeyPairSync } from "node:crypto";

import { dkimRecordValue, mailDnsRecords } from "../render/dns/dns-records";
import { txtContent, txtValue } from "../render/dns/text";
import { checkZone, dnsComment, dnsCommentOwner, recordOwnership } from "../render/dns/zone";
import { buildSpec, publishedNames } from "../model";
import { twoDomains } from "./helpers/fixtures";

const publicKeyPem = generateKeyPairSync("rsa", { modulusLength: 2048 })
    .publicKey.export({ type: "spki", format: "pem" })
    .toString();
const facts = { ipv4: "192.0.2.25", ipv6: "2001:db8::25", dkimPublicKeyPem: publicKeyPem };

describe("mail DNS records", () => {
    const spec = buildSpec(twoDomains());
    const [primary, second] = spec.domains;

    test("every name published under a domain is one the length check knows (model/names.ts)", () => {
        const retired = {
            ...spec,
            domains: [{ ...primary, dkimRetired: [{ selector: "old2024", until: "2999-01-01" }] }],
        };
        const records = mailDnsRecords(retired, retired.domains[0], {
            ...facts,
            dkimRetiredPublicKeysPem: { old2024: publicKeyPem },
        });
        const known = new Set([spec.hostname, ...publishedNames(primary.name, ["mail", "old2024"])]);
        expect(records.map((r) => r.name).filter((n) => !known.has(n))).toEqual([]);
        expect(records.some((r) => r.name === "_submissions._tcp.nathabee.de")).toBe(true);
    });

    test("the hostname's domain gets MX, A, AAAA, SPF, DKIM, DMARC and TLS-RPT", () => {
        const byName = (name: string, type: string) =>
            mailDnsRecords(spec, primary, facts).filter((r) => r.name === name && r.type === type);
        expect(byName("mail.nathabee.de", "A")).toEqual([expect.objectContaining({ content: "192.0.2.25" })]);
        expect(byName("mail.nathabee.de", "AAAA")).toEqual([expect.objectContaining({ content: "2001:db8::25" })]);
        expect(byName("mail.nathabee.de", "TXT")).toEqual([expect.objectContaining({ content: '"v=spf1 a -all"' })]);
        expect(byName("nathabee.de", "MX")).toEqual([
            expect.objectContaining({ content: "mail.nathabee.de", priority: 10 }),
        ]);
        expect(byName("nathabee.de", "TXT")).toEqual([expect.objectContaining({ content: '"v=spf1 mx -all"' })]);
        expect(byName("_dmarc.nathabee.de", "TXT")).toEqual([
            expect.objectContaining({
                content: '"v=DMARC1; p=quarantine; rua=mailto:postmaster@nathabee.de; adkim=r; aspf=r"',
            }),
        ]);
        expect(byName("_smtp._tls.nathabee.de", "TXT")).toHaveLength(1);
        expect(byName("mail._domainkey.nathabee.de", "TXT")).toHaveLength(1);
    });

    test("another domain points its MX at the same host and has no A/AAAA of its own", () => {
        const records = mailDnsRecords(spec, second, facts);
        expect(records.filter((r) => r.type === "A" || r.type === "AAAA")).toEqual([]);
        expect(records.find((r) => r.type === "MX")).toMatchObject({
            name: "example.org",
            content: "mail.nathabee.de",
        });
        expect(records.every((r) => r.name === "example.org" || r.name.endsWith(".example.org"))).toBe(true);
    });

    test("DKIM TXT carries the public key, split into quoted strings of at most 255 characters", () => {
        const dkim = mailDnsRecords(spec, primary, facts).find((r) => r.name === "mail._domainkey.nathabee.de")!;
        const strings = [...dkim.content!.matchAll(/"([^"]*)"/g)].map((m) => m[1]);
        expect(strings.length).toBeGreaterThan(1);
        expect(strings.every((s) => s.length <= 255)).toBe(true);
        expect(dkim.content).toBe(strings.map((s) => `"${s}"`).join(" "));
        const body = publicKeyPem
            .split("\n")
            .filter((l) => l && !l.startsWith("-----"))
            .join("");
        expect(txtValue(dkim.content!)).toBe(`v=DKIM1; k=rsa; p=${body}`);
    });

    test("SPF takes extra mechanisms before -all", () => {
        const raw = twoDomains();
        (raw.domains as any[])[0].spf = { extra: ["include:_spf.example.net"] };
        const records = mailDnsRecords(buildSpec(raw), buildSpec(raw).domains[0], facts);
        expect(records.find((r) => r.name === "nathabee.de" && r.type === "TXT")!.content).toBe(
            '"v=spf1 mx include:_spf.example.net -all"',
        );
    });

    test("client SRV records announce 465/587/993/995 and ManageSieve's 4190, and say plain IMAP/POP3 are not offered", () => {
        const srv = mailDnsRecords(spec, primary, facts).filter((r) => r.type === "SRV");
        expect(srv.map((r) => [r.name, r.srv!.port, r.srv!.target])).toEqual([
            ["_submissions._tcp.nathabee.de", 465, "mail.nathabee.de"],
            ["_submission._tcp.nathabee.de", 587, "mail.nathabee.de"],
            ["_imaps._tcp.nathabee.de", 993, "mail.nathabee.de"],
            ["_pop3s._tcp.nathabee.de", 995, "mail.nathabee.de"],
            ["_sieve._tcp.nathabee.de", 4190, "mail.nathabee.de"],
            ["_imap._tcp.nathabee.de", 0, "."],
            ["_pop3._tcp.nathabee.de", 0, "."],
        ]);
    });

    test("txtContent refuses quotes and round-trips long values", () => {
        expect(() => txtContent('a"b')).toThrow(/quotes/);
        const long = "x".repeat(600);
        expect(txtContent(long).split(" ")).toHaveLength(3);
        expect(txtValue(txtContent(long))).toBe(long);
    });

    test("dkimRecordValue refuses something that is not an RSA public key", () => {
        expect(() => dkimRecordValue("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")).toThrow(/RSA 2048/);
    });
});

describe("record comments name the stack that made the record", () => {
    const owner = { stack: "mailstack/prod", stateId: "0123abcd" };

    test("written once, read back: project/stack and state id; the old form without them is legacy", () => {
        const comment = dnsComment({ purpose: "SMTP TLS reporting" }, owner);
        expect(comment).toBe("mailstack:mailstack/prod#0123abcd: SMTP TLS reporting");
        expect(dnsCommentOwner(comment)).toEqual(owner);
        expect(dnsCommentOwner("mailstack: SMTP TLS reporting")).toBe("legacy");
        // The old form, still written while a rollout defers rewriting a deployed domain's comments.
        expect(dnsComment({ purpose: "SMTP TLS reporting" }, "legacy")).toBe("mailstack: SMTP TLS reporting");
        expect(dnsCommentOwner("made by hand")).toBeUndefined();
        expect(dnsCommentOwner(undefined)).toBeUndefined();
    });

    test("a long stack name is cut and hashed, the purpose shortened: always 100 characters at most, and still this stack's", () => {
        const long = { stack: `${"p".repeat(60)}/${"s".repeat(60)}`, stateId: "0123abcd" };
        const other = { stack: `${"p".repeat(60)}/${"s".repeat(59)}t`, stateId: "0123abcd" };
        const comment = dnsComment({ purpose: "x".repeat(200) }, long);
        expect([...comment].length).toBe(100);
        expect(comment.endsWith("...")).toBe(true);
        expect(recordOwnership({ comment }, long)).toBe("held");
        expect(recordOwnership({ comment }, other)).toBe("foreign");
        expect(() => dnsComment({ purpose: "x" }, { stack: "a/b", stateId: "nothex!!" })).toThrow(/state id/);
    });

    test("held, foreign or none: another stack, another state of this stack, and a first deploy's preview (no state id yet)", () => {
        const comment = (o: { stack: string; stateId: string }) => dnsComment({ purpose: "p" }, o);
        expect(recordOwnership({ comment: comment(owner) }, owner)).toBe("held");
        expect(recordOwnership({ comment: "mailstack: p" }, owner)).toBe("held");
        expect(recordOwnership({ comment: comment({ ...owner, stateId: "deadbeef" }) }, owner)).toBe("foreign");
        expect(recordOwnership({ comment: comment({ ...owner, stack: "mailstack/staging" }) }, owner)).toBe("foreign");
        expect(recordOwnership({ comment: comment(owner) }, { stack: owner.stack })).toBe("foreign");
        expect(recordOwnership({}, owner)).toBe("none");
    });

    test("the pre-flight: a foreign CAA record of ours is matched by its tag", () => {
        const spec = buildSpec(twoDomains());
        const [d] = spec.domains;
        const foreign = { stack: "mailstack/old", stateId: "0badcafe" };
        const caa = (id: string, tag: string) => ({
            id,
            name: d.name,
            type: "CAA",
            content: `0 ${tag} "letsencrypt.org"`,
            comment: dnsComment({ purpose: "CAA" }, foreign),
        });
        const found = checkZone(spec, d, [caa("c1", "issue"), caa("c2", "issuewild")], owner);
        expect(found.problems).toEqual([expect.stringContaining("(id c1) made by the stack mailstack/old")]);
        const taken = checkZone(spec, { ...d, takeOverRecords: true }, [caa("c1", "issue")], owner);
        expect([...taken.adopt]).toEqual([[`caa-issue-${d.name}`, "c1"]]);
    });
});
