// Any module may be the first one loaded: an import cycle whose modules use each other's
// values while loading fails only when the "wrong" one comes first (a one-line script, a
// test importing it alone), with "Cannot access ... before initialization". Each module of
// the renderers, the model, wire/ and the doctor is loaded first in a registry of its own.
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.join(__dirname, "..");
const DIRS = ["model", "render", "wire", "doctor"];

function sources(dir: string): string[] {
    return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
        const rel = path.join(dir, e.name);
        if (e.isDirectory()) return sources(rel);
        return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") && rel !== path.join("doctor", "cli.ts")
            ? [rel]
            : [];
    });
}

test("every module of model/, render/, wire/ and doctor/ loads when it is the first one loaded", () => {
    const files = DIRS.flatMap(sources);
    expect(files.length).toBeGreaterThan(50);
    const failed = files.flatMap((f) => {
        try {
            // A require() in its own registry is the one synchronous way to load a module first.
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            jest.isolateModules(() => require(path.join(ROOT, f)));
            return [];
        } catch (e) {
            return [`${f}: ${(e as Error).message.split("\n")[0]}`];
        }
    });
    expect(failed).toEqual([]);
});
