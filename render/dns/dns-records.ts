// Every DNS record a mail domain needs, from one function of the spec (as mox does), so that
// what the DNS component publishes, what the tests check and what the lab's DKIM verifier
// is given as DNS answer cannot drift apart.

import { createHash } from "node:crypto";

import {
    CLIENT_HOST_LABELS,
    clientHostName,
    dkimName,
    dmarcName,
    mtaStsName,
    REFUSED_SERVICES,
    SRV_SERVICES,
    srvName,
    tlsRptName,
    type DomainSpec,
    type MailSpec,
} from "../../model";
import { mtaStsRecordValue } from "../host/client-config";

/** One DNS record, with full names (never `@`), as Cloudflare stores it. */
export interface MailDnsRecord {
    /** Fully qualified name, no trailing dot. */
    readonly name: string;
    readonly type: "MX" | "A" | "AAAA" | "CNAME" | "TXT" | "SRV" | "CAA";
    /** Record content; TXT content is already split into quoted strings. Absent for SRV and CAA. */
    readonly content?: string;
    readonly ttl: number;
    /** MX preference; for SRV the same value as srv.priority (Cloudflare wants both). */
    readonly priority?: number;
    /** SRV fields (RFC 6186 client autoconfiguration). */
    readonly srv?: {
        readonly priority: number;
        readonly weight: number;
        readonly port: number;
        readonly target: string;
    };
    /**
     * CAA fields (RFC 8659), as Cloudflare's provider wants them in `data`: flags a number,
     * the value bare (Cloudflare adds the quotes in the record's content).
     */
    readonly caa?: { readonly flags: number; readonly tag: "issue" | "iodef"; readonly value: string };
    /** What the record is for, shown in `pulumi preview` as the record's comment. */
    readonly purpose: string;
    /**
     * Published only once the server serves what the record announces: the `_mta-sts` id
     * tells senders to fetch a new policy, which must be there by then (RFC 8461 3.1).
     */
    readonly publishAfter?: "mta-sts-policy";
}

/** Values only known at deploy time. */
export interface DnsFacts {
    readonly ipv4: string;
    readonly ipv6: string;
    /** PEM (SPKI, "PUBLIC KEY") of the domain's DKIM key. */
    readonly dkimPublicKeyPem: string;
    /**
     * Retired selector -> PEM public key, for the retired selectors still published (the
     * caller decides by date: spec's publishedRetiredSelectors). None when absent.
     */
    readonly dkimRetiredPublicKeysPem?: Readonly<Record<string, string>>;
    /** The backup MX's addresses; required when spec.secondaryMx is set. */
    readonly secondary?: { readonly ipv4: string; readonly ipv6: string };
}

/** MX preferences (RFC 5321 5.1: lower is tried first): the primary, then the backup MX. */
export const PRIMARY_MX_PREFERENCE = 10;
export const SECONDARY_MX_PREFERENCE = 20;

/** The last day a retired selector stays published; a selector not retired in the spec is a bug. */
function retiredUntil(domain: DomainSpec, selector: string): string {
    const r = domain.dkimRetired.find((x) => x.selector === selector);
    if (!r) throw new Error(`dns: ${selector} is not a retired DKIM selector of ${domain.name}`);
    return r.until;
}

/** Cloudflare's free plan allows record comments of 100 characters. */
export const DNS_COMMENT_LIMIT = 100;

/**
 * Who made a record: the stack (`<project>/<stack>`) and its state id, a random value made
 * once with the stack's state and kept in it (components/zones.ts). A record whose comment
 * names this stack with another state id was made by a state that is gone (lost, or the
 * stack removed and made again); one naming another stack belongs to that stack. Neither is
 * held by this state, so creating ours beside it fails (Cloudflare's 81058).
 */
export interface DnsOwner {
    /** `<project>/<stack>`. */
    readonly stack: string;
    /** The state id; absent while this stack's state has none yet (a first deploy's preview). */
    readonly stateId?: string;
}

/** A state id: 8 hex digits. */
export const STATE_ID = /^[0-9a-f]{8}$/;

/** The longest stack name a comment carries whole; a longer one is cut and keeps a hash of the rest. */
const OWNER_STACK_LIMIT = 40;

