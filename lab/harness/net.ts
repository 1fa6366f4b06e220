// The lab's private network and the programs that run in its "outside" namespace.
//
// Safety: the container only ever runs in the lab's own network namespace (`msl-srv`),
// linked by one veth pair to a second lab namespace (`msl-out`) that holds the "outside"
// clients, the lab DNS, the mail sink and the ACME CA; nothing is linked to the host's
// network, and every address is a documentation address.

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { recordPid, REPO_DIR, sh, sleep, startTime, STATE_DIR } from "./processes";

/** The lab's network: two namespaces and one veth pair, documentation addresses only. */
export const NET = {
    serverNs: "msl-srv",
    outsideNs: "msl-out",
    serverIf: "eth0",
    outsideIf: "out0",
    server4: "192.0.2.25",
    server6: "2001:db8::25",
    client4: "192.0.2.7",
    client6: "2001:db8::7",
    /** Second "outside" source address and the mail sink (the relayhost of the lab spec). */
    outside4: "198.51.100.7",
    /** A password guesser, for the fail2ban checks (banned and unbanned there). */
    attacker4: "198.51.100.66",
    /**
     * Where the sender check's refused logins come from, one address each (IMAP, POP3,
     * ManageSieve, webmail, DAV, 587): Dovecot's delay after a failed login grows per address,
     * and so do fail2ban's counts; apart, each costs one delay and no check meets the others'.
     */
    loginProbes4: [
        "198.51.100.41",
        "198.51.100.42",
        "198.51.100.43",
        "198.51.100.44",
        "198.51.100.45",
        "198.51.100.46",
    ],
    /**
     * Where the password checks' IMAPS logins come from (accounts.test.ts, app-passwords.test.ts,
     * totp.test.ts):
     * their refused logins count against these addresses in fail2ban and Dovecot, not against
     * the lab's client.
     */
    accountsProbe4: "198.51.100.47",
    appPasswordsProbe4: "198.51.100.48",
    totpProbe4: "198.51.100.49",
    /** The second factor check's refused POP3S, ManageSieve and DAV logins (totp.test.ts), one address each. */
    totpProbes4: ["198.51.100.60", "198.51.100.61", "198.51.100.62"],
    /**
     * The replacement and restore checks' logins with bob's kept passwords (kept-account.ts): one
     * refused IMAPS login on each new server.
     */
    keptAccountProbe4: "198.51.100.63",
    /**
     * Password guessers at the webmail's login (totp.test.ts): one wrong login from each, all
     * at once (no fail2ban jail counts more than one, and no address meets Dovecot's delay
     * after an earlier failure).
     */
    webmailGuessers4: ["198.51.100.54", "198.51.100.55", "198.51.100.56", "198.51.100.57"],
    /** The backup target: an SFTP "Storage Box" on port 23 (lab/world/storagebox.ts). */
    storagebox4: "203.0.113.22",
    /** A sender the lab's DNS lists in a blocklist (Spamhaus ZEN), for the spam filter's checks. */
    listed4: "198.51.100.99",
    /** The outside MX (lab/world/sink.ts): port 25 for sink.test and peer.test, which judges what arrives, and their MTA-STS policies on 443. */
    mx4: "198.51.100.25",
    /** The same MX over IPv6 (peer6.test). */
    mx6: "2001:db8::2:25",
    /** An MX whose certificate is self-signed, for a domain whose MTA-STS policy says enforce. */
    badTlsMx4: "198.51.100.26",
    /** An MX that offers no STARTTLS (as if an attacker stripped it), policy enforce. */
    plainMx4: "198.51.100.27",
    /** Knot DNS with the DNSSEC-signed zone dane.test (lab/world/dane.ts), the server's stub zone for it. */
    signedDns4: "198.51.100.53",
    /** The old provider of the import check (lab/world/oldmail.ts): IMAPS with a lab-CA certificate. */
    oldImap4: "203.0.113.143",
    /** The same old provider with a self-signed certificate (a certificate that does not verify). */
    oldImapBadCert4: "203.0.113.144",
    /** The old provider's OAuth2 login (lab/world/oauth2.ts), as Microsoft's identity platform is for Microsoft 365. */
    oauth4: "203.0.113.146",
    /**
     * The backup MX (mailstack:secondaryMx, `--secondary`): its own namespace, linked to msl-out
     * by a second veth pair, in another network as in another location; msl-out routes between
     * it and msl-srv, as the internet does between two Hetzner locations.
     */
    mx2Ns: "msl-mx2",
    mx2OutsideIf: "out1",
    mx2Server4: "203.0.113.52",
    mx2Server6: "2001:db8:52::52",
    /** msl-out's end of that link: the backup MX's gateway. */
    mx2Gateway4: "203.0.113.1",
    mx2Gateway6: "2001:db8:52::1",
} as const;

