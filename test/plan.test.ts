// The provisioning plan (render/plan/plan.ts) as an admin relies on it: the steps in their
// exact order, what each waits for, and that each one runs again when the config it serves
// changes: through its stdin, or, for a step that takes none, through its triggers.

import { buildSpec, type MailSpec, type RawConfig } from "../model";
import { PROVISIONING_PLAN, SECONDARY_PROVISIONING_PLAN, type PlanInputs, type StepRole } from "../render/plan/plan";
import type { StepWait } from "../render/plan/plan";
import { oneImport, sftpBackup, twoDomains } from "./helpers/fixtures";
import { stepsChangedBy } from "../lab/scenarios/provision";

const HASH = "{BLF-CRYPT}$2b$12$FsG2dsfa7VtRVtJ5nDpC5OXrM8/o1BrWkIzFcMjXgfRPL7Izgzht.";
const PEM = "-----BEGIN PRIVATE KEY-----\nNOT-A-KEY\n-----END PRIVATE KEY-----\n";

const spec = (extra: Partial<RawConfig> = {}): MailSpec => buildSpec({ ...twoDomains(), ...extra });
function inputs(s: MailSpec, extra: Partial<PlanInputs> = {}): PlanInputs {
    return {
        dkimPrivateKeysPem: Object.fromEntries(s.domains.map((d) => [d.name, PEM])),
        passwordHashes: Object.fromEntries(s.domains.flatMap((d) => d.mailboxes).map((m) => [m, HASH])),
        ...extra,
    };
}
const step = (role: StepRole) => PROVISIONING_PLAN.find((s) => s.role === role)!;

/** What a step sends and keys on: the engine re-runs it when any of this changes. */
function runKey(role: StepRole, s: MailSpec, i: PlanInputs): string {
    const st = step(role);
    return JSON.stringify([st.command(), st.stdin?.(s, i) ?? null, st.triggers(s)]);
}

describe("the provisioning plan", () => {
    test("runs its steps in this order: host-key, first-boot, packages, host-config, dkim, mail-data, mail-volume, certificate, backup, import", () => {
        expect(PROVISIONING_PLAN.map((s) => s.role)).toEqual([
            "host-key",
            "first-boot",
            "packages",
            "host-config",
            "dkim",
            "mail-data",
            "mail-volume",
            "certificate",
            "backup",
            "import",
        ]);
    });

    test("each step waits for exactly the steps it needs: the packages before host-config, its files before the keys and the mail data", () => {
        const after = Object.fromEntries(PROVISIONING_PLAN.map((s) => [s.role, [...s.after]]));
        expect(after).toEqual({
            "host-key": [],
            "first-boot": ["host-key"],
            packages: ["first-boot"],
            "host-config": ["packages"],
            dkim: ["host-config"],
            "mail-data": ["host-config", "dkim"],
            "mail-volume": ["first-boot"],
            certificate: ["host-config"],
            backup: ["mail-data"],
            import: ["mail-data"],
        });
    });

    test("a step comes after every step it waits for, so the lab's sequential run keeps the same order", () => {
        const seen = new Set<StepRole>();
        for (const s of PROVISIONING_PLAN) {
            for (const a of s.after) expect(`${s.role} after ${a}: ${seen.has(a)}`).toBe(`${s.role} after ${a}: true`);
            seen.add(s.role);
        }
    });

    test("DKIM keys are installed only once their records are published, the certificate once the host's A/AAAA exist, the filesystem grown once the volume is", () => {
        const waits = Object.fromEntries(PROVISIONING_PLAN.map((s) => [s.role, [...s.waitsFor]]));
        expect(waits).toEqual<Record<Exclude<StepRole, "relay-data">, StepWait[]>>({
            "host-key": [],
            "first-boot": [],
            packages: [],
            "host-config": [],
            dkim: ["dkim-dns"],
            "mail-data": [],
            "mail-volume": ["volume-size"],
            certificate: ["host-dns"],
            backup: [],
            import: [],
        });
    });

    test("the host-key step and the report of the first boot run once per server; every other step pins the replaced key", () => {
        expect(step("host-key").pin).toBe("provisional");
        for (const role of ["host-key", "first-boot"] as const) {
            expect(step(role).stdin).toBeUndefined();
            expect(step(role).triggers(spec())).toEqual([]);
        }
        expect(PROVISIONING_PLAN.filter((s) => s.pin === "provisional").map((s) => s.role)).toEqual(["host-key"]);
    });

    // Each step with the config change it must follow. A step added to the plan must be added
    // here with the change that re-runs it.
    const FOLLOWS: Record<
        Exclude<StepRole, "host-key" | "first-boot" | "relay-data">,
        [string, () => [string, string]]
    > = {
        packages: [
            "the webmail switched off",
            () => [
                runKey("packages", spec(), inputs(spec())),
                runKey("packages", spec({ webmail: false }), inputs(spec())),
            ],
        ],
        "host-config": [
            "a new message size limit",
            () => [
                runKey("host-config", spec(), inputs(spec())),
                runKey("host-config", spec({ messageSizeLimitMb: 20 }), inputs(spec())),
            ],
        ],
        dkim: [
            "a new key",
            () => {
                const s = spec();
                const rotated = inputs(s, {
                    dkimPrivateKeysPem: Object.fromEntries(
                        s.domains.map((d) => [d.name, PEM.replace("NOT-A-KEY", "ANOTHER")]),
                    ),
                });
                return [runKey("dkim", s, inputs(s)), runKey("dkim", s, rotated)];
            },
        ],
        "mail-data": [
            "a new mailbox",
            () => {
                const base = twoDomains().domains as Record<string, unknown>[];
                const more = spec({ domains: [{ ...base[0], mailboxes: ["evaluation", "freebus", "dave"] }, base[1]] });
                return [runKey("mail-data", spec(), inputs(spec())), runKey("mail-data", more, inputs(more))];
            },
        ],
        "mail-volume": [
            "a larger volume (the filesystem grows)",
            () => [
                runKey("mail-volume", spec({ mailVolumeSizeGb: 10 }), inputs(spec())),
                runKey("mail-volume", spec({ mailVolumeSizeGb: 20 }), inputs(spec())),
            ],
        ],
        certificate: [
            "another ACME server",
            () => [
                runKey("certificate", spec(), inputs(spec())),
                runKey(
                    "certificate",
                    spec({ acmeServer: "https://acme-staging-v02.api.letsencrypt.org/directory" }),
                    inputs(spec()),
                ),
            ],
        ],
        backup: [
            "a new backup password",
            () => {
                const s = spec(sftpBackup());
                const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nNOT-A-KEY\n-----END OPENSSH PRIVATE KEY-----\n";
                return [
                    runKey("backup", s, inputs(s, { backup: { password: "first-password", sshPrivateKey: key } })),
                    runKey("backup", s, inputs(s, { backup: { password: "other-password", sshPrivateKey: key } })),
                ];
            },
        ],
        import: [
            "a new password for the old account",
            () => {
                const s = spec(oneImport());
                return [
                    runKey(
                        "import",
                        s,
                        inputs(s, { importPasswords: { "evaluation@nathabee.de": "first-app-password" } }),
                    ),
                    runKey(
                        "import",
                        s,
                        inputs(s, { importPasswords: { "evaluation@nathabee.de": "other-app-password" } }),
                    ),
                ];
            },
        ],
    };

    test("every step but host-key and first-boot is listed with the config change it follows", () => {
        expect(Object.keys(FOLLOWS).sort()).toEqual(
            PROVISIONING_PLAN.map((s) => s.role)
                .filter((r) => r !== "host-key" && r !== "first-boot")
                .sort(),
        );
    });

    test.each(Object.entries(FOLLOWS).map(([role, [change, pair]]) => ({ role, change, pair })))(
        "the $role step runs again after $change, and not when nothing changed",
        ({ role, pair }) => {
            const [before, after] = pair();
            expect(after).not.toEqual(before);
            const [again] = pair();
            expect(again).toEqual(before);
            void role;
        },
    );

    test("a step that takes no stdin follows its config through its triggers: mail-volume through the volume's size", () => {
        const noStdin = PROVISIONING_PLAN.filter((s) => s.stdin === undefined).map((s) => s.role);
        expect(noStdin).toEqual(["host-key", "first-boot", "mail-volume"]);
        expect(step("mail-volume").triggers(spec({ mailVolumeSizeGb: 20 }))).toEqual([20]);
    });
});

