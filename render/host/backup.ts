// restic backups of the mail volume: the script, its systemd units, the restore command and
// the repository's settings and secrets. All of it goes to the server in the `backup`
// provisioning step, over SSH stdin, never in the user-data. Without `spec.backup` the same
// files are written with an empty repository setting, and `mailstack-backup enable` (run by
// the step) disables the timers, so removing the config also stops the backups.

import { hostPostmaster, type BackupSpec, type MailSpec } from "../../model";
import { shellQuote } from "../../scripts/commands";
import { DAV_UNIT, DAV_USER_ROOT } from "./dav";
import { IMPORT_STATE_DIR } from "./import";
import { PASSWORDS_HELPER, USER_APP_PASSWORDS, USER_SET_PASSWORDS, USER_TOTP } from "./mailbox-passwords";
import { renderTemplate } from "./template";
import { rootFile, type HostFile } from "./types";
import {
    MAIL_VOLUME_MOUNT,
    mountUnitName,
    VOLUME_STATE_DIRS,
    VOLUME_STATE_ROOT,
    VOLUME_STATE_UNITS,
    volumeStatePath,
} from "./volume";

/** What is backed up and what is not, written once: the include and exclude lists restic reads. */
export const BACKUP_INCLUDE: readonly string[] = [MAIL_VOLUME_MOUNT];
export const BACKUP_EXCLUDE: readonly string[] = [
    // State that must not come back from an old copy: the transient Postfix queue
    // (restoring an old one would send its mail again).
    ...VOLUME_STATE_DIRS.filter((d) => !d.backup).map(volumeStatePath),
    "/srv/mail/lost+found",
    // The full-text indexes (Dovecot's fts-flatcurve, one per folder): rebuilt from the mail
    // after a restore (mailstack-restore queues it), so the snapshot holds only the mail.
    "/srv/mail/vhosts/**/fts-flatcurve",
    // A restore's own work directory and what a restore moved aside.
    "/srv/mail/.restore.*",
    "/srv/mail/**/*.before-restore-*",
];
// Not backed up at all: /etc/dovecot/users (the passwords users set are in state/accounts), the DKIM keys and every other file Pulumi renders
// again from its state on any server.

/** The backup's secrets, from the stack (Pulumi secrets). */
export interface BackupSecrets {
    /** The restic repository password. */
    readonly password: string;
    /** OpenSSH private key for an SFTP repository. */
    readonly sshPrivateKey?: string;
    readonly s3AccessKeyId?: string;
    readonly s3SecretAccessKey?: string;
}

const CONF = "/etc/mailstack/backup";

/** One line of the env file: a value the script sources, quoted for the shell. */
function oneLine(value: string, what: string): string {
    if (/[\n\r\0]/.test(value)) throw new Error(`backup: ${what} must be one line`);
    return shellQuote(value);
}

function repositoryEnv(backup: BackupSpec, secrets: BackupSecrets): string[] {
    const r = backup.repository;
    if (r.type === "sftp") {
        if (!secrets.sshPrivateKey) throw new Error("backup: an sftp repository needs an SSH private key");
        return [
            "BACKUP_TYPE=sftp",
            `RESTIC_REPOSITORY=${oneLine(`sftp:${r.user}@${r.host}:${r.path}`, "repository")}`,
            `SFTP_HOST=${oneLine(r.host, "host")}`,
            `SFTP_PORT=${r.port}`,
            `SFTP_USER=${oneLine(r.user, "user")}`,
        ];
    }
    if (!secrets.s3AccessKeyId || !secrets.s3SecretAccessKey)
        throw new Error("backup: an s3 repository needs an access key id and a secret access key");
    return [
        "BACKUP_TYPE=s3",
        `RESTIC_REPOSITORY=${oneLine(`s3:${r.endpoint}/${r.bucket}/${r.path}`, "repository")}`,
        `AWS_ACCESS_KEY_ID=${oneLine(secrets.s3AccessKeyId, "backupS3AccessKeyId")}`,
        `AWS_SECRET_ACCESS_KEY=${oneLine(secrets.s3SecretAccessKey, "backupS3SecretAccessKey")}`,
    ];
}

