// The one validated description of a mail server, built from the stack config.
//
// Everything else (renderers, DNS values, Pulumi components, the lab) reads a MailSpec
// and never the raw config, so a mistake is reported once, with its key path, before any
// resource is declared.

import { z } from "zod";

/** Where the server's configuration comes from: the stack config, as plain values. */
export interface RawConfig {
    /** `mailstack:hostname` */
    hostname?: unknown;
    /** `mailstack:acmeEmail` */
    acmeEmail?: unknown;
    /** `mailstack:acmeServer` */
    acmeServer?: unknown;
    /** `mailstack:server` */
    server?: unknown;
    /** `mailstack:sshAllowedCidrs` */
    sshAllowedCidrs?: unknown;
    /** `mailstack:domains` */
    domains?: unknown;
    /** `mailstack:relay` */
    relay?: unknown;
    /** `mailstack:mailVolumeSizeGb` */
    mailVolumeSizeGb?: unknown;
    /** `mailstack:messageSizeLimitMb` */
    messageSizeLimitMb?: unknown;
    /** `mailstack:passwords` (secret): checked here, never kept in the spec. */
    passwords?: unknown;
    /** Whether `mailstack:relayPassword` is set. */
    hasRelayPassword?: boolean;
}

export type DmarcPolicy = "none" | "quarantine" | "reject";

/** An alias: mail to `address` goes to every target (local mailboxes or outside addresses). */
export interface AliasSpec {
    readonly address: string;
    readonly targets: readonly string[];
}

export interface DomainSpec {
    /** The mail domain, lower case, e.g. `nathabee.de`. */
    readonly name: string;
    /** Cloudflare zone id; looked up by name when absent. */
    readonly zoneId?: string;
    /** Full addresses of the mailboxes, lower case. */
    readonly mailboxes: readonly string[];
    readonly aliases: readonly AliasSpec[];
    /** DKIM selector: the key is published at `<selector>._domainkey.<domain>`. */
    readonly dkimSelector: string;
    /** Extra SPF mechanisms placed between `mx` and `-all` (e.g. `include:_spf.example.net`). */
    readonly spfExtra: readonly string[];
    readonly dmarc: { readonly policy: DmarcPolicy; readonly rua: string };
}

export interface RelaySpec {
    readonly host: string;
    readonly port: number;
    readonly username: string;
}

export interface MailSpec {
    /** The MX host: A/AAAA, PTR, EHLO name and TLS certificate name. */
    readonly hostname: string;
    /** The configured domain whose zone holds the hostname's A/AAAA records. */
    readonly hostnameDomain: string;
    readonly acmeEmail: string;
    /** ACME directory URL; Let's Encrypt production unless a test CA stands in. */
    readonly acmeServer: string;
    readonly server: { readonly type: string; readonly location: string; readonly image: string };
    readonly sshAllowedCidrs: readonly string[];
    readonly domains: readonly DomainSpec[];
    readonly relay?: RelaySpec;
    readonly mailVolumeSizeGb: number;
    readonly messageSizeLimitBytes: number;
}

export const SUPPORTED_IMAGE = "debian-13";
export const LETS_ENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory";
export const DEFAULT_DKIM_SELECTOR = "mail";

