// DKIM verification as a receiver does it, against exactly the TXT records the stack
// publishes for the lab's keys (used by the DKIM and the replacement checks).
import { authenticate } from "mailauth";
import { mailDnsRecords } from "../../render/dns/dns-records";
import { txtValue } from "../../render/dns/text";
import { parseDkimName, publishedRetiredSelectors, type MailSpec } from "../../model";
import { labAddressFacts } from "../world/dns";
import { labSpec } from "../lab-config";
import { labDkimPublicKeyPem } from "../scenarios/provision";
import { NET } from "./helpers";

/**
 * The DKIM TXT records exactly as the stack's DNS component would publish them for the
 * lab's keys, for `spec` on `now` (a rotation publishes the retired selectors too).
 */
export function publishedDkimTxt(spec: MailSpec = labSpec(), now = new Date()): Map<string, string> {
    const out = new Map<string, string>();
    for (const d of spec.domains) {
        const facts = {
            ...labAddressFacts(spec),
            dkimPublicKeyPem: labDkimPublicKeyPem(d.name, d.dkimSelector),
            dkimRetiredPublicKeysPem: Object.fromEntries(
                publishedRetiredSelectors(d, now).map((s) => [s, labDkimPublicKeyPem(d.name, s)]),
            ),
        };
        for (const r of mailDnsRecords(spec, d, facts)) {
            if (r.type === "TXT" && parseDkimName(r.name) && r.content) out.set(r.name.toLowerCase(), r.content);
        }
    }
    return out;
}

/** A resolver that knows only the published DKIM keys: everything else does not exist. */
function dkimOnlyResolver(txt: Map<string, string>, asked: string[]) {
    return async (name: string, rr: string): Promise<string[][]> => {
        asked.push(`${name} ${rr}`);
        const content = rr === "TXT" ? txt.get(name.toLowerCase().replace(/\.$/, "")) : undefined;
        if (content === undefined) throw Object.assign(new Error(`lab: no ${rr} for ${name}`), { code: "ENOTFOUND" });
        return [[txtValue(content)]];
    };
}

/** mailauth's DKIM result for the signature of the sender's domain, with only the published keys. */
export async function verify(raw: string, asked: string[], sender = "alice@example.org", txt = publishedDkimTxt()) {
    const { dkim } = await authenticate(raw, {
        resolver: dkimOnlyResolver(txt, asked) as never,
        ip: NET.server4,
        helo: "mail.example.org",
        sender,
        mta: "relay.sink.test",
        disableArc: true,
        disableDmarc: true,
        disableBimi: true,
    });
    return dkim.results.find((r) => r.signingDomain === sender.split("@")[1]);
}
