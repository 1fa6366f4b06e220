import assert from "node:assert/strict";
import { test } from "node:test";
import { PROVISIONING_PLAN } from "../../render/plan/plan";
import { buildSpec } from "../../model";
import { eventually, imapFetch, sendMail, smtpDialog } from "../clients";
import { provision } from "../scenarios/provision";
import { LAB_PASSWORDS, labRawConfig, labSpec } from "../lab-config";
import { ssh, tag } from "./helpers";

/** Postfix's master PID and the main PIDs of the other daemons, and the boot id. */
function daemonState(): string {
    return ssh(
        "cat /proc/sys/kernel/random/boot_id; cat /var/spool/postfix/pid/master.pid | tr -d ' '; " +
            "for u in dovecot opendkim mailstack-sender-milter postsrsd nginx fail2ban ssh; do printf '%s %s\\n' $u $(systemctl show -p MainPID --value $u); done",
    ).stdout;
}

void test("Running the provisioning scripts again with the same input changes nothing and restarts nothing", async () => {
    const before = daemonState();
    const r = await provision(labSpec());
    assert.ok(r.ok, r.detail);
    // What each step says when there is nothing to do.
    const unchanged: Record<string, RegExp> = {
        packages: /install-packages: \d+ packages present \(0 installed now\)/,
        "mail-volume": /grow-mail-volume: \d+ MiB, the whole device/,
        certificate: /issue-certificate: unchanged/,
    };
    for (const s of r.steps ?? []) {
        if (s.step === "first-boot") continue;
        assert.match(s.output, unchanged[s.step] ?? /apply-bundle: unchanged/, `${s.step}:\n${s.output}`);
        assert.doesNotMatch(
            s.output,
            /^(changed|ran) |install-packages: (installing|starting)/m,
            `${s.step}:\n${s.output}`,
        );
    }
    // Every step of the plan but host-key, which runs once per server (its key is pinned).
    assert.deepEqual(
        r.steps?.map((s) => s.step),
        PROVISIONING_PLAN.map((s) => s.role).filter((role) => role !== "host-key"),
    );
    assert.equal(daemonState(), before, "a daemon was restarted (or its PID changed)");
});

void test("A mailbox added through the provisioning scripts is accepted on port 25 at once, receives mail and logs in over IMAPS, by reloads alone (no restart, no reboot)", async () => {
    const dave = "dave@example.org";
    const password = "dave-lab-password-4444";
    const rcpt = async () =>
        (
            await smtpDialog(25, ["EHLO client.sink.test", "MAIL FROM:<someone@sink.test>", `RCPT TO:<${dave}>`], {
                keepGoing: true,
            })
        ).replies[2];
    assert.equal((await rcpt()).code, 550, "dave exists before he is added");

    const before = daemonState();
    const passwords = { ...LAB_PASSWORDS, [dave]: password };
    const spec = buildSpec({
        ...labRawConfig(),
        domains: (labRawConfig().domains as { name: string; mailboxes: string[] }[]).map((d) =>
            d.name === "example.org" ? { ...d, mailboxes: [...d.mailboxes, "dave"] } : d,
        ),
        passwords,
    });
    const r = await provision(spec, passwords);
    assert.ok(r.ok, r.detail);
    assert.match(r.steps!.find((s) => s.step === "mail-data")!.output, /^changed /m);

    // apply-bundle waits until every Postfix child runs with the new tables: the very first
    // RCPT after provisioning must be accepted.
    const first = await rcpt();
    assert.equal(first.code, 250, `RCPT TO:<${dave}> right after provisioning: ${first.code} ${first.lines.join(" ")}`);
    const subject = tag("reprov");
    await sendMail({ port: 25, from: "someone@sink.test", to: [dave], subject });
    assert.ok(await eventually(async () => (await imapFetch(dave, password, { subject })).length > 0));
    // He can send as himself at once: Postfix's login map and the From: check both know him.
    await sendMail({
        port: 587,
        auth: { user: dave, pass: password },
        from: dave,
        to: ["alice@example.org"],
        subject: `${subject}-out`,
    });
    // Reloads only: no reboot, and no daemon restarted (the Postfix master and Dovecot keep
    // their PIDs, so nothing queued or in flight was dropped).
    assert.equal(daemonState(), before, "a daemon was restarted or the server rebooted");
});
