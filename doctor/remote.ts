// The checks that need the server itself, over SSH as the provisioning steps log in: root
// with the deploy key, the host key pinned exactly (a server that shows another key is
// refused before any command runs). One session runs one read-only script; every command in
// it has its own time limit, and each section becomes one check.

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { dkimName } from "../model/names";
import { dkimKeyPath } from "../render/host/dkim";
import { ACTIVE_UNITS } from "../render/features";
import { PHP_FPM_UNIT, WEBMAIL_NGINX_CONF } from "../render/host/webmail";
import { DISK_ALERT_PERCENT, DISK_FULL_PERCENT } from "../render/host/limits";
import { MAIL_VOLUME_MOUNT } from "../render/host/volume";
import { pinnedSshOptions, shellQuote } from "../scripts/commands";
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

/** The remote script: read-only, prints `@@section` then its lines. */
export function remoteScript(f: RemoteFacts): string {
    const t = `timeout ${f.commandTimeout}`;
    const [egressHost, egressPort] = splitHostPort(f.egress);
    const dkim = f.dkim
        .map(
            (k) =>
                `printf '%s ' ${shellQuote(`${k.domain} ${k.selector}`)}; ${t} openssl pkey -in ${shellQuote(dkimKeyPath(k.domain, k.selector))} -pubout -outform DER 2>&1 | base64 -w0; echo`,
        )
        .join("\n");
    return `set -u
export LC_ALL=C
s() { printf '\\n@@%s\\n' "$1"; }
s units
for u in ${ACTIVE_UNITS.join(" ")}; do printf '%s %s\\n' "$u" "$(systemctl is-active "$u")"; done
# The webmail's site is there (mailstack:webmail): its PHP must run too.
if [ -e ${WEBMAIL_NGINX_CONF} ]; then printf '%s %s\\n' ${PHP_FPM_UNIT} "$(systemctl is-active ${PHP_FPM_UNIT})"; fi
s egress
# Hetzner blocks outbound 25 on new accounts: try the way out a direct delivery takes, and,
# with a relayhost, the relay's port (mail leaves through it then).
probe() { if ${t} bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$2" "$3" 2>/dev/null; then echo "$1 ok $2 $3"; else echo "$1 failed $2 $3 $?"; fi; }
probe direct ${shellQuote(egressHost)} ${egressPort}
relay=$(postconf -h relayhost 2>/dev/null)
if [ -n "$relay" ]; then
    host=\${relay#[}; host=\${host%%]*}; port=\${relay##*]:}; [ "$port" = "$relay" ] && port=25
    probe relay "$host" "$port"
fi
s queue
${t} postqueue -j 2>&1
s outbound-tls
# How Postfix's TLS to other servers went this week (smtp_tls_loglevel = 1 logs each session).
${t} journalctl -q --no-pager -o cat -t postfix/smtp --since=-7d 2>/dev/null | awk '
  /^(Verified|Trusted|Untrusted|Anonymous) TLS connection established/ { n[$1]++ }
  END { printf "Verified %d\\nTrusted %d\\nUntrusted %d\\nAnonymous %d\\n", n["Verified"], n["Trusted"], n["Untrusted"], n["Anonymous"] }'
s volume
df -B1 --output=size,used,avail,pcent ${MAIL_VOLUME_MOUNT} 2>&1 | tail -n 1
s certbot
printf 'timer %s %s\\n' "$(systemctl is-enabled certbot.timer 2>&1)" "$(systemctl is-active certbot.timer)"
printf 'service %s\\n' "$(systemctl show -p Result --value certbot.service)"
printf 'renewed %s\\n' "$(stat -L -c %Y /etc/letsencrypt/live/${f.hostname}/cert.pem 2>/dev/null || echo none)"
printf 'now %s\\n' "$(date +%s)"
s updates
${t} apt-get -s -o Debug::NoLocking=true upgrade 2>/dev/null | grep '^Inst ' | grep -ic -- '-security' || true
s reboot
if [ -e /run/reboot-required ]; then echo yes; cat /run/reboot-required.pkgs 2>/dev/null | tr '\\n' ' '; echo; else echo no; fi
s backup
if command -v mailstack-backup >/dev/null; then ${t} mailstack-backup status 2>&1; else echo absent; fi
s fail2ban
${t} fail2ban-client banned 2>&1
s dkim
${dkim}
s end
`;
}

