// The mail volume's state version and its migrations (render/host/migrations.ts). The rendered
// mailstack-migrate runs in bash against a temporary root (MAILSTACK_MIGRATE_ROOT, as
// test/apply-bundle.test.ts does with APPLY_BUNDLE_ROOT): `id -u` says 0 and `mountpoint`
// says mounted, stubbed on PATH; the test migrations leave a trace of every run in the root.

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { renderHostFiles } from "../render";
import { renderFirstBootFiles } from "../render/features";
import {
    checkMigrations,
    DOVECOT_CONFIG_VERSION,
    DOVECOT_STORAGE_VERSION,
    MIGRATE_SCRIPT,
    migrateCommand,
    MIGRATIONS,
    renderMigrateScript,
    STATE_VERSION,
    STATE_VERSION_FILE,
    type Migration,
} from "../render/host/migrations";
import { PROVISIONING_PLAN } from "../render/plan/plan";
import { renderTemplate } from "../render/host/template";
import { remoteCommand } from "../scripts/commands";
import { buildSpec } from "../model";
import { twoDomains } from "./helpers/fixtures";

/** Three migrations, each writing its number to $root/trace when it runs; the second one idempotent on a file of its own. */
const THREE: Migration[] = [
    { version: 1, reason: "first", script: 'echo 1 >>"$root/trace"' },
    {
        version: 2,
        reason: "second, it's quoted",
        script: 'echo 2 >>"$root/trace"\n[ -e "$volume/moved" ] || touch "$volume/moved"',
    },
    { version: 3, reason: "third", script: 'echo 3 >>"$root/trace"' },
];

interface Box {
    readonly root: string;
    run(migrations: readonly Migration[], command?: string): { status: number; stdout: string; stderr: string };
    /** The volume's version file, or undefined when there is none. */
    version(): string | undefined;
    setVersion(v: string): void;
    /** The migrations that ran, in order, then forgotten. */
    trace(): string[];
    /** Every file under the root with its content (what a refusal must leave alone). */
    snapshot(): Record<string, string>;
}

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function box(): Box {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "migrate-"));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const root = path.join(dir, "root");
    const bin = path.join(dir, "bin");
    fs.mkdirSync(path.join(root, "srv/mail"), { recursive: true });
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, "id"), '#!/bin/sh\n[ "$1" = -u ] && echo 0 || exec /usr/bin/id "$@"\n', {
        mode: 0o755,
    });
    fs.writeFileSync(path.join(bin, "mountpoint"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const versionPath = path.join(root, STATE_VERSION_FILE);
    const tracePath = path.join(root, "trace");
    const walk = (d: string, out: Record<string, string>) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
            const p = path.join(d, e.name);
            if (e.isDirectory()) walk(p, out);
            else out[path.relative(root, p)] = fs.readFileSync(p, "utf8");
        }
        return out;
    };
    return {
        root,
        run(migrations, command = "run") {
            const script = path.join(dir, "mailstack-migrate");
            fs.writeFileSync(script, renderMigrateScript(migrations));
            const r = spawnSync("bash", [script, command], {
                encoding: "utf8",
                env: { ...process.env, MAILSTACK_MIGRATE_ROOT: root, PATH: `${bin}:${process.env.PATH}` },
            });
            return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
        },
        version: () => (fs.existsSync(versionPath) ? fs.readFileSync(versionPath, "utf8") : undefined),
        setVersion(v) {
            fs.mkdirSync(path.dirname(versionPath), { recursive: true });
            fs.writeFileSync(versionPath, v);
        },
        trace() {
            const t = fs.existsSync(tracePath) ? fs.readFileSync(tracePath, "utf8") : "";
            fs.rmSync(tracePath, { force: true });
            return t.split("\n").filter((l) => l !== "");
        },
        snapshot: () => walk(root, {}),
    };
}

