// What clients and sending servers fetch over HTTPS (render/host/client-config.ts): the
// autoconfig and autodiscover answers read off the services table, the MTA-STS policy and
// its id, and the certificate's names.
import { XMLParser } from "fast-xml-parser";

import {
    appleProfileUrl,
    certificateNames,
    CLIENT_FILE_PATHS,
    renderAppleProfile,
    mtaStsId,
    mtaStsPolicy,
    renderAutoconfig,
    renderAutodiscover,
    clientHostNames,
    hostCertificates,
    renderCertificateRequests,
} from "../render/host/client-config";
import { mailDnsRecords } from "../render/dns/dns-records";
import { txtValue } from "../render/dns/text";
import { checkZone } from "../render/dns/zone";
import { parseBundleRules, renderHostFiles } from "../render";
import { parsePlist, type PlistValue } from "../lab/clients/plist";
import { PROVISIONING_PLAN } from "../render/plan/plan";
import { buildSpec, CLIENT_SERVICES, ConfigError, type RawConfig } from "../model";
import { oneDomain, twoDomains } from "./helpers/fixtures";

const xml = new XMLParser({
    ignoreAttributes: false,
    isArray: (name) => /^(incomingServer|outgoingServer|Protocol)$/.test(name),
});
const spec = (raw: RawConfig = twoDomains()) => buildSpec(raw);
const facts = {
    ipv4: "192.0.2.25",
    ipv6: "2001:db8::25",
    dkimPublicKeyPem: `-----BEGIN PUBLIC KEY-----\n${"A".repeat(392)}\n-----END PUBLIC KEY-----`,
};
/** The services table as a client is told about it: [protocol, port, TLS from the first byte]. */
const table = (client: string) =>
    CLIENT_SERVICES.filter((s) => s.client === client).map((s) => [s.port, s.tls === "implicit"]);

describe("Thunderbird autoconfig", () => {
    const doc = xml.parse(renderAutoconfig(spec())).clientConfig;
    const provider = doc.emailProvider;

    test("names IMAPS 993 and POP3S 995 in, submission 465 and 587 out, all on the mail host, exactly as the services table says", () => {
        const servers = (list: any[], type: string) =>
            list.filter((s) => s["@_type"] === type).map((s) => [s.port, s.socketType === "SSL"]);
        expect(servers(provider.incomingServer, "imap")).toEqual(table("imap"));
        expect(servers(provider.incomingServer, "pop3")).toEqual(table("pop3"));
        expect(servers(provider.outgoingServer, "smtp")).toEqual(table("smtp"));
        expect(servers(provider.outgoingServer, "smtp")).toEqual([
            [465, true],
            [587, false],
        ]);
        for (const s of [...provider.incomingServer, ...provider.outgoingServer]) {
            expect(s.hostname).toBe("mail.nathabee.de");
            // The login is always the full address, which Thunderbird fills in.
            expect(s.username).toBe("%EMAILADDRESS%");
            expect(s.authentication).toBe("password-cleartext");
        }
    });

    test("is the same for every domain: nginx fills in the domain asked for", () => {
        expect(provider["@_id"]).toBe("%EMAILDOMAIN%");
        expect(provider.domain).toBe("%EMAILDOMAIN%");
        expect(renderAutoconfig(spec(oneDomain()))).toBe(renderAutoconfig(spec()));
    });
});

