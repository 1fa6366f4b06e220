// The lab's ACME CA: Debian's `pebble` (Let's Encrypt's test server) in msl-out, so the
// stack's own scripts/issue-certificate.sh obtains the host's certificate for real: certbot
// in the container, HTTP-01 through the container's nginx on port 80, validated by pebble
// through the lab DNS. Nothing leaves the lab: pebble listens on a documentation address
// and resolves names only through lab/world/dns.ts.
//
// Pebble's own HTTPS endpoint needs a certificate for acme.lab.test: a throwaway lab CA made
// with openssl here; the container trusts it through /etc/mailstack/acme-ca.pem (the hook
// issue-certificate.sh reads). Pebble signs what it issues with a root of its own, new on
// every start: `pebbleRoot()` fetches it for the checks.

import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import { NET, startOutsideProcess } from "../harness/net";
import { sh, STATE_DIR } from "../harness/processes";

export const ACME_HOST = "acme.lab.test";
/** The lab spec's acmeServer: pebble's directory on the HTTPS port. */
export const ACME_DIRECTORY = `https://${ACME_HOST}/dir`;
const MANAGEMENT_PORT = 15000;

const dir = () => path.join(STATE_DIR, "acme");

/** The lab CA that signed pebble's HTTPS certificate (PEM). */
export function acmeLabCa(): string {
    return fs.readFileSync(path.join(dir(), "ca.pem"), "utf8");
}

/** A CA and a certificate for acme.lab.test signed by it, for pebble's HTTPS endpoint. */
function makeCertificates(): void {
    const d = dir();
    fs.mkdirSync(d, { recursive: true, mode: 0o700 });
    const f = (n: string) => path.join(d, n);
    const openssl = (...args: string[]) => sh("openssl", args);
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=mailstack lab ACME CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        f("ca.key"),
        "-out",
        f("ca.pem"),
    );
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        `/CN=${ACME_HOST}`,
        "-keyout",
        f("server.key"),
        "-out",
        f("server.csr"),
    );
    fs.writeFileSync(
        f("server.ext"),
        `basicConstraints=CA:FALSE\nsubjectAltName=DNS:${ACME_HOST},IP:${NET.outside4}\nextendedKeyUsage=serverAuth\n`,
    );
    openssl(
        "x509",
        "-req",
        "-in",
        f("server.csr"),
        "-CA",
        f("ca.pem"),
        "-CAkey",
        f("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        f("server.ext"),
        "-out",
        f("server.pem"),
    );
}

/**
 * A server certificate for `names` signed by the lab CA (the container trusts it in its system
 * store, lab/harness/container.ts): DIR/NAME.key and DIR/NAME.pem. For the outside MX and its
 * MTA-STS policy host (lab/world/peer.ts), where public CAs' certificates would be on the Internet.
 */
export function labCaCertificate(outDir: string, name: string, names: readonly string[]): void {
    const d = dir();
    const f = (n: string) => path.join(outDir, n);
    fs.mkdirSync(outDir, { recursive: true, mode: 0o700 });
    sh("openssl", [
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        `/CN=${names[0]}`,
        "-keyout",
        f(`${name}.key`),
        "-out",
        f(`${name}.csr`),
    ]);
    fs.writeFileSync(
        f(`${name}.ext`),
        `basicConstraints=CA:FALSE\nsubjectAltName=${names.map((n) => `DNS:${n}`).join(",")}\nextendedKeyUsage=serverAuth\n`,
    );
    sh("openssl", [
        "x509",
        "-req",
        "-in",
        f(`${name}.csr`),
        "-CA",
        path.join(d, "ca.pem"),
        "-CAkey",
        path.join(d, "ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        f(`${name}.ext`),
        "-out",
        f(`${name}.pem`),
    ]);
}

/** Start pebble in msl-out on 198.51.100.7:443, validating HTTP-01 on port 80 through the lab DNS. */
export async function startAcmeServer(): Promise<number> {
    makeCertificates();
    const config = {
        pebble: {
            listenAddress: `${NET.outside4}:443`,
            managementListenAddress: `${NET.outside4}:${MANAGEMENT_PORT}`,
            certificate: path.join(dir(), "server.pem"),
            privateKey: path.join(dir(), "server.key"),
            httpPort: 80,
            tlsPort: 443,
            ocspResponderURL: "",
            externalAccountBindingRequired: false,
        },
    };
    const file = path.join(dir(), "pebble.json");
    fs.writeFileSync(file, JSON.stringify(config, null, 2));
    return startOutsideProcess(
        "acme",
        ["pebble", "-config", file, "-dnsserver", `${NET.client4}:53`],
        /ACME directory available/,
        {
            // No random sleeps before validation and no random nonce rejections: the lab wants
            // the real protocol, not pebble's chaos testing.
            PEBBLE_VA_NOSLEEP: "1",
            PEBBLE_WFE_NONCEREJECT: "0",
        },
    );
}

/** Where the lab keeps pebble's root of this run, for the container's trust store. */
const pebbleRootFile = () => path.join(dir(), "pebble-root.pem");

/**
 * Fetch pebble's root once it runs and keep it: the container trusts it as a real server
 * trusts Let's Encrypt's (Roundcube verifies the host's own certificate on 993/465/4190).
 */
export async function savePebbleRoot(): Promise<void> {
    // From msl-out, where pebble listens (this process is in the host's namespace): curl there,
    // verifying the management API against the lab CA as pebbleRoot() does.
    const r = sh("ip", [
        "netns",
        "exec",
        NET.outsideNs,
        "curl",
        "-sS",
        "--fail",
        "--retry",
        "5",
        "--retry-connrefused",
        "--cacert",
        path.join(dir(), "ca.pem"),
        "--resolve",
        `${ACME_HOST}:${MANAGEMENT_PORT}:${NET.outside4}`,
        `https://${ACME_HOST}:${MANAGEMENT_PORT}/roots/0`,
    ]);
    if (!r.stdout.includes("-----BEGIN CERTIFICATE-----"))
        throw new Error(`pebble /roots/0: ${r.stdout.slice(0, 200)}`);
    fs.writeFileSync(pebbleRootFile(), r.stdout);
}

/** Pebble's root of this run, as saved by savePebbleRoot. */
export function savedPebbleRoot(): string {
    return fs.readFileSync(pebbleRootFile(), "utf8");
}

/** Pebble's current root (the issuer of the host's certificate chain), over its management API. */
export async function pebbleRoot(): Promise<string> {
    return new Promise((resolve, reject) => {
        const req = https.get(
            {
                host: NET.outside4,
                port: MANAGEMENT_PORT,
                path: "/roots/0",
                ca: acmeLabCa(),
                servername: ACME_HOST,
                timeout: 10_000,
            },
            (res) => {
                let body = "";
                res.setEncoding("utf8");
                res.on("data", (c: string) => (body += c));
                res.on("end", () =>
                    res.statusCode === 200
                        ? resolve(body)
                        : reject(new Error(`pebble /roots/0: HTTP ${res.statusCode}`)),
                );
            },
        );
        req.on("error", reject);
        req.on("timeout", () => req.destroy(new Error("pebble /roots/0: timeout")));
    });
}
