// The policy pack started the way the Pulumi CLI starts a Node.js policy pack
// (pulumi-language-nodejs RunPlugin): `node <run-policy-pack> <engine> <policy dir>` with the
// policy directory as working directory, run-policy-pack resolved from there. It compiles
// policy/index.ts with ts-node, serves the analyzer over gRPC and prints its port; this test
// then asks it what the engine asks during `pulumi preview`: its policies, Analyze for one
// resource, AnalyzeStack for the whole program as the mocks declare it.

import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

import { created, mocksReady, options, recordOptions, settle } from "./helpers/mocks";

import * as grpc from "@grpc/grpc-js";
import * as pulumi from "@pulumi/pulumi";
import * as analyzerRpc from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import * as analyzer from "@pulumi/pulumi/proto/analyzer_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";

import { MailStack } from "../components/mailstack";
import { readZones } from "../components/zones";
import { POLICIES } from "../policy/policies";
import { buildSpec } from "../model";
import { oneDomain } from "./helpers/fixtures";
import { fromMocks, urnOf, type StackResourceSpec } from "./helpers/policy";

const POLICY_DIR = path.join(__dirname, "..", "policy");

let child: ChildProcess;
let client: analyzerRpc.AnalyzerClient;
let stderr = "";

beforeAll(async () => {
    // As the language host's locateModule does: require.resolve from the policy directory.
    const runPolicyPack = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [POLICY_DIR] });
    child = spawn(process.execPath, [runPolicyPack, "127.0.0.1:0", POLICY_DIR], {
        cwd: POLICY_DIR,
        stdio: ["ignore", "pipe", "pipe"],
    });
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const port = await new Promise<number>((resolve, reject) => {
        let out = "";
        child.stdout!.on("data", (d: Buffer) => {
            out += d.toString();
            const m = /^(\d+)\s*$/m.exec(out);
            if (m) resolve(Number(m[1]));
        });
        child.on("exit", (code) =>
            reject(new Error(`the policy pack exited (${code}) before serving:\n${out}${stderr}`)),
        );
    });
    client = new analyzerRpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 120000);

afterAll(() => {
    client?.close();
    child?.kill();
});

