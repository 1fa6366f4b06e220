// The checks from outside, as a receiving provider sees the server: reverse DNS, every mail
// port on both addresses, TLS and the certificate, STARTTLS, no AUTH on 25, no relaying.

import { reverseName } from "../render/dns/text";
import { port, TLS_SERVICES } from "../model/services";
import { canonicalIp, type Lookup } from "./dns";
import { RESOLVER_FIX } from "./records";
import { sieveCapabilities } from "../wire/sieve";
import { ehloKeywords } from "../wire/smtp";
import type { TlsFacts } from "../wire/tls";
import { implicitTls, sieveSession, smtpSession, startTls, type Endpoint } from "./probe";
import { fail, ok, warn, type Check } from "./types";

export interface Target {
    readonly hostname: string;
    readonly ipv4: string;
    readonly ipv6: string;
    readonly ca?: readonly string[];
    /** A certificate with fewer days left fails (certbot renews at 30). */
    readonly minCertDays: number;
}

const families = (t: Target) =>
    [
        ["IPv4", t.ipv4, "A"],
        ["IPv6", t.ipv6, "AAAA"],
    ] as const;

/** Forward-confirmed reverse DNS (FCrDNS) of each address: PTR is the hostname, whose A/AAAA is the address. */
export function reverseDnsChecks(t: Target, lookup: Lookup): Check[] {
    return families(t).map(([family, ip, type]) => ({
        check: `fcrdns ${family} ${ip}`,
        onError: RESOLVER_FIX,
        run: async () => {
            const names = await lookup(reverseName(ip), "PTR");
            const fix = `set the ${family} reverse DNS of ${ip} to ${t.hostname} (pulumi up does; Hetzner console, Networking, Primary IPs)`;
            if (names.length === 0) return fail(`${ip} has no PTR record`, fix);
            if (names.length > 1 || names[0] !== t.hostname.toLowerCase())
                return fail(`PTR of ${ip} is ${names.join(", ")}, not ${t.hostname}`, fix);
            const forward = (await lookup(t.hostname, type)).map(canonicalIp);
            if (!forward.includes(canonicalIp(ip)))
                return fail(
                    `PTR ${t.hostname} resolves to ${forward.join(", ") || "nothing"}, not back to ${ip}`,
                    `publish ${t.hostname} ${type} ${ip} (pulumi up --refresh)`,
                );
            return ok(`${ip} -> ${t.hostname} -> ${ip}`);
        },
    }));
}

/** The certificate and protocol, as one line or a problem. */
function judgeTls(tls: TlsFacts, t: Target, where: string): ReturnType<typeof ok> | ReturnType<typeof fail> {
    const days = Math.floor((tls.validTo.getTime() - Date.now()) / 86_400_000);
    if (!["TLSv1.2", "TLSv1.3"].includes(tls.protocol))
        return fail(
            `${where}: negotiated ${tls.protocol || "no TLS"}`,
            "TLS 1.2 or newer only (the rendered main.cf/dovecot.conf)",
        );
    if (tls.verifyError)
        return fail(
            `${where}: certificate ${tls.subject ? `for ${tls.subject} ` : ""}not valid for ${t.hostname}: ${tls.verifyError}`,
            "run pulumi up (the certificate step); certbot certificates on the server shows what it has",
        );
    if (days < t.minCertDays)
        return fail(
            `${where}: certificate expires in ${days} day(s) (${tls.validTo.toISOString().slice(0, 10)})`,
            "renewal is failing: journalctl -u certbot -n 50 on the server, then certbot renew",
        );
    return ok(`${where}: ${tls.protocol}, certificate valid ${days} more days`);
}

/** An implicit-TLS port (465, 993, 995): the handshake and the certificate. */
export async function implicitTlsCheck(e: Endpoint, t: Target, signal: AbortSignal) {
    return judgeTls(await implicitTls(e, signal), t, "TLS");
}

/**
 * A STARTTLS port (25, 587): STARTTLS offered, the handshake and the certificate; port 25
 * never offers AUTH (neither before nor after STARTTLS), submission offers it after.
 */
