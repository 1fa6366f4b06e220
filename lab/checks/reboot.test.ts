import assert from "node:assert/strict";
import { test } from "node:test";
import { rebootContainer, ssh } from "./helpers";

// Runs after every check that delivers mail (lab/checks/order.ts), so the volume whose
// files it compares before and after the reboot holds their mail.
void test("The server survives a reboot of the container with the mail volume mounted, its mail intact and every daemon active", async () => {
    const before = ssh("find /srv/mail -type f | sort | md5sum; find /srv/mail -type f | wc -l").stdout;
    const seconds = await rebootContainer();
    const r = ssh("cloud-init status --wait >/dev/null; systemctl is-system-running --wait; true", {
        allowFail: true,
        timeoutMs: 120_000,
    });
    assert.equal(
        ssh("findmnt -n -o FSTYPE /srv/mail", { allowFail: true }).stdout.trim(),
        "ext4",
        "/srv/mail is not mounted after the reboot",
    );
    assert.equal(
        ssh("find /srv/mail -type f | sort | md5sum; find /srv/mail -type f | wc -l").stdout,
        before,
        "the files on /srv/mail changed",
    );
    const units = ["postfix", "dovecot", "opendkim", "mailstack-sender-milter", "postsrsd", "nginx", "fail2ban"];
    const states = ssh(`for u in ${units.join(" ")}; do printf '%s %s\\n' $u $(systemctl is-active $u); done`, {
        allowFail: true,
    }).stdout;
    assert.deepEqual(
        states
            .trim()
            .split("\n")
            .filter((l) => !l.endsWith(" active")),
        [],
        `after reboot (${seconds.toFixed(1)} s, ${r.stdout.trim()})`,
    );
});
