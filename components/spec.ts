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

const aliasTargetsInput = z.array(z.string()).min(1, "must list at least one target");

const domainInput = z
    .object({
        name: z.string(),
        zoneId: z.string().regex(/^[0-9a-f]{32}$/, "must be a 32-character hex Cloudflare zone id").optional(),
        mailboxes: z.array(z.string()).default([]),
        aliases: z.record(z.string(), aliasTargetsInput).default({}),
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

const serverInput = z
    .object({
        type: z.string().regex(/^[a-z0-9-]+$/, "must be a Hetzner server type such as cx23").default("cx23"),
        location: z.string().regex(/^[a-z0-9-]+$/, "must be a Hetzner location such as nbg1").default("nbg1"),
        image: z.string().default(SUPPORTED_IMAGE),
    })
    .strict();

const relayInput = z
    .object({
        host: z.string(),
        port: z.number().int().min(1).max(65535).default(587),
        username: z.string().min(1, "must not be empty"),
    })
    .strict();

const configInput = z.object({
    hostname: z.string({ error: "is required (the MX host name, e.g. mail.example.org)" }),
    acmeEmail: z.string({ error: "is required (the Let's Encrypt account address)" }),
    acmeServer: z.url({ protocol: /^https$/, error: "must be an https:// ACME directory URL" }).default(LETS_ENCRYPT_DIRECTORY),
    server: serverInput.default({ type: "cx23", location: "nbg1", image: SUPPORTED_IMAGE }),
    sshAllowedCidrs: z.array(z.string()).min(1, "must list at least one CIDR that may reach SSH (the deployer, CI)"),
    domains: z.array(domainInput).min(1, "must list at least one mail domain"),
    relay: relayInput.optional(),
    mailVolumeSizeGb: z.number().int().min(10, "must be at least 10 (Hetzner's smallest volume)").max(10240).default(10),
    messageSizeLimitMb: z.number().int().min(1).max(200).default(50),
});

type KeyPath = readonly PropertyKey[];

function keyPath(path: KeyPath): string {
    let out = "mailstack";
    path.forEach((p, i) => {
        if (typeof p === "number") out += `[${p}]`;
        else out += i === 0 ? `:${String(p)}` : `.${String(p)}`;
    });
    return out;
}

// Problems are listed in config key order, then by element (domain, CIDR) and object field
// (schema order); problems that tie keep the order they were found in (shape, then meaning).
export const CONFIG_KEYS: readonly string[] = [
    "hostname",
    "acmeEmail",
    "acmeServer",
    "server",
    "sshAllowedCidrs",
    "domains",
    "relay",
    "relayPassword",
    "mailVolumeSizeGb",
    "messageSizeLimitMb",
    "passwords",
];
/** Field order of the objects under a key, and at which depth of the path those fields are. */
const FIELD_ORDER: Readonly<Record<string, { depth: number; fields: readonly string[] }>> = {
    server: { depth: 1, fields: Object.keys(serverInput.shape) },
    relay: { depth: 1, fields: Object.keys(relayInput.shape) },
    domains: { depth: 2, fields: Object.keys(domainInput.shape) },
};

function sortRank(path: KeyPath): number[] {
    const rankIn = (order: readonly string[], p: PropertyKey) => {
        const i = order.indexOf(String(p));
        return i < 0 ? order.length : i;
    };
    const rank = [rankIn(CONFIG_KEYS, path[0])];
    const fields = FIELD_ORDER[String(path[0])];
    for (let i = 1; i < path.length; i++) {
        const p = path[i];
        if (typeof p === "number") rank.push(p);
        else if (fields && i === fields.depth) rank.push(rankIn(fields.fields, p));
        else break;
    }
    return rank;
}

function compareRanks(a: readonly number[], b: readonly number[]): number {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

function valueOf<T>(result: z.ZodSafeParseResult<T>): T | undefined {
    return result.success ? result.data : undefined;
}

/** What can be read from one `domains[i]` entry, even when parts of it are invalid. */
interface DomainParts {
    /** The name as written, when it is a string. */
    readonly rawName?: string;
    /** Mailbox names by index; undefined where an entry is not a string. */
    readonly mailboxes: readonly (string | undefined)[];
    /** Alias name -> targets; undefined targets when the list itself is invalid. */
    readonly aliases: readonly (readonly [string, readonly string[] | undefined])[];
    /** False when the set of this domain's addresses is not fully known (bad or misspelt keys). */
    readonly addressesKnown: boolean;
    readonly rua?: string;
}

function domainParts(entry: unknown): DomainParts | undefined {
    if (!isRecord(entry)) return undefined;
    const shape = domainInput.shape;
    const rawName = valueOf(shape.name.safeParse(entry.name));
    const mailboxes = valueOf(shape.mailboxes.safeParse(entry.mailboxes));
    const aliases = valueOf(shape.aliases.safeParse(entry.aliases));
    const dmarc = entry.dmarc;
    return {
        rawName,
        mailboxes: mailboxes ?? (Array.isArray(entry.mailboxes) ? entry.mailboxes.map((m) => (typeof m === "string" ? m : undefined)) : []),
        aliases: aliases
            ? Object.entries(aliases)
            : isRecord(entry.aliases)
              ? Object.entries(entry.aliases).map(([a, t]) => [a, valueOf(aliasTargetsInput.safeParse(t))] as const)
              : [],
        addressesKnown:
            mailboxes !== undefined && (aliases !== undefined || isRecord(entry.aliases)) && Object.keys(entry).every((k) => k in shape),
        ...(isRecord(dmarc) && typeof dmarc.rua === "string" ? { rua: dmarc.rua } : {}),
    };
}

/**
 * Validate the stack config and build the MailSpec, or throw a ConfigError that lists
 * every problem with its key path (`mailstack:domains[1].aliases.admin[0]: ...`).
 *
 * Every key is checked on its own, so one bad key never hides another's problems; a check
 * is skipped only when its own inputs are invalid (that problem is already reported).
 */
export function buildSpec(raw: RawConfig): MailSpec {
    const { passwords, hasRelayPassword = false, ...input } = raw;
    const found: { path: KeyPath; text: string }[] = [];
    const at = (path: KeyPath, message: string) => found.push({ path, text: `${keyPath(path)}: ${message}` });

    const parsed = configInput.safeParse(input);
    if (!parsed.success) parsed.error.issues.forEach((i) => at(i.path, i.message));
    const shape = configInput.shape;

    const rawHostname = valueOf(shape.hostname.safeParse(input.hostname));
    const hostname = rawHostname?.toLowerCase();
    const hostnameValid = hostname !== undefined && isDomainName(hostname);
    if (rawHostname !== undefined && !hostnameValid) at(["hostname"], `"${rawHostname}" is not a valid host name`);
    const acmeEmail = valueOf(shape.acmeEmail.safeParse(input.acmeEmail));
    if (acmeEmail !== undefined && !isEmail(acmeEmail)) at(["acmeEmail"], `"${acmeEmail}" is not a valid email address`);
    const image = isRecord(input.server) ? valueOf(serverInput.shape.image.safeParse(input.server.image)) : SUPPORTED_IMAGE;
    if (image !== undefined && image !== SUPPORTED_IMAGE) {
        at(["server", "image"], `"${image}" is not supported: the server configuration targets exactly ${SUPPORTED_IMAGE}`);
    }
    if (Array.isArray(input.sshAllowedCidrs)) {
        input.sshAllowedCidrs.forEach((c: unknown, i) => {
            if (typeof c === "string" && !isCidr(c)) at(["sshAllowedCidrs", i], `"${c}" is not a CIDR such as 203.0.113.7/32 or 2001:db8::/48`);
        });
    }
    if (input.relay !== undefined) {
        const host = isRecord(input.relay) ? valueOf(relayInput.shape.host.safeParse(input.relay.host)) : undefined;
        if (host !== undefined && !isDomainName(host.toLowerCase()) && !isIpv4(host)) {
            at(["relay", "host"], `"${host}" is not a host name or IPv4 address`);
        }
        if (!hasRelayPassword) at(["relayPassword"], "is required when mailstack:relay is set (set it with --secret)");
    } else if (hasRelayPassword) {
        at(["relayPassword"], "is set but mailstack:relay is not");
    }

    // First pass: names, mailboxes and alias addresses, so that alias targets can be checked
    // against every local address of every domain. Parts that are invalid are skipped, and
    // what they make unknowable is remembered, so that they cause no follow-on problems.
    const entries: unknown[] | undefined = Array.isArray(input.domains) ? input.domains : undefined;
    const parts = (entries ?? []).map(domainParts);
    // False when some domain's name is missing or invalid: an address outside the known
    // domains might then belong to it.
    let allNamesKnown = entries !== undefined && entries.length > 0;
    const domainNames = new Map<string, number>();
    const unknownDomains = new Set<string>(); // domains whose set of addresses is not known
    const unknownAddresses = new Set<string>(); // local addresses defined by an invalid entry
    const localAddresses = new Map<string, KeyPath>(); // address -> key path that defined it
    const mailboxes = new Set<string>();
    const targetLists: { address?: string; path: KeyPath; targets: string[] }[] = [];
    const aliasTargets = new Map<string, { path: KeyPath; targets: string[] }>();
    parts.forEach((d, di) => {
        if (!d) {
            allNamesKnown = false;
            return;
        }
        const name = d.rawName?.toLowerCase();
        if (d.rawName === undefined || name === undefined) {
            allNamesKnown = false;
        } else {
            if (!isDomainName(name)) {
                at(["domains", di, "name"], `"${d.rawName}" is not a valid domain name`);
                allNamesKnown = false;
            }
            if (domainNames.has(name)) at(["domains", di, "name"], `"${name}" is already configured at mailstack:domains[${domainNames.get(name)}]`);
            else domainNames.set(name, di);
            if (!d.addressesKnown) unknownDomains.add(name);
        }
        d.mailboxes.forEach((m, mi) => {
            if (m === undefined) return;
            const local = m.toLowerCase();
            const path = ["domains", di, "mailboxes", mi];
            if (!isLocalPart(local)) {
                at(path, `"${m}" is not a valid mailbox name (a-z, 0-9, ".", "_", "-"; no "@domain", it is added)`);
                if (name !== undefined) unknownAddresses.add(`${local}@${name}`);
                return;
            }
            if (name === undefined) return;
            const address = `${local}@${name}`;
            if (localAddresses.has(address)) at(path, `${address} is already defined at ${keyPath(localAddresses.get(address)!)}`);
            else localAddresses.set(address, path);
            mailboxes.add(address);
        });
        d.aliases.forEach(([alias, targets]) => {
            const local = alias.toLowerCase();
            const path = ["domains", di, "aliases", alias];
            if (!isLocalPart(local)) {
                at(path, `"${alias}" is not a valid alias name (a-z, 0-9, ".", "_", "-")`);
                if (name !== undefined) unknownAddresses.add(`${local}@${name}`);
                return;
            }
            const address = name === undefined ? undefined : `${local}@${name}`;
            if (address !== undefined) {
                if (localAddresses.has(address)) {
                    at(path, `${address} is already defined at ${keyPath(localAddresses.get(address)!)}`);
                    return;
                }
                localAddresses.set(address, path);
            }
            if (!targets) {
                if (address !== undefined) unknownAddresses.add(address);
                return;
            }
            const lowered = targets.map((t) => t.toLowerCase());
            targetLists.push({ address, path, targets: lowered });
            if (address !== undefined) aliasTargets.set(address, { path, targets: lowered });
        });
    });
    if (hostnameValid && domainNames.has(hostname)) {
        at(["hostname"], `"${hostname}" is also a mail domain; use a host inside it, e.g. mail.${hostname}`);
    }
    const hostnameDomain =
        hostname === undefined
            ? undefined
            : [...domainNames.keys()].filter((n) => hostname.endsWith(`.${n}`)).sort((a, b) => b.length - a.length)[0];
    if (hostnameValid && !hostnameDomain && allNamesKnown && !domainNames.has(hostname)) {
        at(["hostname"], `"${hostname}" is not inside any configured domain, so its A/AAAA records could not be created`);
    }

    const domainOf = (addr: string) => addr.slice(addr.lastIndexOf("@") + 1);
    const isLocalDomain = (addr: string) => domainNames.has(domainOf(addr));
    // Whether it is certain that an address is, or is not, a local one of this server.
    const isKnown = (addr: string) =>
        !unknownAddresses.has(addr) && !unknownDomains.has(domainOf(addr)) && (isLocalDomain(addr) || allNamesKnown);

    // Alias targets: outside addresses must be valid, local ones must exist.
    targetLists.forEach(({ address, path, targets }) => {
        const seen = new Set<string>();
        targets.forEach((t, ti) => {
            const tpath = [...path, ti];
            if (!isEmail(t)) at(tpath, `"${t}" is not a valid email address`);
            else if (isLocalDomain(t) && !localAddresses.has(t) && isKnown(t)) at(tpath, `${t} is not a mailbox or alias of this server`);
            else if (t === address) at(tpath, `${address} forwards to itself`);
            if (seen.has(t)) at(tpath, `${t} is listed twice`);
            seen.add(t);
        });
    });

    // Loops and dead ends: follow local aliases until they reach a mailbox or the outside.
    // An address whose definition is invalid is given the benefit of the doubt.
    const reaches = new Map<string, boolean>();
    const reported = new Set<string>();
    const resolve = (address: string, stack: string[]): boolean => {
        if (mailboxes.has(address) || !isLocalDomain(address)) return true;
        const known = reaches.get(address);
        if (known !== undefined) return known;
        const alias = aliasTargets.get(address);
        if (!alias) return !isKnown(address); // unknown local target: reported above
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

    parts.forEach((d, di) => {
        // RFC 5321 4.5.1: postmaster@ must reach a person for every domain we accept mail for.
        const name = d?.rawName?.toLowerCase();
        if (name !== undefined && domainNames.get(name) === di) {
            const postmaster = `postmaster@${name}`;
            if (!localAddresses.has(postmaster)) {
                if (isKnown(postmaster)) {
                    at(
                        ["domains", di, "aliases"],
                        `postmaster@${name} must exist (RFC 5321): add a mailbox "postmaster" or an alias postmaster: [someone@...]`,
                    );
                }
            } else if (!resolve(postmaster, [])) {
                at(localAddresses.get(postmaster)!, `postmaster@${name} does not reach any mailbox or outside address`);
            }
        }
        if (d?.rua !== undefined && !isEmail(d.rua)) at(["domains", di, "dmarc", "rua"], `"${d.rua}" is not a valid email address`);
    });

    if (passwords !== undefined && !isRecord(passwords)) {
        at(["passwords"], 'must be a map of "address": "password"');
    } else if (passwords) {
        Object.entries(passwords).forEach(([address, password]) => {
            const path = ["passwords", address];
            const lower = address.toLowerCase();
            if (!mailboxes.has(lower) && isKnown(lower)) at(path, `${address} is not a configured mailbox (only mailboxes log in)`);
            // Never echo the value: this is a secret.
            // `pulumi config set --path` stores a digits-only value as a number, which would
            // lose leading zeros: refuse it rather than guess the password.
            else if (typeof password === "number") at(path, "is a number (digits only?): use a password with letters as well");
            else if (typeof password !== "string") at(path, "must be a string");
            else if (password.length < 12) at(path, "is too short: use at least 12 characters");
            else if (Buffer.byteLength(password, "utf8") > 72) at(path, "is too long: bcrypt uses at most 72 bytes");
            else if (/[\x00-\x1f]/.test(password)) at(path, "must not contain control characters");
        });
    }

    const problems = found
        .map((p, i) => ({ ...p, rank: sortRank(p.path), i }))
        .sort((a, b) => compareRanks(a.rank, b.rank) || a.i - b.i)
        .map((p) => p.text);
    if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
    const cfg = parsed.data;

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
        hostname: cfg.hostname.toLowerCase(),
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
