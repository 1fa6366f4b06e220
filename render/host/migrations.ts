// The mail volume's state version, and the ordered migrations that bring an older volume's
// state to this mailstack's. The mail volume outlives every server and every mailstack
// release: a server deployed once is changed by every later `pulumi up`, so what a newer
// mailstack expects to find on the volume (paths, formats, ownership) must be brought there
// by a step, once, in order, before the new configuration is applied.
//
// - STATE_VERSION_FILE on the volume holds one integer, the number of the last migration the
//   volume has had. A volume without it holds the state of a mailstack from before versions:
//   version 0.
// - The `host-config` step runs `mailstack-migrate run` (its text is in the step's command,
//   so it is this mailstack's) before apply-bundle.sh installs a file: each migration above
//   the volume's version runs, in order, and the version is written after each one. A volume
//   NEWER than STATE_VERSION (an older mailstack run against a server a newer one
//   provisioned) stops the step with a message, and nothing is written.
// - The first boot (first-boot.sh) gives a fresh (empty) volume STATE_VERSION at once, since
//   there is nothing on it to migrate; a volume with state and no version (a
//   replacement server on an older mailstack's volume) keeps version 0 for host-config.
//
// Adding a migration: append { version: STATE_VERSION + 1, reason, script }. The script runs
// in bash with `set -euo pipefail`, as root, before the new files are installed (the old
// configuration is still in place, and the daemons run). It must be idempotent: a migration
// that failed half-way runs again, from its start, with the next `pulumi up`. Every absolute
// path is written after "$root" (empty on a server; a temporary directory in
// test/migrations.test.ts); "$volume" is the mail volume's mount point. It must also be
// harmless on a fresh volume: a server whose first-boot user-data predates state versions
// (a replacement boots the first deploy's) leaves a new volume at 0. A migration is never
// changed or removed once released: a volume somewhere may still need it.

import { shellQuote } from "../../scripts/commands";
import { renderTemplate } from "./template";
import { hostFile, type HostFile } from "./types";
import { MAIL_VOLUME_MOUNT, VOLUME_STATE_ROOT } from "./volume";

/** Where the volume keeps its state version (one integer). In state/, so a backup holds it and `mailstack-restore all` brings it back with the state. */
export const STATE_VERSION_FILE = `${VOLUME_STATE_ROOT}/version`;

/** The script on the server, installed by host-config (by hand: `mailstack-migrate status`). */
export const MIGRATE_SCRIPT = "/usr/local/sbin/mailstack-migrate";

export interface Migration {
    /** The state version the volume has after it: 1, 2, 3, ... with no gap. */
    readonly version: number;
    /** Why: what changed in mailstack that the volume's state must follow. Printed when it runs. */
    readonly reason: string;
    /** Idempotent bash (set -euo pipefail): paths after "$root", the volume in "$volume". */
    readonly script: string;
}

export const MIGRATIONS: readonly Migration[] = [
    {
        version: 1,
        // The changes of the volume's layout before state versions existed need no migration
        // step, so version 1 is today's layout and its migration only marks where versions
        // began:
        // - the Postfix queue, /etc/letsencrypt and Valkey's data moving onto the volume are
        //   done by mailstack-volume-state (VOLUME_STATE_DIRS), which host-config runs
        //   whenever the mount units change; it needs the new units first, so it belongs
        //   after the files, where it is;
        // - the webmail's state in state/webmail is made by mailstack-webmail (host-config);
        // - the quota driver moving from `count` to `maildir` (Maildir++): Dovecot's maildir
        //   driver counts a mailbox and writes its maildirsize when the file is missing, so a
        //   volume from the count driver's time needs nothing.
        reason: "today's layout: Maildirs in vhosts/, the queue, the certificates and Valkey's data in state/, Maildir++ quota (earlier volumes reach it through host-config's own files)",
        script: ":",
    },
];

/** This mailstack's state version: the last migration's number. */
export const STATE_VERSION: number = MIGRATIONS.length === 0 ? 0 : MIGRATIONS[MIGRATIONS.length - 1].version;

/** The list's rules: numbered 1..N without gaps, a reason on one line, a script. */
export function checkMigrations(migrations: readonly Migration[]): void {
    migrations.forEach((m, i) => {
        if (m.version !== i + 1)
            throw new Error(`migrations: number ${i + 1} is ${m.version}; they are numbered 1, 2, 3, ... in order`);
        if (!m.reason.trim() || /[\n\r]/.test(m.reason))
            throw new Error(`migration ${m.version}: the reason is one line, not empty`);
        if (!m.script.trim()) throw new Error(`migration ${m.version}: no script (":" for one with nothing to do)`);
    });
}

/** The text of /usr/local/sbin/mailstack-migrate for a list of migrations (MIGRATIONS on a server). */
export function renderMigrateScript(migrations: readonly Migration[] = MIGRATIONS): string {
    checkMigrations(migrations);
    const current = migrations.length;
    const functions = migrations
        .map((m) =>
            [
                `# ${m.version}: ${m.reason}`,
                `migration_${m.version}() {`,
                ...m.script
                    .trim()
                    .split("\n")
                    .map((l) => (l ? `    ${l}` : "")),
                "}",
                `reasons[${m.version}]=${shellQuote(m.reason)}`,
            ].join("\n"),
        )
        .join("\n\n");
    return renderTemplate("mailstack/migrate.sh", {
        mailVolume: MAIL_VOLUME_MOUNT,
        versionFile: STATE_VERSION_FILE,
        currentVersion: current,
        migrations: functions || "# (none yet)",
    });
}

/** The script as a host file of host-config (not of the first boot: Hetzner's 32 KiB of user-data). */
export function migrateFile(): HostFile {
    return hostFile(MIGRATE_SCRIPT, renderMigrateScript(), [], "0755");
}

/**
 * What host-config runs before apply-bundle.sh: this mailstack's migrate script from the
 * command text itself (the one installed on the server may be an older mailstack's), with
 * no stdin (the bundle is for apply-bundle.sh).
 */
export function migrateCommand(): string {
    return `bash -c ${shellQuote(renderMigrateScript())} mailstack-migrate run </dev/null`;
}

// --- Dovecot's versions ------------------------------------------------------------------------
// Dovecot 2.4 requires both at the top of dovecot.conf. They are raised only on purpose, in
// their own commit, with the reason, never to follow the installed Dovecot:
/**
 * The config syntax and defaults dovecot.conf is written for. A newer Dovecot keeps the
 * defaults of this version, so an upgraded package does not change behaviour under the
 * file. Raised when the file is rewritten for a newer Dovecot's settings (checked with
 * that Dovecot's `doveconf -n`).
 */
export const DOVECOT_CONFIG_VERSION = "2.4.1";
/**
 * The oldest Dovecot that must read what this one writes on the mail volume (indexes,
 * dovecot-uidlist, maildirsize): Dovecot writes no newer on-disk format than this version's,
 * so a server replaced onto an image with this Dovecot (or a restored backup) reads the
 * mailboxes. Raised only when every server that could mount the volume runs a Dovecot at
 * least this new (Debian 13's is 2.4.1), and never lowered.
 */
export const DOVECOT_STORAGE_VERSION = "2.4.1";
