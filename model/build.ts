// buildSpec: the stack config in, a MailSpec out, or a ConfigError listing every problem
// with its key path. The passes: the schema (shape), the settings (values zod cannot judge),
// the addresses (domains, aliases, passwords), then the hostname against the domains.

import { checkAddresses, type AddressFacts } from "./addresses";
import { ConfigError, configPath, Problems } from "./errors";
import { checkSenderLimits, checkSpamFilter } from "./filter";
import { longestPublishedName, DNS_NAME_LIMIT, publishedNames } from "./names";
import {
    BACKUP_SECRET_KEYS,
    backupInput,
    backupSftpInput,
    configInput,
    domainInput,
    importInput,
    importOAuth2Input,
    relayInput,
    secondaryMxInput,
    serverInput,
    type RawConfig,
} from "./schema";
import {
    canonicalFingerprint,
    canonicalSpfMechanism,
    cidrNetwork,
    cidrProblem,
    isDomainName,
    isEmail,
    isIPv4,
} from "./syntax";
import {
    DEFAULT_DKIM_SELECTOR,
    LETS_ENCRYPT_CAA_IDENTITY,
    SUPPORTED_IMAGE,
    type BackupSpec,
    type DomainSpec,
    type ImportOAuth2Spec,
    type ImportSpec,
    type MailSpec,
    MICROSOFT_OAUTH2,
} from "./types";
import { isIP } from "node:net";

const isRecord = (value: unknown): value is Record<string, unknown> =>
    typeof value === "object" && value !== null && !Array.isArray(value);

function stringAt(
    schema: { safeParse(v: unknown): { success: boolean; data?: unknown } },
    value: unknown,
): string | undefined {
    const r = schema.safeParse(value);
    return r.success && typeof r.data === "string" ? r.data : undefined;
}

/** The CAA identifier an ACME directory implies: Let's Encrypt's, for its own hosts. */
function caaIdentityOf(acmeServer: string): string | undefined {
    const host = new URL(acmeServer).hostname;
    return host === "letsencrypt.org" || host.endsWith(".letsencrypt.org") ? LETS_ENCRYPT_CAA_IDENTITY : undefined;
}

/** A secret whose value is given counts as set. */
function withSecretsSet(raw: RawConfig): RawConfig {
    const given = raw.secretValues ?? {};
    const isGiven = (k: keyof typeof given) => given[k] !== undefined;
    return {
        ...raw,
        hasRelayPassword: raw.hasRelayPassword === true || isGiven("relayPassword"),
        backupSecretsSet: BACKUP_SECRET_KEYS.filter((k) => raw.backupSecretsSet?.includes(k) || isGiven(k)),
    };
}

