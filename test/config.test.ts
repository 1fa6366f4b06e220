// Reading `mailstack:*` from the stack config, as Pulumi hands it to the program.
import * as pulumi from "@pulumi/pulumi";

import { readStackConfig } from "../components/config";

function setConfig(values: Record<string, unknown>) {
    const flat: Record<string, string> = {};
    for (const [k, v] of Object.entries(values)) flat[`mailstack:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
    pulumi.runtime.setAllConfig(flat, ["mailstack:passwords", "mailstack:relayPassword"]);
}

const base = {
    hostname: "mail.nathabee.de",
    acmeEmail: "postmaster@nathabee.de",
    sshAllowedCidrs: ["203.0.113.7/32"],
    domains: [{ name: "nathabee.de", mailboxes: ["evaluation"], aliases: { postmaster: ["evaluation@nathabee.de"] } }],
};

test("reads the stack config, keeping passwords secret", async () => {
    setConfig({ ...base, passwords: { "evaluation@nathabee.de": "a-very-long-password" } });
    const config = readStackConfig();
    expect(config.spec.hostname).toBe("mail.nathabee.de");
    expect(config.configuredPasswordAddresses).toEqual(["evaluation@nathabee.de"]);
    expect(await config.passwords.isSecret).toBe(true);
});

test("a bad config stops the program with every key path, before anything is declared", () => {
    setConfig({ ...base, sshAllowedCidrs: ["everyone"], relayPassword: "x" });
    let error: unknown;
    try {
        readStackConfig();
    } catch (e) {
        error = e;
    }
    expect(pulumi.RunError.isInstance(error)).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain('mailstack:sshAllowedCidrs[0]: "everyone" is not a CIDR');
    expect(message).toContain("mailstack:relayPassword: is set but mailstack:relay is not");
});

test("string settings are taken as written: a digits-only relay password stays a string, secret", async () => {
    setConfig({
        ...base,
        relay: { host: "smtp.relay.example", port: 587, username: "mailer" },
        relayPassword: "123456789012345",
    });
    const config = readStackConfig();
    expect(await pulumi.isSecret(config.relayPassword!)).toBe(true);
    expect(await new Promise((resolve) => config.relayPassword!.apply(resolve))).toBe("123456789012345");
});

test("a misspelt or unknown mailstack key is an error, not silently ignored", () => {
    setConfig({ ...base, mailVolumeSizeGB: 100, colour: "blue" });
    expect(() => readStackConfig()).toThrow(
        /mailstack:mailVolumeSizeGB: is not a mailstack setting \(did you mean mailstack:mailVolumeSizeGb\?\)/,
    );
    expect(() => readStackConfig()).toThrow(
        /mailstack:colour: is not a mailstack setting \(known: hostname, acmeEmail, /,
    );
});

test("passwords and the relay password stored without --secret are errors that say how to fix it", () => {
    const flat: Record<string, string> = {};
    const values = {
        ...base,
        relay: { host: "smtp.relay.example", port: 587, username: "mailer" },
        relayPassword: "relay-password-value",
        passwords: { "evaluation@nathabee.de": "a-very-long-password" },
    };
    for (const [k, v] of Object.entries(values)) flat[`mailstack:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
    pulumi.runtime.setAllConfig(flat, []); // as the engine passes them: no key is secret
    let message = "";
    try {
        readStackConfig();
    } catch (e) {
        message = (e as Error).message;
    }
    expect(message).toContain(
        "mailstack:relayPassword: is stored in plain text in the stack file: set it again with pulumi config set --secret mailstack:relayPassword",
    );
    expect(message).toContain("mailstack:passwords: is stored in plain text in the stack file");
    // The values themselves are never echoed.
    expect(message).not.toContain("relay-password-value");
    expect(message).not.toContain("a-very-long-password");
    // Marked secret, the same values are fine.
    pulumi.runtime.setAllConfig(flat, ["mailstack:passwords", "mailstack:relayPassword"]);
    expect(() => readStackConfig()).not.toThrow();
});

