// The first-boot files travel in the user-data as one gzip-compressed ustar archive (POSIX
// tar) instead of one write_files entry each: compressed together they take about a third
// less room, and Hetzner accepts at most 32 KiB of user-data. first-boot.sh unpacks it with
// Debian's GNU tar, which as root keeps the modes and sets the owners by the names recorded.
// Regular files only, no directories (tar makes missing parents, existing ones stay as they
// are), a fixed mtime and gzip header, so the same files always give the same bytes.
// policy/archive.ts reads it back, on its own (the policy pack imports nothing of the program).

import { gzipSync } from "zlib";

/**
 * A member: the writer's format. policy/archive.ts reads it back with a declaration of its
 * own (the policy pack shares no code with the program); test/layers.test.ts holds the two to one shape.
 */
export interface ArchiveMember {
    /** Absolute path; stored without the leading slash and unpacked with `tar -C /`. */
    readonly path: string;
    /** Octal, e.g. `0644`. */
    readonly mode: string;
    readonly owner: string;
    readonly group: string;
    readonly content: string;
}

const BLOCK = 512;

function octal(value: number, width: number): string {
    return value.toString(8).padStart(width - 1, "0") + "\0";
}

function header(m: ArchiveMember, size: number): Buffer {
    const name = m.path.replace(/^\//, "");
    if (!m.path.startsWith("/") || Buffer.byteLength(name) > 100)
        throw new Error(`archive: ${m.path} is not an absolute path of at most 100 characters`);
    if (!/^0[0-7]{3}$/.test(m.mode)) throw new Error(`archive: bad mode ${m.mode} for ${m.path}`);
    for (const id of [m.owner, m.group])
        if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(id)) throw new Error(`archive: bad owner/group ${id} for ${m.path}`);
    const h = Buffer.alloc(BLOCK);
    h.write(name, 0, "utf8");
    h.write(octal(parseInt(m.mode, 8), 8), 100, "ascii");
    h.write(octal(0, 8), 108, "ascii"); // uid: unused, the owner's name decides
    h.write(octal(0, 8), 116, "ascii"); // gid: likewise
    h.write(octal(size, 12), 124, "ascii");
    h.write(octal(0, 12), 136, "ascii"); // mtime: fixed, the bytes depend on the files only
    h.write("0", 156, "ascii"); // a regular file
    h.write("ustar\u000000", 257, "ascii");
    h.write(m.owner, 265, "ascii");
    h.write(m.group, 297, "ascii");
    h.fill(" ", 148, 156); // the checksum is taken with its own field as spaces
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
    return h;
}

/** The members as one `.tar.gz`. */
export function packArchive(members: readonly ArchiveMember[]): Buffer {
    const seen = new Set<string>();
    const parts: Buffer[] = [];
    for (const m of members) {
        if (seen.has(m.path)) throw new Error(`archive: ${m.path} appears twice`);
        seen.add(m.path);
        const body = Buffer.from(m.content, "utf8");
        parts.push(header(m, body.length), body, Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK));
    }
    parts.push(Buffer.alloc(2 * BLOCK)); // the end: two empty blocks
    return gzipSync(Buffer.concat(parts), { level: 9 });
}
