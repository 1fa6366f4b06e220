// The address pass: every domain's mailboxes and aliases, checked against each other. An
// alias target must exist when it is local, no alias may loop or lead nowhere, postmaster@
// must reach a person, senders for applications are addresses of their own, and only
// mailboxes and senders have passwords. Parts that are invalid are
// skipped, and what they make unknowable is remembered, so they cause no follow-on problems.

import { z } from "zod";

import { configPath, type ConfigPath, type Problems } from "./errors";
import { aliasTargetsInput, domainInput } from "./schema";
import { isDomainName, isEmail, isLocalPart } from "./syntax";
import type { MailSpec } from "./types";

const isRecord = (value: unknown): value is Record<string, unknown> =>
    typeof value === "object" && value !== null && !Array.isArray(value);

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
    /** The catch-all as written, when it is a string. */
    readonly catchAll?: string;
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
        mailboxes:
            mailboxes ??
            (Array.isArray(entry.mailboxes) ? entry.mailboxes.map((m) => (typeof m === "string" ? m : undefined)) : []),
        // Read off the input itself, not zod's copy: that drops a key named __proto__ without a word.
        aliases: isRecord(entry.aliases)
            ? Object.entries(entry.aliases).map(([a, t]) => [a, valueOf(aliasTargetsInput.safeParse(t))] as const)
            : [],
        addressesKnown:
            mailboxes !== undefined &&
            (aliases !== undefined || isRecord(entry.aliases)) &&
            Object.keys(entry).every((k) => k in shape),
        ...(isRecord(dmarc) && typeof dmarc.rua === "string" ? { rua: dmarc.rua } : {}),
        ...(typeof entry.catchAll === "string" ? { catchAll: entry.catchAll } : {}),
    };
}

/**
 * Mailbox and alias names are ASCII: they are Maildir paths, Dovecot login names and lookup
 * table keys, and a sender without SMTPUTF8 could not write them. Mail from and to UTF-8
 * addresses elsewhere is fine (Postfix's smtputf8_enable).
 */
function nonAscii(name: string): string {
    return /[^\x00-\x7f]/.test(name)
        ? ": mailstack's mailbox and alias names are ASCII only (mail from UTF-8 addresses elsewhere is accepted)"
        : "";
}

/**
 * `domains[i].catchAll` names one of the domain's own mailboxes, by its name: mail for
 * addresses nobody listed stays on this server, where its quota and its Junk folder apply,
 * and is never forwarded outside on a stranger's word.
 */
function checkCatchAll(d: DomainParts, di: number, name: string | undefined, problems: Problems): void {
    const path = ["domains", di, "catchAll"];
    const target = d.catchAll!;
    const local = target.toLowerCase();
    const mailboxes = d.mailboxes.filter((m): m is string => m !== undefined).map((m) => m.toLowerCase());
    const domain = name ?? "this domain";
    if (target.includes("@"))
        problems.at(
            path,
            `"${target}" is an address: give the name of one of ${domain}'s mailboxes (e.g. "${mailboxes[0] ?? "alice"}"); the catch-all must be a mailbox of its own domain`,
        );
    // A mailbox entry that is not a string is reported on its own; it may be the one meant here.
    else if (!mailboxes.includes(local) && mailboxes.length === d.mailboxes.length)
        problems.at(
            path,
            `"${target}" is not a mailbox of ${domain} (its mailboxes: ${mailboxes.join(", ") || "none"}); the catch-all must be one of them`,
        );
}

/** What the address pass learnt, for the checks that depend on the domains. */
export interface AddressFacts {
    /** Domain name (lower case) -> index of the entry that defined it first. */
    readonly domainNames: ReadonlyMap<string, number>;
    /** False when some domain's name is missing or invalid. */
    readonly allNamesKnown: boolean;
    /** Every valid mailbox address, lower case. */
    readonly mailboxes: ReadonlySet<string>;
}

/**
 * `mailstack:senders`: each is one address of a configured domain, listed once, and no
 * mailbox (a mailbox logs in with its own password; two logins for one address would leave
 * its owner to chance). An alias of the same address is welcome: it is where replies and
 * bounces to the application's address go. Returns the valid senders, lower case.
 */
