// The stdin format of scripts/apply-bundle.sh (docs/design.md, "Bundle format"):
//
//   mailstack-bundle 1
//   file <path> <mode> <owner> <group> <on-change|-> <base64 of content|->
//   prune <directory> <pattern> <on-change|->
//   end
//
// "-" as content means an empty file. Every field is checked here so that a bad value fails
// the deploy on the deployer's machine instead of on the server.

import { SERVICE_ACTIONS } from "../features";
import type { HostFile, ServiceAction } from "../host/types";

/**
 * Files mailstack owns in a directory: those matching `pattern` (one `*`) that the bundle
 * does not list are removed, and `onChange` runs (the key of a removed domain).
 */
export interface PruneRule {
    readonly dir: string;
    readonly pattern: string;
    readonly onChange: readonly ServiceAction[];
}

const PATH = /^\/(?:[A-Za-z0-9._@+-]+\/)*[A-Za-z0-9._@+-]+$/;
const NAME = /^[a-z_][a-z0-9_-]*$/;
const PATTERN = /^[A-Za-z0-9._@+-]*\*[A-Za-z0-9._@+-]*$/;

function actionList(actions: readonly ServiceAction[], what: string): string {
    for (const a of actions)
        if (!SERVICE_ACTIONS.includes(a)) throw new Error(`bundle: unknown action ${a} for ${what}`);
    return actions.length > 0 ? [...new Set(actions)].join(",") : "-";
}

export function renderBundle(files: readonly HostFile[], prune: readonly PruneRule[] = []): string {
    const seen = new Set<string>();
    const rows = files.map((f) => {
        if (!PATH.test(f.path) || f.path.split("/").some((p) => p === "." || p === ".."))
            throw new Error(`bundle: bad path ${JSON.stringify(f.path)}`);
        if (seen.has(f.path)) throw new Error(`bundle: ${f.path} appears twice`);
        seen.add(f.path);
        if (!/^0[0-7]{3}$/.test(f.mode)) throw new Error(`bundle: bad mode ${f.mode} for ${f.path}`);
        if (!NAME.test(f.owner) || !NAME.test(f.group))
            throw new Error(`bundle: bad owner/group ${f.owner}:${f.group} for ${f.path}`);
        const actions = actionList(f.onChange, f.path);
        const content = f.content === "" ? "-" : Buffer.from(f.content, "utf8").toString("base64");
        return `file ${f.path} ${f.mode} ${f.owner} ${f.group} ${actions} ${content}\n`;
    });
    const prunes = prune.map((p) => {
        if (!PATH.test(p.dir) || p.dir.split("/").some((x) => x === "." || x === ".."))
            throw new Error(`bundle: bad prune directory ${JSON.stringify(p.dir)}`);
        if (!PATTERN.test(p.pattern) || p.pattern === "*")
            throw new Error(`bundle: bad prune pattern ${JSON.stringify(p.pattern)} (one *, and more than it)`);
        return `prune ${p.dir} ${p.pattern} ${actionList(p.onChange, p.dir)}\n`;
    });
    return `mailstack-bundle 1\n${rows.join("")}${prunes.join("")}end\n`;
}

/** The files of a bundle (parseBundleRules without its prune rules). */
export function parseBundle(text: string): HostFile[] {
    return parseBundleRules(text).files;
}

/** The inverse of renderBundle, for tests and the lab: refuses a bundle without its `end` line. */
export function parseBundleRules(text: string): { files: HostFile[]; prune: PruneRule[] } {
    const lines = text.split("\n");
    if (lines[0] !== "mailstack-bundle 1") throw new Error("bundle: missing header");
    const files: HostFile[] = [];
    const prune: PruneRule[] = [];
    for (let i = 1; i < lines.length; i++) {
        const line = lines[i];
        if (line === "end") {
            if (lines.slice(i + 1).some((l) => l !== "")) throw new Error("bundle: data after end");
            return { files, prune };
        }
        if (line === "" && i === lines.length - 1) break; // the text ended before `end`
        const parts = line.split(" ");
        if (parts[0] === "prune" && parts.length === 4) {
            const [, dir, pattern, actions] = parts;
            prune.push({ dir, pattern, onChange: actions === "-" ? [] : (actions.split(",") as ServiceAction[]) });
            continue;
        }
        if (parts.length !== 7 || parts[0] !== "file") throw new Error(`bundle: bad line ${i + 1}`);
        const [, path, mode, owner, group, actions, content] = parts;
        files.push({
            path,
            mode,
            owner,
            group,
            onChange: actions === "-" ? [] : (actions.split(",") as HostFile["onChange"][number][]),
            content: content === "-" ? "" : Buffer.from(content, "base64").toString("utf8"),
        });
    }
    throw new Error("bundle: no end line");
}
