// Pulumi mocks that record every resource the program declares, with its inputs, and throw
// on any invoke they do not know, so a new lookup can never pass silently.

import { generateKeyPairSync } from "node:crypto";

import * as pulumi from "@pulumi/pulumi";

export interface RecordedResource {
    readonly type: string;
    readonly name: string;
    readonly inputs: Record<string, any>;
}

export const created: RecordedResource[] = [];
export const invokes: { token: string; args: any }[] = [];

let counter = 0;

function fakeOutputs(args: pulumi.runtime.MockResourceArgs): Record<string, any> {
    const i = args.inputs;
    switch (args.type) {
        case "tls:index/privateKey:PrivateKey": {
            if (i.algorithm === "RSA") {
                const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: i.rsaBits ?? 2048 });
                return {
                    ...i,
                    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
                    privateKeyPem: privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
                };
            }
            const { publicKey, privateKey } = generateKeyPairSync("ed25519");
            const raw = publicKey.export({ type: "spki", format: "der" }).subarray(12);
            const blob = Buffer.concat([lenPrefixed(Buffer.from("ssh-ed25519")), lenPrefixed(raw)]);
            return {
                ...i,
                publicKeyOpenssh: `ssh-ed25519 ${blob.toString("base64")}\n`,
                privateKeyOpenssh: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
                publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
                privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
            };
        }
        case "hcloud:index/primaryIp:PrimaryIp":
            return { ...i, ipAddress: i.type === "ipv4" ? "192.0.2.25" : "2001:db8:25::/64" };
        case "hcloud:index/volume:Volume":
            return { ...i, linuxDevice: `/dev/disk/by-id/scsi-0HC_Volume_${4200 + counter}` };
        case "random:index/randomPassword:RandomPassword":
            return { ...i, result: `generated-password-${args.name.length}-${"x".repeat(12)}` };
        case "random:index/randomString:RandomString":
            return { ...i, result: "abcdefghijklmnopqrstuv".slice(0, i.length) };
        case "command:remote:Command":
            return { ...i, stdout: "ok", stderr: "" };
        default:
            return { ...i };
    }
}

function lenPrefixed(b: Buffer): Buffer {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
}

/** Resolves once the mocks are installed; await it before declaring resources. */
export const mocksReady = pulumi.runtime.setMocks(
    {
        newResource(args: pulumi.runtime.MockResourceArgs) {
            counter += 1;
            created.push({ type: args.type, name: args.name, inputs: args.inputs });
            const id = args.type.startsWith("hcloud:") ? String(1000 + counter) : `${args.name}-id`;
            return { id, state: fakeOutputs(args) };
        },
        call(args: pulumi.runtime.MockCallArgs) {
            invokes.push({ token: args.token, args: args.inputs });
            if (args.token === "cloudflare:index/getZone:getZone") {
                const name: string = args.inputs.filter?.name;
                return { id: `zone-of-${name}`, name };
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