function splitHostPort(value: string): [string, string] {
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(value);
    if (!m) throw new Error(`--egress: "${value}" is not host:port`);
    return [m[1], m[2]];
}

/** The script's output, by section. */
export function sections(output: string): Map<string, string[]> {
    const map = new Map<string, string[]>();
    let current: string[] | undefined;
    for (const line of output.split("\n")) {
        const m = /^@@(\S+)$/.exec(line);
        if (m) map.set(m[1], (current = []));
        else if (current && line.trim() !== "") current.push(line.trimEnd());
    }
    return map;
}

const README = "README.md, Deploying, Prerequisites";

interface QueueEntry {
    queue_name: string;
    arrival_time: number;
    recipients?: { address?: string; delay_reason?: string }[];
}

/** postqueue -j: one JSON object per line (nothing for an empty queue). */
function queueEntries(lines: readonly string[]): QueueEntry[] {
    return lines.flatMap((l) => {
        try {
            return [JSON.parse(l) as QueueEntry];
        } catch {
            return [];
        }
    });
}

/** A delivery Postfix keeps back because the recipient's TLS policy (MTA-STS, DANE, relay) cannot be met. */
const TLS_DEFERRAL =
    /\b(TLS is required|certificate (not )?(verif|trust)|Server certificate not|TLSA|MTA-STS|TLS handshake)/i;

/**
 * Outbound TLS: the week's sessions by how verified they were (from Postfix's log), and mail
 * waiting in the queue because the recipient's policy demands TLS that cannot be had. That
 * mail is safe (never sent in clear), but it will not arrive until someone looks.
 */
function outboundTls(
    lines: string[] | undefined,
    queue: string[] | undefined,
    add: (check: string, r: Omit<CheckResult, "check">) => void,
    missing: () => void,
): void {
    if (!lines) return missing();
    const count = (kind: string) => Number(lines.find((l) => l.startsWith(`${kind} `))?.split(" ")[1] ?? 0);
    const tally = ["Verified", "Trusted", "Untrusted", "Anonymous"].map((k) => `${count(k)} ${k.toLowerCase()}`);
    const held = queueEntries(queue ?? []).flatMap((e) =>
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
}

/** One result per section, from the script's output. */
export function remoteResults(output: string, f: RemoteFacts, now = Date.now()): CheckResult[] {
    const sec = sections(output);
    // A section with no line is as good as none: nothing to judge.
    const get = (name: string) => (sec.get(name)?.length ? sec.get(name) : undefined);
    const results: CheckResult[] = [];
    const add = (check: string, r: Omit<CheckResult, "check">) => results.push({ check: `ssh ${check}`, ...r });
    const missing = (check: string, section: string) =>
        add(
            check,
            sec.has(section)
                ? unknown(
                      `no output from the server's command for this part`,
                      "run the command of remoteScript() by hand",
                  )
                : unknown("the script's output ended before this part (time limit?)", "run doctor again"),
        );

    const units = get("units");
    if (!units) missing("daemons", "units");
    else {
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
    }

    const egress = get("egress");
    if (!egress) missing("outbound 25", "egress");
    else {
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
    }

    // postqueue -j prints nothing for an empty queue.
    const queue = sec.get("queue");
    if (!queue) missing("queue", "queue");
    else {
        const entries = queueEntries(queue);
        if (entries.length === 0 && queue.length > 0 && !queue[0].startsWith("{"))
            add("queue", unknown(`postqueue: ${queue.join(" ")}`, "systemctl status postfix"));
        else {
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
        }
    }

    outboundTls(get("outbound-tls"), queue, add, () => missing("outbound TLS", "outbound-tls"));

    const volume = get("volume")?.[0];
    if (!volume) missing("mail volume", "volume");
    else {
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
    }

    const certbot = get("certbot");
    if (!certbot) missing("certificate renewal", "certbot");
    else {
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
    }

    const updates = get("updates")?.[0];
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

    const reboot = get("reboot");
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

    const backup = get("backup")?.[0];
    if (!backup) missing("backup", "backup");
    else if (backup === "unconfigured" || backup === "absent")
        add("backup", ok("no backups configured (mailstack:backup is not set)"));
    else {
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
    }

    const bans = get("fail2ban");
    if (!bans) missing("fail2ban", "fail2ban");
    else {
        const text = bans.join(" ");
        const jails = [...text.matchAll(/\{'([^']+)': \[([^\]]*)\]\}/g)].map((m) => ({
            jail: m[1],
            ips: [...m[2].matchAll(/'([^']+)'/g)].map((x) => x[1]),
        }));
        if (jails.length === 0 && text !== "[]")
            add("fail2ban", unknown(`fail2ban-client banned: ${text.slice(0, 120)}`, "systemctl status fail2ban"));
        else {
            const banned = jails.filter((j) => j.ips.length);
            add(
                "fail2ban",
                ok(
                    banned.length
                        ? `banned now: ${banned.map((j) => `${j.jail} ${j.ips.join(" ")}`).join("; ")}`
                        : "no address banned now",
                ),
            );
        }
    }

    const dkim = get("dkim");
    if (!dkim) missing("dkim keys", "dkim");
    else
        for (const k of f.dkim) {
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
    return results;
}

