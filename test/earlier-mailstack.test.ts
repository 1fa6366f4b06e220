// The earlier mailstack the lab's upgrade check deploys first (lab/harness/earlier.ts): a
// commit of this repository's own history, and one that earlier-render.cjs can render (it
// requires that commit's lab config, lab provisioning, plan and model by their paths then).
// Moving it is a deliberate edit; this catches a typo or a commit the renderer cannot read
// before a lab run does.

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { EARLIER_MAILSTACK } from "../lab/harness/earlier";

const ROOT = path.join(__dirname, "..");
const git = (...args: string[]) => execFileSync("git", ["-C", ROOT, ...args], { encoding: "utf8" });

test("EARLIER_MAILSTACK is a full commit id of this repository's history, an ancestor of HEAD", () => {
    expect(EARLIER_MAILSTACK).toMatch(/^[0-9a-f]{40}$/);
    expect(git("cat-file", "-t", EARLIER_MAILSTACK).trim()).toBe("commit");
    expect(() => git("merge-base", "--is-ancestor", EARLIER_MAILSTACK, "HEAD")).not.toThrow();
});

test("its tree has every module earlier-render.cjs requires, at the paths it requires them", () => {
    const script = fs.readFileSync(path.join(ROOT, "lab/harness/earlier-render.cjs"), "utf8");
    const required = [...script.matchAll(/require\("\.\/([^"]+)"\)/g)].map((m) => m[1]);
    expect(required.length).toBeGreaterThanOrEqual(4);
    const files = git("ls-tree", "-r", "--name-only", EARLIER_MAILSTACK).split("\n");
    for (const r of required)
        expect([r, files.some((f) => f === `${r}.ts` || f === `${r}/index.ts`)]).toEqual([r, true]);
});
