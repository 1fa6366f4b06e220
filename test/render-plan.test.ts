// Unit tests of the provisioning (render/plan/): the bundle format, the commands the steps run
// (scripts/commands.ts), and the plan's steps.

import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { type MailSpec } from "../model";
import {
    MAIL_PACKAGES,
    parseBundle,
    parseBundleRules,
    renderBundle,
    renderDkimFiles,
    renderHostFiles,
    renderMailData,
    renderUserData,
    type HostFile,
} from "../render";
import { DKIM_KEYS_PRUNE } from "../render/host/dkim";
import { MAIL_UNITS } from "../render/features";
import { hostKeyFromReport, PROVISIONING_PLAN, renderPackageList } from "../render/plan/plan";
import { WEBMAIL_PACKAGES } from "../render/features";
import { PHP_FPM_UNIT } from "../render/host/webmail";
import { remoteCommand } from "../scripts/commands";
import { TEST_PROVISIONAL_HOST_KEY } from "./helpers/host-key";
import { DEVICE, spec, hashesFor, keysFor, userDataFiles } from "./helpers/render";

describe("bundle", () => {
    const s = spec();
    const files = [
        ...renderHostFiles(s),
        ...renderMailData(s, { passwordHashes: hashesFor(s) }),
        ...renderDkimFiles(s, { privateKeysPem: keysFor(s) }),
    ];
    const text = renderBundle(files);

    it("has the documented format and round-trips", () => {
        const lines = text.split("\n");
        expect(lines[0]).toBe("mailstack-bundle 1");
        expect(lines[lines.length - 2]).toBe("end");
        expect(lines[lines.length - 1]).toBe("");
        expect(lines[1]).toMatch(/^file \/etc\/postfix\/main\.cf 0644 root root reload:postfix [A-Za-z0-9+/]+=*$/);
        expect(text).toContain(" 0755 root root - ");
        expect(parseBundle(text)).toEqual(files.map((f) => ({ ...f, onChange: [...f.onChange] })));
    });

    it("writes an empty file as '-' and reads it back", () => {
        const empty: HostFile = {
            path: "/etc/empty",
            mode: "0644",
            owner: "root",
            group: "root",
            content: "",
            onChange: [],
        };
        expect(renderBundle([empty])).toBe("mailstack-bundle 1\nfile /etc/empty 0644 root root - -\nend\n");
        expect(parseBundle(renderBundle([empty]))).toEqual([empty]);
    });

    it("is refused without its end line", () => {
        expect(() => parseBundle(text.replace(/end\n$/, ""))).toThrow(/end/);
    });

    it("carries prune rules after the files; the dkim step prunes the keys directory", () => {
        const rule = { dir: "/etc/opendkim/keys", pattern: "*.private", onChange: ["restart:opendkim" as const] };
        const pruned = renderBundle(files, [rule]);
        expect(pruned).toMatch(/\nprune \/etc\/opendkim\/keys \*\.private restart:opendkim\nend\n$/);
        expect(parseBundleRules(pruned).prune).toEqual([rule]);
        expect(parseBundle(pruned)).toEqual(parseBundle(text));
        for (const pattern of ["*", "a/*", "x", "*.a b"])
            expect(() => renderBundle([], [{ ...rule, pattern }])).toThrow(/prune pattern/);
        expect(() => renderBundle([], [{ ...rule, dir: "/etc/../x" }])).toThrow(/prune directory/);
        const dkim = PROVISIONING_PLAN.find((st) => st.role === "dkim")!;
        const stdin = dkim.stdin!(s, { dkimPrivateKeysPem: keysFor(s), passwordHashes: {} });
        expect(parseBundleRules(stdin).prune).toEqual([DKIM_KEYS_PRUNE]);
        // Every key the step installs is inside the pruned directory and matches the pattern.
        for (const f of parseBundle(stdin).filter((f) => f.path.endsWith(".private")))
            expect(f.path).toMatch(/^\/etc\/opendkim\/keys\/[^/]+\.private$/);
    });

    it("refuses values the script could not read safely", () => {
        const ok: HostFile = { path: "/etc/x", mode: "0644", owner: "root", group: "root", content: "x", onChange: [] };
        expect(() => renderBundle([{ ...ok, path: "/etc/../x" }])).toThrow(/path/);
        expect(() => renderBundle([{ ...ok, path: "/etc/a b" }])).toThrow(/path/);
        expect(() => renderBundle([{ ...ok, path: "relative" }])).toThrow(/path/);
        expect(() => renderBundle([{ ...ok, mode: "644" }])).toThrow(/mode/);
        expect(() => renderBundle([{ ...ok, owner: "root root" }])).toThrow(/owner/);
        expect(() => renderBundle([{ ...ok, onChange: ["reboot" as never] }])).toThrow(/action/);
        expect(() => renderBundle([ok, ok])).toThrow(/twice/);
    });
});

