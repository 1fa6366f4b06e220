import assert from "node:assert/strict";
import { test } from "node:test";
import { MAIL_PACKAGES } from "../../render";
import { DAV_PACKAGES, WEBMAIL_PACKAGES } from "../../render/features";
import { eventually, sendMail } from "../clients";
import { LAB_PASSWORDS, labSpec } from "../lab-config";
import { provision } from "../scenarios/provision";
import { ssh, tag } from "./helpers";

// The packages step (install-packages.sh) brings a server the packages its user-data did not
// install. The server here is made into one that lacks a package: python3-milter is purged
// (dpkg then knows it as never installed, as on a server whose user-data did not list it),
// so the From: check (mailstack-sender-milter) cannot start. Then the step runs exactly as
// provisioning runs it (the plan's command and stdin over the pinned ssh).
const PACKAGE = "python3-milter";
const UNIT = "mailstack-sender-milter";
const ALICE = { user: "alice@example.org", pass: LAB_PASSWORDS["alice@example.org"] };

/** dpkg's status of each package: "installed", "not-installed", "config-files", ... */
function dpkgStatus(packages: readonly string[]): Record<string, string> {
    const out = ssh(
        `dpkg-query -W -f '\${Package} \${db:Status-Status}\\n' ${packages.join(" ")} 2>/dev/null; true`,
    ).stdout;
    const status = Object.fromEntries(packages.map((p) => [p, "not-installed"]));
    for (const line of out.trim().split("\n")) {
        const [p, s] = line.split(" ");
        if (p && s) status[p] = s;
    }
    return status;
}

const unitState = () => ssh(`systemctl show -p ActiveState -p SubState --value ${UNIT} | paste -sd/`).stdout.trim();

/** Alice sends to bob on 587: resolves with the reply, rejects with Postfix's refusal. */
const submit = (fromHeader = ALICE.user) =>
    sendMail({
        port: 587,
        auth: ALICE,
        from: ALICE.user,
        to: ["bob@example.org"],
        raw: `From: ${fromHeader}\r\nTo: bob@example.org\r\nSubject: ${tag("packages")}\r\n\r\npackages check\r\n`,
    });

void test(`A package missing on the server is installed by the packages step and its service started: ${PACKAGE} purged, ${UNIT} down and 587 deferring; after the step the milter runs and checks From: again`, async () => {
    assert.equal(dpkgStatus([PACKAGE])[PACKAGE], "installed", `${PACKAGE} is not installed to begin with`);

    // The server without the package: purged, and the milter restarted without it.
    ssh(`DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq ${PACKAGE} >/dev/null`, { timeoutMs: 120_000 });
    assert.equal(dpkgStatus([PACKAGE])[PACKAGE], "not-installed");
    const others = MAIL_PACKAGES.filter((p) => p !== PACKAGE);
    assert.deepEqual(
        Object.entries(dpkgStatus(others)).filter(([, s]) => s !== "installed"),
        [],
        `purging ${PACKAGE} removed other packages`,
    );
    ssh(`systemctl restart ${UNIT}`, { allowFail: true });
    await eventually(
        () =>
            unitState() !== "active/running" &&
            ssh(`systemctl show -p NRestarts --value ${UNIT}`).stdout.trim() !== "0",
        15_000,
    );
    assert.match(
        ssh(`journalctl -u ${UNIT} -n 30 --no-pager -o cat`).stdout,
        /No module named 'Milter'/,
        `${UNIT} did not fail for want of ${PACKAGE}`,
    );
    // Down for good, so that only the step can bring it back (Restart=always would retry it
    // every 2 s and could start it by itself as soon as the package is there).
    ssh(`systemctl stop ${UNIT}`);
    assert.equal(unitState(), "inactive/dead");
    // Without the milter, submission says "try again later" (milter_default_action=tempfail).
    await assert.rejects(submit(), /\b4\d\d\b/);

    const r = await provision(labSpec(), LAB_PASSWORDS, ["packages"]);
    assert.ok(r.ok, r.detail);
    assert.deepEqual(
        r.steps?.map((s) => s.step),
        ["packages"],
    );
    const out = r.steps![0].output;
    assert.match(out, new RegExp(`^install-packages: installing ${PACKAGE}$`, "m"), out);
    assert.match(out, new RegExp(`^install-packages: starting ${UNIT}$`, "m"), out);
    assert.match(out, /\(1 installed now\)$/m, out);

    assert.equal(dpkgStatus([PACKAGE])[PACKAGE], "installed");
    assert.equal(ssh(`systemctl is-enabled ${UNIT}`).stdout.trim(), "enabled");
    await eventually(() => unitState() === "active/running", 10_000);
    // Mail goes through the milter again: alice's own From: is accepted, bob's is refused by it.
    await submit();
    await assert.rejects(submit("bob@example.org"), /550 5\.7\.1 From: bob@example\.org is not an address of alice/);
});

