// The spam filter (issue 10, first part): mailstack:spamFilter's validation, rspamd's and
// Valkey's rendered files, where they are wired into Postfix, the volume and the steps.
import { writtenFiles } from "./helpers/user-data";
import { parse } from "yaml";
import { renderHostFiles, renderUserData } from "../render";
import { renderFilterFiles, RSPAMD_MILTER } from "../render/host/filter";
import { MAIL_UNITS } from "../render/features";
import { PROVISIONING_PLAN } from "../render/plan/plan";
import { parseBundle } from "../render/plan/bundle";
import { VOLUME_STATE_DIRS } from "../render/host/volume";
import { buildSpec, type RawConfig } from "../model";
import { configProblems, twoDomains } from "./helpers/fixtures";
import { TEST_PROVISIONAL_HOST_KEY } from "./helpers/host-key";

const problems = (spamFilter: unknown) => configProblems({ ...twoDomains(), spamFilter } as RawConfig);

const byPath = (files: readonly { path: string; content: string }[], p: string) => {
    const f = files.find((x) => x.path === p);
    if (!f) throw new Error(`no ${p}`);
    return f;
};

describe("mailstack:spamFilter", () => {
    test("defaults to reject 15, junk 6, greylist 4", () => {
        expect(buildSpec(twoDomains()).spamFilter).toEqual({ reject: 15, junk: 6, greylist: 4 });
    });

    test("takes other scores, and false to switch an action off", () => {
        expect(buildSpec({ ...twoDomains(), spamFilter: { junk: 8, greylist: false } }).spamFilter).toEqual({
            reject: 15,
            junk: 8,
            greylist: false,
        });
        expect(problems({ reject: false, junk: false, greylist: false })).toEqual([]);
    });

    test("a bad value is an error naming its key path", () => {
        expect(problems({ junk: "six" })).toEqual([expect.stringMatching(/^mailstack:spamFilter\.junk: /)]);
        expect(problems({ reject: -1 })).toEqual([
            "mailstack:spamFilter.reject: must be a score above 0, or false to switch it off",
        ]);
        expect(problems({ greylist: true })).toEqual([expect.stringMatching(/^mailstack:spamFilter\.greylist: /)]);
        expect(problems({ rejectScore: 10 })).toEqual([expect.stringMatching(/^mailstack:spamFilter: .*rejectScore/)]);
    });

    test("the thresholds that are on must rise greylist < junk < reject", () => {
        expect(problems({ junk: 20 })).toEqual(["mailstack:spamFilter.junk: 20 must be below reject (15)"]);
        expect(problems({ greylist: 6 })).toEqual(["mailstack:spamFilter.greylist: 6 must be below junk (6)"]);
        // With junk off, greylist is compared with reject.
        expect(problems({ junk: false, greylist: 16 })).toEqual([
            "mailstack:spamFilter.greylist: 16 must be below reject (15)",
        ]);
        expect(problems({ junk: false, greylist: 10 })).toEqual([]);
    });
});

