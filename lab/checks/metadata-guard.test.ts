import assert from "node:assert/strict";
import { test } from "node:test";
import { labSpec } from "../lab-config";
import { ssh } from "./helpers";

const METADATA = "169.254.169.254";

/**
 * One TCP connect and one UDP exchange with the metadata address on the server, as `user`
 * (root or another user via runuser): what each got (an errno name, "timeout" or
 * "connected"/"answered") and after how many seconds.
 */
function probe(user: "root" | "nobody" | "radicale"): { tcp: string; tcpSeconds: number; udp: string } {
    const code = `
import errno, socket, time
def name(e): return errno.errorcode.get(e.errno, str(e.errno))
t = time.monotonic()
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.settimeout(3)
try:
    s.connect(("${METADATA}", 80)); tcp = "connected"
except socket.timeout: tcp = "timeout"
except OSError as e: tcp = name(e)
dt = time.monotonic() - t
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(2)
try:
    u.connect(("${METADATA}", 53)); u.send(b"x"); u.recv(512); udp = "answered"
except socket.timeout: udp = "timeout"
except OSError as e: udp = name(e)
print(tcp, round(dt, 3), udp)
`;
    const run = user === "root" ? "python3 -" : `runuser -u ${user} -- python3 -`;
    const [tcp, seconds, udp] = ssh(run, { input: code, timeoutMs: 30_000 }).stdout.trim().split(" ");
    return { tcp, tcpSeconds: Number(seconds), udp };
}

/** Packets counted by each rule of the guard's table, in rule order. */
function counters(): number[] {
    const out = JSON.parse(ssh("nft -j list table inet mailstack_metadata").stdout) as {
        nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[];
    };
    return out.nftables.filter((o) => o.rule).map((o) => o.rule!.expr.find((e) => e.counter)?.counter?.packets ?? -1);
}

void test("The metadata guard is loaded from the first boot: table inet mailstack_metadata, its unit enabled and active", () => {
    assert.equal(ssh("systemctl is-enabled mailstack-metadata-guard").stdout.trim(), "enabled");
    assert.equal(ssh("systemctl is-active mailstack-metadata-guard").stdout.trim(), "active");
    const table = ssh("nft list table inet mailstack_metadata", { allowFail: true });
    assert.equal(table.status, 0, `the table is not loaded: ${table.stderr}`);
    assert.match(table.stdout, /hook output/);
    assert.match(table.stdout, /ip daddr 169\.254\.169\.254 meta skuid != 0 .*counter .*reject with tcp reset/);
    assert.equal(counters().length, 2, table.stdout);
});

void test("Only root reaches the metadata address: another user's TCP and UDP are refused at once by the guard, root's are not (they go out and, in the lab, meet nothing)", () => {
    const before = counters();
    const nobody = probe("nobody");
    const afterNobody = counters();
    // Refused on the machine itself, at once: the reset comes from our rule, not the network.
    assert.equal(nobody.tcp, "ECONNREFUSED", `nobody's TCP connect: ${JSON.stringify(nobody)}`);
    assert.ok(nobody.tcpSeconds < 1, `nobody's TCP refusal took ${nobody.tcpSeconds} s`);
    // UDP meets the rule's plain reject: the kernel refuses the send itself.
    assert.ok(["EPERM", "ECONNREFUSED"].includes(nobody.udp), `nobody's UDP: ${JSON.stringify(nobody)}`);
    assert.ok(afterNobody[0] > before[0], `the TCP rule counted nothing: ${before} -> ${afterNobody}`);
    assert.ok(afterNobody[1] > before[1], `the other rule counted nothing: ${before} -> ${afterNobody}`);

    const root = probe("root");
    const afterRoot = counters();
    // There is no metadata service in the lab: root's packets leave and get no answer (or an
    // "unreachable" from the outside namespace), never our refusal.
    assert.ok(
        ["timeout", "EHOSTUNREACH", "ENETUNREACH"].includes(root.tcp),
        `root's TCP connect: ${JSON.stringify(root)}`,
    );
    assert.ok(["timeout", "EHOSTUNREACH", "ENETUNREACH"].includes(root.udp), `root's UDP: ${JSON.stringify(root)}`);
    assert.deepEqual(afterRoot, afterNobody, "the guard counted root's packets");
    // Radicale (mailstack:dav) is one more local user: refused the same way.
    if (labSpec().dav) assert.equal(probe("radicale").tcp, "ECONNREFUSED", "radicale reached the metadata address");
});
