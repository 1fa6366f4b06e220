// The primary's side of the backup MX (issue 33): each start of its Postfix asks the backup MX
// for the mail it kept (ETRN), once the primary takes mail again. The files, their removal
// without a backup MX, and the rendered script run by python3 against a fake backup MX, a
// fake milter port.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

import { renderHostFiles } from "../render";
import { HOST_CONFIG_PRUNE } from "../render/features";
import {
    SECONDARY_TABLES,
    renderEtrnFiles,
    renderRelayData,
    renderSecondaryHostFiles,
} from "../render/features/backup-mx";
import { buildSpec, type MailSpec } from "../model";
import { twoDomains } from "./helpers/fixtures";

const SCRIPT = "/usr/local/sbin/mailstack-backup-mx-etrn";
const UNIT = "/etc/systemd/system/mailstack-backup-mx-etrn.service";
const DROP_IN = "/etc/systemd/system/postfix.service.d/backup-mx-etrn.conf";

const withBackupMx = (): MailSpec =>
    buildSpec({ ...twoDomains(), secondaryMx: { hostname: "mx2.nathabee.de", location: "fsn1" } });
const without = (): MailSpec => buildSpec(twoDomains());
const fileOf = (spec: MailSpec, p: string) => renderHostFiles(spec).find((f) => f.path === p);

describe("the primary asks the backup MX for its mail when Postfix starts", () => {
    test("with a backup MX: the script, its unit and Postfix's drop-in that pulls it in on every start", () => {
        const spec = withBackupMx();
        const script = fileOf(spec, SCRIPT)!;
        expect(script.mode).toBe("0755");
        expect(script.content).toContain('BACKUP_MX = "mx2.nathabee.de"');
        expect(script.content).toContain('DOMAINS = "nathabee.de example.org".split()');
        expect(script.content).toContain('MILTER = ("127.0.0.1", 11332)');
        const unit = fileOf(spec, UNIT)!.content;
        // Stopped with Postfix (a crash too), so its next start runs it again; after what takes the mail.
        expect(unit).toMatch(/^BindsTo=postfix\.service$/m);
        expect(unit).toMatch(/^After=postfix\.service rspamd\.service dovecot\.service/m);
        expect(unit).toMatch(/^Type=oneshot$/m);
        expect(unit).toMatch(/^RemainAfterExit=yes$/m);
        expect(unit).toMatch(/^CapabilityBoundingSet=$/m);
        expect(unit).toMatch(/^ProtectSystem=strict$/m);
        expect(fileOf(spec, DROP_IN)!.content).toMatch(/^\[Unit\]\nWants=mailstack-backup-mx-etrn\.service$/m);
        for (const p of [UNIT, DROP_IN]) expect(fileOf(spec, p)!.onChange).toEqual(["daemon-reload"]);
    });

    test("without a backup MX none of them, and host-config removes them once it is turned off", () => {
        expect(renderEtrnFiles(without())).toEqual([]);
        const paths = renderEtrnFiles(withBackupMx()).map((f) => f.path);
        expect(paths.sort()).toEqual([DROP_IN, SCRIPT, UNIT].sort());
        for (const p of paths) {
            const rule = HOST_CONFIG_PRUNE.find((r) => {
                if (path.posix.dirname(p) !== r.dir) return false;
                const [head, tail] = r.pattern.split("*");
                const name = path.posix.basename(p);
                return name.startsWith(head) && name.endsWith(tail);
            });
            expect([p, rule !== undefined]).toEqual([p, true]);
            if (p !== SCRIPT) expect(rule!.onChange).toContain("daemon-reload");
        }
    });
});

/** The primary's addresses, from which the backup MX takes ETRN. */
const PRIMARY = ["192.0.2.25", "2001:db8:25::1"];

/** main.cf's settings, as postconf would list them (continuation lines joined). */
function settings(mainCf: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const line of mainCf.replace(/\n[ \t]+/g, " ").split("\n")) {
        const m = /^([a-z0-9_]+)\s*=\s*(.*)$/.exec(line);
        if (m) out[m[1]] = m[2].trim();
    }
    return out;
}