export async function starttlsCheck(e: Endpoint, t: Target, signal: AbortSignal, mx: boolean) {
    const session = await smtpSession(e, signal);
    try {
        const before = ehloKeywords((await session.reply("EHLO doctor.mailstack.invalid")).lines);
        if (!before.includes("STARTTLS"))
            return fail("no STARTTLS offered", "the rendered main.cf sets smtpd_tls_security_level");
        if (mx && before.includes("AUTH"))
            return fail("port 25 offers AUTH", "port 25 is for other servers; logins belong on 587/465");
        const starttls = await session.reply("STARTTLS");
        if (starttls.code !== 220)
            return fail(`STARTTLS answered ${starttls.code}`, "postfix check; journalctl -u postfix");
        const tls = await startTls(session, e);
        const after = ehloKeywords((await session.reply("EHLO doctor.mailstack.invalid")).lines);
        const judged = judgeTls(tls, t, "STARTTLS");
        if (judged.status !== "ok") return judged;
        if (mx && after.includes("AUTH"))
            return fail("port 25 offers AUTH after STARTTLS", "port 25 is for other servers; logins belong on 587/465");
        if (!mx && !after.includes("AUTH"))
            return warn(
                `${judged.detail}, but no AUTH after STARTTLS`,
                "journalctl -u postfix -u dovecot (the SASL socket)",
            );
        return judged;
    } finally {
        session.close();
    }
}

/**
 * ManageSieve (4190): STARTTLS offered and no login before it (a password must never cross
 * in clear), the handshake and the certificate, and PLAIN offered inside TLS (RFC 5804).
 */
export async function managesieveCheck(e: Endpoint, t: Target, signal: AbortSignal) {
    const { session, capabilities: before } = await sieveSession(e, signal);
    try {
        if (!("STARTTLS" in before))
            return fail(
                "no STARTTLS offered",
                "the rendered dovecot.conf (ssl = required) and the managesieve protocol",
            );
        if ((before.SASL ?? "").trim() !== "")
            return fail(
                `logins offered before STARTTLS (SASL ${before.SASL})`,
                "the rendered dovecot.conf: auth_allow_cleartext = no, ssl = required",
            );
        const starttls = await session.reply("STARTTLS");
        if (starttls.status !== "OK")
            return fail(`STARTTLS answered ${starttls.status}`, "doveconf -n; journalctl -u dovecot");
        const tls = await startTls(session, e);
        // RFC 5804 2.2: the server sends its capabilities again, now inside TLS.
        const after = sieveCapabilities(await session.reply());
        const judged = judgeTls(tls, t, "STARTTLS");
        if (judged.status !== "ok") return judged;
        if (!(after.SASL ?? "").toUpperCase().split(/\s+/).includes("PLAIN"))
            return warn(`${judged.detail}, but no PLAIN login inside TLS`, "journalctl -u dovecot (auth)");
        return judged;
    } finally {
        session.close();
    }
}

/** Each TLS port of the services table (or of `services`: the backup MX's port 25) on each address. */
export function portChecks(t: Target, services: readonly (typeof TLS_SERVICES)[number][] = TLS_SERVICES): Check[] {
    return services.flatMap((s) =>
        families(t).map(([family, address]): Check => ({
            check: `port ${s.port} ${s.name} ${family}`,
            onError: `is the server up and the daemon running (ssh daemons)? the cloud firewall opens ${s.port} (pulumi up); from here, is ${family} routed at all?`,
            run: (signal) => {
                const e: Endpoint = { address, port: s.port, hostname: t.hostname, ...(t.ca ? { ca: t.ca } : {}) };
                if (s.tls === "implicit") return implicitTlsCheck(e, t, signal);
                return s.protocol === "managesieve"
                    ? managesieveCheck(e, t, signal)
                    : starttlsCheck(e, t, signal, s.name === "smtp");
            },
        })),
    );
}

/** Our server must refuse mail from an outsider to an outside domain (an open relay is blocklisted within hours). */
export function relayCheck(t: Target): Check {
    return {
        check: `open relay ${t.ipv4} port ${port("smtp")}`,
        onError: "no SMTP session for the probe: see the port 25 checks",
        run: (signal) => relayProbe({ address: t.ipv4, port: port("smtp"), hostname: t.hostname }, signal),
    };
}

/** MAIL FROM:<> and RCPT TO an outside domain, then RSET: never DATA, so nothing is ever sent. */
export async function relayProbe(e: Endpoint, signal: AbortSignal) {
    const session = await smtpSession(e, signal);
    try {
        await session.reply("EHLO doctor.mailstack.invalid");
        const from = await session.reply("MAIL FROM:<>");
        if (from.code !== 250)
            return warn(
                `MAIL FROM:<> answered ${from.code}; no relay probe made`,
                "RFC 5321 requires the null sender to be accepted",
            );
        const rcpt = await session.reply("RCPT TO:<relay-probe@example.com>");
        if (rcpt.code >= 200 && rcpt.code < 300)
            return fail(
                "OPEN RELAY: a stranger may send to any domain through this server",
                "smtpd_relay_restrictions must end in reject_unauth_destination (the rendered main.cf)",
            );
        await session.reply("RSET");
        return ok(`relaying refused: ${rcpt.code} ${rcpt.lines.join(" ").slice(0, 60)}`);
    } finally {
        session.close();
    }
}
