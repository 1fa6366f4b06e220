// Importing from Microsoft 365 (and any IMAP server that takes OAuth2): mailstack:imports with
// auth: "oauth2". The config's checks with their key paths, the files the import step sends
// (XOAUTH2 in mbsync's settings, the app and endpoints, no password), the packages and the
// firewall. The device authorization and the refresh run in the lab (lab/checks/import-oauth2.test.ts).
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { importResults } from "../doctor/remote-sections";
import { firewallRules } from "../render/boot/firewall";
import { renderImportFiles, renderImportOAuth2, renderImportRc } from "../render/host/import";
import { renderPackageList } from "../render/plan/plan";
import { buildSpec, type RawConfig } from "../model";
import { configProblems, oneDomain } from "./helpers/fixtures";

const MAILBOX = "evaluation@nathabee.de";
const CLIENT_ID = "0f1e2d3c-4b5a-6978-8a9b-acbdcedf0011";
const M365 = {
    mailbox: MAILBOX,
    host: "outlook.office365.com",
    user: "evaluation@contoso.example",
    auth: "oauth2",
    oauth2: { clientId: CLIENT_ID },
};
const withImports = (imports: unknown, importPasswords?: unknown): RawConfig => ({
    ...oneDomain(),
    imports,
    ...(importPasswords === undefined ? {} : { importPasswords }),
});