describe("remoteCommand", () => {
    it("is bash -c with the script text, single-quote escaped, and the script name as $0", () => {
        const cmd = remoteCommand("apply-bundle.sh");
        const text = fs.readFileSync(path.join(__dirname, "..", "scripts", "apply-bundle.sh"), "utf8");
        expect(cmd.startsWith("bash -c '")).toBe(true);
        expect(cmd.endsWith("' apply-bundle.sh")).toBe(true);
        const quoted = cmd.slice("bash -c ".length, -" apply-bundle.sh".length);
        // A shell reads the quoted word back as exactly the script text.
        expect(execFileSync("bash", ["-c", `printf '%s' ${quoted}`], { encoding: "utf8" })).toBe(text);
    });

    it("survives single quotes in the script", () => {
        const cmd = remoteCommand("wait-first-boot.sh");
        expect(
            execFileSync(
                "bash",
                ["-c", cmd.replace(/^bash -c /, "printf '%s' ").replace(/ wait-first-boot\.sh$/, "")],
                { encoding: "utf8" },
            ),
        ).toBe(fs.readFileSync(path.join(__dirname, "..", "scripts", "wait-first-boot.sh"), "utf8"));
    });

    it("only runs scripts from scripts/", () => {
        expect(() => remoteCommand("../lab/stop.sh")).toThrow();
        expect(() => remoteCommand("missing.sh")).toThrow();
    });
});

describe("provisioning plan", () => {
    it("the packages step's stdin lists every package of the user-data and every mail unit, and the webmail's and Radicale's (each only when switched on)", () => {
        const list = (s: MailSpec) => {
            const lines = renderPackageList(s).trim().split("\n");
            return {
                packages: lines.filter((l) => l.startsWith("package ")).map((l) => l.slice(8)),
                units: lines.filter((l) => l.startsWith("unit ")).map((l) => l.slice(5)),
            };
        };
        expect(list(spec({ webmail: false, dav: false }))).toEqual({
            packages: [...MAIL_PACKAGES],
            units: [...MAIL_UNITS],
        });
        expect(list(spec())).toEqual({
            packages: [...MAIL_PACKAGES, ...WEBMAIL_PACKAGES, "radicale"],
            units: [...MAIL_UNITS, PHP_FPM_UNIT, "radicale"],
        });
        expect(list(spec({ webmail: false }))).toEqual({
            packages: [...MAIL_PACKAGES, "radicale"],
            units: [...MAIL_UNITS, "radicale"],
        });
        // php-fpm before Roundcube: apt would otherwise meet php's first alternative, Apache's mod_php.
        expect(WEBMAIL_PACKAGES[0]).toBe("php-fpm");
    });

    it("first boot starts the same units, in the same order", () => {
        const firstBoot = userDataFiles(
            renderUserData(spec(), { mailVolumeDevice: DEVICE, provisionalHostKey: TEST_PROVISIONAL_HOST_KEY }),
        ).get("/usr/local/sbin/mailstack-first-boot")!;
        expect(firstBoot).toContain(`units='${MAIL_UNITS.join(" ")}'\nfor unit in $units; do`);
    });

    it("reads the replaced host key from the host-key step's last line, and refuses anything else", () => {
        expect(hostKeyFromReport("some warning\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHog\n")).toBe(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHog",
        );
        expect(() => hostKeyFromReport("ok")).toThrow(/expected an ssh-ed25519 public key/);
        expect(() => hostKeyFromReport("ssh-rsa AAAAB3Nza")).toThrow(/ssh-ed25519/);
    });

    it("user-data carries exactly the provisional host key, and refuses one that is not ed25519", () => {
        const doc = parse(
            renderUserData(spec(), { mailVolumeDevice: DEVICE, provisionalHostKey: TEST_PROVISIONAL_HOST_KEY }),
        );
        expect(doc.ssh_keys).toEqual({
            ed25519_private: TEST_PROVISIONAL_HOST_KEY.privateKeyOpenssh,
            ed25519_public: TEST_PROVISIONAL_HOST_KEY.publicKeyOpenssh,
        });
        expect(doc.ssh_genkeytypes).toEqual(["ed25519"]);
        const rsa = { ...TEST_PROVISIONAL_HOST_KEY, publicKeyOpenssh: "ssh-rsa AAAAB3NzaC1yc2E" };
        expect(() => renderUserData(spec(), { mailVolumeDevice: DEVICE, provisionalHostKey: rsa })).toThrow(
            /ssh-ed25519/,
        );
        const pem = {
            ...TEST_PROVISIONAL_HOST_KEY,
            privateKeyOpenssh: "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n",
        };
        expect(() => renderUserData(spec(), { mailVolumeDevice: DEVICE, provisionalHostKey: pem })).toThrow(
            /OpenSSH private key/,
        );
    });

    it("every step but host-key pins the replaced key, and host-key runs first", () => {
        expect(PROVISIONING_PLAN[0].role).toBe("host-key");
        expect(PROVISIONING_PLAN.filter((s) => s.pin === "provisional").map((s) => s.role)).toEqual(["host-key"]);
        const seen = new Set<string>();
        for (const s of PROVISIONING_PLAN) {
            for (const a of s.after) expect([s.role, seen.has(a)]).toEqual([s.role, true]);
            seen.add(s.role);
        }
    });

    it("a step whose stdin is rendered from plan inputs (every one a secret) is marked secret", () => {
        const secretless = PROVISIONING_PLAN.filter((s) => s.uses.length > 0 && !s.secret).map((s) => s.role);
        expect(secretless).toEqual([]);
        expect(PROVISIONING_PLAN.filter((s) => s.secret).map((s) => s.role)).toEqual(
            expect.arrayContaining(["dkim", "mail-data", "backup"]),
        );
    });
});
