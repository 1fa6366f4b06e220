// DNS records as text: TXT character-strings, a record's key and its zone-file line (the
// `dnsRecords` output the doctor reads back), reverse names.

import type { MailDnsRecord } from "./record";

/**
 * A TXT value as RFC 1035 character-strings: quoted, at most 255 bytes each, separated by a
 * space. Cloudflare returns TXT content in exactly this form, so anything else would show up
 * as drift in every `pulumi preview`.
 */
export function txtContent(value: string): string {
    if (/["\\]/.test(value)) throw new Error(`TXT value must not contain quotes or backslashes: ${value}`);
    const chunks: string[] = [];
    for (let i = 0; i < value.length; i += 255) chunks.push(value.slice(i, i + 255));
    return chunks.map((c) => `"${c}"`).join(" ");
}

/** The inverse of txtContent: what a resolver hands to a DKIM/SPF verifier. */
export function txtValue(content: string): string {
    return [...content.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join("");
}

/** MX preferences (RFC 5321 5.1: lower is tried first): the primary, then the backup MX. */
export const PRIMARY_MX_PREFERENCE = 10;
export const SECONDARY_MX_PREFERENCE = 20;

/**
 * A stable, unique resource-name suffix for a record (CAA: one per tag at the same name; MX:
 * the backup MX's by its preference, the primary's as it always was).
 */
export function recordKey(record: Pick<MailDnsRecord, "type" | "name" | "caa" | "priority">): string {
    const backupMx = record.type === "MX" && record.priority !== undefined && record.priority !== PRIMARY_MX_PREFERENCE;
    return `${record.type.toLowerCase()}${record.caa ? `-${record.caa.tag}` : ""}${backupMx ? `-${record.priority}` : ""}-${record.name}`;
}

/** `name TYPE [priority] content`, as a zone file would show it. */
export function describeRecord(r: MailDnsRecord): string {
    if (r.srv) return `${r.name} SRV ${r.srv.priority} ${r.srv.weight} ${r.srv.port} ${r.srv.target}`;
    if (r.caa) return `${r.name} CAA ${r.caa.flags} ${r.caa.tag} "${r.caa.value}"`;
    return `${r.name} ${r.type}${r.priority !== undefined ? ` ${r.priority}` : ""} ${r.content}`;
}

/**
 * The inverse of describeRecord, for the `dnsRecords` stack output: what `mailstack doctor`
 * compares public DNS with. TXT content stays in its quoted form.
 */
export function parseRecord(
    line: string,
): Pick<MailDnsRecord, "name" | "type" | "content" | "priority" | "srv" | "caa"> {
    const m = /^(\S+) (MX|A|AAAA|CNAME|TXT|SRV|CAA) (.+)$/.exec(line.trim());
    if (!m) throw new Error(`not a DNS record line (name TYPE content): ${line}`);
    const [, name, type, rest] = m as unknown as [string, string, MailDnsRecord["type"], string];
    if (type === "SRV") {
        const f = /^(\d+) (\d+) (\d+) (\S+)$/.exec(rest);
        if (!f) throw new Error(`not an SRV record (priority weight port target): ${line}`);
        return { name, type, srv: { priority: +f[1], weight: +f[2], port: +f[3], target: f[4] } };
    }
    if (type === "CAA") {
        const f = /^(\d+) ([a-z]+) "(.*)"$/.exec(rest);
        if (!f) throw new Error(`not a CAA record (flags tag "value"): ${line}`);
        return { name, type, caa: { flags: +f[1], tag: f[2] as "issue" | "iodef", value: f[3] } };
    }
    if (type === "MX") {
        const f = /^(\d+) (\S+)$/.exec(rest);
        if (!f) throw new Error(`not an MX record (preference host): ${line}`);
        return { name, type, priority: +f[1], content: f[2] };
    }
    return { name, type, content: rest };
}

/** Reverse-DNS names: 25.2.0.192.in-addr.arpa, and the nibble form for IPv6. */
export function reverseName(ip: string): string {
    return `${reverseLabels(ip)}.${ip.includes(":") ? "ip6" : "in-addr"}.arpa`;
}

/** The address's labels in reverse order (RFC 1035 3.5, RFC 3596 2.5): also how DNSBLs are queried (RFC 5782). */
export function reverseLabels(ip: string): string {
    if (!ip.includes(":")) return ip.split(".").reverse().join(".");
    const halves = ip.split("::");
    const head = halves[0] ? halves[0].split(":") : [];
    const tail = halves.length > 1 && halves[1] ? halves[1].split(":") : [];
    const groups = [...head, ...Array<string>(8 - head.length - tail.length).fill("0"), ...tail];
    const nibbles = groups.map((g) => g.padStart(4, "0")).join("");
    return [...nibbles.toLowerCase()].reverse().join(".");
}
