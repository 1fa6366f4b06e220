// The bench's figures: one value per run each, with min/median/max over the runs.

export interface Figure {
    id: string;
    label: string;
    unit: string;
    /** One value per run (null: not measured in that run). */
    values: (number | null)[];
}
export const figures = new Map<string, Figure>();
/** The run being measured (0-based); bench/run.ts counts it up. */
export const current = { run: 0 };
/** What a figure alone does not say (a deferral's log line, ...), per run; in the JSON and after the table. */
export const notes: string[] = [];
export function note(text: string): void {
    notes.push(`run ${current.run + 1}: ${text}`);
    console.log(`bench: ${text}`);
}

/** Record the value of figure `id` for the current run. */
export function put(id: string, label: string, unit: string, value: number | null): void {
    if (!figures.has(id)) figures.set(id, { id, label, unit, values: [] });
    const f = figures.get(id)!;
    f.values[current.run] = value === null || Number.isNaN(value) ? null : value;
}

export function stats(values: (number | null)[]): { min: number; median: number; max: number } | undefined {
    const v = values.filter((x): x is number => typeof x === "number").sort((a, b) => a - b);
    if (v.length === 0) return undefined;
    const mid = Math.floor(v.length / 2);
    return { min: v[0], median: v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2, max: v[v.length - 1] };
}

export const MiB = (kb: number) => kb / 1024;
