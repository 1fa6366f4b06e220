// The pure renderers of the mail host (docs/design.md, "Renderer API").
export type { HostFile, ServiceAction } from "./types";
export { SERVICE_ACTIONS } from "./types";
export { renderHostFiles } from "./host-files";
export { renderMailData, senderLogins, mailboxHome, type MailDataSecrets } from "./mail-data";
export { renderDkimFiles, dkimKeyPath, type DkimSecrets } from "./dkim";
export { renderUserData, USER_DATA_LIMIT_BYTES, type UserDataOptions } from "./user-data";
export { renderBundle, parseBundle } from "./bundle";
export { MAIL_PACKAGES, IMAGE_PACKAGES } from "./packages";
