// The feature registry (render/features/): each feature declares its packages, units, service
// actions, files, services and config keys, and every list of them derives from it. These
// tests hold the declarations to what the rendered files and the lab's package list say.

import * as fs from "node:fs";
import * as path from "node:path";
import { buildSpec, CONFIG_KEYS, SERVICES, type MailSpec, type RawConfig } from "../model";
import { renderDkimFiles, renderMailData, type HostFile } from "../render";
import {
    ACTIVE_UNITS,
    FEATURES,
    MAIL_PACKAGES,
    MAIL_UNITS,
    ordered,
    ORDERS,
    renderFirstBootFiles,
    renderHostFiles,
    renderLaterFiles,
    SERVICE_ACTIONS,
    WEBMAIL_PACKAGES,
    IMPORT_PACKAGES,
    DAV_PACKAGES,
    type Feature,
} from "../render/features";
import { renderBackupFiles } from "../render/host/backup";
import packagesJson from "../render/boot/packages.json";
import { sftpBackup, twoDomains } from "./helpers/fixtures";

const spec = (extra: Partial<RawConfig> = {}): MailSpec => buildSpec({ ...twoDomains(), ...extra });
const HASH = "{BLF-CRYPT}$2b$12$abcdefghijklmnopqrstuuJ3RSdv5.5jJ6lDb6dsbpgwKdIA9yy2G";

/** Every file any step renders, for a spec with and without the webmail, a relay and a backup. */
function everyFile(): HostFile[] {
    const specs = [
        spec(),
        spec({ webmail: false }),
        buildSpec({
            ...twoDomains(),
            ...sftpBackup(),
            relay: { host: "smtp.relay.example.net", port: 587, username: "m" },
            hasRelayPassword: true,
        }),
    ];
    return specs.flatMap((s) => [
        ...renderHostFiles(s),
        ...renderMailData(s, {
            passwordHashes: Object.fromEntries(s.domains.flatMap((d) => d.mailboxes).map((m) => [m, HASH])),
            relayPassword: s.relay ? "relay-password" : undefined,
        }),
        ...renderDkimFiles(s, {
            privateKeysPem: Object.fromEntries(
                s.domains.map((d) => [d.name, "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"]),
            ),
        }),
        ...renderBackupFiles(s, s.backup ? { password: "pw-0123456789", sshPrivateKey: "KEY" } : undefined),
    ]);
}

describe("the registry", () => {
    test("every feature has its own name, and each order names every feature that declares its part", () => {
        expect(new Set(FEATURES.map((f) => f.name)).size).toBe(FEATURES.length);
        expect(() => ordered(ORDERS.packages, "packages", "PACKAGE_ORDER")).not.toThrow();
        expect(() => ordered(ORDERS.units, "units", "UNIT_ORDER")).not.toThrow();
        expect(() => ordered(ORDERS.units, "laterUnits", "UNIT_ORDER")).not.toThrow();
        expect(() => ordered(ORDERS.actions, "actions", "ACTION_ORDER")).not.toThrow();
        expect(() => ordered(ORDERS.records, "dnsRecords", "RECORD_ORDER")).not.toThrow();
    });

    test("a feature left out of an order, or an order naming no feature, is refused when the registry loads", () => {
        const extra: Feature = { name: "extra", units: ["extra.service"] };
        expect(() => ordered(ORDERS.units, "units", "UNIT_ORDER", [...FEATURES, extra])).toThrow(
            "features: extra declare units but are not in UNIT_ORDER",
        );
        expect(() => ordered([...ORDERS.units, "nothing"], "units", "UNIT_ORDER")).toThrow(
            "features: UNIT_ORDER names nothing, which is no feature",
        );
        expect(() =>
            ordered(["postfix", "postfix"], "units", "X", [FEATURES.find((f) => f.name === "postfix")!]),
        ).toThrow("names a feature twice");
    });

    test("no package, unit or action is declared by two features (nftables aside: both guards need it)", () => {
        const count = (items: string[]) => [...new Set(items)].filter((i) => items.indexOf(i) !== items.lastIndexOf(i));
        expect(count(FEATURES.flatMap((f) => [...(f.packages ?? []), ...(f.optional?.packages ?? [])]))).toEqual([
            "nftables",
        ]);
        expect(
            count(FEATURES.flatMap((f) => [...(f.units ?? []), ...(f.laterUnits ?? []), ...(f.optional?.units ?? [])])),
        ).toEqual([]);
        expect(count(FEATURES.flatMap((f) => [...(f.actions ?? [])]))).toEqual([]);
    });

    test("the lists derive from it: MAIL_PACKAGES, MAIL_UNITS, ACTIVE_UNITS and SERVICE_ACTIONS hold exactly what the features declare", () => {
        const all = (pick: (f: Feature) => readonly string[] | undefined) => FEATURES.flatMap((f) => pick(f) ?? []);
        expect([...MAIL_PACKAGES].sort()).toEqual([...new Set(all((f) => f.packages))].sort());
        expect([...MAIL_UNITS].sort()).toEqual(all((f) => f.units).sort());
        expect([...ACTIVE_UNITS].sort()).toEqual([...all((f) => f.units), ...all((f) => f.laterUnits)].sort());
        expect([...SERVICE_ACTIONS].sort()).toEqual(all((f) => f.actions).sort());
    });

    test("the host files are the features' files in registry order, first-boot ones and later ones never the same path", () => {
        const s = spec();
        const first = renderFirstBootFiles(s).map((f) => f.path);
        const later = renderLaterFiles(s).map((f) => f.path);
        expect(first.filter((p) => later.includes(p))).toEqual([]);
        expect(renderHostFiles(s).map((f) => f.path)).toEqual(
            FEATURES.flatMap((f) => [...(f.files?.(s) ?? []), ...(f.laterFiles?.(s) ?? [])]).map((f) => f.path),
        );
        expect(new Set(renderHostFiles(s).map((f) => f.path)).size).toBe(renderHostFiles(s).length);
    });
});

