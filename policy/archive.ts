// Reads the first-boot files' archive the program's user-data carries (a gzip'd ustar, as
// render/boot/archive.ts writes it), so the policy can look into every file that lands on
// disk. Written here on its own: the policy pack imports nothing of the program, and a
// reader of its own checks what is really there.

import { gunzipSync } from "zlib";

const BLOCK = 512;

export interface ArchiveMember {
    /** Absolute path; stored without the leading slash and unpacked with `tar -C /`. */
    readonly path: string;
    /** Octal, e.g. `0644`. */
    readonly mode: string;
    readonly owner: string;
    readonly group: string;
    readonly content: string;
}

function field(h: Buffer, offset: number, length: number): string {
    const raw = h.subarray(offset, offset + length);
    const end = raw.indexOf(0);
    return raw.subarray(0, end < 0 ? length : end).toString("utf8");
}

/** The members of a `.tar.gz`: regular files only, anything else is refused. */
export function unpackArchive(gz: Buffer): ArchiveMember[] {
    const tar = gunzipSync(gz);
    const members: ArchiveMember[] = [];
    for (let at = 0; at + BLOCK <= tar.length;) {
        const h = tar.subarray(at, at + BLOCK);
        if (h.every((b) => b === 0)) return members;
        if (field(h, 257, 6) !== "ustar") throw new Error(`archive: no ustar header at byte ${at}`);
        let sum = 0;
        for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
        if (parseInt(field(h, 148, 8).trim(), 8) !== sum) throw new Error(`archive: bad checksum at byte ${at}`);
        const type = field(h, 156, 1);
        if (type !== "0" && type !== "") throw new Error(`archive: member type ${type} at byte ${at} is not a file`);
        const size = parseInt(field(h, 124, 12), 8);
        const prefix = field(h, 345, 155);
        const name = field(h, 0, 100);
        const body = tar.subarray(at + BLOCK, at + BLOCK + size);
        if (body.length !== size) throw new Error(`archive: ${name} is cut short`);
        members.push({
            path: `/${prefix ? `${prefix}/` : ""}${name}`,
            mode: `0${(parseInt(field(h, 100, 8), 8) & 0o777).toString(8).padStart(3, "0")}`,
            owner: field(h, 265, 32),
            group: field(h, 297, 32),
            content: body.toString("utf8"),
        });
        at += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    }
    throw new Error("archive: no end blocks");
}
