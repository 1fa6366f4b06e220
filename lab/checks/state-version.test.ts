// The mail volume's state version (render/host/migrations.ts): the first boot gave the lab's
// fresh volume this mailstack's version; a volume newer than the code (an older mailstack run
// against a server a newer one provisioned) stops host-config before it writes a file; with
// the version back, provisioning goes on as before.
import assert from "node:assert/strict";
import { test } from "node:test";
import { renderHostFiles } from "../../render";
import { MIGRATE_SCRIPT, STATE_VERSION, STATE_VERSION_FILE } from "../../render/host/migrations";
import { provision } from "../scenarios/provision";
import { LAB_PASSWORDS, labSpec } from "../lab-config";
import { ssh } from "./helpers";

const volumeVersion = () => ssh(`cat ${STATE_VERSION_FILE}`).stdout.trim();
const setVolumeVersion = (v: number) => ssh(`printf '%s\\n' ${v} >${STATE_VERSION_FILE}`);
/** sha256sum of every file host-config writes, as the server has them. */
const hostConfigSums = () =>
    ssh(
        `sha256sum ${renderHostFiles(labSpec())
            .map((f) => f.path)
            .join(" ")}`,
    ).stdout;
const MARK = "# state-version.test.ts: host-config would put this main.cf back";

void test(`The provisioned server's mail volume is at this mailstack's state version (${STATE_VERSION}), and host-config finds nothing to migrate`, async () => {
    assert.equal(volumeVersion(), String(STATE_VERSION));
    assert.match(
        ssh(`${MIGRATE_SCRIPT} status`).stdout,
        new RegExp(`state is version ${STATE_VERSION}; this mailstack's is ${STATE_VERSION}`),
    );
    const r = await provision(labSpec(), LAB_PASSWORDS, ["host-config"]);
    assert.ok(r.ok, r.detail);
    assert.match(r.steps![0].output, new RegExp(`state version ${STATE_VERSION}, nothing to migrate`));
});

void test("A volume newer than this mailstack stops host-config with both versions named, and every config file stays as it was; the version set back, host-config applies again", async () => {
    const newer = STATE_VERSION + 1;
    // Something for host-config to put back, so that writing nothing is seen.
    ssh(`echo '${MARK}' >>/etc/postfix/main.cf`);
    const before = hostConfigSums();
    try {
        setVolumeVersion(newer);
        const r = await provision(labSpec(), LAB_PASSWORDS, ["host-config"]);
        assert.equal(r.ok, false, "host-config ran against a newer volume");
        assert.match(
            r.detail,
            new RegExp(
                `the mail volume's state is version ${newer}, newer than this mailstack's version ${STATE_VERSION}: .*Nothing was changed\\. Run pulumi up from that newer mailstack`,
            ),
        );
        assert.doesNotMatch(r.detail, /^changed /m);
        assert.equal(hostConfigSums(), before, "host-config changed a file although it refused");
        assert.equal(volumeVersion(), String(newer));
    } finally {
        setVolumeVersion(STATE_VERSION);
    }
    const r = await provision(labSpec(), LAB_PASSWORDS, ["host-config"]);
    assert.ok(r.ok, r.detail);
    assert.match(r.steps![0].output, /^changed +\/etc\/postfix\/main\.cf$/m);
    assert.equal(ssh(`grep -cxF '${MARK}' /etc/postfix/main.cf`, { allowFail: true }).stdout.trim(), "0");
    assert.equal(volumeVersion(), String(STATE_VERSION));
});
