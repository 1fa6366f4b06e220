// The #cloud-config of a first boot, whichever server it is for: the primary's
// (user-data.ts, from the feature registry) and the backup MX's (render/features/backup-mx.ts).
// It knows no feature, so a feature module may use it without a cycle back to the registry.

import { stringify } from "yaml";
import { packArchive } from "./archive";
import { renderTemplate } from "../host/template";
import type { HostFile } from "../host/types";

export interface UserDataOptions {
    /** Stable device path of the mail volume, e.g. `/dev/disk/by-id/scsi-0HC_Volume_123`. */
    readonly mailVolumeDevice: string;
    /**
     * The provisional SSH host key (ed25519, OpenSSH format): the first provisioning step
     * connects pinned to it and replaces it (mailstack-host-key). The only secret in here,
     * and useless once replaced; only root can read the metadata service meanwhile.
     */
    readonly provisionalHostKey: { readonly privateKeyOpenssh: string; readonly publicKeyOpenssh: string };
}

/** `ssh-ed25519 <base64>`: the form sshd and pulumi-command's hostKey take. */
export const ED25519_PUBLIC_KEY = /^ssh-ed25519 [A-Za-z0-9+/]+={0,3}$/;

export const USER_DATA_LIMIT_BYTES = 32 * 1024;

/** Where the user-data puts the first-boot files' archive (render/boot/archive.ts); first-boot.sh unpacks it. */
export const FIRST_BOOT_ARCHIVE = "/var/lib/mailstack/first-boot-files.tar.gz";

/** What differs between the primary's first boot and the backup MX's (render/features/backup-mx.ts). */
export interface FirstBoot {
    readonly hostname: string;
    readonly packages: readonly string[];
    /** The host files of the first boot, packed into one archive. */
    readonly files: readonly HostFile[];
    /** /usr/local/sbin/mailstack-first-boot, which unpacks them and starts the services. */
    readonly firstBootScript: string;
}

/** The `#cloud-config` of a first boot: the provisional host key, the packages, the volume's mount and the files. */
export function renderCloudConfig(options: UserDataOptions, boot: FirstBoot): string {
    const device = options.mailVolumeDevice;
    if (!/^\/dev\/[A-Za-z0-9/_.:-]+$/.test(device) || device.includes("..")) {
        throw new Error(`user-data: "${device}" is not a device path under /dev`);
    }
    const hostKey = options.provisionalHostKey;
    const publicKey = hostKey.publicKeyOpenssh.trim();
    if (!ED25519_PUBLIC_KEY.test(publicKey))
        throw new Error("user-data: the provisional host key is not an ssh-ed25519 public key");
    if (
        !/^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END OPENSSH PRIVATE KEY-----\n?$/.test(
            hostKey.privateKeyOpenssh,
        )
    )
        throw new Error("user-data: the provisional host key is not an OpenSSH private key");
    // Every host file the first boot needs, in one compressed archive (a third smaller than one
    // gzip per file); the readable source is render/host/templates/, and the host-config bundle
    // installs the very same text.
    const archive = packArchive(boot.files);
    const config = {
        // C.UTF-8 is built into glibc: nothing to generate on the minimal image.
        locale: "C.UTF-8",
        hostname: boot.hostname.split(".")[0],
        fqdn: boot.hostname,
        // Keys only (the sshd drop-in says the same); root logs in with the Hetzner SSH key.
        ssh_pwauth: false,
        disable_root: false,
        // Exactly one host key at first, the provisional one the deploy pins and then replaces.
        ssh_deletekeys: true,
        // Nothing else to generate: ssh_keys holds the one key (the schema wants a non-empty list).
        ssh_genkeytypes: ["ed25519"],
        ssh_keys: {
            ed25519_private: hostKey.privateKeyOpenssh.endsWith("\n")
                ? hostKey.privateKeyOpenssh
                : `${hostKey.privateKeyOpenssh}\n`,
            ed25519_public: publicKey,
        },
        package_update: true,
        // Security updates arrive through unattended-upgrades; a full upgrade here would make
        // the first boot as slow as the image is old.
        package_upgrade: false,
        packages: [...boot.packages],
        write_files: [
            {
                path: "/etc/systemd/system/srv-mail.mount",
                owner: "root:root",
                permissions: "0644",
                content: renderTemplate("systemd/srv-mail.mount", { mailVolumeDevice: device }),
            },
            {
                path: FIRST_BOOT_ARCHIVE,
                owner: "root:root",
                permissions: "0600",
                encoding: "b64",
                content: archive.toString("base64"),
            },
            {
                path: "/usr/local/sbin/mailstack-first-boot",
                owner: "root:root",
                permissions: "0755",
                content: boot.firstBootScript,
                // After the packages: the archive's owners exist by then, and our files replace the
                // packages' defaults instead of racing with dpkg.
                defer: true,
            },
        ],
        runcmd: [["/usr/local/sbin/mailstack-first-boot"]],
    };
    const text = `#cloud-config\n${stringify(config, { lineWidth: 0, blockQuote: "literal" })}`;
    const size = Buffer.byteLength(text, "utf8");
    if (size > USER_DATA_LIMIT_BYTES)
        throw new Error(`user-data is ${size} bytes; Hetzner accepts at most ${USER_DATA_LIMIT_BYTES}`);
    return text;
}
