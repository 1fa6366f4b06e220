// The doctor's checks on the server, as a table: each section is the part of the read-only
// script that gathers its facts and the judge that turns those lines into results.
// doctor/remote.ts runs them over SSH, in this order.

import { dkimName } from "../model/names";
import { ACTIVE_UNITS } from "../render/features";
import { dkimKeyPath } from "../render/host/dkim";
import { DISK_ALERT_PERCENT, DISK_FULL_PERCENT } from "../render/host/limits";
import { MAIL_VOLUME_MOUNT } from "../render/host/volume";
import { PHP_FPM_UNIT, WEBMAIL_NGINX_CONF } from "../render/host/webmail";
import { DAV_NGINX_CONF, DAV_UNIT } from "../render/host/dav";
import { shellQuote } from "../scripts/commands";
import { fail, ok, unknown, warn, type CheckResult } from "./types";

/** What the script needs to know. */
export interface RemoteFacts {
    readonly hostname: string;
    /** domain -> [selector, published p= value] of each DKIM record. */
    readonly dkim: readonly { domain: string; selector: string; publicKey: string }[];
    /** `host:port` the server must reach for outbound SMTP, unless a relayhost is set. */
    readonly egress: string;
    /** Seconds each command on the server may take. */
    readonly commandTimeout: number;
}

/** What a judge is given: its section's lines and the means to report. */
export interface Judging {
    /** Its section's lines; undefined when the section is absent or empty. */
    readonly lines: string[] | undefined;
    /** Any section's lines as printed (an empty array: present but silent). */
    readonly section: (name: string) => string[] | undefined;
    readonly facts: RemoteFacts;
    /** Milliseconds since the epoch, the doctor's now. */
    readonly now: number;
    readonly add: (check: string, r: Omit<CheckResult, "check">) => void;
    /** The section `section` gave nothing to judge for `check`. */
    readonly missing: (check: string, section: string) => void;
}

export interface RemoteSection {
    /** `@@name` in the output. */
    readonly name: string;
    /** Its part of the script (`timeout N` is `t`). */
    readonly script: (f: RemoteFacts, t: string) => string;
    readonly judge: (j: Judging) => void;
}

const README = "README.md, Deploying, Prerequisites";

function splitHostPort(value: string): [string, string] {
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(value);
    if (!m) throw new Error(`--egress: "${value}" is not host:port`);
    return [m[1], m[2]];
}

export interface QueueEntry {
    queue_name: string;
    arrival_time: number;
    recipients?: { address?: string; delay_reason?: string }[];
}

/**
 * What root's `postqueue -j` says, JSON lines and others apart. With Postfix stopped it reads
 * the queue directly and says so first ("postqueue: warning: Mail system is down -- accessing
 * queue directly"): the entries are still all there (the daemons check names the stopped
 * Postfix), so that line is no problem of the queue's.
 */
export function readQueue(lines: readonly string[]): { entries: QueueEntry[]; problems: string[] } {
    const entries: QueueEntry[] = [];
    const problems: string[] = [];
    for (const l of lines) {
        try {
            entries.push(JSON.parse(l) as QueueEntry);
        } catch {
            if (!/^postqueue: warning: Mail system is down -- accessing queue directly/.test(l)) problems.push(l);
        }
    }
    return { entries, problems };
}

/** A delivery Postfix keeps back because the recipient's TLS policy (MTA-STS, DANE, relay) cannot be met. */
const TLS_DEFERRAL =
    /\b(TLS is required|certificate (not )?(verif|trust)|Server certificate not|TLSA|MTA-STS|TLS handshake)/i;

const gib = (bytes: string | undefined) => (Number(bytes) / 2 ** 30).toFixed(1);