describe("Apple configuration profile", () => {
    const s = spec();
    type Dict = Record<string, PlistValue>;
    const profile = (domain: string) => parsePlist(renderAppleProfile(s, domain)) as Dict;
    const account = (domain: string) => (profile(domain).PayloadContent as Dict[])[0];

    test("one IMAP account: IMAPS in, submission with implicit TLS out, on the mail host, as the services table says", () => {
        const a = account(s.domains[0].name);
        expect(a.PayloadType).toBe("com.apple.mail.managed");
        expect(a.EmailAccountType).toBe("EmailTypeIMAP");
        expect([a.IncomingMailServerHostName, a.OutgoingMailServerHostName]).toEqual([s.hostname, s.hostname]);
        expect([a.IncomingMailServerPortNumber, a.IncomingMailServerUseSSL]).toEqual(table("imap")[0]);
        expect(table("smtp")).toContainEqual([a.OutgoingMailServerPortNumber, true]);
        expect(a.OutgoingMailServerUseSSL).toBe(true);
        expect([a.IncomingMailServerAuthentication, a.OutgoingMailServerAuthentication]).toEqual([
            "EmailAuthPassword",
            "EmailAuthPassword",
        ]);
        expect(profile(s.domains[0].name).PayloadType).toBe("Configuration");
    });

    test("holds no address, login or password: the device asks for them", () => {
        const a = account(s.domains[0].name);
        for (const key of ["EmailAddress", "IncomingMailServerUsername", "IncomingPassword", "OutgoingPassword"])
            expect(a).not.toHaveProperty(key);
        expect(a.OutgoingPasswordSameAsIncomingPassword).toBe(true);
    });

    test("each domain has its own identifiers and UUIDs, the same on every render", () => {
        const ids = s.domains.flatMap((d) => [
            profile(d.name).PayloadIdentifier,
            profile(d.name).PayloadUUID,
            account(d.name).PayloadIdentifier,
            account(d.name).PayloadUUID,
        ]);
        expect(new Set(ids).size).toBe(ids.length);
        expect(profile(s.domains[0].name).PayloadIdentifier).toBe(
            `${s.domains[0].name.split(".").reverse().join(".")}.mailstack`,
        );
        for (const d of s.domains) {
            expect(renderAppleProfile(s, d.name)).toBe(renderAppleProfile(spec(), d.name));
            for (const uuid of [profile(d.name).PayloadUUID, account(d.name).PayloadUUID])
                expect(uuid).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-8[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
        }
    });

    test("the mail-data step installs one per domain where nginx looks, and removes the profile of a domain no longer configured", () => {
        const step = PROVISIONING_PLAN.find((p) => p.role === "mail-data")!;
        const hashes = Object.fromEntries(s.domains.flatMap((d) => d.mailboxes).map((m) => [m, "{BLF-CRYPT}x"]));
        const bundle = parseBundleRules(step.stdin!(s, { dkimPrivateKeysPem: {}, passwordHashes: hashes }));
        const paths = bundle.files
            .map((f) => f.path)
            .filter((p) => p.startsWith(`${CLIENT_FILE_PATHS.appleProfiles}/`));
        expect(paths).toEqual(s.domains.map((d) => `${CLIENT_FILE_PATHS.appleProfiles}/${d.name}.mobileconfig`));
        expect(bundle.prune).toContainEqual({
            dir: CLIENT_FILE_PATHS.appleProfiles,
            pattern: "*.mobileconfig",
            onChange: [],
        });
        // Not host-config's: adding a domain must not change what every server shares.
        expect(renderHostFiles(s).some((f) => f.path.startsWith(CLIENT_FILE_PATHS.appleProfiles))).toBe(false);
        const nginx = renderHostFiles(s).find((f) => f.path === "/etc/nginx/snippets/mailstack-autoconfig.conf")!;
        expect(nginx.content).toContain("location = /mailstack.mobileconfig {");
        expect(nginx.content).toContain("try_files /apple/$mail_domain.mobileconfig =404;");
        expect(appleProfileUrl("example.org")).toBe("https://autoconfig.example.org/mailstack.mobileconfig");
    });
});

describe("Outlook autodiscover (POX)", () => {
    const account = xml.parse(renderAutodiscover(spec())).Autodiscover.Response.Account;

    test("answers with IMAP first, then POP3 and both submission ports, from the services table", () => {
        expect(account.AccountType).toBe("email");
        expect(account.Action).toBe("settings");
        const protocols = account.Protocol.map((p: any) => [p.Type, p.Port, p.Encryption === "SSL"]);
        expect(protocols).toEqual([
            ...table("imap").map((r) => ["IMAP", ...r]),
            ...table("pop3").map((r) => ["POP3", ...r]),
            ...table("smtp").map((r) => ["SMTP", ...r]),
        ]);
        for (const p of account.Protocol) {
            expect(p.Server).toBe("mail.nathabee.de");
            expect(p.AuthRequired).toBe("on");
            // Plain-text password over TLS, not NTLM.
            expect(p.SPA).toBe("off");
        }
        expect(account.Protocol.find((p: any) => p.Port === 587).Encryption).toBe("TLS");
    });
});

describe("MTA-STS", () => {
    test("the policy is RFC 8461's key/value lines with CRLF: STSv1, the mode, our MX, a week", () => {
        expect(mtaStsPolicy(spec())).toBe(
            "version: STSv1\r\nmode: testing\r\nmx: mail.nathabee.de\r\nmax_age: 604800\r\n",
        );
        expect(mtaStsPolicy(spec({ ...twoDomains(), mtaSts: { mode: "enforce" } }))).toMatch(/^mode: enforce\r$/m);
    });

    test("the _mta-sts id is 1-32 letters and digits and changes exactly when the policy does", () => {
        const id = mtaStsId(spec());
        expect(id).toMatch(/^[A-Za-z0-9]{1,32}$/);
        // Not with a new domain or mailbox: the policy is the same text.
        expect(mtaStsId(spec(oneDomain()))).toBe(id);
        // With the mode, or another MX host.
        expect(mtaStsId(spec({ ...twoDomains(), mtaSts: { mode: "enforce" } }))).not.toBe(id);
        expect(mtaStsId(spec({ ...twoDomains(), hostname: "mx.nathabee.de" }))).not.toBe(id);
        const record = mailDnsRecords(spec(), spec().domains[1], facts).find((r) => r.name === "_mta-sts.example.org")!;
        expect(txtValue(record.content!)).toBe(`v=STSv1; id=${id}`);
        expect(record.publishAfter).toBe("mta-sts-policy");
    });

    test("the policy host-config installs is the one the id is made of", () => {
        const file = renderHostFiles(spec()).find((f) => f.path === CLIENT_FILE_PATHS.mtaSts)!;
        expect(file.content).toBe(mtaStsPolicy(spec()));
    });

    test("a mode other than testing or enforce is refused with its key path", () => {
        expect(() => buildSpec({ ...twoDomains(), mtaSts: { mode: "strict" } })).toThrow(ConfigError);
        expect(() => buildSpec({ ...twoDomains(), mtaSts: { mode: "strict" } })).toThrow(
            /mailstack:mtaSts\.mode: must be "testing" \(report only\) or "enforce"/,
        );
        expect(() => buildSpec({ ...twoDomains(), mtaSts: { mode: "testing", maxAge: 1 } })).toThrow(
            /mailstack:mtaSts/,
        );
    });
});

describe("the names of the host's certificate", () => {
    test("are the hostname first, then autoconfig., autodiscover. and mta-sts. of every domain", () => {
        expect(certificateNames(spec())).toEqual([
            "mail.nathabee.de",
            "autoconfig.nathabee.de",
            "autodiscover.nathabee.de",
            "mta-sts.nathabee.de",
            "autoconfig.example.org",
            "autodiscover.example.org",
            "mta-sts.example.org",
        ]);
    });

    test("are the certificate step's stdin, one a line, and each has a CNAME to the mail host", () => {
        const step = PROVISIONING_PLAN.find((s) => s.role === "certificate")!;
        const stdin = step.stdin!(spec(), { dkimPrivateKeysPem: {}, passwordHashes: {} });
        expect(stdin).toBe(renderCertificateRequests(spec()));
        expect(stdin).toBe(`mail.nathabee.de ${certificateNames(spec()).join(" ")}\n`);
        const s = spec();
        const cnames = s.domains.flatMap((d) => mailDnsRecords(s, d, facts)).filter((r) => r.type === "CNAME");
        expect(cnames.map((r) => r.name)).toEqual(certificateNames(s).slice(1));
        expect(cnames.every((r) => r.content === s.hostname)).toBe(true);
    });

    const domains = (n: number) => ({
        ...oneDomain(),
        domains: [
            ...(oneDomain().domains as object[]),
            ...Array.from({ length: n - 1 }, (_, i) => ({
                name: `d${i}.example`,
                aliases: { postmaster: ["someone@example.net"] },
            })),
        ],
    });

    test("33 domains fit the host's one certificate, at the CA's limit of 100 names", () => {
        const certs = hostCertificates(spec(domains(33)));
        expect(certs.map((c) => [c.lineage, c.names.length])).toEqual([["mail.nathabee.de", 100]]);
    });

    test("more domains get further certificates of 33 domains each, <hostname>-2, -3, ..., each within the limit", () => {
        const s = spec(domains(100));
        const certs = hostCertificates(s);
        expect(certs.map((c) => [c.lineage, c.names.length])).toEqual([
            ["mail.nathabee.de", 100],
            ["mail.nathabee.de-2", 99],
            ["mail.nathabee.de-3", 99],
            ["mail.nathabee.de-4", 3],
        ]);
        // Every name exactly once, in the domains' order; the hostname only in the first.
        expect(certs.flatMap((c) => c.names)).toEqual(certificateNames(s));
        expect(new Set(certificateNames(s)).size).toBe(1 + 3 * 100);
        expect(certs[1].names.slice(0, 3)).toEqual(clientHostNames("d32.example"));
        const lines = renderCertificateRequests(s).trim().split("\n");
        expect(lines.map((l) => l.split(" ")[0])).toEqual(certs.map((c) => c.lineage));
        expect(lines.every((l) => l.split(" ").length <= 101)).toBe(true);
    });

    test("a domain added at the end changes only the last certificate", () => {
        const before = hostCertificates(spec(domains(40)));
        const after = hostCertificates(spec(domains(41)));
        expect(after[0]).toEqual(before[0]);
        expect(after[1].names).toEqual([...before[1].names, ...clientHostNames("d39.example")]);
    });
});

describe("zone pre-flight for the new names", () => {
    const s = spec();
    const [first] = s.domains;
    const owner = { stack: "mailstack/prod", stateId: "0123abcd" };
    test("a record mailstack does not manage at autoconfig., mta-sts. or _mta-sts. stops the deploy, named", () => {
        const found = checkZone(
            s,
            first,
            [
                { id: "r1", name: "autoconfig.nathabee.de", type: "A", content: "203.0.113.9" },
                { id: "r2", name: "_mta-sts.nathabee.de", type: "TXT", content: '"v=STSv1; id=old"' },
                { id: "r3", name: "www.nathabee.de", type: "A", content: "203.0.113.9" },
            ],
            owner,
        );
        expect(found.problems).toEqual([
            expect.stringMatching(
                /^mailstack:domains\[0\]: the zone already has A autoconfig\.nathabee\.de .*as CNAME/,
            ),
            expect.stringMatching(/^mailstack:domains\[0\]: the zone already has TXT _mta-sts\.nathabee\.de .*as TXT/),
        ]);
        // Our own (commented) records are no conflict.
        expect(
            checkZone(
                s,
                first,
                [
                    {
                        id: "r4",
                        name: "autoconfig.nathabee.de",
                        type: "CNAME",
                        content: "mail.nathabee.de",
                        comment: "mailstack:mailstack/prod#0123abcd: autoconfig",
                    },
                ],
                owner,
            ).problems,
        ).toEqual([]);
    });
});

describe("CAA records", () => {
    test("every domain allows only the configured CA to issue, and names its report address for refusals", () => {
        const s = spec();
        for (const d of s.domains) {
            const caa = mailDnsRecords(s, d, facts).filter((r) => r.type === "CAA");
            expect(caa.map((r) => [r.name, r.caa, r.content])).toEqual([
                [d.name, { flags: 0, tag: "issue", value: "letsencrypt.org" }, undefined],
                [d.name, { flags: 0, tag: "iodef", value: `mailto:${d.dmarc.rua}` }, undefined],
            ]);
        }
    });

    test("the CA is Let's Encrypt for its directories, and must be named for any other acmeServer", () => {
        expect(spec().acmeCaaIdentity).toBe("letsencrypt.org");
        const staging = "https://acme-staging-v02.api.letsencrypt.org/directory";
        expect(spec({ ...twoDomains(), acmeServer: staging }).acmeCaaIdentity).toBe("letsencrypt.org");
        const other = { ...twoDomains(), acmeServer: "https://acme.example.net/directory" };
        expect(() => spec(other)).toThrow(
            /mailstack:acmeCaaIdentity: is required when mailstack:acmeServer is not Let's Encrypt's/,
        );
        expect(spec({ ...other, acmeCaaIdentity: "example.net" }).acmeCaaIdentity).toBe("example.net");
        expect(() => spec({ ...other, acmeCaaIdentity: '"example.net"' })).toThrow(
            /mailstack:acmeCaaIdentity: must be the CA's CAA domain/,
        );
    });
});