describe('mailstack:imports with auth: "oauth2" is checked before anything is declared', () => {
    test("the microsoft preset fills in Microsoft's endpoints for the tenant (common by default) and the IMAP scope; no password is needed", () => {
        expect(buildSpec(withImports([M365])).imports[0].oauth2).toEqual({
            clientId: CLIENT_ID,
            tokenUrl: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
            deviceUrl: "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode",
            scope: "https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
        });
        const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        expect(
            buildSpec(withImports([{ ...M365, oauth2: { clientId: CLIENT_ID, tenant } }])).imports[0].oauth2?.tokenUrl,
        ).toBe(`https://login.microsoftonline.com/${tenant}/oauth2/v2.0/token`);
        // Beside a password import, only that one needs its password.
        const both = withImports([M365, { mailbox: "dave@nathabee.de", host: "imap.gmail.com", user: "d@gmail.com" }], {
            "dave@nathabee.de": "an-app-password",
        });
        const domains = [{ ...(oneDomain().domains as object[])[0], mailboxes: ["evaluation", "dave"] }];
        expect(configProblems({ ...both, domains })).toEqual([]);
        expect(configProblems({ ...both, domains, importPasswords: {} })).toEqual([
            `mailstack:importPasswords: has no password for dave@nathabee.de (mailstack:imports[1]): pulumi config set --secret --path 'mailstack:importPasswords["dave@nathabee.de"]'`,
        ]);
        // A password import keeps no oauth2 at all.
        expect(
            buildSpec(withImports([{ mailbox: MAILBOX, host: "imap.gmail.com", user: "x" }], { [MAILBOX]: "p" }))
                .imports[0].oauth2,
        ).toBeUndefined();
    });

    test("a custom provider takes its own https endpoints and scope", () => {
        const custom = {
            ...M365,
            host: "imap.example.com",
            oauth2: {
                provider: "custom",
                clientId: "mail-import",
                tokenUrl: "https://id.example.com/token",
                deviceUrl: "https://id.example.com/device",
                scope: "imap offline_access",
            },
        };
        expect(buildSpec(withImports([custom])).imports[0].oauth2).toEqual({
            clientId: "mail-import",
            tokenUrl: "https://id.example.com/token",
            deviceUrl: "https://id.example.com/device",
            scope: "imap offline_access",
        });
    });

    test("a missing app, an app without OAuth2, a password beside OAuth2 and wrong endpoints are refused with their key paths, no secret echoed", () => {
        expect(configProblems(withImports([{ ...M365, oauth2: undefined }]))).toEqual([
            `mailstack:imports[0].oauth2: is required with auth: "oauth2": { clientId: "<your app's Application (client) ID>" } (README "Moving in")`,
        ]);
        expect(
            configProblems(withImports([{ ...M365, auth: "password" }], { [MAILBOX]: "an-app-password-value" })),
        ).toEqual([
            'mailstack:imports[0].oauth2: is only used with auth: "oauth2" (the account logs in with a password)',
        ]);
        const found = configProblems(withImports([M365], { [MAILBOX]: "stray-secret-value" }));
        expect(found).toEqual([
            `mailstack:importPasswords.${MAILBOX}: is set but mailstack:imports[0] logs in with OAuth2 (auth: "oauth2"), which takes no password: remove it`,
        ]);
        expect(found.join()).not.toContain("stray-secret-value");
        expect(
            configProblems(
                withImports([
                    {
                        ...M365,
                        auth: "token",
                        oauth2: { provider: "custom", clientId: "a b", tokenUrl: "http://x.example/t", extra: 1 },
                    },
                ]),
            ),
        ).toEqual([
            'mailstack:imports[0].auth: must be "password" (mailstack:importPasswords) or "oauth2" (XOAUTH2, e.g. Microsoft 365)',
            "mailstack:imports[0].oauth2.clientId: must be an application (client) ID: letters, digits and ._:@- only",
            "mailstack:imports[0].oauth2.tokenUrl: must be an https:// URL",
            'mailstack:imports[0].oauth2: Unrecognized key: "extra"',
            'mailstack:imports[0].oauth2.deviceUrl: is required with provider: "custom"',
            'mailstack:imports[0].oauth2.scope: is required with provider: "custom"',
        ]);
        expect(configProblems(withImports([{ ...M365, oauth2: { clientId: CLIENT_ID, tenant: "-bad-" } }]))).toEqual([
            "mailstack:imports[0].oauth2.tenant: must be common, organizations, consumers, a tenant id (GUID) or the tenant's domain",
        ]);
        expect(
            configProblems(
                withImports([{ ...M365, oauth2: { clientId: CLIENT_ID, tokenUrl: "https://id.example.com/t" } }]),
            ),
        ).toEqual([
            'mailstack:imports[0].oauth2.tokenUrl: is Microsoft\'s with provider "microsoft" (set provider: "custom" for another provider)',
        ]);
        expect(
            configProblems(withImports([{ ...M365, oauth2: { provider: "custom", clientId: "c", tenant: "common" } }])),
        ).toEqual([
            'mailstack:imports[0].oauth2.tokenUrl: is required with provider: "custom"',
            'mailstack:imports[0].oauth2.deviceUrl: is required with provider: "custom"',
            'mailstack:imports[0].oauth2.scope: is required with provider: "custom"',
            'mailstack:imports[0].oauth2.tenant: is only used with provider "microsoft"',
        ]);
        expect(configProblems(withImports([{ ...M365, oauth2: {} }]))).toEqual([
            'mailstack:imports[0].oauth2.clientId: is required: the Application (client) ID of the app you registered (README "Moving in")',
        ]);
    });
});

