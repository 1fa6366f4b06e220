// The provisioning steps across two `pulumi up`s: what the engine and pulumi-command would
// do with each step when only the SSH connection changed (test/helpers/command-provider.ts),
// and what a step with a secret stdin keeps out of the state.
import { find, created, mocksReady, options, promiseOf, recordOptions, settle, SERVER_HOST_KEY } from "./helpers/mocks";
import { commandStep, FakeServer } from "./helpers/command-provider";

import { HOST_KEY_COMMAND, PROVISIONING_PLAN, SECONDARY_PROVISIONING_PLAN, type StepRole } from "../render/plan/plan";
import { MailProvisioning } from "../components/provisioning";
import { buildSpec } from "../model";
import { oneDomain } from "./helpers/fixtures";

const COMMAND = "command:remote:Command";
const PROVISIONAL_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIProvisionalHostKeyFromTheUserData000000000";
const DKIM_PEM =
    "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----\n";
const HASH = "{BLF-CRYPT}$2b$12$abcdefghijklmnopqrstuu0123456789012345678901234567890";

interface DeclaredStep {
    readonly role: StepRole;
    readonly name: string;
    readonly inputs: Record<string, any>;
    readonly ignoreChanges: readonly string[];
    readonly additionalSecretOutputs: readonly string[];
}

/** One program run: the provisioning component alone, with the connection's inputs given. */
async function provision(name: string, connection: { privateKey: string; serverId?: string }): Promise<DeclaredStep[]> {
    await mocksReady;
    const spec = buildSpec({ ...oneDomain(), hasRelayPassword: false, backupSecretsSet: [] });
    const p = new MailProvisioning(
        name,
        {
            spec,
            serverId: connection.serverId ?? "4711",
            host: "192.0.2.25",
            privateKey: connection.privateKey,
            provisionalHostKey: PROVISIONAL_KEY,
            passwordHashes: { "evaluation@nathabee.de": HASH, "freebus@nathabee.de": HASH },
            dkimPrivateKeysPem: { "nathabee.de": DKIM_PEM },
            waitFor: { "host-dns": [], "dkim-dns": [], "volume-size": [] },
        },
        { transformations: [recordOptions] },
    );
    await Promise.all(Object.values(p.reports).map(promiseOf));
    await settle();
    return PROVISIONING_PLAN.map((s) => {
        const r = find(created, COMMAND, `${name}-${s.role}`);
        const o = options.find((x) => x.name === r.name)!;
        return {
            role: s.role,
            name: r.name,
            inputs: r.inputs,
            ignoreChanges: o.ignoreChanges ?? [],
            additionalSecretOutputs: o.additionalSecretOutputs ?? [],
        };
    });
}

/** The first `pulumi up` on a new server: every step created, in the plan's order. */
function firstUp(steps: readonly DeclaredStep[]): FakeServer {
    const server = new FakeServer(PROVISIONAL_KEY, SERVER_HOST_KEY);
    for (const s of steps) server.run(s.role, s.inputs);
    return server;
}

/** The next `pulumi up`: each step's engine step, and the commands it runs on the server. */
function nextUp(server: FakeServer, before: readonly DeclaredStep[], after: readonly DeclaredStep[]) {
    const ran = server.ran.length;
    const steps = after.map((s, i) => {
        const { step, inputs } = commandStep(before[i].inputs, s.inputs, s.ignoreChanges);
        if (step === "replace" && s.role === "host-key") server.hostKey = PROVISIONAL_KEY; // a new server boots
        if (step !== "same") server.run(s.role, inputs);
        return [s.role, step, inputs] as const;
    });
    return { steps, ran: server.ran.slice(ran) };
}

/**
 * The steps a re-run leaves as they were when their input is unchanged, and why. A step
 * added to the plan must be added here, with its reason, before a changed connection may
 * re-run it.
 */
const IDEMPOTENT: Readonly<Record<Exclude<StepRole, "host-key">, string>> = {
    "first-boot": "reads cloud-init's result again",
    packages: "apt installs nothing already installed; running units stay running",
    "host-config": "apply-bundle: unchanged files change nothing and restart nothing",
    dkim: "apply-bundle",
    "mail-data": "apply-bundle",
    "mail-volume": "resize2fs only when the device is larger than the filesystem",
    certificate: "the same names again request nothing",
    backup: "apply-bundle, then `mailstack-backup enable` sets the timers it already set",
    import: "apply-bundle, then `mailstack-import enable` sets the timer it already set; the run it starts adds only what is new",
    "relay-data": "apply-bundle (the backup MX's tables)",
};