function ownerStack(stack: string): string {
    if (stack.length <= OWNER_STACK_LIMIT && !/[\s#]/.test(stack)) return stack;
    const hash = createHash("sha256").update(stack).digest("hex").slice(0, 8);
    return `${stack.replace(/[\s#]/g, "_").slice(0, OWNER_STACK_LIMIT - 9)}~${hash}`;
}

/**
 * The record's comment in Cloudflare: `mailstack:<project>/<stack>#<state id>: <purpose>`,
 * the purpose shortened to fit any plan. Written here only; read back by dnsCommentOwner.
 */
export function dnsComment(record: Pick<MailDnsRecord, "purpose">, owner: Required<DnsOwner> | "legacy"): string {
    if (owner !== "legacy" && !STATE_ID.test(owner.stateId)) throw new Error(`dns: not a state id: ${owner.stateId}`);
    // "legacy": the form before comments named the stack, kept while a rollout defers rewriting them.
    const by = owner === "legacy" ? " " : `${ownerStack(owner.stack)}#${owner.stateId}: `;
    const text = `mailstack:${by}${record.purpose}`;
    const chars = [...text];
    return chars.length <= DNS_COMMENT_LIMIT ? text : `${chars.slice(0, DNS_COMMENT_LIMIT - 3).join("")}...`;
}

/**
 * Who a comment says made the record: a stack and state id; `legacy` for mailstack's
 * comments before they named the stack (`mailstack: <purpose>`); undefined when mailstack
 * did not make it.
 */
export function dnsCommentOwner(comment: string | undefined): Required<DnsOwner> | "legacy" | undefined {
    const text = comment ?? "";
    if (!text.startsWith("mailstack:")) return undefined;
    const m = /^mailstack:([^\s#]+)#([0-9a-f]{8}): /.exec(text);
    return m ? { stack: m[1], stateId: m[2] } : "legacy";
}

/** One hour: short enough to fix a mistake the same day, long enough to be cached. */
export const MAIL_DNS_TTL = 3600;

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

/** `v=DKIM1; k=rsa; p=<base64 SPKI>` for a PEM public key. */
export function dkimRecordValue(publicKeyPem: string): string {
    const body = publicKeyPem
        .replace(/-----BEGIN PUBLIC KEY-----/, "")
        .replace(/-----END PUBLIC KEY-----/, "")
        .replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]+=*$/.test(body) || body.length < 300) {
        throw new Error('DKIM public key must be a PEM "PUBLIC KEY" of an RSA 2048 key');
    }
    return `v=DKIM1; k=rsa; p=${body}`;
}

export function spfValue(domain: DomainSpec): string {
    // mx: the only hosts that send our mail are the MX hosts (the backup MX, when there is one,
    // sends the bounces and delay notices it must). -all: everything else is forged.
    return ["v=spf1", "mx", ...domain.spfExtra, "-all"].join(" ");
}

export function dmarcValue(domain: DomainSpec): string {
    // adkim/aspf relaxed: subdomains of the domain may align (the defaults, stated for review).
    return `v=DMARC1; p=${domain.dmarc.policy}; rua=mailto:${domain.dmarc.rua}; adkim=r; aspf=r`;
}

/** A mail host's A, AAAA and own SPF records (its EHLO name is checked by receivers). */
function hostRecords(hostname: string, ipv4: string, ipv6: string, what: string, spfWhy: string): MailDnsRecord[] {
    const ttl = MAIL_DNS_TTL;
    return [
        { name: hostname, type: "A", content: ipv4, ttl, purpose: `${what} IPv4 (matches its PTR)` },
        { name: hostname, type: "AAAA", content: ipv6, ttl, purpose: `${what} IPv6 (matches its PTR)` },
        { name: hostname, type: "TXT", content: txtContent("v=spf1 a -all"), ttl, purpose: spfWhy },
    ];
}

/**
 * The records of one mail domain. The domain holding the hostname also gets the hostname's
 * A/AAAA records (the backup MX's likewise); every domain points its MX at that one host,
 * and with a backup MX a second MX of a higher preference at it.
 */
export function mailDnsRecords(spec: MailSpec, domain: DomainSpec, facts: DnsFacts): MailDnsRecord[] {
    const ttl = MAIL_DNS_TTL;
    const d = domain.name;
    const records: MailDnsRecord[] = [];
    const secondary = spec.secondaryMx;
    if (secondary && !facts.secondary)
        throw new Error("dns: mailstack:secondaryMx is set but its addresses are not known");
    if (spec.hostnameDomain === d) {
        // The host's own SPF: forwarded mail leaves with an SRS sender @hostname (postsrsd),
        // which must pass SPF as well.
        records.push(
            ...hostRecords(
                spec.hostname,
                facts.ipv4,
                facts.ipv6,
                "mail host",
                "SPF for the host name (EHLO, SRS senders)",
            ),
        );
    }
    if (secondary && secondary.hostnameDomain === d) {
        // Its bounces and delay notices come from MAILER-DAEMON, checked against its EHLO name.
        records.push(
            ...hostRecords(
                secondary.hostname,
                facts.secondary!.ipv4,
                facts.secondary!.ipv6,
                "backup MX",
                "SPF for the backup MX's name (EHLO, its bounces)",
            ),
        );
    }
    records.push(
        {
            name: d,
            type: "MX",
            content: spec.hostname,
            priority: PRIMARY_MX_PREFERENCE,
            ttl,
            purpose: `mail for ${d} goes to ${spec.hostname}`,
        },
        // Senders try it only when the primary does not answer (a higher preference).
        ...(secondary
            ? [
                  {
                      name: d,
                      type: "MX" as const,
                      content: secondary.hostname,
                      priority: SECONDARY_MX_PREFERENCE,
                      ttl,
                      purpose: `backup MX: queues mail for ${d} while ${spec.hostname} is down`,
                  },
              ]
            : []),
        {
            name: d,
            type: "TXT",
            content: txtContent(spfValue(domain)),
            ttl,
            purpose: "SPF: only the MX sends for this domain",
        },
        {
            name: dkimName(domain.dkimSelector, d),
            type: "TXT",
            content: txtContent(dkimRecordValue(facts.dkimPublicKeyPem)),
            ttl,
            purpose: "DKIM public key of the key OpenDKIM signs with",
        },
        // A rotation: the earlier keys stay published for mail signed before it, still in transit.
        ...Object.keys(facts.dkimRetiredPublicKeysPem ?? {})
            .sort()
            .map((selector) => ({
                name: dkimName(selector, d),
                type: "TXT" as const,
                content: txtContent(dkimRecordValue(facts.dkimRetiredPublicKeysPem![selector])),
                ttl,
                purpose: `retired DKIM key, no longer signing, published until ${retiredUntil(domain, selector)}`,
            })),
        {
            name: dmarcName(d),
            type: "TXT",
            content: txtContent(dmarcValue(domain)),
            ttl,
            purpose: "DMARC policy and reports",
        },
        // RFC 8460: receivers that fail TLS to us report it here. MTA-STS failures are
        // reported the same way, so this address serves both.
        {
            name: tlsRptName(d),
            type: "TXT",
            content: txtContent(`v=TLSRPTv1; rua=mailto:${domain.dmarc.rua}`),
            ttl,
            purpose: "SMTP TLS reporting",
        },
        // RFC 8461: senders that see this fetch https://mta-sts.<domain>/.well-known/mta-sts.txt
        // and then insist on verified TLS to our MX.
        {
            name: mtaStsName(d),
            type: "TXT",
            content: txtContent(mtaStsRecordValue(spec)),
            ttl,
            purpose: "MTA-STS: the policy's id (changes with the policy)",
            publishAfter: "mta-sts-policy",
        },
        // RFC 8659: only our ACME CA may issue for the domain and every name under it (the
        // client names too), and it reports refused requests to the domain's report address.
        // Flags 0: not critical, every CA understands issue and iodef.
        ...(["issue", "iodef"] as const).map((tag): MailDnsRecord => ({
            name: d,
            type: "CAA",
            ttl,
            caa: { flags: 0, tag, value: tag === "issue" ? spec.acmeCaaIdentity : `mailto:${domain.dmarc.rua}` },
            purpose:
                tag === "issue"
                    ? `CAA: only ${spec.acmeCaaIdentity} may issue certificates`
                    : "CAA: where CAs report refused requests",
        })),
        // Mail clients and senders find the HTTPS services under the domain itself. CNAMEs
        // follow the host's addresses; the certificate step covers each name.
        ...CLIENT_HOST_LABELS.map((label): MailDnsRecord => ({
            name: clientHostName(label, d),
            type: "CNAME",
            content: spec.hostname,
            ttl,
            purpose: `${label} (HTTPS on ${spec.hostname})`,
        })),
    );
    // RFC 6186/8314: mail clients find the server from the address alone. Target "." says a
    // service is not offered (plain IMAP and POP3 are not).
    // Cloudflare wants an SRV record's priority at the top level as well as in its data, or
    // every preview shows a change.
    const srv = (service: string, port: number, target: string, purpose: string): MailDnsRecord => {
        const priority = target === "." ? 0 : 10;
        return {
            name: srvName(service, d),
            type: "SRV",
            ttl,
            priority,
            srv: { priority, weight: target === "." ? 0 : 1, port, target },
            purpose,
        };
    };
    records.push(
        ...SRV_SERVICES.map((s) => srv(s.srv, s.port, spec.hostname, s.srvPurpose)),
        ...REFUSED_SERVICES.map((s) => srv(s.srv, 0, ".", s.purpose)),
    );
    return records;
}

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

/** A record already in a zone, as Cloudflare lists it. */
export interface ExistingRecord {
    readonly id: string;
    readonly name: string;
    readonly type: string;
    readonly content: string;
    readonly comment?: string;
}

/** What the zone pre-flight found for one domain. */
export interface ZoneCheck {
    /** Problems, each naming the conflicting record; empty when the zone is fine. */
    readonly problems: readonly string[];
    /** recordKey -> id of an existing record that our record takes over (imports, then rewrites). */
    readonly adopt: ReadonlyMap<string, string>;
    /** What publishing the domain's records asks of Cloudflare's API (render/dns/rollout.ts). */
    readonly cost: RecordsCost;
}

/** The API requests one up makes for a domain's records, from what its zone holds. */
export interface RecordsCost {
    /** Records of ours the zone already holds for this stack: its records exist, it is not new. */
    readonly held: number;
    /** Creates (and takeovers: an import's read and an update count as two). */
    readonly creates: number;
    /** Held records with an old comment (`mailstack: <purpose>`), rewritten by an update each. */
    readonly legacyComments: number;
}

/** A name as we compare it: lower case, no trailing dot. */
const bareName = (name: string) => name.toLowerCase().replace(/\.$/, "");

/**
 * Whose a mailstack record is, as the pre-flight sees it: `held` (this stack's state holds
 * it: its comment names this stack and state id, or it is a legacy comment, from before
 * comments named the stack: the upgrade of a deployment, whose records are in its state),
 * `foreign` (another stack's, or this stack's from a state that is gone), or `none`
 * (mailstack did not make it).
 */
export function recordOwnership(r: Pick<ExistingRecord, "comment">, owner: DnsOwner): "held" | "foreign" | "none" {
    const made = dnsCommentOwner(r.comment);
    if (made === undefined) return "none";
    if (made === "legacy") return "held";
    return made.stack === ownerStack(owner.stack) && made.stateId === owner.stateId ? "held" : "foreign";
}

/** The recordKey an existing record would have (CAA: the tag from its content `0 issue "..."`). */
function existingKey(r: ExistingRecord): string {
    const tag = r.type === "CAA" ? /^\d+\s+(\w+)/.exec(r.content)?.[1]?.toLowerCase() : undefined;
    return `${r.type.toLowerCase()}${tag ? `-${tag}` : ""}-${bareName(r.name)}`;
}

/** Who a foreign record's comment names, for the message. */
function madeBy(r: ExistingRecord, owner: DnsOwner): string {
    const made = dnsCommentOwner(r.comment);
    if (made === undefined || made === "legacy") return "mailstack";
    return made.stack === ownerStack(owner.stack)
        ? `this stack (${made.stack}) under another state (state id ${made.stateId}, this state's is ${owner.stateId ?? "not made yet"}): a lost or removed state`
        : `the stack ${made.stack}`;
}

/**
 * The records of a zone that would break mail next to ours: another MX (mail split between
 * hosts), a second SPF TXT at the apex (SPF permerror, RFC 7208 4.5), another `_dmarc`
 * record (DMARC ignores all of them), and a record mailstack made for another stack or
 * state at a name and type of ours (Cloudflare refuses the create: 81058 "An identical
 * record already exists"). With `domain.takeOverRecords`, one such record per record of
 * ours is taken over instead; what is left over must be deleted by hand.
 *
 * What stays unseen: a record this state made whose create response was lost (its comment
 * is this state's, the state does not hold it). The create then fails with 81058; delete
 * the record, or import it (`pulumi import`), and run `pulumi up` again.
 */
export function checkZone(
    spec: MailSpec,
    domain: DomainSpec,
    existing: readonly ExistingRecord[],
    owner: DnsOwner,
): ZoneCheck {
    const d = domain.name;
    const at = `mailstack:domains[${spec.domains.indexOf(domain)}]`;
    const ours = mailDnsRecords(spec, domain, {
        ipv4: "192.0.2.1",
        ipv6: "2001:db8::1",
        dkimPublicKeyPem: `-----BEGIN PUBLIC KEY-----\n${"A".repeat(392)}\n-----END PUBLIC KEY-----`,
        secondary: { ipv4: "192.0.2.2", ipv6: "2001:db8::2" },
    });
    const ourKeys = new Set(ours.map(recordKey));
    const ourKey = (kind: string) =>
        recordKey(
            ours.find((r) =>
                kind === "mx"
                    ? r.type === "MX" && r.name === d
                    : kind === "spf"
                      ? r.type === "TXT" && r.name === d
                      : r.type === "TXT" && r.name === dmarcName(d),
            )!,
        );
    const unmanaged = existing.filter((r) => recordOwnership(r, owner) === "none");
    const foreign = existing.filter((r) => recordOwnership(r, owner) === "foreign" && ourKeys.has(existingKey(r)));
    const conflicts = [
        ...foreign.map((r) => ({
            key: existingKey(r),
            r,
            why: `made by ${madeBy(r, owner)}, and this stack's state does not hold it: creating ours beside it fails (Cloudflare 81058, an identical record already exists)`,
        })),
        ...unmanaged.flatMap((r) => {
            const name = bareName(r.name);
            const text = r.type === "TXT" ? txtValue(r.content) || r.content : r.content;
            if (r.type === "MX" && name === d)
                return [{ key: ourKey("mx"), r, why: "mail would be split between MX hosts" }];
            if (r.type === "TXT" && name === d && /^v=spf1(\s|$)/i.test(text.trim()))
                return [{ key: ourKey("spf"), r, why: "two SPF records are a permanent SPF error" }];
            if (name === dmarcName(d))
                return [{ key: ourKey("dmarc"), r, why: "receivers ignore DMARC with two records" }];
            return [];
        }),
    ];
    // Names mailstack needs for itself, which it never takes over: Cloudflare refuses a CNAME
    // beside any other record of its name, and senders ignore MTA-STS with two TXT records.
    const ownNames = new Map(
        ours.filter((r) => r.type === "CNAME" || r.publishAfter).map((r) => [r.name, r.type] as const),
    );
    const taken = unmanaged
        .filter((r) => ownNames.has(bareName(r.name)))
        .map(
            (r) =>
                `${at}: the zone already has ${r.type} ${r.name} "${r.content}" (id ${r.id}), a name mailstack publishes as ${ownNames.get(bareName(r.name))} itself: delete it in Cloudflare`,
        );
    const adopt = new Map<string, string>();
    const problems: string[] = [];
    for (const c of conflicts) {
        const shown = `${c.r.type} ${c.r.name} "${c.r.content}" (id ${c.r.id})`;
        if (domain.takeOverRecords && !adopt.has(c.key)) {
            adopt.set(c.key, c.r.id);
            continue;
        }
        const managed = recordOwnership(c.r, owner) === "foreign" ? c.why : `that mailstack does not manage: ${c.why}`;
        problems.push(
            domain.takeOverRecords
                ? `${at}: the zone also has ${shown}, which mailstack cannot take over (one record per name and type): delete it in Cloudflare`
                : `${at}: the zone already has ${shown} ${managed}. Delete it in Cloudflare, or set ${at}.takeOverRecords to true to let mailstack take it over`,
        );
    }
    const heldKeys = new Set(
        existing
            .filter((r) => recordOwnership(r, owner) === "held")
            .map(existingKey)
            .filter((k) => ourKeys.has(k)),
    );
    const legacyComments = existing.filter(
        (r) => dnsCommentOwner(r.comment) === "legacy" && ourKeys.has(existingKey(r)),
    ).length;
    const cost = { held: heldKeys.size, creates: ourKeys.size - heldKeys.size + adopt.size, legacyComments };
    return { problems: [...problems, ...taken], adopt, cost };
}
