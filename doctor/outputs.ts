// The stack's outputs, as `pulumi stack output --json --show-secrets` prints them (or a file
// with the same content): all the doctor knows about what was deployed.

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { DOCTOR_OUTPUTS, type DoctorOutputs } from "../model/outputs";

/** Parse and check the outputs; a missing or wrong one is named. */
export function parseOutputs(json: string, source: string): DoctorOutputs {
    let value: unknown;
    try {
        value = JSON.parse(json);
    } catch (err) {
        throw new Error(`${source}: not JSON (${(err as Error).message})`);
    }
    const r = DOCTOR_OUTPUTS.safeParse(value);
    if (!r.success)
        throw new Error(
            `${source}: ${r.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ")}`,
        );
    // `pulumi stack output --json` without --show-secrets prints secrets as "[secret]".
    const secret = (v?: string) => (v && v !== "[secret]" ? v : undefined);
    const deployPrivateKey = secret(r.data.deployPrivateKey);
    const secondaryMxDeployPrivateKey = secret(r.data.secondaryMxDeployPrivateKey);
    return {
        ...r.data,
        ...(deployPrivateKey ? { deployPrivateKey } : { deployPrivateKey: undefined }),
        ...(secondaryMxDeployPrivateKey ? { secondaryMxDeployPrivateKey } : { secondaryMxDeployPrivateKey: undefined }),
    };
}

/** From a file, or from the Pulumi CLI for the current (or given) stack. */
export function readOutputs(file: string | undefined, stack: string | undefined): DoctorOutputs {
    if (file) return parseOutputs(fs.readFileSync(file, "utf8"), file);
    const args = ["stack", "output", "--json", "--show-secrets", ...(stack ? ["--stack", stack] : [])];
    let json: string;
    try {
        json = execFileSync("pulumi", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: process.env });
    } catch (err) {
        const e = err as { stderr?: string; message: string; code?: string };
        const why = e.code === "ENOENT" ? "the Pulumi CLI is not installed here" : (e.stderr || e.message).trim();
        throw new Error(`pulumi ${args.join(" ")}: ${why} (or pass --outputs FILE)`);
    }
    return parseOutputs(json, `pulumi ${args.join(" ")}`);
}
