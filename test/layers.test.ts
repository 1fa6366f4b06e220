// The layers and the one direction of their imports (docs/design.md, "Layers"):
//
//   model/                the validated MailSpec, schema, errors, services table, stack outputs: imports nothing of ours
//   render/, scripts/     pure renderers (server files, DNS values, the provisioning plan): model/ only
//   components/           Pulumi components: model/ and the renderers
//   wire/                 the mail protocols (SMTP, ManageSieve, IMAP, POP3, TLS): model/ only
//   lab/                  the lab: model/, the renderers and wire/, never components/
//   doctor/               `npm run doctor`: model/, the renderers (what was published) and wire/, never components/
//   bench/                `npm run bench`: what the lab may use and the lab; bench/evaluate.ts also components/
//                         (it times the program's evaluation), the one named exception
//   policy/               the policy pack: self-contained (it shares no code with the program), imports nothing of ours
//   index.ts              the program: components/ and model/
//
// test/ may import anything.

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ArchiveMember as WrittenMember } from "../render/boot/archive";
import type { ArchiveMember as ReadMember } from "../policy/archive";

const ROOT = path.join(__dirname, "..");

type Layer = "model" | "renderers" | "components" | "wire" | "lab" | "doctor" | "bench" | "policy" | "program";

const LAYER_OF: Record<string, Layer> = {
    model: "model",
    render: "renderers",
    scripts: "renderers",
    components: "components",
    wire: "wire",
    lab: "lab",
    doctor: "doctor",
    bench: "bench",
    policy: "policy",
    "index.ts": "program",
};

/** Folders of the repository that hold no layer's code. */
const NOT_LAYERS = new Set(["test", "node_modules", "docs", "bin", "coverage"]);

const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
    model: ["model"],
    renderers: ["model", "renderers"],
    components: ["model", "renderers", "components"],
    wire: ["model", "wire"],
    lab: ["model", "renderers", "wire", "lab"],
    doctor: ["model", "renderers", "wire", "doctor"],
    bench: ["model", "renderers", "wire", "lab", "bench"],
    policy: ["policy"],
    program: ["model", "components"],
};

/** The named exceptions: this file may import that layer too. */
const EXCEPTIONS: readonly { readonly file: string; readonly layer: Layer; readonly why: string }[] = [
    { file: "bench/evaluate.ts", layer: "components", why: "it times the program's evaluation under mocks" },
];

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
        const rel = path.relative(ROOT, file).split(path.sep).join("/");
        return relativeImports(file)
            .filter((target) => {
                const to = layerOf(target);
                if (to === undefined || MAY_IMPORT[from].includes(to)) return false;
                return !EXCEPTIONS.some((e) => e.file === rel && e.layer === to);
            })
            .map((target) => `${path.relative(ROOT, file)} -> ${path.relative(ROOT, target)}`);
    });
}

const FOLDERS = fs
    .readdirSync(ROOT, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith(".") && !NOT_LAYERS.has(e.name))
    .map((e) => e.name);

const ALL = ["index.ts", ...FOLDERS.flatMap((d) => sources(path.join(ROOT, d)))].map((f) => path.resolve(ROOT, f));

test("every folder with code is a layer, and every layer exists and holds code", () => {
    const withCode = FOLDERS.filter((d) => sources(path.join(ROOT, d)).length > 0);
    expect(withCode.filter((d) => !(d in LAYER_OF))).toEqual([]);
    for (const dir of Object.keys(LAYER_OF).filter((d) => d !== "index.ts")) {
        expect(ALL.some((f) => path.relative(ROOT, f).startsWith(`${dir}${path.sep}`))).toBe(true);
    }
});

test("imports go one way only: model <- renderers <- components, and the lab, the doctor and the bench through wire/", () => {
    expect(violations(ALL)).toEqual([]);
});

test("each named exception is still needed", () => {
    for (const e of EXCEPTIONS) {
        const used = relativeImports(path.join(ROOT, e.file)).some((target) => layerOf(target) === e.layer);
        expect({ ...e, used }).toEqual({ ...e, used: true });
    }
});

