// mailstack doctor (doctor/): the checks on the server, judged from the SSH script's output.
// No network, no root.

import { execFileSync } from "node:child_process";
import { remoteResults, remoteScript, type RemoteFacts } from "../doctor/remote";
import { spec } from "./helpers/doctor";

describe("the checks on the server (the SSH script's output)", () => {
    const f: RemoteFacts = {
        hostname: spec.hostname,
        dkim: [{ domain: "nathabee.de", selector: "mail", publicKey: "A".repeat(392) }],
        egress: "198.51.100.7:25",
        commandTimeout: 5,
    };
    const now = 1_800_000_000_000;
    const healthy = (over: Record<string, string> = {}) => {
        const parts: Record<string, string> = {
            units: ["postsrsd", "opendkim", "dovecot", "postfix"].map((u) => `${u} active`).join("\n"),
            egress: "direct ok 198.51.100.7 25",
            queue: "",
            "outbound-tls": "Verified 3\nTrusted 0\nUntrusted 1\nAnonymous 12",
            volume: " 10000000000 2000000000 8000000000 20%",
            certbot: `timer enabled active\nservice success\nrenewed ${now / 1000 - 5 * 86400}\nnow ${now / 1000}`,
            updates: "0",
            reboot: "no",
            backup: "unconfigured",
            imports: `none\nnow ${now / 1000}`,
            fail2ban: "[{'sshd': []}, {'dovecot': []}]",
            dkim: `nathabee.de mail ${"A".repeat(392)}`,
            ...over,
        };
        return (
            Object.entries(parts)
                .map(([k, v]) => `\n@@${k}\n${v}`)
                .join("") + "\n@@end\n"
        );
    };
    const byCheck = (out: string) => Object.fromEntries(remoteResults(out, f, now).map((r) => [r.check, r]));

    test("a healthy server: every part ok", () => {
        const r = remoteResults(healthy(), f, now);
        expect(r.filter((x) => x.status !== "ok")).toEqual([]);
        expect(r.map((x) => x.check)).toEqual([
            "ssh daemons",
            "ssh outbound 25",
            "ssh queue",
            "ssh outbound TLS",
            "ssh mail volume",
            "ssh certificate renewal",
            "ssh security updates",
            "ssh reboot",
            "ssh backup",
            "ssh fail2ban",
            "ssh dkim key mail._domainkey.nathabee.de",
        ]);
    });

    test("the queue of a stopped Postfix is still read (postqueue says so and reads it directly); any other complaint is unknown", () => {
        const down =
            "postqueue: warning: Mail system is down -- accessing queue directly (Connect to the Postfix showq service: No such file or directory)";
        expect(byCheck(healthy({ queue: down }))["ssh queue"]).toMatchObject({
            status: "ok",
            detail: "0 message(s) queued, 0 deferred",
        });
        const one = JSON.stringify({ queue_name: "deferred", arrival_time: now / 1000 - 3600 });
        expect(byCheck(healthy({ queue: `${down}\n${one}` }))["ssh queue"]).toMatchObject({
            status: "ok",
            detail: "1 message(s) queued, 1 deferred, the oldest for 1.0 h",
        });
        expect(byCheck(healthy({ queue: "postqueue: fatal: Queue report unavailable" }))["ssh queue"]).toMatchObject({
            status: "unknown",
            detail: "postqueue: postqueue: fatal: Queue report unavailable",
        });
    });

    test("each problem is named", () => {
        const r = byCheck(
            healthy({
                units: "postfix active\ndovecot inactive",
                egress: "direct failed 198.51.100.7 25 124",
                queue: JSON.stringify({
                    queue_name: "deferred",
                    arrival_time: now / 1000 - 30 * 3600,
                    recipients: [{ delay_reason: "connect to x: Connection timed out" }],
                }),
                volume: " 10000000000 9600000000 400000000 96%",
                certbot: `timer enabled inactive\nservice success\nrenewed none\nnow ${now / 1000}`,
                updates: "3",
                reboot: "yes\nlinux-image-amd64",
                backup: `stale ${3 * 86400} since-success`,
                fail2ban: "[{'sshd': ['198.51.100.66']}, {'dovecot': []}]",
                dkim: `nathabee.de mail ${"C".repeat(392)}`,
            }),
        );
        expect(r["ssh daemons"]).toMatchObject({
            status: "fail",
            detail: "not active: dovecot inactive",
            fix: expect.stringMatching(/^systemctl start dovecot/),
        });
        expect(r["ssh outbound 25"]).toMatchObject({
            status: "fail",
            fix: expect.stringMatching(/Hetzner support.*mailstack:relay/),
        });
        expect(r["ssh queue"]).toMatchObject({
            status: "warn",
            detail: expect.stringMatching(/1 deferred, the oldest for 30\.0 h: connect to x/),
        });
        expect(r["ssh mail volume"]).toMatchObject({ status: "fail", fix: expect.stringMatching(/mailVolumeSizeGb/) });
        expect(r["ssh certificate renewal"]).toMatchObject({
            status: "fail",
            fix: "systemctl enable --now certbot.timer",
        });
        expect(r["ssh security updates"]).toMatchObject({ status: "warn", detail: "3 security update(s) pending" });
        expect(r["ssh reboot"]).toMatchObject({ status: "warn", detail: expect.stringMatching(/linux-image-amd64/) });
        expect(r["ssh backup"]).toMatchObject({ status: "fail", detail: "the last successful backup was 72.0 h ago" });
        expect(r["ssh fail2ban"]).toMatchObject({ status: "ok", detail: "banned now: sshd 198.51.100.66" });
        expect(r["ssh dkim key mail._domainkey.nathabee.de"]).toMatchObject({
            status: "fail",
            detail: expect.stringMatching(/not the key OpenDKIM signs with/),
        });
    });

    test("imports: one check per imported account; a failed run is a failure with its reason, a stale one a warning", () => {
        const t = now / 1000;
        const r = byCheck(
            healthy({
                imports: [
                    `alice@nathabee.de ok ${t - 1800} 12 12 new message(s) imported`,
                    `bob@nathabee.de failed ${t - 600} 0 login: imap.gmail.com refused the login of bob@gmail.com: [AUTHENTICATIONFAILED] Invalid credentials; check mailstack:importPasswords`,
                    `carol@nathabee.de ok ${t - 5 * 3600} 0 0 new message(s) imported`,
                    `now ${t}`,
                ].join("\n"),
            }),
        );
        expect(r["ssh import alice@nathabee.de"]).toMatchObject({
            status: "ok",
            detail: "last run 0.5 h ago: 12 new message(s) imported",
        });
        expect(r["ssh import bob@nathabee.de"]).toMatchObject({
            status: "fail",
            detail: expect.stringMatching(
                /^the last run \(0\.2 h ago\) failed: login: imap\.gmail\.com refused the login/,
            ),
            fix: expect.stringMatching(/journalctl -u mailstack-import/),
        });
        expect(r["ssh import carol@nathabee.de"]).toMatchObject({
            status: "warn",
            detail: "the hourly import last ran 5.0 h ago",
        });
        expect(Object.keys(byCheck(healthy())).filter((c) => c.startsWith("ssh import"))).toEqual([]);
    });

    test("outbound TLS: the week's sessions by verification; mail held for a TLS policy is a warning naming the domain", () => {
        expect(byCheck(healthy())["ssh outbound TLS"]).toMatchObject({
            status: "ok",
            detail: "TLS sessions to other servers in 7 days: 3 verified, 0 trusted, 1 untrusted, 12 anonymous",
        });
        const entry = (address: string, delay_reason: string) =>
            JSON.stringify({
                queue_name: "deferred",
                arrival_time: now / 1000 - 600,
                recipients: [{ address, delay_reason }],
            });
        const held = byCheck(
            healthy({
                queue: [
                    entry("a@peer.test", "Server certificate not verified"),
                    entry("b@down.test", "connect to mx.down.test[192.0.2.9]:25: Connection timed out"),
                ].join("\n"),
            }),
        );
        expect(held["ssh outbound TLS"]).toMatchObject({
            status: "warn",
            detail: "1 recipient(s) wait because their TLS policy cannot be met (peer.test): Server certificate not verified",
            fix: expect.stringMatching(/never sent in clear.*posttls-finger -c -l secure peer\.test/),
        });
        // A queue of ordinary deferrals is the queue check's business, not this one's.
        expect(
            byCheck(healthy({ queue: entry("b@down.test", "Connection timed out") }))["ssh outbound TLS"].status,
        ).toBe("ok");
    });

    test("with a relay: 25 blocked is a warning, the relay unreachable a failure", () => {
        const blocked = byCheck(healthy({ egress: "direct failed 198.51.100.7 25 124\nrelay ok 198.51.100.7 587" }));
        expect(blocked["ssh outbound 25"]).toMatchObject({ status: "warn", detail: expect.stringMatching(/blocked/) });
        expect(blocked["ssh outbound relay"]).toMatchObject({ status: "ok" });
        const down = byCheck(healthy({ egress: "direct ok 198.51.100.7 25\nrelay failed 198.51.100.7 587 1" }));
        expect(down["ssh outbound 25"].status).toBe("ok");
        expect(down["ssh outbound relay"]).toMatchObject({
            status: "fail",
            detail: expect.stringMatching(/relay 198\.51\.100\.7 port 587/),
        });
    });

    test("output cut off (time limit on the server): the missing parts are unknown, not ok", () => {
        const out = healthy().split("@@updates")[0];
        const r = byCheck(out);
        expect(r["ssh daemons"].status).toBe("ok");
        expect(r["ssh reboot"]).toMatchObject({ status: "unknown" });
        expect(r["ssh backup"]).toMatchObject({ status: "unknown" });
        // A part that printed nothing (a command that failed silently) is unknown too.
        expect(byCheck(healthy({ volume: "", units: "" }))).toMatchObject({
            "ssh mail volume": { status: "unknown", detail: expect.stringMatching(/no output/) },
            "ssh daemons": { status: "unknown" },
        });
    });

    test("the script is valid bash, limits each command, and reads the units and paths of the renderers", () => {
        const script = remoteScript(f);
        execFileSync("bash", ["-n"], { input: script });
        expect(script).toContain("timeout 5 postqueue -j");
        expect(script).toContain("/etc/opendkim/keys/nathabee.de.mail.private");
        expect(script).toContain("mailstack-sender-milter");
    });

    test("the units part asks for php-fpm only where the webmail's site is, and a stopped one is reported", () => {
        const part = remoteScript(f).split("\ns units\n")[1].split("\ns egress\n")[0];
        const site = "/etc/nginx/conf.d/mailstack-webmail.conf";
        expect(part).toContain(`if [ -e ${site} ]`);
        // Run it with systemctl answering "inactive" for php-fpm only, and the site's path pointed at a file or not.
        const run = (present: boolean) =>
            execFileSync(
                "bash",
                [
                    "-c",
                    `systemctl() { [[ $2 == php* ]] && echo inactive || echo active; }\n${part.replace(site, present ? "/" : "/nonexistent")}`,
                ],
                { encoding: "utf8" },
            ).trim();
        expect(run(false)).not.toMatch(/php/);
        const withSite = run(true);
        expect(withSite).toMatch(/^php8\.4-fpm inactive$/m);
        expect(byCheck(healthy({ units: withSite }))["ssh daemons"]).toMatchObject({
            status: "fail",
            detail: expect.stringContaining("php8.4-fpm"),
        });
    });

    test("the units part asks for radicale only where the calendar site is (mailstack:dav), and a stopped one is reported", () => {
        const part = remoteScript(f).split("\ns units\n")[1].split("\ns egress\n")[0];
        const site = "/etc/nginx/mailstack-host.d/mailstack-dav.conf";
        expect(part).toContain(`if [ -e ${site} ]`);
        const run = (present: boolean) =>
            execFileSync(
                "bash",
                [
                    "-c",
                    `systemctl() { [[ $2 == radicale ]] && echo failed || echo active; }\n${part.replace(site, present ? "/" : "/nonexistent")}`,
                ],
                { encoding: "utf8" },
            ).trim();
        expect(run(false)).not.toMatch(/radicale/);
        const withSite = run(true);
        expect(withSite).toMatch(/^radicale failed$/m);
        expect(byCheck(healthy({ units: withSite }))["ssh daemons"]).toMatchObject({
            status: "fail",
            detail: expect.stringContaining("radicale"),
        });
    });

    test("the outbound-TLS part, run here on Postfix's log lines, is what the parser reads", () => {
        const part = remoteScript(f).split("\ns outbound-tls\n")[1].split("\ns volume\n")[0];
        const [, awk] = /\| (awk '[\s\S]*')$/.exec(part.trim())!;
        const log = [
            "Verified TLS connection established to mx.peer.test[198.51.100.25]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
            "Anonymous TLS connection established to mx.a.test[192.0.2.1]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
            "Anonymous TLS connection established to mx.b.test[192.0.2.2]:25: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
            "4jg9dM3Fvqz2xBt: to=<a@peer.test>, relay=mx.peer.test[198.51.100.25]:25, delay=0.2, dsn=2.0.0, status=sent (250 OK)",
        ].join("\n");
        const out = execFileSync("bash", ["-c", awk], { input: log, encoding: "utf8" });
        expect(byCheck(healthy({ "outbound-tls": out.trim() }))["ssh outbound TLS"]).toMatchObject({
            status: "ok",
            detail: "TLS sessions to other servers in 7 days: 1 verified, 0 trusted, 0 untrusted, 2 anonymous",
        });
    });

    test("the volume line, run here on /, is what the parser reads", () => {
        const line = remoteScript(f)
            .split("\n")
            .find((l) => l.startsWith("df "))!;
        expect(line).toContain(" /srv/mail ");
        const out = execFileSync("bash", ["-c", line.replace(" /srv/mail ", " / ")], { encoding: "utf8" });
        const r = byCheck(healthy({ volume: out.trim() }));
        expect(r["ssh mail volume"]).toMatchObject({
            detail: expect.stringMatching(/^\/srv\/mail: \d+% used \(\d+\.\d of \d+\.\d GiB\)$/),
        });
    });
});
