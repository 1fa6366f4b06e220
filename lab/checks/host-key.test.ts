import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { test } from "node:test";
import { HOST_KEY_COMMAND, hostKeyFromReport, PROVISIONING_PLAN } from "../../render/plan/plan";
import { pinnedHostKey, provisionalHostKey, sshPinnedTo } from "../harness/ssh";
import type { ProvisionResult } from "../scenarios/provision";
import { context, NET, ssh, tag } from "./helpers";

/** A fresh ed25519 public key in OpenSSH form, one the server has never had. */
function strangerKey(): string {
    const { publicKey } = generateKeyPairSync("ed25519");
    const raw = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
    // RFC 4253 wire format: string "ssh-ed25519", string <32-byte key>.
    const field = (b: Buffer) => {
        const n = Buffer.alloc(4);
        n.writeUInt32BE(b.length);
        return Buffer.concat([n, b]);
    };
    return `ssh-ed25519 ${Buffer.concat([field(Buffer.from("ssh-ed25519")), field(raw)]).toString("base64")}`;
}

/**
 * Run `touch <marker>` over ssh pinned to `key` and prove what happened: refused with a host
 * key verification error (exit 255), and the marker does not exist on the server (checked
 * over the correctly pinned ssh), so the command never ran.
 */
function assertRefused(key: string, what: string): void {
    const marker = `/run/mailstack-pin-${tag("probe")}`;
    const r = sshPinnedTo(key, `touch ${marker}`, { allowFail: true, timeoutMs: 30_000 });
    assert.equal(
        ssh(`test -e ${marker} && echo ran || echo absent`).stdout.trim(),
        "absent",
        `the command sent over ssh pinned to ${what} ran on the server`,
    );
    assert.equal(r.status, 255, `ssh pinned to ${what}: exit ${r.status}\n${r.stderr}`);
    assert.match(r.stderr, /Host key verification failed/, `ssh pinned to ${what}:\n${r.stderr}`);
    assert.match(r.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED/, `ssh pinned to ${what}:\n${r.stderr}`);
    // The probe is sound: the same command over the pinned ssh does create the marker.
    ssh(`touch ${marker}`);
    assert.equal(ssh(`test -e ${marker} && echo ran; rm -f ${marker}`).stdout.trim(), "ran");
}

void test("An ssh pinned to another ed25519 key than the server's is refused (host key verification failed) and its command never runs", () => {
    assertRefused(strangerKey(), "a freshly generated ed25519 key");
});

void test("The provisional host key from the user-data is no longer the server's: pinned to it, ssh is refused; pinned to the key the host-key step printed, it logs in", () => {
    const provisional = provisionalHostKey().publicKeyOpenssh;
    const pinned = pinnedHostKey();
    assert.notEqual(pinned, provisional, "the lab still pins the provisional key: the host key was never replaced");
    assertRefused(provisional, "the provisional key of the user-data");
    const r = sshPinnedTo(pinned, "id -u", { allowFail: true, timeoutMs: 30_000 });
    assert.equal(r.status, 0, `ssh pinned to the replaced key: exit ${r.status}\n${r.stderr}`);
    assert.equal(r.stdout.trim(), "0");
});

void test("The server has exactly one SSH host key, ed25519, the pinned one: in /etc/ssh, and all it offers on port 22", () => {
    const pinned = pinnedHostKey();
    assert.deepEqual(ssh("ls -1 /etc/ssh/ | grep '^ssh_host_' | sort").stdout.trim().split("\n"), [
        "ssh_host_ed25519_key",
        "ssh_host_ed25519_key.pub",
    ]);
    const pub = ssh("cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub").stdout.trim();
    assert.equal(pub, pinned, "ssh_host_ed25519_key.pub is not the pinned key");
    // The private key is that key's own (sshd signs with it).
    const fromPrivate = ssh("ssh-keygen -y -f /etc/ssh/ssh_host_ed25519_key | cut -d' ' -f1,2").stdout.trim();
    assert.equal(fromPrivate, pinned, "the private host key does not belong to the pinned public key");
    // What sshd actually presents, asked for every key type (this process runs in msl-out).
    const scanned = execFileSync("ssh-keyscan", ["-T", "10", "-t", "rsa,ecdsa,ed25519", NET.server4], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
    })
        .trim()
        .split("\n")
        .filter((l) => !l.startsWith("#"))
        .map((l) => l.split(" ").slice(1, 3).join(" "));
    assert.deepEqual(scanned, [pinned], "ssh-keyscan: the keys sshd offers");
});

void test("Provisioning began with the plan's host-key step (the fixed HOST_KEY_COMMAND, pinned to the provisional key), whose printed key is the one pinned; running it again changes nothing", () => {
    const first = PROVISIONING_PLAN[0];
    assert.equal(first.role, "host-key");
    assert.equal(first.pin, "provisional");
    assert.equal(first.command(), HOST_KEY_COMMAND);
    assert.deepEqual(
        PROVISIONING_PLAN.filter((s) => s.pin === "provisional").map((s) => s.role),
        ["host-key"],
    );
    // The lab's provisioning report (context.json): the steps that ran, in order.
    const { provisioning } = context() as { provisioning: ProvisionResult };
    const steps = provisioning.steps ?? [];
    assert.equal(steps[0]?.step, "host-key", `steps: ${steps.map((s) => s.step).join(", ")}`);
    assert.equal(steps[0].status, 0, steps[0].output);
    assert.equal(hostKeyFromReport(steps[0].output), pinnedHostKey(), "the host-key step printed another key");
    assert.equal(steps.filter((s) => s.step === "host-key").length, 1);
    assert.equal(ssh("test -e /etc/ssh/mailstack-host-key-replaced && echo yes").stdout.trim(), "yes");
    // Idempotent (the stack never re-runs it on one server, but a rerun must not lock it out).
    const again = ssh(HOST_KEY_COMMAND);
    assert.equal(hostKeyFromReport(again.stdout), pinnedHostKey());
    assert.equal(ssh("id -u").stdout.trim(), "0");
});
