// Junk through rspamd itself (issue 10): a message that scores between junk and reject is
// greylisted on its first try; retried after the greylisting delay, as a real server does,
// it is delivered with rspamd's X-Spam-Status: Yes and Sieve files it into Junk.
// filter.test.ts makes the first try (from the blocklisted address to alice); this check runs
// minutes later, so it usually has no delay left to wait out. Alone, it makes the first try itself.
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, imapFetch, rawMessage, smtpDialog } from "../clients";
import { labSpec, LAB_PASSWORDS } from "../lab-config";
import { NET, ssh, tag } from "./helpers";

const ALICE = "alice@example.org";
/** The triplet filter.test.ts greylisted: this address, this sender, alice. */
const SENDER = "someone@sink.test";

/** One try on port 25 from the blocklisted address; the reply to the end of DATA. */
async function offer(subject: string): Promise<{ code: number; text: string }> {
    const raw = rawMessage({ from: SENDER, to: ALICE, subject, body: "Cheap watches, today only." });
    const { replies } = await smtpDialog(
        25,
        ["EHLO client.sink.test", `MAIL FROM:<${SENDER}>`, `RCPT TO:<${ALICE}>`, "DATA", `${raw}\r\n.`],
        { keepGoing: true, localAddress: NET.listed4 },
    );
    const end = replies[4];
    return { code: end?.code ?? 0, text: end?.lines.join(" ") ?? JSON.stringify(replies) };
}

/** When rspamd lets the triplet through: the time in its last "GREYLIST(...){greylisted;<time>;new record;}". */
function greylistedUntil(): number | undefined {
    const log = ssh(
        `journalctl -u rspamd --no-pager -o cat | grep -F 'ip: ${NET.listed4},' | grep -F 'new record' || true`,
    ).stdout;
    const times = [...log.matchAll(/GREYLIST\([^)]*\)\{greylisted;([^;]+);new record;\}/g)].map((m) =>
        Date.parse(m[1]),
    );
    return times.length ? Math.max(...times) : undefined;
}

void test("A message scoring between junk and reject, retried after its greylisting as a real server does, lands in Junk with X-Spam-Status: Yes", async () => {
    let until = greylistedUntil();
    if (until === undefined) {
        const first = await offer(tag("junk-first"));
        assert.ok(first.code >= 400 && first.code < 500, `first try answered ${first.code} ${first.text}`);
        until = greylistedUntil();
        assert.ok(until, "rspamd logged no greylisting");
    }
    const wait = until - Date.now() + 2000;
    assert.ok(wait < 6 * 60_000, `greylisted for ${Math.round(wait / 1000)} s more`);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));

    const subject = tag("junk");
    const retry = await offer(subject);
    assert.equal(retry.code, 250, `the retry answered ${retry.code} ${retry.text}`);
    const [msg] = await eventually(async () => {
        const found = await imapFetch(ALICE, LAB_PASSWORDS[ALICE], { subject, mailbox: "Junk" });
        return found.length > 0 ? found : undefined;
    }, 30_000);
    const status = /^X-Spam-Status: (.*)$/m.exec(msg.source)?.[1] ?? "";
    const score = Number(/score=(-?\d+(?:\.\d+)?)/.exec(status)?.[1] ?? NaN);
    const { junk, reject } = labSpec().spamFilter;
    assert.match(status, /^Yes, score=/, status);
    assert.ok(score >= Number(junk) && score < Number(reject), `score ${score}, junk ${junk}, reject ${reject}`);
    assert.deepEqual(await imapFetch(ALICE, LAB_PASSWORDS[ALICE], { subject }), [], "also in INBOX");
});
