// The Pulumi program under mocks: the DNS side (record comments, the zone pre-flight, Cloudflare's
// request budget, rotating a DKIM key), every resource recorded with its inputs and checked.

import { find, zoneRecords, created, resourcesOf, type RecordedResource } from "./helpers/mocks";
import * as pulumi from "@pulumi/pulumi";
import { parseBundle } from "../render";
import { txtValue } from "../render/dns/text";
import { buildSpec, type RawConfig } from "../model";
import { oneDomain, twoDomains } from "./helpers/fixtures";
import { COMMAND, PRIVATE_KEY, OURS, deploy, records, bundleFile } from "./helpers/stack";

test("a long domain name still gives record comments within Cloudflare's free-plan 100 characters", async () => {
    const long = `${"a".repeat(50)}.${"b".repeat(40)}.example`;
    const base = oneDomain();
    const raw: RawConfig = {
        ...base,
        domains: [
            ...(base.domains as object[]),
            { name: long, mailboxes: ["someone"], aliases: { postmaster: [`someone@${long}`] } },
        ],
    };
    const res = await deploy("longname", raw);
    const comments: string[] = records(res.resources).map((r) => r.inputs.comment);
    expect(comments.length).toBeGreaterThan(10);
    for (const c of comments) expect([...c].length).toBeLessThanOrEqual(100);
});

