// What a server's user-data must not hold: Hetzner's metadata service hands it to any process
// on the machine that asks, and it stays in the stack state and the provider's records. This
// reads the `#cloud-config` document the way cloud-init does (write_files decoded as their
// `encoding` says) and lists every private key, password hash and password it finds, with
// where it is.

import { gunzipSync } from "zlib";
import { parseAllDocuments } from "yaml";
import { unpackArchive } from "./archive";

export type SecretKind = "private-key" | "password-hash" | "password";

export interface SecretFinding {
    /**
     * Where it is: `write_files:<path>` for a file's (decoded) content, else the cloud-config
     * key path, e.g. `ssh_keys.ed25519_private` or `users[0].passwd`.
     */
    readonly location: string;
    readonly kind: SecretKind;
    /** What was seen, never the secret itself. */
    readonly what: string;
}

/** A secret the user-data may hold on purpose: exactly this location, only these kinds. */
export interface AllowedSecret {
    readonly location: string;
    readonly kinds: readonly SecretKind[];
    /** Why it is acceptable, for the reviewer (e.g. "replaced by the first provisioning step"). */
    readonly why: string;
}

/**
 * The reviewed exceptions, each one exact location and the kinds allowed there; anything
 * else stays a violation (the same key in a write_files entry, a password hash at this
 * location, ...). Adding one is a decision for review: test/policy.test.ts pins this list.
 */
export const USER_DATA_ALLOWED_SECRETS: readonly AllowedSecret[] = [
    {
        location: "ssh_keys.ed25519_private",
        kinds: ["private-key"],
        why:
            "the provisional SSH host key (render/boot/cloud-config.ts, README 'What is trusted, and when'): the " +
            "deploy pins it for the first connection, the host-key step replaces it on the server before any " +
            "secret is sent, and only root may reach the metadata service meanwhile",
    },
];

export interface UserDataScan {
    readonly findings: readonly SecretFinding[];
    /** Why (part of) the user-data could not be inspected; each is a violation of its own. */
    readonly problems: readonly string[];
}