/** Values that are well-formed for zod but wrong for a mail server. */
function checkSettings(input: RawConfig, problems: Problems): void {
    const shape = configInput.shape;
    const hostname = stringAt(shape.hostname, input.hostname);
    if (hostname !== undefined && !isDomainName(hostname.toLowerCase()))
        problems.at(["hostname"], `"${hostname}" is not a valid host name`);
    const acmeEmail = stringAt(shape.acmeEmail, input.acmeEmail);
    if (acmeEmail !== undefined && !isEmail(acmeEmail))
        problems.at(["acmeEmail"], `"${acmeEmail}" is not a valid email address`);
    const image = isRecord(input.server) ? stringAt(serverInput.shape.image, input.server.image) : SUPPORTED_IMAGE;
    if (image !== undefined && image !== SUPPORTED_IMAGE) {
        problems.at(
            ["server", "image"],
            `"${image}" is not supported: the server configuration targets exactly ${SUPPORTED_IMAGE}`,
        );
    }
    if (Array.isArray(input.sshAllowedCidrs)) {
        const networks = new Map<string, number>(); // canonical form -> first index
        input.sshAllowedCidrs.forEach((c: unknown, i) => {
            if (typeof c !== "string") return;
            const why = cidrProblem(c);
            // Two spellings of one network: Hetzner would hold it once, and show a diff on every up.
            const first = why === undefined ? networks.get(cidrNetwork(c)) : undefined;
            if (first !== undefined)
                problems.at(
                    ["sshAllowedCidrs", i],
                    `"${c}" is the same network as mailstack:sshAllowedCidrs[${first}]`,
                );
            else if (why === undefined) networks.set(cidrNetwork(c), i);
            if (why === "syntax")
                problems.at(["sshAllowedCidrs", i], `"${c}" is not a CIDR such as 203.0.113.7/32 or 2001:db8::/48`);
            // Hetzner refuses the whole firewall for this, half-way through a deploy.
            if (why === "host-bits")
                problems.at(
                    ["sshAllowedCidrs", i],
                    `"${c}" has host bits set: write ${cidrNetwork(c)}, or /32 (/128) for one address`,
                );
        });
    }
    const acmeServer = stringAt(shape.acmeServer, input.acmeServer);
    if (acmeServer !== undefined && input.acmeCaaIdentity === undefined && caaIdentityOf(acmeServer) === undefined)
        problems.at(
            ["acmeCaaIdentity"],
            `is required when mailstack:acmeServer is not Let's Encrypt's (${acmeServer}): the CA's CAA identifier, as its documentation names it`,
        );
    if (input.relay !== undefined) {
        const host = isRecord(input.relay) ? stringAt(relayInput.shape.host, input.relay.host) : undefined;
        if (host !== undefined && !isDomainName(host.toLowerCase()) && !isIPv4(host)) {
            problems.at(["relay", "host"], `"${host}" is not a host name or IPv4 address`);
        }
        // No name to verify a certificate against: without a pinned fingerprint, TLS to the
        // relay would accept anyone's certificate, and the relay password goes over it.
        if (host !== undefined && isIPv4(host) && isRecord(input.relay) && input.relay.tlsFingerprint === undefined)
            problems.at(
                ["relay", "tlsFingerprint"],
                `is required for a relay given by IP address (${host}), whose certificate no name can verify: ` +
                    `the SHA-256 fingerprint of its certificate (openssl s_client -connect ${host}:<port> -starttls smtp ` +
                    "| openssl x509 -noout -fingerprint -sha256), or give the relay by its host name",
            );
        if (!input.hasRelayPassword)
            problems.at(["relayPassword"], "is required when mailstack:relay is set (set it with --secret)");
    } else if (input.hasRelayPassword) {
        problems.at(["relayPassword"], "is set but mailstack:relay is not");
    }
}

/** The backup's repository (exactly one) and the secrets it needs. */
function checkBackup(input: RawConfig, problems: Problems): void {
    const set = new Set(input.backupSecretsSet);
    const backup = input.backup;
    if (backup === undefined) {
        for (const k of set) problems.at([k], "is set but mailstack:backup is not");
        return;
    }
    if (!isRecord(backup)) return; // the schema reports it
    const kinds = (["sftp", "s3"] as const).filter((k) => backup[k] !== undefined);
    if (kinds.length !== 1)
        problems.at(
            ["backup"],
            kinds.length === 0
                ? "must name its repository: sftp (a Hetzner Storage Box) or s3 (an S3-compatible bucket)"
                : "must name one repository, sftp or s3, not both",
        );
    if (!set.has("backupPassword"))
        problems.at(["backupPassword"], "is required when mailstack:backup is set (set it with --secret)");
    const host = isRecord(backup.sftp) ? stringAt(backupSftpInput.shape.host, backup.sftp.host) : undefined;
    if (host !== undefined && !isDomainName(host.toLowerCase()) && !isIPv4(host))
        problems.at(["backup", "sftp", "host"], `"${host}" is not a host name or IPv4 address`);
    const s3 = kinds.includes("s3");
    for (const k of ["backupS3AccessKeyId", "backupS3SecretAccessKey"] as const) {
        if (s3 && !set.has(k)) problems.at([k], "is required when mailstack:backup.s3 is set (set it with --secret)");
        if (!s3 && set.has(k)) problems.at([k], "is set but mailstack:backup.s3 is not");
    }
    if (set.has("backupSshPrivateKey") && !kinds.includes("sftp"))
        problems.at(["backupSshPrivateKey"], "is set but mailstack:backup.sftp is not");
}

