// The limits (issue 10): mailstack:submissionLimit's validation and where it reaches Postfix,
// the disk guard's files and Postfix's queue_minfree. What the policy service and the guard
// do is run with Debian 13's Python and bash in check:host (test/host-tools/limits.sh) and
// live in the lab (lab/checks/limits.test.ts).
import { renderHostFiles } from "../render";
import { ACTIVE_UNITS, renderFirstBootFiles } from "../render/features";
import { DISK_ALERT_PERCENT, SUBMISSION_LIMIT_LISTEN } from "../render/host/limits";
import { buildSpec, type RawConfig } from "../model";
import { configProblems, twoDomains } from "./helpers/fixtures";

const contentOf = (raw: RawConfig, p: string) => {
    const f = renderHostFiles(buildSpec(raw)).find((x) => x.path === p);
    if (!f) throw new Error(`no ${p}`);
    return f.content;
};
/** A main.cf parameter's value, its continuation lines joined. */
function mainCf(raw: RawConfig, name: string): string {
    const m = new RegExp(`^${name} =(.*(?:\\n[ \\t]+.*)*)`, "m").exec(contentOf(raw, "/etc/postfix/main.cf"));
    if (!m) throw new Error(`main.cf: no ${name}`);
    return m[1].replace(/\s+/g, " ").trim();
}

describe("mailstack:submissionLimit", () => {
    const problems = (submissionLimit: unknown) => configProblems({ ...twoDomains(), submissionLimit } as RawConfig);
    const message = "must be a whole number of recipients from 1 to 100000, or false for no limit";

    it("is 300 recipients per login and hour by default, and may be changed or switched off", () => {
        expect(buildSpec(twoDomains()).submissionLimit).toEqual({ recipientsPerHour: 300, senders: {} });
        const raw = { ...twoDomains(), submissionLimit: { recipientsPerHour: false } } as RawConfig;
        expect(buildSpec(raw).submissionLimit).toEqual({ recipientsPerHour: false, senders: {} });
    });

    it("names the key path of a bad value", () => {
        for (const bad of [0, 2.5, 100001, true, "300"])
            expect(problems({ recipientsPerHour: bad })).toEqual([
                `mailstack:submissionLimit.recipientsPerHour: ${message}`,
            ]);
        expect(problems({ recipientsPerHour: 300, perDay: 1000 })[0]).toMatch(/^mailstack:submissionLimit: .*perDay/);
    });

    it("is asked on 465/587 for every recipient before a logged-in sender is permitted", () => {
        expect(mainCf(twoDomains(), "mailstack_submission_recipient_restrictions")).toBe(
            `reject_non_fqdn_recipient, check_policy_service inet:${SUBMISSION_LIMIT_LISTEN}, permit_sasl_authenticated, reject`,
        );
        const master = contentOf(twoDomains(), "/etc/postfix/master.cf");
        const services = master.split(/\n(?=\S)/).filter((s) => /^submissions? +inet/.test(s));
        expect(services).toHaveLength(2);
        for (const s of services)
            expect(s).toMatch(/^ {2}-o smtpd_recipient_restrictions=\$mailstack_submission_recipient_restrictions$/m);
        // Port 25 never asks it: mail from other servers has no login.
        expect(mainCf(twoDomains(), "smtpd_recipient_restrictions")).not.toContain(SUBMISSION_LIMIT_LISTEN);
    });

    it("is not asked when off, and the service is told its limit", () => {
        const off = { ...twoDomains(), submissionLimit: { recipientsPerHour: false } } as RawConfig;
        expect(mainCf(off, "mailstack_submission_recipient_restrictions")).toBe(
            "reject_non_fqdn_recipient, permit_sasl_authenticated, reject",
        );
        const unit = "/etc/systemd/system/mailstack-submission-limit.service";
        expect(contentOf(off, unit)).toMatch(/^ExecStart=.* off$/m);
        const raw = { ...twoDomains(), submissionLimit: { recipientsPerHour: 1200 } } as RawConfig;
        expect(contentOf(raw, unit)).toMatch(
            /^ExecStart=\/usr\/bin\/python3 \/usr\/local\/sbin\/mailstack-submission-limit 1200$/m,
        );
        const [host, port] = SUBMISSION_LIMIT_LISTEN.split(":");
        expect(contentOf(raw, "/usr/local/sbin/mailstack-submission-limit")).toContain(`LISTEN = "${host}:${port}"`);
    });
});

