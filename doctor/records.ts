// Published DNS against what the stack says it published (the `dnsRecords` output), one
// check per name and type, so that a mismatch is named exactly: which record, what DNS
// has, what it should have.

import { parseRecord, txtValue } from "../render/dns/text";
import { canonicalIp, type Lookup, type QueryType } from "./dns";
import { fail, ok, type Check } from "./types";

/** The records of one name and type, as DNS answers would show them. */
export interface ExpectedSet {
    readonly name: string;
    readonly type: QueryType;
    readonly values: readonly string[];
}

/** `dnsRecords` lines, grouped by name and type, in DNS answer form (TXT unquoted, SRV fields joined). */
export function expectedSets(lines: readonly string[]): ExpectedSet[] {
    const sets = new Map<string, { name: string; type: QueryType; values: string[] }>();
    for (const line of lines) {
        const r = parseRecord(line);
        const name = r.name.toLowerCase();
        const value =
            r.type === "SRV"
                ? `${r.srv!.priority} ${r.srv!.weight} ${r.srv!.port} ${r.srv!.target}`
                : r.type === "MX"
                  ? `${r.priority} ${r.content!.toLowerCase()}`
                  : r.type === "TXT"
                    ? txtValue(r.content!)
                    : r.type === "CAA"
                      ? `${r.caa!.flags} ${r.caa!.tag} ${r.caa!.value}`
                      : r.type === "CNAME"
                        ? r.content!.toLowerCase()
                        : r.content!;
        const key = `${r.type} ${name}`;
        if (!sets.has(key)) sets.set(key, { name, type: r.type, values: [] });
        sets.get(key)!.values.push(value);
    }
    return [...sets.values()];
}

/** `v=spf1`, `v=DKIM1`, ...: the tag that says what a TXT record is. */
function txtKind(value: string): string {
    return (/^v=[^;\s]+/i.exec(value.trim())?.[0] ?? "").toLowerCase();
}

/** What the record is, for the check's name and fix. */
function label(set: ExpectedSet): string {
    if (set.type !== "TXT") return set.type;
    const kind = txtKind(set.values[0]);
    if (kind === "v=spf1") return "SPF";
    if (kind === "v=dkim1") return "DKIM";
    if (kind === "v=dmarc1") return "DMARC";
    if (kind === "v=tlsrptv1") return "TLS-RPT";
    return "TXT";
}

const show = (values: readonly string[]) => (values.length ? values.map((v) => `"${v}"`).join(", ") : "nothing");
const short = (v: string) => (v.length > 60 ? `${v.slice(0, 40)}...${v.slice(-12)}` : v);

/**
 * The problem with one name and type, or undefined when DNS has exactly what was published.
 * TXT records share a name with others (site verifications at the apex), so only those of
 * the same kind count: exactly the published SPF record, one DKIM key, one DMARC policy.
 * Every other type must match as a whole set.
 */
export function compareSet(set: ExpectedSet, answers: readonly string[]): string | undefined {
    const norm = (v: string) => (set.type === "A" || set.type === "AAAA" ? canonicalIp(v) : v.trim());
    const relevant = (set.type === "TXT" ? answers.filter((a) => txtKind(a) === txtKind(set.values[0])) : answers).map(
        norm,
    );
    const expected = set.values.map(norm);
    const missing = expected.filter((v) => !relevant.includes(v));
    const extra = relevant.filter((v) => !expected.includes(v));
    if (missing.length === 0 && extra.length === 0 && relevant.length === expected.length) return undefined;
    const what = label(set);
    if (relevant.length === 0) return `no ${what} record at ${set.name}`;
    if (what === "SPF" && relevant.length > 1)
        return `${relevant.length} SPF records at ${set.name} (a permanent SPF error, RFC 7208 4.5): ${show(relevant.map(short))}`;
    if (relevant.length > expected.length && missing.length === 0)
        return `${set.name} has ${what} ${show(extra.map(short))} besides the published one`;
    return `${set.name} ${what} is ${show(relevant.map(short))}, not the published ${show(expected.map(short))}`;
}

/** The fix for a record that differs: the stack publishes it, so `pulumi up` puts it back. */
function fixFor(set: ExpectedSet, problem: string): string {
    if (/besides|SPF records at/.test(problem))
        return `delete the other ${label(set)} record at ${set.name} in Cloudflare (mailstack manages the one with the "mailstack:" comment)`;
    return `run \`pulumi up --refresh\` to publish it again; if it matches in Cloudflare, wait for the TTL (DNS has not caught up)`;
}

/** When the resolver does not answer at all. */
export const RESOLVER_FIX = "the resolver does not answer: check this machine's network and DNS, or pass --resolver";

/** One check per name and type of the published records. */
export function recordChecks(lines: readonly string[], lookup: Lookup): Check[] {
    return expectedSets(lines).map((set) => ({
        check: `dns ${label(set)} ${set.name}`,
        onError: RESOLVER_FIX,
        run: async () => {
            const answers = await lookup(set.name, set.type);
            const problem = compareSet(set, answers);
            if (problem) return fail(problem, fixFor(set, problem));
            return ok(set.values.map(short).join(", "));
        },
    }));
}
