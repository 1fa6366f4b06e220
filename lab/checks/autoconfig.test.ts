// Clients set themselves up (issue 11): what Thunderbird, Outlook and sending servers fetch
// over HTTPS from autoconfig., autodiscover. and mta-sts.<domain>, found through the lab DNS
// (the stack's own records) and verified against the lab CA's chain, then used as a client
// would: log in and send with exactly the settings the answer names.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { Resolver } from "node:dns/promises";
import * as http from "node:http";
import * as https from "node:https";
import * as tls from "node:tls";
import { test } from "node:test";
import { XMLParser } from "fast-xml-parser";
import { ImapFlow } from "imapflow";
import nodemailer from "nodemailer";
import {
    appleProfileUrl,
    certificateNames,
    hostCertificates,
    mtaStsId,
    mtaStsPolicy,
} from "../../render/host/client-config";
import { buildSpec, CLIENT_SERVICES, type MailSpec } from "../../model";
import { pebbleRoot } from "../world/acme";
import { eventually, imapFetch } from "../clients";
import { writeLabDnsRecords } from "../scenarios/standup";
import { LAB_PASSWORDS, labRawConfig, labSpec } from "../lab-config";
import { parsePlist, type PlistValue } from "../clients/plist";
import { provision } from "../scenarios/provision";
import { NET, ssh, tag } from "./helpers";

const resolver = new Resolver();
resolver.setServers([NET.client4]);
const xml = new XMLParser({
    ignoreAttributes: false,
    isArray: (n) => /^(incomingServer|outgoingServer|Protocol)$/.test(n),
});
const ALICE = "alice@example.org";

/** The address a name resolves to through the lab DNS (CNAMEs followed), as a client finds it. */
async function address(name: string): Promise<string> {
    const [a] = await resolver.resolve4(name);
    assert.ok(a, `${name} does not resolve`);
    return a;
}

interface Reply {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
}

/** One HTTPS request to `name`, found through the lab DNS and verified against pebble's root for that name. */
async function fetchHttps(
    name: string,
    path: string,
    o: { method?: string; body?: string; hostHeader?: string } = {},
): Promise<Reply> {
    const ca = await pebbleRoot();
    const host = await address(name);
    return new Promise((resolve, reject) => {
        const req = https.request(
            {
                host,
                servername: name,
                headers: { host: o.hostHeader ?? name, ...(o.body ? { "content-type": "text/xml" } : {}) },
                path,
                method: o.method ?? "GET",
                ca,
                rejectUnauthorized: true,
                timeout: 15_000,
            },
            (res) => {
                let body = "";
                res.setEncoding("utf8");
                res.on("data", (c: string) => (body += c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
            },
        );
        req.on("error", reject);
        req.on("timeout", () => req.destroy(new Error(`https://${name}${path}: timeout`)));
        req.end(o.body);
    });
}

/** One plain HTTP GET on port 80. */
async function fetchHttp(name: string, path: string): Promise<Reply> {
    const host = await address(name);
    return new Promise((resolve, reject) => {
        const req = http.get({ host, headers: { host: name }, path, timeout: 15_000 }, (res) => {
            res.resume();
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: "" }));
        });
        req.on("error", reject);
        req.on("timeout", () => req.destroy(new Error(`http://${name}${path}: timeout`)));
    });
}

/** The DNS names of the leaf the server presents for `name` on 443 (verified against pebble's root). */
async function presentedNames(name: string): Promise<string[]> {
    const ca = await pebbleRoot();
    const host = await address(name);
    const raw: Buffer = await new Promise((resolve, reject) => {
        const s = tls.connect({ host, port: 443, servername: name, ca, rejectUnauthorized: true }, () => {
            const der = s.getPeerCertificate().raw;
            s.end();
            resolve(der);
        });
        s.once("error", reject);
        s.setTimeout(15_000, () => s.destroy(new Error("TLS timeout")));
    });
    const san = new X509Certificate(raw).subjectAltName ?? "";
    return san
        .split(", ")
        .filter((e) => e.startsWith("DNS:"))
        .map((e) => e.slice(4))
        .sort();
}

