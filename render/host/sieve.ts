// Pigeonhole Sieve: the global scripts (spam into Junk on delivery, learning when a user
// moves mail into or out of Junk) and the programs they pipe to. Users' own scripts live in
// their homes on the mail volume (dovecot.conf sieve_script personal), uploaded over
// ManageSieve; nothing here renders them.

import type { MailSpec } from "../../model";
import { RSPAMD_CONTROLLER, RSPAMD_CONTROLLER_PASSWORD_FILE } from "./filter";
import { renderTemplate } from "./template";
import type { HostFile } from "./types";

/** The global Sieve scripts; scripts/apply-bundle.sh compiles this directory (sievec). */
export const SIEVE_DIR = "/etc/dovecot/sieve";
/** Where `pipe "learn-spam"` finds its program (dovecot.conf sieve_pipe_bin_dir). */
export const SIEVE_PIPE_DIR = "/usr/local/lib/mailstack/sieve-pipe";

const SCRIPTS = ["spam-to-junk", "report-spam", "report-ham"] as const;

const LEARNERS = [
    { class: "spam", direction: "into" },
    { class: "ham", direction: "out of" },
] as const;

/** Dovecot's autoexpunge line for one folder, or a comment saying it is kept. */
export function autoexpungeLine(days: number | false, key: string): string {
    return days === false
        ? `    # kept until the user deletes it (mailstack:autoExpunge.${key} = false)`
        : `    autoexpunge = ${days}d`;
}

/** The dovecot.conf values that come from here and from the spec. */
export function sieveTemplateValues(spec: MailSpec): Record<string, string> {
    return {
        sieveDir: SIEVE_DIR,
        sievePipeDir: SIEVE_PIPE_DIR,
        junkExpunge: autoexpungeLine(spec.autoExpunge.junk, "junk"),
        trashExpunge: autoexpungeLine(spec.autoExpunge.trash, "trash"),
    };
}

const file = (path: string, content: string, mode: string, onChange: HostFile["onChange"]): HostFile => ({
    path,
    mode,
    owner: "root",
    group: "root",
    content,
    onChange,
});

/** The global scripts (a change recompiles them and reloads Dovecot). */
export function renderSieveFiles(): HostFile[] {
    return SCRIPTS.map((name) =>
        file(`${SIEVE_DIR}/${name}.sieve`, renderTemplate(`sieve/${name}.sieve`), "0644", ["reload:dovecot"]),
    );
}

/**
 * The learn programs the global scripts pipe to. They come with host-config, like rspamd's
 * controller password they use (and no mailbox exists before mail-data anyway).
 */
export function renderSieveLearners(): HostFile[] {
    return LEARNERS.map((l) => {
        const path = `${SIEVE_PIPE_DIR}/learn-${l.class}`;
        const values = {
            path,
            ...l,
            controller: RSPAMD_CONTROLLER,
            passwordFile: RSPAMD_CONTROLLER_PASSWORD_FILE,
        };
        return file(path, renderTemplate("sieve/learn.py", values), "0755", []);
    });
}