describe("mailstack:submissionLimit.senders: a sender for applications' own hourly limit", () => {
    const UNIT = "/etc/systemd/system/mailstack-submission-limit.service";
    const withSenders = (submissionLimit: unknown, senders = ["notify@example.org", "Bulk@example.org"]) =>
        ({ ...twoDomains(), senders, submissionLimit }) as RawConfig;
    const message = "must be a whole number of recipients from 1 to 100000, or false for no limit";

    it("is each sender's own, by its address in any case; a sender without one has the mailboxes' limit", () => {
        const raw = withSenders({ senders: { "notify@example.org": 20, "BULK@example.org": false } });
        expect(buildSpec(raw).submissionLimit).toEqual({
            recipientsPerHour: 300,
            senders: { "notify@example.org": 20, "bulk@example.org": false },
        });
        expect(contentOf(raw, UNIT)).toMatch(
            /^ExecStart=\/usr\/bin\/python3 \/usr\/local\/sbin\/mailstack-submission-limit 300 --own bulk@example\.org=off --own notify@example\.org=20$/m,
        );
        expect(contentOf(withSenders(undefined), UNIT)).toMatch(/mailstack-submission-limit 300$/m);
    });

    it("keeps the policy service asked while a sender has a limit, even with the mailboxes' off", () => {
        const raw = withSenders({ recipientsPerHour: false, senders: { "notify@example.org": 20 } });
        expect(mainCf(raw, "mailstack_submission_recipient_restrictions")).toBe(
            `reject_non_fqdn_recipient, check_policy_service inet:${SUBMISSION_LIMIT_LISTEN}, permit_sasl_authenticated, reject`,
        );
        expect(contentOf(raw, UNIT)).toMatch(/mailstack-submission-limit off --own notify@example\.org=20$/m);
        const none = withSenders({ recipientsPerHour: false, senders: { "notify@example.org": false } });
        expect(mainCf(none, "mailstack_submission_recipient_restrictions")).not.toContain(SUBMISSION_LIMIT_LISTEN);
    });

    it("names the key path of an address that is no sender, one given twice and a bad value", () => {
        expect(configProblems(withSenders({ senders: { "alice@nathabee.de": 20, "nobody@example.org": 5 } }))).toEqual([
            "mailstack:submissionLimit.senders.alice@nathabee.de: alice@nathabee.de is not a sender for applications " +
                "(mailstack:senders: notify@example.org, bulk@example.org): only a sender has a limit of its own here; " +
                "a mailbox has recipientsPerHour",
            "mailstack:submissionLimit.senders.nobody@example.org: nobody@example.org is not a sender for applications " +
                "(mailstack:senders: notify@example.org, bulk@example.org): only a sender has a limit of its own here; " +
                "a mailbox has recipientsPerHour",
        ]);
        expect(
            configProblems(withSenders({ senders: { "notify@example.org": 20, "Notify@example.org": 30 } })),
        ).toEqual([
            "mailstack:submissionLimit.senders.Notify@example.org: is the same address as " +
                "mailstack:submissionLimit.senders.notify@example.org (addresses are case-insensitive): keep one",
        ]);
        for (const bad of [0, 2.5, "20", true])
            expect(configProblems(withSenders({ senders: { "notify@example.org": bad } }))).toEqual([
                `mailstack:submissionLimit.senders.notify@example.org: ${message}`,
            ]);
        expect(configProblems(withSenders({ senders: ["notify@example.org"] }))[0]).toMatch(
            /^mailstack:submissionLimit\.senders: /,
        );
    });
});

describe("the mail volume's free space", () => {
    it("stops Postfix taking mail with the last 5% of the volume left, never below twice the largest message", () => {
        expect(mainCf(twoDomains(), "queue_minfree")).toBe(String(0.05 * 10 * 1024 ** 3));
        expect(mainCf({ ...twoDomains(), mailVolumeSizeGb: 100 } as RawConfig, "queue_minfree")).toBe(
            String(Math.ceil(0.05 * 100 * 1024 ** 3)),
        );
        const big = { ...twoDomains(), mailVolumeSizeGb: 10, messageSizeLimitMb: 200 } as RawConfig;
        expect(Number(mainCf(big, "queue_minfree"))).toBeGreaterThanOrEqual(1.5 * 200 * 1024 ** 2);
    });

    it("has a guard that mails the first domain's postmaster at 90%, every 2 minutes from a timer", () => {
        const guard = contentOf(twoDomains(), "/usr/local/sbin/mailstack-disk-guard");
        expect(guard).toMatch(new RegExp(`^alert=${DISK_ALERT_PERCENT}$`, "m"));
        expect(guard).toMatch(/^postmaster='postmaster@nathabee\.de'$/m);
        expect(guard).toMatch(/^volume=\/srv\/mail$/m);
        expect(contentOf(twoDomains(), "/etc/systemd/system/mailstack-disk-guard.timer")).toMatch(
            /^OnUnitActiveSec=2min$/m,
        );
    });

    it("comes with host-config, not the user-data, and doctor sees both units", () => {
        const firstBoot = renderFirstBootFiles(buildSpec(twoDomains())).map((f) => f.path);
        expect(firstBoot.filter((p) => /disk-guard|submission-limit/.test(p))).toEqual([]);
        expect(ACTIVE_UNITS).toEqual(
            expect.arrayContaining(["mailstack-submission-limit", "mailstack-disk-guard.timer"]),
        );
    });
});
