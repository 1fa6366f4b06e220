// The lab enforces the stack's own cloud firewall (lab/world/firewall.ts) between the server and
// the outside, as Hetzner does: these checks show that it is there, so that every other
// check has run behind it.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { tcpProbe, SERVER } from "../clients";
import { CLOUD_FIREWALL_TABLE } from "../world/firewall";
import { STORAGE_BOX } from "../world/storagebox";
import { NET, ssh } from "./helpers";

/** What a TCP connection from the server to host:port ends in: open, refused (a RST) or dropped (no answer in 4 s). */
function fromServer(host: string, port: number): "open" | "refused" | "dropped" {
    const r = ssh(`timeout 4 bash -c 'exec 3<>/dev/tcp/${host}/${port}' 2>/dev/null; echo $?`, { allowFail: true });
    const code = r.stdout.trim();
    return code === "0" ? "open" : code === "124" ? "dropped" : "refused";
}

/** The packets the firewall dropped so far in one direction (its chain's drop counter; checks run in msl-out). */
function dropped(chain: "to_server" | "from_server"): number {
    const rules = execFileSync("nft", ["list", "chain", "inet", CLOUD_FIREWALL_TABLE, chain], { encoding: "utf8" });
    return Number(/counter packets (\d+)/.exec(rules)?.[1] ?? NaN);
}

void test("The cloud firewall drops SSH from an address outside mailstack:sshAllowedCidrs, and lets the deployers in", async () => {
    const before = dropped("to_server");
    assert.equal(await tcpProbe(22, SERVER, NET.attacker4, 3_000), "dropped");
    assert.ok(dropped("to_server") > before, "the firewall's drop counter did not move");
    assert.equal(await tcpProbe(22, SERVER, NET.client4), "open");
});

void test("The server reaches the outside only on the ports the firewall opens: SMTP and the Storage Box's SFTP yes, another port no", () => {
    assert.equal(fromServer(NET.mx4, 25), "open", "SMTP to the outside MX");
    assert.equal(fromServer(NET.storagebox4, STORAGE_BOX.port), "open", "the backup repository's SFTP port");
    const before = dropped("from_server");
    // Nothing listens there: without the firewall this would be refused at once.
    assert.equal(fromServer(NET.storagebox4, 2222), "dropped");
    assert.ok(dropped("from_server") > before, "the firewall's drop counter did not move");
});
