// Unit tests of the user-data (render/boot/): what the first boot brings, and what it must not.
// The daemons' own tools judge the same files in test/host-tools/run.sh.

import { parse } from "yaml";
import { MAIL_PACKAGES, renderHostFiles, renderUserData, USER_DATA_LIMIT_BYTES } from "../render";
import { userDataFiles as userDataEntries } from "./helpers/user-data";
import { FIRST_BOOT_ARCHIVE } from "../render/boot/user-data";
import { QUOTA_WARNING_SCRIPT, renderLaterFiles } from "../render/features";
import { TEST_PROVISIONAL_HOST_KEY } from "./helpers/host-key";
import {
    DEVICE,
    orgDomain,
    comDomain,
    spec,
    oneDomain,
    withoutHostKey,
    WriteFile,
    userDataFiles,
} from "./helpers/render";

describe("user-data", () => {
    const text = renderUserData(spec(), { mailVolumeDevice: DEVICE, provisionalHostKey: TEST_PROVISIONAL_HOST_KEY });
    const cfg = parse(text) as Record<string, unknown> & {
        write_files: WriteFile[];
        packages: string[];
        runcmd: unknown[];
    };

    it("is a #cloud-config document under Hetzner's 32 KiB limit", () => {
        expect(text.startsWith("#cloud-config\n")).toBe(true);
        expect(Buffer.byteLength(text)).toBeLessThanOrEqual(USER_DATA_LIMIT_BYTES);
    });

    it("is identical for one or two domains and any mailboxes: adding a domain does not replace the server", () => {
        expect(
            renderUserData(oneDomain(), { mailVolumeDevice: DEVICE, provisionalHostKey: TEST_PROVISIONAL_HOST_KEY }),
        ).toBe(text);
        const moreMailboxes = spec({ domains: [{ ...orgDomain, mailboxes: ["alice", "bob", "dave"] }, comDomain] });
        expect(
            renderUserData(moreMailboxes, { mailVolumeDevice: DEVICE, provisionalHostKey: TEST_PROVISIONAL_HOST_KEY }),
        ).toBe(text);
    });

    it("holds no secret and nothing of the domains or mailboxes", () => {
        // The one key in it is the provisional host key (checked in "provisioning plan").
        const everything = [...userDataFiles(text).values()].join("\n") + withoutHostKey(text);
        for (const forbidden of ["PRIVATE KEY", "$2b$", "example.com", "alice", "carol", "relayuser"]) {
            expect(everything).not.toContain(forbidden);
        }
    });

    it("installs the mail packages and runs the first-boot script", () => {
        expect(cfg.packages).toEqual([...MAIL_PACKAGES]);
        expect(cfg.runcmd).toEqual([["/usr/local/sbin/mailstack-first-boot"]]);
        expect(cfg.locale).toBe("C.UTF-8");
        expect(cfg.ssh_pwauth).toBe(false);
    });

    it("writes every host file but the spam filter's, the resolver's and the limits' with the same text, mode and owner as the host-config step, after the packages", () => {
        const files = new Map(userDataEntries(text).map((f) => [f.path, f]));
        // The filter's files come with host-config only (test/filter.test.ts), and so do the
        // resolver's and MTA-STS's (renderOutboundFiles), the limits' and the web files.
        const filter = new Set(renderLaterFiles(spec()).map((f) => f.path));
        for (const f of renderHostFiles(spec(), { firstBoot: true }).filter((h) => !filter.has(h.path))) {
            const written = files.get(f.path)!;
            expect(written.content).toBe(f.content);
            expect(written.mode).toBe(f.mode);
            expect(`${written.owner}:${written.group}`).toBe(`${f.owner}:${f.group}`);
            // In the archive, which first-boot.sh unpacks after the packages.
            expect(written.via).toBe(FIRST_BOOT_ARCHIVE);
            expect(written.deferred).toBe(true);
        }
    });

    it("leaves the certificate's deploy hook, the quota warning and the unattended upgrades' settings to host-config (nothing needs them earlier, and the user-data must fit 32 KiB)", () => {
        const files = userDataFiles(text);
        const later = renderLaterFiles(spec()).map((f) => f.path);
        for (const path of [
            "/etc/letsencrypt/renewal-hooks/deploy/50-mailstack",
            QUOTA_WARNING_SCRIPT,
            "/etc/apt/apt.conf.d/52mailstack-unattended-upgrades",
        ]) {
            expect(later).toContain(path);
            expect(files.has(path)).toBe(false);
            expect(renderHostFiles(spec()).map((f) => f.path)).toContain(path);
        }
    });

    it("writes exactly the features' first-boot files, and leaves every later file (the filter's, the resolver's, the limits', nginx with what it serves on 443, the webmail, mailstack-migrate) to host-config", () => {
        const files = userDataFiles(text);
        const later = renderLaterFiles(spec()).map((f) => f.path);
        const all = renderHostFiles(spec()).map((f) => f.path);
        expect(later.filter((p) => files.has(p))).toEqual([]);
        // Every host file is a first-boot file (in the user-data) or a later one, never both.
        expect(all.filter((p) => !files.has(p)).sort()).toEqual([...later].sort());
        expect(later).toEqual(
            expect.arrayContaining([
                "/usr/local/sbin/mailstack-migrate",
                "/etc/nginx/snippets/mailstack-tls-settings.conf",
                "/etc/nginx/snippets/mailstack-tls.conf",
                "/etc/nginx/snippets/mailstack-autoconfig.conf",
                "/etc/nginx/snippets/mailstack-autodiscover.conf",
                "/etc/nginx/snippets/mailstack-mta-sts.conf",
                "/etc/nginx/sites-available/default",
                "/var/www/mailstack/autoconfig/mail/config-v1.1.xml",
                "/var/www/mailstack/autodiscover/autodiscover/autodiscover.xml",
                "/var/www/mailstack/mta-sts/.well-known/mta-sts.txt",
                "/usr/local/sbin/mailstack-webmail",
                "/etc/systemd/system/php8.4-fpm.service.d/mailstack.conf",
                "/etc/php/8.4/fpm/conf.d/90-mailstack-webmail.ini",
                "/etc/roundcube/config.inc.php",
                "/var/lib/roundcube/plugins/mailstack_origin/mailstack_origin.php",
                "/etc/nginx/conf.d/mailstack-webmail.conf",
            ]),
        );
    });

    it("mounts the mail volume by its device path without nofail", () => {
        const mount = userDataFiles(text).get("/etc/systemd/system/srv-mail.mount")!;
        expect(mount).toMatch(/^What=\/dev\/disk\/by-id\/scsi-0HC_Volume_123$/m);
        expect(mount).toMatch(/^Where=\/srv\/mail$/m);
        expect(mount).not.toMatch(/^Options=.*nofail/m);
        expect(
            renderUserData(spec(), {
                mailVolumeDevice: "/dev/disk/by-id/scsi-0HC_Volume_999",
                provisionalHostKey: TEST_PROVISIONAL_HOST_KEY,
            }),
        ).not.toBe(text);
    });

    it("refuses a volume device that is not a path under /dev", () => {
        expect(() =>
            renderUserData(spec(), { mailVolumeDevice: "sdb", provisionalHostKey: TEST_PROVISIONAL_HOST_KEY }),
        ).toThrow(/device path/);
        expect(() =>
            renderUserData(spec(), {
                mailVolumeDevice: "/dev/sdb\nruncmd: [reboot]",
                provisionalHostKey: TEST_PROVISIONAL_HOST_KEY,
            }),
        ).toThrow(/device path/);
        expect(() =>
            renderUserData(spec(), {
                mailVolumeDevice: "/dev/../etc/passwd",
                provisionalHostKey: TEST_PROVISIONAL_HOST_KEY,
            }),
        ).toThrow(/device path/);
    });
});