void test(`A server from an older mailstack, without ${PACKAGE} and without the milter at all: the packages step installs the package and leaves the unit to host-config, which installs, enables and starts it`, async () => {
    // What an older user-data left: no package, no unit file, no milter script.
    ssh(
        `systemctl disable --now --quiet ${UNIT}; rm -f /etc/systemd/system/${UNIT}.service /usr/local/sbin/${UNIT}; ` +
            `systemctl daemon-reload; DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq ${PACKAGE} >/dev/null`,
        { timeoutMs: 120_000 },
    );
    assert.equal(dpkgStatus([PACKAGE])[PACKAGE], "not-installed");
    assert.notEqual(ssh(`systemctl cat ${UNIT} >/dev/null 2>&1`, { allowFail: true }).status, 0);

    // The steps in plan order, as a deploy of today's mailstack runs them on that server.
    const r = await provision(labSpec(), LAB_PASSWORDS, ["packages", "host-config"]);
    assert.ok(r.ok, r.detail);
    assert.deepEqual(
        r.steps?.map((s) => s.step),
        ["packages", "host-config"],
    );
    const [packages, hostConfig] = r.steps!.map((s) => s.output);
    assert.match(packages, new RegExp(`^install-packages: installing ${PACKAGE}$`, "m"), packages);
    assert.match(packages, new RegExp(`^install-packages: ${UNIT} is not installed yet`, "m"), packages);
    assert.match(hostConfig, new RegExp(`^changed +/etc/systemd/system/${UNIT}\\.service$`, "m"), hostConfig);
    assert.match(hostConfig, /^ran +restart:sender-milter$/m, hostConfig);

    assert.equal(dpkgStatus([PACKAGE])[PACKAGE], "installed");
    // Enabled, so it comes back after a reboot (reboot.test.ts, later, sees it active).
    assert.equal(ssh(`systemctl is-enabled ${UNIT}`).stdout.trim(), "enabled");
    await eventually(() => unitState() === "active/running", 10_000);
    await submit();
    await assert.rejects(submit("bob@example.org"), /550 5\.7\.1 From: bob@example\.org is not an address of alice/);
});

void test("The packages step again, with every package there, installs nothing and restarts nothing", async () => {
    const pids = () => ssh(`systemctl show -p MainPID --value ${UNIT} postfix dovecot opendkim | paste -sd' '`).stdout;
    const before = pids();
    const r = await provision(labSpec(), LAB_PASSWORDS, ["packages"]);
    assert.ok(r.ok, r.detail);
    const out = r.steps![0].output;
    assert.doesNotMatch(out, /installing|starting/, out);
    assert.match(
        out,
        new RegExp(
            `^install-packages: ${MAIL_PACKAGES.length + WEBMAIL_PACKAGES.length + DAV_PACKAGES.length} packages present \\(0 installed now\\)$`,
            "m",
        ),
    );
    assert.equal(pids(), before, "a daemon was restarted");
});
