// Does a password open a login: IMAPS, and AUTH on 587. Shared by the checks of passwords and
// app passwords (accounts.test.ts, app-passwords.test.ts).
import { authPlain, imapFetch, smtpDialog } from "../clients";

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
