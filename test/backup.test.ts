// mailstack:backup: the config's checks (each problem names its key path) and the backup
// step's files (renderBackupFiles).
import { BACKUP_EXCLUDE, renderBackupFiles } from "../render/host/backup";
import { IMPORT_STATE_DIR } from "../render/host/import";
import { buildSpec, type RawConfig } from "../model";
import { configProblems, oneDomain } from "./helpers/fixtures";

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIj0Y7Fwm6wZUmPQpVuZ7mUr2Z5ZpOHg6oYd3Vtq8x9c";
const SFTP = { host: "u123456.your-storagebox.de", user: "u123456", path: "mail", hostKey: HOST_KEY };

const problems = (raw: RawConfig) => configProblems({ ...raw, passwords: {} });

describe("mailstack:backup is checked, every problem with its key path", () => {
    test("an sftp repository with the password gives the defaults: port 23, daily, 7/4/12", () => {
        const spec = buildSpec({
            ...oneDomain(),
            passwords: {},
            backup: { sftp: SFTP },
            backupSecretsSet: ["backupPassword"],
        });
        expect(spec.backup).toEqual({
            repository: { type: "sftp", ...SFTP, port: 23 },
            schedule: "daily",
            retention: { daily: 7, weekly: 4, monthly: 12 },
        });
    });

    test("bad fields, no password, both repositories", () => {
        expect(
            problems({
                ...oneDomain(),
                backup: {
                    sftp: { ...SFTP, hostKey: "AAAA", port: 0, host: "bad host" },
                    s3: { endpoint: "http://x", bucket: "B" },
                    retention: { daily: -1 },
                },
            }),
        ).toEqual([
            "mailstack:backup: must name one repository, sftp or s3, not both",
            "mailstack:backup.sftp.port: Too small: expected number to be >=1",
            "mailstack:backup.sftp.hostKey: must be the server's SSH host key: <type> <base64>, as ssh-keyscan prints it",
            'mailstack:backup.sftp.host: "bad host" is not a host name or IPv4 address',
            "mailstack:backup.s3.endpoint: must be an https:// endpoint URL",
            "mailstack:backup.s3.bucket: must be an S3 bucket name (3-63 of a-z, 0-9, . -)",
            "mailstack:backup.retention.daily: Too small: expected number to be >=0",
            "mailstack:backupPassword: is required when mailstack:backup is set (set it with --secret)",
            "mailstack:backupS3AccessKeyId: is required when mailstack:backup.s3 is set (set it with --secret)",
            "mailstack:backupS3SecretAccessKey: is required when mailstack:backup.s3 is set (set it with --secret)",
        ]);
    });

    test("no repository; a secret without the setting it belongs to", () => {
        expect(
            problems({ ...oneDomain(), backup: {}, backupSecretsSet: ["backupPassword", "backupS3AccessKeyId"] }),
        ).toEqual([
            "mailstack:backup: must name its repository: sftp (a Hetzner Storage Box) or s3 (an S3-compatible bucket)",
            "mailstack:backupS3AccessKeyId: is set but mailstack:backup.s3 is not",
        ]);
        expect(problems({ ...oneDomain(), backupSecretsSet: ["backupPassword"] })).toEqual([
            "mailstack:backupPassword: is set but mailstack:backup is not",
        ]);
        expect(
            problems({
                ...oneDomain(),
                backup: { sftp: { ...SFTP, path: "../x" } },
                backupSecretsSet: ["backupPassword"],
            }),
        ).toEqual(["mailstack:backup.sftp.path: must be a directory path (letters, digits, . _ - /)"]);
    });
});