describe("what the features declare is what their files say", () => {
    test("every action a rendered file triggers is declared by a feature, and every declared action is triggered by some file", () => {
        const triggered = new Set(everyFile().flatMap((f) => f.onChange));
        expect([...triggered].filter((a) => !SERVICE_ACTIONS.includes(a))).toEqual([]);
        expect(SERVICE_ACTIONS.filter((a) => !triggered.has(a))).toEqual([]);
    });

    test("a feature's files trigger its own actions and daemon-reload; the few that restart another feature's daemon are these", () => {
        const s = spec();
        const foreign = Object.fromEntries(
            FEATURES.map((f) => {
                const files = [...(f.files?.(s) ?? []), ...(f.laterFiles?.(s) ?? [])];
                const actions = [...new Set(files.flatMap((x) => x.onChange))];
                return [f.name, actions.filter((a) => a !== "daemon-reload" && !(f.actions ?? []).includes(a)).sort()];
            }).filter(([, a]) => a.length > 0),
        );
        expect(foreign).toEqual({
            // The socket groups: each daemon that opens or owns one restarts to join its group.
            accounts: ["reload:postfix", "restart:opendkim", "restart:rspamd", "restart:sender-milter"],
            // The jail for wrong current passwords in the webmail's password form; the app passwords' passdb.
            passwords: ["reload:dovecot", "reload:fail2ban"],
            // The senders' passdb (protocol smtp) in Dovecot.
            senders: ["reload:dovecot"],
            // The global Sieve scripts are Dovecot's (compiled and reloaded with it).
            sieve: ["reload:dovecot"],
            // Its nginx server block.
            webmail: ["reload:nginx"],
            // Its login socket in Dovecot, its nginx locations and its fail2ban jail.
            dav: ["reload:dovecot", "reload:fail2ban", "reload:nginx"],
        });
    });

    test("each unit of our own (mailstack-*) has its unit file among its feature's files", () => {
        const s = spec();
        for (const f of FEATURES) {
            const paths = [...(f.files?.(s) ?? []), ...(f.laterFiles?.(s) ?? [])].map((x) => x.path);
            for (const unit of [...(f.units ?? []), ...(f.laterUnits ?? [])].filter((u) =>
                u.startsWith("mailstack-"),
            )) {
                const file = `/etc/systemd/system/${unit.includes(".") ? unit : `${unit}.service`}`;
                expect({ unit, file, has: paths.includes(file) }).toEqual({ unit, file, has: true });
            }
        }
    });

    test("a unit whose files come only with host-config is not one the first boot starts", () => {
        const s = spec();
        const firstBoot = new Set(renderFirstBootFiles(s).map((f) => f.path));
        for (const unit of MAIL_UNITS.filter((u) => u.startsWith("mailstack-")))
            expect({ unit, atFirstBoot: firstBoot.has(`/etc/systemd/system/${unit}.service`) }).toEqual({
                unit,
                atFirstBoot: true,
            });
    });

    test("every service of the services table is answered by exactly one feature", () => {
        const answered = FEATURES.flatMap((f) => f.services ?? []);
        expect([...answered].sort()).toEqual(SERVICES.map((s) => s.name).sort());
    });

    test("every config key is one feature's, or the program's own (the server, the domains and their passwords, the DNS rollout)", () => {
        const claimed = FEATURES.flatMap((f) => f.config ?? []);
        expect(claimed.filter((k, i) => claimed.indexOf(k) !== i)).toEqual([]);
        expect(claimed.filter((k) => !CONFIG_KEYS.includes(k))).toEqual([]);
        expect(CONFIG_KEYS.filter((k) => !claimed.includes(k))).toEqual(["server", "domains", "rollout", "passwords"]);
    });
});

describe("render/boot/packages.json, the lab image's copy of the package lists (lab/image.sh is a shell script)", () => {
    test("its mail, webmail and dav lists are the registry's, in the same order", () => {
        expect(packagesJson.mail).toEqual([...MAIL_PACKAGES]);
        expect(packagesJson.webmail).toEqual([...WEBMAIL_PACKAGES]);
        expect(packagesJson.import).toEqual([...IMPORT_PACKAGES]);
        expect(packagesJson.dav).toEqual([...DAV_PACKAGES]);
    });

    test("lab/image.sh reads it from where it is", () => {
        const image = fs.readFileSync(path.join(__dirname, "..", "lab", "image.sh"), "utf8");
        expect(image).toContain('pkgjson="$repo/render/boot/packages.json"');
    });
});