test("the backup's secrets are read as secrets, never reach the spec, and stored in plain text they are an error", async () => {
    const flat: Record<string, string> = {};
    const values = {
        ...base,
        backup: {
            sftp: {
                host: "u1.your-storagebox.de",
                user: "u1",
                path: "mail",
                hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIj0Y7Fwm6wZUmPQpVuZ7mUr2Z5ZpOHg6oYd3Vtq8x9c",
            },
        },
        // Digits only: a text key, never JSON-parsed into a number.
        backupPassword: "123456789012345678",
    };
    for (const [k, v] of Object.entries(values)) flat[`mailstack:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
    pulumi.runtime.setAllConfig(flat, []);
    expect(() => readStackConfig()).toThrow(
        "mailstack:backupPassword: is stored in plain text in the stack file: set it again with pulumi config set --secret mailstack:backupPassword",
    );
    pulumi.runtime.setAllConfig(flat, ["mailstack:backupPassword"]);
    const config = readStackConfig();
    expect(JSON.stringify(config.spec)).not.toContain("123456789012345678");
    expect(config.spec.backup?.repository.type).toBe("sftp");
    const password = config.backupSecrets.backupPassword!;
    expect(await pulumi.isSecret(password)).toBe(true);
    expect(await new Promise((resolve) => password.apply(resolve))).toBe("123456789012345678");
});

describe("secret values are checked by readStackConfig before anything is declared, never echoed", () => {
    const sftpBackup = {
        sftp: {
            host: "u1.your-storagebox.de",
            user: "u1",
            path: "mail",
            hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIj0Y7Fwm6wZUmPQpVuZ7mUr2Z5ZpOHg6oYd3Vtq8x9c",
        },
    };
    const SECRET_KEYS_SET = [
        "mailstack:passwords",
        "mailstack:relayPassword",
        "mailstack:backupPassword",
        "mailstack:backupSshPrivateKey",
    ];
    function messageOf(values: Record<string, unknown>): string {
        const flat: Record<string, string> = {};
        for (const [k, v] of Object.entries(values))
            flat[`mailstack:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
        pulumi.runtime.setAllConfig(flat, SECRET_KEYS_SET);
        try {
            readStackConfig();
        } catch (e) {
            expect(pulumi.RunError.isInstance(e)).toBe(true);
            return (e as Error).message;
        }
        return "";
    }

    test("a 5-character backup password stops the program, and the message does not show it", () => {
        const message = messageOf({ ...base, backup: sftpBackup, backupPassword: "abc12" });
        expect(message).toContain("mailstack:backupPassword: must be at least 12 characters");
        expect(message).not.toContain("abc12");
    });

    test("a garbage backup SSH key stops the program instead of being written to the server", () => {
        const message = messageOf({
            ...base,
            backup: sftpBackup,
            backupPassword: "a-long-backup-password",
            backupSshPrivateKey: "not-a-key-at-all",
        });
        expect(message).toContain("mailstack:backupSshPrivateKey: must be an unencrypted OpenSSH or PEM private key");
        expect(message).not.toContain("not-a-key-at-all");
    });

    test("a relay password with a line break stops the program, not the mail-data step after 70 resources", () => {
        const message = messageOf({
            ...base,
            relay: { host: "smtp.relay.example", port: 587, username: "mailer" },
            relayPassword: "first-line\nsecond-line",
        });
        expect(message).toContain("mailstack:relayPassword: must be one line without control characters (CR, LF, tab)");
        expect(message).not.toMatch(/first-line|second-line/);
    });
});

test("SSH open to the whole internet is deployed, with a warning that says why it is a bad idea", () => {
    const warn = jest.spyOn(pulumi.log, "warn").mockImplementation(() => Promise.resolve());
    try {
        setConfig({ ...base, sshAllowedCidrs: ["0.0.0.0/0", "::/0"] });
        expect(readStackConfig().spec.sshAllowedCidrs).toEqual(["0.0.0.0/0", "::/0"]);
        expect(warn.mock.calls.map((c) => c[0])).toEqual([
            expect.stringMatching(
                /^mailstack:sshAllowedCidrs\[0\]: 0\.0\.0\.0\/0 lets \(most of\) the whole internet reach SSH/,
            ),
            expect.stringMatching(/^mailstack:sshAllowedCidrs\[1\]: ::\/0 lets/),
        ]);
        warn.mockClear();
        setConfig(base);
        readStackConfig();
        expect(warn).not.toHaveBeenCalled();
    } finally {
        warn.mockRestore();
    }
});
