// The DNS records of one mail domain on Cloudflare, from mailDnsRecords(): MX, the host's
// A/AAAA (in the zone that holds it), SPF, DKIM, DMARC, TLS-RPT, MTA-STS, client SRV records
// and the autoconfig/autodiscover/mta-sts names.

import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";

import { mailDnsRecords, type DnsFacts, type MailDnsRecord } from "../render/dns/dns-records";
import { recordKey } from "../render/dns/text";
import { dnsComment } from "../render/dns/zone";
import { dkimName, type DomainSpec, type MailSpec } from "../model";
import type { ZoneFacts } from "./zones";

export interface MailDnsArgs {
    /** The validated configuration. */
    readonly spec: MailSpec;
    /** The domain whose records this component manages. */
    readonly domain: DomainSpec;
    /** The server's public IPv4 address. */
    readonly ipv4: pulumi.Input<string>;
    /** The server's public IPv6 address. */
    readonly ipv6: pulumi.Input<string>;
    /** The backup MX's addresses, when spec.secondaryMx is set. */
    readonly secondary?: { readonly ipv4: pulumi.Input<string>; readonly ipv6: pulumi.Input<string> };
    /** PEM public key of the domain's DKIM key. */
    readonly dkimPublicKeyPem: pulumi.Input<string>;
    /** Retired DKIM selector still published -> its PEM public key (a rotation). */
    readonly dkimRetiredPublicKeysPem?: Readonly<Record<string, pulumi.Input<string>>>;
    /** The zone, as the pre-flight read it (components/zones.ts). */
    readonly zone: ZoneFacts;
    /** What a record with `publishAfter` waits for: the steps that make the server serve it. */
    readonly publishAfter: Readonly<
        Record<NonNullable<MailDnsRecord["publishAfter"]>, pulumi.Input<pulumi.Input<pulumi.Resource>[]>>
    >;
}

// Which records exist depends on the spec alone; only their contents wait for deploy-time
// values. These stand-ins let us list the records (and name the resources) up front.
const SHAPE_FACTS: DnsFacts = {
    ipv4: "192.0.2.1",
    ipv6: "2001:db8::1",
    dkimPublicKeyPem: `-----BEGIN PUBLIC KEY-----\n${"A".repeat(392)}\n-----END PUBLIC KEY-----`,
    secondary: { ipv4: "192.0.2.2", ipv6: "2001:db8::2" },
};

export class MailDns extends pulumi.ComponentResource {
    /** The records as published, for the `dnsRecords` stack output. */
    public readonly records: pulumi.Output<MailDnsRecord[]>;
    /** The signing selector's DKIM record: OpenDKIM switches to a new key only once it exists. */
    public readonly dkimRecord: cloudflare.DnsRecord;
    /** The A/AAAA/CNAME records: what the CA resolves to validate the certificate's names. */
    public readonly nameRecords: cloudflare.DnsRecord[] = [];
    /** The backup MX's A/AAAA records (in the zone that holds its name): its certificate waits for them. */
    public readonly secondaryNameRecords: cloudflare.DnsRecord[] = [];

    constructor(name: string, args: MailDnsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mailstack:dns:MailDns", name, {}, opts);
        const { spec, domain } = args;

        const zoneId = args.zone.zoneId;

        const retired = args.dkimRetiredPublicKeysPem ?? {};
        const secondary = args.secondary ? pulumi.all([args.secondary.ipv4, args.secondary.ipv6]) : undefined;
        this.records = pulumi
            .all([args.ipv4, args.ipv6, args.dkimPublicKeyPem, pulumi.all(retired), secondary])
            .apply(([ipv4, ipv6, dkimPublicKeyPem, dkimRetiredPublicKeysPem, secondaryIps]) =>
                mailDnsRecords(spec, domain, {
                    ipv4,
                    ipv6,
                    dkimPublicKeyPem,
                    dkimRetiredPublicKeysPem,
                    ...(secondaryIps ? { secondary: { ipv4: secondaryIps[0], ipv6: secondaryIps[1] } } : {}),
                }),
            );

        const shapeFacts: DnsFacts = {
            ...SHAPE_FACTS,
            dkimRetiredPublicKeysPem: Object.fromEntries(
                Object.keys(retired).map((s) => [s, SHAPE_FACTS.dkimPublicKeyPem]),
            ),
        };
        const dkimKey = recordKey({ name: dkimName(domain.dkimSelector, domain.name), type: "TXT" });
        let dkimRecord: cloudflare.DnsRecord | undefined;
        for (const shape of mailDnsRecords(spec, domain, shapeFacts)) {
            const key = recordKey(shape);
            const record = this.records.apply((all) => {
                const found = all.find((r) => recordKey(r) === key);
                if (!found) throw new Error(`DNS record ${key} disappeared between planning and rendering`);
                return found;
            });
            const resource = new cloudflare.DnsRecord(
                `${name}-${key}`,
                {
                    zoneId,
                    name: shape.name,
                    type: shape.type,
                    ttl: shape.ttl,
                    // Mail records must never go through Cloudflare's proxy: it carries HTTP only.
                    proxied: false,
                    comment: args.zone.keepLegacyComments
                        ? dnsComment(shape, "legacy")
                        : args.zone.owner.stateId.apply((stateId) =>
                              dnsComment(shape, { stack: args.zone.owner.stack, stateId }),
                          ),
                    ...(shape.priority !== undefined ? { priority: shape.priority } : {}),
                    // SRV and CAA records are their `data`; Cloudflare computes their content.
                    ...(shape.srv
                        ? { data: { ...shape.srv } }
                        : shape.caa
                          ? { data: { ...shape.caa } }
                          : { content: record.apply((r) => r.content!) }),
                },
                {
                    parent: this,
                    deleteBeforeReplace: true,
                    // takeOverRecords: adopt the record already there, then rewrite it. The
                    // provider's import id is `<zone_id>/<dns_record_id>`.
                    ...(args.zone.adopt.has(key) ? { import: `${zoneId}/${args.zone.adopt.get(key)}` } : {}),
                    ...(shape.publishAfter ? { dependsOn: args.publishAfter[shape.publishAfter] } : {}),
                },
            );
            if (key === dkimKey) dkimRecord = resource;
            if (["A", "AAAA"].includes(shape.type) && shape.name === spec.secondaryMx?.hostname)
                this.secondaryNameRecords.push(resource);
            else if (["A", "AAAA", "CNAME"].includes(shape.type)) this.nameRecords.push(resource);
        }
        if (!dkimRecord) throw new Error(`DNS: no DKIM record ${dkimKey} among the records of ${domain.name}`);
        this.dkimRecord = dkimRecord;
        this.registerOutputs({ records: this.records });
    }
}
