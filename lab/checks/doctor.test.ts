// `npm run doctor` (doctor/cli.ts) against the lab, as a user runs it against a deployment:
// from outside (msl-out), with the stack's outputs in a file, the lab's resolver and the
// lab's CA. Everything the lab can answer must be ok; the public blocklists, which the lab
// cannot reach, must come back unknown at once. Then one thing at a time is broken (the DNS
// answers, a daemon, the way out, the certificate) and doctor must name exactly that, and
// it is restored before the next.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { reverseName } from "../../render/dns/text";
import { ACTIVE_UNITS } from "../../render/features";
import { DAV_UNIT } from "../../render/host/dav";
import { PHP_FPM_UNIT } from "../../render/host/webmail";
import { dkimName, TLS_SERVICES } from "../../model";
import { eventually, tcpProbe } from "../clients";
import type { LabDnsRecord } from "../world/dns";
import { sh } from "../harness/processes";
import { labSpec } from "../lab-config";
import {
    BLOCKLIST,
    DOCTOR_OUTPUTS,
    DOCTOR_TIMEOUT_S,
    isPublicList,
    showResults,
    startDoctorLab,
    type DoctorLab,
    type DoctorResult,
} from "./doctor-lab";
import { mx2QueueLength, offerToMx2, onMx2 } from "../clients/backup-mx";
import { inWords, NET, ssh, STATE_DIR, tag } from "./helpers";

type Result = DoctorResult;

const spec = labSpec();
let lab: DoctorLab;
/** The lab's zone, served by doctor's resolver on its own port so that the checks can change the answers. */
let zone: LabDnsRecord[];

before(async () => {
    lab = await startDoctorLab(spec);
    zone = lab.zone;
});

after(() => lab?.stop());

const doctorCommand = (extra: string[], resolver?: string) => lab.command(extra, resolver);
const doctor = (extra: string[] = [], resolver?: string) => lab.run(extra, resolver);

const notOk = (rs: Result[]) => rs.filter((r) => r.status !== "ok");
const names = (rs: Result[]) => rs.map((r) => r.check).sort();
const show = showResults;

/** A healthy lab's run: only the public blocklists are not ok. */
async function healthy(): Promise<Result[]> {
    const { status, results } = await doctor();
    const bad = notOk(results).filter((r) => !isPublicList(r));
    assert.deepEqual(bad, [], show(bad));
    assert.equal(status, 0);
    return results;
}

/** Run doctor with `zone` changed by `change`, then put the zone back. */
async function withZone(change: () => void, expect: (rs: Result[], status: number | null) => void): Promise<void> {
    const saved = zone.map((r) => ({ ...r }));
    change();
    try {
        const { status, results } = await doctor();
        expect(results, status);
    } finally {
        zone.splice(0, zone.length, ...saved);
    }
}

/** The failures, without the public blocklists (always unknown in the lab). */
const failing = (rs: Result[]) => rs.filter((r) => !isPublicList(r) && r.status !== "ok");

void test("doctor against the lab: every DNS, reverse DNS, port, TLS, relay, lab blocklist and server check is ok", async () => {
    const results = await healthy();
    const checks = names(results);
    // It really looked at each part.
    for (const d of spec.domains)
        for (const kind of ["MX", "SPF", "DKIM", "DMARC", "TLS-RPT"])
            assert.ok(
                checks.some((c) => c.startsWith(`dns ${kind} `) && c.endsWith(d.name)),
                `${kind} ${d.name}`,
            );
    for (const s of TLS_SERVICES)
        for (const family of ["IPv4", "IPv6"])
            assert.ok(checks.includes(`port ${s.port} ${s.name} ${family}`), `port ${s.port} ${family}`);
    for (const c of [
        `fcrdns IPv4 ${NET.server4}`,
        `fcrdns IPv6 ${NET.server6}`,
        `open relay ${NET.server4} port 25`,
        `dnsbl ${BLOCKLIST} ${NET.server4}`,
        `dnsbl ${BLOCKLIST} ${NET.server6}`,
        `ssh login root@${NET.server4}`,
        // The lab delivers directly to the recipients' MX (no mailstack:relay), so there is no relay check.
        ...["daemons", "outbound 25", "queue", "mail volume", "certificate renewal"].map((c) => `ssh ${c}`),
        ...["security updates", "reboot", "backup", "fail2ban"].map((c) => `ssh ${c}`),
        ...spec.domains.map((d) => `ssh dkim key ${dkimName(d.dkimSelector, d.name)}`),
        // The backup MX, when this run has one: from outside, port 25 only, and over SSH.
        ...(spec.secondaryMx
            ? [
                  `fcrdns IPv4 ${NET.mx2Server4}`,
                  `fcrdns IPv6 ${NET.mx2Server6}`,
                  "port 25 smtp IPv4",
                  "port 25 smtp IPv6",
                  `open relay ${NET.mx2Server4} port 25`,
                  `dnsbl ${BLOCKLIST} ${NET.mx2Server4}`,
                  `dnsbl ${BLOCKLIST} ${NET.mx2Server6}`,
                  `ssh login root@${NET.mx2Server4}`,
                  "ssh daemons",
                  "ssh queue",
              ].map((c) => `backup MX ${c}`)
            : []),
    ])
        assert.ok(checks.includes(c), `no check ${c}`);
    // Nothing of the backup MX's but its port 25 from outside.
    assert.deepEqual(
        checks.filter((c) => c.startsWith("backup MX port ")),
        spec.secondaryMx ? ["backup MX port 25 smtp IPv4", "backup MX port 25 smtp IPv6"] : [],
    );
});

