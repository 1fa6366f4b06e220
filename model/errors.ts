// Config problems: each names its key path, and all of them are reported at once, in config
// key order, then by element (domain, CIDR) and field (schema order).

import { autoExpungeInput, spamFilterInput, submissionLimitInput } from "./filter";
import { backupInput, CONFIG_KEYS, domainInput, relayInput, secondaryMxInput, serverInput } from "./schema";

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

/** Field order of the objects under a key, and at which depth of the path those fields are. */
const FIELD_ORDER: Readonly<Record<string, { depth: number; fields: readonly string[] }>> = {
    server: { depth: 1, fields: Object.keys(serverInput.shape) },
    secondaryMx: { depth: 1, fields: Object.keys(secondaryMxInput.shape) },
    relay: { depth: 1, fields: Object.keys(relayInput.shape) },
    domains: { depth: 2, fields: Object.keys(domainInput.shape) },
    backup: { depth: 1, fields: Object.keys(backupInput.shape) },
    spamFilter: { depth: 1, fields: Object.keys(spamFilterInput.shape) },
    autoExpunge: { depth: 1, fields: Object.keys(autoExpungeInput.shape) },
    submissionLimit: { depth: 1, fields: Object.keys(submissionLimitInput.shape) },
};

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
