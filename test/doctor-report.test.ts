// mailstack doctor (doctor/): reading the stack outputs, and the report's table and exit status.
// No network, no root.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { dkimRecords, mailDomains } from "../doctor/doctor";
import { parseOutputs, readOutputs } from "../doctor/outputs";
import { exitStatus, table } from "../doctor/report";
import type { CheckResult } from "../doctor/types";
import { spec, published } from "./helpers/doctor";

describe("outputs and report", () => {
    const outputs = {
        hostname: spec.hostname,
        ipv4: "192.0.2.25",
        ipv6: "2001:db8::25",
        dnsRecords: published,
        deployPrivateKey: "[secret]",
        sshHostKey: "ssh-ed25519 AAAA",
    };

    test("the outputs as pulumi prints them; a missing one is named; a hidden secret is absent", () => {
        const o = parseOutputs(JSON.stringify(outputs), "f.json");
        expect(o.deployPrivateKey).toBeUndefined();
        expect(mailDomains(o)).toEqual(["nathabee.de", "example.org"]);
        expect(dkimRecords(o).map((k) => `${k.selector}._domainkey.${k.domain}`)).toEqual([
            "mail._domainkey.nathabee.de",
            "mail._domainkey.example.org",
        ]);
        expect(() => parseOutputs(JSON.stringify({ ...outputs, dnsRecords: undefined }), "f.json")).toThrow(
            /^f\.json: dnsRecords: /,
        );
    });

    test("without --outputs, the Pulumi CLI is asked, with the secrets shown (a fake pulumi on PATH)", () => {
        const bin = fs.mkdtempSync(path.join(os.tmpdir(), "doctor-pulumi-"));
        const saved = process.env.PATH;
        try {
            const log = path.join(bin, "args");
            fs.writeFileSync(
                path.join(bin, "pulumi"),
                `#!/bin/sh\necho "$@" > ${log}\ncat <<'EOF'\n${JSON.stringify({ ...outputs, deployPrivateKey: "KEY" })}\nEOF\n`,
                { mode: 0o755 },
            );
            process.env.PATH = `${bin}:${saved}`;
            expect(readOutputs(undefined, "mail").deployPrivateKey).toBe("KEY");
            expect(fs.readFileSync(log, "utf8").trim()).toBe("stack output --json --show-secrets --stack mail");
            process.env.PATH = bin;
            fs.rmSync(path.join(bin, "pulumi"));
            expect(() => readOutputs(undefined, undefined)).toThrow(
                /the Pulumi CLI is not installed here \(or pass --outputs FILE\)/,
            );
        } finally {
            process.env.PATH = saved;
            fs.rmSync(bin, { recursive: true, force: true });
        }
    });

    test("the table shows a fix under each problem; the exit status is 1 on a fail only", () => {
        const rs: CheckResult[] = [
            { check: "a", status: "ok", detail: "fine" },
            { check: "b", status: "warn", detail: "meh", fix: "do b" },
            { check: "c", status: "unknown", detail: "?" },
        ];
        expect(exitStatus(rs)).toBe(0);
        expect(table(rs)).toMatch(/^warn +b +meh\n {8}fix: do b$/m);
        const failing = [...rs, { check: "d", status: "fail" as const, detail: "broken", fix: "fix d" }];
        expect(exitStatus(failing)).toBe(1);
        expect(table(failing).split("\n").at(-1)).toBe("1 fail, 1 warn, 1 unknown, 1 ok");
    });
});
