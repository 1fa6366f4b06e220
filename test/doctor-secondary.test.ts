// mailstack doctor and the backup MX (mailstack:secondaryMx): its checks from outside, and the
// judges of what its SSH script prints (its daemons, its queue).
import { secondaryOutsideChecks, secondaryResults, secondaryScript } from "../doctor/secondary";
import { SECONDARY_ACTIVE_UNITS } from "../render/features/backup-mx";

describe("mailstack doctor checks the backup MX too", () => {
    const outputs = {
        hostname: "mail.nathabee.de",
        ipv4: "192.0.2.25",
        ipv6: "2001:db8:25::1",
        dnsRecords: ["nathabee.de MX 10 mail.nathabee.de"],
        secondaryMx: {
            hostname: "mx2.nathabee.de",
            ipv4: "192.0.2.26",
            ipv6: "2001:db8:26::1",
            sshHostKey: "ssh-ed25519 AAAA",
        },
    };
    const now = Date.UTC(2026, 11, 6, 12);
    const queued = (hoursAgo: number) =>
        JSON.stringify({ queue_name: "deferred", arrival_time: now / 1000 - hoursAgo * 3600, recipients: [] });
    const script = (queue: string[], units = ["postfix active", "rspamd active"]) =>
        ["@@units", ...units, "@@queue", ...queue, "@@end"].join("\n");

    test("from outside: its reverse DNS, port 25 only (STARTTLS, its certificate), no relaying, its addresses on the blocklists", () => {
        const names = secondaryOutsideChecks(outputs, {
            lookup: async () => [],
            blocklists: [{ zone: "zen.example", kind: "ip", name: "Example" } as never],
            minCertDays: 14,
        }).map((c) => c.check);
        expect(names.filter((n) => n.startsWith("backup MX fcrdns"))).toEqual([
            "backup MX fcrdns IPv4 192.0.2.26",
            "backup MX fcrdns IPv6 2001:db8:26::1",
        ]);
        expect(names.filter((n) => n.startsWith("backup MX port"))).toEqual([
            "backup MX port 25 smtp IPv4",
            "backup MX port 25 smtp IPv6",
        ]);
        expect(names).toContain("backup MX open relay 192.0.2.26 port 25");
        expect(
            secondaryOutsideChecks(
                { ...outputs, secondaryMx: undefined },
                { lookup: async () => [], blocklists: [], minCertDays: 14 },
            ),
        ).toEqual([]);
    });

    test("its queue: empty is fine, mail waiting for hours is a warning, for more than a day a failure", () => {
        const queue = (q: string[]) =>
            secondaryResults(script(q), "mail.nathabee.de", now).find((r) => r.check.endsWith("queue"))!;
        expect(queue([]).status).toBe("ok");
        const waiting = queue([queued(2), queued(1)]);
        expect([waiting.status, waiting.detail]).toEqual([
            "warn",
            expect.stringMatching(/^2 message\(s\) waiting for mail\.nathabee\.de, the oldest for 2\.0 h/),
        ]);
        expect(queue([queued(30)]).status).toBe("fail");
        // Its Postfix stopped: postqueue reads the queue directly and says so; the queue is judged all the same.
        const down =
            "postqueue: warning: Mail system is down -- accessing queue directly (Connect to the Postfix showq service: No such file or directory)";
        expect(queue([down]).status).toBe("ok");
        expect(queue([down, queued(2)]).status).toBe("warn");
        expect(queue(["postqueue: fatal: Queue report unavailable"]).status).toBe("unknown");
    });

    test("its daemons: one that is not active fails, naming it", () => {
        const r = secondaryResults(script([], ["postfix active", "rspamd failed"]), "mail.nathabee.de", now)[0];
        expect([r.check, r.status, r.detail]).toEqual(["backup MX ssh daemons", "fail", "not active: rspamd failed"]);
    });

    test("its script asks systemd for every unit the backup MX runs, and Postfix for the queue", () => {
        const text = secondaryScript(5);
        expect(text).toContain(`for u in ${SECONDARY_ACTIVE_UNITS.join(" ")};`);
        expect(text).toContain("timeout 5 postqueue -j");
    });
});
