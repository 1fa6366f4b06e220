// OpenDKIM's per-domain keys and tables: every configured domain is signed with its own key
// and selector. The private keys come from the deploy (never from the user-data).

import { dkimName, type MailSpec } from "../../model";
import type { PruneRule } from "../plan/bundle";
import type { HostFile } from "./types";

/**
 * The keys directory holds only the keys of the configured domains and selectors: a removed
 * domain's key, or a retired selector's, is deleted from the server by the dkim step.
 */
export const DKIM_KEYS_PRUNE: PruneRule = {
    dir: "/etc/opendkim/keys",
    pattern: "*.private",
    onChange: ["restart:opendkim"],
};

export interface DkimSecrets {
    /** PEM private key per domain name. */
    readonly privateKeysPem: Readonly<Record<string, string>>;
}

/** Where a domain's private key lives on the server. */
export function dkimKeyPath(domain: string, selector: string): string {
    return `${DKIM_KEYS_PRUNE.dir}/${domain}.${selector}.private`;
}

export function renderDkimFiles(spec: MailSpec, secrets: DkimSecrets): HostFile[] {
    const missing = spec.domains.filter((d) => !secrets.privateKeysPem[d.name]).map((d) => d.name);
    if (missing.length > 0) throw new Error(`dkim: no private key for ${missing.join(", ")}`);
    const unknown = Object.keys(secrets.privateKeysPem).filter((n) => !spec.domains.some((d) => d.name === n));
    if (unknown.length > 0) throw new Error(`dkim: private key for unknown domain ${unknown.join(", ")}`);

    const keys: HostFile[] = spec.domains.map((d) => {
        const pem = secrets.privateKeysPem[d.name].trim();
        if (!/^-----BEGIN (RSA |EC )?PRIVATE KEY-----\n[\s\S]+\n-----END (RSA |EC )?PRIVATE KEY-----$/.test(pem)) {
            throw new Error(`dkim: the private key for ${d.name} is not a PEM private key`);
        }
        return {
            path: dkimKeyPath(d.name, d.dkimSelector),
            mode: "0600",
            owner: "opendkim",
            group: "opendkim",
            content: `${pem}\n`,
            onChange: ["restart:opendkim"],
        };
    });
    const keyTable = spec.domains.map(
        (d) =>
            `${dkimName(d.dkimSelector, d.name)} ${d.name}:${d.dkimSelector}:${dkimKeyPath(d.name, d.dkimSelector)}\n`,
    );
    // refile: patterns; `*@domain` matches every sender address of that domain (not subdomains).
    const signingTable = spec.domains.map((d) => `*@${d.name} ${dkimName(d.dkimSelector, d.name)}\n`);
    const head = (what: string) => `# /etc/opendkim/${what} - rendered by mailstack from the stack config (dkim).\n`;
    return [
        ...keys,
        {
            path: "/etc/opendkim/key.table",
            mode: "0644",
            owner: "root",
            group: "root",
            content: head("key.table") + keyTable.join(""),
            onChange: ["restart:opendkim"],
        },
        {
            path: "/etc/opendkim/signing.table",
            mode: "0644",
            owner: "root",
            group: "root",
            content: head("signing.table") + signingTable.join(""),
            onChange: ["restart:opendkim"],
        },
    ];
}
