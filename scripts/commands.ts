// The exact command text that runs a provisioning script over SSH, shared by the Pulumi
// components and the lab so both run the same text with the same stdin.

import * as fs from "fs";
import * as path from "path";

export type ScriptName =
    "wait-first-boot.sh" | "install-packages.sh" | "apply-bundle.sh" | "grow-mail-volume.sh" | "issue-certificate.sh";

/**
 * OpenSSH's options for root's login as the provisioning steps make it (pulumi-command's
 * `connection.hostKey`): only the deploy key, never a prompt, and only the one pinned host
 * key in `knownHosts` is accepted. The lab's ssh and `mailstack doctor` use these.
 */
export function pinnedSshOptions(identity: string, knownHosts: string, hostKeyAlgorithm: string): string[] {
    const options = [
        "BatchMode=yes",
        "IdentitiesOnly=yes",
        "StrictHostKeyChecking=yes",
        `UserKnownHostsFile=${knownHosts}`,
        `HostKeyAlgorithms=${hostKeyAlgorithm}`,
        "LogLevel=ERROR",
        "ServerAliveInterval=5",
    ];
    return ["-i", identity, ...options.flatMap((o) => ["-o", o])];
}

/** Wrap a text in single quotes for a POSIX shell. */
export function shellQuote(text: string): string {
    return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * `bash -c '<script text>' <scriptName>`: the script's text is read from scripts/ now (at
 * call time), so a change to the script changes the command and re-runs the step. The name
 * becomes $0 for the script's messages.
 */
export function remoteCommand(scriptName: ScriptName | string): string {
    if (!/^[a-z0-9-]+\.sh$/.test(scriptName))
        throw new Error(`remoteCommand: "${scriptName}" is not a script in scripts/`);
    const text = fs.readFileSync(path.join(__dirname, scriptName), "utf8");
    return `bash -c ${shellQuote(text)} ${scriptName}`;
}

/**
 * `node -e '<script text>'` for a script of scripts/ that runs on the deployer's machine
 * (command.local.Command). The text is in the command, so a change to it re-runs the step;
 * `__dirname` inside it is the working directory, the Pulumi project.
 */
export function localNodeCommand(scriptName: string): string {
    if (!/^[a-z0-9-]+\.cjs$/.test(scriptName))
        throw new Error(`localNodeCommand: "${scriptName}" is not a script in scripts/`);
    const text = fs.readFileSync(path.join(__dirname, scriptName), "utf8");
    return `node -e ${shellQuote(text)}`;
}