/** The validated backup config as a BackupSpec. */
function backupSpec(cfg: ReturnType<typeof backupInput.parse>): BackupSpec {
    const repository = cfg.sftp
        ? { type: "sftp" as const, ...cfg.sftp, host: cfg.sftp.host.toLowerCase() }
        : { type: "s3" as const, ...cfg.s3!, endpoint: cfg.s3!.endpoint.replace(/\/+$/, "") };
    return { repository, schedule: cfg.schedule, retention: cfg.retention };
}

/** An import's OAuth2 client, Microsoft's endpoints filled in for its tenant (checkImports checked the rest). */
function importOAuth2Spec(o: ReturnType<typeof importOAuth2Input.parse>): ImportOAuth2Spec {
    if (o.provider === "custom")
        return { clientId: o.clientId, tokenUrl: o.tokenUrl!, deviceUrl: o.deviceUrl!, scope: o.scope! };
    const tenant = o.tenant ?? MICROSOFT_OAUTH2.tenant;
    return {
        clientId: o.clientId,
        tokenUrl: MICROSOFT_OAUTH2.tokenUrl(tenant),
        deviceUrl: MICROSOFT_OAUTH2.deviceUrl(tenant),
        scope: MICROSOFT_OAUTH2.scope,
    };
}

/**
 * Every key of a per-mailbox map (mailboxQuotas, passwordResets) names a mailbox of its
 * domain, once (names are case-insensitive, as mailboxes are).
 */
function checkMailboxMaps(input: RawConfig, problems: Problems): void {
    if (!Array.isArray(input.domains)) return;
    input.domains.forEach((d: unknown, i) => {
        if (!isRecord(d)) return;
        const mailboxes = new Set(
            (Array.isArray(d.mailboxes) ? d.mailboxes : [])
                .filter((m) => typeof m === "string")
                .map((m) => m.toLowerCase()),
        );
        for (const map of ["mailboxQuotas", "passwordResets"] as const) {
            const entries = d[map];
            if (!isRecord(entries)) continue;
            const seen = new Map<string, string>(); // lower case -> the key as first written
            for (const key of Object.keys(entries)) {
                const local = key.toLowerCase();
                const first = seen.get(local);
                if (first !== undefined)
                    problems.at(
                        ["domains", i, map, key],
                        `names the same mailbox as ${map}.${first} (names are case-insensitive): keep one`,
                    );
                else if (!mailboxes.has(local))
                    problems.at(["domains", i, map, key], `"${key}" is not a mailbox of this domain`);
                seen.set(local, first ?? key);
            }
        }
    });
}

/** Every name published under a domain fits in DNS (the DKIM selectors and SRV names add to it). */
function checkNameLengths(input: RawConfig, problems: Problems): void {
    if (!Array.isArray(input.domains)) return;
    input.domains.forEach((d: unknown, i) => {
        if (!isRecord(d)) return;
        const name = stringAt(domainInput.shape.name, d.name)?.toLowerCase();
        if (name === undefined || !isDomainName(name)) return; // reported by the address pass
        const selectors = [
            stringAt(domainInput.shape.dkimSelector, d.dkimSelector) ?? DEFAULT_DKIM_SELECTOR,
            ...(isRecord(d.dkimRetiredSelectors) ? Object.keys(d.dkimRetiredSelectors) : []),
        ];
        const longest = longestPublishedName(name, selectors);
        if (longest.length > DNS_NAME_LIMIT)
            problems.at(
                ["domains", i, "name"],
                `is too long: mailstack publishes ${longest.slice(0, longest.length - name.length)}<domain> ` +
                    `(${longest.length} characters), and DNS names end at ${DNS_NAME_LIMIT}; ` +
                    `the domain may have at most ${DNS_NAME_LIMIT - (longest.length - name.length)}`,
            );
    });
}

