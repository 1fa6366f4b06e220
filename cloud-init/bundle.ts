// The stdin format of scripts/apply-bundle.sh (docs/design.md, "Bundle format"):
//
//   mailstack-bundle 1
//   file <path> <mode> <owner> <group> <on-change|-> <base64 of content|->
//   end
//
// "-" as content means an empty file. Every field is checked here so that a bad value fails
// the deploy on the deployer's machine instead of on the server.

import { SERVICE_ACTIONS, type HostFile } from "./types";

const PATH = /^\/(?:[A-Za-z0-9._@+-]+\/)*[A-Za-z0-9._@+-]+$/;
const NAME = /^[a-z_][a-z0-9_-]*$/;

export function renderBundle(files: readonly HostFile[]): string {
    const seen = new Set<string>();
    const rows = files.map((f) => {
        if (!PATH.test(f.path) || f.path.split("/").some((p) => p === "." || p === ".."))
            throw new Error(`bundle: bad path ${JSON.stringify(f.path)}`);
        if (seen.has(f.path)) throw new Error(`bundle: ${f.path} appears twice`);
        seen.add(f.path);
        if (!/^0[0-7]{3}$/.test(f.mode)) throw new Error(`bundle: bad mode ${f.mode} for ${f.path}`);
        if (!NAME.test(f.owner) || !NAME.test(f.group))
            throw new Error(`bundle: bad owner/group ${f.owner}:${f.group} for ${f.path}`);
        for (const a of f.onChange)
            if (!SERVICE_ACTIONS.includes(a)) throw new Error(`bundle: unknown action ${a} for ${f.path}`);
        const actions = f.onChange.length > 0 ? [...new Set(f.onChange)].join(",") : "-";
        const content = f.content === "" ? "-" : Buffer.from(f.content, "utf8").toString("base64");
        return `file ${f.path} ${f.mode} ${f.owner} ${f.group} ${actions} ${content}\n`;
    });
    return `mailstack-bundle 1\n${rows.join("")}end\n`;
}

/** The inverse of renderBundle, for tests and the lab: refuses a bundle without its `end` line. */
export function parseBundle(text: string): HostFile[] {
    const lines = text.split("\n");
    if (lines[0] !== "mailstack-bundle 1") throw new Error("bundle: missing header");
    const files: HostFile[] = [];
    for (let i = 1; i < lines.length; i++) {
        const line = lines[i];
        if (line === "end") {
            if (lines.slice(i + 1).some((l) => l !== "")) throw new Error("bundle: data after end");
            return files;
        }
        if (line === "" && i === lines.length - 1) break; // the text ended before `end`
        const parts = line.split(" ");
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