/** Whether a message with this subject reaches bob's INBOX (waits as `eventually` does). */
const arrivedAtBob = (subject: string) =>
    eventually(
        async () => (await imapFetch("bob@example.org", LAB_PASSWORDS["bob@example.org"], { subject })).length > 0,
    );

/** A server entry of the autoconfig answer, as a client reads it. */
interface Setting {
    protocol: string;
    host: string;
    port: number;
    implicitTls: boolean;
}

/** The services table as a client should be told it, for comparing answers with. */
const TABLE = (hostname: string): Setting[] =>
    CLIENT_SERVICES.map((s) => ({
        protocol: s.client,
        host: hostname,
        port: s.port,
        implicitTls: s.tls === "implicit",
    }));

void test("autoconfig., autodiscover. and mta-sts. of every domain resolve through the lab DNS to the mail host, and the certificate on 443 names exactly them and the hostname", async () => {
    const spec = labSpec();
    for (const d of spec.domains)
        for (const label of ["autoconfig", "autodiscover", "mta-sts"]) {
            assert.deepEqual(await resolver.resolveCname(`${label}.${d.name}`), [spec.hostname]);
            assert.equal(await address(`${label}.${d.name}`), NET.server4);
        }
    // Verified for each name (the handshake fails otherwise), and one certificate for all.
    for (const name of certificateNames(spec))
        assert.deepEqual(await presentedNames(name), [...certificateNames(spec)].sort(), name);
});

void test("every domain's CAA records in the lab DNS allow only the lab's CA (issue) and name the report address (iodef); that CA issued the certificate on 443", async () => {
    const spec = labSpec();
    for (const d of spec.domains) {
        // Node adds `type: "CAA"` to each answer; the fields are what the zone holds.
        const caa = (await resolver.resolveCaa(d.name)).map(({ critical, issue, iodef }) => ({
            critical,
            ...(issue !== undefined ? { issue } : {}),
            ...(iodef !== undefined ? { iodef } : {}),
        }));
        assert.deepEqual(caa, [
            { critical: 0, issue: spec.acmeCaaIdentity },
            { critical: 0, iodef: `mailto:${d.dmarc.rua}` },
        ]);
    }
    // Issued by pebble, whose directory host is the CAA identity the records name.
    assert.equal(new URL(spec.acmeServer).hostname, spec.acmeCaaIdentity);
    assert.ok((await presentedNames(spec.hostname)).includes(spec.hostname));
});