/** A selector signs or is retired, never both. */
function checkDkimSelectors(input: RawConfig, problems: Problems): void {
    if (!Array.isArray(input.domains)) return;
    input.domains.forEach((d: unknown, i) => {
        if (!isRecord(d) || !isRecord(d.dkimRetiredSelectors)) return;
        const signing = typeof d.dkimSelector === "string" ? d.dkimSelector : DEFAULT_DKIM_SELECTOR;
        if (Object.hasOwn(d.dkimRetiredSelectors, signing))
            problems.at(
                ["domains", i, "dkimRetiredSelectors", signing],
                `is the signing selector (dkimSelector); list a selector here only after it stopped signing`,
            );
    });
}

/** The configured domain whose zone holds the hostname, or a problem. */
function checkHostname(input: RawConfig, facts: AddressFacts, problems: Problems): string | undefined {
    const hostname = stringAt(configInput.shape.hostname, input.hostname)?.toLowerCase();
    if (hostname === undefined || !isDomainName(hostname)) return undefined;
    if (facts.domainNames.has(hostname)) {
        problems.at(["hostname"], `"${hostname}" is also a mail domain; use a host inside it, e.g. mail.${hostname}`);
        return undefined;
    }
    const zone = [...facts.domainNames.keys()]
        .filter((n) => hostname.endsWith(`.${n}`))
        .sort((a, b) => b.length - a.length)[0];
    if (!zone && facts.allNamesKnown) {
        problems.at(
            ["hostname"],
            `"${hostname}" is not inside any configured domain, so its A/AAAA records could not be created`,
        );
    }
    return zone;
}

/**
 * `mailstack:imports` against the mailboxes, and `mailstack:importPasswords`: one password per
 * import, for nothing else. The passwords are checked for shape only and never echoed.
 */