describe("the import step's files for an OAuth2 account", () => {
    const spec = buildSpec(withImports([M365]));

    test("mbsync logs in with XOAUTH2 and the run's access token, never a password file", () => {
        const lines = renderImportRc(spec.imports[0]).split("\n");
        expect(lines).toContain("AuthMechs XOAUTH2");
        expect(lines).toContain(`PassCmd "cat /run/mailstack-import/${MAILBOX}.token"`);
        expect(lines).toContain("Host outlook.office365.com");
        expect(lines).toContain('User "evaluation@contoso.example"');
        expect(lines.join("\n")).not.toContain(".password");
    });

    test("a password account logs in with IMAP LOGIN only, never XOAUTH2, which the plugin would offer mbsync wherever the server does (Gmail)", () => {
        const password = buildSpec(
            withImports([{ mailbox: MAILBOX, host: "imap.gmail.com", user: "x@gmail.com" }], { [MAILBOX]: "p" }),
        );
        const lines = renderImportRc(password.imports[0]).split("\n");
        expect(lines.filter((l) => l.startsWith("AuthMechs"))).toEqual(["AuthMechs LOGIN"]);
    });

    test("the app and endpoints are a root-only file beside the settings; no password is sent, and none is needed", () => {
        const files = renderImportFiles(spec, {});
        const by = (p: string) => files.find((f) => f.path === p);
        expect(by(`/etc/mailstack/import/${MAILBOX}.password`)).toBeUndefined();
        expect(by(`/etc/mailstack/import/${MAILBOX}.oauth2`)).toMatchObject({ mode: "0600", owner: "root" });
        expect(JSON.parse(renderImportOAuth2(spec.imports[0]))).toEqual({
            user: "evaluation@contoso.example",
            host: "outlook.office365.com",
            client_id: CLIENT_ID,
            token_url: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
            device_url: "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode",
            scope: "https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
        });
        expect(by("/usr/local/lib/mailstack/import-oauth2.py")?.mode).toBe("0755");
    });

    test("the SASL XOAUTH2 plugin comes with mbsync; the token endpoint's port is open (443 already, another port once)", () => {
        expect(renderPackageList(spec)).toContain("package libsasl2-modules-kdexoauth2\n");
        expect(renderPackageList(buildSpec(oneDomain()))).not.toContain("kdexoauth2");
        const out = (s: typeof spec) =>
            firewallRules(s)
                .filter((r) => r.direction === "out")
                .map((r) => r.port);
        expect(out(spec)).toContain("443");
        expect(out(spec).filter((p) => p === "443")).toHaveLength(1);
        const custom = buildSpec(
            withImports([
                {
                    ...M365,
                    oauth2: {
                        provider: "custom",
                        clientId: "c",
                        tokenUrl: "https://id.example.com:8443/token",
                        deviceUrl: "https://id.example.com:8443/device",
                        scope: "imap",
                    },
                },
            ]),
        );
        expect(out(custom).filter((p) => p === "8443")).toHaveLength(1);
    });
});

test("doctor shows an expired or revoked authorization as a failure with the provider's reason and what to run", () => {
    const reason =
        "login: the OAuth2 authorization of evaluation@contoso.example expired or was revoked: invalid_grant (AADSTS50173: The provided grant has expired due to it being revoked, a fresh auth token is needed.); nothing was imported; run `mailstack-import authorize evaluation@nathabee.de` on the server";
    const [[check, result]] = importResults([`${MAILBOX} failed 1796500000 0 ${reason}`, "now 1796503600"]);
    expect(check).toBe(`import ${MAILBOX}`);
    expect(result).toMatchObject({ status: "fail", detail: `the last run (1.0 h ago) failed: ${reason}` });
});

describe("import-oauth2.py's refresh token file", () => {
    const script = path.join(__dirname, "../render/host/templates/import/import-oauth2.py");

    test("two writers at once (authorize and the timer's refresh) each finish: the last one's token stays, root only, and no temporary file is left", () => {
        // The second writer runs while the first is between writing its temporary file and
        // renaming it (os.replace wrapped): with one shared name "<token>.tmp" the second
        // renamed the first's file away and the first failed (FileNotFoundError).
        const py = [
            "import importlib.util as u, os, shutil, stat, sys, tempfile",
            "s = u.spec_from_file_location('m', sys.argv[1]); m = u.module_from_spec(s); s.loader.exec_module(m)",
            "d = tempfile.mkdtemp(); token = os.path.join(d, 'state', 'oauth2-refresh-token')",
            "real = os.replace; seen = []",
            "def replace(src, dst):",
            "    if not seen:",
            "        seen.append(src)",
            "        m.write_private(token, 'from-refresh\\n')",
            "    real(src, dst)",
            "m.os.replace = replace",
            "m.write_private(token, 'from-authorize\\n')",
            "print(open(token).read().strip(), oct(stat.S_IMODE(os.stat(token).st_mode)), sorted(os.listdir(os.path.dirname(token))))",
            "shutil.rmtree(d)",
        ].join("\n");
        const r = spawnSync("python3", ["-c", py, script], { encoding: "utf8" });
        expect(r.stderr).toBe("");
        expect(r.stdout.trim()).toBe("from-authorize 0o600 ['oauth2-refresh-token']");
    });
});
