// Pulumi mocks that record every resource the program declares, with its inputs, and throw
// on any invoke they do not know, so a new lookup can never pass silently.

import { execFileSync } from "node:child_process";
import { createHash, generateKeyPairSync } from "node:crypto";
import * as path from "node:path";

import * as pulumi from "@pulumi/pulumi";

import { HOST_KEY_COMMAND } from "../../render/plan/plan";

export interface RecordedResource {
    readonly type: string;
    readonly name: string;
    /** Inputs with secrets unwrapped, for asserting on values. */
    readonly inputs: Record<string, any>;
    /** Top-level input keys whose value was marked secret. */
    readonly secretInputs: readonly string[];
    /** The id the mock gave it. */
    readonly id: string;
}

/** The options a resource was declared with, as seen by a transformation (see `recordOptions`). */
export interface RecordedOptions {
    readonly type: string;
    readonly name: string;
    readonly protect?: boolean;
    readonly ignoreChanges?: string[];
    readonly replaceOnChanges?: string[];
    readonly additionalSecretOutputs?: string[];
    readonly deleteBeforeReplace?: boolean;
    readonly import?: string;
    readonly parentType?: string;
    readonly dependsOn: number;
    /** The resources of `dependsOn` when it was a plain list (promises left as they are). */
    readonly dependsOnList: readonly unknown[];
    /** The names of its `aliases` given as `{ name }`. */
    readonly aliasNames: readonly string[];
    /** When it was declared, on the same clock as `registeredOutputs`. */
    readonly seq: number;
    readonly resource: pulumi.Resource;
    readonly parent?: pulumi.Resource;
}

export const options: RecordedOptions[] = [];

let clock = 0;

/** Explicit `registerOutputs(...)` calls of components, in order (the SDK's own argument-less call is left out). */
export const registeredOutputs: { readonly seq: number; readonly component: pulumi.ComponentResource }[] = [];
// registerOutputs is protected: reach the prototype through a plain record to wrap it.
const componentPrototype = pulumi.ComponentResource.prototype as unknown as Record<
    "registerOutputs",
    (outputs?: unknown) => void
>;
const registerOutputs = componentPrototype.registerOutputs;
componentPrototype.registerOutputs = function (this: pulumi.ComponentResource, outputs?: unknown) {
    if (outputs !== undefined) registeredOutputs.push({ seq: ++clock, component: this });
    return registerOutputs.call(this, outputs);
};

/**
 * A transformation for a top-level component's `transformations` option: children inherit
 * it, so it sees every resource's type, name and options (the mocks' newResource does not).
 */
export const recordOptions: pulumi.ResourceTransformation = ({ resource, type, name, opts }) => {
    const deps = opts.dependsOn;
    options.push({
        type,
        name,
        protect: opts.protect,
        ignoreChanges: opts.ignoreChanges,
        replaceOnChanges: opts.replaceOnChanges,
        additionalSecretOutputs: (opts as pulumi.CustomResourceOptions).additionalSecretOutputs,
        deleteBeforeReplace: (opts as pulumi.CustomResourceOptions).deleteBeforeReplace,
        import: (opts as pulumi.CustomResourceOptions).import,
        parentType: (opts.parent as { __pulumiType?: string } | undefined)?.__pulumiType,
        dependsOn: Array.isArray(deps) ? deps.length : deps ? 1 : 0,
        dependsOnList: Array.isArray(deps) ? deps : deps ? [deps] : [],
        aliasNames: (opts.aliases ?? []).flatMap((a) =>
            typeof a === "object" && a !== null && "name" in a && typeof a.name === "string" ? [a.name] : [],
        ),
        seq: ++clock,
        resource,
        parent: opts.parent,
    });
    return undefined;
};

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

function isSecretValue(v: any): boolean {
    return v !== null && typeof v === "object" && v[SECRET_SIG] === "1b47061264138c4ac30d75fd1eb44270";
}

function unwrap(v: any): any {
    if (isSecretValue(v)) return unwrap(v.value);
    if (Array.isArray(v)) return v.map(unwrap);
    if (v !== null && typeof v === "object")
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
    return v;
}

