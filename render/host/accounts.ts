// Local accounts speak for no one (issue 28): which local users may hand Postfix mail
// (main.cf authorized_submit_users), and the unix sockets of the milters and of Valkey, each
// openable only by the one daemon that needs it, through a group of which that daemon's user
// is the one other member (systemd-sysusers, /etc/sysusers.d/mailstack.conf).

import { renderTemplate } from "./template";
import { hostFile, type HostFile } from "./types";

/**
 * The local users that may submit mail with sendmail (postdrop): root (cron, the disk guard,
 * backup reports, unattended-upgrades) and vmail (Dovecot's LMTP runs Sieve as vmail: vacation
 * replies and redirects; the quota warnings use dovecot-lda, which needs no sendmail).
 * Anyone else (www-data, nobody, a daemon's user) is refused: "not allowed to submit mail".
 */
export const AUTHORIZED_SUBMIT_USERS = ["root", "vmail"] as const;

/** Postfix's spool: the milter sockets live in it, as the queue does, on the mail volume. */
export const POSTFIX_SPOOL = "/var/spool/postfix";
/** Where Postfix's master writes its PID (queue_directory/pid), which systemd reads. */
export const POSTFIX_MASTER_PID = `${POSTFIX_SPOOL}/pid/master.pid`;

/** OpenDKIM's milter socket: directory and socket of group opendkim, whose one other member is postfix. */
export const OPENDKIM_SOCKET = `${POSTFIX_SPOOL}/opendkim/opendkim.sock`;

/** The From: header check's milter socket (mailstack-sender-milter): group mailstack-milter, likewise. */
export const SENDER_MILTER_SOCKET = `${POSTFIX_SPOOL}/mailstack-milter/sender.sock`;
/** The sender milter's own system user (it was a DynamicUser, which no group can name). */
export const SENDER_MILTER_USER = "mailstack-milter";

/** The directory a socket path lives in. */
export function socketDir(socket: string): string {
    return socket.slice(0, socket.lastIndexOf("/"));
}

/**
 * The users and group memberships the sockets rely on (systemd-sysusers; `apply:accounts`
 * runs it, first-boot.sh too): postfix may open OpenDKIM's and the sender milter's sockets,
 * _rspamd Valkey's. Group membership is read when a process starts, so each client is
 * restarted (Postfix: reloaded, its children start anew).
 */
export function renderAccountFiles(): HostFile[] {
    return [
        hostFile(
            "/etc/sysusers.d/mailstack.conf",
            renderTemplate("mailstack/sysusers.conf", { milterUser: SENDER_MILTER_USER }),
            ["apply:accounts", "restart:opendkim", "restart:sender-milter", "restart:rspamd", "reload:postfix"],
        ),
        hostFile(
            "/etc/systemd/system/opendkim.service.d/mailstack.conf",
            renderTemplate("systemd/opendkim-socket.conf", {
                spool: POSTFIX_SPOOL,
                socketDir: socketDir(OPENDKIM_SOCKET),
                socket: OPENDKIM_SOCKET,
            }),
            ["daemon-reload", "restart:opendkim"],
        ),
    ];
}