void test("doctor's table: a line per check, a fix under each problem, the counts last", async () => {
    const r = await doctorCommand([]);
    // The README shows this output.
    console.log(r.stdout);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.match(lines.at(-1)!, /^0 fail, 0 warn, \d+ unknown, \d+ ok$/);
    assert.match(r.stdout, /^unknown dnsbl zen\.spamhaus\.org 192\.0\.2\.25 +cannot tell: .*\n {8}fix: /m);
    // The webmail's php-fpm and Radicale count too where the webmail and dav are on (the lab's default).
    const units = ACTIVE_UNITS.length + (spec.webmail ? 1 : 0) + (spec.dav ? 1 : 0);
    assert.match(r.stdout, new RegExp(`^ok +ssh daemons +${units} active: `, "m"));
    if (spec.webmail) assert.match(r.stdout, new RegExp(`^ok +ssh daemons .*\\b${PHP_FPM_UNIT}\\b`, "m"));
    if (spec.dav) assert.match(r.stdout, new RegExp(`^ok +ssh daemons .*\\b${DAV_UNIT}\\b`, "m"));
});

void test("the public blocklists, which the lab cannot reach, are reported unknown at once, not hung on", async () => {
    const { results, seconds } = await doctor();
    const lists = results.filter(isPublicList);
    assert.ok(lists.length >= 5, show(lists));
    assert.deepEqual(
        lists.filter((r) => r.status !== "unknown" || !/did not list its test entry/.test(r.detail)),
        [],
    );
    assert.ok(
        lists.every((r) => (r.ms ?? Infinity) < 2000),
        show(lists),
    );
    assert.ok(seconds < 60, `doctor took ${seconds} s`);
});

void test("a wrong DKIM key in DNS is named: that one record, nothing else", async () => {
    const d = spec.domains[0];
    const name = dkimName(d.dkimSelector, d.name);
    const other = spec.domains[1];
    await withZone(
        () => {
            const rec = zone.find((r) => r.name === name && r.type === "TXT")!;
            // The other domain's key: a well-formed record, just not the one this domain signs with.
            rec.content = zone.find((r) => r.name === dkimName(other.dkimSelector, other.name))!.content;
        },
        (rs, status) => {
            assert.deepEqual(names(failing(rs)), [`dns DKIM ${name}`], show(failing(rs)));
            assert.match(failing(rs)[0].detail, /not the published/);
            assert.equal(status, 1);
        },
    );
});

void test("a second SPF record is named: a permanent SPF error at that name", async () => {
    const d = spec.domains[1].name;
    await withZone(
        () => zone.push({ name: d, type: "TXT", content: '"v=spf1 include:_spf.example.com -all"' }),
        (rs, status) => {
            assert.deepEqual(names(failing(rs)), [`dns SPF ${d}`], show(failing(rs)));
            assert.match(failing(rs)[0].detail, /^2 SPF records at example\.net/);
            assert.equal(status, 1);
        },
    );
});

void test("a missing PTR is named: forward-confirmed reverse DNS of that address", async () => {
    await withZone(
        () =>
            zone.splice(
                zone.findIndex((r) => r.type === "PTR" && r.name === reverseName(NET.server6)),
                1,
            ),
        (rs, status) => {
            assert.deepEqual(names(failing(rs)), [`fcrdns IPv6 ${NET.server6}`], show(failing(rs)));
            assert.equal(failing(rs)[0].detail, `${NET.server6} has no PTR record`);
            assert.equal(status, 1);
        },
    );
});

