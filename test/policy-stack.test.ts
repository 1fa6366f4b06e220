// The policy pack over the real program: every resource the program declares under the mocks
// (test/helpers/mocks.ts records their inputs and options), given to every policy as the
// engine would. They must all pass, and each must have found something to check, so the
// policies and the program cannot drift apart unnoticed.

import { created, mocksReady, options, recordOptions, settle } from "./helpers/mocks";

import * as pulumi from "@pulumi/pulumi";
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";

import { MailStack } from "../components/mailstack";
import { readZones } from "../components/zones";
import { POLICIES } from "../policy/policies";
import { buildSpec, type RawConfig } from "../model";
import { oneDomain, twoDomains } from "./helpers/fixtures";
import { checkResource, checkStack, fromMocks, type Violation } from "./helpers/policy";

const PASSWORD = "correct-horse-battery-staple";

/** Declares the program as index.ts does (as test/helpers/stack.ts does) and waits for it all. */
async function deploy(name: string, raw: RawConfig, relayPassword?: string) {
    await mocksReady;
    const spec = buildSpec({
        ...raw,
        passwords: { "evaluation@nathabee.de": PASSWORD },
        hasRelayPassword: relayPassword !== undefined,
    });
    const stack = new MailStack(
        name,
        {
            spec,
            passwords: pulumi.secret({ "evaluation@nathabee.de": PASSWORD }),
            configuredPasswordAddresses: ["evaluation@nathabee.de"],
            ...(relayPassword !== undefined ? { relayPassword: pulumi.secret(relayPassword) } : {}),
            zones: await readZones(spec, { transformations: [recordOptions] }),
        },
        { transformations: [recordOptions] },
    );
    await Promise.all(Object.values(stack.provisioning.reports).map((o) => new Promise((r) => o.apply(r))));
    await settle();
    const own = (n: string) => n === name || n.startsWith(`${name}-`);
    return fromMocks(
        created.filter((r) => own(r.name)),
        options.filter((o) => own(o.name)),
    );
}

const isStackPolicy = (p: ResourceValidationPolicy | StackValidationPolicy): p is StackValidationPolicy =>
    "validateStack" in p;

/** Every policy over one deployed stack: violations by policy, and what each policy checked. */
async function runAll(stack: Awaited<ReturnType<typeof deploy>>) {
    const violations: Record<string, Violation[]> = {};
    const checked: Record<string, string[]> = {};
    for (const policy of POLICIES) {
        violations[policy.name] = [];
        checked[policy.name] = [];
        if (isStackPolicy(policy)) {
            const out = await checkStack(policy, stack.resources);
            violations[policy.name].push(...out.violations);
            if (!out.notApplicable) checked[policy.name].push("(stack)");
            continue;
        }
        for (const spec of stack.specs) {
            const out = await checkResource(policy, spec);
            violations[policy.name].push(...out.violations.map((v) => ({ ...v, urn: spec.name })));
            if (!out.notApplicable) checked[policy.name].push(spec.name);
        }
    }
    return { violations, checked };
}

const none = Object.fromEntries(POLICIES.map((p) => [p.name, []]));

describe.each([
    ["one domain", "pone", () => oneDomain(), undefined],
    ["two domains", "ptwo", () => twoDomains(), undefined],
    [
        "a relay",
        "prelay",
        () => ({ ...oneDomain(), relay: { host: "smtp.relay.example", port: 587, username: "mailer" } }),
        "relay-secret-value-123",
    ],
] as const)("the program with %s", (_label, name, raw, relayPassword) => {
    let result: Awaited<ReturnType<typeof runAll>>;
    beforeAll(async () => {
        result = await runAll(await deploy(name, raw(), relayPassword));
    });

    test("keeps every policy", () => {
        expect(result.violations).toEqual(none);
    });

    test("gives every policy something to check: the records, the volume, both IPs, the firewall, the server", () => {
        const count = (policy: string, kind: string) => result.checked[policy].filter((n) => n.includes(kind)).length;
        expect(count("mail-dns-records-unproxied", "-dns-")).toBeGreaterThanOrEqual(10);
        expect(result.checked["mail-volume-protected"]).toEqual([`${name}-mail-volume`]);
        expect(result.checked["primary-ips-protected"].sort()).toEqual([`${name}-ipv4`, `${name}-ipv6`]);
        expect(result.checked["ssh-not-open-to-the-world"]).toEqual([`${name}-firewall`]);
        expect(result.checked["user-data-holds-no-secrets"]).toEqual([`${name}-server`]);
        expect(result.checked["server-image-change-is-a-replacement"]).toEqual([`${name}-server`]);
        expect(result.checked["mail-host-address-unproxied"]).toEqual(["(stack)"]);
        expect(result.checked["ptr-names-the-mail-host"]).toEqual(["(stack)"]);
    });
});

describe("the program with a backup MX (mailstack:secondaryMx)", () => {
    test("keeps every policy: its volume and IPs protected, its SSH closed, its user-data clean, each PTR naming its own server", async () => {
        const result = await runAll(
            await deploy("pmx2", { ...twoDomains(), secondaryMx: { hostname: "mx2.nathabee.de", location: "fsn1" } }),
        );
        expect(result.violations).toEqual(none);
        expect(result.checked["mail-volume-protected"].sort()).toEqual(["pmx2-mail-volume", "pmx2-mx2-mail-volume"]);
        expect(result.checked["primary-ips-protected"].sort()).toEqual([
            "pmx2-ipv4",
            "pmx2-ipv6",
            "pmx2-mx2-ipv4",
            "pmx2-mx2-ipv6",
        ]);
        expect(result.checked["ssh-not-open-to-the-world"].sort()).toEqual(["pmx2-firewall", "pmx2-mx2-firewall"]);
        expect(result.checked["user-data-holds-no-secrets"].sort()).toEqual(["pmx2-mx2-server", "pmx2-server"]);
    });
});

describe("the policies see what the program really declares", () => {
    test("the A/AAAA records the stack policy checks are the mail host's, and the PTRs are tied to the IPs", async () => {
        const stack = await deploy("pshape", oneDomain());
        const hostRecords = stack.specs.filter(
            (s) => s.type === "cloudflare:index/dnsRecord:DnsRecord" && s.props.name === "mail.nathabee.de",
        );
        expect(hostRecords.map((s) => s.props.type).sort()).toEqual(["A", "AAAA", "TXT"]);
        const ptrs = stack.specs.filter((s) => s.type === "hcloud:index/rdns:Rdns");
        expect(ptrs.map((p) => p.propertyDependencies)).toEqual([
            { primaryIpId: ["pshape-ipv4"] },
            { primaryIpId: ["pshape-ipv6"] },
        ]);
    });

    test("a config that opens SSH to the world fails the preview, naming the firewall rule", async () => {
        const { violations } = await runAll(await deploy("popen", { ...oneDomain(), sshAllowedCidrs: ["0.0.0.0/0"] }));
        expect(violations).toEqual({
            ...none,
            "ssh-not-open-to-the-world": [
                {
                    urn: "popen-firewall",
                    message: expect.stringMatching(
                        /^hcloud Firewall "popen-firewall": rules\[\d+\] \(inbound tcp port 22, "SSH from the deployers only"\) opens port 22 to 0\.0\.0\.0\/0; /,
                    ),
                },
            ],
        });
    });
});