test("model/ imports no package but zod and node's own modules; wire/ none but node's and the mail clients'", () => {
    const packages = (dir: string, allowed: readonly string[]) =>
        sources(path.join(ROOT, dir)).flatMap((f) =>
            [...fs.readFileSync(f, "utf8").matchAll(/from\s+["']([^."'][^"']*)["']/g)]
                .map((m) => m[1])
                .filter((m) => !allowed.includes(m) && !m.startsWith("node:"))
                .map((m) => `${path.relative(ROOT, f)} -> ${m}`),
        );
    expect(packages("model", ["zod"])).toEqual([]);
    expect(packages("wire", ["imapflow"])).toEqual([]);
});

test("the check itself catches a wrong import", () => {
    const tmp = fs.mkdtempSync(path.join(ROOT, "model", ".layers-"));
    const wireTmp = fs.mkdtempSync(path.join(ROOT, "wire", ".layers-"));
    const policyTmp = fs.mkdtempSync(path.join(ROOT, "policy", ".layers-"));
    const benchTmp = fs.mkdtempSync(path.join(ROOT, "bench", ".layers-"));
    try {
        const bad = path.join(tmp, "bad.ts");
        fs.writeFileSync(bad, 'import { MailStack } from "../../components/mailstack";\n');
        expect(violations([bad])).toEqual([`${path.relative(ROOT, bad)} -> components/mailstack`]);
        // wire/ knows no lab.
        const wire = path.join(wireTmp, "bad.ts");
        fs.writeFileSync(wire, 'import { SERVER } from "../../lab/clients";\n');
        expect(violations([wire])).toEqual([`${path.relative(ROOT, wire)} -> lab/clients`]);
        // The policy pack imports nothing of ours, not even a type.
        const policy = path.join(policyTmp, "bad.ts");
        fs.writeFileSync(policy, 'import type { ArchiveMember } from "../../render/boot/archive";\n');
        expect(violations([policy])).toEqual([`${path.relative(ROOT, policy)} -> render/boot/archive`]);
        // The exception is one file's.
        const bench = path.join(benchTmp, "bad.ts");
        fs.writeFileSync(bench, 'import { MailStack } from "../../components/mailstack";\n');
        expect(violations([bench])).toEqual([`${path.relative(ROOT, bench)} -> components/mailstack`]);
        // A lab file importing a component is refused without the file having to exist.
        expect(MAY_IMPORT[layerOf(path.join(ROOT, "lab", "x.ts"))!]).not.toContain("components");
    } finally {
        for (const d of [tmp, wireTmp, policyTmp, benchTmp]) fs.rmSync(d, { recursive: true, force: true });
    }
});

/** No source file is over this many lines (issue 29): a file that outgrows it is split by concern. */
const MAX_LINES = 600;

/** The tracked source files (.ts, .sh, .py, .php, .cjs) and their line counts. */
export function sourceLengths(): { file: string; lines: number }[] {
    return execFileSync("git", ["ls-files", "-z"], { cwd: ROOT, encoding: "utf8" })
        .split("\0")
        .filter((f) => /\.(ts|mts|cjs|js|sh|py|php)$/.test(f) && fs.existsSync(path.join(ROOT, f)))
        .map((file) => ({ file, lines: fs.readFileSync(path.join(ROOT, file), "utf8").split("\n").length - 1 }));
}

test(`no tracked source file is over ${MAX_LINES} lines`, () => {
    const lengths = sourceLengths();
    expect(lengths.length).toBeGreaterThan(100);
    expect(lengths.filter((f) => f.lines > MAX_LINES)).toEqual([]);
});

test("the first-boot archive's member has one shape for its writer (render/boot/) and the policy pack's reader", () => {
    // Checked when compiled: each is assignable to the other, so a field added to one and not the other fails here.
    const member = { path: "/etc/x", mode: "0644", owner: "root", group: "root", content: "" };
    const read: ReadMember = member;
    const forth: WrittenMember = read;
    const back: ReadMember = forth;
    expect([back, forth]).toEqual([member, member]);
});
