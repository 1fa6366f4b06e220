// A budget for Cloudflare's API rate limit: 1200 requests per 5 minutes per token
// (https://developers.cloudflare.com/fundamentals/api/reference/limits/). Past it, every
// request gets HTTP 429 for the rest of the window.
//
// What the provider does on a 429: @pulumi/cloudflare 6.x is terraform-provider-cloudflare
// v5, built on cloudflare-go v4 (Stainless), which has no throttle of its own
// (terraform-provider-cloudflare#5505, open). Its client retries a 429:
// internal/requestconfig/requestconfig.go, NewRequestConfig `MaxRetries: 2`, shouldRetry
// (408, 409, 429, >= 500), retryDelay: the Retry-After header only when under a minute,
// else 0.5 s * 2^n capped at 8 s with jitter (v4.0.0 lines 203-228, cited in
// terraform-provider-cloudflare#5346): three attempts within about 1.5 s. cloudflare-go#4220
// (2026-01) raised it to 10 retries, 2 s base, 30 s cap, about 3 minutes. Neither outlasts a
// 5-minute window that one `pulumi up` used up, so the up fails half-way with the 429.
// Hence a budget: count what an up asks, and defer what does not fit to the next up.

import type { RecordsCost } from "./zone";

/** Cloudflare: requests per token per window. */
export const CLOUDFLARE_REQUEST_LIMIT = 1200;
export const CLOUDFLARE_WINDOW_MINUTES = 5;
/** `pulumi up` runs the program twice (its preview, then the update), each with the pre-flight. */
export const PROGRAM_RUNS_PER_UP = 2;
/** The pre-flight lists a zone's records in pages of this many (the API's default page size). */
export const LIST_PAGE_SIZE = 100;

/** One domain as the pre-flight saw it. */
export interface DomainCost extends RecordsCost {
    readonly domain: string;
    /** Requests of one pre-flight: the zone lookup (without zoneId) and the listing's pages. */
    readonly preflight: number;
    /** The domain holding the hostname: never deferred (every other domain's MX points there). */
    readonly hostsMailName: boolean;
}

export interface Rollout {
    /** Domains whose records this up publishes; the others are left out of this up. */
    readonly kept: readonly string[];
    /** New domains left for a later up. */
    readonly deferred: readonly string[];
    /** Held domains whose old comments stay this up (their rewrite would not fit). */
    readonly legacyCommentsKept: readonly string[];
    /** The requests this up makes, as counted. */
    readonly requests: number;
    /** Reads of `pulumi refresh` (or `up --refresh`): one per record in state, besides the above. */
    readonly refreshReads: number;
    /** Why the up cannot stay under the limit at all; empty when it can. */
    readonly problems: readonly string[];
    /** What to tell the user (deferred domains, a refresh over the limit). */
    readonly notes: readonly string[];
}

/** The pre-flight's requests for one zone. */
export function preflightRequests(hasZoneId: boolean, listedRecords: number): number {
    return (hasZoneId ? 0 : 1) + Math.max(1, Math.ceil(listedRecords / LIST_PAGE_SIZE));
}

/**
 * Which domains one `pulumi up` publishes within the budget. Domains whose records exist
 * (held) are always kept: leaving one out would delete its records. Their missing records
 * and every pre-flight come first; then new domains in config order (the hostname's first,
 * always), up to `newDomainsPerUp` and the budget; then the rewrite of old comments.
 */
export function planRollout(
    costs: readonly DomainCost[],
    newDomainsPerUp: number | undefined,
    limit = CLOUDFLARE_REQUEST_LIMIT,
): Rollout {
    const isNew = (c: DomainCost) => c.held === 0 && !c.hostsMailName;
    const fixed = costs.filter((c) => !isNew(c));
    let requests =
        PROGRAM_RUNS_PER_UP * costs.reduce((n, c) => n + c.preflight, 0) + fixed.reduce((n, c) => n + c.creates, 0);
    const problems: string[] = [];
    const notes: string[] = [];
    if (requests > limit)
        problems.push(
            `mailstack:domains: this pulumi up would make about ${requests} Cloudflare API requests before adding any new domain (the zone checks of ${costs.length} domains, twice, and the missing records of domains already deployed); a token may make ${limit} in ${CLOUDFLARE_WINDOW_MINUTES} minutes, and the provider does not wait. Give each domain its zoneId (saves a lookup per domain and run), or split the domains across stacks with their own API tokens`,
        );
    const kept = new Set(fixed.map((c) => c.domain));
    const deferred: string[] = [];
    for (const c of costs.filter(isNew)) {
        const capped = newDomainsPerUp !== undefined && kept.size - fixed.length >= newDomainsPerUp;
        if (capped || requests + c.creates > limit) deferred.push(c.domain);
        else {
            kept.add(c.domain);
            requests += c.creates;
        }
    }
    if (deferred.length > 0 && kept.size === fixed.length && problems.length === 0)
        problems.push(
            `mailstack:domains: no new domain fits in this pulumi up: ${deferred[0]} alone needs ${costs.find((c) => c.domain === deferred[0])!.creates} record creates, and the rest of the up makes about ${requests} of the ${limit} Cloudflare API requests a token may make in ${CLOUDFLARE_WINDOW_MINUTES} minutes`,
        );
    const legacyCommentsKept: string[] = [];
    for (const c of fixed.filter((x) => x.legacyComments > 0)) {
        if (requests + c.legacyComments > limit) legacyCommentsKept.push(c.domain);
        else requests += c.legacyComments;
    }
    if (deferred.length > 0)
        notes.push(
            `${deferred.length} new domain${deferred.length === 1 ? "" : "s"} wait${deferred.length === 1 ? "s" : ""} for the next pulumi up (${deferred.join(", ")}): Cloudflare allows ${limit} API requests per ${CLOUDFLARE_WINDOW_MINUTES} minutes per token, and this up makes about ${requests}${newDomainsPerUp !== undefined ? ` (mailstack:rollout.newDomainsPerUp is ${newDomainsPerUp})` : ""}. Run pulumi up again in ${CLOUDFLARE_WINDOW_MINUTES} minutes to add them`,
        );
    if (legacyCommentsKept.length > 0)
        notes.push(
            `the DNS record comments of ${legacyCommentsKept.length} domain${legacyCommentsKept.length === 1 ? "" : "s"} (${legacyCommentsKept.join(", ")}) get this stack's name in a later pulumi up, to stay within Cloudflare's ${limit} requests per ${CLOUDFLARE_WINDOW_MINUTES} minutes`,
        );
    const refreshReads = costs.filter((c) => kept.has(c.domain)).reduce((n, c) => n + c.held, 0);
    const refreshTotal = refreshReads + PROGRAM_RUNS_PER_UP * costs.reduce((n, c) => n + c.preflight, 0);
    if (refreshTotal > limit)
        notes.push(
            `pulumi refresh (or pulumi up --refresh) reads each of the ${refreshReads} DNS records once: with the zone checks about ${refreshTotal} Cloudflare API requests, more than the ${limit} per ${CLOUDFLARE_WINDOW_MINUTES} minutes a token may make. Refresh with --target, a part at a time`,
        );
    return {
        kept: costs.filter((c) => kept.has(c.domain)).map((c) => c.domain),
        deferred,
        legacyCommentsKept,
        requests,
        refreshReads,
        problems,
        notes,
    };
}