describe("mailstack-migrate run, against a temporary root", () => {
    test("a volume without a version (0) gets every migration, in order, once, and the current version", () => {
        const b = box();
        const r = b.run(THREE);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(b.trace()).toEqual(["1", "2", "3"]);
        expect(b.version()).toBe("3\n");
        expect(r.stdout).toContain("migration 2 of 3: second, it's quoted");
        expect(r.stdout).toContain("is now version 3 (was 0)");
        // Written by rename: nothing left beside it.
        expect(fs.readdirSync(path.dirname(path.join(b.root, STATE_VERSION_FILE)))).toEqual(["version"]);
    });

    test("run again, it does nothing", () => {
        const b = box();
        expect(b.run(THREE).status).toBe(0);
        b.trace();
        const before = b.snapshot();
        const r = b.run(THREE);
        expect(r.status).toBe(0);
        expect(r.stdout).toBe("mailstack-migrate: state version 3, nothing to migrate\n");
        expect(b.trace()).toEqual([]);
        expect(b.snapshot()).toEqual(before);
    });

    test("a volume at version 1 gets only the migrations above it", () => {
        const b = box();
        b.setVersion("1\n");
        expect(b.run(THREE).status).toBe(0);
        expect(b.trace()).toEqual(["2", "3"]);
        expect(b.version()).toBe("3\n");
    });

    test("a volume newer than the script stops it with both versions named, exit non-zero, nothing changed", () => {
        const b = box();
        b.setVersion("5\n");
        const before = b.snapshot();
        const r = b.run(THREE);
        expect(r.status).not.toBe(0);
        expect(r.stderr).toMatch(
            /the mail volume's state is version 5, newer than this mailstack's version 3: .*Nothing was changed\. Run pulumi up from that newer mailstack/,
        );
        expect(b.trace()).toEqual([]);
        expect(b.snapshot()).toEqual(before);
    });

    test("a failing migration leaves the version at the last one that succeeded; the next run starts again from it", () => {
        const b = box();
        const broken = THREE.map((m) =>
            m.version === 2 ? { ...m, script: 'echo 2 >>"$root/trace"\nfalse\necho 2-after-false >>"$root/trace"' } : m,
        );
        const r = b.run(broken);
        expect(r.status).not.toBe(0);
        expect(r.stderr).toMatch(/migration 2 failed \(exit 1\): the mail volume stays at state version 1/);
        // set -e holds inside a migration: nothing after the failing command, and no migration after it.
        expect(b.trace()).toEqual(["1", "2"]);
        expect(b.version()).toBe("1\n");
        // Fixed: 2 and 3 run, 1 does not again.
        expect(b.run(THREE).status).toBe(0);
        expect(b.trace()).toEqual(["2", "3"]);
        expect(b.version()).toBe("3\n");
    });

    test("a version file that is not a number stops it, nothing changed", () => {
        const b = box();
        b.setVersion("three\n");
        const r = b.run(THREE);
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain("holds 'three', not a state version");
        expect(b.trace()).toEqual([]);
        expect(b.version()).toBe("three\n");
    });

    test("no volume mounted: nothing runs", () => {
        const b = box();
        fs.writeFileSync(path.join(b.root, "..", "bin", "mountpoint"), "#!/bin/sh\nexit 1\n");
        const r = b.run(THREE);
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain("/srv/mail is not mounted");
        expect(b.trace()).toEqual([]);
        expect(b.version()).toBeUndefined();
    });
});

/** first-boot.sh's stamp of a fresh volume, rendered, with /srv/mail under `root`. */
function firstBootStamp(root: string): string {
    const text = renderTemplate("mailstack/first-boot.sh", {
        mailUnits: "postfix",
        firstBootArchive: "/var/lib/mailstack/first-boot-files.tar.gz",
        stateVersion: STATE_VERSION,
        stateVersionFile: STATE_VERSION_FILE,
    });
    const block = /^version_file=.*?^fi$/ms.exec(text)?.[0];
    if (!block) throw new Error("first-boot.sh: no state version block");
    return block.replaceAll("/srv/mail", `${root}/srv/mail`);
}

