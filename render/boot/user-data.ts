// The first-boot user-data: packages, the mail volume, every static config file and a
// script that starts the services. It holds no secret (Hetzner serves it to any process on
// the box) and nothing that depends on the domains, so adding a domain never replaces the
// server. Hetzner accepts at most 32 KiB. The #cloud-config itself is cloud-config.ts's.

import { STATE_VERSION, STATE_VERSION_FILE } from "../host/migrations";
import type { MailSpec } from "../../model";
import { MAIL_PACKAGES, MAIL_UNITS, renderFirstBootFiles } from "../features";
import { renderTemplate } from "../host/template";
import { FIRST_BOOT_ARCHIVE, renderCloudConfig, type UserDataOptions } from "./cloud-config";

export {
    ED25519_PUBLIC_KEY,
    FIRST_BOOT_ARCHIVE,
    renderCloudConfig,
    USER_DATA_LIMIT_BYTES,
    type FirstBoot,
    type UserDataOptions,
} from "./cloud-config";

export function renderUserData(spec: MailSpec, options: UserDataOptions): string {
    return renderCloudConfig(options, {
        hostname: spec.hostname,
        packages: MAIL_PACKAGES,
        files: renderFirstBootFiles(spec),
        firstBootScript: renderTemplate("mailstack/first-boot.sh", {
            mailUnits: MAIL_UNITS.join(" "),
            firstBootArchive: FIRST_BOOT_ARCHIVE,
            stateVersion: STATE_VERSION,
            stateVersionFile: STATE_VERSION_FILE,
        }),
    });
}