describe("a changed SSH connection (a rotated deploy key, other timeouts)", () => {
    test("updates every step but host-key, each re-running the same command on the same stdin; host-key is left alone", async () => {
        const before = await provision("conna", { privateKey: "deploy-key-1" });
        const after = await provision("connb", { privateKey: "deploy-key-2" });
        const server = firstUp(before);
        expect(server.hostKey).toBe(SERVER_HOST_KEY);

        const { steps, ran } = nextUp(server, before, after);
        expect(steps.map(([role, step]) => [role, step])).toEqual(
            PROVISIONING_PLAN.map((s) => [s.role, s.role === "host-key" ? "same" : "update"]),
        );
        for (const [role, , inputs] of steps.filter(([role]) => role !== "host-key")) {
            const old = before.find((s) => s.role === role)!.inputs;
            expect([role, inputs.create, inputs.stdin]).toEqual([role, old.create, old.stdin]);
            expect(IDEMPOTENT[role as keyof typeof IDEMPOTENT]).toEqual(expect.any(String));
            expect((inputs.connection as { privateKey: string }).privateKey).toBe("deploy-key-2");
        }
        expect(ran.some((r) => r.includes(HOST_KEY_COMMAND))).toBe(false);
        expect(Object.keys(IDEMPOTENT).sort()).toEqual(
            [...new Set([...PROVISIONING_PLAN, ...SECONDARY_PROVISIONING_PLAN].map((s) => s.role))]
                .filter((r) => r !== "host-key")
                .sort(),
        );
    });

    test("without ignoreChanges the host-key step would be updated and fail as the provider does: pinned to a key the server no longer has", async () => {
        const before = await provision("connc", { privateKey: "deploy-key-1" });
        const after = await provision("connd", { privateKey: "deploy-key-2" });
        const server = firstUp(before);
        const hostKey = after.find((s) => s.role === "host-key")!;
        const { step, inputs } = commandStep(before[0].inputs, hostKey.inputs, []);
        expect(step).toBe("update");
        expect(() => server.run("host-key", inputs)).toThrow(/ssh: handshake failed: ssh: host key mismatch/);
    });

    test("the host-key step ignores every input but its triggers; no other step ignores any", async () => {
        const steps = await provision("conne", { privateKey: "deploy-key-1" });
        for (const s of steps) {
            const ignorable = s.role === "host-key" ? Object.keys(s.inputs).filter((k) => k !== "triggers") : [];
            expect([s.role, [...s.ignoreChanges].sort()]).toEqual([s.role, ignorable.sort()]);
        }
        expect(steps[0].ignoreChanges).toContain("connection");
        expect(steps[0].inputs.create).toBe(HOST_KEY_COMMAND);
    });

    test("a new server (a new id in every step's triggers) replaces every step, host-key first on the new server's provisional key", async () => {
        const before = await provision("connf", { privateKey: "deploy-key-1", serverId: "4711" });
        const after = await provision("conng", { privateKey: "deploy-key-1", serverId: "4712" });
        const server = firstUp(before);
        const { steps, ran } = nextUp(server, before, after);
        expect(steps.map(([, step]) => step)).toEqual(PROVISIONING_PLAN.map(() => "replace"));
        expect(ran[0]).toBe(`host-key: ${HOST_KEY_COMMAND}`);
        expect(ran).toHaveLength(PROVISIONING_PLAN.length);
    });
});

describe("steps whose stdin holds a secret", () => {
    test("print nothing to the log and keep stdout and stderr encrypted in the state; the others report in clear", async () => {
        const steps = await provision("secretout", { privateKey: "deploy-key-1" });
        const secret = PROVISIONING_PLAN.filter((s) => s.secret).map((s) => s.role);
        expect(secret.sort()).toEqual(["backup", "dkim", "import", "mail-data"]);
        for (const s of steps) {
            const isSecret = secret.includes(s.role);
            expect([s.role, s.inputs.logging]).toEqual([s.role, isSecret ? "none" : undefined]);
            // The SDK itself adds `connection` (@pulumi/command's remote/command.js).
            expect([s.role, [...s.additionalSecretOutputs].sort()]).toEqual([
                s.role,
                isSecret ? ["connection", "stderr", "stdout"] : ["connection"],
            ]);
        }
    });
});