function checkSenders(
    input: unknown,
    domains: { names: ReadonlyMap<string, number>; allNamesKnown: boolean },
    localAddresses: ReadonlyMap<string, ConfigPath>,
    mailboxes: ReadonlySet<string>,
    problems: Problems,
): Set<string> {
    const senders = new Map<string, number>(); // address -> first index
    if (!Array.isArray(input)) return new Set(); // the schema reports it
    const example = [...domains.names.keys()][0] ?? "example.org";
    input.forEach((given: unknown, i) => {
        if (typeof given !== "string") return; // the schema reports it
        const path = ["senders", i];
        const address = given.toLowerCase();
        const at = address.lastIndexOf("@");
        if (!isEmail(address) || !isLocalPart(address.slice(0, at))) {
            problems.at(
                path,
                `"${given}" is not an address such as notify@${example} (a-z, 0-9, ".", "_", "-" before the @)${nonAscii(given)}`,
            );
            return;
        }
        const first = senders.get(address);
        if (first !== undefined) {
            problems.at(
                path,
                `${address} is already listed at mailstack:senders[${first}] (addresses are case-insensitive)`,
            );
            return;
        }
        senders.set(address, i);
        const domain = address.slice(at + 1);
        if (!domains.names.has(domain)) {
            if (domains.allNamesKnown)
                problems.at(
                    path,
                    `${address} is not an address of a configured domain (${[...domains.names.keys()].join(", ")}): ` +
                        "a sender sends only as an address of this server's domains, which it signs with their DKIM keys",
                );
        } else if (mailboxes.has(address))
            problems.at(
                path,
                `${address} is a mailbox (${configPath(localAddresses.get(address)!)}), which logs in and sends with its own password; ` +
                    "give the application an address of its own",
            );
    });
    return new Set(
        [...senders.keys()].filter((a) => domains.names.has(a.slice(a.lastIndexOf("@") + 1)) && !mailboxes.has(a)),
    );
}