void test("Thunderbird's autoconfig answers over HTTPS with the services table's settings, and a client logs in (IMAPS, POP3S) and sends (465, 587) with exactly them", async () => {
    const spec = labSpec();
    const r = await fetchHttps(
        "autoconfig.example.org",
        `/mail/config-v1.1.xml?emailaddress=${encodeURIComponent(ALICE)}`,
    );
    assert.equal(r.status, 200, r.body);
    assert.match(String(r.headers["content-type"]), /^application\/xml/);
    assert.match(String(r.headers["strict-transport-security"]), /max-age=\d+/);
    const provider = xml.parse(r.body).clientConfig.emailProvider;
    // nginx put in the domain asked for.
    assert.equal(provider["@_id"], "example.org");
    assert.equal(provider.domain, "example.org");
    type Server = Record<"@_type" | "hostname" | "port" | "socketType" | "username", string>;
    const listed: Server[] = [...provider.incomingServer, ...provider.outgoingServer];
    const servers = listed.map((s) => ({
        protocol: s["@_type"],
        host: s.hostname,
        port: Number(s.port),
        implicitTls: s.socketType === "SSL",
        username: String(s.username).replace("%EMAILADDRESS%", ALICE),
    }));
    assert.deepEqual(
        servers.map(({ username: _, ...s }) => s),
        TABLE(spec.hostname).sort((a, b) => Number(a.protocol === "smtp") - Number(b.protocol === "smtp")),
    );

    const ca = await pebbleRoot();
    const subject = tag("autoconfig");
    for (const s of servers) {
        const host = await address(s.host);
        const tlsOptions = { ca, servername: s.host, rejectUnauthorized: true };
        const auth = { user: s.username, pass: LAB_PASSWORDS[ALICE] };
        if (s.protocol === "imap") {
            const client = new ImapFlow({
                host,
                port: s.port,
                secure: s.implicitTls,
                auth,
                tls: tlsOptions,
                logger: false,
            });
            await client.connect();
            await client.logout();
        } else if (s.protocol === "pop3") {
            assert.ok(s.implicitTls);
            const replies = await pop3Login(host, s.port, tlsOptions, auth.user, auth.pass);
            assert.match(replies.at(-1)!, /^\+OK/, replies.join(" | "));
        } else {
            const transport = nodemailer.createTransport({
                host,
                port: s.port,
                secure: s.implicitTls,
                requireTLS: !s.implicitTls,
                auth,
                tls: tlsOptions,
                name: "client.sink.test",
            });
            try {
                await transport.sendMail({
                    from: ALICE,
                    to: "bob@example.org",
                    subject: `${subject}-${s.port}`,
                    text: "autoconfig\n",
                });
            } finally {
                transport.close();
            }
        }
    }
    for (const port of servers.filter((s) => s.protocol === "smtp").map((s) => s.port))
        assert.ok(await arrivedAtBob(`${subject}-${port}`), `the message sent on ${port} did not arrive`);
});

void test("Apple's profile of each domain comes over HTTPS as a configuration profile, and a client logs in (IMAPS) and sends with exactly its settings; a domain not configured gets 404", async () => {
    const spec = labSpec();
    const ca = await pebbleRoot();
    const subject = tag("apple-profile");
    type Dict = Record<string, PlistValue>;
    const uuids = new Set<PlistValue>();
    for (const domain of spec.domains.map((d) => d.name)) {
        const url = new URL(appleProfileUrl(domain));
        const r = await fetchHttps(url.hostname, url.pathname);
        assert.equal(r.status, 200, `${url}: ${r.body}`);
        // The type Safari on iOS and macOS installs a profile by.
        assert.equal(r.headers["content-type"], "application/x-apple-aspen-config");
        assert.match(String(r.headers["strict-transport-security"]), /max-age=\d+/);
        const profile = parsePlist(r.body) as Dict;
        assert.equal(profile.PayloadType, "Configuration");
        const [account, ...more] = profile.PayloadContent as Dict[];
        // With mailstack:dav the calendar and contacts accounts follow (dav.test.ts logs in with them).
        assert.deepEqual(
            more.map((p) => p.PayloadType),
            spec.dav ? ["com.apple.caldav.account", "com.apple.carddav.account"] : [],
        );
        assert.equal(account.PayloadType, "com.apple.mail.managed");
        assert.equal(account.EmailAccountType, "EmailTypeIMAP");
        assert.equal(account.EmailAccountDescription, domain);
        assert.equal(account.EmailAddress, undefined, "the device asks for the address");
        uuids.add(profile.PayloadUUID).add(account.PayloadUUID);
        // What the device does with it: the address and password the user types, the servers the profile names.
        const user = domain === "example.org" ? ALICE : "carol@example.net";
        const auth = { user, pass: LAB_PASSWORDS[user] };
        const incoming = String(account.IncomingMailServerHostName);
        const outgoing = String(account.OutgoingMailServerHostName);
        assert.equal(account.IncomingMailServerUseSSL, true);
        assert.equal(account.OutgoingMailServerUseSSL, true);
        const imap = new ImapFlow({
            host: await address(incoming),
            port: Number(account.IncomingMailServerPortNumber),
            secure: true,
            auth,
            tls: { ca, servername: incoming, rejectUnauthorized: true },
            logger: false,
        });
        await imap.connect();
        await imap.logout();
        // "Use SSL" on the submission port: TLS from the first byte on 465, STARTTLS on 587.
        const port = Number(account.OutgoingMailServerPortNumber);
        const service = CLIENT_SERVICES.find((x) => x.client === "smtp" && x.port === port);
        assert.ok(service, `port ${port} is no submission port of the services table`);
        const transport = nodemailer.createTransport({
            host: await address(outgoing),
            port,
            secure: service.tls === "implicit",
            requireTLS: true,
            auth,
            tls: { ca, servername: outgoing, rejectUnauthorized: true },
            name: "client.sink.test",
        });
        try {
            await transport.sendMail({
                from: user,
                to: "bob@example.org",
                subject: `${subject}-${domain}`,
                text: "profile\n",
            });
        } finally {
            transport.close();
        }
    }
    assert.equal(uuids.size, 2 * spec.domains.length, "each domain's profile and account have their own UUIDs");
    for (const domain of spec.domains.map((d) => d.name))
        assert.ok(
            await arrivedAtBob(`${subject}-${domain}`),
            `the message sent with ${domain}'s profile did not arrive`,
        );
    // Asked for a domain that is not configured (through a configured name's TLS), nginx has no profile.
    const none = await fetchHttps("autoconfig.example.org", "/mailstack.mobileconfig", {
        hostHeader: "autoconfig.not-configured.example",
    });
    assert.equal(none.status, 404);
});