/** The pinned host key as a known_hosts line; `[host]:port` for a port other than 22. */
function knownHosts(backup: BackupSpec): string {
    const r = backup.repository;
    if (r.type !== "sftp") return "";
    return `${r.port === 22 ? r.host : `[${r.host}]:${r.port}`} ${r.hostKey}\n`;
}

/** Every file of the backup step. */
export function renderBackupFiles(spec: MailSpec, secrets?: BackupSecrets): HostFile[] {
    const backup = spec.backup;
    if (backup && !secrets) throw new Error("backup: spec.backup is set but no backup secrets were given");
    const postmaster = hostPostmaster(spec);
    const env = backup
        ? [
              `# ${CONF}/env - rendered by mailstack (backup step). Secrets: root only.`,
              ...repositoryEnv(backup, secrets!),
              `KEEP_DAILY=${backup.retention.daily}`,
              `KEEP_WEEKLY=${backup.retention.weekly}`,
              `KEEP_MONTHLY=${backup.retention.monthly}`,
              `POSTMASTER=${oneLine(postmaster, "postmaster")}`,
          ].join("\n") + "\n"
        : `# ${CONF}/env - rendered by mailstack: mailstack:backup is not set, the backup timers are off.\n`;
    const password = backup ? oneLineSecret(secrets!.password) : "";
    const key = backup?.repository.type === "sftp" ? `${secrets!.sshPrivateKey!.trim()}\n` : "";
    const unit = (name: string, values: Record<string, string> = {}) =>
        rootFile(`/etc/systemd/system/${name}`, renderTemplate(`backup/${name}`, values));
    return [
        rootFile(
            "/usr/local/sbin/mailstack-backup",
            renderTemplate("backup/mailstack-backup.sh", {
                repositoryMark: `${VOLUME_STATE_ROOT}/backup-repository`,
                hostname: spec.hostname,
            }),
            "0755",
        ),
        rootFile(
            "/usr/local/sbin/mailstack-restore",
            renderTemplate("backup/mailstack-restore.sh", {
                stateMounts: VOLUME_STATE_DIRS.filter((d) => d.backup)
                    .map((d) => `${d.name} ${mountUnitName(d.path)}`)
                    .join("\n"),
                stateUnits: VOLUME_STATE_UNITS.join(" "),
                passwordsHelper: PASSWORDS_HELPER,
                userSetPasswords: USER_SET_PASSWORDS,
                userAppPasswords: USER_APP_PASSWORDS,
                userTotp: USER_TOTP,
                davUsers: DAV_USER_ROOT,
                davUnit: DAV_UNIT,
                importState: IMPORT_STATE_DIR,
            }),
            "0755",
        ),
        rootFile(`${CONF}/env`, env, "0600"),
        rootFile(`${CONF}/password`, password, "0600"),
        rootFile(`${CONF}/ssh/id_ed25519`, key, "0600"),
        rootFile(`${CONF}/ssh/known_hosts`, backup ? knownHosts(backup) : ""),
        rootFile(`${CONF}/include`, BACKUP_INCLUDE.map((p) => `${p}\n`).join("")),
        rootFile(`${CONF}/exclude`, BACKUP_EXCLUDE.map((p) => `${p}\n`).join("")),
        unit("mailstack-backup.service"),
        unit("mailstack-backup.timer", { schedule: backup?.schedule ?? "daily" }),
        unit("mailstack-backup-check.service"),
        unit("mailstack-backup-check.timer"),
        unit("mailstack-backup-stale.service"),
        unit("mailstack-backup-stale.timer"),
        unit("mailstack-backup-failed@.service"),
    ];
}

/** restic reads the whole password file, newline included: write exactly the password. */
function oneLineSecret(password: string): string {
    if (/[\n\r]/.test(password)) throw new Error("backup: backupPassword must be one line");
    return password;
}
