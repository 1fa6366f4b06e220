// Quotas at RCPT time (issue 10): Dovecot's quota-status tells Postfix on port 25 that a
// mailbox is full, and Postfix answers 452 while the sender still holds the message. carol's
// quota is lowered to 1M for the check (mail-data step only) and put back at the end.
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildSpec, type RawConfig } from "../../spec";
import { eventually, imapFetch, rawMessage, sendMail, smtpDialog } from "../clients";
import { LAB_PASSWORDS, labRawConfig } from "../lab-config";
import { provision } from "../provision";
import { ssh, tag } from "./helpers";

const CAROL = "carol@example.net";
// postmaster@example.net is an alias of carol; fwd@example.net forwards to the sink.
const ALIAS_OF_CAROL = "postmaster@example.net";
const OTHER_ALIAS = "fwd@example.net";

/** The lab config with carol's mailbox limited to `quota`. */
function withCarolQuota(quota: string): RawConfig {
    const raw = labRawConfig();
    const domains = (raw.domains as Record<string, unknown>[]).map((d) =>
        d.name === "example.net" ? { ...d, mailboxQuotas: { carol: quota } } : d,
    );
    return { ...raw, domains };
}

async function mailData(raw: RawConfig): Promise<void> {
    const r = await provision(buildSpec(raw), LAB_PASSWORDS, ["mail-data"]);
    assert.ok(r.ok, r.detail);
}

/** RCPT TO answers on port 25 for each address, in one transaction that is never sent. */
async function rcptCodes(from: string, to: readonly string[]): Promise<number[]> {
    const { replies } = await smtpDialog(
        25,
        ["EHLO client.sink.test", `MAIL FROM:<${from}>`, ...to.map((a) => `RCPT TO:<${a}>`), "RSET"],
        { keepGoing: true },
    );
    assert.equal(replies[1]?.code, 250, JSON.stringify(replies));
    return replies.slice(2, 2 + to.length).map((r) => r.code);
}

void test("A full mailbox is refused at RCPT with 452 on port 25, an alias of it is not refused as unknown, and mail gets in once the quota allows", async () => {
    await mailData(withCarolQuota("1M"));
    try {
        // Over the limit: LMTP lets the last message take a mailbox from under its quota to over it
        // (quota_storage_grace), so one message of 1.2 MB fills carol's 1M.
        const big = tag("quota-fill");
        const body = Array.from(
            { length: 16_000 },
            (_, i) => `line ${i} of a large attachment, filling the mailbox.`,
        ).join("\r\n");
        await sendMail({
            port: 25,
            from: `${big}@sink.test`,
            to: [CAROL],
            raw: rawMessage({ from: `${big}@sink.test`, to: CAROL, subject: big, body }),
        });
        await eventually(async () => {
            const quota = ssh(`doveadm -f flow quota get -u ${CAROL} | grep -F 'Type=STORAGE' || true`).stdout;
            const percent = /Percent=(\d+)/.exec(quota)?.[1];
            return percent !== undefined && Number(percent) >= 100 ? quota : undefined;
        }, 30_000);

        const sender = `${tag("quota-full")}@sink.test`;
        const [carol, alias, other] = await rcptCodes(sender, [CAROL, ALIAS_OF_CAROL, OTHER_ALIAS]);
        assert.equal(carol, 452, "a full mailbox: 452 at RCPT (the sender keeps it)");
        // The alias is no mailbox for quota-status (DUNNO): never 5xx "unknown user"; LMTP's own
        // check keeps mail behind it in our queue until the mailbox has room.
        assert.ok(alias < 500, `the alias of a full mailbox got ${alias}`);
        assert.equal(other, 250, "a normal alias still takes mail");
        const log = ssh(
            `journalctl -u postfix --no-pager -o cat | grep -F '<${sender}>' | grep -F 'RCPT' || true`,
        ).stdout;
        assert.match(log, /452 4\.2\.2 /, log);
    } finally {
        await mailData(labRawConfig());
    }
    // Room again (the lab's 2G): the same sender's retry is taken and delivered.
    const retry = tag("quota-retry");
    const [code] = await rcptCodes(`${retry}@sink.test`, [CAROL]);
    assert.equal(code, 250);
    await sendMail({ port: 25, from: `${retry}@sink.test`, to: [CAROL], subject: retry });
    await eventually(async () => {
        const found = await imapFetch(CAROL, LAB_PASSWORDS[CAROL], { subject: retry });
        return found.length > 0 ? found : undefined;
    }, 30_000);
});