describe("zone pre-flight", () => {
    // Cloudflare Email Routing leaves three MX records and an SPF TXT at the apex.
    const emailRouting = (zone: string, domain: string) => [
        { id: `${zone}-mx1`, name: domain, type: "MX", content: "route1.mx.cloudflare.net" },
        { id: `${zone}-mx2`, name: domain, type: "MX", content: "route2.mx.cloudflare.net" },
        { id: `${zone}-spf`, name: domain, type: "TXT", content: '"v=spf1 include:_spf.mx.cloudflare.net ~all"' },
        { id: `${zone}-dmarc`, name: `_dmarc.${domain}`, type: "TXT", content: '"v=DMARC1; p=none"' },
        { id: `${zone}-www`, name: `www.${domain}`, type: "A", content: "198.51.100.80" },
    ];
    afterEach(() => {
        for (const k of Object.keys(zoneRecords)) delete zoneRecords[k];
    });

    test("records mailstack does not manage stop the deploy, each named, before anything is declared", async () => {
        zoneRecords["zone-of-nathabee.de"] = emailRouting("z", "nathabee.de");
        const before = resourcesOf("zoneconflict").length;
        const error = await deploy("zoneconflict", oneDomain()).catch((e: Error) => e);
        expect(pulumi.RunError.isInstance(error)).toBe(true);
        const message = (error as Error).message;
        expect(message).toContain(
            'MX nathabee.de "route1.mx.cloudflare.net" (id z-mx1) that mailstack does not manage: mail would be split',
        );
        expect(message).toContain("(id z-mx2)");
        expect(message).toContain(
            "(id z-spf) that mailstack does not manage: two SPF records are a permanent SPF error",
        );
        expect(message).toContain("(id z-dmarc)");
        expect(message).toContain("set mailstack:domains[0].takeOverRecords to true");
        expect(message).not.toContain("www.nathabee.de");
        expect(resourcesOf("zoneconflict").length).toBe(before);
    });

    /** A record as Cloudflare lists it. */
    const listed = (id: string, name: string, type: string, content: string, comment?: string) => ({
        id,
        name,
        type,
        content,
        ...(comment ? { comment } : {}),
    });

    test("the records this stack's state made are no conflict, nor those of before comments named the stack (an upgrade)", async () => {
        zoneRecords["zone-of-nathabee.de"] = [
            listed("legacy", "nathabee.de", "MX", "mail.nathabee.de", "mailstack: mail for nathabee.de"),
            listed("ours", "_dmarc.nathabee.de", "TXT", '"v=DMARC1; p=quarantine"', `${OURS}DMARC policy and reports`),
            listed("www", "www.nathabee.de", "A", "198.51.100.80"),
        ];
        await expect(deploy("zoneours", oneDomain())).resolves.toBeDefined();
    });

    test("a mailstack record of another stack, or of this stack's lost state, at a name and type of ours is a conflict with its fix", async () => {
        const old = "mailstack:mailstack/old#0badcafe: ";
        zoneRecords["zone-of-nathabee.de"] = [
            // Another stack that once served the domain.
            listed("other-mx", "nathabee.de", "MX", "mail.old.example", `${old}mail for nathabee.de`),
            // This stack, made by a state that is gone (lost, or the stack removed and made again).
            listed(
                "lost-dkim",
                "mail._domainkey.nathabee.de",
                "TXT",
                '"v=DKIM1; k=rsa; p=AAAA"',
                "mailstack:mailstack/test#deadbeef: DKIM public key of the key OpenDKIM signs with",
            ),
            // Another stack's record at a name this stack does not publish: none of its business.
            listed("other-host", "mail2.nathabee.de", "A", "198.51.100.25", `${old}mail host IPv4`),
        ];
        const error = await deploy("zoneforeign", oneDomain()).catch((e: Error) => e);
        expect(pulumi.RunError.isInstance(error)).toBe(true);
        const problems = (error as Error).message.split("\n").slice(1);
        expect(problems).toEqual([
            expect.stringContaining(
                'MX nathabee.de "mail.old.example" (id other-mx) made by the stack mailstack/old, and this stack\'s state does not hold it: creating ours beside it fails (Cloudflare 81058',
            ),
            expect.stringContaining(
                "(id lost-dkim) made by this stack (mailstack/test) under another state (state id deadbeef, this state's is 5a7e0001): a lost or removed state",
            ),
        ]);
        for (const p of problems)
            expect(p).toContain("Delete it in Cloudflare, or set mailstack:domains[0].takeOverRecords to true");

        const withTakeOver = oneDomain();
        withTakeOver.domains = [{ ...(withTakeOver.domains as object[])[0], takeOverRecords: true }];
        const res = await deploy("zoneforeign2", withTakeOver);
        expect(Object.fromEntries(res.options.filter((o) => o.import).map((o) => [o.name, o.import]))).toEqual({
            "zoneforeign2-dns-nathabee.de-mx-nathabee.de": "zone-of-nathabee.de/other-mx",
            "zoneforeign2-dns-nathabee.de-txt-mail._domainkey.nathabee.de": "zone-of-nathabee.de/lost-dkim",
        });
    });

    test("every record's comment names the project, the stack and its state id, within 100 characters", async () => {
        const res = await deploy("zonecomments", oneDomain());
        const comments: string[] = records(res.resources).map((r) => r.inputs.comment);
        expect(comments.length).toBeGreaterThan(10);
        for (const c of comments) {
            expect(c.startsWith(OURS)).toBe(true);
            expect([...c].length).toBeLessThanOrEqual(100);
        }
        // Made once with the state, before the pre-flight, and kept in it.
        const owner = created.filter((r) => r.type === "random:index/randomId:RandomId" && r.name === "dns-owner");
        expect(owner.length).toBeGreaterThan(0);
        expect(owner[0].inputs).toEqual({ byteLength: 4 });
    });

    test("takeOverRecords adopts one record per record of ours and still refuses the extra MX", async () => {
        const withTakeOver = (): RawConfig => {
            const raw = oneDomain();
            const [d] = raw.domains as object[];
            return { ...raw, domains: [{ ...d, takeOverRecords: true }] };
        };
        zoneRecords["zone-of-nathabee.de"] = emailRouting("t", "nathabee.de");
        const error = await deploy("zonetake1", withTakeOver()).catch((e: Error) => e);
        expect((error as Error).message).toContain("(id t-mx2), which mailstack cannot take over");
        expect((error as Error).message).not.toContain("t-spf");

        zoneRecords["zone-of-nathabee.de"] = emailRouting("t", "nathabee.de").filter((r) => r.id !== "t-mx2");
        const res = await deploy("zonetake2", withTakeOver());
        const imported = Object.fromEntries(res.options.filter((o) => o.import).map((o) => [o.name, o.import]));
        expect(imported).toEqual({
            // As `pulumi import cloudflare:index/dnsRecord:DnsRecord` takes it: <zone_id>/<record id>.
            "zonetake2-dns-nathabee.de-mx-nathabee.de": "zone-of-nathabee.de/t-mx1",
            "zonetake2-dns-nathabee.de-txt-nathabee.de": "zone-of-nathabee.de/t-spf",
            "zonetake2-dns-nathabee.de-txt-_dmarc.nathabee.de": "zone-of-nathabee.de/t-dmarc",
        });
    });
});

