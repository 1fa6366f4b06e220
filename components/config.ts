// Reads the `mailstack:*` stack config into plain values for buildSpec. The keys, which are
// secret and which are plain strings all come from the schema (model/schema.ts). Secrets are
// read raw (to validate their keys before anything is declared) and wrapped as secrets at once.

import * as pulumi from "@pulumi/pulumi";

import {
    BACKUP_SECRET_KEYS,
    buildSpec,
    CONFIG_KEYS,
    ConfigError,
    configWarnings,
    SECRET_KEYS,
    TEXT_KEYS,
    type BackupSecretKey,
    type ConfigKey,
    type MailSpec,
    type RawConfig,
} from "../model";

export interface StackConfig {
    readonly spec: MailSpec;
    /** `mailstack:passwords`, address -> password (secret). */
    readonly passwords: pulumi.Output<Record<string, string>>;
    readonly configuredPasswordAddresses: readonly string[];
    /** `mailstack:relayPassword` (secret). */
    readonly relayPassword?: pulumi.Output<string>;
    /** `mailstack:backupPassword`, `backupSshPrivateKey`, `backupS3*` that are set (secrets). */
    readonly backupSecrets: Readonly<Partial<Record<BackupSecretKey, pulumi.Output<string>>>>;
}

/** A config value exactly as Pulumi stores it. */
function readText(key: ConfigKey): string | undefined {
    // runtime.getConfig returns secrets decrypted without logging a warning; nothing read
    // here is printed, and the secret ones are wrapped in pulumi.secret below.
    return pulumi.runtime.getConfig(`mailstack:${key}`);
}

/**
 * A string key as written; a structured one (objects, lists, numbers) as JSON when it
 * parses, else the plain string, which validation then reports with its key path.
 */
function readRaw(key: ConfigKey): unknown {
    const text = readText(key);
    if (text === undefined || TEXT_KEYS.includes(key)) return text;
    try {
        return JSON.parse(text);
    } catch {
        return text;
    }
}

/** `mailstack:*` keys that mailstack does not read: a misspelt key must not be ignored silently. */
function unknownKeys(configKeys: readonly string[]): string[] {
    const known: readonly string[] = CONFIG_KEYS;
    return configKeys
        .filter((k) => k.startsWith("mailstack:") && !known.includes(k.slice("mailstack:".length)))
        .sort()
        .map((k) => {
            const name = k.slice("mailstack:".length).toLowerCase();
            const meant = known.find((key) => key.toLowerCase() === name);
            return `${k}: is not a mailstack setting (${meant ? `did you mean mailstack:${meant}?` : `known: ${known.join(", ")}`})`;
        });
}

/**
 * Secret keys stored in plain text in Pulumi.<stack>.yaml. The engine tells the program
 * which keys are secret (PULUMI_CONFIG_SECRET_KEYS); the SDK reads that list with
 * `runtime.isConfigSecret`, which its .d.ts does not declare.
 */
function plainSecrets(): string[] {
    const isConfigSecret = (pulumi.runtime as unknown as { isConfigSecret?: (key: string) => boolean }).isConfigSecret;
    if (!isConfigSecret) return [];
    const how: Record<string, string> = {
        passwords: `pulumi config set --secret --path 'mailstack:passwords["<address>"]' for each entry`,
    };
    return SECRET_KEYS.filter((k) => readText(k) !== undefined && !isConfigSecret(`mailstack:${k}`)).map(
        (k) =>
            `mailstack:${k}: is stored in plain text in the stack file: set it again with ${how[k] ?? `pulumi config set --secret mailstack:${k}`}`,
    );
}

/** Read and validate the whole stack config; throws a RunError naming every bad key. */
export function readStackConfig(): StackConfig {
    const raw = Object.fromEntries(CONFIG_KEYS.map((k) => [k, readRaw(k)])) as Record<ConfigKey, unknown>;
    const { relayPassword, ...rest } = raw;
    const backupSecretsSet = BACKUP_SECRET_KEYS.filter((k) => raw[k] !== undefined);
    for (const k of BACKUP_SECRET_KEYS) delete (rest as Partial<Record<ConfigKey, unknown>>)[k];
    const problems: string[] = [];
    let spec: MailSpec | undefined;
    try {
        // The secrets' values go in for their shape only (a short backup password, a line
        // break in the relay's): the spec never holds them, and no message echoes them.
        spec = buildSpec({
            ...(rest as RawConfig),
            secretValues: Object.fromEntries([
                ["relayPassword", relayPassword],
                ...BACKUP_SECRET_KEYS.map((k) => [k, raw[k]]),
            ]),
        });
    } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        problems.push(...e.problems);
    }
    problems.push(...plainSecrets(), ...unknownKeys(Object.keys(pulumi.runtime.allConfig())));
    // RunError: Pulumi prints the message alone, without a stack trace.
    if (problems.length > 0 || !spec) throw new pulumi.RunError(new ConfigError(problems).message);
    for (const warning of configWarnings(spec)) void pulumi.log.warn(warning);
    const map = (raw.passwords ?? {}) as Record<string, string>;
    return {
        spec,
        passwords: pulumi.secret(map),
        configuredPasswordAddresses: Object.keys(map),
        ...(typeof relayPassword === "string" ? { relayPassword: pulumi.secret(relayPassword) } : {}),
        backupSecrets: Object.fromEntries(backupSecretsSet.map((k) => [k, pulumi.secret(String(raw[k]))])),
    };
}