/** USER/PASS over implicit TLS; the replies. */
async function pop3Login(
    host: string,
    port: number,
    o: tls.ConnectionOptions,
    user: string,
    pass: string,
): Promise<string[]> {
    const sock = tls.connect({ host, port, ...o });
    sock.setEncoding("utf8");
    sock.setTimeout(15_000, () => sock.destroy(new Error("POP3 timeout")));
    const replies: string[] = [];
    let buf = "";
    const next = () =>
        new Promise<string>((resolve, reject) => {
            const take = () => {
                const i = buf.indexOf("\r\n");
                if (i < 0) return false;
                const line = buf.slice(0, i);
                buf = buf.slice(i + 2);
                replies.push(line);
                resolve(line);
                return true;
            };
            if (take()) return;
            const onData = (c: string) => {
                buf += c;
                if (take()) sock.off("data", onData);
            };
            sock.on("data", onData);
            sock.once("error", reject);
        });
    await next();
    sock.write(`USER ${user}\r\n`);
    await next();
    sock.write(`PASS ${pass}\r\n`);
    await next();
    sock.end("QUIT\r\n");
    return replies;
}

void test("Outlook's autodiscover answers a real POX request (POST) with the same settings", async () => {
    const spec = labSpec();
    const request = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">',
        `  <Request><EMailAddress>${ALICE}</EMailAddress>`,
        "    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>",
        "  </Request>",
        "</Autodiscover>",
    ].join("\n");
    // Outlook spells the path with capitals.
    const r = await fetchHttps("autodiscover.example.org", "/Autodiscover/Autodiscover.xml", {
        method: "POST",
        body: request,
    });
    assert.equal(r.status, 200, r.body);
    assert.match(String(r.headers["content-type"]), /^application\/xml/);
    const account = xml.parse(r.body).Autodiscover.Response.Account;
    assert.equal(account.AccountType, "email");
    assert.equal(account.Action, "settings");
    type Protocol = Record<"Type" | "Server" | "Port" | "Encryption", string>;
    const got: Setting[] = (account.Protocol as Protocol[]).map((p) => ({
        protocol: String(p.Type).toLowerCase(),
        host: p.Server,
        port: Number(p.Port),
        implicitTls: p.Encryption === "SSL",
    }));
    assert.deepEqual(
        got,
        TABLE(spec.hostname).sort(
            (a, b) => ["imap", "pop3", "smtp"].indexOf(a.protocol) - ["imap", "pop3", "smtp"].indexOf(b.protocol),
        ),
    );
});

