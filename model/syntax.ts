// Syntax of the values mail cares about. Node's `net` knows IP addresses; what is written
// here is where mail's rules are stricter than a generic validator: LDH labels, the local
// parts we create, and CIDRs without host bits (Hetzner refuses those).

import { isIP, isIPv4 } from "node:net";

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

export { isIPv4 };

/** The address as 32 or 128 bits, for prefix arithmetic. */
function addressBits(addr: string): bigint {
    if (isIPv4(addr)) return addr.split(".").reduce((n, p) => (n << 8n) | BigInt(Number(p)), 0n);
    // Expand "::" and an embedded IPv4 tail into eight 16-bit groups.
    let text = addr;
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
    if (v4) {
        const n = Number(addressBits(v4[1]));
        text = `${text.slice(0, v4.index)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
    }
    const [head, tail] = text.split("::");
    const groups = (s: string | undefined) => (s ? s.split(":") : []);
    const h = groups(head);
    const t = groups(tail);
    const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
    return all.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

export type CidrProblem = "syntax" | "host-bits";

/**
 * Why a CIDR is not one Hetzner's firewall accepts, or undefined when it is fine:
 * `203.0.113.7/32` and `2001:db8::/48` are, `203.0.113.7/24` has host bits set.
 */
export function cidrProblem(value: string): CidrProblem | undefined {
    const m = /^([^/]+)\/(\d{1,3})$/.exec(value);
    if (!m) return "syntax";
    const family = isIP(m[1]);
    const width = family === 4 ? 32 : 128;
    // node accepts zone ids (fe80::1%eth0); a firewall rule cannot use them.
    if (family === 0 || m[1].includes("%")) return "syntax";
    const bits = Number(m[2]);
    if (bits > width || m[2] !== String(bits)) return "syntax";
    const hostMask = (1n << BigInt(width - bits)) - 1n;
    return (addressBits(m[1]) & hostMask) === 0n ? undefined : "host-bits";
}

export function isCidr(value: string): boolean {
    return cidrProblem(value) === undefined;
}

/** Four octets or eight 16-bit groups as text: dotted quad, or RFC 5952 (lower case, "::" for the longest zero run). */
function addressText(n: bigint, v4: boolean): string {
    if (v4) return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join(".");
    const groups = Array.from({ length: 8 }, (_, i) => (n >> BigInt(112 - 16 * i)) & 0xffffn);
    // RFC 5952 4.2: the longest run of two or more zero groups, the first of equal runs.
    let run = { at: -1, length: 1 };
    for (let i = 0; i < 8; i++) {
        let j = i;
        while (j < 8 && groups[j] === 0n) j++;
        if (j - i > run.length) run = { at: i, length: j - i };
        i = j;
    }
    const hex = groups.map((g) => g.toString(16));
    if (run.at < 0) return hex.join(":");
    return `${hex.slice(0, run.at).join(":")}::${hex.slice(run.at + run.length).join(":")}`;
}

/** An IP address as Hetzner and `ip` print it: `2001:DB8:0:0::1` -> `2001:db8::1`. */
export function canonicalAddress(addr: string): string {
    return addressText(addressBits(addr), isIPv4(addr));
}

/**
 * The network of a CIDR, as Hetzner stores it (RFC 5952 for IPv6): `203.0.113.7/24` ->
 * `203.0.113.0/24`, `2001:DB8:0:0::/48` -> `2001:db8::/48`. For a valid CIDR, its canonical form.
 */
export function cidrNetwork(value: string): string {
    const [addr, bitsText] = value.split("/");
    const bits = Number(bitsText);
    const v4 = isIPv4(addr);
    const width = v4 ? 32 : 128;
    return `${addressText(addressBits(addr) & ~((1n << BigInt(width - bits)) - 1n), v4)}/${bits}`;
}

/**
 * The shortest prefixes that a single network can hold: anything wider covers a large part
 * of the internet (0.0.0.0/0 and ::/0 all of it). IANA hands out IPv4 /8 and IPv6 /12 to
 * /16 at most; nobody's own senders or deployers need more.
 */
const WIDEST_PREFIX = { 4: 8, 6: 16 } as const;

/** Whether a prefix length of this address family covers more than any one network. */
export function isOverBroadPrefix(family: 4 | 6, bits: number): boolean {
    return bits < WIDEST_PREFIX[family];
}

/** Whether a valid CIDR covers (a large part of) the whole internet: `0.0.0.0/0`, `::/0`, `0.0.0.0/1`. */
export function isOverBroadCidr(value: string): boolean {
    const [addr, bits] = value.split("/");
    return isOverBroadPrefix(isIPv4(addr) ? 4 : 6, Number(bits));
}

// One SPF mechanism (RFC 7208 5): an optional qualifier, a name, an argument. `all` is not
// one of them: mailstack ends the record with -all itself.
const SPF_MECHANISM = /^([+~?-]?)(a|mx|ip4|ip6|include|exists|ptr)((?:[:/])[^\s"\\]+)?$/;
const SPF_SYNTAX = "must be one SPF mechanism such as include:_spf.example.net or ip4:192.0.2.1";

/** An `ip4:`/`ip6:` argument: an address with an optional prefix length. */
function spfNetwork(family: 4 | 6, arg: string): { address: string; bits: number } | undefined {
    const m = /^:([^/]+)(?:\/(\d{1,3}))?$/.exec(arg);
    if (!m || isIP(m[1]) !== family || m[1].includes("%")) return undefined;
    const bits = m[2] === undefined ? (family === 4 ? 32 : 128) : Number(m[2]);
    return bits <= (family === 4 ? 32 : 128) && (m[2] === undefined || m[2] === String(bits))
        ? { address: m[1], bits }
        : undefined;
}

/**
 * Why an SPF mechanism for `spf.extra` is refused, or undefined: bad syntax, quotes or
 * backslashes (they cannot be published in a TXT record as written), or a range that lets
 * (most of) the internet send as the domain: `ip4:0.0.0.0/0`, `ip6:::/0`, `a/0`.
 */
export function spfMechanismProblem(value: string): string | undefined {
    if (/^[+~?-]?all$/i.test(value))
        return `"${value}" is not allowed: mailstack ends the record with -all itself (+all or ?all would let the whole internet send as this domain)`;
    const m = SPF_MECHANISM.exec(value);
    if (!m) return value.includes("\\") ? `${SPF_SYNTAX} (no backslash)` : SPF_SYNTAX;
    const [, , name, arg = ""] = m;
    const broad = `"${value}" lets (most of) the whole internet send as this domain: list your senders' own networks`;
    if (name === "ip4" || name === "ip6") {
        const family = name === "ip4" ? 4 : 6;
        const net = spfNetwork(family, arg);
        if (!net) return `${SPF_SYNTAX}: ${name}: needs an IPv${family} address, optionally /prefix`;
        return isOverBroadPrefix(family, net.bits) ? broad : undefined;
    }
    // a and mx take a dual CIDR length: a/24, a:host//64, mx/24//64.
    const dual = /(?:\/(\d+))?(?:\/\/(\d+))?$/.exec(arg)!;
    if ((name === "a" || name === "mx") && dual[0] !== "") {
        const v4 = dual[1] === undefined ? 32 : Number(dual[1]);
        const v6 = dual[2] === undefined ? 128 : Number(dual[2]);
        if (v4 > 32 || v6 > 128) return SPF_SYNTAX;
        if (isOverBroadPrefix(4, v4) || isOverBroadPrefix(6, v6)) return broad;
    }
    return undefined;
}

/** An SPF mechanism with its ip4/ip6 address in canonical form: `ip6:2001:DB8::/32` -> `ip6:2001:db8::/32`. */
export function canonicalSpfMechanism(value: string): string {
    const m = /^([+~?-]?ip[46]:)([^/]+)(\/\d+)?$/.exec(value);
    return m ? `${m[1]}${canonicalAddress(m[2])}${m[3] ?? ""}` : value;
}

/** An OpenSSH or PEM private key, armour and all; the body is base64 lines. */
const PRIVATE_KEY = /^-----BEGIN ((?:OPENSSH |RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY)-----\n([^]*?)\n?-----END \1-----$/;
const OPENSSH_MAGIC = "openssh-key-v1\0";

/**
 * Why a value is not a private key that ssh can use unattended, or undefined. Only the
 * shape is judged (and an OpenSSH key's cipher name): the key itself is never echoed.
 */
export function privateKeyProblem(value: string): string | undefined {
    const shape =
        "must be an unencrypted OpenSSH or PEM private key as ssh-keygen writes it (-----BEGIN OPENSSH PRIVATE KEY----- ... -----END OPENSSH PRIVATE KEY-----)";
    const passphrase =
        "is protected with a passphrase, which the unattended backup cannot type: remove it (ssh-keygen -p)";
    const m = PRIVATE_KEY.exec(value.replace(/\r\n/g, "\n").trim());
    if (!m) return shape;
    const [, label, body] = m;
    if (label === "ENCRYPTED PRIVATE KEY" || /^Proc-Type: 4,ENCRYPTED$/m.test(body)) return passphrase;
    if (!/^[A-Za-z0-9+/=\n]+$/.test(body)) return shape;
    if (label !== "OPENSSH PRIVATE KEY") return undefined;
    // openssh-key-v1: the magic, then the cipher name as an SSH string (uint32 length, bytes).
    const bytes = Buffer.from(body.replace(/\n/g, ""), "base64");
    if (bytes.subarray(0, OPENSSH_MAGIC.length).toString("latin1") !== OPENSSH_MAGIC || bytes.length < 19) return shape;
    const length = bytes.readUInt32BE(OPENSSH_MAGIC.length);
    const cipher = bytes.subarray(OPENSSH_MAGIC.length + 4, OPENSSH_MAGIC.length + 4 + length).toString("latin1");
    return cipher === "none" ? undefined : passphrase;
}

/** A certificate's SHA-256 fingerprint: 32 hex bytes, with colons (as openssl prints it) or without. */
export const SHA256_FINGERPRINT = /^(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{64}$/;

/** A SHA-256 fingerprint as Postfix and openssl print it: upper-case hex bytes separated by colons. */
export function canonicalFingerprint(value: string): string {
    return value
        .replace(/:/g, "")
        .toUpperCase()
        .replace(/(..)(?!$)/g, "$1:");
}
