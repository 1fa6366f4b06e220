// What the Pulumi engine and pulumi-command do with a `command.remote.Command` on the next
// `pulumi up`, which the mocks cannot show: the mocks create every resource afresh.
//
// The engine (pulumi/pulumi#2657) first puts the state's old values in place of every input
// named in ignoreChanges, then asks the provider for a diff. pulumi-command v1.x marks only
// `triggers` replaceOnChanges (provider/pkg/provider/common/inputs.go), so a change there is
// a replacement, any other change an update; its Update runs `update`, or `create` when there
// is none (provider/pkg/provider/remote/commandController.go). Create and Update both dial the
// connection, pinned to `connection.hostKey`, before running anything.

import { isDeepStrictEqual } from "node:util";

import { HOST_KEY_COMMAND } from "../../render/plan/plan";

export type CommandStep = "same" | "update" | "replace";

/** The engine's step for a command whose state holds `old` and whose program now declares `now`. */
export function commandStep(
    old: Readonly<Record<string, unknown>>,
    now: Readonly<Record<string, unknown>>,
    ignoreChanges: readonly string[] = [],
): { readonly step: CommandStep; readonly inputs: Record<string, unknown> } {
    const inputs: Record<string, unknown> = { ...now };
    // A path the old state lacks keeps the program's value (pulumi/pulumi#20278).
    for (const key of ignoreChanges) if (key in old) inputs[key] = old[key];
    if (!isDeepStrictEqual(old.triggers, inputs.triggers)) return { step: "replace", inputs };
    const keys = new Set([...Object.keys(old), ...Object.keys(inputs)]);
    const changed = [...keys].some((k) => !isDeepStrictEqual(old[k], inputs[k]));
    return { step: changed ? "update" : "same", inputs };
}

/** A server as the provider's SSH client meets it: one host key, replaced by the host-key step. */
export class FakeServer {
    /** The commands run on it, in order: `<name>: <create>`. */
    public readonly ran: string[] = [];

    constructor(
        public hostKey: string,
        private readonly replacedKey: string,
    ) {}

    /** Create or Update of a command: dial pinned to its host key, then run `create`. */
    run(name: string, inputs: Readonly<Record<string, any>>): void {
        if (inputs.connection?.hostKey !== this.hostKey)
            // golang.org/x/crypto/ssh's FixedHostKey callback, as the provider reports it.
            throw new Error(`${name}: ssh: handshake failed: ssh: host key mismatch`);
        this.ran.push(`${name}: ${String(inputs.create)}`);
        if (inputs.create === HOST_KEY_COMMAND) this.hostKey = this.replacedKey;
    }
}
