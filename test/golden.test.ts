// The rendered sample configuration, committed under test/golden/ so that a pull request
// shows exactly which line of main.cf or dovecot.conf changes on the server. Inputs are
// fixed (no random keys or salts), so the output only changes when the code does.
//
//   npm test                      compares
//   UPDATE_GOLDEN=1 npm test      rewrites test/golden/ (review the diff, then commit)

import * as fs from "node:fs";
import * as path from "node:path";
import { writtenFiles } from "./helpers/user-data";
import { parse, stringify } from "yaml";

import { renderDkimFiles, renderHostFiles, renderMailData, renderUserData, type HostFile } from "../render";
import { mailDnsRecords } from "../render/dns/dns-records";
import { describeRecord } from "../render/dns/text";
import { renderAppleProfiles } from "../render/host/client-config";
import { allLogins, buildSpec, type MailSpec } from "../model";
import { twoDomains } from "./helpers/fixtures";
import { TEST_PROVISIONAL_HOST_KEY } from "./helpers/host-key";

const GOLDEN = path.join(__dirname, "golden");
const UPDATE = process.env.UPDATE_GOLDEN === "1";

/** A DKIM public key for the DNS records (only the public half is needed). */
const DKIM_PUBLIC_KEY = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1tJVKbEdcjiOIIe5ok0Z
PI5najyvyCVqhNBrh21Vb9x+i0K66DwI7qgoufhhQapv1wpOHK11NDPgnQKhwoGa
hZrFlPAl4E9zSQDLmMvZHki0NFdjc7aoIpisihRLbNjrmS6w5g7ZV7GfkKZoo71Z
XbbIEXHlvB1qLoMcsUupQSb+re6PKmjZdljkKjJValVeJvWgSC6jJc9fgy1Pq+7s
5vHJINRb/LoCtdlBO7vxmecc7y68smPa8tlIif6oJYN+Nx1WsRNdi5/sTmhr3ENw
eSRnilwyAefl5zUMQCq8ynwsEFTL5BbRtFJok+FfVwcQMlyd99L6EV2oLtLoqQ+P
twIDAQAB
-----END PUBLIC KEY-----`;
/** Not a key: the DKIM renderer only checks the PEM frame. */
const DKIM_PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nGOLDEN-SAMPLE-NOT-A-KEY\n-----END PRIVATE KEY-----\n";

function sampleSpec(): MailSpec {
    const raw = twoDomains();
    // example.org takes every unlisted address into carol's mailbox (domains[i].catchAll).
    const domains = (raw.domains as Record<string, unknown>[]).map((d) =>
        d.name === "example.org" ? { ...d, catchAll: "carol" } : d,
    );
    return buildSpec({
        ...raw,
        domains,
        relay: { host: "smtp.relay.example.net", port: 2525, username: "mailer" },
        hasRelayPassword: true,
        // A sender for applications: its sender-logins row and its hash in Dovecot's senders file.
        senders: ["notify@nathabee.de"],
    });
}

/** Every rendered text, by its name under test/golden/. */
function rendered(): Map<string, string> {
    const spec = sampleSpec();
    const out = new Map<string, string>();
    const add = (step: string, files: readonly HostFile[]) => {
        for (const f of files) {
            const meta = `# ${f.mode} ${f.owner}:${f.group}, on change: ${f.onChange.join(", ") || "-"}`;
            out.set(path.join(step, f.path), `${meta}\n${f.content}`);
        }
    };
    add("host-config", renderHostFiles(spec));
    add(
        "dkim",
        renderDkimFiles(spec, {
            privateKeysPem: Object.fromEntries(spec.domains.map((d) => [d.name, DKIM_PRIVATE_KEY])),
        }),
    );
    const hashes = Object.fromEntries(allLogins(spec).map((m) => [m, `{BLF-CRYPT}$2b$12$golden.sample.hash.of.${m}`]));
    add("mail-data", [
        ...renderMailData(spec, { passwordHashes: hashes, relayPassword: "golden-relay-password" }),
        ...renderAppleProfiles(spec),
    ]);
    // The user-data with its archive of first-boot files shown as text, one entry per member.
    const userData = renderUserData(spec, {
        mailVolumeDevice: "/dev/disk/by-id/scsi-0HC_Volume_123",
        provisionalHostKey: TEST_PROVISIONAL_HOST_KEY,
    });
    const doc = parse(userData) as { write_files?: Record<string, unknown>[] };
    doc.write_files = (doc.write_files ?? []).map((f) => {
        const members = writtenFiles([f]);
        if (members.length === 1 && members[0].via === members[0].path) return f;
        return {
            path: f.path,
            archive: members.map((m) => ({
                path: m.path,
                owner: `${m.owner}:${m.group}`,
                mode: m.mode,
                content: m.content,
            })),
        };
    });
    out.set("user-data.yaml", `${userData.split("\n")[0]}\n${stringify(doc, { lineWidth: 0 })}`);
    const facts = { ipv4: "203.0.113.10", ipv6: "2001:db8:1::1", dkimPublicKeyPem: DKIM_PUBLIC_KEY };
    const records = spec.domains.flatMap((d) => mailDnsRecords(spec, d, facts));
    out.set("dns-records.txt", records.map((r) => `${describeRecord(r)}    ; ${r.purpose}\n`).join(""));
    return out;
}

function goldenFiles(dir = GOLDEN): string[] {
    if (!fs.existsSync(dir)) return [];
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        return e.isDirectory() ? goldenFiles(p) : [path.relative(GOLDEN, p)];
    });
}

const current = rendered();

if (UPDATE) {
    fs.rmSync(GOLDEN, { recursive: true, force: true });
    for (const [name, text] of current) {
        fs.mkdirSync(path.dirname(path.join(GOLDEN, name)), { recursive: true });
        fs.writeFileSync(path.join(GOLDEN, name), text);
    }
}

test("test/golden/ holds exactly the rendered files (UPDATE_GOLDEN=1 npm test rewrites it)", () => {
    expect(goldenFiles().sort()).toEqual([...current.keys()].sort());
});

test.each([...current.keys()].sort())("%s is as committed", (name) => {
    const file = path.join(GOLDEN, name);
    const committed = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "(missing)";
    // A string diff: jest prints the changed lines with - and +.
    expect(current.get(name)).toEqual(committed);
});
