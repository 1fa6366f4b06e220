// Hashes one mailbox password for Dovecot's passwd-file, run by the stack's
// command.local.Command (components/mailstack.ts) so the hash is computed once per change and
// kept in the stack's state: an unchanged password is never hashed again, not by a preview
// nor by an up. The password comes on stdin, the stable salt in BCRYPT_SALT; the output is
// `{BLF-CRYPT}$2b$12$...`, the same as render/plan/passwords.ts's hashPassword.
//
// Plain JavaScript for any Node the deployer has; bcryptjs from the project's node_modules
// (the command runs in the Pulumi project's directory).
"use strict";
const bcrypt = require(require.resolve("bcryptjs", { paths: [process.cwd(), __dirname] }));
const COST = 12;
const salt = process.env.BCRYPT_SALT || "";
if (!/^[./A-Za-z0-9]{22}$/.test(salt)) {
    console.error("hash-password: BCRYPT_SALT must be 22 characters of [./A-Za-z0-9]");
    process.exit(2);
}
const chunks = [];
process.stdin.on("data", (c) => chunks.push(c));
process.stdin.on("end", () => {
    const password = Buffer.concat(chunks).toString("utf8");
    if (password.length < 12 || Buffer.byteLength(password, "utf8") > 72) {
        console.error("hash-password: a mailbox password has 12 characters to 72 bytes");
        process.exit(2);
    }
    process.stdout.write(`{BLF-CRYPT}${bcrypt.hashSync(password, `$2b$${COST}$${salt}`)}`);
});
