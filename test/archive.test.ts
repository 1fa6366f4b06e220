// The first-boot files' archive (render/boot/archive.ts): GNU tar, as first-boot.sh runs it,
// reads back exactly what was packed, and the reader the policy pack uses agrees.

import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { gunzipSync, gzipSync } from "zlib";
import { packArchive, type ArchiveMember } from "../render/boot/archive";
import { unpackArchive } from "../policy/archive";

const members: ArchiveMember[] = [
    { path: "/etc/postfix/main.cf", mode: "0644", owner: "root", group: "root", content: "myhostname = x\n" },
    { path: "/etc/dovecot/users", mode: "0640", owner: "root", group: "dovecot", content: "" },
    {
        path: "/usr/local/sbin/mailstack-volume-state",
        mode: "0755",
        owner: "root",
        group: "root",
        // Exactly one block, and UTF-8 beyond ASCII.
        content: `#!/bin/sh\n# é${"x".repeat(512 - 15)}\n`,
    },
];

describe("first-boot archive", () => {
    it("GNU tar lists every member with its mode, owner and size", () => {
        const listing = execFileSync("tar", ["-tvzf", "-"], { input: packArchive(members), encoding: "utf8" });
        const rows = listing
            .trim()
            .split("\n")
            .map((l) => l.split(/\s+/));
        expect(rows.map((r) => [r[0], r[1], r[2], r[5]])).toEqual([
            ["-rw-r--r--", "root/root", "15", "etc/postfix/main.cf"],
            ["-rw-r-----", "root/dovecot", "0", "etc/dovecot/users"],
            ["-rwxr-xr-x", "root/root", "512", "usr/local/sbin/mailstack-volume-state"],
        ]);
    });

    it("GNU tar unpacks the exact bytes", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "archive-"));
        try {
            execFileSync("tar", ["-xzf", "-", "-C", dir, "--no-same-owner"], { input: packArchive(members) });
            for (const m of members) {
                const file = path.join(dir, m.path);
                expect(fs.readFileSync(file, "utf8")).toBe(m.content);
                expect((fs.statSync(file).mode & 0o777).toString(8).padStart(4, "0")).toBe(m.mode);
            }
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("reads back what it packed, and the same files give the same bytes", () => {
        expect(unpackArchive(packArchive(members))).toEqual(members);
        expect(packArchive(members).equals(packArchive(members))).toBe(true);
    });

    it("reads an archive GNU tar made", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "archive-"));
        try {
            fs.mkdirSync(path.join(dir, "etc"));
            fs.writeFileSync(path.join(dir, "etc", "a.conf"), "a = 1\n", { mode: 0o600 });
            const tar = execFileSync("tar", [
                "-cf",
                "-",
                "--format=ustar",
                "--owner=root",
                "--group=root",
                "-C",
                dir,
                "etc/a.conf",
            ]);
            expect(unpackArchive(gzipSync(tar))).toEqual([
                { path: "/etc/a.conf", mode: "0600", owner: "root", group: "root", content: "a = 1\n" },
            ]);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("refuses what it cannot carry, and a damaged archive", () => {
        const one = members[0];
        expect(() => packArchive([one, one])).toThrow(/appears twice/);
        expect(() => packArchive([{ ...one, path: "etc/x" }])).toThrow(/absolute path/);
        expect(() => packArchive([{ ...one, path: `/${"d/".repeat(60)}x` }])).toThrow(/at most 100/);
        expect(() => packArchive([{ ...one, mode: "644" }])).toThrow(/bad mode/);
        expect(() => packArchive([{ ...one, owner: "Root Owner" }])).toThrow(/bad owner/);
        const tar = gunzipSync(packArchive([one]));
        expect(() => unpackArchive(gzipSync(tar.subarray(0, 512)))).toThrow(/cut short/);
        expect(() => unpackArchive(gzipSync(tar.subarray(0, 1024)))).toThrow(/no end blocks/);
        tar[0] ^= 1;
        expect(() => unpackArchive(gzipSync(tar))).toThrow(/bad checksum/);
    });
});
