// The lab's DNS server (lab/world/dns.ts) answers as a recursive resolver would for the stack's
// records: a CNAME with its target's addresses, CAA as RFC 8659 encodes it. Served on
// 127.0.0.1 only, and asked with Node's own resolver (c-ares), as the lab checks do.
import { Resolver } from "node:dns/promises";

import { buildSpec } from "../model";
import { labDnsRecords, serveDns } from "../lab/world/dns";
import { twoDomains } from "./helpers/fixtures";

const PORT = 25353;
const spec = buildSpec(twoDomains());
const records = labDnsRecords(spec, {
    ipv4: "192.0.2.25",
    ipv6: "2001:db8::25",
    dkimPublicKeysPem: Object.fromEntries(
        spec.domains.map((d) => [d.name, `-----BEGIN PUBLIC KEY-----\n${"A".repeat(392)}\n-----END PUBLIC KEY-----`]),
    ),
});
let stop: () => void = () => undefined;
const resolver = new Resolver({ timeout: 2000, tries: 1 });

beforeAll(async () => {
    stop = await serveDns(records, ["127.0.0.1"], PORT);
    resolver.setServers([`127.0.0.1:${PORT}`]);
});
afterAll(() => stop());

test("a client name's CNAME is answered with the mail host's addresses, as the container's resolver needs", async () => {
    expect(await resolver.resolveCname("autoconfig.example.org")).toEqual(["mail.nathabee.de"]);
    expect(await resolver.resolve4("mta-sts.example.org")).toEqual(["192.0.2.25"]);
    expect(await resolver.resolve6("autodiscover.nathabee.de")).toEqual(["2001:db8::25"]);
});

test("CAA records come back with their flags, tag and value", async () => {
    expect(await resolver.resolveCaa("example.org")).toEqual([
        { critical: 0, issue: "letsencrypt.org", type: "CAA" },
        { critical: 0, iodef: "mailto:postmaster@example.org", type: "CAA" },
    ]);
});

test("the _mta-sts TXT is served as published", async () => {
    const txt = (await resolver.resolveTxt("_mta-sts.example.org")).map((p) => p.join(""));
    expect(txt).toEqual([expect.stringMatching(/^v=STSv1; id=[0-9a-f]{20}$/)]);
});