function checkImports(input: RawConfig, mailboxes: ReadonlySet<string>, problems: Problems): void {
    const imports = Array.isArray(input.imports) ? input.imports : [];
    const importing = new Map<string, number>(); // mailbox -> first index
    const oauth2 = new Set<string>(); // mailboxes whose import logs in with OAuth2: no password
    const unknownAuth = new Set<string>(); // auth the schema refuses: no password problem said
    imports.forEach((entry: unknown, i) => {
        if (!isRecord(entry)) return; // the schema reports it
        const mailbox = stringAt(importInput.shape.mailbox, entry.mailbox)?.toLowerCase();
        if (mailbox !== undefined) {
            const first = importing.get(mailbox);
            if (!isEmail(mailbox)) problems.at(["imports", i, "mailbox"], `"${mailbox}" is not an email address`);
            else if (!mailboxes.has(mailbox))
                problems.at(
                    ["imports", i, "mailbox"],
                    `${mailbox} is not a configured mailbox (the import fills a mailbox: list it under its domain's mailboxes)`,
                );
            else if (first !== undefined)
                problems.at(
                    ["imports", i, "mailbox"],
                    `${mailbox} is already imported into by mailstack:imports[${first}]: one account per mailbox`,
                );
            else importing.set(mailbox, i);
        }
        const host = stringAt(importInput.shape.host, entry.host);
        if (host !== undefined && !isDomainName(host.toLowerCase()) && isIP(host) === 0)
            problems.at(["imports", i, "host"], `"${host}" is not a host name or IP address`);
        if (entry.auth === "oauth2") {
            if (mailbox !== undefined && importing.get(mailbox) === i) oauth2.add(mailbox);
            if (entry.oauth2 === undefined)
                problems.at(
                    ["imports", i, "oauth2"],
                    'is required with auth: "oauth2": { clientId: "<your app\'s Application (client) ID>" } (README "Moving in")',
                );
        } else if (entry.auth !== undefined && entry.auth !== "password") {
            // The schema reports the value; whether a password is needed cannot be said.
            if (mailbox !== undefined) unknownAuth.add(mailbox);
        } else if (entry.oauth2 !== undefined)
            problems.at(
                ["imports", i, "oauth2"],
                'is only used with auth: "oauth2" (the account logs in with a password)',
            );
        if (isRecord(entry.oauth2)) {
            const o = entry.oauth2;
            const custom = o.provider === "custom";
            for (const key of ["tokenUrl", "deviceUrl", "scope"] as const)
                if (custom && o[key] === undefined)
                    problems.at(["imports", i, "oauth2", key], 'is required with provider: "custom"');
                else if (!custom && o[key] !== undefined)
                    problems.at(
                        ["imports", i, "oauth2", key],
                        'is Microsoft\'s with provider "microsoft" (set provider: "custom" for another provider)',
                    );
            if (custom && o.tenant !== undefined)
                problems.at(["imports", i, "oauth2", "tenant"], 'is only used with provider "microsoft"');
        }
    });
    const passwords = input.importPasswords;
    if (passwords === undefined) {
        for (const [mailbox, i] of importing)
            if (!oauth2.has(mailbox) && !unknownAuth.has(mailbox))
                problems.at(
                    ["importPasswords"],
                    `has no password for ${mailbox} (mailstack:imports[${i}]): pulumi config set --secret --path 'mailstack:importPasswords["${mailbox}"]'`,
                );
        return;
    }
    if (!isRecord(passwords)) {
        problems.at(["importPasswords"], 'must be a map of "mailbox address": "password"');
        return;
    }
    const given = new Map<string, string>(); // lower case -> as written
    for (const [address, password] of Object.entries(passwords)) {
        const path = ["importPasswords", address];
        const lower = address.toLowerCase();
        const first = given.get(lower);
        if (first !== undefined) {
            problems.at(path, `is the same address as ${configPath(["importPasswords", first])}: keep one`);
            continue;
        }
        given.set(lower, address);
        // Never echo the value: it is the old account's password.
        if (!importing.has(lower)) problems.at(path, "is set but mailstack:imports has no entry for this mailbox");
        else if (oauth2.has(lower))
            problems.at(
                path,
                `is set but mailstack:imports[${importing.get(lower)}] logs in with OAuth2 (auth: "oauth2"), which takes no password: remove it`,
            );
        else if (typeof password === "number")
            problems.at(path, "is a number (digits only?): set it as a string with --secret");
        else if (typeof password !== "string" || password.length === 0) problems.at(path, "must be a non-empty string");
        else if (/[\x00-\x1f\x7f]/.test(password)) problems.at(path, "must be one line without control characters");
    }
    for (const [mailbox, i] of importing)
        if (!given.has(mailbox) && !oauth2.has(mailbox) && !unknownAuth.has(mailbox))
            problems.at(
                ["importPasswords"],
                `has no password for ${mailbox} (mailstack:imports[${i}]): pulumi config set --secret --path 'mailstack:importPasswords["${mailbox}"]'`,
            );
}

/**
 * The backup MX: its own host name inside a configured domain (its A/AAAA records), not the
 * primary's, not a name mailstack publishes already; and another location than the primary's.
 * The same location is an error, not a warning: a backup MX exists for the hours its
 * primary's location is out (Hetzner's incidents are per location: its network, its power),
 * and beside the primary it shares exactly that failure, at the same price as elsewhere.
 */
