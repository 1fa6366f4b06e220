// The program itself (index.ts), as `pulumi preview` runs it: the stack config is read and
// checked, the zones are read, the resources declared and the outputs returned.
import * as pulumi from "@pulumi/pulumi";

import { mocksReady, promiseOf, resourcesOf, settle, zoneRecords } from "./helpers/mocks";

const CONFIG = {
    "mailstack:hostname": "mail.nathabee.de",
    "mailstack:acmeEmail": "postmaster@nathabee.de",
    "mailstack:sshAllowedCidrs": JSON.stringify(["203.0.113.7/32"]),
    "mailstack:domains": JSON.stringify([
        { name: "nathabee.de", mailboxes: ["evaluation"], aliases: { postmaster: ["evaluation@nathabee.de"] } },
    ]),
};

async function runProgram(
    extra: Record<string, string> = {},
    secretKeys: string[] = [],
): Promise<Record<string, pulumi.Output<unknown>>> {
    await mocksReady;
    pulumi.runtime.setAllConfig({ ...CONFIG, ...extra }, secretKeys);
    let program: () => Promise<Record<string, pulumi.Output<unknown>>> = async () => ({});
    jest.isolateModules(() => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        program = require("../index");
    });
    return program();
}

test("index.ts exports an async program whose outputs are the ones the README lists", async () => {
    const limit = Error.stackTraceLimit;
    const outputs = await runProgram();
    // The program runs without stack traces (components/stack-traces.ts: the SDK's cost per promise).
    expect(Error.stackTraceLimit).toBe(0);
    Error.stackTraceLimit = limit;
    expect(Object.keys(outputs).sort()).toEqual(
        [
            "clientSettings",
            "deployPrivateKey",
            "dnsRecords",
            "hostname",
            "ipv4",
            "ipv6",
            "mailboxPasswords",
            "senderPasswords",
            "sshHostKey",
        ].sort(),
    );
    expect(outputs.hostname).toBe("mail.nathabee.de");
    expect(await promiseOf(outputs.ipv4 as pulumi.Output<string>)).toBe("192.0.2.25");
    await settle();
    expect(resourcesOf("mail").some((r) => r.type === "hcloud:index/server:Server")).toBe(true);
});

test("a zone conflict stops the program before any resource is declared", async () => {
    zoneRecords["zone-of-nathabee.de"] = [
        { id: "other-mx", name: "nathabee.de", type: "MX", content: "mx.elsewhere.example" },
    ];
    const before = resourcesOf("mail").length;
    try {
        await expect(runProgram()).rejects.toThrow(/other-mx/);
        await settle();
        expect(resourcesOf("mail").length).toBe(before);
    } finally {
        delete zoneRecords["zone-of-nathabee.de"];
    }
});

test("a relay password with a line break stops the program before any resource is declared, without showing it", async () => {
    const before = resourcesOf("mail").length;
    const run = runProgram(
        {
            "mailstack:relay": JSON.stringify({ host: "smtp.relay.example", port: 587, username: "mailer" }),
            "mailstack:relayPassword": "relay-secret\r\nRSET",
        },
        ["mailstack:relayPassword"],
    );
    await expect(run).rejects.toThrow(/mailstack:relayPassword: must be one line without control characters/);
    await expect(run).rejects.not.toThrow(/relay-secret/);
    await settle();
    expect(resourcesOf("mail").length).toBe(before);
});