/** Check `domains`, `senders` and `passwords` together; report into `problems`. */
export function checkAddresses(
    domainsInput: unknown,
    sendersInput: unknown,
    passwords: unknown,
    problems: Problems,
): AddressFacts {
    const at = (path: ConfigPath, message: string) => problems.at(path, message);
    const entries: unknown[] | undefined = Array.isArray(domainsInput) ? domainsInput : undefined;
    const parts = (entries ?? []).map(domainParts);
    // False when some domain's name is missing or invalid: an address outside the known
    // domains might then belong to it.
    let allNamesKnown = entries !== undefined && entries.length > 0;
    const domainNames = new Map<string, number>();
    const unknownDomains = new Set<string>(); // domains whose set of addresses is not known
    const unknownAddresses = new Set<string>(); // local addresses defined by an invalid entry
    const localAddresses = new Map<string, ConfigPath>(); // address -> key path that defined it
    const mailboxes = new Set<string>();
    const targetLists: { address?: string; path: ConfigPath; targets: string[] }[] = [];
    const aliasTargets = new Map<string, { path: ConfigPath; targets: string[] }>();
    // Names, mailboxes and alias addresses first, so that alias targets can be checked
    // against every local address of every domain.
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
            if (domainNames.has(name))
                at(
                    ["domains", di, "name"],
                    `"${name}" is already configured at mailstack:domains[${domainNames.get(name)}]`,
                );
            else domainNames.set(name, di);
            if (!d.addressesKnown) unknownDomains.add(name);
        }
        if (d.catchAll !== undefined) checkCatchAll(d, di, name, problems);
        const define = (address: string, path: ConfigPath): boolean => {
            const earlier = localAddresses.get(address);
            if (earlier) {
                problems.at(path, `${address} is already defined at ${configPath(earlier)}`);
                return false;
            }
            localAddresses.set(address, path);
            return true;
        };
        d.mailboxes.forEach((m, mi) => {
            if (m === undefined) return;
            const local = m.toLowerCase();
            const path = ["domains", di, "mailboxes", mi];
            if (!isLocalPart(local)) {
                at(
                    path,
                    `"${m}" is not a valid mailbox name (a-z, 0-9, ".", "_", "-"; no "@domain", it is added)${nonAscii(m)}`,
                );
                if (name !== undefined) unknownAddresses.add(`${local}@${name}`);
                return;
            }
            if (name === undefined) return;
            const address = `${local}@${name}`;
            define(address, path);
            mailboxes.add(address);
        });
        d.aliases.forEach(([alias, targets]) => {
            const local = alias.toLowerCase();
            const path = ["domains", di, "aliases", alias];
            if (!isLocalPart(local)) {
                at(path, `"${alias}" is not a valid alias name (a-z, 0-9, ".", "_", "-")${nonAscii(alias)}`);
                if (name !== undefined) unknownAddresses.add(`${local}@${name}`);
                return;
            }
            const address = name === undefined ? undefined : `${local}@${name}`;
            if (address !== undefined && !define(address, path)) return;
            if (!targets) {
                if (address !== undefined) unknownAddresses.add(address);
                return;
            }
            const lowered = targets.map((t) => t.toLowerCase());
            targetLists.push({ address, path, targets: lowered });
            if (address !== undefined) aliasTargets.set(address, { path, targets: lowered });
        });
    });

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
            else if (isLocalDomain(t) && !localAddresses.has(t) && isKnown(t))
                at(tpath, `${t} is not a mailbox or alias of this server`);
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
        if (d?.rua !== undefined && !isEmail(d.rua))
            at(["domains", di, "dmarc", "rua"], `"${d.rua}" is not a valid email address`);
        // DMARC's rua is a list of URIs, each with an optional size limit after "!" (RFC 7489 6.4).
        else if (d?.rua?.includes("!"))
            at(
                ["domains", di, "dmarc", "rua"],
                `"${d.rua}" contains "!", which DMARC reads as a report size limit: use an address without it`,
            );
    });

    const senders = checkSenders(
        sendersInput,
        { names: domainNames, allNamesKnown },
        localAddresses,
        mailboxes,
        problems,
    );

    if (passwords !== undefined && !isRecord(passwords)) {
        at(["passwords"], 'must be a map of "address": "password"');
    } else if (passwords) {
        const seen = new Map<string, string>(); // lower case -> the address as first written
        Object.entries(passwords).forEach(([address, password]) => {
            const path = ["passwords", address];
            const lower = address.toLowerCase();
            const first = seen.get(lower);
            if (first === undefined) seen.set(lower, address);
            // Addresses are case-insensitive: two spellings of one would leave the choice to chance.
            if (first !== undefined)
                at(
                    path,
                    `is the same address as ${configPath(["passwords", first])} (addresses are case-insensitive): keep one`,
                );
            else if (!mailboxes.has(lower) && !senders.has(lower) && isKnown(lower))
                at(path, `${address} is not a configured mailbox or sender (only they log in)`);
            // Never echo the value: this is a secret.
            // `pulumi config set --path` stores a digits-only value as a number, which would
            // lose leading zeros: refuse it rather than guess the password.
            else if (typeof password === "number")
                at(path, "is a number (digits only?): use a password with letters as well");
            else if (typeof password !== "string") at(path, "must be a string");
            else if (password.length < 12) at(path, "is too short: use at least 12 characters");
            else if (Buffer.byteLength(password, "utf8") > 72) at(path, "is too long: bcrypt uses at most 72 bytes");
            else if (/[\x00-\x1f]/.test(password)) at(path, "must not contain control characters");
        });
    }
    return { domainNames, allNamesKnown, mailboxes };
}

/**
 * Which logins own which addresses: a mailbox owns its own address and every alias that
 * reaches it, directly or through other aliases; a sender for applications owns its own
 * address only (and shares it with the mailboxes an alias of that name reaches). An alias
 * that only forwards outside has no owner, so nobody can send as it.
 */
export function addressOwners(spec: MailSpec): Map<string, string[]> {
    const mailboxes = new Set(spec.domains.flatMap((d) => d.mailboxes));
    const aliases = new Map(spec.domains.flatMap((d) => d.aliases.map((a) => [a.address, a.targets] as const)));
    const reach = (address: string, seen: Set<string>): string[] => {
        if (mailboxes.has(address)) return [address];
        const targets = aliases.get(address);
        if (!targets || seen.has(address)) return [];
        seen.add(address);
        return targets.flatMap((t) => reach(t, seen));
    };
    const owners = new Map<string, string[]>();
    for (const m of mailboxes) owners.set(m, [m]);
    for (const address of aliases.keys()) {
        const logins = [...new Set(reach(address, new Set()))].sort();
        if (logins.length > 0) owners.set(address, logins);
    }
    for (const sender of spec.senders) owners.set(sender, [...(owners.get(sender) ?? []), sender].sort());
    return owners;
}

/**
 * Who hears from the server itself (backup failures, a filling disk) and gets the host
 * name's root@ and postmaster@: the first domain's postmaster.
 */
export function hostPostmaster(spec: MailSpec): string {
    return `postmaster@${spec.domains[0].name}`;
}