describe("the backup MX takes ETRN from the primary only", () => {
    const main = () =>
        settings(renderSecondaryHostFiles(withBackupMx()).find((f) => f.path === "/etc/postfix/main.cf")!.content);

    test("it hands its mail over at once when the primary asks (ETRN), and takes ETRN from the primary's addresses only", () => {
        const m = main();
        expect(m.fast_flush_domains).toBe("$relay_domains");
        expect(m.smtpd_etrn_restrictions).toBe("check_client_access cidr:/etc/postfix/mailstack/etrn-clients, reject");
        const clients = renderRelayData(withBackupMx(), PRIMARY).find(
            (f) => f.path === "/etc/postfix/mailstack/etrn-clients",
        )!.content;
        expect(clients.split("\n").filter((l) => l && !l.startsWith("#"))).toEqual([
            "192.0.2.25/32 OK",
            "2001:db8:25::1/128 OK",
        ]);
        // Without the primary's addresses (or with names) nothing is rendered: an empty table would refuse it.
        expect(() => renderRelayData(withBackupMx(), undefined)).toThrow(/primary's addresses are not IP addresses/);
        expect(() => renderRelayData(withBackupMx(), [])).toThrow(/primary's addresses are not IP addresses/);
        expect(() => renderRelayData(withBackupMx(), ["mail.nathabee.de"])).toThrow(/not IP addresses/);
    });

    test("every table main.cf names is one relay-data delivers and first boot makes empty", () => {
        const named = [
            ...renderSecondaryHostFiles(withBackupMx())
                .find((f) => f.path === "/etc/postfix/main.cf")!
                .content.matchAll(/\b(?:texthash|cidr):\/etc\/postfix\/mailstack\/([a-z-]+)/g),
        ].map((x) => x[1]);
        expect([...new Set(named)].sort()).toEqual([...SECONDARY_TABLES].sort());
        expect(
            renderRelayData(withBackupMx(), PRIMARY)
                .map((f) => f.path.split("/").pop())
                .sort(),
        ).toEqual([...SECONDARY_TABLES].sort());
    });
});

/** A fake backup MX: greets, answers EHLO, answers each ETRN with `reply(domain)`, records the commands. */
function fakeBackupMx(
    reply: (domain: string) => string,
): Promise<{ port: number; commands: string[]; close: () => void }> {
    const commands: string[] = [];
    const server = net.createServer((sock) => {
        sock.write("220 fake ESMTP\r\n");
        let buf = "";
        sock.on("data", (d) => {
            buf += d.toString();
            let i: number;
            while ((i = buf.indexOf("\r\n")) >= 0) {
                const line = buf.slice(0, i);
                buf = buf.slice(i + 2);
                commands.push(line);
                const [verb, arg] = line.split(" ");
                if (/^EHLO$/i.test(verb)) sock.write("250-fake\r\n250 ETRN\r\n");
                else if (/^ETRN$/i.test(verb)) sock.write(`${reply(arg)}\r\n`);
                else if (/^QUIT$/i.test(verb)) sock.end("221 bye\r\n");
                else sock.write("502 no\r\n");
            }
        });
        sock.on("error", () => undefined);
    });
    return new Promise((resolve) =>
        server.listen(0, "127.0.0.1", () =>
            resolve({ port: (server.address() as net.AddressInfo).port, commands, close: () => server.close() }),
        ),
    );
}

/** A listener on 127.0.0.1 that only accepts (the milter's port); 0: any free port. */
function listener(at: number): Promise<{ port: number; close: () => void }> {
    const server = net.createServer((s) => s.destroy());
    return new Promise((resolve) =>
        server.listen(at, "127.0.0.1", () =>
            resolve({ port: (server.address() as net.AddressInfo).port, close: () => server.close() }),
        ),
    );
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
    const l = await listener(0);
    l.close();
    return l.port;
}

describe("the rendered script, run by python3", () => {
    let dir: string;
    let script: string;
    beforeAll(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "etrn-"));
        script = path.join(dir, "etrn.py");
        fs.writeFileSync(script, renderEtrnFiles(withBackupMx()).find((f) => f.path === SCRIPT)!.content);
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** Runs its main() against the given ports: exit status, stdout and stderr. */
    function run(smtpPort: number, milterPort: number, readySeconds = 5) {
        const py = [
            "import importlib.util, sys",
            "spec = importlib.util.spec_from_file_location('etrn', sys.argv[1])",
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)",
            "sys.exit(m.main(backup_mx='127.0.0.1', port=int(sys.argv[2]), milter=('127.0.0.1', int(sys.argv[3])), ready_seconds=int(sys.argv[4])))",
        ].join("\n");
        const child = spawn("python3", ["-c", py, script, String(smtpPort), String(milterPort), String(readySeconds)]);
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) =>
            child.on("close", (status) => resolve({ status, stdout, stderr })),
        );
    }

    /**
     * Runs it against a fake backup MX answering each ETRN with `reply` (none: a port nobody
     * listens on), with rspamd's milter port listening or not.
     */
    async function attempt(reply: string | undefined, milterUp = true, readySeconds = 5) {
        const mx = reply === undefined ? undefined : await fakeBackupMx(() => reply);
        const milter = milterUp ? await listener(0) : undefined;
        try {
            const r = await run(mx?.port ?? (await closedPort()), milter?.port ?? (await closedPort()), readySeconds);
            return { ...r, commands: mx?.commands ?? [] };
        } finally {
            mx?.close();
            milter?.close();
        }
    }

    test("once rspamd's milter takes connections: EHLO, then ETRN for every domain, exit 0", async () => {
        const r = await attempt("250 Queuing started");
        expect(r.status).toBe(0);
        expect(r.commands.slice(0, 3)).toEqual(["ehlo mail.nathabee.de", "ETRN nathabee.de", "ETRN example.org"]);
        expect(r.stdout).toContain("ETRN example.org to 127.0.0.1: 250 Queuing started");
    });

    test("ETRN refused (5xx: the backup MX does not list this server): exit 1, naming the domains", async () => {
        const r = await attempt("554 5.7.1 <unknown[192.0.2.99]>: Client host rejected: Access denied");
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("refused ETRN for nathabee.de example.org");
    });

    test("the backup MX not reached: exit 0 (it hands the mail over on its own next try), said on stderr", async () => {
        const r = await attempt(undefined);
        expect(r.status).toBe(0);
        expect(r.stderr).toMatch(/not reached/);
    });

    test("rspamd's milter not listening: nothing is asked, exit 1 after the wait", async () => {
        const r = await attempt("250 Queuing started", false, 1);
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/not ready to take mail/);
        expect(r.commands).toEqual([]);
    });
});