export const SECTIONS: readonly RemoteSection[] = [
    {
        name: "units",
        script: () => `for u in ${ACTIVE_UNITS.join(" ")}; do printf '%s %s\\n' "$u" "$(systemctl is-active "$u")"; done
# The webmail's site is there (mailstack:webmail): its PHP must run too.
if [ -e ${WEBMAIL_NGINX_CONF} ]; then printf '%s %s\\n' ${PHP_FPM_UNIT} "$(systemctl is-active ${PHP_FPM_UNIT})"; fi
# Calendars and contacts are served (mailstack:dav): Radicale must run too.
if [ -e ${DAV_NGINX_CONF} ]; then printf '%s %s\\n' ${DAV_UNIT} "$(systemctl is-active ${DAV_UNIT})"; fi`,
        judge: ({ lines: units, add, missing }) => {
            if (!units) return missing("daemons", "units");
            const down = units.filter((l) => !/ active$/.test(l));
            if (down.length) {
                const names = down.map((l) => l.split(" ")[0]);
                add(
                    "daemons",
                    fail(
                        `not active: ${down.join(", ")}`,
                        `systemctl start ${names.join(" ")}; journalctl -u ${names[0]} -n 50 says why it stopped`,
                    ),
                );
            } else add("daemons", ok(`${units.length} active: ${units.map((l) => l.split(" ")[0]).join(", ")}`));
        },
    },
    {
        name: "egress",
        script: (f, t) => {
            const [egressHost, egressPort] = splitHostPort(f.egress);
            return `# Hetzner blocks outbound 25 on new accounts: try the way out a direct delivery takes, and,
# with a relayhost, the relay's port (mail leaves through it then).
probe() { if ${t} bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$2" "$3" 2>/dev/null; then echo "$1 ok $2 $3"; else echo "$1 failed $2 $3 $?"; fi; }
probe direct ${shellQuote(egressHost)} ${egressPort}
relay=$(postconf -h relayhost 2>/dev/null)
if [ -n "$relay" ]; then
    host=\${relay#[}; host=\${host%%]*}; port=\${relay##*]:}; [ "$port" = "$relay" ] && port=25
    probe relay "$host" "$port"
fi`;
        },
        judge: ({ lines: egress, add, missing }) => {
            if (!egress) return missing("outbound 25", "egress");
            const line = (kind: string) => egress.find((l) => l.startsWith(`${kind} `))?.split(" ");
            const direct = line("direct");
            const relay = line("relay");
            if (!direct) missing("outbound 25", "egress");
            else if (direct[1] === "ok") add("outbound 25", ok(`the server reaches ${direct[2]} port ${direct[3]}`));
            else if (relay?.[1] === "ok")
                add(
                    "outbound 25",
                    warn(
                        `the server cannot reach ${direct[2]} port ${direct[3]} (blocked, as Hetzner does on new accounts); mail leaves through the relay`,
                        `nothing to do while the relay works; to send directly, ask Hetzner support to lift the block (${README})`,
                    ),
                );
            else
                add(
                    "outbound 25",
                    fail(
                        `the server cannot reach ${direct[2]} port ${direct[3]}: outbound 25 is blocked (Hetzner does this on new accounts)`,
                        `ask Hetzner support to lift the port 25 block, or send through a smarthost with mailstack:relay (${README})`,
                    ),
                );
            if (relay)
                add(
                    "outbound relay",
                    relay[1] === "ok"
                        ? ok(`the server reaches the relay ${relay[2]} port ${relay[3]}`)
                        : fail(
                              `the server cannot reach the relay ${relay[2]} port ${relay[3]}: nothing leaves`,
                              "check mailstack:relay and that the firewall opens outbound exactly relay.port (pulumi up)",
                          ),
                );
        },
    },
    {
        name: "queue",
        script: (_f, t) => `${t} postqueue -j 2>&1`,
        // postqueue -j prints nothing for an empty queue: a silent section is judged too.
        judge: ({ section, now, add, missing }) => {
            const queue = section("queue");
            if (!queue) return missing("queue", "queue");
            const { entries, problems } = readQueue(queue);
            if (entries.length === 0 && problems.length > 0)
                return add("queue", unknown(`postqueue: ${problems.join(" ")}`, "systemctl status postfix"));
            const deferred = entries.filter((e) => e.queue_name === "deferred");
            const oldest = Math.min(...deferred.map((e) => e.arrival_time));
            const hours = deferred.length ? (now / 1000 - oldest) / 3600 : 0;
            const detail =
                `${entries.length} message(s) queued, ${deferred.length} deferred` +
                (deferred.length ? `, the oldest for ${hours.toFixed(1)} h` : "");
            const reason = deferred.map((e) => e.recipients?.[0]?.delay_reason).find(Boolean);
            if (hours > 24 || entries.length > 100)
                add(
                    "queue",
                    warn(
                        `${detail}${reason ? `: ${reason}` : ""}`,
                        "postqueue -p shows why; a destination down for days bounces after maximal_queue_lifetime",
                    ),
                );
            else add("queue", ok(detail));
        },
    },
    {
        name: "outbound-tls",
        script: (
            _f,
            t,
        ) => `# How Postfix's TLS to other servers went this week (smtp_tls_loglevel = 1 logs each session).
${t} journalctl -q --no-pager -o cat -t postfix/smtp --since=-7d 2>/dev/null | awk '
  /^(Verified|Trusted|Untrusted|Anonymous) TLS connection established/ { n[$1]++ }
  END { printf "Verified %d\\nTrusted %d\\nUntrusted %d\\nAnonymous %d\\n", n["Verified"], n["Trusted"], n["Untrusted"], n["Anonymous"] }'`,
        /**
         * Outbound TLS: the week's sessions by how verified they were (from Postfix's log), and mail
         * waiting in the queue because the recipient's policy demands TLS that cannot be had. That
         * mail is safe (never sent in clear), but it will not arrive until someone looks.
         */
        judge: ({ lines, section, add, missing }) => {
            if (!lines) return missing("outbound TLS", "outbound-tls");
            const count = (kind: string) => Number(lines.find((l) => l.startsWith(`${kind} `))?.split(" ")[1] ?? 0);
            const tally = ["Verified", "Trusted", "Untrusted", "Anonymous"].map(
                (k) => `${count(k)} ${k.toLowerCase()}`,
            );
            const held = readQueue(section("queue") ?? []).entries.flatMap((e) =>
                (e.recipients ?? []).filter((r) => TLS_DEFERRAL.test(r.delay_reason ?? "")),
            );
            const detail = `TLS sessions to other servers in 7 days: ${tally.join(", ")}`;
            if (held.length === 0) return add("outbound TLS", ok(detail));
            const domains = [...new Set(held.map((r) => (r.address ?? "").split("@")[1] ?? "?"))];
            add(
                "outbound TLS",
                warn(
                    `${held.length} recipient(s) wait because their TLS policy cannot be met (${domains.join(", ")}): ${held[0].delay_reason}`,
                    `the mail is kept, never sent in clear; the recipient's MTA-STS policy or TLSA records do not match its MX (posttls-finger -c -l secure ${domains[0]} for MTA-STS, -l dane for DANE); postqueue -p lists it`,
                ),
            );
        },
    },
    {
        name: "volume",
        script: () => `df -B1 --output=size,used,avail,pcent ${MAIL_VOLUME_MOUNT} 2>&1 | tail -n 1`,
        judge: ({ lines, add, missing }) => {
            const volume = lines?.[0];
            if (!volume) return missing("mail volume", "volume");
            const [size, used, , pcent] = volume.trim().split(/\s+/);
            const percent = Number(pcent?.replace("%", ""));
            const detail = `${MAIL_VOLUME_MOUNT}: ${percent}% used (${gib(used)} of ${gib(size)} GiB)`;
            if (!Number.isFinite(percent)) add("mail volume", unknown(`df: ${volume}`, `findmnt ${MAIL_VOLUME_MOUNT}`));
            else if (percent >= DISK_ALERT_PERCENT)
                add(
                    "mail volume",
                    (percent >= DISK_FULL_PERCENT ? fail : warn)(
                        detail,
                        percent >= DISK_FULL_PERCENT
                            ? "Postfix is refusing mail from outside (452 4.3.1); raise mailstack:mailVolumeSizeGb and run pulumi up"
                            : "raise mailstack:mailVolumeSizeGb and run pulumi up",
                    ),
                );
            else add("mail volume", ok(detail));
        },
    },
    {
        name: "certbot",
        script: (
            f,
        ) => `printf 'timer %s %s\\n' "$(systemctl is-enabled certbot.timer 2>&1)" "$(systemctl is-active certbot.timer)"
printf 'service %s\\n' "$(systemctl show -p Result --value certbot.service)"
printf 'renewed %s\\n' "$(stat -L -c %Y /etc/letsencrypt/live/${f.hostname}/cert.pem 2>/dev/null || echo none)"
printf 'now %s\\n' "$(date +%s)"`,
        judge: ({ lines: certbot, add, missing }) => {
            if (!certbot) return missing("certificate renewal", "certbot");
            const field = (k: string) => certbot.find((l) => l.startsWith(`${k} `))?.slice(k.length + 1) ?? "";
            const timer = field("timer");
            const result = field("service");
            const renewed = Number(field("renewed"));
            const days = Number.isFinite(renewed) ? Math.floor((Number(field("now")) - renewed) / 86400) : undefined;
            const detail = `certbot.timer ${timer}, last certbot run ${result || "never"}, certificate renewed ${days === undefined ? "never (no certificate from certbot)" : `${days} day(s) ago`}`;
            if (timer !== "enabled active")
                add("certificate renewal", fail(detail, "systemctl enable --now certbot.timer"));
            else if (result !== "success" && result !== "")
                add(
                    "certificate renewal",
                    fail(detail, "journalctl -u certbot -n 50 says why the renewal failed; certbot renew --dry-run"),
                );
            else if (days === undefined)
                add("certificate renewal", fail(detail, "run pulumi up: the certificate step requests it"));
            else add("certificate renewal", ok(detail));
        },
    },
    {
        name: "updates",
        script: (_f, t) =>
            `${t} apt-get -s -o Debug::NoLocking=true upgrade 2>/dev/null | grep '^Inst ' | grep -ic -- '-security' || true`,
        judge: ({ lines, add, missing }) => {
            const updates = lines?.[0];
            if (updates === undefined) missing("security updates", "updates");
            else if (Number(updates) > 0)
                add(
                    "security updates",
                    warn(
                        `${updates} security update(s) pending`,
                        "unattended-upgrade -v (or apt-get upgrade); /var/log/unattended-upgrades says why they wait",
                    ),
                );
            else add("security updates", ok("none pending"));
        },
    },
    {
        name: "reboot",
        script: () =>
            `if [ -e /run/reboot-required ]; then echo yes; cat /run/reboot-required.pkgs 2>/dev/null | tr '\\n' ' '; echo; else echo no; fi`,
        judge: ({ lines: reboot, add, missing }) => {
            if (!reboot) missing("reboot", "reboot");
            else if (reboot[0] === "yes")
                add(
                    "reboot",
                    warn(
                        `a reboot is required (${reboot[1]?.trim() || "an update asks for it"})`,
                        "reboot when it is quiet: systemctl reboot",
                    ),
                );
            else add("reboot", ok("no reboot required"));
        },
    },
    {
        name: "backup",
        script: (_f, t) =>
            `if command -v mailstack-backup >/dev/null; then ${t} mailstack-backup status 2>&1; else echo absent; fi`,
        judge: ({ lines, add, missing }) => {
            const backup = lines?.[0];
            if (!backup) return missing("backup", "backup");
            if (backup === "unconfigured" || backup === "absent")
                return add("backup", ok("no backups configured (mailstack:backup is not set)"));
            const [state, age, since] = backup.split(" ");
            const hours = (Number(age) / 3600).toFixed(1);
            if (state === "ok")
                add(
                    "backup",
                    since === "never"
                        ? ok(`configured ${hours} h ago, no backup has run yet`)
                        : ok(`last successful backup ${hours} h ago`),
                );
            else if (state === "stale")
                add(
                    "backup",
                    fail(
                        since === "never"
                            ? `no backup has succeeded since it was configured ${hours} h ago`
                            : `the last successful backup was ${hours} h ago`,
                        "journalctl -u mailstack-backup -n 50 says why; systemctl start mailstack-backup.service",
                    ),
                );
            else add("backup", unknown(`mailstack-backup status: ${backup}`, "mailstack-backup status"));
        },
    },
    {
        name: "imports",
        script: (_f, t) =>
            `if command -v mailstack-import >/dev/null; then ${t} mailstack-import status 2>&1; else echo none; fi\nprintf 'now %s\\n' "$(date +%s)"`,
        judge: ({ lines, add, missing }) => {
            if (!lines) return missing("imports", "imports");
            importResults(lines).forEach(([check, r]) => add(check, r));
        },
    },
    {
        name: "fail2ban",
        script: (_f, t) => `${t} fail2ban-client banned 2>&1`,
        judge: ({ lines: bans, add, missing }) => {
            if (!bans) return missing("fail2ban", "fail2ban");
            const text = bans.join(" ");
            const jails = [...text.matchAll(/\{'([^']+)': \[([^\]]*)\]\}/g)].map((m) => ({
                jail: m[1],
                ips: [...m[2].matchAll(/'([^']+)'/g)].map((x) => x[1]),
            }));
            if (jails.length === 0 && text !== "[]")
                return add(
                    "fail2ban",
                    unknown(`fail2ban-client banned: ${text.slice(0, 120)}`, "systemctl status fail2ban"),
                );
            const banned = jails.filter((j) => j.ips.length);
            add(
                "fail2ban",
                ok(
                    banned.length
                        ? `banned now: ${banned.map((j) => `${j.jail} ${j.ips.join(" ")}`).join("; ")}`
                        : "no address banned now",
                ),
            );
        },
    },
    {
        name: "dkim",
        script: (f, t) =>
            f.dkim
                .map(
                    (k) =>
                        `printf '%s ' ${shellQuote(`${k.domain} ${k.selector}`)}; ${t} openssl pkey -in ${shellQuote(dkimKeyPath(k.domain, k.selector))} -pubout -outform DER 2>&1 | base64 -w0; echo`,
                )
                .join("\n"),
        judge: ({ lines: dkim, facts, add, missing }) => {
            if (!dkim) return missing("dkim keys", "dkim");
            for (const k of facts.dkim) {
                const line = dkim.find((l) => l.startsWith(`${k.domain} ${k.selector} `));
                const key = line?.split(" ")[2] ?? "";
                const check = `dkim key ${dkimName(k.selector, k.domain)}`;
                if (key === k.publicKey) add(check, ok("the published key is the one OpenDKIM signs with"));
                else if (!/^[A-Za-z0-9+/]{300,}=*$/.test(key))
                    add(
                        check,
                        fail(
                            `cannot read ${dkimKeyPath(k.domain, k.selector)} on the server`,
                            "run pulumi up (the dkim step writes it)",
                        ),
                    );
                else
                    add(
                        check,
                        fail(
                            "the published DKIM key is not the key OpenDKIM signs with: receivers fail every signature",
                            "run pulumi up --refresh (it publishes the key of the dkim step)",
                        ),
                    );
            }
        },
    },
];

