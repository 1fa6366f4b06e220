import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { test } from "node:test";
import type { ConnectionOptions } from "node:tls";
import { TLS_SERVICES } from "../../model";
import { pebbleRoot } from "../world/acme";
import { eventually, starttlsPeer, tlsPeer } from "../clients";
import { renderCertificateRequests } from "../../render/host/client-config";
import { labSpec } from "../lab-config";
import { runStep } from "../scenarios/provision";
import { inWords, ssh } from "./helpers";

const HOSTNAME = "mail.example.org";

/** The ports that present the host's certificate: the TLS ports of the services table. */
const TLS_PORTS = TLS_SERVICES.map((s) => s.port);

/** Connect to every TLS port verifying against `ca`; the leaf fingerprint each one presents. */
async function presented(tlsOptions: ConnectionOptions): Promise<Record<number, string>> {
    const out: Record<number, string> = {};
    for (const s of TLS_SERVICES) {
        const f =
            s.tls === "starttls"
                ? (await starttlsPeer(s, tlsOptions)).peerFingerprint
                : (await tlsPeer(s.port, tlsOptions)).fingerprint;
        assert.ok(f, `port ${s.port}: no certificate`);
        out[s.port] = f;
    }
    return out;
}

/** Every TLS port presenting the certificate with this fingerprint. */
const everyPort = (fingerprint: string) => Object.fromEntries(TLS_PORTS.map((p) => [p, fingerprint]));

/** The fingerprint of the leaf in the daemons' copy, /etc/mailstack/tls/fullchain.pem. */
function deployedFingerprint(): string {
    return new X509Certificate(ssh("cat /etc/mailstack/tls/fullchain.pem").stdout).fingerprint256;
}

void test(`certbot got the host's certificate from the lab's ACME CA over HTTP-01, and ${inWords(TLS_PORTS)} all present it, verified for mail.example.org`, async () => {
    const renewal = ssh(`cat /etc/letsencrypt/renewal/${HOSTNAME}.conf`).stdout;
    assert.match(renewal, /^authenticator = webroot$/m);
    assert.match(renewal, /^server = https:\/\/acme\.lab\.test\/dir$/m);
    // Verification (chain to pebble's root, name) is on: a self-signed or wrong-name
    // certificate makes the handshake itself fail.
    const verify: ConnectionOptions = { ca: await pebbleRoot(), rejectUnauthorized: true, servername: HOSTNAME };
    const fps = await presented(verify);
    const deployed = deployedFingerprint();
    assert.deepEqual(fps, everyPort(deployed));
    // The self-signed first-boot certificate is gone from every port.
    const leaf = new X509Certificate(ssh("cat /etc/mailstack/tls/fullchain.pem").stdout);
    assert.ok(leaf.checkHost(HOSTNAME), `certificate subject ${leaf.subject} / ${leaf.subjectAltName}`);
    assert.notEqual(leaf.issuer, leaf.subject, "still self-signed");
});

void test("certbot.timer is enabled, and a renewal puts the new certificate on every port by reload, without restarting Postfix or Dovecot", async () => {
    assert.equal(ssh("systemctl is-enabled certbot.timer").stdout.trim(), "enabled");
    const pids = () =>
        ssh("cat /var/spool/postfix/pid/master.pid | tr -d ' '; systemctl show -p MainPID --value dovecot").stdout;
    const before = { fp: deployedFingerprint(), pids: pids() };
    // What the timer runs (certbot renew), forced because the certificate is new. The lab
    // CA is trusted the same way issue-certificate.sh trusts it.
    const r = ssh(
        "REQUESTS_CA_BUNDLE=/etc/mailstack/acme-ca.pem certbot renew --force-renewal --no-random-sleep-on-renew --non-interactive 2>&1",
        { allowFail: true, timeoutMs: 120_000 },
    );
    assert.equal(r.status, 0, r.stdout);
    const after = deployedFingerprint();
    assert.notEqual(after, before.fp, "the deploy hook did not install the renewed certificate");
    const verify: ConnectionOptions = { ca: await pebbleRoot(), rejectUnauthorized: true, servername: HOSTNAME };
    // Processes started before the reload may serve the old (still valid) certificate for a
    // moment: what counts is that every port presents the new one within seconds.
    const want = everyPort(after);
    let last: Record<number, string> = {};
    await eventually(
        async () => JSON.stringify((last = await presented(verify))) === JSON.stringify(want),
        15_000,
        500,
    ).catch(() => undefined);
    assert.deepEqual(last, want);
    assert.equal(pids(), before.pids, "Postfix or Dovecot was restarted");
    // And the provisioning step sees nothing to do afterwards.
    const again = await runStep("issue-certificate.sh", renderCertificateRequests(labSpec()));
    assert.equal(again.status, 0, again.output);
    assert.match(again.output, /issue-certificate: unchanged/);
});