function checkSecondaryMx(input: RawConfig, facts: AddressFacts, problems: Problems): string | undefined {
    const given = input.secondaryMx;
    if (!isRecord(given)) return undefined;
    const shape = secondaryMxInput.shape;
    const primaryLocation = isRecord(input.server)
        ? stringAt(serverInput.shape.location, input.server.location)
        : serverInput.shape.location.parse(undefined);
    const location = stringAt(shape.location, given.location);
    if (location !== undefined && primaryLocation !== undefined && location === primaryLocation)
        problems.at(
            ["secondaryMx", "location"],
            `is the primary's location (mailstack:server.location ${primaryLocation}); a backup MX must be elsewhere ` +
                "(another of Hetzner's locations, e.g. fsn1, nbg1, hel1), or an outage of that location stops both",
        );
    const image = stringAt(shape.image, given.image) ?? SUPPORTED_IMAGE;
    if (image !== SUPPORTED_IMAGE)
        problems.at(
            ["secondaryMx", "image"],
            `"${image}" is not supported: the server configuration targets exactly ${SUPPORTED_IMAGE}`,
        );
    const hostname = stringAt(shape.hostname, given.hostname)?.toLowerCase();
    if (hostname === undefined) return undefined;
    if (!isDomainName(hostname)) {
        problems.at(["secondaryMx", "hostname"], `"${hostname}" is not a valid host name`);
        return undefined;
    }
    const primary = stringAt(configInput.shape.hostname, input.hostname)?.toLowerCase();
    if (hostname === primary) {
        problems.at(["secondaryMx", "hostname"], `"${hostname}" is the primary's hostname; give the backup MX its own`);
        return undefined;
    }
    const zone = [...facts.domainNames.keys()]
        .filter((n) => hostname.endsWith(`.${n}`))
        .sort((a, b) => b.length - a.length)[0];
    if (facts.domainNames.has(hostname) || (!zone && facts.allNamesKnown)) {
        problems.at(
            ["secondaryMx", "hostname"],
            `"${hostname}" must be a host inside a configured domain (not the domain itself), e.g. mx2.<domain>, so its A/AAAA records can be created`,
        );
        return undefined;
    }
    if (zone && publishedNames(zone, []).includes(hostname)) {
        problems.at(["secondaryMx", "hostname"], `"${hostname}" is a name mailstack publishes already; choose another`);
        return undefined;
    }
    return zone;
}

/**
 * Validate the stack config and build the MailSpec, or throw a ConfigError that lists
 * every problem with its key path (`mailstack:domains[1].aliases.admin[0]: ...`).
 *
 * Every key is checked on its own, so one bad key never hides another's problems; a check
 * is skipped only when its own inputs are invalid (that problem is already reported).
 */