/** `mailstack-import status` and the server's clock: one check per imported account. */
export function importResults(lines: readonly string[]): [string, Omit<CheckResult, "check">][] {
    const now = Number(lines.find((l) => l.startsWith("now "))?.split(" ")[1]);
    const accounts = lines.filter((l) => !l.startsWith("now ") && l !== "none");
    const why = "journalctl -u mailstack-import -n 50 says why; systemctl start mailstack-import runs it again";
    return accounts.map((line) => {
        const [mailbox, state, at, imported, ...words] = line.split(" ");
        const message = words.join(" ");
        const hours = ((now - Number(at)) / 3600).toFixed(1);
        const check = `import ${mailbox}`;
        if (state === "failed") return [check, fail(`the last run (${hours} h ago) failed: ${message}`, why)];
        if (state === "running") return [check, ok(`running since ${hours} h`)];
        if (state === "never") return [check, warn("configured, not run yet", why)];
        if (state !== "ok") return [check, unknown(`mailstack-import status: ${line}`, "mailstack-import status")];
        // Hourly: a last run older than three hours means the timer is not running.
        if (now - Number(at) > 3 * 3600)
            return [
                check,
                warn(`the hourly import last ran ${hours} h ago`, "systemctl status mailstack-import.timer"),
            ];
        return [check, ok(`last run ${hours} h ago: ${imported} new message(s) imported`)];
    });
}