/** A stable number for a resource name without its stack prefix, so two test stacks compare. */
function stableId(name: string): number {
    let h = 0;
    for (const c of name.slice(name.indexOf("-") + 1)) h = (h * 31 + c.charCodeAt(0)) % 900000;
    return 100000 + h;
}

export const created: RecordedResource[] = [];
export const invokes: { token: string; args: any }[] = [];

/** One key pair per resource name without its stack prefix: two test stacks get the same keys. */
const keyCache = new Map<string, ReturnType<typeof generateKeyPairSync>>();
function keyPair(name: string, algorithm: "rsa" | "ed25519", bits = 2048) {
    const key = `${algorithm}/${bits}/${name.slice(name.indexOf("-") + 1)}`;
    if (!keyCache.has(key))
        keyCache.set(
            key,
            algorithm === "rsa" ? generateKeyPairSync("rsa", { modulusLength: bits }) : generateKeyPairSync("ed25519"),
        );
    return keyCache.get(key)!;
}

function fakeOutputs(args: pulumi.runtime.MockResourceArgs): Record<string, any> {
    const i = args.inputs;
    switch (args.type) {
        case "tls:index/privateKey:PrivateKey": {
            if (i.algorithm === "RSA") {
                const { publicKey, privateKey } = keyPair(args.name, "rsa", i.rsaBits ?? 2048);
                return {
                    ...i,
                    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
                    privateKeyPem: privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
                };
            }
            const { publicKey, privateKey } = keyPair(args.name, "ed25519");
            const raw = publicKey.export({ type: "spki", format: "der" }).subarray(12);
            const blob = Buffer.concat([lenPrefixed(Buffer.from("ssh-ed25519")), lenPrefixed(raw)]);
            return {
                ...i,
                publicKeyOpenssh: `ssh-ed25519 ${blob.toString("base64")}\n`,
                privateKeyOpenssh: opensshEd25519PrivateKey(privateKey, raw),
                publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
                privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
            };
        }
        case "hcloud:index/primaryIp:PrimaryIp":
            // As the provider reports them: the IPv6 primary IP's address is its network's
            // first address, without the prefix length (which is in ipNetwork).
            // Each server's its own: the backup MX's (resource name "<stack>-mx2-...") end in 26.
            return args.name.includes("-mx2-")
                ? i.type === "ipv4"
                    ? { ...i, ipAddress: "192.0.2.26" }
                    : { ...i, ipAddress: "2001:db8:26::", ipNetwork: "2001:db8:26::/64" }
                : i.type === "ipv4"
                  ? { ...i, ipAddress: "192.0.2.25" }
                  : { ...i, ipAddress: "2001:db8:25::", ipNetwork: "2001:db8:25::/64" };
        case "hcloud:index/volume:Volume":
            return { ...i, linuxDevice: `/dev/disk/by-id/scsi-0HC_Volume_${args.id}` };
        case "random:index/randomPassword:RandomPassword": {
            const result = `generated-password-${args.name.length}-${"x".repeat(12)}`;
            // The provider's bcrypt_hash ($2a$, cost 10); a stand-in of the same shape.
            const digest = createHash("sha256").update(result).digest("base64").replace(/[+=]/g, ".").slice(0, 53);
            return { ...i, result, bcryptHash: `$2a$10$${digest.padEnd(53, ".")}` };
        }
        case "random:index/randomId:RandomId":
            // Every test stack gets the same state id, so two stacks' records compare.
            return { ...i, hex: MOCK_STATE_ID.padEnd(2 * (i.byteLength ?? 4), "0").slice(0, 2 * (i.byteLength ?? 4)) };
        case "random:index/randomString:RandomString":
            return { ...i, result: "abcdefghijklmnopqrstuv".slice(0, i.length) };
        case "command:remote:Command":
            // The host-key step prints the key the server made; every other step a report.
            return { ...i, stdout: i.create === HOST_KEY_COMMAND ? SERVER_HOST_KEY : "ok", stderr: "" };
        case "command:local:Command": {
            // What the provider does: run it, here, with its stdin and environment.
            const stdout = execFileSync("/bin/sh", ["-c", i.create], {
                input: i.stdin ?? "",
                env: { ...process.env, ...(i.environment ?? {}) },
                cwd: path.join(__dirname, "..", ".."),
            }).toString();
            localCommandRuns.push(args.name);
            return { ...i, stdout, stderr: "" };
        }
        default:
            return { ...i };
    }
}