/** RFC 8461 3.2: CRLF-separated `key: value` lines; the keys it defines, each once. */
function parsePolicy(text: string): Record<string, string[]> {
    assert.ok(text.endsWith("\r\n"), "the policy's lines end in CRLF");
    const out: Record<string, string[]> = {};
    for (const line of text.split("\r\n").filter(Boolean)) {
        const m = /^([A-Za-z0-9_]+):[ \t]*(\S+)[ \t]*$/.exec(line);
        assert.ok(m, `not a policy line: ${JSON.stringify(line)}`);
        (out[m[1]] ??= []).push(m[2]);
    }
    return out;
}

/** The `_mta-sts` TXT record's id, as the lab DNS serves it. */
async function publishedId(domain: string): Promise<string> {
    const txt = (await resolver.resolveTxt(`_mta-sts.${domain}`)).map((parts) => parts.join(""));
    assert.equal(txt.length, 1, txt.join(" | "));
    const m = /^v=STSv1; id=([A-Za-z0-9]{1,32})$/.exec(txt[0]);
    assert.ok(m, txt[0]);
    return m[1];
}

void test("the MTA-STS policy parses per RFC 8461, its mx is the MX the lab DNS serves, and the _mta-sts id is the one the stack publishes; another mode in config is another policy and another id", async () => {
    for (const d of labSpec().domains) {
        const r = await fetchHttps(`mta-sts.${d.name}`, "/.well-known/mta-sts.txt");
        assert.equal(r.status, 200);
        assert.match(String(r.headers["content-type"]), /^text\/plain/);
        const policy = parsePolicy(r.body);
        assert.deepEqual(policy.version, ["STSv1"]);
        assert.deepEqual(policy.mode, ["testing"]);
        const mx = (await resolver.resolveMx(d.name)).map((m) => m.exchange);
        assert.deepEqual(policy.mx, mx);
        assert.ok(Number(policy.max_age[0]) >= 86400, "max_age of at least a day");
        assert.equal(await publishedId(d.name), mtaStsId(labSpec()));
    }
    // Serving it needs nothing but HTTPS: the plain-HTTP name redirects, ACME paths do not.
    const redirect = await fetchHttp("mta-sts.example.org", "/.well-known/mta-sts.txt");
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, "https://mta-sts.example.org/.well-known/mta-sts.txt");
    assert.equal((await fetchHttp("mta-sts.example.org", "/.well-known/acme-challenge/none")).status, 404);

    // mode: enforce in the stack config: host-config serves the new policy, whose id differs.
    const enforce = buildSpec({ ...labRawConfig(), mtaSts: { mode: "enforce" } });
    try {
        const r = await provision(enforce, LAB_PASSWORDS, ["host-config"]);
        assert.ok(r.ok, r.detail);
        const served = await fetchHttps("mta-sts.example.org", "/.well-known/mta-sts.txt");
        assert.deepEqual(parsePolicy(served.body).mode, ["enforce"]);
        assert.notEqual(mtaStsId(enforce), mtaStsId(labSpec()));
    } finally {
        const back = await provision(labSpec(), LAB_PASSWORDS, ["host-config"]);
        assert.ok(back.ok, back.detail);
    }
});

/** The lab config with more domains (no mailboxes: a postmaster alias to alice). */
function withDomain(...names: string[]): MailSpec {
    return buildSpec({
        ...labRawConfig(),
        domains: [
            ...(labRawConfig().domains as object[]),
            ...names.map((name) => ({ name, aliases: { postmaster: [ALICE] } })),
        ],
    });
}