export function buildSpec(config: RawConfig): MailSpec {
    const raw = withSecretsSet(config);
    const { passwords, hasRelayPassword, backupSecretsSet, secretValues, ...shaped } = raw;
    const problems = new Problems();
    // The secrets' values are parsed for their shape only; the schema's messages never echo a value.
    const parsed = configInput.safeParse({ ...shaped, ...secretValues });
    if (!parsed.success) parsed.error.issues.forEach((i) => problems.at(i.path, i.message));
    checkSettings(raw, problems);
    checkDkimSelectors(raw, problems);
    checkMailboxMaps(raw, problems);
    checkNameLengths(raw, problems);
    checkBackup(raw, problems);
    checkSpamFilter(raw.spamFilter, problems);
    checkSenderLimits(raw.submissionLimit, raw.senders, problems);
    const facts = checkAddresses(raw.domains, raw.senders, passwords, problems);
    checkImports(raw, facts.mailboxes, problems);
    const hostnameDomain = checkHostname(raw, facts, problems);
    const secondaryHostnameDomain = checkSecondaryMx(raw, facts, problems);

    const found = problems.sorted();
    if (found.length > 0 || !parsed.success || hostnameDomain === undefined) throw new ConfigError(found);
    const cfg = parsed.data;
    const domains: DomainSpec[] = cfg.domains.map((d) => {
        const name = d.name.toLowerCase();
        // A Map: a mailbox named like an object property (constructor) must not find Object's.
        const quotas = new Map(Object.entries(d.mailboxQuotas).map(([m, q]) => [m.toLowerCase(), q]));
        return {
            name,
            ...(d.zoneId ? { zoneId: d.zoneId } : {}),
            mailboxes: d.mailboxes.map((m) => `${m.toLowerCase()}@${name}`),
            mailboxQuotas: Object.fromEntries(
                d.mailboxes.map((m) => [`${m.toLowerCase()}@${name}`, quotas.get(m.toLowerCase()) ?? d.quota]),
            ),
            passwordResets: Object.fromEntries(
                Object.entries(d.passwordResets).map(([m, marker]) => [`${m.toLowerCase()}@${name}`, marker]),
            ),
            aliases: Object.entries(d.aliases).map(([a, targets]) => ({
                address: `${a.toLowerCase()}@${name}`,
                targets: targets.map((t) => t.toLowerCase()),
            })),
            ...(d.catchAll !== undefined ? { catchAll: `${d.catchAll.toLowerCase()}@${name}` } : {}),
            dkimSelector: d.dkimSelector,
            dkimRetired: Object.entries(d.dkimRetiredSelectors)
                .map(([selector, until]) => ({ selector, until }))
                .sort((a, b) => a.selector.localeCompare(b.selector)),
            spfExtra: d.spf.extra.map(canonicalSpfMechanism),
            dmarc: { policy: d.dmarc.policy, rua: d.dmarc.rua ?? `postmaster@${name}` },
            takeOverRecords: d.takeOverRecords,
        };
    });
    return {
        hostname: cfg.hostname.toLowerCase(),
        hostnameDomain,
        acmeEmail: cfg.acmeEmail,
        acmeServer: cfg.acmeServer,
        acmeCaaIdentity: cfg.acmeCaaIdentity ?? caaIdentityOf(cfg.acmeServer)!,
        server: cfg.server,
        ...(cfg.secondaryMx && secondaryHostnameDomain
            ? {
                  secondaryMx: {
                      hostname: cfg.secondaryMx.hostname.toLowerCase(),
                      hostnameDomain: secondaryHostnameDomain,
                      server: {
                          type: cfg.secondaryMx.type,
                          location: cfg.secondaryMx.location,
                          image: cfg.secondaryMx.image,
                      },
                      queueVolumeSizeGb: cfg.secondaryMx.queueVolumeSizeGb,
                  },
              }
            : {}),
        // As Hetzner stores them (RFC 5952), so that no up shows a firewall diff.
        sshAllowedCidrs: cfg.sshAllowedCidrs.map(cidrNetwork),
        domains,
        senders: cfg.senders.map((a) => a.toLowerCase()),
        ...(cfg.relay
            ? {
                  relay: {
                      host: cfg.relay.host.toLowerCase(),
                      port: cfg.relay.port,
                      username: cfg.relay.username,
                      ...(cfg.relay.tlsFingerprint
                          ? { tlsFingerprint: canonicalFingerprint(cfg.relay.tlsFingerprint) }
                          : {}),
                  },
              }
            : {}),
        mailVolumeSizeGb: cfg.mailVolumeSizeGb,
        messageSizeLimitBytes: cfg.messageSizeLimitMb * 1024 * 1024,
        spamFilter: cfg.spamFilter,
        autoExpunge: cfg.autoExpunge,
        submissionLimit: {
            recipientsPerHour: cfg.submissionLimit.recipientsPerHour,
            senders: Object.fromEntries(
                Object.entries(cfg.submissionLimit.senders).map(([a, limit]) => [a.toLowerCase(), limit]),
            ),
        },
        rollout: cfg.rollout.newDomainsPerUp !== undefined ? { newDomainsPerUp: cfg.rollout.newDomainsPerUp } : {},
        mtaStsMode: cfg.mtaSts.mode,
        webmail: cfg.webmail,
        dav: cfg.dav,
        resolverForward: cfg.resolver?.forward ?? [],
        resolverSignedZones: (cfg.resolver?.signedZones ?? []).map((z) => ({
            name: z.name.toLowerCase().replace(/\.$/, ""),
            servers: z.servers,
            ds: z.ds.map((d) => d.toLowerCase()),
        })),
        ...(cfg.backup ? { backup: backupSpec(cfg.backup) } : {}),
        imports: (cfg.imports ?? []).map((i): ImportSpec => ({
            mailbox: i.mailbox.toLowerCase(),
            host: i.host.toLowerCase(),
            port: i.port,
            tls: i.tls,
            user: i.user,
            ...(i.auth === "oauth2" && i.oauth2 ? { oauth2: importOAuth2Spec(i.oauth2) } : {}),
        })),
    };
}
