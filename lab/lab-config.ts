// The lab's mail server: a two-domain config fed to the project's own buildSpec, and the
// user-data the stack would send to Hetzner for it.

import { X509Certificate } from "node:crypto";
import { createRequire } from "node:module";

import { renderUserData } from "../render/boot/user-data";
import { renderSecondaryUserData } from "../render/features/backup-mx";
import { buildSpec, MailSpec, RawConfig } from "../model";
import { ACME_DIRECTORY, ACME_HOST } from "./world/acme";
import { daneSignedZone } from "./world/dane";
import { MAIL_VOLUME_DEVICE } from "./harness/container";
import { NET } from "./harness/net";
import { provisionalHostKey, SECONDARY } from "./harness/ssh";
import { labBackupConfig } from "./world/storagebox";

/** Lab-only passwords (the lab network is private; these are never used anywhere else). */
export const LAB_PASSWORDS: Readonly<Record<string, string>> = {
    "alice@example.org": "alice-lab-password-1",
    "bob@example.org": "bob-lab-password-22",
    "postmaster@example.org": "postmaster-lab-password",
    "carol@example.net": "carol-lab-password-333",
};

/**
 * The lab's sender for applications (mailstack:senders) and its password: a login that may
 * only submit, as notify@example.org (lab/checks/senders.test.ts).
 */
export const LAB_SENDER = "notify@example.org";
export const LAB_SENDER_PASSWORDS: Readonly<Record<string, string>> = { [LAB_SENDER]: "notify-lab-password-4444" };
/** Its own hourly limit (mailstack:submissionLimit.senders), far below the mailboxes' 300. */
export const LAB_SENDER_LIMIT = 10;

/**
 * The certificate the lab's relay presents (lab/world/sink.ts): smtp-server's built-in self-signed
 * one, read from the package itself (its exports name the file lib/tls-options).
 */
function sinkCertificate(): string {
    const tlsOptions = createRequire(__filename)("smtp-server/lib/tls-options") as {
        default: () => { cert?: unknown };
    };
    return String(tlsOptions.default().cert);
}

/**
 * The lab's relay (the sink in msl-out) and its credentials. It is given by IP address, so
 * its certificate is pinned by fingerprint (mailstack:relay.tlsFingerprint).
 */
export const LAB_RELAY = {
    host: NET.outside4,
    port: 587,
    username: "lab",
    password: "lab-relay-password",
    tlsFingerprint: new X509Certificate(sinkCertificate()).fingerprint256,
} as const;

/** Where forwarded mail goes: an outside domain whose MX is the lab's sink. */
export const LAB_SINK_ADDRESS = "ext@sink.test";

/**
 * The lab's stack config. A function, because the backup target's host key (pinned in
 * `mailstack:backup.sftp.hostKey`) and the signed zone's key (its DS in
 * `mailstack:resolver.signedZones`) are made for each lab run in its state dir.
 */
export function labRawConfig(): RawConfig {
    return {
        ...LAB_BASE_CONFIG,
        // The one lab difference in the server's config: unbound forwards to the lab DNS, which
        // does not sign its zones, instead of recursing from the root servers; only dane.test,
        // signed by the lab's Knot DNS with a key made for this run, is validated (its DS).
        resolver: { forward: [NET.client4], signedZones: [daneSignedZone()] },
        backup: labBackupConfig(),
        ...(labHasSecondary() ? { secondaryMx: LAB_SECONDARY_MX } : {}),
    };
}

/**
 * Whether this lab run boots the backup MX (`npm run lab -- --secondary`, or `--only` naming
 * secondary-mx.test.ts): lab/run.ts sets it for itself and the checks it starts, so that all
 * of them build the same config (with `mailstack:secondaryMx`: its MX records, the primary's
 * trust in its addresses).
 */
export function labHasSecondary(): boolean {
    return process.env.MAILSTACK_LAB_SECONDARY === "1";
}

/** The lab's backup MX: another name under example.org, in "another location" (msl-mx2). */
export const LAB_SECONDARY_MX = { hostname: "mx2.example.org", location: "fsn1" } as const;

const LAB_BASE_CONFIG: RawConfig = {
    hostname: "mail.example.org",
    acmeEmail: "postmaster@example.org",
    // pebble in the lab (lab/world/acme.ts), under a reserved .test name: never a real ACME CA.
    acmeServer: ACME_DIRECTORY,
    // The CAA records name the lab's CA (pebble itself does not look them up).
    acmeCaaIdentity: ACME_HOST,
    sshAllowedCidrs: ["192.0.2.0/24", "2001:db8::/32"],
    domains: [
        {
            name: "example.org",
            mailboxes: ["alice", "bob", "postmaster"],
            aliases: { info: ["alice@example.org"] },
        },
        {
            name: "example.net",
            mailboxes: ["carol"],
            aliases: { postmaster: ["carol@example.net"], fwd: [LAB_SINK_ADDRESS] },
            // Every other address of example.net reaches carol (lab/checks/catchall.test.ts).
            catchAll: "carol",
        },
    ],
    senders: [LAB_SENDER],
    submissionLimit: { senders: { [LAB_SENDER]: LAB_SENDER_LIMIT } },
    // Backups to the lab's Storage Box (lab/world/storagebox.ts), with the password and SSH key as secrets.
    backupSecretsSet: ["backupPassword", "backupSshPrivateKey"],
    passwords: { ...LAB_PASSWORDS, ...LAB_SENDER_PASSWORDS },
};

/**
 * The lab config with `mailstack:relay` (the sink's relay port): mail then goes to the relay
 * only. The lab runs without one; lab/checks/outbound.test.ts provisions with it and back.
 */
export function labRelayRawConfig(): RawConfig {
    return {
        ...labRawConfig(),
        relay: {
            host: LAB_RELAY.host,
            port: LAB_RELAY.port,
            username: LAB_RELAY.username,
            tlsFingerprint: LAB_RELAY.tlsFingerprint,
        },
        hasRelayPassword: true,
    };
}

export function labSpec(): MailSpec {
    return buildSpec(labRawConfig());
}

/** The backup MX's user-data, as the stack sends it for its second server (its own provisional host key). */
export function labSecondaryUserData(spec: MailSpec): string {
    return renderSecondaryUserData(spec, {
        mailVolumeDevice: MAIL_VOLUME_DEVICE,
        provisionalHostKey: provisionalHostKey(SECONDARY),
    });
}

/** The user-data the stack sends to Hetzner for this spec, with the lab's mail volume device. */
export function labUserData(spec: MailSpec = labSpec()): string {
    return renderUserData(spec, { mailVolumeDevice: MAIL_VOLUME_DEVICE, provisionalHostKey: provisionalHostKey() });
}
