// DNS as the doctor asks it: one function per query, answers normalized to the form the
// stack's `dnsRecords` output uses, so that a comparison is a comparison of strings.
// The resolver is an option (`--resolver`): the system's by default, the lab's in the lab.

import { Resolver } from "node:dns/promises";
import { isIPv6 } from "node:net";

export type QueryType = "A" | "AAAA" | "CNAME" | "MX" | "TXT" | "SRV" | "CAA" | "PTR";

/**
 * What a name has of one type: the values (none when the name or the type does not exist,
 * NXDOMAIN or NODATA alike). A resolver that does not answer throws a DnsError.
 */
export type Lookup = (name: string, type: QueryType) => Promise<string[]>;

export class DnsError extends Error {
    constructor(
        message: string,
        readonly code: string,
    ) {
        super(message);
    }
}

/** An IPv6 address in one canonical form (all eight groups, lower case, no leading zeros). */
export function canonicalIp(ip: string): string {
    if (!isIPv6(ip)) return ip;
    const halves = ip.toLowerCase().split("::");
    const head = halves[0] ? halves[0].split(":") : [];
    const tail = halves.length > 1 && halves[1] ? halves[1].split(":") : [];
    const groups = [...head, ...Array<string>(8 - head.length - tail.length).fill("0"), ...tail];
    return groups.map((g) => g.replace(/^0+(?=.)/, "")).join(":");
}

const NO_RECORD = new Set(["ENOTFOUND", "ENODATA", "NXDOMAIN", "NODATA"]);

/**
 * A Lookup on real DNS: `servers` like `192.0.2.7`, `192.0.2.7:5353`, `[2001:db8::7]:53`
 * (the system's resolvers when empty); each query gives up after `timeoutMs`.
 */
export function systemLookup(servers: readonly string[], timeoutMs: number): Lookup {
    const resolver = new Resolver({ timeout: Math.max(500, Math.floor(timeoutMs / 2)), tries: 2 });
    if (servers.length > 0) resolver.setServers([...servers]);
    const strip = (n: string) => n.replace(/\.$/, "").toLowerCase();
    return async (name, type) => {
        try {
            switch (type) {
                case "A":
                    return await resolver.resolve4(name);
                case "AAAA":
                    return (await resolver.resolve6(name)).map(canonicalIp);
                case "MX":
                    return (await resolver.resolveMx(name)).map((m) => `${m.priority} ${strip(m.exchange)}`);
                case "TXT":
                    return (await resolver.resolveTxt(name)).map((chunks) => chunks.join(""));
                case "SRV":
                    return (await resolver.resolveSrv(name)).map(
                        (s) => `${s.priority} ${s.weight} ${s.port} ${strip(s.name) || "."}`,
                    );
                case "PTR":
                    return (await resolver.resolvePtr(name)).map(strip);
                case "CNAME":
                    return (await resolver.resolveCname(name)).map(strip);
                case "CAA":
                    // `flags tag value`, as the stack's CAA records are written.
                    return (await resolver.resolveCaa(name)).map((c) => {
                        const tag = Object.keys(c).find((k) => k !== "critical" && k !== "type")!;
                        return `${c.critical} ${tag} ${(c as unknown as Record<string, string>)[tag]}`;
                    });
            }
        } catch (err) {
            const code = (err as { code?: string }).code ?? "";
            if (NO_RECORD.has(code)) return [];
            throw new DnsError(`${type} ${name}: the resolver gave no answer (${code || String(err)})`, code);
        }
    };
}

/** The resolver option as `setServers` wants it: `IP`, `IP:PORT`, `[IPv6]:PORT`. */
export function resolverAddress(value: string): string {
    if (isIPv6(value)) return value;
    if (/^\[[0-9a-fA-F:.]+\](:\d+)?$/.test(value) || /^\d+\.\d+\.\d+\.\d+(:\d+)?$/.test(value)) return value;
    throw new Error(`--resolver: "${value}" is not an IP address (IP, IP:PORT or [IPv6]:PORT)`);
}
