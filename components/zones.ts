// The zone pre-flight: before any resource is declared, read each domain's Cloudflare zone
// and stop when a record mailstack does not manage would break mail next to ours (another
// MX, a second SPF, another _dmarc). See checkZone in render/dns/zone.ts.

import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";

import { checkZone, STATE_ID, type DnsOwner, type ExistingRecord } from "../render/dns/zone";
import { planRollout, preflightRequests, type DomainCost } from "../render/dns/rollout";
import type { MailSpec } from "../model";

/** What the pre-flight learnt about one domain's zone. */
export interface ZoneFacts {
    readonly zoneId: string;
    /** recordKey -> id of the existing record our record takes over (`takeOverRecords`). */
    readonly adopt: ReadonlyMap<string, string>;
    /** Who the records' comments name: this stack and its state id (unknown in a first preview). */
    readonly owner: { readonly stack: string; readonly stateId: pulumi.Output<string> };
    /** What publishing the domain's records asks of Cloudflare this up (rollout below). */
    readonly cost: DomainCost;
    /** Keep the records' old comments this up: their rewrite does not fit in the budget. */
    readonly keepLegacyComments?: boolean;
}

/**
 * This stack's name and state id for the records' comments (dnsComment). The state id is a
 * random value made with the state and kept in it: a record whose comment names this stack
 * with another id was made by a state that is gone. Declared before the pre-flight, which
 * needs it; it is local (no cloud API) and the only resource declared before the check.
 */
export async function dnsOwner(
    opts?: pulumi.CustomResourceOptions,
): Promise<DnsOwner & { readonly stateIdOutput: pulumi.Output<string> }> {
    const stack = `${pulumi.getProject()}/${pulumi.getStack()}`;
    const id = new random.RandomId("dns-owner", { byteLength: 4 }, opts);
    // A first deploy's preview has no value yet (the id is made by `up`), and an apply of an
    // unknown value never runs: ask the output whether it is known first. Every later
    // preview reads the id from the state.
    const isKnown = (id.hex as unknown as { isKnown?: Promise<boolean> }).isKnown;
    if (!(isKnown instanceof Promise)) throw new Error("dnsOwner: this @pulumi/pulumi's Output has no isKnown");
    if (!(await isKnown)) return { stack, stateIdOutput: id.hex };
    const stateId = await new Promise<string>((resolve) => id.hex.apply(resolve));
    if (!STATE_ID.test(stateId)) throw new Error(`dnsOwner: the state id is not 8 hex digits: ${stateId}`);
    return { stack, stateId, stateIdOutput: id.hex };
}

/** Cloudflare lists at most this many records per call; a zone with more is read in full or not at all. */
const MAX_RECORDS = 5000;

/** Read every zone and check it; throws a RunError naming each conflicting record. */
export async function readZones(
    spec: MailSpec,
    ownerOpts?: pulumi.CustomResourceOptions,
): Promise<Record<string, ZoneFacts>> {
    const owner = await dnsOwner(ownerOpts);
    const facts: Record<string, ZoneFacts> = {};
    const problems: string[] = [];
    for (const domain of spec.domains) {
        const zoneId = domain.zoneId ?? (await cloudflare.getZone({ filter: { name: domain.name } })).id;
        const listed = await cloudflare.getDnsRecords({ zoneId, maxItems: MAX_RECORDS });
        const existing: ExistingRecord[] = (listed.results ?? []).map((r) => ({
            id: r.id,
            name: r.name,
            type: r.type,
            content: r.content,
            ...(r.comment ? { comment: r.comment } : {}),
        }));
        if (existing.length >= MAX_RECORDS)
            problems.push(`${domain.name}: the zone has ${MAX_RECORDS} or more records; mailstack cannot check it`);
        const check = checkZone(spec, domain, existing, owner);
        problems.push(...check.problems);
        facts[domain.name] = {
            zoneId,
            adopt: check.adopt,
            owner: { stack: owner.stack, stateId: owner.stateIdOutput },
            cost: {
                domain: domain.name,
                ...check.cost,
                preflight: preflightRequests(domain.zoneId !== undefined, existing.length),
                hostsMailName: domain.name === spec.hostnameDomain,
            },
        };
    }
    if (problems.length > 0)
        throw new pulumi.RunError(
            `The DNS zones are not ready for mailstack:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
        );
    return facts;
}

/**
 * What this `pulumi up` publishes within Cloudflare's request budget (render/dns/rollout.ts):
 * the spec without the new domains that wait for a later up (each is added then, as any new
 * domain is), and the zones of those that keep their old comments this up. Says what it
 * deferred; throws a RunError when even the rest would not fit.
 */
export function rollout(
    spec: MailSpec,
    zones: Readonly<Record<string, ZoneFacts>>,
): { readonly spec: MailSpec; readonly zones: Record<string, ZoneFacts> } {
    const plan = planRollout(
        spec.domains.map((d) => zones[d.name].cost),
        spec.rollout.newDomainsPerUp,
    );
    if (plan.problems.length > 0)
        throw new pulumi.RunError(`Cloudflare's API rate limit:\n${plan.problems.map((p) => `  - ${p}`).join("\n")}`);
    for (const note of plan.notes) void pulumi.log.warn(`mailstack: ${note}`);
    const kept = new Set(plan.kept);
    const legacy = new Set(plan.legacyCommentsKept);
    return {
        spec: {
            ...spec,
            domains: spec.domains.filter((d) => kept.has(d.name)),
            // A deferred domain's senders for applications wait with it.
            senders: spec.senders.filter((s) => kept.has(s.slice(s.lastIndexOf("@") + 1))),
        },
        zones: Object.fromEntries(
            plan.kept.map((name) => [
                name,
                { ...zones[name], ...(legacy.has(name) ? { keepLegacyComments: true } : {}) },
            ]),
        ),
    };
}
