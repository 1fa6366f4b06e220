// mailstack doctor: check a live deployment the way a receiving provider would.
//
//   npm run doctor                                  the current stack (pulumi stack output)
//   npm run doctor -- --outputs outputs.json        the same content from a file
//   npx tsx doctor/cli.ts --help                    every option
//
// Exit status: 0 when no check fails (warn and unknown included), 1 on any fail, 2 when it
// cannot start (bad option, no outputs).

import * as fs from "node:fs";
import { parseArgs } from "node:util";
import { customBlocklist, PUBLIC_BLOCKLISTS } from "./dnsbl";
import { resolverAddress, systemLookup } from "./dns";
import { runDoctor } from "./doctor";
import { readOutputs } from "./outputs";
import { exitStatus, table } from "./report";

const HELP = `usage: npm run doctor -- [options]

  --outputs FILE        the stack's outputs (pulumi stack output --json --show-secrets > FILE);
                        default: run that command for the current stack
  --stack NAME          the stack to ask the Pulumi CLI for
  --resolver IP[:PORT]  the DNS resolver to ask (repeatable); default: the system's
  --ipv4 IP, --ipv6 IP  check these addresses instead of the outputs' ipv4/ipv6
  --ca FILE             also trust this CA (PEM) for the server's certificate (repeatable)
  --dnsbl ZONE          also ask this IP blocklist (repeatable; RFC 5782 codes)
  --domain-dnsbl ZONE   also ask this domain blocklist (repeatable)
  --no-public-dnsbl     do not ask the public blocklists
  --egress HOST:PORT    what the server must reach for outbound SMTP (default gmail-smtp-in.l.google.com:25;
                        with a relayhost configured, the relay is tried instead)
  --min-cert-days N     fail a certificate with fewer days left (default 14)
  --timeout SECONDS     the time limit of each check (default 10)
  --no-ssh              skip the checks on the server
  --json                print the results as JSON instead of the table
`;

async function main(argv: string[]): Promise<number> {
    const { values } = parseArgs({
        args: argv,
        options: {
            outputs: { type: "string" },
            stack: { type: "string" },
            resolver: { type: "string", multiple: true },
            ipv4: { type: "string" },
            ipv6: { type: "string" },
            ca: { type: "string", multiple: true },
            dnsbl: { type: "string", multiple: true },
            "domain-dnsbl": { type: "string", multiple: true },
            "no-public-dnsbl": { type: "boolean" },
            egress: { type: "string" },
            "min-cert-days": { type: "string" },
            timeout: { type: "string" },
            "no-ssh": { type: "boolean" },
            json: { type: "boolean" },
            help: { type: "boolean" },
        },
    });
    if (values.help) {
        process.stdout.write(HELP);
        return 0;
    }
    const number = (name: string, v: string | undefined, fallback: number) => {
        if (v === undefined) return fallback;
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}: "${v}" is not a positive number`);
        return n;
    };
    const timeoutSeconds = number("timeout", values.timeout, 10);
    const outputs = readOutputs(values.outputs, values.stack);
    const results = await runDoctor({
        outputs: {
            ...outputs,
            ...(values.ipv4 ? { ipv4: values.ipv4 } : {}),
            ...(values.ipv6 ? { ipv6: values.ipv6 } : {}),
        },
        lookup: systemLookup((values.resolver ?? []).map(resolverAddress), timeoutSeconds * 1000),
        blocklists: [
            ...(values["no-public-dnsbl"] ? [] : PUBLIC_BLOCKLISTS),
            ...(values.dnsbl ?? []).map((z) => customBlocklist(z, "ip")),
            ...(values["domain-dnsbl"] ?? []).map((z) => customBlocklist(z, "domain")),
        ],
        timeoutSeconds,
        ...(values.ca ? { ca: values.ca.map((f) => fs.readFileSync(f, "utf8")) } : {}),
        minCertDays: number("min-cert-days", values["min-cert-days"], 14),
        egress: values.egress ?? "gmail-smtp-in.l.google.com:25",
        ssh: !values["no-ssh"],
    });
    process.stdout.write(values.json ? JSON.stringify({ results }, null, 2) + "\n" : table(results) + "\n");
    return exitStatus(results);
}

main(process.argv.slice(2)).then(
    (status) => (process.exitCode = status),
    (err: Error) => {
        process.stderr.write(`mailstack doctor: ${err.message}\n(npm run doctor -- --help lists the options)\n`);
        process.exitCode = 2;
    },
);
