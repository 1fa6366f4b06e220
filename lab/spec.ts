// The lab's mail server: a two-domain config fed to the project's own buildSpec, and the
// user-data the stack would send to Hetzner for it.

import * as fs from "node:fs";
import * as path from "node:path";
import { buildSpec, MailSpec, RawConfig } from "../components/spec";
import { MAIL_VOLUME_DEVICE, NET } from "./infra";

/** Lab-only passwords (the lab network is private; these are never used anywhere else). */
export const LAB_PASSWORDS: Readonly<Record<string, string>> = {
    "alice@example.org": "alice-lab-password-1",
    "bob@example.org": "bob-lab-password-22",
    "postmaster@example.org": "postmaster-lab-password",
    "carol@example.net": "carol-lab-password-333",
};

/** The lab's relay (the sink in msl-out) and its credentials. */
export const LAB_RELAY = { host: NET.outside4, port: 587, username: "lab", password: "lab-relay-password" } as const;

/** Where forwarded mail goes: an outside domain whose only route is the lab's sink. */
export const LAB_SINK_ADDRESS = "ext@sink.test";

export const LAB_RAW_CONFIG: RawConfig = {
    hostname: "mail.example.org",
    acmeEmail: "postmaster@example.org",
    // Reserved .test name: the lab never talks to a real ACME CA.
    acmeServer: "https://acme.lab.test/directory",
    sshAllowedCidrs: ["192.0.2.0/24", "2001:db8::/32"],
    domains: [
        {
            name: "example.org",
            mailboxes: ["alice", "bob", "postmaster"],
            aliases: { info: ["alice@example.org"] },
        },
        {
            name: "example.net",
            mailboxes: ["carol"],
            aliases: { postmaster: ["carol@example.net"], fwd: [LAB_SINK_ADDRESS] },
        },
    ],
    relay: { host: LAB_RELAY.host, port: LAB_RELAY.port, username: LAB_RELAY.username },
    hasRelayPassword: true,
    passwords: LAB_PASSWORDS,
};

export function labSpec(): MailSpec {
    return buildSpec(LAB_RAW_CONFIG);
}

/** The mail packages, from the same list the image's local repo was built from. */
export function mailPackages(): string[] {
    const file = path.join(__dirname, "..", "cloud-init", "packages.json");
    return (JSON.parse(fs.readFileSync(file, "utf8")) as { mail: string[] }).mail;
}

type Renderer = (spec: MailSpec, opts: { mailVolumeDevice: string }) => string;

/** The project's renderUserData, once cloud-init/index.ts exports it; undefined until then. */
export function findRenderer(): Renderer | undefined {
    const file = path.join(__dirname, "..", "cloud-init", "index.ts");
    if (!fs.existsSync(file)) return undefined;
    // A non-literal path keeps `tsc` from requiring the module to exist yet. Errors inside
    // an existing module are not swallowed: they must fail the lab.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(file) as { renderUserData?: Renderer };
    return typeof mod.renderUserData === "function" ? mod.renderUserData : undefined;
}

/**
 * A stand-in until renderUserData exists: install the mail packages (from the image's
 * local repo) and mount the mail volume the way the real user-data will.
 */
export function placeholderUserData(): string {
    const lines = [
        "#cloud-config",
        "# mailstack lab placeholder: cloud-init/index.ts has no renderUserData yet.",
        "package_update: true",
        "packages:",
        ...mailPackages().map((p) => `  - ${p}`),
        "mounts:",
        `  - [${MAIL_VOLUME_DEVICE}, /srv/mail, ext4, "defaults,nofail", "0", "2"]`,
        "",
    ];
    return lines.join("\n");
}

export interface LabUserData {
    userData: string;
    /** "renderUserData" when it is the project's real user-data. */
    source: "renderUserData" | "placeholder";
}

export function labUserData(spec: MailSpec = labSpec()): LabUserData {
    const render = findRenderer();
    if (render) return { userData: render(spec, { mailVolumeDevice: MAIL_VOLUME_DEVICE }), source: "renderUserData" };
    return { userData: placeholderUserData(), source: "placeholder" };
}
