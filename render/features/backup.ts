// Backups with restic (the backup step brings its settings, scripts and timers: render/host/backup.ts).

import type { Feature } from "./feature";

export const backup: Feature = {
    name: "backup",
    config: ["backup", "backupPassword", "backupSshPrivateKey", "backupS3AccessKeyId", "backupS3SecretAccessKey"],
    packages: ["restic"],
};
