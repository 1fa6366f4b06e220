// Whose a record in a zone is (the comment mailstack writes on each), and the zone pre-flight:
// what already in a zone would break mail next to ours, what to take over, what publishing
// costs.

import { createHash } from "node:crypto";
import { dmarcName, type DomainSpec, type MailSpec } from "../../model";
import { mailDnsRecords, type MailDnsRecord } from "./dns-records";
import { recordKey, txtValue } from "./text";

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