describe("Cloudflare's request budget", () => {
    afterEach(() => {
        for (const k of Object.keys(zoneRecords)) delete zoneRecords[k];
    });

    test("new domains over mailstack:rollout.newDomainsPerUp wait for the next up, said in a warning; a domain whose records exist is never left out", async () => {
        const three = (): RawConfig => {
            const raw = twoDomains();
            const extra = {
                name: "third.example",
                mailboxes: ["dora"],
                aliases: { postmaster: ["dora@third.example"] },
            };
            return { ...raw, domains: [...(raw.domains as object[]), extra], rollout: { newDomainsPerUp: 1 } };
        };
        const warn = jest.spyOn(pulumi.log, "warn").mockResolvedValue(undefined);
        try {
            const first = await deploy("budget1", three());
            expect(first.spec.domains.map((d) => d.name)).toEqual(["nathabee.de", "example.org"]);
            expect(new Set(records(first.resources).map((r) => r.inputs.zoneId))).toEqual(
                new Set(["zone-of-nathabee.de", "zone-of-example.org"]),
            );
            const mailData: string = find(first.resources, COMMAND, "budget1-provision-mail-data").inputs.stdin;
            expect(bundleFile(mailData, "/etc/postfix/mailstack/virtual-mailboxes")).not.toContain("third.example");
            expect(warn).toHaveBeenCalledWith(
                expect.stringMatching(
                    /^mailstack: 1 new domain waits for the next pulumi up \(third\.example\): Cloudflare allows 1200 API requests per 5 minutes per token, and this up makes about \d+ \(mailstack:rollout\.newDomainsPerUp is 1\)\. Run pulumi up again in 5 minutes to add them$/,
                ),
            );

            // The next up: example.org's records are there (this state's), so only third.example is new.
            warn.mockClear();
            zoneRecords["zone-of-example.org"] = [
                {
                    id: "held-mx",
                    name: "example.org",
                    type: "MX",
                    content: "mail.nathabee.de",
                    comment: `${OURS}mail for example.org goes to mail.nathabee.de`,
                },
            ];
            const second = await deploy("budget2", three());
            expect(second.spec.domains.map((d) => d.name)).toEqual(["nathabee.de", "example.org", "third.example"]);
            expect(warn).not.toHaveBeenCalled();
        } finally {
            warn.mockRestore();
        }
    });
});

