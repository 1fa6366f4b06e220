// A reader for Apple's XML property lists (the configuration profiles of
// render/host/client-config.ts), as a device reads them: dict, array, string, integer, real,
// true and false. Used by the unit tests and the lab's autoconfig check.
import { XMLParser } from "fast-xml-parser";

export type PlistValue = string | number | boolean | PlistValue[] | { [key: string]: PlistValue };

type Node = Record<string, unknown> & { ":@"?: unknown };

const parser = new XMLParser({ preserveOrder: true, ignoreAttributes: true, parseTagValue: false, trimValues: false });

const tagOf = (n: Node) => Object.keys(n).find((k) => k !== ":@")!;
const textOf = (children: Node[]) => children.map((c) => String(c["#text"] ?? "")).join("");

function value(n: Node): PlistValue {
    const tag = tagOf(n);
    const children = (n[tag] as Node[]).filter((c) => !(tagOf(c) === "#text" && /^\s*$/.test(String(c["#text"]))));
    switch (tag) {
        case "string":
            return textOf(children);
        case "integer": {
            const t = textOf(children).trim();
            if (!/^-?\d+$/.test(t)) throw new Error(`plist: <integer> ${JSON.stringify(t)}`);
            return Number(t);
        }
        case "real":
            return Number(textOf(children).trim());
        case "true":
            return true;
        case "false":
            return false;
        case "array":
            return children.map(value);
        case "dict": {
            const out: Record<string, PlistValue> = {};
            for (let i = 0; i < children.length; i += 2) {
                const k = children[i];
                if (tagOf(k) !== "key" || !children[i + 1])
                    throw new Error("plist: a <dict> that is not key, value, ...");
                const key = textOf(k.key as Node[]);
                if (key in out) throw new Error(`plist: key ${key} twice`);
                out[key] = value(children[i + 1]);
            }
            return out;
        }
        default:
            throw new Error(`plist: unexpected <${tag}>`);
    }
}

/** The value of a `<plist version="1.0">` document. */
export function parsePlist(text: string): PlistValue {
    const doc = parser.parse(text) as Node[];
    const plist = doc.find((n) => tagOf(n) === "plist");
    if (!plist) throw new Error("plist: no <plist> element");
    const inner = (plist.plist as Node[]).filter((c) => tagOf(c) !== "#text");
    if (inner.length !== 1) throw new Error("plist: <plist> must hold exactly one value");
    return value(inner[0]);
}
