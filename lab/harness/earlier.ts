// An earlier mailstack, taken from this repository's git history when the lab runs, for
// lab/checks/upgrade.test.ts: its user-data, its provisioning plan (command texts and stdin)
// and its scripts, all rendered by that commit's own code in a copy of its tree. Nothing of
// it is kept in today's tree, so the upgrade check always starts from what that commit
// really deployed, however today's code moves.

import * as fs from "node:fs";
import * as path from "node:path";
import type { RawConfig } from "../../model";
import type { RenderedStep } from "../scenarios/provision";
import { REPO_DIR, sh, STATE_DIR } from "./processes";

/**
 * The earlier mailstack the upgrade check deploys first. Move it forward on purpose, never
 * silently: a newer commit here means the check no longer crosses the migrations between
 * the two; say in the commit message which ones it still crosses.
 *
 * e95836f (2026-12-04, the webmail branch just before it met main) is the oldest commit
 * that the lab of today can boot and that has each thing the check uses: the webmail
 * (Roundcube, its state on the mail volume), Sieve and learning from Junk, rspamd with Bayes
 * in Valkey, quota-status, the backup to a Storage Box, and a lab harness whose state-dir
 * files (deploy key, provisional host key, DKIM keys, the Storage Box's keys) are today's.
 * What the upgrade from it crosses: Dovecot's quota driver `count` -> `maildir`; no state
 * version on the volume (0) -> today's; no rspamd controller password -> one; the certificate's
 * deploy hook, the quota warning and unattended upgrades' settings moving from the user-data to
 * host-config; the smtp egress guard, SMTPUTF8, the catch-all and Apple profiles (new files,
 * units and map rows); Dovecot's pinned config and storage versions.
 */
export const EARLIER_MAILSTACK = "e95836fc7c27c931eb6e7919191e4aef9806f3e0";

/** What the earlier mailstack renders for the lab: its raw config, user-data and plan. */
export interface EarlierMailstack {
    commit: string;
    /** The lab's config as that commit writes it (the Pulumi config a server of then has). */
    raw: RawConfig;
    hostname: string;
    userData: string;
    steps: RenderedStep[];
}

/** Where the earlier tree is unpacked (on the lab's state dir, removed by the check). */
export const EARLIER_TREE = path.join(STATE_DIR, "earlier-mailstack");

/**
 * Unpack EARLIER_MAILSTACK's tree (git archive: no worktree to register or leave behind),
 * give it today's node_modules (its package.json is the same), and run its own renderers
 * there. `patch` changes the lab config as the check needs it (carol's quota, its own
 * backup repository).
 */
export function renderEarlierMailstack(patch: {
    mailboxQuotas?: Record<string, Record<string, string>>;
    /** The Storage Box path of the backup repository (mailstack:backup.sftp.path). */
    backupPath?: string;
}): EarlierMailstack {
    const has = sh("git", ["-C", REPO_DIR, "cat-file", "-e", `${EARLIER_MAILSTACK}^{commit}`], { allowFail: true });
    if (has.status !== 0)
        throw new Error(
            `the upgrade check needs commit ${EARLIER_MAILSTACK} of this repository's history (a shallow clone lacks it: git fetch --unshallow)`,
        );
    fs.rmSync(EARLIER_TREE, { recursive: true, force: true });
    fs.mkdirSync(EARLIER_TREE, { recursive: true });
    sh("bash", [
        "-o",
        "pipefail",
        "-c",
        'git -C "$1" archive --format=tar "$2" | tar -x -C "$3"',
        "-",
        REPO_DIR,
        EARLIER_MAILSTACK,
        EARLIER_TREE,
    ]);
    fs.symlinkSync(fs.realpathSync(path.join(REPO_DIR, "node_modules")), path.join(EARLIER_TREE, "node_modules"));
    const script = path.join(EARLIER_TREE, "mailstack-earlier-render.cjs");
    fs.copyFileSync(path.join(__dirname, "earlier-render.cjs"), script);
    const r = sh(process.execPath, ["--import", "tsx", script], {
        cwd: EARLIER_TREE,
        env: { ...process.env, MAILSTACK_LAB_STATE: STATE_DIR, MAILSTACK_EARLIER_PATCH: JSON.stringify(patch) },
        timeoutMs: 120_000,
    });
    const out = JSON.parse(r.stdout) as Omit<EarlierMailstack, "commit">;
    return { commit: EARLIER_MAILSTACK, ...out };
}

/** The unpacked earlier tree, gone. */
export function removeEarlierTree(): void {
    fs.rmSync(EARLIER_TREE, { recursive: true, force: true });
}
