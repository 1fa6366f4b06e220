// What the doctor tests (test/doctor-*.test.ts) share: a sample spec, the records its stack
// publishes, and a resolver answering from a table.

import { generateKeyPairSync } from "node:crypto";
import { mailDnsRecords } from "../../render/dns/dns-records";
import { describeRecord } from "../../render/dns/text";
import { type Lookup } from "../../doctor/dns";
import { runCheck } from "../../doctor/doctor";
import { expectedSets } from "../../doctor/records";
import type { Check } from "../../doctor/types";
import { buildSpec } from "../../model";
import { twoDomains } from "./fixtures";

export const spec = buildSpec(twoDomains());
export const pem = () =>
    generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "pem" }).toString();
export const keys = Object.fromEntries(spec.domains.map((d) => [d.name, pem()]));
export const facts = (d: string) => ({ ipv4: "192.0.2.25", ipv6: "2001:db8::25", dkimPublicKeyPem: keys[d] });
/** What `pulumi stack output dnsRecords` prints for this spec. */
export const published = spec.domains.flatMap((d) => mailDnsRecords(spec, d, facts(d.name)).map(describeRecord));

/** A resolver that answers from a table of `TYPE name` -> values (nothing else exists). */
export function fakeLookup(table: Record<string, string[]>): Lookup & { table: Record<string, string[]> } {
    const f = (name: string, type: string) => Promise.resolve(table[`${type} ${name.toLowerCase()}`] ?? []);
    return Object.assign(f, { table });
}

/** The answers public DNS gives when everything was published as the stack says. */
export function publishedAnswers(): Record<string, string[]> {
    const t: Record<string, string[]> = {};
    for (const s of expectedSets(published)) t[`${s.type} ${s.name}`] = [...s.values];
    t["PTR 25.2.0.192.in-addr.arpa"] = [spec.hostname];
    t[`PTR ${"5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"}.ip6.arpa`] = [spec.hostname];
    return t;
}

export const run = (c: Check, ms = 5000) => runCheck(c, ms);
