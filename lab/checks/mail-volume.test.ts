import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { test } from "node:test";
import { eventually, imapFetch, sendMail } from "../clients";
import { LAB_PASSWORDS, labSpec } from "../lab-config";
import { provision, type ProvisionResult } from "../scenarios/provision";
import { labLoopDevice, labVolumeImage } from "../harness/container";
import { context, MAIL_VOLUME_DEVICE, ssh, tag } from "./helpers";

// Hetzner grows a volume while it is attached; here the lab grows its own volume the same
// way: the (sparse) image file on the lab's tmpfs gets longer and its loop device is told
// (`losetup -c`), so the block device the container sees at MAIL_VOLUME_DEVICE is bigger
// than its ext4. Then the plan's mail-volume step runs as provisioning runs it.
const GROW_BY = 2 * 1024 ** 3;
const MIB = 1024 ** 2;
const CAP_SYS_RESOURCE = 24n;

const host = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { encoding: "utf8" }).trim();

/** The lab's own loop device and the image behind it (refusing anything else). */
function labVolume(): { loop: string; image: string } {
    const loop = labLoopDevice();
    const image = labVolumeImage();
    assert.match(loop, /^\/dev\/loop\d+$/);
    assert.equal(host("losetup", "-n", "-O", "BACK-FILE", loop), image, `${loop} is not the lab's mail volume`);
    return { loop, image };
}

/**
 * Sizes in bytes: what df shows for /srv/mail, the ext4's own (block count x block size, as
 * grow-mail-volume.sh reads it) and the device's as the container sees it.
 */
function sizes(): { df: number; ext4: number; device: number } {
    const [df, blockCount, blockSize, device] = ssh(
        `df -B1 --output=size /srv/mail | tail -n1; ` +
            `dumpe2fs -h ${MAIL_VOLUME_DEVICE} 2>/dev/null | sed -n 's/^Block count: *//p; s/^Block size: *//p'; ` +
            `blockdev --getsize64 ${MAIL_VOLUME_DEVICE}`,
    )
        .stdout.trim()
        .split(/\s+/)
        .map(Number);
    return { df, ext4: blockCount * blockSize, device };
}

/** Every file on the volume, with its content's checksum, and how many there are. */
const files = () =>
    ssh("cd /srv/mail && find . -type f -print0 | sort -z | xargs -0 -r md5sum | md5sum; find . -type f | wc -l")
        .stdout;

/** Postfix's master and Dovecot's main process: a resize must stop neither. */
const daemons = () =>
    ssh("cat /var/spool/postfix/pid/master.pid | tr -d ' '; systemctl show -p MainPID --value dovecot").stdout;

/**
 * Whether root on the server may resize a mounted ext4 (the kernel wants CAP_SYS_RESOURCE).
 * Root on a VM may; a machine that runs the lab inside a sandbox may give it to nobody.
 */
function rootMayResize(): boolean {
    const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(ssh("grep CapEff /proc/self/status").stdout)?.[1] ?? "0";
    return ((BigInt(`0x${eff}`) >> CAP_SYS_RESOURCE) & 1n) === 1n;
}

const runStep = () => provision(labSpec(), LAB_PASSWORDS, ["mail-volume"]);

void test("At first the mail volume's ext4 fills its device, and the mail-volume step of provisioning said so", () => {
    const { provisioning } = context() as { provisioning: ProvisionResult };
    const first = provisioning.steps?.find((s) => s.step === "mail-volume");
    assert.ok(first, `no mail-volume step in ${provisioning.detail}`);
    assert.match(first.output, /^grow-mail-volume: \d+ MiB, the whole device$/m);
    const { ext4, device } = sizes();
    assert.ok(device - ext4 < MIB, `device ${device} bytes, ext4 ${ext4} bytes`);
});

void test("The volume grows underneath the running server (its image longer, losetup -c): the container sees the larger device at once, its ext4 still at the old size", () => {
    const { loop, image } = labVolume();
    const before = sizes();
    // Sparse: no space is taken on the tmpfs.
    fs.truncateSync(image, fs.statSync(image).size + GROW_BY);
    host("losetup", "-c", loop);
    const grown = sizes();
    assert.equal(grown.device, before.device + GROW_BY, "the container does not see the larger device");
    assert.equal(grown.ext4, before.ext4, "the filesystem grew by itself");
    assert.equal(grown.df, before.df);
});

void test("The mail-volume step then grows the ext4 online: df shows the new size, every file on it is intact, Postfix and Dovecot kept running, new mail lands, and a second run changes nothing", async (t) => {
    const before = sizes();
    assert.ok(before.device - before.ext4 >= GROW_BY, "the device is not larger than its filesystem");
    const filesBefore = files();
    const daemonsBefore = daemons();
    assert.ok(Number(filesBefore.trim().split("\n")[1]) > 0, "no mail on the volume to keep");
    const untouched = () => {
        assert.equal(ssh("findmnt -n -o FSTYPE /srv/mail").stdout.trim(), "ext4", "/srv/mail is not mounted");
        assert.equal(files(), filesBefore, "the files on /srv/mail changed");
        assert.equal(daemons(), daemonsBefore, "Postfix or Dovecot was restarted");
    };

    if (!rootMayResize()) {
        // The kernel refuses the resize to everyone here. The step must say so and fail,
        // and leave the volume as it was; the growth itself cannot be shown on this machine.
        const r = await runStep();
        assert.equal(r.ok, false, `the step succeeded without resizing: ${r.detail}`);
        assert.match(r.detail, /resize2fs: Permission denied to resize filesystem/, r.detail);
        assert.deepEqual(sizes(), before);
        untouched();
        // The device goes back to its filesystem's size (never grown, so nothing is cut
        // off): a later step (the replacement's provisioning) must not meet this again.
        const { loop, image } = labVolume();
        fs.truncateSync(image, before.ext4);
        host("losetup", "-c", loop);
        assert.equal(sizes().device, before.ext4, "the volume did not shrink back to its filesystem");
        t.skip(
            "root has no CAP_SYS_RESOURCE on this machine (ext4's online resize needs it): the step ran, the kernel refused it, nothing was harmed; the growth is not shown here",
        );
        return;
    }

    const r = await runStep();
    assert.ok(r.ok, r.detail);
    assert.deepEqual(
        r.steps?.map((s) => s.step),
        ["mail-volume"],
    );
    const out = r.steps![0].output;
    assert.match(out, /^grow-mail-volume: grew from \d+ MiB to \d+ MiB$/m, out);
    assert.ok(out.includes(`to ${Math.floor(before.device / MIB)} MiB`), out);
    const after = sizes();
    assert.equal(after.ext4, after.device, "the ext4 does not fill the grown device");
    assert.ok(
        after.df >= before.df + GROW_BY * 0.95,
        `df: ${Math.floor(before.df / MIB)} MiB -> ${Math.floor(after.df / MIB)} MiB, expected about ${GROW_BY / MIB} MiB more`,
    );
    untouched();

    const subject = tag("volume");
    await sendMail({ port: 25, from: "someone@sink.test", to: ["bob@example.org"], subject });
    assert.ok(
        await eventually(
            async () => (await imapFetch("bob@example.org", LAB_PASSWORDS["bob@example.org"], { subject })).length > 0,
        ),
    );

    const again = await runStep();
    assert.ok(again.ok, again.detail);
    assert.match(again.steps![0].output, /^grow-mail-volume: \d+ MiB, the whole device$/m, again.steps![0].output);
    assert.deepEqual(sizes(), after);
});
