// Does a password open a login: IMAPS, and AUTH on 587. Shared by the checks of passwords and
// app passwords (accounts.test.ts, app-passwords.test.ts).
import { PASSWORD_SOCKET } from "../../render/host/mailbox-passwords";
import { authPlain, imapFetch, smtpDialog } from "../clients";
import { ssh } from "./helpers";

/** Whether `pass` opens an IMAPS login for `user` (and a search in the INBOX). */
export async function imapWorks(user: string, pass: string): Promise<boolean> {
    try {
        await imapFetch(user, pass, { subject: "no-such-subject" });
        return true;
    } catch {
        return false;
    }
}

/** AUTH on 587 (from the lab's second client address, so fail2ban's counts stay apart): the reply code. */
export async function submissionAuth(user: string, pass: string): Promise<number> {
    const r = await smtpDialog(587, ["EHLO client.sink.test", authPlain(user, pass)], {
        starttls: true,
        keepGoing: true,
        localAddress: "198.51.100.7",
    });
    return r.replies[3]?.code ?? 0;
}

/** One request to the password helper's socket as www-data (what the webmail's plugins send): its answer line. */
export function askHelper(request: object): string {
    return ssh(
        `runuser -u www-data -- python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect("${PASSWORD_SOCKET}")
s.sendall(sys.stdin.buffer.read())
print(s.makefile().readline(), end="")'`,
        { input: `${JSON.stringify(request)}\n` },
    ).stdout;
}
