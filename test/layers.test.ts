// The layers and the one direction of their imports (docs/design.md, "Layers"):
//
//   spec/                 the validated MailSpec, schema, errors, services table: imports nothing of ours
//   cloud-init/, scripts/ pure renderers (server files, DNS values, the provisioning plan): spec/ only
//   components/           Pulumi components: spec/ and the renderers
//   lab/                  the lab: spec/ and the renderers, never components/
//   doctor/               `npm run doctor`: spec/ and the renderers (what was published), never components/
//   index.ts              the program: components/ and spec/
//
// test/ may import anything.

import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.join(__dirname, "..");

type Layer = "spec" | "renderers" | "components" | "lab" | "doctor" | "program";

const LAYER_OF: Record<string, Layer> = {
    spec: "spec",
    "cloud-init": "renderers",
    scripts: "renderers",
    components: "components",
    lab: "lab",
    doctor: "doctor",
    "index.ts": "program",
};

const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
    spec: ["spec"],
    renderers: ["spec", "renderers"],
    components: ["spec", "renderers", "components"],
    lab: ["spec", "renderers", "lab"],
    doctor: ["spec", "renderers", "doctor"],
    program: ["spec", "components"],
};

function layerOf(file: string): Layer | undefined {
    return LAYER_OF[path.relative(ROOT, file).split(path.sep)[0]];
}

function sources(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) return e.name === "node_modules" ? [] : sources(p);
        return /\.(ts|mts)$/.test(e.name) && !e.name.endsWith(".d.ts") ? [p] : [];
    });
}

/** Relative imports of a file (import/export ... from, require, dynamic import). */
function relativeImports(file: string): string[] {
    const text = fs.readFileSync(file, "utf8");
    const specs = [...text.matchAll(/(?:from\s+|require\(\s*|import\(\s*)["'](\.[^"']*)["']/g)].map((m) => m[1]);
    return specs.map((s) => path.resolve(path.dirname(file), s));
}

/** Every import that goes against the direction of the layers, as `file -> target`. */
export function violations(files: readonly string[]): string[] {
    return files.flatMap((file) => {
        const from = layerOf(file);
        if (!from) return [];
        return relativeImports(file)
            .filter((target) => {
                const to = layerOf(target);
                return to !== undefined && !MAY_IMPORT[from].includes(to);
            })
            .map((target) => `${path.relative(ROOT, file)} -> ${path.relative(ROOT, target)}`);
    });
}

const ALL = [
    "index.ts",
    ...["spec", "cloud-init", "scripts", "components", "lab", "doctor"].flatMap((d) => sources(path.join(ROOT, d))),
].map((f) => path.resolve(ROOT, f));

test("every layer exists and holds code", () => {
    for (const dir of ["spec", "cloud-init", "scripts", "components", "lab", "doctor"]) {
        expect(ALL.some((f) => path.relative(ROOT, f).startsWith(`${dir}${path.sep}`))).toBe(true);
    }
});

test("imports go one way only: spec <- renderers <- components, and the lab never uses components", () => {
    expect(violations(ALL)).toEqual([]);
});

test("spec/ imports no package but zod and node's own modules", () => {
    const outside = sources(path.join(ROOT, "spec")).flatMap((f) =>
        [...fs.readFileSync(f, "utf8").matchAll(/from\s+["']([^."'][^"']*)["']/g)]
            .map((m) => m[1])
            .filter((m) => m !== "zod" && !m.startsWith("node:"))
            .map((m) => `${path.relative(ROOT, f)} -> ${m}`),
    );
    expect(outside).toEqual([]);
});

test("the check itself catches a wrong import", () => {
    const tmp = fs.mkdtempSync(path.join(ROOT, "spec", ".layers-"));
    try {
        const bad = path.join(tmp, "bad.ts");
        fs.writeFileSync(bad, 'import { MailStack } from "../../components/mailstack";\n');
        const lab = path.join(ROOT, "lab", "x.ts");
        expect(violations([bad])).toEqual([`${path.relative(ROOT, bad)} -> components/mailstack`]);
        // A lab file importing a component is refused without the file having to exist.
        expect(MAY_IMPORT[layerOf(lab)!]).not.toContain("components");
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
});
