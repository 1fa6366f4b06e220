// A CalDAV and CardDAV client for the lab's checks, doing what iOS, DAVx5 and Thunderbird do
// with nothing but an address and a password (RFC 6764, RFC 4791, RFC 6352, RFC 5397): the
// SRV and TXT records of the address's domain through the lab DNS, the well-known redirect,
// the principal, its calendar and address book homes, their collections; then PUT, GET and
// DELETE of objects. TLS is verified against the lab ACME CA's root for the host's name.
import { Resolver } from "node:dns/promises";
import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import { XMLParser } from "fast-xml-parser";
import { pebbleRoot } from "../world/acme";
import { NET } from "../harness/net";
import { LAB_DIR, shAsync, STATE_DIR } from "../harness/processes";

const resolver = new Resolver();
resolver.setServers([NET.client4]);

export interface DavAuth {
    readonly user: string;
    readonly pass: string;
}

export interface DavReply {
    readonly status: number;
    readonly headers: Record<string, string | string[] | undefined>;
    readonly body: string;
}

/** One HTTPS request to a URL on a name of the lab DNS, verified for that name. */
export async function davRequest(
    url: string,
    o: { method?: string; auth?: DavAuth; body?: string; headers?: Record<string, string> } = {},
): Promise<DavReply> {
    const u = new URL(url);
    const [address] = await resolver.resolve4(u.hostname);
    if (!address) throw new Error(`${u.hostname} does not resolve in the lab DNS`);
    const ca = await pebbleRoot();
    const headers: Record<string, string> = { host: u.host, ...o.headers };
    if (o.auth) headers.authorization = `Basic ${Buffer.from(`${o.auth.user}:${o.auth.pass}`).toString("base64")}`;
    if (o.body !== undefined) headers["content-length"] = String(Buffer.byteLength(o.body));
    return new Promise((resolve, reject) => {
        const req = https.request(
            {
                host: address,
                port: u.port || 443,
                servername: u.hostname,
                path: u.pathname + u.search,
                method: o.method ?? "GET",
                headers,
                ca,
                rejectUnauthorized: true,
                timeout: 20_000,
            },
            (res) => {
                let body = "";
                res.setEncoding("utf8");
                res.on("data", (c: string) => (body += c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
            },
        );
        req.on("error", reject);
        req.on("timeout", () => req.destroy(new Error(`${o.method ?? "GET"} ${url}: timeout`)));
        req.end(o.body);
    });
}

const xml = new XMLParser({ removeNSPrefix: true, ignoreAttributes: true, isArray: (n) => n === "response" });

/** One resource of a multistatus answer: its href and the properties found (200). */
export interface DavResource {
    readonly href: string;
    readonly props: Record<string, unknown>;
}

/** PROPFIND with these properties (`prefix:name` of DAV:, CalDAV, CardDAV); the 207's resources. */
export async function propfind(
    url: string,
    auth: DavAuth,
    props: readonly string[],
    depth: 0 | 1 = 0,
): Promise<{ status: number; resources: DavResource[]; reply: DavReply }> {
    const body = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:a="urn:ietf:params:xml:ns:carddav">',
        `<d:prop>${props.map((p) => `<${p}/>`).join("")}</d:prop>`,
        "</d:propfind>",
    ].join("");
    const reply = await davRequest(url, {
        method: "PROPFIND",
        auth,
        body,
        headers: { depth: String(depth), "content-type": "application/xml; charset=utf-8" },
    });
    if (reply.status !== 207) return { status: reply.status, resources: [], reply };
    const doc = xml.parse(reply.body) as { multistatus?: { response?: Record<string, unknown>[] } };
    const resources = (doc.multistatus?.response ?? []).map((r) => {
        const propstats = ([] as Record<string, unknown>[]).concat(
            (r.propstat as Record<string, unknown>[] | Record<string, unknown>) ?? [],
        );
        const ok = propstats.find((p) => String(p.status).includes(" 200 "));
        return { href: String(r.href), props: (ok?.prop as Record<string, unknown>) ?? {} };
    });
    return { status: reply.status, resources, reply };
}

/** The href inside a property such as current-user-principal or calendar-home-set. */
function hrefOf(prop: unknown): string | undefined {
    const href = (prop as { href?: unknown } | undefined)?.href;
    return typeof href === "string" ? href : undefined;
}

/** What a client knows after discovery: the service's URL and the user's collections. */
export interface DavAccount {
    /** Where the SRV and TXT records (or the well-known redirect) point, e.g. https://mail.example.org/dav/. */
    readonly context: string;
    readonly principal: string;
    /** The user's calendars and address books, absolute URLs. */
    readonly calendars: string[];
    readonly addressBooks: string[];
}

/**
 * RFC 6764 from the address alone: `_caldavs._tcp.<domain>` (SRV: host and port; TXT: the
 * path), then `current-user-principal` there (section 6), then the homes and their
 * collections. `kind` picks the SRV name; both services share the host here.
 */
export async function discover(auth: DavAuth, kind: "caldav" | "carddav" = "caldav"): Promise<DavAccount> {
    const domain = auth.user.slice(auth.user.indexOf("@") + 1);
    const name = `_${kind}s._tcp.${domain}`;
    const [srv] = await resolver.resolveSrv(name);
    if (!srv) throw new Error(`no SRV record ${name}`);
    const txt = (await resolver.resolveTxt(name)).map((chunks) => chunks.join(""));
    const path = txt.find((t) => t.startsWith("path="))?.slice(5) ?? `/.well-known/${kind}`;
    const context = `https://${srv.name}${srv.port === 443 ? "" : `:${srv.port}`}${path}`;
    return account(context, auth);
}

/** From a context URL (or a well-known one that redirects) to the user's collections. */
export async function account(context: string, auth: DavAuth): Promise<DavAccount> {
    let url = context;
    // A well-known URL redirects (RFC 6764 section 5); a client follows it.
    for (let i = 0; i < 3; i++) {
        const r = await propfind(url, auth, ["d:current-user-principal"]);
        if (r.status === 301 || r.status === 302 || r.status === 307 || r.status === 308) {
            url = new URL(String(r.reply.headers.location), url).toString();
            continue;
        }
        if (r.status !== 207) throw new Error(`PROPFIND ${url}: ${r.status} ${r.reply.body.slice(0, 200)}`);
        const principalHref = hrefOf(r.resources[0]?.props["current-user-principal"]);
        if (!principalHref)
            throw new Error(`PROPFIND ${url}: no current-user-principal: ${r.reply.body.slice(0, 400)}`);
        const principal = new URL(principalHref, url).toString();
        const homes = await propfind(principal, auth, ["c:calendar-home-set", "a:addressbook-home-set"]);
        const home = (prop: string) => {
            const href = hrefOf(homes.resources[0]?.props[prop]);
            if (!href) throw new Error(`${principal}: no ${prop}: ${homes.reply.body.slice(0, 400)}`);
            return new URL(href, principal).toString();
        };
        const collections = async (homeUrl: string, type: "calendar" | "addressbook") => {
            const r = await propfind(homeUrl, auth, ["d:resourcetype"], 1);
            return r.resources
                .filter((c) => Object.keys((c.props.resourcetype as object | undefined) ?? {}).includes(type))
                .map((c) => new URL(c.href, homeUrl).toString());
        };
        return {
            context: url,
            principal,
            calendars: await collections(home("calendar-home-set"), "calendar"),
            addressBooks: await collections(home("addressbook-home-set"), "addressbook"),
        };
    }
    throw new Error(`${context}: too many redirects`);
}

/** A one-hour event with this UID and summary, as a client writes it. */
export function vevent(uid: string, summary: string): string {
    return [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//mailstack lab//EN",
        "BEGIN:VEVENT",
        `UID:${uid}`,
        "DTSTAMP:20261206T080000Z",
        "DTSTART:20261224T180000Z",
        "DTEND:20261224T190000Z",
        `SUMMARY:${summary}`,
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ].join("\r\n");
}

/** A contact with this UID and name, as a client writes it (vCard 3.0, what iOS sends). */
export function vcard(uid: string, name: string): string {
    return [
        "BEGIN:VCARD",
        "VERSION:3.0",
        "PRODID:-//mailstack lab//EN",
        `UID:${uid}`,
        `FN:${name}`,
        `N:${name};;;;`,
        "EMAIL;TYPE=INTERNET:carol@example.net",
        "END:VCARD",
        "",
    ].join("\r\n");
}

/** PUT a new object (If-None-Match: *, so nothing existing is overwritten). */
export function putObject(url: string, auth: DavAuth, body: string, type: "text/calendar" | "text/vcard") {
    return davRequest(url, {
        method: "PUT",
        auth,
        body,
        headers: { "content-type": `${type}; charset=utf-8`, "if-none-match": "*" },
    });
}

/** An event and a contact of alice's that a check reads back later (after replacement, after a restore). */
export interface KeptObjects {
    readonly event: string;
    readonly contact: string;
    readonly uid: string;
}

/** Puts an event and a contact into the user's first calendar and address book. */
export async function keepObjects(auth: DavAuth, uid: string): Promise<KeptObjects> {
    const a = await discover(auth);
    const event = `${a.calendars[0]}${uid}.ics`;
    const contact = `${a.addressBooks[0]}${uid}.vcf`;
    for (const [url, body, type] of [
        [event, vevent(uid, "kept"), "text/calendar"],
        [contact, vcard(uid, "Kept Contact"), "text/vcard"],
    ] as const) {
        const r = await putObject(url, auth, body, type);
        if (r.status !== 201) throw new Error(`PUT ${url}: ${r.status} ${r.body.slice(0, 200)}`);
    }
    return { event, contact, uid };
}

/** Whether both objects read back, with their UID: "" if so, else what is missing. */
export async function objectsMissing(auth: DavAuth, kept: KeptObjects): Promise<string> {
    const missing: string[] = [];
    for (const url of [kept.event, kept.contact]) {
        const r = await davRequest(url, { auth });
        if (r.status !== 200 || !r.body.includes(`UID:${kept.uid}`)) missing.push(`${url}: ${r.status}`);
    }
    return missing.join("; ");
}

/** A request the server had to refuse: the library's error (e.g. `AuthorizationError: Forbidden`), or what it got. */
export type RefusedOrGot = { readonly refused: string } | { readonly got: string };

/** What lab/clients/dav_clients.py saw through python3-caldav and vdirsyncer (see that script). */
export interface RealClientsSeen {
    /** The URL discovery handed to python3-caldav (SRV host and port, TXT path). */
    readonly caldavContext: string;
    readonly principal: string;
    readonly calendars: string[];
    readonly eventUrl: string;
    readonly eventReadBack: string;
    readonly eventListed: boolean;
    /** The address books vdirsyncer's discovery found (their names), and the first one's URL. */
    readonly addressBooks: string[];
    readonly addressBookUrl: string;
    /** The contact as a second, empty copy of the address book received it ("" if it did not). */
    readonly contactReadBack: string;
    readonly otherPrincipal: string;
    readonly otherReadsCalendar: RefusedOrGot;
    readonly otherReadsEvent: RefusedOrGot;
    readonly otherListsAddressBook: RefusedOrGot;
    readonly wrongPassword: RefusedOrGot;
    readonly eventAfterDelete: RefusedOrGot;
    /** How many copies of the deleted contact, and of the one kept, the second copy still had. */
    readonly contactAfterDelete: { readonly deleted: number; readonly kept: number };
}

/**
 * Debian's python3-caldav and vdirsyncer (installed by lab/install-deps.sh) with `user`'s and
 * `other`'s addresses and passwords only: lab/clients/dav_clients.py, in a mount namespace of its own
 * whose /etc/resolv.conf names the lab DNS, so the libraries resolve (SRV, TXT, the host) through
 * the system resolver as on a user's machine; the host's own resolv.conf is left as it is.
 * `steps`: the script's log, each step with its time.
 */
export async function realClients(user: DavAuth, other: DavAuth): Promise<{ seen: RealClientsSeen; steps: string }> {
    const work = fs.mkdtempSync(path.join(STATE_DIR, "dav-clients-"));
    try {
        const ca = path.join(work, "ca.pem");
        fs.writeFileSync(ca, await pebbleRoot());
        const resolv = path.join(work, "resolv.conf");
        fs.writeFileSync(resolv, `nameserver ${NET.client4}\n`);
        const r = await shAsync(
            "unshare",
            [
                "--mount",
                "--",
                "sh",
                "-c",
                'mount --bind "$0" /etc/resolv.conf && exec env -i PATH=/usr/bin:/bin HOME="$2" /usr/bin/python3 "$1"',
                resolv,
                path.join(LAB_DIR, "clients", "dav_clients.py"),
                work,
            ],
            {
                input: JSON.stringify({
                    user: user.user,
                    password: user.pass,
                    other: other.user,
                    otherPassword: other.pass,
                    ca,
                    workdir: work,
                }),
                // The script's own limits fail a step before this (60 s a request).
                timeoutMs: 300_000,
            },
        );
        return { seen: JSON.parse(r.stdout) as RealClientsSeen, steps: r.stderr };
    } finally {
        fs.rmSync(work, { recursive: true, force: true });
    }
}
