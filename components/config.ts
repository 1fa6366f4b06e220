// Reads the `mailstack:*` stack config into plain values for buildSpec. Secrets are read
// raw (to validate their keys before anything is declared) and wrapped as secrets at once.

import * as pulumi from "@pulumi/pulumi";

import { buildSpec, CONFIG_KEYS, ConfigError, type MailSpec } from "./spec";

export interface StackConfig {
    readonly spec: MailSpec;
    /** `mailstack:passwords`, address -> password (secret). */
    readonly passwords: pulumi.Output<Record<string, string>>;
    readonly configuredPasswordAddresses: readonly string[];
    /** `mailstack:relayPassword` (secret). */
    readonly relayPassword?: pulumi.Output<string>;
}

/** A config value exactly as Pulumi stores it (plain string keys: hostname, passwords...). */
function readText(key: string): string | undefined {
    // runtime.getConfig returns secrets decrypted without logging a warning; nothing read
    // here is printed, and the secret ones are wrapped in pulumi.secret below.
    return pulumi.runtime.getConfig(`mailstack:${key}`);
}

/**
 * A structured config value (objects, lists, numbers) as JSON when it parses, else the
 * plain string, which validation then reports with its key path.
 */
function readRaw(key: string): unknown {
    const text = readText(key);
    if (text === undefined) return undefined;
    try {
        return JSON.parse(text);
    } catch {
        return text;
    }
}

/** `mailstack:*` keys that mailstack does not read: a misspelt key must not be ignored silently. */
function unknownKeys(configKeys: readonly string[]): string[] {
    return configKeys
        .filter((k) => k.startsWith("mailstack:") && !CONFIG_KEYS.includes(k.slice("mailstack:".length)))
        .sort()
        .map((k) => {
            const name = k.slice("mailstack:".length).toLowerCase();
            const meant = CONFIG_KEYS.find((known) => known.toLowerCase() === name);
            return `${k}: is not a mailstack setting (${meant ? `did you mean mailstack:${meant}?` : `known: ${CONFIG_KEYS.join(", ")}`})`;
        });
}

/** Read and validate the whole stack config; throws a ConfigError naming every bad key. */
export function readStackConfig(): StackConfig {
    const passwords = readRaw("passwords");
    // A string key is never JSON-parsed: a digits-only password stays the string it is.
    const relayPassword = readText("relayPassword");
    const problems: string[] = [];
    let spec: MailSpec | undefined;
    try {
        spec = buildSpec({
            hostname: readText("hostname"),
            acmeEmail: readText("acmeEmail"),
            acmeServer: readText("acmeServer"),
            server: readRaw("server"),
            sshAllowedCidrs: readRaw("sshAllowedCidrs"),
            domains: readRaw("domains"),
            relay: readRaw("relay"),
            mailVolumeSizeGb: readRaw("mailVolumeSizeGb"),
            messageSizeLimitMb: readRaw("messageSizeLimitMb"),
            passwords,
            hasRelayPassword: relayPassword !== undefined,
        });
    } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        problems.push(...e.problems);
    }
    problems.push(...unknownKeys(Object.keys(pulumi.runtime.allConfig())));
    // RunError: Pulumi prints the message alone, without a stack trace.
    if (problems.length > 0 || !spec) throw new pulumi.RunError(new ConfigError(problems).message);
    const map = (passwords ?? {}) as Record<string, string>;
    return {
        spec,
        passwords: pulumi.secret(map),
        configuredPasswordAddresses: Object.keys(map),
        ...(relayPassword !== undefined ? { relayPassword: pulumi.secret(relayPassword) } : {}),
    };
}
