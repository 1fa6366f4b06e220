// scripts/apply-bundle.sh and the renderers must agree on the service actions: the script
// refuses an action it does not know, and runs the known ones in ACTION_ORDER.

import * as fs from "node:fs";
import * as path from "node:path";

import { SERVICE_ACTIONS } from "../cloud-init";

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
