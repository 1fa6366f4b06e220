// The lab's DNSSEC-signed zone for DANE (RFC 7672): dane.test, served by Debian's Knot DNS
// (knotd, which signs it itself: `dnssec-signing: on`) on NET.signedDns4:53 in msl-out.
// Its MX, mx.dane.test, is the outside MX (lab/world/peer.ts) on NET.mx4, and a TLSA record
// `3 1 1` (DANE-EE, the SHA-256 of the MX key's SubjectPublicKeyInfo) says which key it must
// present. The server's unbound asks knotd for the zone directly (mailstack:resolver.signedZones,
// a stub zone) and validates it against the DS of the zone's key, which is made here with
// keymgr before knotd starts, so that the lab config can name it from the first boot.

import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { NET, startOutsideProcess } from "../harness/net";
import { readPid, sh, STATE_DIR } from "../harness/processes";
import { mxKeyFile } from "./peer";

export const DANE_ZONE = "dane.test";
export const DANE_MX = `mx.${DANE_ZONE}`;
/** Where the TLSA record of the MX's port 25 lives (RFC 7672 2.2.3). */
export const DANE_TLSA_NAME = `_25._tcp.${DANE_MX}`;

/** Seconds a resolver and Postfix may keep the TLSA record (the zone's other records: 60). */
export const DANE_TLSA_TTL = 2;

const dir = () => path.join(STATE_DIR, "dane");
const conf = () => path.join(dir(), "knot.conf");

/** knotd's config: one zone, signed with the key made by daneSignedZone (manual policy: no rollover). */
function writeConfig(): void {
    fs.mkdirSync(dir(), { recursive: true, mode: 0o700 });
    fs.writeFileSync(
        conf(),
        [
            "server:",
            `    rundir: ${dir()}`,
            `    listen: ${NET.signedDns4}@53`,
            "database:",
            `    storage: ${dir()}`,
            "policy:",
            "  - id: lab",
            "    algorithm: ecdsap256sha256",
            "    # The key made before knotd starts is the one the lab config's DS names: never rolled.",
            "    manual: on",
            "template:",
            "  - id: default",
            `    storage: ${dir()}`,
            '    file: "%s.zone"',
            "    # The zone file is the source; knotd keeps its signed copy in its journal.",
            "    zonefile-sync: -1",
            "    zonefile-load: difference-no-serial",
            "    journal-content: all",
            "zone:",
            `  - domain: ${DANE_ZONE}`,
            "    dnssec-signing: on",
            "    dnssec-policy: lab",
            "",
        ].join("\n"),
    );
}

/**
 * The zone as mailstack:resolver.signedZones names it: knotd's address and the DS (SHA-256)
 * of the zone's key, made here once per lab run.
 */
export function daneSignedZone(): { name: string; servers: string[]; ds: string[] } {
    if (!fs.existsSync(conf())) writeConfig();
    if (sh("keymgr", ["-c", conf(), DANE_ZONE, "list"]).stdout.trim() === "")
        sh("keymgr", ["-c", conf(), DANE_ZONE, "generate", "algorithm=ecdsap256sha256", "ksk=yes", "zsk=yes"]);
    const ds = sh("keymgr", ["-c", conf(), DANE_ZONE, "ds"])
        .stdout.split("\n")
        .map((l) => / DS (\d+ \d+ 2 [0-9a-f]+)$/i.exec(l.trim())?.[1])
        .filter((d): d is string => d !== undefined);
    if (ds.length === 0) throw new Error(`keymgr ds ${DANE_ZONE}: no SHA-256 DS`);
    return { name: DANE_ZONE, servers: [NET.signedDns4], ds };
}

/** TLSA 3 1 1 data for the outside MX's key: SHA-256 of its SubjectPublicKeyInfo. */
export function peerTlsa(): string {
    const spki = crypto.createPublicKey(fs.readFileSync(mxKeyFile())).export({ type: "spki", format: "der" });
    return `3 1 1 ${crypto.createHash("sha256").update(spki).digest("hex")}`;
}

/** A TLSA record that matches no key: the peer's digest with its first byte changed. */
export function wrongTlsa(): string {
    const good = peerTlsa();
    const first = good.slice(6, 8);
    return `3 1 1 ${first === "00" ? "ff" : "00"}${good.slice(8)}`;
}

/**
 * Write the zone with this TLSA data; a running knotd reloads and re-signs it before this
 * returns (`knotc -b`: without it the reload happens after knotc's "OK", and a resolver asked
 * at once still gets the old record).
 */
export function writeDaneZone(tlsa: string): void {
    const text = [
        `$ORIGIN ${DANE_ZONE}.`,
        "$TTL 60",
        `@ SOA ns.${DANE_ZONE}. hostmaster.${DANE_ZONE}. 1 3600 600 86400 60`,
        "@ NS ns",
        `ns A ${NET.signedDns4}`,
        "@ MX 10 mx",
        `mx A ${NET.mx4}`,
        // A TTL of 2 s: Postfix's SMTP client keeps a TLSA RRset for its TTL in each (long-lived)
        // smtp process, so a changed record counts for new deliveries 2 s after unbound has it.
        `${DANE_TLSA_NAME}. ${DANE_TLSA_TTL} TLSA ${tlsa}`,
        "",
    ].join("\n");
    fs.writeFileSync(path.join(dir(), `${DANE_ZONE}.zone`), text);
    if (readPid("knot") !== undefined) sh("knotc", ["-c", conf(), "-b", "zone-reload", DANE_ZONE]);
}

/** Start knotd in msl-out with the zone and the MX key's TLSA record (after the outside MX made its key). */
export async function startSignedDns(): Promise<void> {
    daneSignedZone();
    writeDaneZone(peerTlsa());
    await startOutsideProcess("knot", ["knotd", "-c", conf()], /server started/);
}