void test("an address listed on the lab's blocklist is named with the list", async () => {
    const listed = `${NET.server4.split(".").reverse().join(".")}.${BLOCKLIST}`;
    await withZone(
        () => zone.push({ name: listed, type: "A", content: "127.0.0.2" }),
        (rs, status) => {
            assert.deepEqual(names(failing(rs)), [`dnsbl ${BLOCKLIST} ${NET.server4}`], show(failing(rs)));
            assert.match(failing(rs)[0].detail, /is listed \(127\.0\.0\.2\)/);
            assert.equal(status, 1);
        },
    );
});

/** The ports Dovecot itself listens on (IMAPS, POP3S, ManageSieve), from the services table. */
const DOVECOT_PORTS = TLS_SERVICES.filter((s) => ["imap", "pop3", "managesieve"].includes(s.protocol)).map(
    (s) => s.port,
);

void test(`a stopped Dovecot is named: the daemon, and ${inWords(DOVECOT_PORTS)} on both addresses`, async () => {
    ssh("systemctl stop dovecot");
    try {
        const { status, results } = await doctor();
        const bad = failing(results);
        const daemons = bad.find((r) => r.check === "ssh daemons");
        assert.ok(daemons, show(bad));
        assert.equal(daemons.status, "fail");
        assert.match(daemons.detail, /^not active: dovecot (inactive|failed)$/);
        for (const p of DOVECOT_PORTS)
            for (const family of ["IPv4", "IPv6"])
                assert.ok(
                    bad.some((r) => r.check.startsWith(`port ${p} `) && r.check.endsWith(family)),
                    `${p} ${family}`,
                );
        // Nothing else but what needs Dovecot (the SASL logins of 465/587) may be affected.
        const affected = new RegExp(`^(ssh daemons|port (${[...DOVECOT_PORTS, 465, 587].join("|")}) )`);
        assert.deepEqual(
            bad.filter((r) => !affected.test(r.check)),
            [],
            show(bad),
        );
        assert.equal(status, 1);
    } finally {
        ssh("systemctl start dovecot");
        // IMAPS back after restarting Dovecot.
        await eventually(async () => (await tcpProbe(993)) === "open");
    }
    await healthy();
});

const noMx2 = spec.secondaryMx ? false : "the lab ran without the backup MX (npm run lab -- --secondary)";

void test(
    "a stopped Postfix on the backup MX is named: its daemons, its port 25 on both addresses and the relay probe that found no session, nothing of the primary",
    { skip: noMx2 },
    async () => {
        onMx2("systemctl stop postfix");
        try {
            const { status, results } = await doctor();
            const bad = failing(results);
            assert.deepEqual(
                names(bad),
                [
                    `backup MX open relay ${NET.mx2Server4} port 25`,
                    "backup MX port 25 smtp IPv4",
                    "backup MX port 25 smtp IPv6",
                    "backup MX ssh daemons",
                ],
                show(bad),
            );
            assert.match(
                bad.find((r) => r.check === "backup MX ssh daemons")!.detail,
                /^not active: postfix (inactive|failed)$/,
            );
            assert.equal(status, 1);
        } finally {
            onMx2("systemctl start postfix");
            await eventually(async () => (await tcpProbe(25, NET.mx2Server4, NET.client4)) === "open");
        }
        await healthy();
    },
);

