// scripts/apply-bundle.sh and the renderers must agree on the service actions: the script
// refuses an action it does not know, and runs the known ones in ACTION_ORDER. Below, the
// script itself runs against a temporary root: atomic replace, nothing for unchanged files,
// the actions of changed ones in order.

import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { renderBundle, SERVICE_ACTIONS, type HostFile, type ServiceAction } from "../render";

const SCRIPT = fs.readFileSync(path.join(__dirname, "..", "scripts", "apply-bundle.sh"), "utf8");

/** The words of the script's `ACTION_ORDER=( ... )` array. */
export function actionOrder(script: string): string[] {
    const m = /^ACTION_ORDER=\(([^)]*)\)$/m.exec(script);
    if (!m) throw new Error("apply-bundle.sh: no ACTION_ORDER=(...) line");
    return m[1].trim().split(/\s+/);
}

/** The patterns of the `case` in one shell function of the script. */
function casePatterns(script: string, fn: string): string[] {
    const body = new RegExp(`^${fn}\\(\\) \\{\\n([\\s\\S]*?)^\\}`, "m").exec(script)?.[1] ?? "";
    return [...body.matchAll(/^ {4}([a-z][a-z0-9:-]*)\)/gm)].map((m) => m[1]);
}

test("ACTION_ORDER in apply-bundle.sh is SERVICE_ACTIONS, in the same order", () => {
    expect(actionOrder(SCRIPT)).toEqual([...SERVICE_ACTIONS]);
});

test("apply-bundle.sh knows how to run every action", () => {
    expect(casePatterns(SCRIPT, "run").sort()).toEqual([...SERVICE_ACTIONS].sort());
});

test("a changed order is caught", () => {
    const swapped = SCRIPT.replace("restart:postsrsd restart:opendkim", "restart:opendkim restart:postsrsd");
    expect(swapped).not.toEqual(SCRIPT);
    expect(actionOrder(swapped)).not.toEqual([...SERVICE_ACTIONS]);
});

// --- The script itself, run by bash against a temporary root ------------------------------
// APPLY_BUNDLE_ROOT puts every path the script touches under a temporary directory; the
// daemons' tools (systemctl, postfix, nginx, ...) are stubs on PATH that log their arguments,
// and `id -u` says 0, so this runs without root. Files are owned by the user running the test
// (chown to oneself needs no privilege). test/host-tools/bundles.sh runs the script as root
// with the real owners.

const STUBBED = [
    "systemctl",
    "postfix",
    "doveconf",
    "sievec",
    "opendkim",
    "python3",
    "nft",
    "rspamadm",
    "rspamc",
    "unbound-checkconf",
    "php",
    "nginx",
    "fail2ban-client",
    "sshd",
    "pgrep",
    "journalctl",
];

interface Sandbox {
    readonly root: string;
    readonly owner: string;
    readonly group: string;
    /** Runs the script on this bundle; its stdout, stderr and exit code. */
    run(bundle: string): { status: number; stdout: string; stderr: string };
    /** The stub commands run so far, one `name args` a line, then forgotten. */
    calls(): string[];
}

function sandbox(): Sandbox {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "apply-bundle-"));
    const root = path.join(dir, "root");
    const bin = path.join(dir, "bin");
    const log = path.join(dir, "calls.log");
    for (const d of [root, path.join(root, "run"), bin]) fs.mkdirSync(d, { recursive: true });
    const stub = (name: string, body: string) =>
        fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    // Every daemon is stopped: is-active says no, so a reload becomes a start.
    for (const name of STUBBED) stub(name, `echo "${name} $*" >>"${log}"\n[ "$1" = is-active ] && exit 3\nexit 0`);
    stub("id", `if [ "$1" = -u ]; then echo 0; else exec /usr/bin/id "$@"; fi`);
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    return {
        root,
        owner: os.userInfo().username,
        group: execFileSync("id", ["-gn"], { encoding: "utf8" }).trim(),
        run(bundle) {
            const r = spawnSync("bash", [path.join(__dirname, "..", "scripts", "apply-bundle.sh")], {
                input: bundle,
                encoding: "utf8",
                env: { ...process.env, APPLY_BUNDLE_ROOT: root, PATH: `${bin}:${process.env.PATH}` },
            });
            return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
        },
        calls() {
            const text = fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "";
            fs.rmSync(log, { force: true });
            return text.split("\n").filter((l) => l !== "");
        },
    };
}
const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** Files under /etc/mailstack-test/ that no real server has, each with its actions. */
function files(box: Sandbox, contents: Record<string, [string, ServiceAction[]]>, mode = "0640"): HostFile[] {
    return Object.entries(contents).map(([name, [content, onChange]]) => ({
        path: `/etc/mailstack-test/${name}`,
        mode,
        owner: box.owner,
        group: box.group,
        content,
        onChange,
    }));
}
const inRoot = (box: Sandbox, name: string) => path.join(box.root, "etc/mailstack-test", name);
/** The systemctl calls that start, restart or reload a unit, or reload systemd. */
const unitCalls = (calls: string[]) =>
    calls.filter((c) => /^systemctl (start|restart|reload|daemon-reload)\b/.test(c)).map((c) => c.slice(10));

