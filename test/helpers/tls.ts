// A self-signed certificate for the tests' own TLS servers on loopback (Debian's openssl).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** A P-256 key and a certificate for `hostname`, valid `days`, made in `dir` as `<name>.key`/`.pem`. */
export function selfSignedCert(
    dir: string,
    name: string,
    hostname: string,
    days: number,
): { key: Buffer; cert: string } {
    execFileSync(
        "openssl",
        [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            String(days),
            "-subj",
            `/CN=${hostname}`,
            "-addext",
            `subjectAltName=DNS:${hostname}`,
            "-keyout",
            path.join(dir, `${name}.key`),
            "-out",
            path.join(dir, `${name}.pem`),
        ],
        { stdio: "ignore" },
    );
    return {
        key: fs.readFileSync(path.join(dir, `${name}.key`)),
        cert: fs.readFileSync(path.join(dir, `${name}.pem`), "utf8"),
    };
}
