// The shapes every renderer returns: files for the server and what to do when they change.

/**
 * What the server must do after a file changed; applied once each by scripts/apply-bundle.sh,
 * in the order of SERVICE_ACTIONS (the feature registry, render/features/). Each is declared by
 * the feature it belongs to.
 */
export type ServiceAction =
    | "reload:postfix"
    | "reload:dovecot"
    | "restart:opendkim"
    | "restart:postsrsd"
    | "restart:sender-milter"
    | "restart:submission-limit"
    | "enable:disk-guard"
    | "restart:valkey"
    | "restart:rspamd"
    | "restart:metadata-guard"
    | "restart:smtp-egress-guard"
    | "restart:unbound"
    | "restart:mta-sts"
    | "restart:webmail"
    | "restart:dav"
    | "reload:nginx"
    | "reload:fail2ban"
    | "restart:ssh"
    | "daemon-reload"
    | "apply:accounts"
    | "apply:volume-state"
    | "apply:rspamd-password"
    | "apply:passwords"
    | "restart:password-socket";

/** One file on the server: where it goes, who owns it, what it holds, what to run when it changes. */
export interface HostFile {
    /** Absolute path on the server. */
    readonly path: string;
    /** Octal mode, four digits, e.g. "0644". */
    readonly mode: string;
    readonly owner: string;
    readonly group: string;
    readonly content: string;
    /** Actions to run when this file changed. */
    readonly onChange: readonly ServiceAction[];
}

/** A host file, root-owned and world-readable unless told. */
export function hostFile(
    path: string,
    content: string,
    onChange: ServiceAction[],
    mode = "0644",
    owner = "root",
    group = "root",
): HostFile {
    return { path, mode, owner, group, content, onChange };
}

/** A root-owned file whose change reloads systemd when it is a unit (.service, .timer). */
export function rootFile(path: string, content: string, mode = "0644"): HostFile {
    return hostFile(path, content, /\.(?:service|timer)$/.test(path) ? ["daemon-reload"] : [], mode);
}