describe("the backup step's files", () => {
    const spec = (backup: unknown, set: RawConfig["backupSecretsSet"] = ["backupPassword"]) =>
        buildSpec({ ...oneDomain(), passwords: {}, backup, backupSecretsSet: set });
    const byPath = (files: ReturnType<typeof renderBackupFiles>) => Object.fromEntries(files.map((f) => [f.path, f]));

    test("s3: the env file (0600) names the bucket and the keys; the timer takes the schedule; the postmaster is the first domain's", () => {
        const s = spec(
            {
                s3: { endpoint: "https://fsn1.example.com/", bucket: "mail-backup" },
                schedule: "*-*-* 03:15",
                retention: { daily: 3 },
            },
            ["backupPassword", "backupS3AccessKeyId", "backupS3SecretAccessKey"],
        );
        const f = byPath(
            renderBackupFiles(s, { password: "pw-0123456789", s3AccessKeyId: "AKID", s3SecretAccessKey: "SECRET" }),
        );
        expect(f["/etc/mailstack/backup/env"].mode).toBe("0600");
        expect(f["/etc/mailstack/backup/env"].content).toContain(
            "RESTIC_REPOSITORY='s3:https://fsn1.example.com/mail-backup/mailstack'",
        );
        expect(f["/etc/mailstack/backup/env"].content).toContain("AWS_SECRET_ACCESS_KEY='SECRET'");
        expect(f["/etc/mailstack/backup/env"].content).toMatch(/^KEEP_DAILY=3\nKEEP_WEEKLY=4\nKEEP_MONTHLY=12$/m);
        expect(f["/etc/mailstack/backup/env"].content).toContain("POSTMASTER='postmaster@nathabee.de'");
        expect(f["/etc/mailstack/backup/password"]).toMatchObject({ content: "pw-0123456789", mode: "0600" });
        expect(f["/etc/systemd/system/mailstack-backup.timer"].content).toContain("OnCalendar=*-*-* 03:15\n");
        expect(f["/etc/systemd/system/mailstack-backup.service"].content).toContain(
            "OnFailure=mailstack-backup-failed@%n.service",
        );
    });

    test("what is backed up: /srv/mail without the Postfix queue and lost+found", () => {
        const f = byPath(renderBackupFiles(spec({ sftp: SFTP }), { password: "pw-0123456789", sshPrivateKey: "KEY" }));
        expect(f["/etc/mailstack/backup/include"].content).toBe("/srv/mail\n");
        expect(f["/etc/mailstack/backup/exclude"].content.split("\n")).toEqual(
            expect.arrayContaining(["/srv/mail/state/postfix-queue", "/srv/mail/lost+found"]),
        );
        expect(BACKUP_EXCLUDE).toContain("/srv/mail/state/postfix-queue");
    });

    test("the full-text indexes are not backed up, and every kind of restore queues their rebuild", () => {
        const f = byPath(renderBackupFiles(spec({ sftp: SFTP }), { password: "pw-0123456789", sshPrivateKey: "KEY" }));
        expect(f["/etc/mailstack/backup/exclude"].content.split("\n")).toContain("/srv/mail/vhosts/**/fts-flatcurve");
        const restore = f["/usr/local/sbin/mailstack-restore"].content;
        expect(restore).toContain("all) doveadm index -A -q '*' ;;");
        expect(restore).toContain(`mailbox) doveadm index -u "$address" -q '*' ;;`);
        expect(restore).toContain(`*) doveadm index -u "*@$domain" -q '*' ;;`);
    });

    test("a mailbox's restore brings back its IMAP import's state with it (a domain's: each of its mailboxes'), so the next import run copies again what the snapshot lacks", () => {
        const f = byPath(renderBackupFiles(spec({ sftp: SFTP }), { password: "pw-0123456789", sshPrivateKey: "KEY" }));
        const restore = f["/usr/local/sbin/mailstack-restore"].content;
        expect(restore).toContain(`import_state='${IMPORT_STATE_DIR}'\n`);
        expect(restore).toContain(`    dav=("$dav_users/$address" "$import_state/$address")\n`);
        expect(restore).toContain(`    dav=("$dav_users/*@$domain" "$import_state/*@$domain")\n`);
        // Each pattern's folders are put in place: the loop restores what the patterns name.
        expect(restore).toMatch(/for pattern in "\$\{dav\[@\]\}"; do\n(?:.*\n)*?\s+for d in "\$tmp"\$pattern; do/);
        // An import begun after the snapshot: its state is moved aside, so nothing is skipped.
        expect(restore).toMatch(
            /\[\[ \$pattern == "\$import_state"\/\* \]\] \|\| continue\n(?:.*\n)*?\s+mv "\$t" "\$t\.before-restore-\$stamp"\n/,
        );
        // ... and restic was asked for them.
        expect(restore).toContain('for p in "${paths[@]}" "${dav[@]}"; do includes+=(--include "$p"); done');
    });

    test("the restore stops and starts the mount of each backed-up state directory (not the queue's); the volume's repository mark is in state/", () => {
        const f = byPath(renderBackupFiles(spec({ sftp: SFTP }), { password: "pw-0123456789", sshPrivateKey: "KEY" }));
        const restore = f["/usr/local/sbin/mailstack-restore"].content;
        expect(restore).toContain("state_mounts='letsencrypt etc-letsencrypt.mount\nvalkey var-lib-valkey.mount'\n");
        expect(restore).toContain("state_units='dovecot postfix certbot.timer valkey-server'\n");
        expect(restore).not.toContain("var-spool-postfix.mount");
        expect(f["/usr/local/sbin/mailstack-backup"].content).toContain("mark='/srv/mail/state/backup-repository'\n");
        // The mails name the host from the stack: `hostname -f` fails where no resolver knows it (the lab found it).
        expect(f["/usr/local/sbin/mailstack-backup"].content).toContain("host='mail.nathabee.de'\n");
        expect(f["/usr/local/sbin/mailstack-backup"].content).not.toContain("$(hostname -f)");
    });

    test("a secret on two lines is refused; spec.backup without secrets is refused", () => {
        expect(() => renderBackupFiles(spec({ sftp: SFTP }), { password: "a\nb", sshPrivateKey: "K" })).toThrow(
            /one line/,
        );
        expect(() => renderBackupFiles(spec({ sftp: SFTP }))).toThrow(/no backup secrets/);
        expect(() => renderBackupFiles(spec({ sftp: SFTP }), { password: "pw-0123456789" })).toThrow(/SSH private key/);
    });
});