/** Create msl-srv and msl-out with one veth pair between them. No link to the host. */
export function createNetwork(): void {
    const { serverNs: s, outsideNs: o } = NET;
    for (const ns of [s, o]) {
        // Recorded before creation, so a failure halfway is still cleaned up.
        fs.appendFileSync(path.join(STATE_DIR, "netns"), `${ns}\n`);
        sh("ip", ["netns", "add", ns]);
    }
    // Created inside msl-out with its peer directly in msl-srv: it never exists in the host netns.
    sh("ip", ["-n", o, "link", "add", NET.outsideIf, "type", "veth", "peer", "name", NET.serverIf, "netns", s]);
    const run = (ns: string, ...args: string[]) => sh("ip", ["-n", ns, ...args]);
    for (const ns of [s, o]) run(ns, "link", "set", "lo", "up");
    run(s, "addr", "add", `${NET.server4}/24`, "dev", NET.serverIf);
    run(s, "-6", "addr", "add", `${NET.server6}/64`, "dev", NET.serverIf, "nodad");
    run(s, "link", "set", NET.serverIf, "up");
    // Everything "outside" is reached through msl-out (the sink at 198.51.100.7 too).
    run(s, "route", "add", "default", "via", NET.client4);
    run(s, "-6", "route", "add", "default", "via", NET.client6);
    run(o, "addr", "add", `${NET.client4}/24`, "dev", NET.outsideIf);
    run(o, "addr", "add", `${NET.outside4}/32`, "dev", NET.outsideIf);
    run(o, "addr", "add", `${NET.attacker4}/32`, "dev", NET.outsideIf);
    run(o, "addr", "add", `${NET.storagebox4}/32`, "dev", NET.outsideIf);
    run(o, "addr", "add", `${NET.listed4}/32`, "dev", NET.outsideIf);
    for (const a of [
        NET.mx4,
        NET.badTlsMx4,
        NET.plainMx4,
        NET.signedDns4,
        NET.oldImap4,
        NET.oldImapBadCert4,
        NET.oauth4,
        ...NET.loginProbes4,
        NET.accountsProbe4,
        NET.appPasswordsProbe4,
        NET.totpProbe4,
        ...NET.totpProbes4,
        NET.keptAccountProbe4,
        ...NET.webmailGuessers4,
    ])
        run(o, "addr", "add", `${a}/32`, "dev", NET.outsideIf);
    run(o, "-6", "addr", "add", `${NET.client6}/64`, "dev", NET.outsideIf, "nodad");
    run(o, "-6", "addr", "add", `${NET.mx6}/64`, "dev", NET.outsideIf, "nodad");
    run(o, "link", "set", NET.outsideIf, "up");
}

/**
 * The backup MX's namespace msl-mx2 with its veth pair to msl-out (created inside msl-out, its
 * peer directly in msl-mx2: it never exists in the host netns), and forwarding in msl-out
 * between its two links, so that the two servers reach each other through the "outside".
 * Nothing is linked to the host's network.
 */
