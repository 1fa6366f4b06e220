// Quotas at RCPT time (issue 10): Dovecot's quota-status tells Postfix on port 25 that a
// mailbox is full, and Postfix answers 452 while the sender still holds the message. carol's
// quota is lowered to 1M for the check (mail-data step only) and put back at the end.
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildSpec, type RawConfig } from "../../model";
import { eventually, imapFetch, rawMessage, sendMail, smtpDialog } from "../clients";
import { LAB_PASSWORDS, labRawConfig } from "../lab-config";
import { provision } from "../scenarios/provision";
import { ssh, tag } from "./helpers";

const CAROL = "carol@example.net";
// postmaster@example.net is an alias of carol; fwd@example.net forwards to the sink.
const ALIAS_OF_CAROL = "postmaster@example.net";
const OTHER_ALIAS = "fwd@example.net";
// example.net's catch-all is carol: an address nobody listed reaches her mailbox.
const CATCH_ALL = "nobody-listed@example.net";

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

/** One message to carol of `lines` lines (about 54 bytes each) over port 25. */
async function fill(lines: number): Promise<void> {
    const from = `${tag("quota-fill")}@sink.test`;
    const body = Array.from({ length: lines }, (_, i) => `line ${i} of a large attachment, filling the mailbox.`).join(
        "\r\n",
    );
    await sendMail({ port: 25, from, to: [CAROL], raw: rawMessage({ from, to: CAROL, subject: tag("fill"), body }) });
}

/** The quota warning for `percent` arrives in carol's INBOX, from the domain's postmaster. */
async function warned(percent: number): Promise<void> {
    const [m] = await eventually(async () => {
        const found = await imapFetch(CAROL, LAB_PASSWORDS[CAROL], { subject: `Your mailbox is ${percent}% full` });
        return found.length > 0 ? found : undefined;
    }, 30_000);
    assert.match(m.source, /^From: Postmaster <postmaster@example\.net>/m);
}

void test("A full mailbox is refused at RCPT with 452 on port 25, an alias of it and an address its catch-all takes are not refused as unknown, and mail gets in once the quota allows", async () => {
    await mailData(withCarolQuota("1M"));
    try {
        // 84% of the quota: the 80% warning. Then over it: LMTP lets the last message take a
        // mailbox from under its quota to over it (quota_storage_grace), and the 95% warning runs.
        await fill(16_000);
        await warned(80);
        await fill(8_000);
        await warned(95);
        // doveadm's table: name, type, value, limit, percent (STORAGE in KiB).
        await eventually(async () => {
            const line = ssh(`doveadm -f tab quota get -u ${CAROL} | grep -P '\\tSTORAGE\\t' || true`).stdout;
            const [, , value, limit] = line.trim().split("\t");
            return Number(value) >= Number(limit) && Number(limit) > 0 ? line : undefined;
        }, 30_000);

        const sender = `${tag("quota-full")}@sink.test`;
        const [carol, alias, other, caught] = await rcptCodes(sender, [CAROL, ALIAS_OF_CAROL, OTHER_ALIAS, CATCH_ALL]);
        assert.equal(carol, 452, "a full mailbox: 452 at RCPT (the sender keeps it)");
        // The alias is no mailbox for quota-status (DUNNO): never 5xx "unknown user"; LMTP's own
        // check keeps mail behind it in our queue until the mailbox has room.
        assert.ok(alias < 500, `the alias of a full mailbox got ${alias}`);
        assert.equal(other, 250, "a normal alias still takes mail");
        // The catch-all is like the alias: quota-status knows no such user (DUNNO), so it is never
        // refused as unknown; LMTP's quota check for carol keeps the mail in our queue until she has room.
        assert.ok(caught < 500, `an unlisted address of the catch-all domain got ${caught}`);
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
