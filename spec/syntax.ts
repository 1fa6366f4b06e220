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

/** The network of a CIDR with host bits, for the error message: `203.0.113.7/24` -> `203.0.113.0/24`. */
export function cidrNetwork(value: string): string {
    const [addr, bitsText] = value.split("/");
    const bits = Number(bitsText);
    const v4 = isIPv4(addr);
    const width = v4 ? 32 : 128;
    const n = addressBits(addr) & ~((1n << BigInt(width - bits)) - 1n);
    if (v4) return `${[24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join(".")}/${bits}`;
    const groups = Array.from({ length: 8 }, (_, i) => ((n >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
    // Compress the longest run of zero groups, as RFC 5952 writes it.
    const text = groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
    return `${text.replace(/:{3,}/, "::")}/${bits}`;
}
