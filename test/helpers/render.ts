// The sample specs and small readers the renderer tests (test/render-*.test.ts) share.

import { parse, stringify } from "yaml";
import { allLogins, buildSpec, type MailSpec, type RawConfig } from "../../model";
import { type HostFile } from "../../render";
import { userDataFiles as userDataEntries } from "./user-data";

export const DEVICE = "/dev/disk/by-id/scsi-0HC_Volume_123";
export const HASH = "{BLF-CRYPT}$2b$12$FsG2dsfa7VtRVtJ5nDpC5OXrM8/o1BrWkIzFcMjXgfRPL7Izgzht.";
export const PEM =
    "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEAtestkeymaterial\n-----END PRIVATE KEY-----\n";

export const orgDomain = {
    name: "example.org",
    mailboxes: ["alice", "bob"],
    aliases: {
        postmaster: ["alice@example.org"],
        info: ["alice@example.org", "bob@example.org"],
        team: ["info@example.org"],
        forward: ["someone@example.net"],
    },
};
export const comDomain = {
    name: "example.com",
    mailboxes: ["carol"],
    aliases: { postmaster: ["alice@example.org"], abuse: ["carol@example.com"] },
    dkimSelector: "s2026",
};

export function spec(overrides: Partial<RawConfig> = {}): MailSpec {
    return buildSpec({
        hostname: "mail.example.org",
        acmeEmail: "hostmaster@example.org",
        sshAllowedCidrs: ["203.0.113.7/32"],
        domains: [orgDomain, comDomain],
        ...overrides,
    });
}
export const oneDomain = () => spec({ domains: [orgDomain] });
export const RELAY_FINGERPRINT =
    "a0:9d:d3:66:e7:50:6d:e1:86:2a:8a:1b:40:ed:6b:72:90:a0:90:72:89:e9:83:f2:58:83:c2:1a:b5:02:7f:e4";
export const withRelay = (host = "smtp.relay.example.net", port = 587, tlsFingerprint?: string) =>
    spec({ relay: { host, port, username: "relayuser", tlsFingerprint }, hasRelayPassword: true });

/** A hash for every login: each mailbox and each sender for applications. */
export const hashesFor = (s: MailSpec) => Object.fromEntries(allLogins(s).map((m) => [m, HASH]));
export const keysFor = (s: MailSpec) => Object.fromEntries(s.domains.map((d) => [d.name, PEM]));
/** The user-data without its provisional SSH host key. */
export function withoutHostKey(text: string): string {
    const doc = parse(text) as Record<string, unknown>;
    delete doc.ssh_keys;
    return stringify(doc);
}

export const byPath = (files: readonly HostFile[], p: string): HostFile => {
    const f = files.find((x) => x.path === p);
    if (!f) throw new Error(`no file ${p}`);
    return f;
};
/** Table rows without comments. */
export const rows = (f: HostFile) => f.content.split("\n").filter((l) => l !== "" && !l.startsWith("#"));

export interface WriteFile {
    path: string;
    owner: string;
    permissions: string;
    content: string;
    encoding?: string;
    defer?: boolean;
}
export function userDataFiles(text: string): Map<string, string> {
    return new Map(userDataEntries(text).map((f) => [f.path, f.content]));
}
