// The pure renderers: what ends up on the server, and the DNS values (docs/design.md,
// "Renderer API"). They import only model/ (test/layers.test.ts).
export type { HostFile, ServiceAction } from "./host/types";
export { SERVICE_ACTIONS, renderHostFiles, MAIL_PACKAGES, FEATURES, type Feature } from "./features";
export { renderMailData, type MailDataSecrets } from "./host/mail-data";
export { renderDkimFiles, type DkimSecrets } from "./host/dkim";
export { renderUserData, USER_DATA_LIMIT_BYTES, type UserDataOptions } from "./boot/user-data";
export { renderSecondaryUserData } from "./features/backup-mx";
export { renderBundle, parseBundle, parseBundleRules, type PruneRule } from "./plan/bundle";
export { PROVISIONING_PLAN, type PlanInputs, type ProvisioningStep, type StepRole } from "./plan/plan";
export { firewallRules, secondaryFirewallRules, ANYWHERE, type FirewallRuleSpec } from "./boot/firewall";
