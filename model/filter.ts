// `mailstack:spamFilter`: rspamd's score thresholds for mail arriving on port 25. Each
// threshold is a score, or false to switch that action off; the three must rise in the
// order greylist < junk < reject, or a message could be junked before it is greylisted.

import { z } from "zod";

import type { Problems } from "./errors";

/** One threshold: a score, or false (that action never happens). */
const threshold = z.union([
    z.number().min(0.1, "must be a score above 0, or false to switch it off").max(1000),
    z.literal(false),
]);

export const DEFAULT_SPAM_FILTER = { reject: 15, junk: 6, greylist: 4 } as const;

export const spamFilterInput = z
    .object({
        /** Refused at SMTP (5xx after DATA): the sender keeps the message and learns of it. */
        reject: threshold.default(DEFAULT_SPAM_FILTER.reject),
        /** Delivered with `X-Spam: Yes` (marked as spam). */
        junk: threshold.default(DEFAULT_SPAM_FILTER.junk),
        /** Refused for now (4xx); a real server retries and passes, most spam bots never do. */
        greylist: threshold.default(DEFAULT_SPAM_FILTER.greylist),
    })
    .strict();

const ORDER = ["greylist", "junk", "reject"] as const;

/** The thresholds that are on must rise greylist < junk < reject. */
export function checkSpamFilter(raw: unknown, problems: Problems): void {
    const parsed = spamFilterInput.safeParse(raw ?? {});
    if (!parsed.success) return; // the schema reports it
    const on = ORDER.filter((k) => parsed.data[k] !== false);
    for (let i = 1; i < on.length; i++) {
        const [lower, higher] = [on[i - 1], on[i]];
        if ((parsed.data[lower] as number) >= (parsed.data[higher] as number))
            problems.at(
                ["spamFilter", lower],
                `${String(parsed.data[lower])} must be below ${higher} (${String(parsed.data[higher])})`,
            );
    }
}

/**
 * `mailstack:autoExpunge`: Dovecot removes mail from Junk and Trash this many days after it
 * was put there (the message's save date in that folder), or never (false).
 */
const EXPIRY_DAYS = "must be a whole number of days from 1 to 3650, or false to keep mail until the user deletes it";
const expiryDays = z.union([z.number().int(EXPIRY_DAYS).min(1, EXPIRY_DAYS).max(3650, EXPIRY_DAYS), z.literal(false)], {
    error: EXPIRY_DAYS,
});

export const DEFAULT_AUTO_EXPUNGE = { junk: 30, trash: 30 } as const;

export const autoExpungeInput = z
    .object({
        junk: expiryDays.default(DEFAULT_AUTO_EXPUNGE.junk),
        trash: expiryDays.default(DEFAULT_AUTO_EXPUNGE.trash),
    })
    .strict();

/**
 * `mailstack:submissionLimit`: how many recipients one login may send to in any hour over
 * 587/465, or false (no limit). Past it, RCPT gets a 4xx: a stolen password cannot spend the
 * server's reputation in an hour, and a real user's client keeps the message and retries.
 */
const RECIPIENTS_PER_HOUR = "must be a whole number of recipients from 1 to 100000, or false for no limit";
const recipientsPerHour = z.union(
    [
        z.number().int(RECIPIENTS_PER_HOUR).min(1, RECIPIENTS_PER_HOUR).max(100000, RECIPIENTS_PER_HOUR),
        z.literal(false),
    ],
    { error: RECIPIENTS_PER_HOUR },
);

export const DEFAULT_SUBMISSION_LIMIT = { recipientsPerHour: 300 } as const;

export const submissionLimitInput = z
    .object({
        recipientsPerHour: recipientsPerHour.default(DEFAULT_SUBMISSION_LIMIT.recipientsPerHour),
    })
    .strict();
