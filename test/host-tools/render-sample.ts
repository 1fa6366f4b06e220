// Renders every file for a sample two-domain config into a directory, for the layer-2
// checks (test/host-tools/run.sh) that hand them to Debian 13's own tools.
//
//   npx tsx test/host-tools/render-sample.ts OUTDIR
//
// OUTDIR/root/<path> holds each file, OUTDIR/user-data the user-data, OUTDIR/*.bundle the
// three bundles (and host-config's with mailstack:dav off), OUTDIR/files.tsv "path mode owner
// group" per file. So that the shell side reads them from here rather than keeping copies: OUTDIR/rootfs-packages the packages of the
// root the tools run in (the image's, then MAIL_PACKAGES, one a line), OUTDIR/user-data-limit
// USER_DATA_LIMIT_BYTES.

import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import bcrypt from "bcryptjs";
import { allLogins, buildSpec } from "../../model";
import packages from "../../render/boot/packages.json";
import {
    MAIL_PACKAGES,
    PROVISIONING_PLAN,
    renderBundle,
    renderDkimFiles,
    renderHostFiles,
    parseBundleRules,
    renderUserData,
    USER_DATA_LIMIT_BYTES,
    type HostFile,
} from "../../render";
import { renderBackupFiles } from "../../render/host/backup";
import { renderTrustedRelays } from "../../render/host/filter";
import {
    renderEtrnFiles,
    renderRelayData,
    renderSecondaryHostFiles,
    renderSecondaryUserData,
} from "../../render/features/backup-mx";
import { TEST_PROVISIONAL_HOST_KEY } from "../helpers/host-key";

const out = process.argv[2];
if (!out) throw new Error("usage: render-sample.ts OUTDIR");

export const SAMPLE_PASSWORD = "correct horse battery staple";

const spec = buildSpec({
    hostname: "mail.example.org",
    acmeEmail: "hostmaster@example.org",
    sshAllowedCidrs: ["203.0.113.7/32"],
    domains: [
        {
            name: "example.org",
            mailboxes: ["alice", "bob"],
            aliases: {
                postmaster: ["alice@example.org"],
                info: ["alice@example.org", "bob@example.org"],
                forward: ["someone@example.net"],
            },
        },
        {
            name: "example.com",
            mailboxes: ["carol"],
            aliases: { postmaster: ["alice@example.org"], sales: ["carol@example.com"] },
            dkimSelector: "s2026",
        },
    ],
    relay: { host: "smtp.relay.example.net", port: 587, username: "relayuser" },
    // A sender for applications (dovecot.sh: its login opens submission and nothing else).
    senders: ["notify@example.org"],
    // The default thresholds, with one action switched off (rspamd.sh checks both forms).
    spamFilter: { greylist: false },
    passwords: {
        "alice@example.org": SAMPLE_PASSWORD,
        "bob@example.org": SAMPLE_PASSWORD,
        "carol@example.com": SAMPLE_PASSWORD,
    },
    hasRelayPassword: true,
});

const salt = bcrypt.genSaltSync(10);
const passwordHashes = Object.fromEntries(
    allLogins(spec).map((m) => [m, `{BLF-CRYPT}${bcrypt.hashSync(SAMPLE_PASSWORD, salt)}`]),
);
const privateKeysPem = Object.fromEntries(
    spec.domains.map((d) => [
        d.name,
        execFileSync("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], {
            encoding: "utf8",
        }),
    ]),
);

const host = renderHostFiles(spec);
// The mail-data step's own stdin (its Apple profiles and their prune rule included), as the plan renders it.
const mailStep = PROVISIONING_PLAN.find((s) => s.role === "mail-data")!;
const mailBundle = mailStep.stdin!(spec, { dkimPrivateKeysPem: {}, passwordHashes, relayPassword: "relay secret" });
const mail = parseBundleRules(mailBundle).files;
const dkim = renderDkimFiles(spec, { privateKeysPem });