const call = <Req, Res>(
    method: (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown,
    req: Req,
) => new Promise<Res>((resolve, reject) => method.call(client, req, (err, res) => (err ? reject(err) : resolve(res))));

/** Plain JSON, as the engine marshals properties (no undefined). */
const struct = (props: Record<string, unknown>) => Struct.fromJavaScript(JSON.parse(JSON.stringify(props)));

function resourceOptions(spec: StackResourceSpec) {
    return new analyzer.AnalyzerResourceOptions()
        .setProtect(spec.protect ?? false)
        .setIgnorechangesList(spec.ignoreChanges ?? []);
}

const diagnostics = (res: analyzer.AnalyzeResponse) =>
    res.getDiagnosticsList().map((d) => ({
        policy: d.getPolicyname(),
        mandatory: d.getEnforcementlevel() === analyzer.EnforcementLevel.MANDATORY,
        message: d.getMessage(),
        urn: d.getUrn(),
    }));

function analyze(spec: StackResourceSpec) {
    const req = new analyzer.AnalyzeRequest()
        .setType(spec.type)
        .setName(spec.name)
        .setUrn(urnOf(spec.type, spec.name))
        .setProperties(struct(spec.props))
        .setOptions(resourceOptions(spec));
    return call<analyzer.AnalyzeRequest, analyzer.AnalyzeResponse>(client.analyze, req).then(diagnostics);
}

function analyzeStack(specs: readonly StackResourceSpec[]) {
    const req = new analyzer.AnalyzeStackRequest().setResourcesList(
        specs.map((spec) => {
            const r = new analyzer.AnalyzerResource()
                .setType(spec.type)
                .setName(spec.name)
                .setUrn(urnOf(spec.type, spec.name))
                .setProperties(struct(spec.props))
                .setOptions(resourceOptions(spec));
            const deps = new Set<string>();
            for (const [key, names] of Object.entries(spec.propertyDependencies ?? {})) {
                const urns = names.map((n) => urnOf(specs.find((s) => s.name === n)!.type, n));
                urns.forEach((u) => deps.add(u));
                r.getPropertydependenciesMap().set(key, new analyzer.AnalyzerPropertyDependencies().setUrnsList(urns));
            }
            return r.setDependenciesList([...deps]);
        }),
    );
    return call<analyzer.AnalyzeStackRequest, analyzer.AnalyzeResponse>(client.analyzeStack, req).then(diagnostics);
}

test("the pack is self-contained: PulumiPolicy.yaml, a versioned package.json, and no import of the program", () => {
    expect(fs.readFileSync(path.join(POLICY_DIR, "PulumiPolicy.yaml"), "utf8")).toMatch(/^runtime: nodejs$/m);
    const pkg = JSON.parse(fs.readFileSync(path.join(POLICY_DIR, "package.json"), "utf8"));
    expect(pkg).toMatchObject({ version: "0.1.0", main: "index.ts" });
    // The policies check the program; they must not share its code (a bug there would pass both).
    for (const file of fs.readdirSync(POLICY_DIR).filter((f) => f.endsWith(".ts"))) {
        const text = fs.readFileSync(path.join(POLICY_DIR, file), "utf8");
        const relative = [...text.matchAll(/from\s+"(\.[^"]*)"/g)].map((m) => m[1]);
        expect([file, relative.filter((r) => !r.startsWith("./"))]).toEqual([file, []]);
    }
});

test("it serves the pack 'mailstack' with every policy of policies.ts, each mandatory but the server image's warning", async () => {
    const info = await call<Empty, analyzer.AnalyzerInfo>(client.getAnalyzerInfo, new Empty());
    expect(info.getName()).toBe("mailstack");
    expect(info.getVersion()).toBe("0.1.0");
    expect(info.getPoliciesList().map((p) => [p.getName(), p.getEnforcementlevel()])).toEqual(
        POLICIES.map((p) => [
            p.name,
            p.name === "server-image-change-is-a-replacement"
                ? analyzer.EnforcementLevel.ADVISORY
                : analyzer.EnforcementLevel.MANDATORY,
        ]),
    );
});

test("Analyze: a proxied MX record is a mandatory violation naming the record; an unproxied one passes", async () => {
    const mx = (proxied: boolean): StackResourceSpec => ({
        type: "cloudflare:index/dnsRecord:DnsRecord",
        name: "mail-dns-mx",
        props: { zoneId: "z", name: "example.org", type: "MX", content: "mail.example.org", priority: 10, proxied },
    });
    expect(await analyze(mx(false))).toEqual([]);
    expect(await analyze(mx(true))).toEqual([
        {
            policy: "mail-dns-records-unproxied",
            mandatory: true,
            message: expect.stringContaining('cloudflare DnsRecord "mail-dns-mx" (MX example.org) has proxied=true'),
            // Resource policies leave the URN to the engine: it is the resource's own.
            urn: "",
        },
    ]);
});

describe("the real program, as the mocks declare it", () => {
    let stack: ReturnType<typeof fromMocks>;
    beforeAll(async () => {
        await mocksReady;
        const spec = buildSpec({ ...oneDomain(), passwords: {}, hasRelayPassword: false });
        const mail = new MailStack(
            "ppack",
            {
                spec,
                passwords: pulumi.secret({}),
                configuredPasswordAddresses: [],
                zones: await readZones(spec, { transformations: [recordOptions] }),
            },
            { transformations: [recordOptions] },
        );
        await Promise.all(Object.values(mail.provisioning.reports).map((o) => new Promise((r) => o.apply(r))));
        await settle();
        stack = fromMocks(created, options);
    });

    test("Analyze passes every resource and AnalyzeStack passes the stack", async () => {
        for (const spec of stack.specs) expect([spec.name, await analyze(spec)]).toEqual([spec.name, []]);
        expect(await analyzeStack(stack.specs)).toEqual([]);
    });

    test("AnalyzeStack: a PTR that names another host is a mandatory violation on that Rdns", async () => {
        const broken = stack.specs.map((s) =>
            s.name === "ppack-ptr-ipv6" ? { ...s, props: { ...s.props, dnsPtr: "static.example.net" } } : s,
        );
        const out = await analyzeStack(broken);
        expect(out).toEqual([
            {
                policy: "ptr-names-the-mail-host",
                mandatory: true,
                message: expect.stringContaining('hcloud Rdns "ppack-ptr-ipv6" has dnsPtr "static.example.net"'),
                urn: urnOf("hcloud:index/rdns:Rdns", "ppack-ptr-ipv6"),
            },
        ]);
    });

    test("Analyze: the mail volume without protect is a mandatory violation (protect reaches resource policies)", async () => {
        const volume = stack.specs.find((s) => s.name === "ppack-mail-volume")!;
        expect(await analyze({ ...volume, protect: false })).toEqual([
            expect.objectContaining({
                policy: "mail-volume-protected",
                mandatory: true,
                message: expect.stringContaining('hcloud Volume "ppack-mail-volume" is not protected in Pulumi'),
            }),
        ]);
    });
});