export function createSecondaryNetwork(): void {
    const { mx2Ns: m, outsideNs: o } = NET;
    fs.appendFileSync(path.join(STATE_DIR, "netns"), `${m}\n`);
    sh("ip", ["netns", "add", m]);
    sh("ip", ["-n", o, "link", "add", NET.mx2OutsideIf, "type", "veth", "peer", "name", NET.serverIf, "netns", m]);
    const run = (ns: string, ...args: string[]) => sh("ip", ["-n", ns, ...args]);
    run(m, "link", "set", "lo", "up");
    run(m, "addr", "add", `${NET.mx2Server4}/24`, "dev", NET.serverIf);
    run(m, "-6", "addr", "add", `${NET.mx2Server6}/64`, "dev", NET.serverIf, "nodad");
    run(m, "link", "set", NET.serverIf, "up");
    run(m, "route", "add", "default", "via", NET.mx2Gateway4);
    run(m, "-6", "route", "add", "default", "via", NET.mx2Gateway6);
    run(o, "addr", "add", `${NET.mx2Gateway4}/24`, "dev", NET.mx2OutsideIf);
    run(o, "-6", "addr", "add", `${NET.mx2Gateway6}/64`, "dev", NET.mx2OutsideIf, "nodad");
    run(o, "link", "set", NET.mx2OutsideIf, "up");
    // What msl-out itself opens to the backup MX comes from the deployers' address (in
    // mailstack:sshAllowedCidrs), as for the primary: doctor's SSH to it among them. What msl-out
    // forwards (the primary's mail and ETRN) keeps its own source.
    run(o, "route", "add", `${NET.mx2Server4}/32`, "dev", NET.mx2OutsideIf, "src", NET.client4);
    run(o, "-6", "route", "add", `${NET.mx2Server6}/128`, "dev", NET.mx2OutsideIf, "src", NET.client6);
    // msl-out routes between its two links (its own namespace's sysctls only).
    sh("nsenter", [
        `--net=/run/netns/${o}`,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
        "net.ipv6.conf.all.forwarding=1",
    ]);
}

function nsInode(p: string): number | undefined {
    try {
        return fs.statSync(p).ino;
    } catch {
        return undefined;
    }
}

/** True when this process already runs in msl-out (e.g. the checks' child process). */
function inOutsideNs(): boolean {
    const ino = nsInode(`/run/netns/${NET.outsideNs}`);
    return ino !== undefined && ino === nsInode("/proc/self/ns/net");
}

/**
 * argv that runs `argv` in msl-out (unchanged if we already are there). `nsenter --net`
 * switches only the network namespace: unlike `ip netns exec` it keeps the host's mounts
 * (/sys/fs/cgroup), so a check can still start systemd-nspawn, e.g. to reboot the server.
 * (It also keeps the host's /sys/class/net: list links with `ip link`, not sysfs.)
 */
export function outside(argv: string[]): [string, string[]] {
    if (inOutsideNs()) return [argv[0], argv.slice(1)];
    return ["nsenter", [`--net=/run/netns/${NET.outsideNs}`, "--", ...argv]];
}

const READY_TIMEOUT_MS = 20_000;

/**
 * Start a long-running helper (DNS, SMTP sink, ...) inside msl-out with this Node and tsx,
 * record its PID, and wait until its log shows `ready`. Its output goes to STATE_DIR/NAME.log.
 */
export async function startOutsideDaemon(name: string, script: string, args: string[]): Promise<number> {
    return startOutsideProcess(name, [process.execPath, "--import", "tsx", script, ...args], /\bready\b/);
}

/**
 * Start a program in msl-out, in the background, recorded by PID for lab/stop.sh; resolves
 * once its log (STATE_DIR/NAME.log) matches `ready`.
 */
export async function startOutsideProcess(
    name: string,
    argv: string[],
    ready: RegExp,
    env: NodeJS.ProcessEnv = {},
    stopSignal: "TERM" | "KILL" = "TERM",
): Promise<number> {
    const log = path.join(STATE_DIR, `${name}.log`);
    // Only what this start writes counts: the log of an earlier start (a restarted sink) says "ready" too.
    const from = fs.existsSync(log) ? fs.statSync(log).size : 0;
    const out = fs.openSync(log, "a");
    // nsenter execs the command in place, so the PID is the program's own.
    const [cmd, args] = outside(argv);
    const child = spawn(cmd, args, {
        cwd: REPO_DIR,
        stdio: ["ignore", out, out],
        detached: true,
        env: { ...process.env, MAILSTACK_LAB_STATE: STATE_DIR, ...env },
    });
    fs.closeSync(out);
    if (child.pid === undefined) throw new Error(`could not start ${name}`);
    recordPid(name, child.pid, stopSignal);
    child.unref();
    const started = Date.now();
    while (Date.now() - started < READY_TIMEOUT_MS) {
        const text = fs.readFileSync(log).subarray(from).toString("utf8");
        if (ready.test(text)) return child.pid;
        if (child.exitCode !== null || startTime(child.pid) === undefined)
            throw new Error(`${name} exited: ${text.trim().slice(-1000)}`);
        await sleep(100);
    }
    throw new Error(
        `${name} not ready after ${READY_TIMEOUT_MS / 1000} s: ${fs.readFileSync(log, "utf8").trim().slice(-1000)}`,
    );
}
