import assert from "node:assert/strict";
import { test } from "node:test";
import { buildSpec } from "../../components/spec";
import { eventually, imapFetch, sendMail, smtpDialog } from "../clients";
import { provision } from "../provision";
import { LAB_PASSWORDS, LAB_RAW_CONFIG, labSpec } from "../spec";
import { ssh } from "./context";

const tag = () => `reprov-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;

/** Postfix's master PID and the main PIDs of the other daemons, and the boot id. */
function daemonState(): string {
    return ssh(
        "cat /proc/sys/kernel/random/boot_id; cat /var/spool/postfix/pid/master.pid | tr -d ' '; " +
            "for u in dovecot opendkim postsrsd nginx fail2ban ssh; do printf '%s %s\\n' $u $(systemctl show -p MainPID --value $u); done",
    ).stdout;
}

void test("Running the provisioning scripts again with the same input changes nothing and restarts nothing", async () => {
    const before = daemonState();
    const r = await provision(labSpec());
    assert.ok(r.ok, r.detail);
    for (const s of r.steps ?? []) {
        if (s.step === "first-boot") continue;
        assert.match(s.output, /apply-bundle: unchanged/, `${s.step}:\n${s.output}`);
        assert.doesNotMatch(s.output, /^(changed|ran) /m, `${s.step}:\n${s.output}`);
    }
    assert.equal(r.steps?.length, 4);
    assert.equal(daemonState(), before, "a daemon was restarted (or its PID changed)");
});

void test("A mailbox added through the provisioning scripts receives mail and logs in over IMAPS within seconds, without a reboot", async (t) => {
    const dave = "dave@example.org";
    const password = "dave-lab-password-4444";
    const rcpt = async () =>
        (await smtpDialog(25, ["EHLO client.sink.test", "MAIL FROM:<someone@sink.test>", `RCPT TO:<${dave}>`], { keepGoing: true })).replies[2];
    assert.equal((await rcpt()).code, 550, "dave exists before he is added");

    const bootId = ssh("cat /proc/sys/kernel/random/boot_id").stdout;
    const passwords = { ...LAB_PASSWORDS, [dave]: password };
    const spec = buildSpec({
        ...LAB_RAW_CONFIG,
        domains: (LAB_RAW_CONFIG.domains as { name: string; mailboxes: string[] }[]).map((d) => (d.name === "example.org" ? { ...d, mailboxes: [...d.mailboxes, "dave"] } : d)),
        passwords,
    });
    const r = await provision(spec, passwords);
    assert.ok(r.ok, r.detail);
    assert.match(r.steps!.find((s) => s.step === "mail-data")!.output, /^changed /m);

    // `postfix reload` returns before every old smtpd has gone: a connection in the first
    // moment may still meet one with the previous tables. Allow seconds, not a reboot.
    const provisioned = Date.now();
    let last = await rcpt();
    await eventually(async () => (last = await rcpt()).code === 250, 10_000, 200).catch(() => undefined);
    assert.equal(last.code, 250, `RCPT TO:<${dave}>: ${last.code} ${last.lines.join(" ")}`);
    t.diagnostic(`new mailbox accepted at RCPT ${((Date.now() - provisioned) / 1000).toFixed(1)} s after provisioning`);
    const subject = tag();
    await sendMail({ port: 25, from: "someone@sink.test", to: [dave], subject });
    assert.ok(await eventually(async () => (await imapFetch(dave, password, { subject })).length > 0));
    assert.equal(ssh("cat /proc/sys/kernel/random/boot_id").stdout, bootId, "the server rebooted");
});
