// mailstack: read the stack config, build the mail server, export what a user needs.
import { readStackConfig } from "./components/config";
import { MailStack } from "./components/mailstack";

const config = readStackConfig();
const mail = new MailStack("mail", {
    spec: config.spec,
    passwords: config.passwords,
    configuredPasswordAddresses: config.configuredPasswordAddresses,
    ...(config.relayPassword ? { relayPassword: config.relayPassword } : {}),
});

export const ipv4 = mail.ipv4;
export const ipv6 = mail.ipv6;
export const hostname = mail.hostname;
export const dnsRecords = mail.dnsRecords;
export const clientSettings = mail.clientSettings;
export const mailboxPasswords = mail.mailboxPasswords;
export const deployPrivateKey = mail.deployPrivateKey;
