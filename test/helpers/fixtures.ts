// Sample stack configs, as `pulumi config` would hold them.
import { buildSpec, ConfigError, type RawConfig } from "../../model";

/** The problems buildSpec reports for a config, or [] when it is valid. */
export function configProblems(raw: RawConfig): string[] {
    try {
        buildSpec(raw);
        return [];
    } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        return [...e.problems];
    }
}

export function oneDomain(): RawConfig {
    return {
        hostname: "mail.nathabee.de",
        acmeEmail: "postmaster@nathabee.de",
        sshAllowedCidrs: ["203.0.113.7/32"],
        domains: [
            {
                name: "nathabee.de",
                mailboxes: ["evaluation", "freebus"],
                aliases: {
                    admin: ["someone@example.net"],
                    postmaster: ["evaluation@nathabee.de"],
                },
                dmarc: { policy: "quarantine" },
            },
        ],
    };
}

export function twoDomains(): RawConfig {
    const base = oneDomain();
    return {
        ...base,
        domains: [
            ...(base.domains as object[]),
            {
                name: "example.org",
                mailboxes: ["carol"],
                aliases: { postmaster: ["carol@example.org"], abuse: ["postmaster@nathabee.de"] },
            },
        ],
    };
}

/** A backup to a Storage Box over SFTP, its password set (`--secret`). */
export function sftpBackup(): RawConfig {
    return {
        backup: {
            sftp: {
                host: "u123456.your-storagebox.de",
                user: "u123456",
                path: "mail",
                hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIj0Y7Fwm6wZUmPQpVuZ7mUr2Z5ZpOHg6oYd3Vtq8x9c",
            },
        },
        backupSecretsSet: ["backupPassword"],
    };
}