/** An ed25519 key in OpenSSH's own private key format, as the tls provider writes it. */
function opensshEd25519PrivateKey(privateKey: import("node:crypto").KeyObject, publicRaw: Buffer): string {
    const seed = privateKey.export({ type: "pkcs8", format: "der" }).subarray(16);
    const type = lenPrefixed(Buffer.from("ssh-ed25519"));
    const publicBlob = Buffer.concat([type, lenPrefixed(publicRaw)]);
    const check = Buffer.alloc(4, 7);
    let body = Buffer.concat([
        check,
        check,
        type,
        lenPrefixed(publicRaw),
        lenPrefixed(Buffer.concat([seed, publicRaw])),
        lenPrefixed(Buffer.alloc(0)),
    ]);
    const pad = Array.from({ length: (8 - (body.length % 8)) % 8 }, (_, k) => k + 1);
    body = Buffer.concat([body, Buffer.from(pad)]);
    const none = lenPrefixed(Buffer.from("none"));
    const blob = Buffer.concat([
        Buffer.from("openssh-key-v1\0"),
        none,
        none,
        lenPrefixed(Buffer.alloc(0)),
        Buffer.from([0, 0, 0, 1]),
        lenPrefixed(publicBlob),
        lenPrefixed(body),
    ]);
    const lines = blob
        .toString("base64")
        .match(/.{1,70}/g)!
        .join("\n");
    return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

function lenPrefixed(b: Buffer): Buffer {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
}

/**
 * What the real providers refuse or warn about, which a plain mock would accept. Each rule
 * names its source. A refusal throws, as the provider's error would fail `pulumi up`.
 */
/** What each zone already holds, by zone id, for the pre-flight's getDnsRecords. */
export const zoneRecords: Record<
    string,
    { id: string; name: string; type: string; content: string; comment?: string }[]
> = {};

/** The host key the mocked server makes in the host-key step. */
/** The state id (components/zones.ts dnsOwner) of every test stack. */
export const MOCK_STATE_ID = "5a7e0001";

export const SERVER_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeServerMadeHostKeyForTheMockedServer0000";

/** Names of the command.local.Command resources the mock provider ran. */
export const localCommandRuns: string[] = [];

export const providerWarnings: { type: string; name: string; warning: string }[] = [];

const HOST_BITS_CIDR = (cidr: string) => {
    const [addr, bits] = cidr.split("/");
    if (!addr.includes(":")) {
        const n = addr.split(".").reduce((a, p) => (a << 8n) | BigInt(Number(p)), 0n);
        return (n & ((1n << BigInt(32 - Number(bits))) - 1n)) !== 0n;
    }
    return false; // IPv6 host bits: checked by model/syntax.ts's own tests
};

/** What Cloudflare's provider (v6, terraform-provider-cloudflare v5) refuses, or keeps showing as a change, in a CAA record. */
export function caaRecordProblem(inputs: Record<string, any>): string | undefined {
    const data = inputs.data;
    // content is computed from data for CAA: a configured one differs from what the API
    // returns (`0 issue "letsencrypt.org"`) on every preview.
    if (inputs.content !== undefined) return "CAA takes its fields in data; content is computed by Cloudflare";
    if (!data) return "a CAA record needs data: {flags, tag, value}";
    // data.flags is a dynamic attribute; v5.8.4 refused every string form, and a string "0"
    // is not equal to the number Cloudflare returns (terraform-provider-cloudflare#5957, #6219).
    if (typeof data.flags !== "number" || !Number.isInteger(data.flags) || data.flags < 0 || data.flags > 255)
        return `data.flags must be a number 0-255, not ${JSON.stringify(data.flags)}`;
    if (!["issue", "issuewild", "iodef"].includes(data.tag))
        return `data.tag ${JSON.stringify(data.tag)} is not a CAA tag`;
    // The API stores the value bare and quotes it in content; quotes here double up.
    if (typeof data.value !== "string" || data.value === "" || /["\s]/.test(data.value))
        return `data.value must be the bare value, got ${JSON.stringify(data.value)}`;
    return undefined;
}

function providerRules(args: pulumi.runtime.MockResourceArgs, inputs: Record<string, any>): void {
    const refuse = (why: string) => {
        throw new Error(`${args.type} ${args.name}: ${why}`);
    };
    switch (args.type) {
        case "hcloud:index/sshKey:SshKey":
            // Hetzner's API trims SSH public keys (2026-04); the provider then reports
            // "inconsistent result after apply" (terraform-provider-hcloud#1389).
            if (inputs.publicKey !== String(inputs.publicKey).trim())
                refuse("Provider produced inconsistent result after apply: public_key has surrounding whitespace");
            break;
        case "hcloud:index/primaryIp:PrimaryIp":
            // terraform-provider-hcloud#1395: a warning on every plan.
            if (inputs.assigneeType !== undefined && inputs.assigneeId === undefined)
                providerWarnings.push({
                    type: args.type,
                    name: args.name,
                    warning: "assignee_type is configured without assignee_id",
                });
            break;
        case "hcloud:index/firewall:Firewall":
            // The API answers invalid_input for a source/destination that is not a network address.
            for (const r of inputs.rules ?? [])
                for (const cidr of [...(r.sourceIps ?? []), ...(r.destinationIps ?? [])])
                    if (HOST_BITS_CIDR(cidr)) refuse(`invalid_input: ${cidr} is not a network address (host bits set)`);
            break;
        case "cloudflare:index/dnsRecord:DnsRecord":
            // Free and Pro zones: record comments of at most 100 characters.
            if (typeof inputs.comment === "string" && [...inputs.comment].length > 100)
                refuse(`comment is ${[...inputs.comment].length} characters; this zone's plan allows 100`);
            if (inputs.type === "CAA") {
                const why = caaRecordProblem(inputs);
                if (why) refuse(why);
            }
            break;
    }
}

/** Resolves once the mocks are installed; await it before declaring resources. */
export const mocksReady = pulumi.runtime.setMocks(
    {
        newResource(args: pulumi.runtime.MockResourceArgs) {
            const inputs = unwrap(args.inputs);
            providerRules(args, inputs);
            const secretInputs = Object.keys(args.inputs).filter((k) => isSecretValue(args.inputs[k]));
            const id = args.type.startsWith("hcloud:") ? String(stableId(args.name)) : `${args.name}-id`;
            created.push({ type: args.type, name: args.name, inputs, secretInputs, id });
            return { id, state: fakeOutputs({ ...args, inputs, id }) };
        },
        call(args: pulumi.runtime.MockCallArgs) {
            invokes.push({ token: args.token, args: args.inputs });
            if (args.token === "cloudflare:index/getZone:getZone") {
                const name: string = args.inputs.filter?.name;
                return { id: `zone-of-${name}`, name };
            }
            if (args.token === "cloudflare:index/getDnsRecords:getDnsRecords") {
                return { zoneId: args.inputs.zoneId, results: zoneRecords[args.inputs.zoneId] ?? [] };
            }
            throw new Error(`unexpected invoke in tests: ${args.token}`);
        },
    },
    "mailstack",
    "test",
    // dryRun false: outputs resolve to values, as in `pulumi up`.
    false,
);

export function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => output.apply((v) => resolve(v)));
}

/** Wait until no new resource has been registered for a while. */
export async function settle(): Promise<void> {
    let last = -1;
    while (last !== created.length) {
        last = created.length;
        await new Promise((r) => setTimeout(r, 100));
    }
}

/** Resources created under a component name prefix. */
export function resourcesOf(prefix: string): RecordedResource[] {
    return created.filter((r) => r.name === prefix || r.name.startsWith(`${prefix}-`));
}

export function find(list: RecordedResource[], type: string, name: string): RecordedResource {
    const found = list.find((r) => r.type === type && r.name === name);
    if (!found) throw new Error(`no ${type} named ${name}; have: ${list.map((r) => `${r.type} ${r.name}`).join(", ")}`);
    return found;
}
