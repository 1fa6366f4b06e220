// What lives on the mail volume besides the Maildirs: the state a rebuilt server must keep.
// Each directory stays at its usual path and is a bind mount of /srv/mail/state/<name>, so
// Postfix, Dovecot and certbot are configured as on any Debian host. The mount units, the
// script that moves a root disk's copy onto the volume and the backup's exclusions are all
// rendered from this one list.

/** Where the mail volume is mounted (srv-mail.mount). */
export const MAIL_VOLUME_MOUNT = "/srv/mail";
/** Where the mailboxes live on the volume: <domain>/<local part>/ (dovecot.conf mail_home). */
export const MAILBOX_ROOT = `${MAIL_VOLUME_MOUNT}/vhosts`;
/** Where the state directories live on the volume. */
export const VOLUME_STATE_ROOT = `${MAIL_VOLUME_MOUNT}/state`;

export interface VolumeStateDir {
    /** The directory's usual path, where it is bind-mounted. */
    readonly path: string;
    /** Its name under /srv/mail/state/. */
    readonly name: string;
    /** Why it is kept, for the rendered script. */
    readonly why: string;
    /** Whether the backup leaves it out (state that must not come back from an old copy). */
    readonly backup: boolean;
    /** The bind mount's options; a bind mount keeps the volume's noexec, nosuid and nodev unless told otherwise. */
    readonly mountOptions: string;
    /** The units that use it, in start order: stopped while it moves onto the volume. */
    readonly units: readonly string[];
}

export const VOLUME_STATE_DIRS: readonly VolumeStateDir[] = [
    {
        path: "/var/spool/postfix",
        name: "postfix-queue",
        why: "queued mail (deferred, held) outlives a rebuild instead of being lost with the root disk",
        // An old queue restored days later would send its mail a second time.
        backup: false,
        mountOptions: "bind",
        // Dovecot's LMTP and auth sockets are in the spool too.
        units: ["dovecot", "postfix"],
    },
    {
        path: "/etc/letsencrypt",
        name: "letsencrypt",
        why: "the certificate and the ACME account: a new server reuses them instead of asking Let's Encrypt again",
        backup: true,
        // certbot runs its hooks from renewal-hooks/ (our deploy hook among them): exec, and
        // only exec, is given back (the volume itself stays noexec).
        mountOptions: "bind,exec,nosuid,nodev",
        units: ["certbot.timer"],
    },
    {
        path: "/var/lib/valkey",
        name: "valkey",
        why: "rspamd's Bayes tokens, greylisting and rate-limit state: a rebuilt server keeps what it learned",
        backup: true,
        mountOptions: "bind",
        units: ["valkey-server"],
    },
];

/** Every unit that uses a state directory, in start order (mailstack-volume-state stops them for a move). */
export const VOLUME_STATE_UNITS: readonly string[] = VOLUME_STATE_DIRS.flatMap((d) => d.units);

/** The systemd unit name of a mount at `path` (systemd-escape --path, for the plain paths used here). */
export function mountUnitName(path: string): string {
    if (!/^(\/[a-z0-9_]+)+$/.test(path)) throw new Error(`mountUnitName: unsupported path ${path}`);
    return `${path.slice(1).replaceAll("/", "-")}.mount`;
}

/** The volume directory a state directory is bind-mounted from. */
export function volumeStatePath(dir: VolumeStateDir): string {
    return `${VOLUME_STATE_ROOT}/${dir.name}`;
}