describe("rspamd and Valkey files", () => {
    const spec = buildSpec({ ...twoDomains(), spamFilter: { junk: 7.5, greylist: false } });
    const files = renderHostFiles(spec);

    test("actions.conf holds the configured thresholds; an action switched off is null", () => {
        const actions = byPath(files, "/etc/rspamd/local.d/actions.conf").content;
        expect(actions.match(/^[a-z_]+ = .*;$/gm)).toEqual(["reject = 15;", "add_header = 7.5;", "greylist = null;"]);
    });

    test("Postfix sends port 25 through rspamd and defers when it is down; submission keeps its own milters", () => {
        const mainCf = byPath(files, "/etc/postfix/main.cf").content;
        const setting = (name: string) => mainCf.match(new RegExp(`^${name} = (.*)$`, "m"))?.[1];
        expect(setting("smtpd_milters")).toBe(RSPAMD_MILTER);
        expect(setting("milter_default_action")).toBe("tempfail");
        expect(setting("mailstack_submission_milters")).not.toContain("11332");
        expect(setting("non_smtpd_milters")).not.toContain("11332");
        const proxy = byPath(files, "/etc/rspamd/local.d/worker-proxy.inc").content;
        expect(RSPAMD_MILTER).toBe(`inet:${/^bind_socket = "([^"]+)";$/m.exec(proxy)?.[1]}`);
    });

    test("Valkey's data directory is a state directory on the mail volume, and Valkey requires it", () => {
        const dir = VOLUME_STATE_DIRS.find((d) => d.name === "valkey");
        expect(dir?.path).toBe("/var/lib/valkey");
        expect(dir?.units).toEqual(["valkey-server"]);
        expect(byPath(files, "/etc/valkey/valkey.conf").content).toMatch(/^dir \/var\/lib\/valkey$/m);
        expect(byPath(files, "/etc/systemd/system/valkey-server.service.d/mailstack.conf").content).toMatch(
            /^RequiresMountsFor=\/var\/lib\/valkey$/m,
        );
        const script = byPath(files, "/usr/local/sbin/mailstack-volume-state").content;
        expect(/^units='([^']*)'$/m.exec(script)?.[1].split(" ")).toContain("valkey-server");
    });

    test("the filter's files come with host-config, not the user-data, and rspamd starts only once they are there", () => {
        const filter = renderFilterFiles(spec).map((f) => f.path);
        const hostConfig = PROVISIONING_PLAN.find((s) => s.role === "host-config")!;
        const bundled = parseBundle(hostConfig.stdin!(spec, { dkimPrivateKeysPem: {}, passwordHashes: {} }));
        expect(bundled.map((f) => f.path)).toEqual(expect.arrayContaining(filter));
        const userData = parse(
            renderUserData(spec, {
                mailVolumeDevice: "/dev/disk/by-id/scsi-0HC_Volume_1",
                provisionalHostKey: TEST_PROVISIONAL_HOST_KEY,
            }),
        ) as { write_files: Record<string, unknown>[] };
        const files = writtenFiles(userData.write_files);
        const written = files.map((f) => f.path);
        for (const p of filter) expect(written).not.toContain(p);
        const firstBoot = files.find((f) => f.path === "/usr/local/sbin/mailstack-first-boot")!;
        expect(firstBoot.content).toMatch(
            /\[ -e \/etc\/rspamd\/local\.d\/milter_headers\.conf \] \|\| systemctl disable --now rspamd/,
        );
        // Nor does the packages step start it; host-config's restart:rspamd enables it.
        expect(MAIL_UNITS).not.toContain("rspamd");
        expect(bundled.find((f) => f.path === "/etc/rspamd/local.d/actions.conf")?.onChange).toEqual([
            "restart:rspamd",
        ]);
        // The main.cf in the user-data names rspamd too: mail waits for it instead of passing unchecked.
        const mainCf = files.find((f) => f.path === "/etc/postfix/main.cf")!;
        expect(mainCf.content).toMatch(/^milter_default_action = tempfail$/m);
    });
});