describe("apply-bundle.sh run against a temporary root", () => {
    test("installs a new file with its content and mode, and runs its action", () => {
        const box = sandbox();
        const r = box.run(renderBundle(files(box, { "main.conf": ["one\n", ["reload:nginx"]] })));
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(fs.readFileSync(inRoot(box, "main.conf"), "utf8")).toBe("one\n");
        expect((fs.statSync(inRoot(box, "main.conf")).mode & 0o777).toString(8)).toBe("640");
        expect(unitCalls(box.calls())).toEqual(["start nginx"]);
        // No temporary file is left beside it.
        expect(fs.readdirSync(path.dirname(inRoot(box, "main.conf")))).toEqual(["main.conf"]);
    });

    test("replaces a changed file by a rename: a new inode, and the old file is never written to", () => {
        const box = sandbox();
        box.run(renderBundle(files(box, { "main.conf": ["one\n", ["reload:nginx"]] })));
        const target = inRoot(box, "main.conf");
        const before = fs.statSync(target).ino;
        // A second name for the old file: a write in place (truncate, write) would show through it.
        const oldLink = path.join(box.root, "old-main.conf");
        fs.linkSync(target, oldLink);
        box.calls();
        const r = box.run(renderBundle(files(box, { "main.conf": ["two\n", ["reload:nginx"]] })));
        expect(r.status).toBe(0);
        expect(fs.readFileSync(target, "utf8")).toBe("two\n");
        expect(fs.statSync(target).ino).not.toBe(before);
        expect(fs.readFileSync(oldLink, "utf8")).toBe("one\n");
        expect(unitCalls(box.calls())).toEqual(["start nginx"]);
    });

    test("the same bundle again changes nothing and runs no action", () => {
        const box = sandbox();
        const bundle = renderBundle(
            files(box, {
                "a.conf": ["a\n", ["reload:postfix"]],
                "b.conf": ["b\n", ["restart:opendkim", "reload:dovecot"]],
            }),
        );
        expect(box.run(bundle).status).toBe(0);
        const inode = fs.statSync(inRoot(box, "a.conf")).ino;
        box.calls();
        const again = box.run(bundle);
        expect(again.status).toBe(0);
        expect(again.stdout).toBe("apply-bundle: unchanged (2 files)\n");
        expect(box.calls()).toEqual([]);
        expect(fs.statSync(inRoot(box, "a.conf")).ino).toBe(inode);
    });

    test("runs only the actions of the changed files, each once, in ACTION_ORDER whatever the bundle's order", () => {
        const box = sandbox();
        const all = (v: string) =>
            files(box, {
                "ssh.conf": [`ssh ${v}\n`, ["restart:ssh"]],
                "nginx.conf": [`nginx ${v}\n`, ["reload:nginx"]],
                "main.cf": [`postfix ${v}\n`, ["reload:postfix"]],
                "both.conf": [`both ${v}\n`, ["reload:postfix", "restart:opendkim"]],
                "unit.service": [`unit ${v}\n`, ["daemon-reload"]],
                "unchanged.conf": ["same\n", ["reload:dovecot"]],
            });
        expect(box.run(renderBundle(all("1"))).status).toBe(0);
        expect(unitCalls(box.calls())).toEqual([
            "daemon-reload",
            "restart opendkim",
            "start dovecot",
            "start postfix",
            "start nginx",
            "restart ssh",
        ]);
        // Everything but unchanged.conf changes: dovecot is left alone.
        const second = all("2").map((f) => (f.path.endsWith("unchanged.conf") ? { ...f, content: "same\n" } : f));
        const r = box.run(renderBundle(second));
        expect(r.status).toBe(0);
        expect(unitCalls(box.calls())).toEqual([
            "daemon-reload",
            "restart opendkim",
            "start postfix",
            "start nginx",
            "restart ssh",
        ]);
        expect(r.stdout).toMatch(/^apply-bundle: 5 changed, 1 unchanged$/m);
        // Only nginx's file changes: only nginx.
        const third = second.map((f) => (f.path.endsWith("nginx.conf") ? { ...f, content: "nginx 3\n" } : f));
        box.run(renderBundle(third));
        expect(unitCalls(box.calls())).toEqual(["start nginx"]);
    });

    test("a changed mode alone replaces the file and runs its action", () => {
        const box = sandbox();
        box.run(renderBundle(files(box, { "key.pem": ["secret\n", ["restart:opendkim"]] }, "0644")));
        box.calls();
        expect(
            box.run(renderBundle(files(box, { "key.pem": ["secret\n", ["restart:opendkim"]] }, "0600"))).status,
        ).toBe(0);
        expect((fs.statSync(inRoot(box, "key.pem")).mode & 0o777).toString(8)).toBe("600");
        expect(unitCalls(box.calls())).toEqual(["restart opendkim"]);
    });

    test("a bundle cut before its end line installs nothing and runs nothing", () => {
        const box = sandbox();
        const bundle = renderBundle(files(box, { "main.conf": ["one\n", ["reload:nginx"]] }));
        const r = box.run(bundle.replace(/^end\n$/m, ""));
        expect(r.status).not.toBe(0);
        expect(r.stderr).toMatch(/no 'end' line/);
        expect(fs.existsSync(inRoot(box, "main.conf"))).toBe(false);
        expect(box.calls()).toEqual([]);
    });
});