// What the lab's updateSecondary runs (lab/scenarios/provision.ts stepsChangedBy): the steps whose command,
// stdin or triggers a config change alters, as the engine decides it for MailProvisioning.
describe("the steps a config change re-runs", () => {
    test("the backup MX's: a new mailbox or alias re-runs relay-data alone there, a new domain relay-data too, never host-key", () => {
        const withMx2 = (extra: Partial<RawConfig> = {}) =>
            spec({ secondaryMx: { hostname: "mx2.nathabee.de", location: "fsn1" }, ...extra });
        const domains = twoDomains().domains as Record<string, any>[];
        const primaryAddresses = ["192.0.2.25", "2001:db8:25::1"];
        const changed = (after: MailSpec) =>
            stepsChangedBy(
                SECONDARY_PROVISIONING_PLAN,
                { spec: withMx2(), inputs: { dkimPrivateKeysPem: {}, passwordHashes: {}, primaryAddresses } },
                { spec: after, inputs: { dkimPrivateKeysPem: {}, passwordHashes: {}, primaryAddresses } },
            );
        expect(changed(withMx2())).toEqual([]);
        expect(
            changed(
                withMx2({ domains: [{ ...domains[0], mailboxes: [...domains[0].mailboxes, "dave"] }, domains[1]] }),
            ),
        ).toEqual(["relay-data"]);
        expect(
            changed(
                withMx2({
                    domains: [
                        { ...domains[0], aliases: { ...domains[0].aliases, sales: ["evaluation@nathabee.de"] } },
                        domains[1],
                    ],
                }),
            ),
        ).toEqual(["relay-data"]);
        const domain = changed(
            withMx2({
                domains: [
                    ...domains,
                    { name: "example.com", mailboxes: ["eve"], aliases: { postmaster: ["eve@example.com"] } },
                ],
            }),
        );
        expect(domain).toContain("relay-data");
        expect(domain).not.toContain("host-key");
    });
});
