// Config problems: each names its key path, and all of them are reported at once, in config
// key order, then by element (domain, CIDR) and field (schema order).

import type { z } from "zod";
import { CONFIG_KEYS, configInput } from "./schema";

/** Thrown with every problem of the config at once; each line names a key path. */
export class ConfigError extends Error {
    constructor(readonly problems: readonly string[]) {
        super(`Invalid mailstack configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "ConfigError";
    }
}

/** A path inside the stack config: `["domains", 1, "aliases", "admin", 0]`. */
export type ConfigPath = readonly PropertyKey[];

/** `mailstack:domains[1].aliases.admin[0]` */
export function configPath(path: ConfigPath): string {
    let out = "mailstack";
    path.forEach((p, i) => {
        if (typeof p === "number") out += `[${p}]`;
        else out += i === 0 ? `:${String(p)}` : `.${String(p)}`;
    });
    return out;
}

/**
 * The fields of the object a schema holds (under defaults, optionals and arrays), and how
 * many levels down: 1 for `mailstack:relay.host`, 2 for `mailstack:domains[0].name`.
 */
function objectFields(schema: z.ZodType): { depth: number; fields: readonly string[] } | undefined {
    let t = schema;
    let depth = 1;
    for (;;) {
        const def = t._zod.def as { type: string; innerType?: z.ZodType; in?: z.ZodType; element?: z.ZodType };
        if (def.type === "object") return { depth, fields: Object.keys((t as z.ZodObject).shape) };
        if (def.type === "array") depth++;
        const inner = def.innerType ?? def.in ?? def.element;
        if (!inner) return undefined;
        t = inner;
    }
}

/**
 * Field order of the objects under a key, and at which depth of the path those fields are:
 * read off the schema, so a new config section reports its problems in its fields' order.
 */
const FIELD_ORDER: Readonly<Record<string, { depth: number; fields: readonly string[] }>> = Object.fromEntries(
    CONFIG_KEYS.flatMap((key) => {
        const fields = objectFields(configInput.shape[key]);
        return fields ? [[key, fields]] : [];
    }),
);

function sortRank(path: ConfigPath): number[] {
    const rankIn = (order: readonly string[], p: PropertyKey) => {
        const i = order.indexOf(String(p));
        return i < 0 ? order.length : i;
    };
    const rank = [rankIn(CONFIG_KEYS, path[0])];
    const fields = FIELD_ORDER[String(path[0])];
    for (let i = 1; i < path.length; i++) {
        const p = path[i];
        if (typeof p === "number") rank.push(p);
        else if (fields && i === fields.depth) rank.push(rankIn(fields.fields, p));
        else break;
    }
    return rank;
}

function compareRanks(a: readonly number[], b: readonly number[]): number {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
}

/** Collects problems as the passes find them; `sorted()` gives them in report order. */
export class Problems {
    private readonly found: { path: ConfigPath; text: string }[] = [];

    at(path: ConfigPath, message: string): void {
        this.found.push({ path, text: `${configPath(path)}: ${message}` });
    }

    /** Problems that tie keep the order they were found in (shape, then meaning). */
    sorted(): string[] {
        return this.found
            .map((p, i) => ({ ...p, rank: sortRank(p.path), i }))
            .sort((a, b) => compareRanks(a.rank, b.rank) || a.i - b.i)
            .map((p) => p.text);
    }
}