const gib = (bytes: string | undefined) => (Number(bytes) / 2 ** 30).toFixed(1);

export interface SshTarget {
    readonly address: string;
    /** `ssh-ed25519 AAAA...`, the stack output sshHostKey. */
    readonly hostKey: string;
    /** OpenSSH private key (the stack output deployPrivateKey). */
    readonly privateKey: string;
}

/**
 * Run the script on the server: ssh with only the deploy key and a known_hosts file that
 * holds exactly the pinned key (StrictHostKeyChecking=yes), as pulumi-command's hostKey.
 */
export async function runRemote(
    target: SshTarget,
    script: string,
    timeoutMs: number,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-doctor-"));
    try {
        const key = path.join(dir, "id");
        const knownHosts = path.join(dir, "known_hosts");
        fs.writeFileSync(key, target.privateKey.trim() + "\n", { mode: 0o600 });
        fs.writeFileSync(knownHosts, `${target.address} ${target.hostKey.trim()}\n`, { mode: 0o600 });
        const args = [
            ...pinnedSshOptions(key, knownHosts, target.hostKey.trim().split(" ")[0]),
            // No ~/.ssh/config or system known_hosts of this machine has a say.
            "-F",
            "none",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            `ConnectTimeout=${Math.max(1, Math.floor(timeoutMs / 3000))}`,
            `root@${target.address}`,
            "bash -s",
        ];
        return await new Promise((resolve) => {
            const child = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"] });
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
            child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
            const timer = setTimeout(() => {
                stderr += `\nno answer within ${timeoutMs / 1000} s`;
                child.kill("SIGKILL");
            }, timeoutMs);
            child.on("error", (e) => {
                clearTimeout(timer);
                resolve({ status: null, stdout, stderr: `${stderr}${e.message}` });
            });
            child.on("close", (status) => {
                clearTimeout(timer);
                resolve({ status, stdout, stderr });
            });
            child.stdin.end(script);
        });
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** The whole SSH part: the login first, then one result per section. */
export async function sshChecks(target: SshTarget, facts: RemoteFacts, timeoutMs: number): Promise<CheckResult[]> {
    const started = Date.now();
    const r = await runRemote(target, remoteScript(facts), timeoutMs);
    const ms = Date.now() - started;
    const login = `ssh login root@${target.address}`;
    if (!r.stdout.includes("@@units")) {
        const why = r.stderr.trim().split("\n").filter(Boolean).at(-1) ?? `ssh exited ${r.status}`;
        const hostKey = /host key|REMOTE HOST IDENTIFICATION/i.test(r.stderr);
        return [
            {
                check: login,
                ms,
                ...fail(
                    why,
                    hostKey
                        ? "the server shows another host key than the stack's sshHostKey: do not trust it; find out why before anything else"
                        : "check that sshAllowedCidrs includes this machine's address and that the server is up",
                ),
            },
        ];
    }
    return [
        { check: login, ms, ...ok(`deploy key, host key pinned (${target.hostKey.split(" ")[0]})`) },
        ...remoteResults(r.stdout, facts).map((x) => ({ ...x, ms })),
    ];
}
