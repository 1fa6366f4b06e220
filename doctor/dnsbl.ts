// Blocklists (DNSBLs, RFC 5782): is either address or any of our domains listed where the
// big receivers look? A list answers with 127.0.0.x for a listing, but several also answer
// with codes that mean "I refuse to answer you" (a public resolver, too many queries); those
// are reported unknown, never listed. A list that does not list its own test entry is not
// answering at all (blocked resolver, a resolver that rewrites NXDOMAIN, the lab): unknown
// too, so that "not listed" is only said when the list is known to be answering.

import { reverseLabels } from "../render/dns/text";
import { DnsError, type Lookup } from "./dns";
import { fail, ok, unknown, type Check } from "./types";

export interface Blocklist {
    readonly zone: string;
    /** What is looked up: an address (reversed labels) or a domain name. */
    readonly kind: "ip" | "domain";
    /** An address list that also lists IPv6 (nibbles, RFC 5782 2.4); many are IPv4 only. */
    readonly ipv6?: boolean;
    /** The entry the list always lists (RFC 5782 5: 127.0.0.2, or the name TEST). */
    readonly testEntry: string;
    /** Answers that are refusals, not listings. */
    readonly refused: (answer: string) => string | undefined;
    /** Where to ask for removal. */
    readonly removal: string;
}

/** Spamhaus' error codes (127.255.255.0/24), for every zone. */
function spamhausRefused(a: string): string | undefined {
    if (a === "127.255.255.252") return "typing error in the zone name";
    if (a === "127.255.255.254") return "query via a public/open resolver, which Spamhaus refuses";
    if (a === "127.255.255.255") return "excessive number of queries from this resolver";
    if (a.startsWith("127.255.255.")) return `Spamhaus error code ${a}`;
    return undefined;
}

/** The major public lists: Spamhaus ZEN and DBL, SpamCop, Barracuda, URIBL. */
export const PUBLIC_BLOCKLISTS: readonly Blocklist[] = [
    {
        zone: "zen.spamhaus.org",
        kind: "ip",
        ipv6: true,
        testEntry: "127.0.0.2",
        refused: spamhausRefused,
        removal: "https://check.spamhaus.org/",
    },
    {
        zone: "bl.spamcop.net",
        kind: "ip",
        testEntry: "127.0.0.2",
        refused: () => undefined,
        removal: "https://www.spamcop.net/bl.shtml",
    },
    {
        zone: "b.barracudacentral.org",
        kind: "ip",
        testEntry: "127.0.0.2",
        refused: () => undefined,
        removal: "https://www.barracudacentral.org/rbl/removal-request",
    },
    {
        zone: "dbl.spamhaus.org",
        kind: "domain",
        testEntry: "dbltest.com",
        // 127.0.1.255: an IP address was asked of a domain list.
        refused: (a) => spamhausRefused(a) ?? (a === "127.0.1.255" ? "an address queried on a domain list" : undefined),
        removal: "https://check.spamhaus.org/",
    },
    {
        zone: "multi.uribl.com",
        kind: "domain",
        testEntry: "test.uribl.com",
        // URIBL answers 127.0.0.1 to resolvers it blocks (too many queries, public resolvers).
        refused: (a) => (a === "127.0.0.1" ? "query refused (URIBL blocks this resolver)" : undefined),
        removal: "https://admin.uribl.com/",
    },
];

/** A list given on the command line: RFC 5782's test entries and codes, nothing refused. */
export function customBlocklist(zone: string, kind: Blocklist["kind"]): Blocklist {
    return {
        zone: zone.replace(/\.$/, "").toLowerCase(),
        kind,
        ipv6: true,
        testEntry: kind === "ip" ? "127.0.0.2" : "test",
        refused: (a) => (a === "127.0.0.1" ? "127.0.0.1 (RFC 5782 says it must never be listed)" : undefined),
        removal: `the operator of ${zone}`,
    };
}

export type Verdict =
    | { readonly state: "listed"; readonly codes: readonly string[] }
    | { readonly state: "clean" }
    | { readonly state: "unknown"; readonly why: string };

/** What one list's answer to one query means. */
export function classify(list: Blocklist, answers: readonly string[]): Verdict {
    if (answers.length === 0) return { state: "clean" };
    const refusals = answers.map((a) => list.refused(a)).filter((r): r is string => r !== undefined);
    if (refusals.length > 0) return { state: "unknown", why: refusals[0] };
    // A listing is in 127.0.0.0/8 (RFC 5782 2.3); anything else is a resolver making up answers.
    const odd = answers.filter((a) => !a.startsWith("127."));
    if (odd.length > 0) return { state: "unknown", why: `answer ${odd.join(", ")} is not a blocklist code` };
    return { state: "listed", codes: [...answers].sort() };
}

/** The DNS name to look up for `subject` on `list`. */
export function queryName(list: Blocklist, subject: string): string {
    return list.kind === "ip" ? `${reverseLabels(subject)}.${list.zone}` : `${subject}.${list.zone}`;
}

async function verdictOf(list: Blocklist, subject: string, lookup: Lookup): Promise<Verdict> {
    try {
        return classify(list, await lookup(queryName(list, subject), "A"));
    } catch (err) {
        if (err instanceof DnsError) return { state: "unknown", why: err.message };
        throw err;
    }
}

/**
 * One check per list and subject. The list's test entry is asked once per list first: a
 * list that does not list it cannot say that anything is clean.
 */
export function blocklistChecks(
    lists: readonly Blocklist[],
    subjects: { readonly ips: readonly string[]; readonly domains: readonly string[] },
    lookup: Lookup,
): Check[] {
    return lists.flatMap((list) => {
        let alive: Promise<Verdict> | undefined;
        const answering = () => (alive ??= verdictOf(list, list.testEntry, lookup));
        const ips = subjects.ips.filter((ip) => list.ipv6 || !ip.includes(":"));
        return (list.kind === "ip" ? ips : subjects.domains).map((subject): Check => ({
            check: `dnsbl ${list.zone} ${subject}`,
            onError: "ask from a resolver of your own (--resolver)",
            run: async () => {
                const [test, verdict] = await Promise.all([answering(), verdictOf(list, subject, lookup)]);
                if (verdict.state === "listed")
                    return fail(
                        `${subject} is listed (${verdict.codes.join(", ")})`,
                        `find why and ask for removal at ${list.removal}`,
                    );
                if (verdict.state === "unknown")
                    return unknown(`cannot tell: ${verdict.why}`, "ask from a resolver of your own (--resolver)");
                if (test.state !== "listed")
                    return unknown(
                        `cannot tell: the list did not list its test entry ${list.testEntry} (${test.state === "unknown" ? test.why : "not listed"}), so it is not answering this resolver`,
                        "ask from a resolver of your own (--resolver)",
                    );
                return ok("not listed");
            },
        }));
    });
}