/** Thrown with every problem of the config at once; each line names a key path. */
export class ConfigError extends Error {
    constructor(readonly problems: readonly string[]) {
        super(`Invalid mailstack configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "ConfigError";
    }
}

// A DNS name of at least two labels, LDH labels, no trailing dot. IDNs must be given in
// their xn-- form so that what we publish is what resolvers see.
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
export function isDomainName(value: string): boolean {
    if (value.length > 253) return false;
    const labels = value.split(".");
    return labels.length >= 2 && labels.every((l) => LABEL.test(l)) && !/^\d+$/.test(labels[labels.length - 1]);
}

// The local parts we create ourselves: dot-atoms of safe characters. Quoted local parts and
// `+`, `%`, `!`, `/` are refused: they are either address-routing tricks or our recipient
// delimiter, and a mailbox name must also be a safe Maildir path.
const LOCAL_PART = /^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$/;
export function isLocalPart(value: string): boolean {
    return LOCAL_PART.test(value) && !value.includes("..");
}

// Outside addresses (forward targets, acmeEmail): a plain dot-atom local part and a domain.
const OUTSIDE_LOCAL = /^[A-Za-z0-9!#$&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$&'*+/=?^_`{|}~-]+)*$/;
export function isEmail(value: string): boolean {
    const at = value.lastIndexOf("@");
    if (at <= 0) return false;
    const local = value.slice(0, at);
    return local.length <= 64 && OUTSIDE_LOCAL.test(local) && isDomainName(value.slice(at + 1).toLowerCase());
}

export function isCidr(value: string): boolean {
    const slash = value.indexOf("/");
    if (slash < 0) return false;
    const addr = value.slice(0, slash);
    const bitsText = value.slice(slash + 1);
    if (!/^\d{1,3}$/.test(bitsText)) return false;
    const bits = Number(bitsText);
    if (addr.includes(":")) return bits <= 128 && isIpv6(addr);
    return bits <= 32 && isIpv4(addr);
}

function isIpv4(value: string): boolean {
    const parts = value.split(".");
    return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

function isIpv6(value: string): boolean {
    if (!/^[0-9a-fA-F:.]+$/.test(value)) return false;
    const halves = value.split("::");
    if (halves.length > 2) return false;
    const groups = (s: string) => (s === "" ? [] : s.split(":"));
    const head = groups(halves[0]);
    const tail = halves.length === 2 ? groups(halves[1]) : [];
    const all = [...head, ...tail];
    let count = all.length;
    const last = all[all.length - 1];
    if (last !== undefined && last.includes(".")) {
        if (!isIpv4(last)) return false;
        count += 1; // an embedded IPv4 address fills two groups
        all.pop();
    }
    if (!all.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return false;
    return halves.length === 2 ? count < 8 : count === 8;
}

const domainInput = z
    .object({
        name: z.string(),
        zoneId: z.string().regex(/^[0-9a-f]{32}$/, "must be a 32-character hex Cloudflare zone id").optional(),
        mailboxes: z.array(z.string()).default([]),
        aliases: z.record(z.string(), z.array(z.string()).min(1, "must list at least one target")).default({}),
        dkimSelector: z
            .string()
            .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, "must be a single DNS label (a-z, 0-9, -)")
            .default(DEFAULT_DKIM_SELECTOR),
        spf: z
            .object({
                extra: z
                    .array(
                        z
                            .string()
                            .regex(
                                /^[+~?-]?(?:a|mx|ip4|ip6|include|exists|ptr)(?:[:/][^\s"]+)?$/,
                                "must be one SPF mechanism such as include:_spf.example.net or ip4:192.0.2.1",
                            ),
                    )
                    .default([]),
            })
            .strict()
            .default({ extra: [] }),
        dmarc: z
            .object({
                policy: z.enum(["none", "quarantine", "reject"]).default("quarantine"),
                rua: z.string().optional(),
            })
            .strict()
            .default({ policy: "quarantine" }),
    })
    .strict();

const configInput = z.object({
    hostname: z.string({ error: "is required (the MX host name, e.g. mail.example.org)" }),
    acmeEmail: z.string({ error: "is required (the Let's Encrypt account address)" }),
    acmeServer: z.url({ protocol: /^https$/, error: "must be an https:// ACME directory URL" }).default(LETS_ENCRYPT_DIRECTORY),
    server: z
        .object({
            type: z.string().regex(/^[a-z0-9-]+$/, "must be a Hetzner server type such as cx23").default("cx23"),
            location: z.string().regex(/^[a-z0-9-]+$/, "must be a Hetzner location such as nbg1").default("nbg1"),
            image: z.string().default(SUPPORTED_IMAGE),
        })
        .strict()
        .default({ type: "cx23", location: "nbg1", image: SUPPORTED_IMAGE }),
    sshAllowedCidrs: z.array(z.string()).min(1, "must list at least one CIDR that may reach SSH (the deployer, CI)"),
    domains: z.array(domainInput).min(1, "must list at least one mail domain"),
    relay: z
        .object({
            host: z.string(),
            port: z.number().int().min(1).max(65535).default(587),
            username: z.string().min(1, "must not be empty"),
        })
        .strict()
        .optional(),
    mailVolumeSizeGb: z.number().int().min(10, "must be at least 10 (Hetzner's smallest volume)").max(10240).default(10),
    messageSizeLimitMb: z.number().int().min(1).max(200).default(50),
});

function keyPath(path: readonly PropertyKey[]): string {
    let out = "mailstack";
    path.forEach((p, i) => {
        if (typeof p === "number") out += `[${p}]`;
        else out += i === 0 ? `:${String(p)}` : `.${String(p)}`;
    });
    return out;
}

/**
 * Validate the stack config and build the MailSpec, or throw a ConfigError that lists
 * every problem with its key path (`mailstack:domains[1].aliases.admin[0]: ...`).
 */
export function buildSpec(raw: RawConfig): MailSpec {
    const { passwords, hasRelayPassword = false, ...input } = raw;
    const parsed = configInput.safeParse(input);
    if (!parsed.success) {
        throw new ConfigError(parsed.error.issues.map((i) => `${keyPath(i.path)}: ${i.message}`));
    }
    const cfg = parsed.data;
    const problems: string[] = [];
    const at = (path: string, message: string) => problems.push(`mailstack:${path}: ${message}`);

    const hostname = cfg.hostname.toLowerCase();
    if (!isDomainName(hostname)) at("hostname", `"${cfg.hostname}" is not a valid host name`);
    if (!isEmail(cfg.acmeEmail)) at("acmeEmail", `"${cfg.acmeEmail}" is not a valid email address`);
    if (cfg.server.image !== SUPPORTED_IMAGE) {
        at("server.image", `"${cfg.server.image}" is not supported: the server configuration targets exactly ${SUPPORTED_IMAGE}`);
    }
    cfg.sshAllowedCidrs.forEach((c, i) => {
        if (!isCidr(c)) at(`sshAllowedCidrs[${i}]`, `"${c}" is not a CIDR such as 203.0.113.7/32 or 2001:db8::/48`);
    });
    if (cfg.relay) {
        if (!isDomainName(cfg.relay.host.toLowerCase()) && !isIpv4(cfg.relay.host)) {
            at("relay.host", `"${cfg.relay.host}" is not a host name or IPv4 address`);
        }
        if (!hasRelayPassword) at("relayPassword", "is required when mailstack:relay is set (set it with --secret)");
    } else if (hasRelayPassword) {
        at("relayPassword", "is set but mailstack:relay is not");
    }

    // First pass: names, mailboxes and alias addresses, so that alias targets can be checked
    // against every local address of every domain.
    const domainNames = new Map<string, number>();
    const localAddresses = new Map<string, string>(); // address -> key path that defined it
    const mailboxes = new Set<string>();
    const aliasTargets = new Map<string, { path: string; targets: string[] }>();
    cfg.domains.forEach((d, di) => {
        const name = d.name.toLowerCase();
        if (!isDomainName(name)) at(`domains[${di}].name`, `"${d.name}" is not a valid domain name`);
        if (domainNames.has(name)) at(`domains[${di}].name`, `"${name}" is already configured at mailstack:domains[${domainNames.get(name)}]`);
        else domainNames.set(name, di);
        d.mailboxes.forEach((m, mi) => {
            const local = m.toLowerCase();
            const path = `domains[${di}].mailboxes[${mi}]`;
            if (!isLocalPart(local)) {
                at(path, `"${m}" is not a valid mailbox name (a-z, 0-9, ".", "_", "-"; no "@domain", it is added)`);
                return;
            }
            const address = `${local}@${name}`;
            if (localAddresses.has(address)) at(path, `${address} is already defined at mailstack:${localAddresses.get(address)}`);
            else localAddresses.set(address, path);
            mailboxes.add(address);
        });
        Object.entries(d.aliases).forEach(([alias, targets]) => {
            const local = alias.toLowerCase();
            const path = `domains[${di}].aliases.${alias}`;
            if (!isLocalPart(local)) {
                at(path, `"${alias}" is not a valid alias name (a-z, 0-9, ".", "_", "-")`);
                return;
            }
            const address = `${local}@${name}`;
            if (localAddresses.has(address)) {
                at(path, `${address} is already defined at mailstack:${localAddresses.get(address)}`);
                return;
            }
            localAddresses.set(address, path);
            aliasTargets.set(address, { path, targets: targets.map((t) => t.toLowerCase()) });
        });
    });
    if (isDomainName(hostname) && domainNames.has(hostname)) {
        at("hostname", `"${hostname}" is also a mail domain; use a host inside it, e.g. mail.${hostname}`);
    }
    const hostnameDomain = [...domainNames.keys()]
        .filter((n) => hostname.endsWith(`.${n}`))
        .sort((a, b) => b.length - a.length)[0];
    if (isDomainName(hostname) && !hostnameDomain) {
        at("hostname", `"${hostname}" is not inside any configured domain, so its A/AAAA records could not be created`);
    }

    // Alias targets: outside addresses must be valid, local ones must exist.
    const isLocalDomain = (addr: string) => domainNames.has(addr.slice(addr.lastIndexOf("@") + 1));
    aliasTargets.forEach(({ path, targets }, address) => {
        const seen = new Set<string>();
        targets.forEach((t, ti) => {
            const tpath = `${path}[${ti}]`;
            if (!isEmail(t)) at(tpath, `"${t}" is not a valid email address`);
            else if (isLocalDomain(t) && !localAddresses.has(t)) at(tpath, `${t} is not a mailbox or alias of this server`);
            else if (t === address) at(tpath, `${address} forwards to itself`);
            if (seen.has(t)) at(tpath, `${t} is listed twice`);
            seen.add(t);
        });
    });

    // Loops and dead ends: follow local aliases until they reach a mailbox or the outside.
    const reaches = new Map<string, boolean>();
    const reported = new Set<string>();
    const resolve = (address: string, stack: string[]): boolean => {
        if (mailboxes.has(address) || !isLocalDomain(address)) return true;
        const known = reaches.get(address);
        if (known !== undefined) return known;
        const alias = aliasTargets.get(address);
        if (!alias) return false; // unknown local target: reported above
        if (stack.includes(address)) {
            const cycle = [...stack.slice(stack.indexOf(address)), address];
            const key = [...cycle].sort().join(",");
            if (!reported.has(key)) {
                reported.add(key);
                at(aliasTargets.get(cycle[0])!.path, `alias loop: ${cycle.join(" -> ")}`);
            }
            return false;
        }
        const ok = alias.targets.some((t) => resolve(t, [...stack, address]));
        reaches.set(address, ok);
        return ok;
    };
    aliasTargets.forEach((_, address) => resolve(address, []));

    // RFC 5321 4.5.1: postmaster@ must reach a person for every domain we accept mail for.
    cfg.domains.forEach((d, di) => {
        const name = d.name.toLowerCase();
        if (domainNames.get(name) !== di) return;
        const postmaster = `postmaster@${name}`;
        if (!localAddresses.has(postmaster)) {
            at(`domains[${di}].aliases`, `postmaster@${name} must exist (RFC 5321): add a mailbox "postmaster" or an alias postmaster: [someone@...]`);
        } else if (!resolve(postmaster, [])) {
            at(localAddresses.get(postmaster)!, `postmaster@${name} does not reach any mailbox or outside address`);
        }
        if (d.dmarc.rua !== undefined && !isEmail(d.dmarc.rua)) {
            at(`domains[${di}].dmarc.rua`, `"${d.dmarc.rua}" is not a valid email address`);
        }
    });

    if (passwords !== undefined && (typeof passwords !== "object" || passwords === null || Array.isArray(passwords))) {
        at("passwords", 'must be a map of "address": "password"');
    } else if (passwords) {
        Object.entries(passwords).forEach(([address, password]) => {
            const path = `passwords.${address}`;
            if (!mailboxes.has(address.toLowerCase())) at(path, `${address} is not a configured mailbox (only mailboxes log in)`);
            // Never echo the value: this is a secret.
            else if (typeof password !== "string") at(path, "must be a string");
            else if (password.length < 12) at(path, "is too short: use at least 12 characters");
            else if (Buffer.byteLength(password, "utf8") > 72) at(path, "is too long: bcrypt uses at most 72 bytes");
            else if (/[\x00-\x1f]/.test(password)) at(path, "must not contain control characters");
        });
    }

    if (problems.length > 0) throw new ConfigError(problems);

    const domains: DomainSpec[] = cfg.domains.map((d) => {
        const name = d.name.toLowerCase();
        return {
            name,
            ...(d.zoneId ? { zoneId: d.zoneId } : {}),
            mailboxes: d.mailboxes.map((m) => `${m.toLowerCase()}@${name}`),
            aliases: Object.entries(d.aliases).map(([a, targets]) => ({
                address: `${a.toLowerCase()}@${name}`,
                targets: targets.map((t) => t.toLowerCase()),
            })),
            dkimSelector: d.dkimSelector,
            spfExtra: d.spf.extra,
            dmarc: { policy: d.dmarc.policy, rua: d.dmarc.rua ?? `postmaster@${name}` },
        };
    });

    return {
        hostname,
        hostnameDomain: hostnameDomain!,
        acmeEmail: cfg.acmeEmail,
        acmeServer: cfg.acmeServer,
        server: cfg.server,
        sshAllowedCidrs: cfg.sshAllowedCidrs,
        domains,
        ...(cfg.relay ? { relay: { host: cfg.relay.host.toLowerCase(), port: cfg.relay.port, username: cfg.relay.username } } : {}),
        mailVolumeSizeGb: cfg.mailVolumeSizeGb,
        messageSizeLimitBytes: cfg.messageSizeLimitMb * 1024 * 1024,
    };
}

/** Every address that can log in and send: the mailboxes. */
export function allMailboxes(spec: MailSpec): string[] {
    return spec.domains.flatMap((d) => d.mailboxes);
}
