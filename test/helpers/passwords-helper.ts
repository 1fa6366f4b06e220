// mailstack-passwords under a temporary root, as the helper's tests run it: the helper at
// <root>/helper.py and the modules it imports where MAILSTACK_PASSWORDS_ROOT points it.
import * as fs from "node:fs";
import * as path from "node:path";
import type { HostFile } from "../../render/host/types";
import { AUTH_CACHE_MODULE, PASSWORDS_HELPER, TOTP_MODULE } from "../../render/host/mailbox-passwords";

/** Writes the helper and its modules from the rendered files; the helper's path. */
export function installHelper(root: string, files: readonly HostFile[]): string {
    const content = (p: string) => files.find((f) => f.path === p)!.content;
    const helper = path.join(root, "helper.py");
    fs.writeFileSync(helper, content(PASSWORDS_HELPER));
    fs.mkdirSync(path.join(root, path.dirname(TOTP_MODULE)), { recursive: true });
    fs.writeFileSync(path.join(root, TOTP_MODULE), content(TOTP_MODULE));
    fs.writeFileSync(path.join(root, AUTH_CACHE_MODULE), content(AUTH_CACHE_MODULE));
    return helper;
}
