// IMAP (RFC 9051), through imapflow: a login over implicit TLS, fetching and moving messages.

import type * as tls from "node:tls";
import { ImapFlow } from "imapflow";

export interface ImapTarget {
    readonly host: string;
    /** 993: TLS from the first byte. */
    readonly port: number;
    readonly tlsOptions?: tls.ConnectionOptions;
}

export interface FetchedMessage {
    uid: number;
    subject?: string;
    messageId?: string;
    source: string;
}

/** An IMAPS login with imapflow, for `use` (folders, flags: what a mail client does); always logged out after. */
export async function withImap<T>(
    t: ImapTarget,
    user: string,
    pass: string,
    use: (c: ImapFlow) => Promise<T>,
): Promise<T> {
    const client = new ImapFlow({
        host: t.host,
        port: t.port,
        secure: true,
        auth: { user, pass },
        tls: t.tlsOptions,
        logger: false,
    });
    await client.connect();
    try {
        return await use(client);
    } finally {
        await client.logout().catch(() => undefined);
    }
}

/**
 * Whether the server refuses an IMAPS login with `pass`. A refused connection is closed at once:
 * left open (as withImap leaves it), it holds the process until the server's pre-login timeout
 * (Dovecot: 3 minutes).
 */
export async function imapLoginRefused(t: ImapTarget, user: string, pass: string): Promise<boolean> {
    const client = new ImapFlow({
        host: t.host,
        port: t.port,
        secure: true,
        auth: { user, pass },
        tls: t.tlsOptions,
        logger: false,
    });
    try {
        await client.connect();
    } catch {
        client.close();
        return true;
    }
    await client.logout().catch(() => undefined);
    return false;
}

/** A folder's messages (INBOX unless told), optionally only those with a subject. */
export async function imapFetch(
    t: ImapTarget,
    user: string,
    pass: string,
    o: { subject?: string; mailbox?: string } = {},
): Promise<FetchedMessage[]> {
    return withImap(t, user, pass, async (client) => {
        const lock = await client.getMailboxLock(o.mailbox ?? "INBOX");
        try {
            const out: FetchedMessage[] = [];
            const query = o.subject ? { subject: o.subject } : { all: true };
            const uids = await client.search(query, { uid: true });
            if (!uids || uids.length === 0) return out;
            for await (const m of client.fetch(uids, { uid: true, envelope: true, source: true }, { uid: true })) {
                out.push({
                    uid: m.uid,
                    subject: m.envelope?.subject,
                    messageId: m.envelope?.messageId,
                    source: m.source?.toString("utf8") ?? "",
                });
            }
            return out;
        } finally {
            lock.release();
        }
    });
}

/** Move the messages with this subject from one folder to another (the MOVE a mail client makes); how many moved. */
export async function imapMove(
    t: ImapTarget,
    user: string,
    pass: string,
    o: { subject: string; from: string; to: string },
): Promise<number> {
    return withImap(t, user, pass, async (client) => {
        const lock = await client.getMailboxLock(o.from);
        try {
            const uids = await client.search({ subject: o.subject }, { uid: true });
            if (!uids || uids.length === 0) return 0;
            await client.messageMove(uids, o.to, { uid: true });
            return uids.length;
        } finally {
            lock.release();
        }
    });
}

/** UID SEARCH in a folder (INBOX unless told): BODY (RFC 9051 6.4.4) when `body` is given, TEXT when `text` is. */
export async function imapSearch(
    t: ImapTarget,
    user: string,
    pass: string,
    o: { body?: string; text?: string; mailbox?: string },
): Promise<number[]> {
    return withImap(t, user, pass, async (client) => {
        const lock = await client.getMailboxLock(o.mailbox ?? "INBOX");
        try {
            const query = o.body !== undefined ? { body: o.body } : { text: o.text };
            const uids = await client.search(query, { uid: true });
            return (uids || []).sort((a, b) => a - b);
        } finally {
            lock.release();
        }
    });
}

/** One message as a mailbox listing shows it: subject, flags, INTERNALDATE. */
export interface ListedMessage {
    readonly subject: string;
    readonly flags: readonly string[];
    readonly internalDate: Date;
}

/** Every selectable folder (its name decoded from modified UTF-7) with its messages' subject, flags and INTERNALDATE. */
export async function imapFolders(t: ImapTarget, user: string, pass: string): Promise<Map<string, ListedMessage[]>> {
    return withImap(t, user, pass, async (c) => {
        const folders = new Map<string, ListedMessage[]>();
        for (const box of await c.list()) {
            if (box.flags.has("\\Noselect")) continue;
            const lock = await c.getMailboxLock(box.path);
            try {
                const messages: ListedMessage[] = [];
                const exists = typeof c.mailbox === "object" ? c.mailbox.exists : 0;
                if (exists > 0)
                    for await (const m of c.fetch("1:*", { envelope: true, flags: true, internalDate: true }))
                        messages.push({
                            subject: m.envelope?.subject ?? "",
                            flags: [...(m.flags ?? [])].sort(),
                            internalDate: new Date(m.internalDate ?? 0),
                        });
                folders.set(box.path, messages);
            } finally {
                lock.release();
            }
        }
        return folders;
    });
}