void test(
    "mail waiting on the backup MX (the primary refusing its connections) is a warning with the count and the primary's name; once delivered, the queue is ok again",
    { skip: noMx2 },
    async () => {
        // The backup MX's connections to the primary's port 25 refused (a reset: deferred at once).
        const table = "doctor_lab_mx2";
        const blocked = onMx2(
            `nft add table inet ${table} && nft add chain inet ${table} out '{ type filter hook output priority 0; }' && ` +
                `nft add rule inet ${table} out ip daddr ${NET.server4} tcp dport 25 reject with tcp reset && ` +
                `nft add rule inet ${table} out ip6 daddr ${NET.server6} tcp dport 25 reject with tcp reset`,
        );
        assert.equal(blocked.status, 0, `the backup MX's block of the primary: ${blocked.stderr}`);
        const subject = tag("doctor-mx2");
        try {
            const from = "news@shop.test";
            const to = `alice@${spec.domains[0].name}`;
            const raw = [
                `From: <${from}>`,
                `To: <${to}>`,
                `Subject: ${subject}`,
                `Message-ID: <${subject}@client.sink.test>`,
                `Date: ${new Date().toUTCString()}`,
                "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=utf-8",
                "",
                "Waiting on the backup MX.",
            ].join("\r\n");
            const { replies } = await offerToMx2(from, to, raw);
            assert.deepEqual(
                replies.map((r) => r.code),
                [250, 250, 250, 354, 250],
                JSON.stringify(replies),
            );
            const { status, results } = await doctor();
            const bad = failing(results);
            assert.deepEqual(names(bad), ["backup MX ssh queue"], show(bad));
            assert.equal(bad[0].status, "warn");
            assert.match(
                bad[0].detail,
                new RegExp(
                    `^1 message\\(s\\) waiting for ${spec.hostname.replace(/\./g, "\\.")}, the oldest for 0\\.0 h`,
                ),
            );
            assert.equal(status, 0, "a warning is not a failure");
        } finally {
            onMx2(`nft delete table inet ${table}; postqueue -f`);
        }
        await eventually(() => mx2QueueLength() === 0, 60_000, 1000);
        await healthy();
    },
);

void test("a blocked outbound 25 fails: the lab delivers directly to the recipients' MX, so nothing would leave", async () => {
    assert.equal(spec.relay, undefined, "the lab's default config has no relay");
    assert.ok(!names(await healthy()).includes("ssh outbound relay"), "a relay check without a relay");
    // The block as Hetzner makes it: the server's packets to port 25 are dropped on the way out.
    const table = "doctor_lab_block";
    ssh(`nft add table inet ${table}; nft add chain inet ${table} out '{ type filter hook output priority 0; }'`);
    try {
        ssh(`nft add rule inet ${table} out tcp dport 25 drop`);
        const r = await doctor();
        assert.deepEqual(names(failing(r.results)), ["ssh outbound 25"], show(failing(r.results)));
        const out = r.results.find((x) => x.check === "ssh outbound 25")!;
        assert.equal(out.status, "fail");
        assert.match(out.detail, /cannot reach \S+ port 25: outbound 25 is blocked/);
        assert.match(out.fix ?? "", /Hetzner support.*mailstack:relay/);
        assert.equal(r.status, 1);
    } finally {
        ssh(`nft delete table inet ${table}`);
    }
    await healthy();
});

void test("an expiring certificate is named on every TLS port", async () => {
    // A certificate for the host name with 5 days left, trusted through --ca like the lab's own,
    // in the daemons' place; the real one is put back afterwards.
    const dir = "/root/doctor-lab-tls";
    ssh(
        `set -e; mkdir -p ${dir}; cp -p /etc/mailstack/tls/fullchain.pem /etc/mailstack/tls/privkey.pem ${dir}/; ` +
            `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 5 -subj /CN=${spec.hostname} ` +
            `-addext subjectAltName=DNS:${spec.hostname} -keyout ${dir}/short.key -out ${dir}/short.pem 2>/dev/null`,
    );
    const shortCa = path.join(STATE_DIR, "doctor-short.pem");
    fs.writeFileSync(shortCa, ssh(`cat ${dir}/short.pem`).stdout);
    try {
        ssh(
            `set -e; install -m 0640 -g "$(stat -c %G /etc/mailstack/tls/privkey.pem)" ${dir}/short.key /etc/mailstack/tls/privkey.pem; ` +
                `install -m 0644 ${dir}/short.pem /etc/mailstack/tls/fullchain.pem; systemctl reload postfix dovecot nginx`,
        );
        // Until the daemons present the short certificate (a reload takes a moment).
        const { status, results } = await eventually(async () => {
            const r = await doctor(["--ca", shortCa]);
            assert.ok(failing(r.results).length > 0, "still the old certificate");
            return r;
        }, 40_000);
        const bad = failing(results);
        const tlsChecks = TLS_SERVICES.flatMap((s) => ["IPv4", "IPv6"].map((f) => `port ${s.port} ${s.name} ${f}`));
        assert.deepEqual(names(bad), [...tlsChecks].sort(), show(bad));
        for (const r of bad) assert.match(r.detail, /certificate expires in [45] day/, r.check);
        assert.equal(status, 1);
    } finally {
        ssh(
            `set -e; cp -p ${dir}/fullchain.pem ${dir}/privkey.pem /etc/mailstack/tls/; rm -rf ${dir}; systemctl reload postfix dovecot nginx`,
        );
        fs.rmSync(shortCa, { force: true });
    }
    // The real certificate back on every port.
    await eventually(async () => (await healthy()).length > 0, 40_000);
});