const TEXT_PATTERNS: readonly { readonly kind: SecretKind; readonly what: string; readonly re: RegExp }[] = [
    // "openssh-key-v1" in base64 is the body of an OpenSSH private key, armour or not.
    {
        kind: "private-key",
        what: "an OpenSSH private key",
        re: /-----BEGIN OPENSSH PRIVATE KEY-----|b3BlbnNzaC1rZXktdjE/,
    },
    { kind: "private-key", what: "a PEM private key", re: /-----BEGIN (?!OPENSSH )(?:[A-Z0-9]+ )*PRIVATE KEY-----/ },
    { kind: "private-key", what: "a PuTTY private key", re: /PuTTY-User-Key-File-\d+:/ },
    { kind: "password-hash", what: "a bcrypt hash ($2a$/$2b$/$2y$)", re: /\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{20,}/ },
    {
        kind: "password-hash",
        what: "a crypt(3) hash ($1$/$5$/$6$)",
        re: /\$[156]\$(?:rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{16,}/,
    },
    {
        kind: "password-hash",
        what: "a yescrypt hash ($y$)",
        re: /\$(?:y|gy|7)\$[./A-Za-z0-9]+\$[./A-Za-z0-9]*\$[./A-Za-z0-9]{16,}/,
    },
    // Dovecot's passwd-file form: the scheme, then the hash itself (a comment's "{BLF-CRYPT}hash" is none).
    {
        kind: "password-hash",
        what: "a Dovecot password with its scheme ({BLF-CRYPT}, {PLAIN}, ...)",
        re: /\{(?:(?:BLF|SHA512|SHA256|MD5|DES)-)?CRYPT\}\$|\{ARGON2ID?\}\$argon2|\{(?:S?SHA(?:1|256|512)?|S?MD5|PBKDF2|CRAM-MD5)(?:\.[A-Z0-9]+)?\}[A-Za-z0-9+/$.=]{16,}|\{(?:PLAIN|CLEARTEXT)(?:\.[A-Z0-9]+)?\}[^\s:]+/i,
    },
];

/**
 * `password = x`, `relay_password: x`, `smtpPassword="x"`, `pass=x`: a key that ends in
 * password/passwd/passphrase (or is `pass`), then `=` or `:` and a value. Keys that merely
 * contain the word (`smtp_sasl_password_maps`, `default_password_scheme`, `PasswordAuthentication
 * no`) are not assignments of a password.
 */
const PASSWORD_ASSIGNMENT =
    /(?:^|[^A-Za-z0-9_.-])([A-Za-z0-9_.-]*(?:password|passwd|passphrase)|pass)["']?[ \t]*[:=][ \t]*(.*)$/i;

/** A value that names another value instead of being one: `$VAR`, `${VAR}`, `$1`, `$(cmd)`, `%{var}`, `{{ var }}`. */
const REFERENCE = /^(?:\$\{?(?:[A-Za-z_][A-Za-z0-9_]*|\d+)\}?|\$\(.*\)|%\{[^}]*\}|\{\{.*\}\})$/;

function unquote(value: string): string {
    const v = value.trim().replace(/[;,]$/, "").trim();
    const m = /^(["'])(.*)\1$/.exec(v);
    return m ? m[2] : v;
}

function isPasswordValue(raw: string): boolean {
    const v = unquote(raw);
    return v !== "" && !REFERENCE.test(v);
}

/** Every secret in a piece of text (a file's content or one string of the cloud-config). */
export function scanText(text: string, location: string): SecretFinding[] {
    const found: SecretFinding[] = TEXT_PATTERNS.filter((p) => p.re.test(text)).map((p) => ({
        location,
        kind: p.kind,
        what: p.what,
    }));
    for (const line of text.split("\n")) {
        const m = PASSWORD_ASSIGNMENT.exec(line);
        if (m && isPasswordValue(m[2])) found.push({ location, kind: "password", what: `a value for "${m[1]}"` });
    }
    return found;
}

/** cloud-config keys that hold a password or private key by their name alone. */
const PASSWORD_KEY = /(?:^|[_.-])(?:password|passwd|passphrase)$|[a-z]Password$|^pass$/i;
const PRIVATE_KEY_KEY = /(?:^|[_.-])private(?:[_.-]?key)?$|[a-z]PrivateKey$/i;

function keyFindings(key: string, value: unknown, location: string): SecretFinding[] {
    const filled = (typeof value === "string" && value.trim() !== "") || typeof value === "number";
    if (!filled) return [];
    if (PASSWORD_KEY.test(key)) return [{ location, kind: "password", what: `a value for the key "${key}"` }];
    if (PRIVATE_KEY_KEY.test(key)) return [{ location, kind: "private-key", what: `a value for the key "${key}"` }];
    return [];
}

/** The encodings cloud-init's write_files takes (cc_write_files.py), in our terms. */
const ENCODINGS: Record<string, { base64: boolean; gzip: boolean }> = {
    "": { base64: false, gzip: false },
    "text/plain": { base64: false, gzip: false },
    b64: { base64: true, gzip: false },
    base64: { base64: true, gzip: false },
    gz: { base64: false, gzip: true },
    gzip: { base64: false, gzip: true },
    "gz+b64": { base64: true, gzip: true },
    "gz+base64": { base64: true, gzip: true },
    "gzip+b64": { base64: true, gzip: true },
    "gzip+base64": { base64: true, gzip: true },
};

/** A write_files entry's content as the file will hold it, or why it cannot be read. */
export function decodeWriteFile(entry: Record<string, unknown>): { text: string; bytes: Buffer } | { problem: string } {
    const content = entry.content ?? "";
    const encoding = String(entry.encoding ?? "")
        .trim()
        .toLowerCase();
    const how = ENCODINGS[encoding];
    if (!how) return { problem: `has encoding "${encoding}", which cloud-init does not know` };
    let bytes: Buffer;
    if (content instanceof Uint8Array) bytes = Buffer.from(content);
    else if (typeof content === "string") bytes = how.base64 ? Buffer.from(content, "base64") : Buffer.from(content);
    else return { problem: "has a content that is not text" };
    try {
        const decoded = how.gzip ? gunzipSync(bytes) : bytes;
        return { text: decoded.toString("utf8"), bytes: decoded };
    } catch (e) {
        return { problem: `is not valid ${encoding} content (${(e as Error).message})` };
    }
}

function walk(value: unknown, location: string, out: SecretFinding[]): void {
    if (typeof value === "string") {
        out.push(...scanText(value, location));
    } else if (Array.isArray(value)) {
        value.forEach((v, i) => walk(v, `${location}[${i}]`, out));
    } else if (value !== null && typeof value === "object" && !(value instanceof Uint8Array)) {
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
            const at = location ? `${location}.${k}` : k;
            out.push(...scanText(k, at), ...keyFindings(k, v, at));
            walk(v, at, out);
        }
    }
}

/** Reads the user-data as cloud-init would and lists every secret in it. */
export function scanUserData(userData: string): UserDataScan {
    const firstLine = userData.split("\n", 1)[0];
    if (!/^#cloud-config[ \t\r]*$/.test(firstLine))
        return {
            findings: [],
            problems: [
                `does not start with "#cloud-config" (it starts with "${firstLine.slice(0, 40)}"), so it cannot be inspected`,
            ],
        };
    const docs = parseAllDocuments(userData);
    if (!Array.isArray(docs) || docs.length !== 1 || docs[0].errors.length > 0) {
        const errors = Array.isArray(docs) ? docs.flatMap((d) => d.errors.map((e) => e.message)) : [];
        return {
            findings: [],
            problems: [
                `is not one valid YAML document${errors.length ? `: ${errors[0]}` : ""}, so it cannot be inspected`,
            ],
        };
    }
    const config: unknown = docs[0].toJS();
    if (config === null || config === undefined) return { findings: [], problems: [] };
    if (typeof config !== "object" || Array.isArray(config))
        return { findings: [], problems: ["is not a YAML mapping, so it cannot be inspected"] };

    const findings: SecretFinding[] = [];
    const problems: string[] = [];
    const { write_files: writeFiles, ...rest } = config as Record<string, unknown>;
    walk(rest, "", findings);
    if (writeFiles !== undefined && !Array.isArray(writeFiles)) problems.push("has a write_files that is not a list");
    (Array.isArray(writeFiles) ? writeFiles : []).forEach((entry: unknown, i) => {
        if (entry === null || typeof entry !== "object") {
            problems.push(`write_files[${i}] is not a mapping`);
            return;
        }
        const { content: _content, ...fields } = entry as Record<string, unknown>;
        walk(fields, `write_files[${i}]`, findings);
        const path = typeof fields.path === "string" ? fields.path : `#${i}`;
        const decoded = decodeWriteFile(entry as Record<string, unknown>);
        if ("problem" in decoded) problems.push(`write_files ${path} ${decoded.problem}`);
        else if (decoded.bytes[0] === 0x1f && decoded.bytes[1] === 0x8b) {
            // A .tar.gz (the first-boot files, render/boot/archive.ts): each file as it lands on disk.
            try {
                for (const m of unpackArchive(decoded.bytes))
                    findings.push(...scanText(m.content, `write_files:${m.path}`));
            } catch (e) {
                problems.push(
                    `write_files ${path} is gzip data but not an archive mailstack can read (${(e as Error).message})`,
                );
            }
        } else findings.push(...scanText(decoded.text, `write_files:${path}`));
    });
    // One finding per location, kind and description.
    const seen = new Set<string>();
    const unique = findings.filter((f) => {
        const key = `${f.location}\u0000${f.kind}\u0000${f.what}`;
        return seen.has(key) ? false : (seen.add(key), true);
    });
    return { findings: unique, problems };
}

/** The findings no entry of `allowed` covers (same location, a kind it names). */
export function disallowed(findings: readonly SecretFinding[], allowed: readonly AllowedSecret[]): SecretFinding[] {
    return findings.filter((f) => !allowed.some((a) => a.location === f.location && a.kinds.includes(f.kind)));
}
