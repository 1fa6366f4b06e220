// The pure renderers: what ends up on the server, and the DNS values (docs/design.md,
// "Renderer API"). They import only spec/ (test/layers.test.ts).
export type { HostFile, ServiceAction } from "./types";
export { SERVICE_ACTIONS } from "./types";
export { renderHostFiles } from "./host-files";
export { renderMailData, type MailDataSecrets } from "./mail-data";
export { renderDkimFiles, type DkimSecrets } from "./dkim";
export { renderUserData, USER_DATA_LIMIT_BYTES, type UserDataOptions } from "./user-data";
export { renderSecondaryUserData } from "./secondary-mx";
export { renderBundle, parseBundle, parseBundleRules, type PruneRule } from "./bundle";
export { MAIL_PACKAGES } from "./packages";
export { PROVISIONING_PLAN, type PlanInputs, type ProvisioningStep, type StepRole } from "./plan";
export { firewallRules, secondaryFirewallRules, ANYWHERE, type FirewallRuleSpec } from "./firewall";
