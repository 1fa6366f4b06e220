// The budget for Cloudflare's API rate limit (render/dns/rollout.ts): what one `pulumi up`
// asks of the API, and which new domains wait for the next one.
import { mailDnsRecords } from "../render/dns/dns-records";
import {
    CLOUDFLARE_REQUEST_LIMIT,
    planRollout,
    preflightRequests,
    PROGRAM_RUNS_PER_UP,
    type DomainCost,
} from "../render/dns/rollout";
import { buildSpec, type RawConfig } from "../model";
import { oneDomain } from "./helpers/fixtures";

/** The hostname's domain and `n - 1` more, each with a postmaster. */
function domains(n: number, rollout?: { newDomainsPerUp: number }): RawConfig {
    const base = oneDomain();
    const more = Array.from({ length: n - 1 }, (_, i) => ({
        name: `d${i}.example`,
        mailboxes: ["someone"],
        aliases: { postmaster: [`someone@d${i}.example`] },
    }));
    return { ...base, domains: [...(base.domains as object[]), ...more], ...(rollout ? { rollout } : {}) };
}

const facts = {
    ipv4: "192.0.2.1",
    ipv6: "2001:db8::1",
    dkimPublicKeyPem: `-----BEGIN PUBLIC KEY-----\n${"A".repeat(392)}\n-----END PUBLIC KEY-----`,
};

/** Each domain of a fresh deploy: empty zones looked up by name, none of its records there yet. */
function fresh(raw: RawConfig): DomainCost[] {
    const spec = buildSpec(raw);
    return spec.domains.map((d) => ({
        domain: d.name,
        held: 0,
        creates: mailDnsRecords(spec, d, facts).length,
        legacyComments: 0,
        preflight: preflightRequests(false, 0),
        hostsMailName: d.name === spec.hostnameDomain,
    }));
}

describe("Cloudflare's request budget for one pulumi up", () => {
    test("counts the pre-flight twice (preview and update), a zone lookup and a listing page per domain, and one request per record created", () => {
        expect(preflightRequests(false, 0)).toBe(2);
        expect(preflightRequests(true, 250)).toBe(3);
        const costs = fresh(domains(3));
        const plan = planRollout(costs, undefined);
        const creates = costs.reduce((n, c) => n + c.creates, 0);
        expect(plan.requests).toBe(PROGRAM_RUNS_PER_UP * 3 * 2 + creates);
        expect(plan.kept).toHaveLength(3);
        expect(plan.deferred).toEqual([]);
        expect(plan.notes).toEqual([]);
    });

    test("a first deploy of 100 domains stays under 1200 requests: the rest wait for the next up, named, with what to do", () => {
        const costs = fresh(domains(100));
        expect(costs[1].creates).toBeGreaterThanOrEqual(17);
        const first = planRollout(costs, undefined);
        expect(first.requests).toBeLessThanOrEqual(CLOUDFLARE_REQUEST_LIMIT);
        expect(first.kept[0]).toBe("nathabee.de");
        expect(first.kept.length).toBeGreaterThan(40);
        expect(first.kept.length + first.deferred.length).toBe(100);
        expect(first.problems).toEqual([]);
        expect(first.notes).toEqual([
            expect.stringMatching(
                new RegExp(
                    `^${first.deferred.length} new domains wait for the next pulumi up \\(d\\d+\\.example, .*\\): Cloudflare allows 1200 API requests per 5 minutes per token, and this up makes about ${first.requests}\\. Run pulumi up again in 5 minutes to add them$`,
                ),
            ),
        ]);

        // The next ups: the kept domains' records exist then; the deferred ones come, until all are there.
        let state = costs;
        let plan = first;
        let ups = 1;
        while (plan.deferred.length > 0) {
            const done = new Set(plan.kept);
            state = state.map((c) =>
                done.has(c.domain) && c.held === 0 ? { ...c, held: c.creates, creates: 0, preflight: 3 } : c,
            );
            plan = planRollout(state, undefined);
            expect(plan.requests).toBeLessThanOrEqual(CLOUDFLARE_REQUEST_LIMIT);
            expect(plan.problems).toEqual([]);
            ups += 1;
        }
        expect(plan.kept).toHaveLength(100);
        expect(ups).toBe(3);
        expect(plan.notes).toEqual([expect.stringContaining("pulumi refresh (or pulumi up --refresh) reads each")]);
    });

    test("mailstack:rollout.newDomainsPerUp caps the new domains; the hostname's domain is never deferred", () => {
        const spec = buildSpec(domains(5, { newDomainsPerUp: 2 }));
        expect(spec.rollout).toEqual({ newDomainsPerUp: 2 });
        const plan = planRollout(fresh(domains(5)), spec.rollout.newDomainsPerUp);
        expect(plan.kept).toEqual(["nathabee.de", "d0.example", "d1.example"]);
        expect(plan.deferred).toEqual(["d2.example", "d3.example"]);
        expect(plan.notes[0]).toContain("(mailstack:rollout.newDomainsPerUp is 2)");
        expect(buildSpec(oneDomain()).rollout).toEqual({});
    });

    test("an upgrade of 100 domains (old comments on every record) rewrites what fits and keeps the rest for later: it never fails", () => {
        const costs = fresh(domains(100)).map((c) => ({
            ...c,
            held: c.creates,
            legacyComments: c.creates,
            creates: 0,
        }));
        const plan = planRollout(costs, undefined);
        expect(plan.problems).toEqual([]);
        expect(plan.kept).toHaveLength(100);
        expect(plan.legacyCommentsKept.length).toBeGreaterThan(0);
        expect(plan.requests).toBeLessThanOrEqual(CLOUDFLARE_REQUEST_LIMIT);
        expect(plan.notes).toContainEqual(
            expect.stringMatching(
                /^the DNS record comments of \d+ domains \(.*\) get this stack's name in a later pulumi up/,
            ),
        );
    });

    test("a config whose zone checks alone exceed the limit is a clear error before anything is declared", () => {
        const costs = fresh(domains(320)).map((c) => ({ ...c, held: c.creates, creates: 0 }));
        const plan = planRollout(costs, undefined);
        expect(plan.problems).toEqual([
            expect.stringMatching(
                /^mailstack:domains: this pulumi up would make about 1280 Cloudflare API requests before adding any new domain .* a token may make 1200 in 5 minutes, and the provider does not wait\. Give each domain its zoneId/,
            ),
        ]);
    });
});