describe("internationalized mail (RFC 6531/6532) in rspamd and Postfix", () => {
    const files = renderHostFiles(buildSpec(twoDomains()));
    const lua = byPath(files, "/etc/rspamd/lua.local.d/mailstack-smtputf8.lua").content;
    const composites = byPath(files, "/etc/rspamd/local.d/composites.conf").content;
    const expressions = [...composites.matchAll(/^\s*expression = "([^"]*)";$/gm)].map((m) => m[1]);
    /** The Lua byte class the symbol looks for in an envelope address, as a JS regexp over its bytes. */
    const byteClass = /text:find\('\[\\(\d+)-\\(\d+)\]'\)/.exec(lua);
    const utf8Address = (address: string) => {
        const [lo, hi] = [Number(byteClass?.[1]), Number(byteClass?.[2])];
        return [...Buffer.from(address, "utf8")].some((b) => b >= lo && b <= hi);
    };

    test("Postfix accepts SMTPUTF8 (smtputf8_enable = yes) and a UTF-8 address only with it (strict_smtputf8 = yes)", () => {
        const mainCf = byPath(files, "/etc/postfix/main.cf").content;
        expect(mainCf).toMatch(/^smtputf8_enable = yes$/m);
        expect(mainCf).toMatch(/^strict_smtputf8 = yes$/m);
    });

    test("Dovecot's LMTP offers SMTPUTF8, so Postfix can hand over mail with a UTF-8 envelope address; IMAP is left as it was", () => {
        const conf = byPath(files, "/etc/dovecot/dovecot.conf").content;
        // Every protocol lmtp block, up to its closing brace at the start of a line.
        const lmtp = [...conf.matchAll(/^protocol lmtp \{\n([\s\S]*?)\n\}$/gm)].map((m) => m[1]).join("\n");
        expect(lmtp).toMatch(/^ {2}mail_utf8_extensions = yes$/m);
        expect(conf.match(/mail_utf8_extensions/g)).toHaveLength(1);
    });

    test("MAILSTACK_SMTPUTF8 looks at the envelope sender and recipients, which rspamd's milter is given", () => {
        expect(lua).toMatch(/ipairs\(task:get_from\('smtp'\) or \{\}\)/);
        expect(lua).toMatch(/ipairs\(task:get_recipients\('smtp'\) or \{\}\)/);
        // Not the headers: a sender writes those itself.
        expect(lua).not.toMatch(/get_header/);
    });

    test("MAILSTACK_SMTPUTF8 takes any non-ASCII byte in an address as UTF-8, and no ASCII address", () => {
        for (const a of ["jürgen@sink.test", "用户@例子.广告", "x@münchen.test"]) expect(utf8Address(a)).toBe(true);
        for (const a of ["juergen@sink.test", "someone+tag@xn--mnchen-3ya.test", "", "~!#$%&'*=?^_`{|}@x.test"])
            expect(utf8Address(a)).toBe(false);
    });

    test("every composite that takes points back needs MAILSTACK_SMTPUTF8, and keeps that symbol", () => {
        expect(expressions).toHaveLength(2);
        for (const e of expressions) expect(e).toMatch(/^-MAILSTACK_SMTPUTF8 & /);
        expect(composites).not.toMatch(/policy\s*=/);
    });

    test("with SMTPUTF8 the header-encoding rules are removed, even where another composite keeps them", () => {
        expect(expressions[0]).toBe(
            "-MAILSTACK_SMTPUTF8 & (^FROM_NEEDS_ENCODING | ^TO_NEEDS_ENCODING | ^SUBJECT_NEEDS_ENCODING)",
        );
    });

    test("R_MIXED_CHARSET is removed only with SMTPUTF8 and raw UTF-8 headers together; without them it counts", () => {
        const mixed = expressions.filter((e) => e.includes("R_MIXED_CHARSET"));
        expect(mixed).toEqual([
            "-MAILSTACK_SMTPUTF8 & (-FROM_NEEDS_ENCODING | -TO_NEEDS_ENCODING | -SUBJECT_NEEDS_ENCODING) & ^R_MIXED_CHARSET",
        ]);
        // Not R_MIXED_CHARSET_URL, nor any score override of the rules themselves.
        expect(composites).not.toMatch(/R_MIXED_CHARSET_URL|weight/);
    });

    test("both files come with host-config and restart rspamd when they change", () => {
        for (const p of ["/etc/rspamd/lua.local.d/mailstack-smtputf8.lua", "/etc/rspamd/local.d/composites.conf"])
            expect(byPath(renderFilterFiles(buildSpec(twoDomains())), p)).toMatchObject({
                onChange: ["restart:rspamd"],
            });
    });
});
