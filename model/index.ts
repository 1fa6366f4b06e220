// The bottom layer: the validated MailSpec, its schema and errors, the address graph and the
// services table. It imports nothing of ours (test/layers.test.ts keeps it so).
export * from "./types";
export { buildSpec } from "./build";
export { ConfigError, configPath, type ConfigPath } from "./errors";
export {
    BACKUP_SECRET_KEYS,
    CONFIG_KEYS,
    SECRET_KEYS,
    TEXT_KEYS,
    type BackupSecretKey,
    type ConfigKey,
    type RawConfig,
} from "./schema";
export { cidrNetwork, cidrProblem, isCidr, isDomainName, isEmail, isLocalPart } from "./syntax";
export * from "./names";
export { configWarnings } from "./warnings";
export { addressOwners, hostPostmaster } from "./addresses";
export * from "./services";
export * from "./outputs";