const write = (files: HostFile[]) => {
    for (const f of files) {
        const target = path.join(out, "root", f.path);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.writeFileSync(target, f.content);
        fs.appendFileSync(path.join(out, "files.tsv"), `${f.path}\t${f.mode}\t${f.owner}\t${f.group}\n`);
    }
};
fs.mkdirSync(out, { recursive: true });
write([...host, ...mail, ...dkim]);
fs.writeFileSync(
    path.join(out, "user-data"),
    renderUserData(spec, {
        mailVolumeDevice: "/dev/disk/by-id/scsi-0HC_Volume_123",
        provisionalHostKey: TEST_PROVISIONAL_HOST_KEY,
    }),
);
fs.writeFileSync(path.join(out, "host-config.bundle"), renderBundle(host));
fs.writeFileSync(path.join(out, "mail-data.bundle"), mailBundle);
// The host-config step's own stdin (its prune rules included) for the same sample with
// mailstack:dav turned off, as the plan renders it.
const hostStep = PROVISIONING_PLAN.find((s) => s.role === "host-config")!;
fs.writeFileSync(
    path.join(out, "host-config-nodav.bundle"),
    hostStep.stdin!({ ...spec, dav: false }, { dkimPrivateKeysPem: {}, passwordHashes }),
);
// The dkim step's own stdin (its prune rule included), as the plan renders it.
const dkimStep = PROVISIONING_PLAN.find((s) => s.role === "dkim")!;
fs.writeFileSync(
    path.join(out, "dkim.bundle"),
    dkimStep.stdin!(spec, { dkimPrivateKeysPem: privateKeysPem, passwordHashes: {} }),
);
fs.writeFileSync(path.join(out, "password"), SAMPLE_PASSWORD);
// The backup step's files for the same sample with an SFTP repository, under OUTDIR/backup-root
// (not in files.tsv: backup.sh installs them itself, next to a stand-in restic).
const backupSpec = buildSpec({
    hostname: "mail.example.org",
    acmeEmail: "hostmaster@example.org",
    sshAllowedCidrs: ["203.0.113.7/32"],
    domains: [{ name: "example.org", mailboxes: ["alice", "postmaster"] }],
    passwords: { "alice@example.org": SAMPLE_PASSWORD },
    backup: {
        sftp: {
            host: "u100001.storagebox.test",
            user: "u100001",
            path: "mailstack",
            hostKey: TEST_PROVISIONAL_HOST_KEY.publicKeyOpenssh.trim(),
        },
    },
    backupSecretsSet: ["backupPassword"],
});
for (const f of renderBackupFiles(backupSpec, {
    password: "sample-repository-password",
    sshPrivateKey: TEST_PROVISIONAL_HOST_KEY.privateKeyOpenssh,
})) {
    const target = path.join(out, "backup-root", f.path);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, f.content, { mode: parseInt(f.mode, 8) });
}
// The same sample without a relay (direct delivery: DANE, MTA-STS) and with the lab's kind of
// forwarding resolver and signed zone, under OUTDIR/direct (outbound.sh hands them to postconf and
// unbound-checkconf).
const { relay: _relay, ...direct } = spec;
const directFiles = renderHostFiles({
    ...direct,
    resolverForward: ["192.0.2.7", "2001:db8::7"],
    resolverSignedZones: [
        {
            name: "dane.test",
            servers: ["198.51.100.53"],
            ds: ["46278 13 2 7c9bc5c9692ddcd069bf32da8806f267f39dcc4d70d86ac309e6eefd9b621e6b"],
        },
    ],
});
fs.mkdirSync(path.join(out, "direct"), { recursive: true });
for (const name of [
    "/etc/postfix/main.cf",
    "/etc/unbound/unbound.conf.d/mailstack.conf",
    "/etc/unbound/unbound.conf.d/root-auto-trust-anchor-file.conf",
])
    fs.writeFileSync(path.join(out, "direct", path.basename(name)), directFiles.find((f) => f.path === name)!.content);
// A relay given by IP address, its certificate pinned (mailstack:relay.tlsFingerprint), under
// OUTDIR/pinned: outbound.sh hands its main.cf to postconf.
const pinnedFiles = renderHostFiles({
    ...spec,
    relay: {
        host: "198.51.100.7",
        port: 587,
        username: "relayuser",
        tlsFingerprint:
            "3D:5E:31:9C:6B:F4:84:A9:44:11:0E:E1:74:5B:D9:7A:2A:0D:7B:D0:6C:A9:0F:3E:A4:1D:55:0B:6A:C2:A6:57",
    },
});
fs.mkdirSync(path.join(out, "pinned"), { recursive: true });
fs.writeFileSync(
    path.join(out, "pinned", "main.cf"),
    pinnedFiles.find((f) => f.path === "/etc/postfix/main.cf")!.content,
);
// The backup MX (mailstack:secondaryMx) of the same sample, under OUTDIR/secondary: its
// main.cf, master.cf and relay-data tables (secondary-mx.sh hands them to postconf and postmap)
// and its user-data (cloud-init schema).
const secondarySpec = buildSpec({
    hostname: "mail.example.org",
    acmeEmail: "hostmaster@example.org",
    sshAllowedCidrs: ["203.0.113.7/32"],
    domains: spec.domains.map((d) => ({
        name: d.name,
        mailboxes: d.mailboxes.map((m) => m.split("@")[0]),
        aliases: Object.fromEntries(d.aliases.map((a) => [a.address.split("@")[0], [...a.targets]])),
    })),
    secondaryMx: { hostname: "mx2.example.org", location: "fsn1" },
});
fs.mkdirSync(path.join(out, "secondary"), { recursive: true });
for (const f of [
    ...renderSecondaryHostFiles(secondarySpec),
    ...renderRelayData(secondarySpec, ["192.0.2.25", "2001:db8::25"]),
])
    if (f.path.startsWith("/etc/postfix/"))
        fs.writeFileSync(path.join(out, "secondary", path.basename(f.path)), f.content);
// The primary's ETRN sender, for Debian 13's python3 and systemd-analyze.
for (const f of renderEtrnFiles(secondarySpec))
    fs.writeFileSync(path.join(out, "secondary", path.basename(f.path)), f.content);
// The primary's trust in it (mail-data's external_relay.conf), for rspamadm.
fs.writeFileSync(
    path.join(out, "secondary", "external_relay.conf"),
    renderTrustedRelays(secondarySpec, ["2001:db8:26::1", "192.0.2.26"]).content,
);
fs.writeFileSync(
    path.join(out, "secondary", "user-data"),
    renderSecondaryUserData(secondarySpec, {
        mailVolumeDevice: "/dev/disk/by-id/scsi-0HC_Volume_124",
        provisionalHostKey: TEST_PROVISIONAL_HOST_KEY,
    }),
);
// What Hetzner's debian-13 image already has (only in packages.json) plus what the user-data
// installs, and Debian 13's PHP command line (Roundcube's dependency) for `php -l` on its
// config. Not the webmail packages themselves: debootstrap would take php's first
// alternative, Apache's mod_php, and Apache would start on this machine's port 80. Radicale
// (mailstack:dav): Dovecot's listener for it names its user, and its config is checked.
fs.writeFileSync(
    path.join(out, "rootfs-packages"),
    [...packages.image, ...MAIL_PACKAGES, "php-cli", ...packages.dav].join("\n") + "\n",
);
fs.writeFileSync(path.join(out, "user-data-limit"), `${USER_DATA_LIMIT_BYTES}\n`);
