// Dovecot password hashes for the passwd-file, computed on the deployer's machine so that
// only hashes travel to the server. The salt is a stable random value kept in the stack's
// state, so an unchanged password gives the same hash and no diff in `pulumi preview`.

import bcrypt from "bcryptjs";

/**
 * bcrypt cost: 2^12 rounds, about a quarter second per login on a small VM. Changing it
 * re-hashes every configured password, and so changes each one's generation
 * (passwordGeneration, render/host/mailbox-passwords.ts): at the next `pulumi up` every
 * password a user set in the webmail would be dropped for the configured one. Change it only
 * together with a generation that does not follow the cost.
 */
export const BCRYPT_COST = 12;
/** bcrypt's salt is 22 characters of this alphabet. */
export const BCRYPT_SALT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
export const BCRYPT_SALT_LENGTH = 22;
/** The shortest mailbox password, configured or set by the user in the webmail. */
export const MIN_PASSWORD_LENGTH = 12;

/** `{BLF-CRYPT}$2b$12$...` for Dovecot's passwd-file. Same password and salt, same hash. */
export function hashPassword(password: string, salt22: string): string {
    if (password.length < MIN_PASSWORD_LENGTH)
        throw new Error(`a mailbox password must have at least ${MIN_PASSWORD_LENGTH} characters`);
    if (salt22.length !== BCRYPT_SALT_LENGTH || [...salt22].some((c) => !BCRYPT_SALT_ALPHABET.includes(c))) {
        throw new Error("bcrypt salt must be 22 characters of [./A-Za-z0-9]");
    }
    // bcrypt uses only the first 72 bytes of a password; longer ones are refused rather than
    // silently truncated.
    if (Buffer.byteLength(password, "utf8") > 72) throw new Error("a mailbox password must be at most 72 bytes");
    return `{BLF-CRYPT}${bcrypt.hashSync(password, `$2b$${BCRYPT_COST}$${salt22}`)}`;
}