describe("the first boot's state version", () => {
    const stamp = (b: Box) => spawnSync("bash", ["-euc", firstBootStamp(b.root)], { encoding: "utf8" });

    test("a fresh volume (lost+found at most) gets the current version, and run then finds nothing to migrate", () => {
        const b = box();
        fs.mkdirSync(path.join(b.root, "srv/mail/lost+found"));
        expect(stamp(b).status).toBe(0);
        expect(b.version()).toBe(`${STATE_VERSION}\n`);
        expect(b.run(MIGRATIONS).stdout).toContain("nothing to migrate");
    });

    test("a volume an older mailstack wrote (state, no version) stays at 0, and run migrates it", () => {
        const b = box();
        fs.mkdirSync(path.join(b.root, "srv/mail/vhosts/example.org/alice"), { recursive: true });
        expect(stamp(b).status).toBe(0);
        expect(b.version()).toBeUndefined();
        expect(b.run(THREE).status).toBe(0);
        expect(b.trace()).toEqual(["1", "2", "3"]);
    });

    test("a volume with a version keeps it", () => {
        const b = box();
        b.setVersion("0\n");
        expect(stamp(b).status).toBe(0);
        expect(b.version()).toBe("0\n");
    });

    test("it comes once the volume is mounted, before the first boot writes to it", () => {
        const firstBoot = fs.readFileSync(
            path.join(__dirname, "../render/host/templates/mailstack/first-boot.sh"),
            "utf8",
        );
        const at = firstBoot.indexOf("# The state version");
        expect(at).toBeGreaterThan(firstBoot.indexOf("mountpoint -q /srv/mail"));
        expect(at).toBeLessThan(firstBoot.indexOf("install -d -o vmail -g vmail -m 0750 /srv/mail/vhosts"));
    });
});

describe("the migrations of this mailstack", () => {
    test("are numbered 1..N; STATE_VERSION is the last", () => {
        expect(() => checkMigrations(MIGRATIONS)).not.toThrow();
        expect(STATE_VERSION).toBe(MIGRATIONS.length);
        expect(STATE_VERSION).toBeGreaterThanOrEqual(1);
        expect(() => checkMigrations([THREE[0], THREE[2]])).toThrow(/number 2 is 3/);
        expect(() => checkMigrations([{ ...THREE[0], reason: "two\nlines" }])).toThrow(/one line/);
    });

    test("take a volume without a version to STATE_VERSION, and again change nothing", () => {
        const b = box();
        fs.mkdirSync(path.join(b.root, "srv/mail/vhosts"));
        expect(b.run(MIGRATIONS).status).toBe(0);
        expect(b.version()).toBe(`${STATE_VERSION}\n`);
        const before = b.snapshot();
        expect(b.run(MIGRATIONS).stdout).toContain("nothing to migrate");
        expect(b.snapshot()).toEqual(before);
    });

    test("host-config runs them first, from its own command text, with no stdin, and stops before apply-bundle when they fail", () => {
        const hostConfig = PROVISIONING_PLAN.find((s) => s.role === "host-config")!;
        expect(hostConfig.command()).toBe(`${migrateCommand()} && ${remoteCommand("apply-bundle.sh")}`);
        expect(migrateCommand()).toMatch(/ mailstack-migrate run <\/dev\/null$/);
    });

    test("the script is a host file of host-config (not of the first boot: Hetzner's 32 KiB)", () => {
        const spec = buildSpec(twoDomains());
        const f = renderHostFiles(spec).find((x) => x.path === MIGRATE_SCRIPT);
        expect(f).toMatchObject({ mode: "0755", owner: "root", content: renderMigrateScript() });
        expect(renderFirstBootFiles(spec).find((x) => x.path === MIGRATE_SCRIPT)).toBeUndefined();
    });
});

describe("Dovecot's versions", () => {
    // Raised only on purpose (render/host/migrations.ts says why): a change here is a decision.
    test("dovecot_config_version and dovecot_storage_version are pinned to 2.4.1, first in dovecot.conf", () => {
        expect(DOVECOT_CONFIG_VERSION).toBe("2.4.1");
        expect(DOVECOT_STORAGE_VERSION).toBe("2.4.1");
        const conf = renderHostFiles(buildSpec(twoDomains())).find((f) => f.path === "/etc/dovecot/dovecot.conf")!;
        const settings = conf.content.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#"));
        expect(settings.slice(0, 2)).toEqual(["dovecot_config_version = 2.4.1", "dovecot_storage_version = 2.4.1"]);
    });
});
