// The lab's backup target: an SFTP server like a Hetzner Storage Box (SFTP on port 23, one
// user, key login only), at its own documentation address in msl-out. It is Debian 13's own
// OpenSSH sshd, run from a second copy of the lab image on the lab's tmpfs, chrooted there
// in its own mount and PID namespaces (`unshare --kill-child`): nothing is installed on or
// listens on the host, and stopping its recorded PID ends every process of it.
//
// The repository the server's restic writes lives in that copy, so it outlives a server
// replacement (a fresh server restores from it) and goes with the lab's tmpfs.

import * as fs from "node:fs";
import * as path from "node:path";
import { labTmpfs } from "../harness/container";
import { NET, startOutsideProcess } from "../harness/net";
import { readPid, sh, sleep, STATE_DIR } from "../harness/processes";
import { labSshKey } from "../harness/ssh";

/** The Storage Box as the stack config names it (`mailstack:backup.sftp`). */
export const STORAGE_BOX = {
    host: "u100001.storagebox.test",
    port: 23,
    user: "u100001",
    path: "mailstack",
    uid: 2001,
} as const;

const KEYS = () => path.join(STATE_DIR, "storagebox");

/** The Storage Box's host key (`<type> <base64>`, as ssh-keyscan prints it): what the config pins. */
export function storageBoxHostKey(): string {
    const file = path.join(KEYS(), "ssh_host_ed25519_key");
    labSshKey(file, "");
    return fs.readFileSync(`${file}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ");
}

/**
 * The server's key for the Storage Box (the stack generates it and outputs the public half,
 * backupSshPublicKey, for the user to add to the box): the private key in OpenSSH format.
 */
export function backupClientKey(): { privateKeyOpenssh: string; publicKeyOpenssh: string } {
    const file = path.join(KEYS(), "client_id_ed25519");
    labSshKey(file, "mailstack-backup");
    return {
        privateKeyOpenssh: fs.readFileSync(file, "utf8"),
        publicKeyOpenssh: fs.readFileSync(`${file}.pub`, "utf8").trim(),
    };
}

/** The lab's restic repository password (lab only, like LAB_PASSWORDS). */
export const LAB_BACKUP_PASSWORD = "lab-restic-repository-password";

/** The target's root: a copy of the lab image, unpacked once per lab run. */
function storageBoxRoot(imageTarball?: string): string {
    const root = path.join(labTmpfs(), "storagebox");
    if (fs.existsSync(path.join(root, "usr/sbin/sshd"))) return root;
    if (!imageTarball) throw new Error("the lab's Storage Box has no root yet: pass the image tarball");
    fs.rmSync(root, { recursive: true, force: true });
    fs.mkdirSync(root);
    sh("tar", ["-C", root, "--numeric-owner", "-xf", imageTarball]);
    const { user, uid } = STORAGE_BOX;
    fs.appendFileSync(path.join(root, "etc/passwd"), `${user}:x:${uid}:${uid}::/home/${user}:/bin/sh\n`);
    fs.appendFileSync(path.join(root, "etc/group"), `${user}:x:${uid}:\n`);
    fs.appendFileSync(path.join(root, "etc/shadow"), `${user}:*:20000:0:99999:7:::\n`);
    const home = path.join(root, "home", user);
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
    fs.chownSync(home, uid, uid);
    fs.mkdirSync(path.join(root, "run/sshd"), { recursive: true, mode: 0o755 });
    const conf = path.join(root, "etc/ssh/storagebox");
    fs.mkdirSync(conf, { recursive: true, mode: 0o755 });
    storageBoxHostKey();
    fs.copyFileSync(path.join(KEYS(), "ssh_host_ed25519_key"), path.join(conf, "ssh_host_ed25519_key"));
    fs.chmodSync(path.join(conf, "ssh_host_ed25519_key"), 0o600);
    fs.writeFileSync(path.join(conf, "authorized_keys"), `${backupClientKey().publicKeyOpenssh}\n`, { mode: 0o644 });
    fs.writeFileSync(
        path.join(conf, "sshd_config"),
        [
            "# The lab's Storage Box: SFTP only, one user, key login only.",
            `Port ${STORAGE_BOX.port}`,
            `ListenAddress ${NET.storagebox4}`,
            "HostKey /etc/ssh/storagebox/ssh_host_ed25519_key",
            "PidFile none",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin no",
            `AllowUsers ${user}`,
            "AuthorizedKeysFile /etc/ssh/storagebox/authorized_keys",
            "Subsystem sftp internal-sftp",
            "ForceCommand internal-sftp",
            "AllowTcpForwarding no",
            "X11Forwarding no",
            "",
        ].join("\n"),
    );
    return root;
}

/**
 * Start the Storage Box in msl-out; resolves when sshd listens. The first start unpacks its
 * root from the image; a start after stopStorageBox reuses it, repository and all.
 */
export async function startStorageBox(imageTarball?: string): Promise<number> {
    const root = storageBoxRoot(imageTarball);
    // In the new mount and PID namespaces: /dev and /proc for sshd, then sshd is PID 1.
    const inside =
        'mount --bind /dev "$1/dev" && mount -t proc proc "$1/proc" && exec chroot "$1" /usr/sbin/sshd -D -e -f /etc/ssh/storagebox/sshd_config';
    // unshare --fork blocks SIGTERM: it is stopped with SIGKILL, and --kill-child ends sshd.
    return startOutsideProcess(
        "storagebox",
        ["unshare", "--mount", "--pid", "--fork", "--kill-child", "bash", "-c", inside, "storagebox", root],
        /Server listening on/,
        {},
        "KILL",
    );
}

/** Stop the Storage Box by its recorded PID (a backup target that is down). */
export async function stopStorageBox(): Promise<void> {
    const pid = readPid("storagebox");
    if (pid === undefined) throw new Error("the lab's Storage Box is not running");
    // unshare ignores SIGTERM; SIGKILL ends it, and its --kill-child ends sshd and every session.
    process.kill(pid, "SIGKILL");
    const start = Date.now();
    while (readPid("storagebox") !== undefined) {
        if (Date.now() - start > 10_000) throw new Error("the lab's Storage Box did not stop");
        await sleep(100);
    }
}

/** The restic repository on the box, as seen from the host. */
export function storageBoxRepository(): string {
    return path.join(labTmpfs(), "storagebox", "home", STORAGE_BOX.user, STORAGE_BOX.path);
}

/** The `mailstack:backup` of the lab config. */
export function labBackupConfig(): Record<string, unknown> {
    const { host, port, user, path: repoPath } = STORAGE_BOX;
    return { sftp: { host, port, user, path: repoPath, hostKey: storageBoxHostKey() } };
}
