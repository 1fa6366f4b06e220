// The zone pre-flight: before any resource is declared, read each domain's Cloudflare zone
// and stop when a record mailstack does not manage would break mail next to ours (another
// MX, a second SPF, another _dmarc). See checkZone in cloud-init/dns-records.ts.

import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";

import { checkZone, type ExistingRecord } from "../cloud-init/dns-records";
import type { MailSpec } from "../spec";

/** What the pre-flight learnt about one domain's zone. */
export interface ZoneFacts {
    readonly zoneId: string;
    /** recordKey -> id of the existing record our record takes over (`takeOverRecords`). */
    readonly adopt: ReadonlyMap<string, string>;
}

/** Cloudflare lists at most this many records per call; a zone with more is read in full or not at all. */
const MAX_RECORDS = 5000;

/** Read every zone and check it; throws a RunError naming each conflicting record. */
export async function readZones(spec: MailSpec): Promise<Record<string, ZoneFacts>> {
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
        const check = checkZone(spec, domain, existing);
        problems.push(...check.problems);
        facts[domain.name] = { zoneId, adopt: check.adopt };
    }
    if (problems.length > 0)
        throw new pulumi.RunError(
            `The DNS zones are not ready for mailstack:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
        );
    return facts;
}
