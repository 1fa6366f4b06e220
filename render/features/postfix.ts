// Postfix: the MTA on 25, 587 and 465. main.cf gathers the other features' sockets and limits.

import type { DomainSpec, MailSpec } from "../../model";
import { hostRecords, MAIL_DNS_TTL, txtRecord } from "../dns/record";
import { PRIMARY_MX_PREFERENCE } from "../dns/text";
import { AUTHORIZED_SUBMIT_USERS, OPENDKIM_SOCKET, POSTFIX_MASTER_PID, SENDER_MILTER_SOCKET } from "../host/accounts";
import { RSPAMD_MILTER } from "../host/filter";
import { queueMinFreeBytes, submissionRecipientRestrictions } from "../host/limits";
import { MTA_STS_POLICY_MAP } from "../host/outbound";
import { renderTemplate } from "../host/template";
import { hostFile as file, type HostFile } from "../host/types";
import type { Feature } from "./feature";
import { restartAfterCrash } from "./systemd";

/**
 * Postfix's systemd drop-ins, on the primary and the backup MX alike: systemd knows the
 * master's PID (from its pid file), starts Postfix again when the master dies, and waits for
 * a stopped Postfix 15 s at most. laterFiles: the user-data has no room for them.
 */
export function postfixUnitFiles(): HostFile[] {
    return [
        file(
            "/etc/systemd/system/postfix.service.d/main-pid.conf",
            renderTemplate("systemd/postfix-main-pid.conf", { pidFile: POSTFIX_MASTER_PID }),
            ["daemon-reload"],
        ),
        restartAfterCrash("postfix"),
        file("/etc/systemd/system/postfix.service.d/stop.conf", renderTemplate("systemd/postfix-stop.conf"), [
            "daemon-reload",
        ]),
    ];
}

/**
 * LMTP deliveries at once to one mailbox: Postfix's limit and Dovecot's, written once. Ten
 * is Dovecot's default; a Maildir delivery is a few file operations.
 */
export const LMTP_PER_MAILBOX_CONCURRENCY = 10;

/**
 * main.cf's outbound block. With a relay: every message goes through it, over TLS, with SASL.
 * Without: straight to each recipient's MX, with DANE and MTA-STS where the domain asks.
 */
function outboundConfig(spec: MailSpec): string {
    if (!spec.relay)
        return [
            "",
            "# --- Direct delivery: verified TLS where the recipient's domain asks for it ----------",
            "# DANE (RFC 7672): a domain whose MX has DNSSEC-signed TLSA records gets mail only over TLS",
            '# that matches them; any other domain gets opportunistic TLS ("may"). Needs a validating',
            "# resolver of our own (unbound, /etc/resolv.conf).",
            "smtp_dns_support_level = dnssec",
            "# MTA-STS (RFC 8461): postfix-mta-sts-resolver answers with the domain's policy, and",
            '# "enforce" becomes "secure" (the certificate verified for the policy\'s MX names): mail',
            "# that cannot meet it is deferred, never sent in clear or to an impostor.",
            `smtp_tls_policy_maps = ${MTA_STS_POLICY_MAP}`,
            "",
        ].join("\n");
    const { host, port } = spec.relay;
    return [
        "",
        "# --- Relay host (outbound port 25 is blocked on new Hetzner accounts) --------------",
        `relayhost = [${host}]:${port}`,
        "smtp_sasl_auth_enable = yes",
        "# root:root 0600, from mail-data: the only place the relay password is stored.",
        "smtp_sasl_password_maps = texthash:/etc/postfix/mailstack/relay-password",
        "smtp_sasl_security_options = noanonymous",
        "smtp_sasl_tls_security_options = noanonymous",
        "# The relay login: PLAIN or LOGIN, never the XOAUTH2 of the imports' Cyrus plugin.",
        "smtp_sasl_mechanism_filter = plain, login",
        ...(port === 465
            ? ["# Port 465 speaks TLS from the first byte (RFC 8314).", "smtp_tls_wrappermode = yes"]
            : []),
        ...(spec.relay.tlsFingerprint
            ? [
                  "# The relay's certificate is pinned (mailstack:relay.tlsFingerprint): no CA, name or date",
                  "# is checked, only that the certificate has exactly this SHA-256 fingerprint.",
                  "smtp_tls_fingerprint_digest = sha256",
                  `smtp_tls_fingerprint_cert_match = ${spec.relay.tlsFingerprint}`,
              ]
            : []),
        "",
    ].join("\n");
}

/**
 * DANE (opportunistic unless TLSA says otherwise) to MX hosts; to a relay, TLS is required and
 * verified: its certificate against its name, or its pinned fingerprint (a relay by IP must have one).
 */
function outboundTlsLevel(spec: MailSpec): string {
    if (!spec.relay) return "dane";
    return spec.relay.tlsFingerprint ? "fingerprint" : "secure";
}

export function spfValue(domain: DomainSpec): string {
    // mx: the only hosts that send our mail are the MX hosts (the backup MX, when there is one,
    // sends the bounces and delay notices it must). -all: everything else is forged.
    return ["v=spf1", "mx", ...domain.spfExtra, "-all"].join(" ");
}

export const postfix: Feature = {
    name: "postfix",
    config: ["hostname", "relay", "relayPassword", "messageSizeLimitMb"],
    services: ["smtp", "submissions", "submission"],
    packages: ["postfix"],
    units: ["postfix"],
    actions: ["reload:postfix"],
    files: (spec) => [
        file(
            "/etc/postfix/main.cf",
            renderTemplate("postfix/main.cf", {
                hostname: spec.hostname,
                messageSizeLimitBytes: spec.messageSizeLimitBytes,
                queueMinFreeBytes: queueMinFreeBytes(spec),
                submissionRecipientRestrictions: submissionRecipientRestrictions(spec),
                lmtpPerMailboxConcurrency: LMTP_PER_MAILBOX_CONCURRENCY,
                smtpdTls: renderTemplate("postfix/smtpd-tls.cf"),
                outboundTlsLevel: outboundTlsLevel(spec),
                outboundConfig: outboundConfig(spec),
                rspamdMilter: RSPAMD_MILTER,
                authorizedSubmitUsers: AUTHORIZED_SUBMIT_USERS.join(", "),
                opendkimSocket: OPENDKIM_SOCKET,
                senderMilterSocket: SENDER_MILTER_SOCKET,
            }),
            ["reload:postfix"],
        ),
        file("/etc/postfix/master.cf", renderTemplate("postfix/master.cf"), ["reload:postfix"]),
    ],
    laterFiles: () => postfixUnitFiles(),
    // The domain holding the hostname also gets the hostname's A/AAAA records and its own SPF:
    // forwarded mail leaves with an SRS sender @hostname (postsrsd), which must pass SPF as
    // well. Every domain points its MX at that one host.
    dnsRecords: (spec, domain, facts) => [
        ...(spec.hostnameDomain === domain.name
            ? hostRecords(
                  spec.hostname,
                  facts.ipv4,
                  facts.ipv6,
                  "mail host",
                  "SPF for the host name (EHLO, SRS senders)",
              )
            : []),
        {
            name: domain.name,
            type: "MX",
            content: spec.hostname,
            priority: PRIMARY_MX_PREFERENCE,
            ttl: MAIL_DNS_TTL,
            purpose: `mail for ${domain.name} goes to ${spec.hostname}`,
        },
        txtRecord(domain.name, spfValue(domain), "SPF: only the MX sends for this domain"),
    ],
};