void test("a backup older than 2 days is named, and a fresh one is ok (mailstack-backup status on the server)", async () => {
    // The lab's repository (the Storage Box) has no backup yet: this check runs before
    // backup.test.ts. Another one is written into the backup step's env for a moment (nothing
    // runs a backup: the timers stay as they are), with the stamp of a success.
    const env = "/etc/mailstack/backup/env";
    const stamp = "/var/lib/mailstack/backup-last-success";
    const saved = "/root/doctor-lab-backup";
    ssh(
        `set -e; mkdir -p ${saved}; cp -p ${env} ${saved}/env; [ ! -e ${stamp} ] || cp -p ${stamp} ${saved}/stamp; ` +
            `echo "RESTIC_REPOSITORY='sftp:lab@192.0.2.99:mailstack'" >> ${env}; mkdir -p $(dirname ${stamp}); ` +
            `echo $(( $(date +%s) - 3 * 86400 )) > ${stamp}`,
    );
    try {
        let r = await doctor();
        assert.deepEqual(names(failing(r.results)), ["ssh backup"], show(failing(r.results)));
        assert.match(failing(r.results)[0].detail, /^the last successful backup was 72\.\d h ago$/);
        assert.equal(r.status, 1);
        ssh(`date +%s > ${stamp}`);
        r = await doctor();
        assert.match(r.results.find((x) => x.check === "ssh backup")!.detail, /^last successful backup 0\.\d h ago$/);
    } finally {
        ssh(
            `set -e; cp -p ${saved}/env ${env}; if [ -e ${saved}/stamp ]; then cp -p ${saved}/stamp ${stamp}; else rm -f ${stamp}; fi; rm -rf ${saved}`,
        );
    }
    const r = await doctor();
    // Back to the lab's own: configured, and no backup has run yet.
    assert.match(r.results.find((x) => x.check === "ssh backup")!.detail, /no backup has run yet/);
});

void test("a server that shows another host key than sshHostKey is refused: no check runs on it", async () => {
    const other = path.join(STATE_DIR, "doctor-other-host-key");
    const wrong = path.join(STATE_DIR, "doctor-outputs-wrong-key.json");
    fs.rmSync(other, { force: true });
    sh("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", other]);
    const outputs = JSON.parse(fs.readFileSync(DOCTOR_OUTPUTS, "utf8")) as Record<string, string>;
    const key = fs.readFileSync(`${other}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ");
    fs.writeFileSync(wrong, JSON.stringify({ ...outputs, sshHostKey: key }), { mode: 0o600 });
    try {
        const { status, results } = await doctor(["--outputs", wrong]);
        const ssh = results.filter((r) => r.check.startsWith("ssh "));
        assert.deepEqual(names(ssh), [`ssh login root@${NET.server4}`], show(ssh));
        assert.equal(ssh[0].status, "fail");
        assert.match(ssh[0].detail, /host key verification failed/i);
        assert.match(ssh[0].fix ?? "", /another host key than the stack's sshHostKey/);
        assert.equal(status, 1);
    } finally {
        fs.rmSync(wrong, { force: true });
        fs.rmSync(other, { force: true });
        fs.rmSync(`${other}.pub`, { force: true });
    }
});

void test("an unreachable network is reported, not hung on: every check answers within its time limit", async () => {
    // Addresses with no route from msl-out: the resolver and the server are both out of reach.
    const { status, results, seconds } = await doctor(
        ["--ipv4", "203.0.113.25", "--ipv6", "2001:db8:ffff::25"],
        "203.0.113.53",
    );
    assert.equal(status, 1);
    assert.ok(seconds < 3 * DOCTOR_TIMEOUT_S + 15, `doctor took ${seconds} s`);
    const port25 = results.find((r) => r.check === "port 25 smtp IPv4")!;
    assert.equal(port25.status, "fail");
    assert.match(port25.detail, /unreachable|time limit/);
    assert.equal(results.find((r) => r.check.startsWith("ssh login"))?.status, "fail");
    const dns = results.filter((r) => r.check.startsWith("dns "));
    assert.ok(dns.length > 0);
    assert.deepEqual(
        dns.filter((r) => r.status !== "fail"),
        [],
        show(dns),
    );
});
