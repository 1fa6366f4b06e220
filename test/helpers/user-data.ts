// Every file a rendered user-data leaves on disk: its write_files entries, and the members
// of the first-boot archive as first-boot.sh unpacks them.

import { gunzipSync } from "zlib";
import { parse } from "yaml";
import { unpackArchive, type ArchiveMember } from "../../policy/archive";

export interface UserDataFile extends ArchiveMember {
    /** Which write_files entry brings it: its own path, or the archive's. */
    readonly via: string;
    /** Written after the packages (write_files `defer`, or unpacked by first-boot.sh). */
    readonly deferred: boolean;
}

/** The files of write_files entries (a b64 entry holding gzip data is an archive). */
export function writtenFiles(writeFiles: readonly Record<string, unknown>[]): UserDataFile[] {
    return writeFiles.flatMap((f) => {
        const path = String(f.path);
        const [owner, group] = String(f.owner ?? "root:root").split(":");
        const raw = String(f.content ?? "");
        const bytes =
            f.encoding === "b64"
                ? Buffer.from(raw, "base64")
                : f.encoding === "gz+b64"
                  ? gunzipSync(Buffer.from(raw, "base64"))
                  : Buffer.from(raw);
        if (f.encoding === "b64" && bytes[0] === 0x1f && bytes[1] === 0x8b)
            return unpackArchive(bytes).map((m) => ({ ...m, via: path, deferred: true }));
        const mode = String(f.permissions ?? "0644");
        return [{ path, mode, owner, group, content: bytes.toString("utf8"), via: path, deferred: f.defer === true }];
    });
}

/** The files of a rendered user-data. */
export function userDataFiles(userData: string): UserDataFile[] {
    return writtenFiles((parse(userData) as { write_files: Record<string, unknown>[] }).write_files);
}
