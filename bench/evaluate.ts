// One evaluation of the Pulumi program (MailStack, as index.ts declares it) under Pulumi's
// mocks, for `npm run bench`: D domains with M mailboxes each. Prints one JSON line:
//
//   {"domains":D,"mailboxes":D*M,"resources":N,"startupMs":...,"programMs":...}
//
// startupMs: from the process's start until the program begins (Node, tsx, the Pulumi SDK
// and the providers' modules). programMs: from buildSpec until the last resource is
// registered and every output has resolved, i.e. what the program itself costs a preview on
// top of the engine and the providers.
//
// The mocks answer every resource at once. Unlike test/helpers/mocks.ts they give every
// private key the same pre-made key pair: generating an RSA key per domain would cost the
// mock ~0.1 s a domain, which a real preview does not pay (the tls provider keeps keys in
// state). No password is configured, so every mailbox gets a generated one (the random
// provider's bcryptHash); a configured one is hashed by a command.local.Command only when it
// changes, which a preview does not run.
//
//   tsx bench/evaluate.ts DOMAINS MAILBOXES_PER_DOMAIN
//   tsx bench/evaluate.ts --floor RESOURCES
//
// --floor: the Pulumi SDK's own cost, with no program: RESOURCES Cloudflare DNS records with
// plain inputs (no Output, no parent, no dependency), registered under the same mocks and
// timed the same way. It is the least any program that declares that many resources pays.

import { generateKeyPairSync } from "node:crypto";
import { performance } from "node:perf_hooks";

import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";

import { MailStack } from "../components/mailstack";
import { withoutStackTraces } from "../components/stack-traces";
import { readZones } from "../components/zones";
import { buildSpec, type RawConfig } from "../model";

const startupMs = performance.now();
// As index.ts does.
withoutStackTraces();
const floor = process.argv[2] === "--floor";
const [domainCount, perDomain] = floor ? [Number(process.argv[3]), 0] : process.argv.slice(2).map(Number);
if (!(domainCount >= 1 && (floor || perDomain >= 1))) {
    console.error("usage: tsx bench/evaluate.ts DOMAINS MAILBOXES_PER_DOMAIN | --floor RESOURCES");
    process.exit(2);
}

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
/** An ed25519 key in the formats the tls provider gives (OpenSSH's openssh-key-v1 for the private key). */
const ed = (() => {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const pub = publicKey.export({ type: "spki", format: "der" }).subarray(12);
    const seed = privateKey.export({ type: "pkcs8", format: "der" }).subarray(16);
    const str = (b: Buffer | string) => {
        const data = Buffer.from(b);
        const len = Buffer.alloc(4);
        len.writeUInt32BE(data.length);
        return Buffer.concat([len, data]);
    };
    const blob = Buffer.concat([str("ssh-ed25519"), str(pub)]);
    const check = Buffer.from([1, 2, 3, 4, 1, 2, 3, 4]);
    let secret = Buffer.concat([check, str("ssh-ed25519"), str(pub), str(Buffer.concat([seed, pub])), str("")]);
    for (let pad = 1; secret.length % 8 !== 0; pad++) secret = Buffer.concat([secret, Buffer.from([pad])]);
    const file = Buffer.concat([
        Buffer.from("openssh-key-v1\0"),
        str("none"),
        str("none"),
        str(""),
        Buffer.from([0, 0, 0, 1]),
        str(blob),
        str(secret),
    ]);
    const b64 = file.toString("base64").replace(/.{70}/g, "$&\n");
    return {
        publicKeyOpenssh: `ssh-ed25519 ${blob.toString("base64")}\n`,
        privateKeyOpenssh: `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}\n-----END OPENSSH PRIVATE KEY-----\n`.replace(
            "\n\n",
            "\n",
        ),
        publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
        privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    };
})();
const FAKE_HASH = `$2a$10$${"a".repeat(53)}`;

let resources = 0;
let lastRegistration = 0;

