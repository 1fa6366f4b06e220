// Config files live as real files under templates/ so they can be reviewed as what they are.
// `{{name}}` is replaced by a value; a missing value or a leftover placeholder is an error,
// so a typo in a template cannot reach a server.

import * as fs from "fs";
import * as path from "path";
import { TLS_DIR } from "./tls";

const TEMPLATE_DIR = path.join(__dirname, "templates");

/**
 * Paths every template may name without its renderer passing them (and need not use):
 * `{{tlsDir}}`, the certificate's directory.
 */
export const TEMPLATE_CONSTANTS: Readonly<Record<string, string>> = { tlsDir: TLS_DIR };

function readTemplate(relativePath: string): string {
    return fs.readFileSync(path.join(TEMPLATE_DIR, relativePath), "utf8");
}

export function fill(text: string, values: Readonly<Record<string, string | number>>, name = "template"): string {
    const used = new Set<string>();
    const out = text.replace(/\{\{([a-zA-Z0-9_]+)\}\}/g, (_, key: string) => {
        const value = values[key];
        if (value === undefined) throw new Error(`${name}: no value for {{${key}}}`);
        used.add(key);
        return String(value);
    });
    const unused = Object.keys(values).filter((k) => !used.has(k));
    if (unused.length > 0) throw new Error(`${name}: values not used: ${unused.join(", ")}`);
    return out;
}

export function renderTemplate(relativePath: string, values: Readonly<Record<string, string | number>> = {}): string {
    const text = readTemplate(relativePath);
    const constants = Object.fromEntries(
        Object.entries(TEMPLATE_CONSTANTS).filter(([key]) => text.includes(`{{${key}}}`) && !(key in values)),
    );
    return fill(text, { ...constants, ...values }, relativePath);
}