void test("a domain added by re-provisioning extends the certificate with its names (the same lineage, no restart); removing it drops them again", async () => {
    const lineage = () => ssh("ls /etc/letsencrypt/live | grep -v README").stdout.trim();
    const pids = () =>
        ssh("cat /var/spool/postfix/pid/master.pid | tr -d ' '; systemctl show -p MainPID --value dovecot nginx")
            .stdout;
    const before = { lineage: lineage(), pids: pids() };
    const bigger = withDomain("example.com");
    try {
        writeLabDnsRecords(bigger);
        assert.ok(
            await eventually(async () => (await address("autoconfig.example.com").catch(() => "")) === NET.server4),
        );
        const r = await provision(bigger);
        assert.ok(r.ok, r.detail);
        assert.match(r.steps!.find((s) => s.step === "certificate")!.output, /issued and deployed a certificate for/);
        const want = [...certificateNames(bigger)].sort();
        assert.deepEqual(await presentedNames("autoconfig.example.com"), want);
        assert.deepEqual(await presentedNames("mail.example.org"), want);
        const served = await fetchHttps("autoconfig.example.com", "/mail/config-v1.1.xml");
        assert.equal(xml.parse(served.body).clientConfig.emailProvider.domain, "example.com");
    } finally {
        const r = await provision(labSpec());
        writeLabDnsRecords(labSpec());
        assert.ok(r.ok, r.detail);
    }
    assert.deepEqual(await presentedNames("mail.example.org"), [...certificateNames(labSpec())].sort());
    assert.equal(lineage(), before.lineage, "one lineage, named after the host");
    assert.equal(pids(), before.pids, "Postfix, Dovecot or nginx was restarted");
});

void test("beyond 33 domains a second certificate (mail.example.org-2) serves the further domains' names; removing them deletes it", async () => {
    const lineages = () => ssh("ls /etc/letsencrypt/live | grep -v README").stdout.trim().split("\n");
    // The lab's 2 domains and 32 more: the host's certificate holds 33 of them (100 names).
    const extra = Array.from({ length: 32 }, (_, i) => `d${i + 1}.example.net`);
    const bigger = withDomain(...extra);
    const certs = hostCertificates(bigger);
    assert.deepEqual(
        certs.map((c) => c.lineage),
        ["mail.example.org", "mail.example.org-2"],
    );
    const last = extra.at(-1)!;
    try {
        writeLabDnsRecords(bigger);
        assert.ok(await eventually(async () => (await address(`mta-sts.${last}`).catch(() => "")) === NET.server4));
        const r = await provision(bigger);
        assert.ok(r.ok, r.detail);
        assert.deepEqual(lineages(), ["mail.example.org", "mail.example.org-2"]);
        assert.deepEqual(await presentedNames("mail.example.org"), [...certs[0].names].sort());
        assert.deepEqual(await presentedNames(`autoconfig.${extra[0]}`), [...certs[0].names].sort());
        for (const name of certs[1].names)
            assert.deepEqual(await presentedNames(name), [...certs[1].names].sort(), name);
        // The further certificate's names answer as the others do (verified against the lab CA).
        const served = await fetchHttps(`autoconfig.${last}`, "/mail/config-v1.1.xml");
        assert.equal(xml.parse(served.body).clientConfig.emailProvider.domain, last);
        const policy = await fetchHttps(`mta-sts.${last}`, "/.well-known/mta-sts.txt");
        assert.deepEqual(parsePolicy(policy.body).mx, parsePolicy(mtaStsPolicy(labSpec())).mx);
        assert.ok(parsePolicy(policy.body).mx.includes(labSpec().hostname));
    } finally {
        const r = await provision(labSpec());
        writeLabDnsRecords(labSpec());
        assert.ok(r.ok, r.detail);
    }
    const left = ssh(
        "ls -d /etc/letsencrypt/live/* /etc/letsencrypt/renewal/* /etc/nginx/mailstack-certificates/* /etc/mailstack/tls/* 2>/dev/null; true",
    ).stdout;
    assert.doesNotMatch(left, /example\.org-2/, "the second certificate, its copy and its nginx blocks are gone");
    assert.deepEqual(lineages(), ["mail.example.org"]);
    assert.deepEqual(await presentedNames("mail.example.org"), [...certificateNames(labSpec())].sort());
});
