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

export const DEFAULT_SUBMISSION_LIMIT = { recipientsPerHour: 300, senders: {} } as const;

export const submissionLimitInput = z
    .object({
        recipientsPerHour: recipientsPerHour.default(DEFAULT_SUBMISSION_LIMIT.recipientsPerHour),
        /**
         * A sender for applications' own limit (mailstack:senders), by its address; a sender
         * not listed has recipientsPerHour, like a mailbox. Checked by checkSenderLimits.
         */
        senders: z.record(z.string(), recipientsPerHour).default({}),
    })
    .strict();

/**
 * `mailstack:submissionLimit.senders`: each key is a sender of mailstack:senders (an
 * application's own limit, never a mailbox's), written once whatever its case.
 */
export function checkSenderLimits(raw: unknown, sendersInput: unknown, problems: Problems): void {
    const given = (raw as { senders?: unknown } | undefined)?.senders;
    if (given === null || typeof given !== "object" || Array.isArray(given)) return; // the schema reports it
    const senders = Array.isArray(sendersInput)
        ? sendersInput.filter((s): s is string => typeof s === "string").map((s) => s.toLowerCase())
        : [];
    const seen = new Map<string, string>(); // lower case -> the key as first written
    for (const key of Object.keys(given)) {
        const lower = key.toLowerCase();
        const first = seen.get(lower);
        if (first !== undefined)
            problems.at(
                ["submissionLimit", "senders", key],
                `is the same address as mailstack:submissionLimit.senders.${first} (addresses are case-insensitive): keep one`,
            );
        else if (!senders.includes(lower))
            problems.at(
                ["submissionLimit", "senders", key],
                `${key} is not a sender for applications (mailstack:senders: ${senders.join(", ") || "none"}): ` +
                    "only a sender has a limit of its own here; a mailbox has recipientsPerHour",
            );
        seen.set(lower, first ?? key);
    }
}