describe("rotating a DKIM key", () => {
    /** nathabee.de signing with `selector`, with `retired` selectors still listed. */
    const rotated = (selector: string, retired: Record<string, string>): RawConfig => {
        const raw = oneDomain();
        const [d] = raw.domains as object[];
        return { ...raw, domains: [{ ...d, dkimSelector: selector, dkimRetiredSelectors: retired }] };
    };
    const dkimRecords = (resources: RecordedResource[]) =>
        records(resources)
            .filter((r) => r.inputs.name.includes("._domainkey."))
            .map((r) => [r.inputs.name, r.inputs.comment])
            .sort();
    const publicPem = (resources: RecordedResource[], name: string) =>
        find(resources, PRIVATE_KEY, name).inputs.publicKeyPem ?? "";

    test("a new selector gets a new key, published before it signs; the old one stays published (not installed) until its day, then record and key go", async () => {
        const before = await deploy("rot0", oneDomain());
        expect(dkimRecords(before.resources)).toEqual([
            ["mail._domainkey.nathabee.de", `${OURS}DKIM public key of the key OpenDKIM signs with`],
        ]);

        // The rotation: mail2 signs, mail stays published until 2026-12-09.
        const during = await deploy(
            "rot1",
            rotated("mail2", { mail: "2026-12-09" }),
            undefined,
            undefined,
            new Date("2026-12-02T12:00:00Z"),
        );
        expect(dkimRecords(during.resources)).toEqual([
            ["mail._domainkey.nathabee.de", `${OURS}retired DKIM key, no longer signing, published until 2026-12-09`],
            ["mail2._domainkey.nathabee.de", `${OURS}DKIM public key of the key OpenDKIM signs with`],
        ]);
        const keys = during.resources.filter((r) => r.type === PRIVATE_KEY && r.name.startsWith("rot1-dkim-"));
        expect(keys.map((k) => k.name).sort()).toEqual(["rot1-dkim-nathabee.de-mail", "rot1-dkim-nathabee.de-mail2"]);
        // The key of the deployment before the rotation was the one of `mail`: it keeps it.
        expect(during.options.find((o) => o.name === "rot1-dkim-nathabee.de-mail")?.aliasNames).toEqual([
            "rot1-dkim-nathabee.de",
        ]);
        expect(during.options.find((o) => o.name === "rot1-dkim-nathabee.de-mail2")?.aliasNames).toEqual([]);
        // Each record carries its own key.
        const content = (n: string) =>
            txtValue(records(during.resources).find((r) => r.inputs.name === n)!.inputs.content);
        const b64 = (pem: string) => pem.replace(/-----[A-Z ]+-----|\s/g, "");
        expect(content("mail2._domainkey.nathabee.de")).toContain(
            b64(publicPem(during.resources, "rot1-dkim-nathabee.de-mail2")),
        );
        expect(content("mail._domainkey.nathabee.de")).toContain(
            b64(publicPem(during.resources, "rot1-dkim-nathabee.de-mail")),
        );

        // OpenDKIM gets the new key alone and signs with mail2; the dkim step prunes the old key file.
        const dkimStep = find(during.resources, COMMAND, "rot1-provision-dkim").inputs.stdin as string;
        expect(parseBundle(dkimStep).map((f) => f.path)).toEqual([
            "/etc/opendkim/keys/nathabee.de.mail2.private",
            "/etc/opendkim/key.table",
            "/etc/opendkim/signing.table",
        ]);
        expect(bundleFile(dkimStep, "/etc/opendkim/signing.table")).toContain(
            "*@nathabee.de mail2._domainkey.nathabee.de\n",
        );
        expect(dkimStep).toContain("\nprune /etc/opendkim/keys *.private restart:opendkim\n");
        // ... and only after the new selector's record exists: the step depends on it.
        const record = during.options.find((o) => o.name === "rot1-dns-nathabee.de-txt-mail2._domainkey.nathabee.de")!;
        const step = during.options.find((o) => o.name === "rot1-provision-dkim")!;
        expect(step.dependsOnList).toContain(record.resource);

        // The day after its last day: the old record and key are gone; nothing else changes.
        const after = await deploy(
            "rot2",
            rotated("mail2", { mail: "2026-12-09" }),
            undefined,
            undefined,
            new Date("2026-12-10T00:00:01Z"),
        );
        expect(dkimRecords(after.resources)).toEqual([
            ["mail2._domainkey.nathabee.de", `${OURS}DKIM public key of the key OpenDKIM signs with`],
        ]);
        expect(
            after.resources.filter((r) => r.type === PRIVATE_KEY && r.name.startsWith("rot2-dkim-")).map((k) => k.name),
        ).toEqual(["rot2-dkim-nathabee.de-mail2"]);
        // Its last day still counts.
        const lastDay = await deploy(
            "rot3",
            rotated("mail2", { mail: "2026-12-09" }),
            undefined,
            undefined,
            new Date("2026-12-09T23:59:59Z"),
        );
        expect(dkimRecords(lastDay.resources)).toHaveLength(2);
    });

    test("a selector that signs cannot be retired too; a retirement date must be a date", () => {
        expect(() => buildSpec({ ...rotated("mail", { mail: "2026-12-09" }), passwords: {} })).toThrow(
            /mailstack:domains\[0\]\.dkimRetiredSelectors\.mail: is the signing selector/,
        );
        expect(() => buildSpec({ ...rotated("mail2", { mail: "next week" }), passwords: {} })).toThrow(
            /mailstack:domains\[0\]\.dkimRetiredSelectors\.mail: must be a date YYYY-MM-DD/,
        );
        expect(() => buildSpec({ ...rotated("mail2", { mail: "2026-13-40" }), passwords: {} })).toThrow(
            /dkimRetiredSelectors\.mail: is not a calendar date/,
        );
        expect(() => buildSpec({ ...rotated("mail2", { Bad_Selector: "2026-12-09" }), passwords: {} })).toThrow(
            /dkimRetiredSelectors/,
        );
    });
});