function outputs(type: string, inputs: Record<string, unknown>, id: string): Record<string, unknown> {
    switch (type) {
        case "tls:index/privateKey:PrivateKey":
            return inputs.algorithm === "RSA"
                ? {
                      ...inputs,
                      publicKeyPem: rsa.publicKey.export({ type: "spki", format: "pem" }).toString(),
                      privateKeyPem: rsa.privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
                  }
                : { ...inputs, ...ed };
        case "hcloud:index/primaryIp:PrimaryIp":
            return inputs.type === "ipv4"
                ? { ...inputs, ipAddress: "192.0.2.25" }
                : { ...inputs, ipAddress: "2001:db8:25::", ipNetwork: "2001:db8:25::/64" };
        case "hcloud:index/volume:Volume":
            return { ...inputs, linuxDevice: `/dev/disk/by-id/scsi-0HC_Volume_${id}` };
        case "random:index/randomPassword:RandomPassword":
            return { ...inputs, result: "generated-password-xxxxxxxx", bcryptHash: FAKE_HASH };
        case "random:index/randomId:RandomId":
            // The stack's state id (components/zones.ts dnsOwner): 8 hex digits for 4 bytes.
            return { ...inputs, hex: "0b5e55ed".padEnd(2 * Number(inputs.byteLength ?? 4), "0") };
        case "random:index/randomString:RandomString":
            return { ...inputs, result: "abcdefghijklmnopqrstuv".slice(0, Number(inputs.length)) };
        case "command:remote:Command":
            // A step's report; the host-key step's last line is the key the server made.
            return { ...inputs, stdout: `ok\n${ed.publicKeyOpenssh}`, stderr: "" };
        case "command:local:Command":
            return { ...inputs, stdout: `{BLF-CRYPT}${FAKE_HASH}`, stderr: "" };
        default:
            return { ...inputs };
    }
}

let ids = 100000;
void pulumi.runtime.setMocks(
    {
        newResource(args) {
            resources += 1;
            lastRegistration = performance.now();
            const id = args.type.startsWith("hcloud:") ? String(ids++) : `${args.name}-id`;
            return { id, state: outputs(args.type, args.inputs as Record<string, unknown>, id) };
        },
        call(args) {
            if (args.token === "cloudflare:index/getZone:getZone")
                return { id: `zone-of-${args.inputs.filter?.name}`, name: args.inputs.filter?.name };
            if (args.token === "cloudflare:index/getDnsRecords:getDnsRecords")
                return { zoneId: args.inputs.zoneId, results: [] };
            throw new Error(`unexpected invoke: ${args.token}`);
        },
    },
    "mailstack",
    "bench",
    false,
);

function config(): RawConfig {
    const domains = Array.from({ length: domainCount }, (_, d) => ({
        name: `d${d}.example`,
        mailboxes: Array.from({ length: perDomain }, (_, m) => `m${m}`),
        aliases: { postmaster: [`m0@d${d}.example`] },
    }));
    return {
        hostname: "mail.d0.example",
        acmeEmail: "postmaster@d0.example",
        sshAllowedCidrs: ["203.0.113.7/32"],
        domains,
    };
}

const resolved = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply((v) => resolve(v)));

/** Wait until no registration comes for 200 ms; the time of the last one. */
async function settled(): Promise<number> {
    let seen = -1;
    while (seen !== resources) {
        seen = resources;
        await new Promise((r) => setTimeout(r, 200));
    }
    return lastRegistration;
}

async function sdkFloor(): Promise<void> {
    const t0 = performance.now();
    const ids = Array.from(
        { length: domainCount },
        (_, i) =>
            new cloudflare.DnsRecord(`r${i}`, {
                zoneId: "zone",
                name: `r${i}.d0.example`,
                type: "TXT",
                ttl: 300,
                proxied: false,
                comment: "mailstack bench",
                content: "v=spf1 mx -all",
            }).id,
    );
    await Promise.all(ids.map(resolved));
    const programMs = Math.max(performance.now(), await settled()) - t0;
    console.log(
        JSON.stringify({ floor: true, resources, startupMs: Math.round(startupMs), programMs: Math.round(programMs) }),
    );
}

async function main(): Promise<void> {
    if (floor) return sdkFloor();
    const t0 = performance.now();
    const spec = buildSpec(config());
    const zones = await readZones(spec);
    const stack = new MailStack("mail", {
        spec,
        passwords: pulumi.secret({}),
        configuredPasswordAddresses: [],
        zones,
    });
    await Promise.all([
        resolved(stack.dnsRecords),
        resolved(stack.mailboxPasswords),
        resolved(stack.ipv4),
        resolved(stack.ipv6),
        ...Object.values(stack.provisioning.reports).map(resolved),
    ]);
    const outputsAt = performance.now();
    // Registrations that follow the outputs (none expected).
    const programMs = Math.max(outputsAt, await settled()) - t0;
    console.log(
        JSON.stringify({
            domains: domainCount,
            mailboxes: domainCount * perDomain,
            resources,
            startupMs: Math.round(startupMs),
            programMs: Math.round(programMs),
        }),
    );
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
