// The lab's OAuth2 provider for the Microsoft 365 import check (lab/checks/import-oauth2.test.ts):
// login.oldmail.test (NET.oauth4) in msl-out, as Microsoft's identity platform is for
// outlook.office365.com. It speaks what mailstack's import-oauth2.py talks to at Microsoft:
//
//   https://login.oldmail.test/lab/oauth2/v2.0/devicecode   RFC 8628 device authorization
//   https://login.oldmail.test/lab/oauth2/v2.0/token        device-code and refresh-token grants
//
// with Microsoft's error codes (authorization_pending, invalid_grant with an AADSTS text), and
// stricter than Microsoft where it matters: a refresh token works once (the rotated one
// replaces it), so an import that kept the old one fails. On port 8080, inside the lab only,
// what the provider itself and the person in front of the browser do:
//
//   POST /introspect  token=...          the old provider's Dovecot checks an XOAUTH2 token (RFC 7662)
//   POST /approve     user_code=&user=   the person signs in and enters the code
//   POST /revoke      user=              the person (or an admin) revokes the app's sessions
//   GET  /stats                          what was asked for, for the check
//
//   node --import tsx lab/world/oauth2.ts CERTDIR CLIENT_ID   (run by startOAuth2Provider inside msl-out)
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as path from "node:path";
import { labCaCertificate } from "./acme";
import { NET, startOutsideDaemon } from "../harness/net";
import { LAB_DIR, readPid, STATE_DIR, stopRecorded } from "../harness/processes";

export const OAUTH2_HOST = "login.oldmail.test";
/** The app registered for the lab's server, as a user registers one in Entra ID. */
export const OAUTH2_CLIENT_ID = "6f1a7c2e-1b2d-4e5f-8a9b-0c1d2e3f4a5b";
export const OAUTH2_SCOPE = "https://outlook.oldmail.test/IMAP.AccessAsUser.All offline_access";
export const OAUTH2_TOKEN_URL = `https://${OAUTH2_HOST}/lab/oauth2/v2.0/token`;
export const OAUTH2_DEVICE_URL = `https://${OAUTH2_HOST}/lab/oauth2/v2.0/devicecode`;
export const OAUTH2_VERIFY_URL = `https://${OAUTH2_HOST}/device`;
/** Where the old provider's Dovecot and the check reach the provider's own side. */
export const OAUTH2_INTERNAL = `http://${NET.oauth4}:8080`;

interface Device {
    readonly userCode: string;
    readonly expires: number;
    user?: string;
    polled: number;
}

export interface OAuth2Stats {
    deviceCodes: number;
    tokenFromDevice: number;
    refreshed: number;
    refusedRefresh: number;
    introspected: number;
    introspectedActive: number;
}

function serve(certDir: string, clientId: string): void {
    const devices = new Map<string, Device>(); // device_code -> state
    const refreshTokens = new Map<string, string>(); // refresh token -> user (valid once)
    const accessTokens = new Map<string, { user: string; expires: number }>();
    const stats: OAuth2Stats = {
        deviceCodes: 0,
        tokenFromDevice: 0,
        refreshed: 0,
        refusedRefresh: 0,
        introspected: 0,
        introspectedActive: 0,
    };
    const token = (p: string) => `${p}.${randomBytes(24).toString("base64url")}`;

    const read = (req: http.IncomingMessage): Promise<URLSearchParams> =>
        new Promise((resolve, reject) => {
            const chunks: Buffer[] = [];
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("end", () => resolve(new URLSearchParams(Buffer.concat(chunks).toString("utf8"))));
            req.on("error", reject);
        });
    const answer = (res: http.ServerResponse, status: number, body: object) => {
        const text = JSON.stringify(body);
        res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
        res.end(text);
    };
    const error = (res: http.ServerResponse, code: string, description: string, status = 400) =>
        answer(res, status, { error: code, error_description: description });
    const grant = (res: http.ServerResponse, user: string) => {
        const access = token("at");
        const refresh = token("rt");
        accessTokens.set(access, { user, expires: Date.now() + 3600_000 });
        refreshTokens.set(refresh, user);
        answer(res, 200, {
            token_type: "Bearer",
            scope: OAUTH2_SCOPE.replace(/ offline_access$/, ""),
            expires_in: 3599,
            access_token: access,
            refresh_token: refresh,
        });
    };

    // What the server reaches: Microsoft's public endpoints.
    const pub = async (req: http.IncomingMessage, res: http.ServerResponse) => {
        const form = await read(req);
        console.log(`lab-oauth2: ${req.method} ${req.url} grant_type=${form.get("grant_type") ?? "-"}`);
        if (req.method !== "POST")
            return error(res, "invalid_request", "AADSTS900561: The endpoint only accepts POST requests.", 405);
        if (form.get("client_id") !== clientId)
            return error(
                res,
                "unauthorized_client",
                `AADSTS700016: Application with identifier '${form.get("client_id")}' was not found in the directory 'lab'.`,
            );
        if (req.url === "/lab/oauth2/v2.0/devicecode") {
            const scopes = (form.get("scope") ?? "").split(" ");
            if (!OAUTH2_SCOPE.split(" ").every((s) => scopes.includes(s)))
                return error(
                    res,
                    "invalid_scope",
                    "AADSTS70011: The provided value for the input parameter 'scope' is not valid.",
                );
            const deviceCode = token("dc");
            const userCode = randomBytes(5).toString("hex").toUpperCase().slice(0, 9);
            devices.set(deviceCode, { userCode, expires: Date.now() + 900_000, polled: 0 });
            stats.deviceCodes++;
            return answer(res, 200, {
                user_code: userCode,
                device_code: deviceCode,
                verification_uri: OAUTH2_VERIFY_URL,
                expires_in: 900,
                interval: 1,
                message: `To sign in, use a web browser to open the page ${OAUTH2_VERIFY_URL} and enter the code ${userCode} to authenticate.`,
            });
        }
        if (req.url !== "/lab/oauth2/v2.0/token") return error(res, "invalid_request", "AADSTS90002: not found", 404);
        const type = form.get("grant_type");
        if (type === "urn:ietf:params:oauth:grant-type:device_code") {
            const d = devices.get(form.get("device_code") ?? "");
            if (!d)
                return error(
                    res,
                    "invalid_grant",
                    "AADSTS70000: The provided value for the 'device_code' is not valid.",
                );
            if (Date.now() > d.expires)
                return error(
                    res,
                    "expired_token",
                    "AADSTS70020: The provided value for the input parameter 'device_code' is expired.",
                );
            d.polled++;
            if (!d.user)
                return error(
                    res,
                    "authorization_pending",
                    "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                );
            devices.delete(form.get("device_code")!);
            stats.tokenFromDevice++;
            return grant(res, d.user);
        }
        if (type === "refresh_token") {
            const rt = form.get("refresh_token") ?? "";
            const user = refreshTokens.get(rt);
            if (user === undefined) {
                stats.refusedRefresh++;
                return error(
                    res,
                    "invalid_grant",
                    "AADSTS50173: The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.\r\nTrace ID: lab",
                );
            }
            // Rotation: this one is spent, the new one replaces it.
            refreshTokens.delete(rt);
            stats.refreshed++;
            return grant(res, user);
        }
        return error(
            res,
            "unsupported_grant_type",
            `AADSTS70003: The app requested an unsupported grant type '${type}'.`,
        );
    };

    // The provider's own side, inside the lab only.
    const internal = async (req: http.IncomingMessage, res: http.ServerResponse) => {
        const form = await read(req);
        if (req.url === "/introspect" && req.method === "POST") {
            stats.introspected++;
            const t = accessTokens.get(form.get("token") ?? "");
            if (!t || Date.now() > t.expires) return answer(res, 200, { active: false });
            stats.introspectedActive++;
            return answer(res, 200, { active: true, email: t.user, scope: OAUTH2_SCOPE });
        }
        if (req.url === "/approve" && req.method === "POST") {
            const d = [...devices.values()].find((x) => x.userCode === form.get("user_code"));
            if (!d) return answer(res, 404, { approved: false });
            d.user = form.get("user") ?? "";
            console.log(`lab-oauth2: ${d.user} signed in with code ${d.userCode}`);
            return answer(res, 200, { approved: true });
        }
        if (req.url === "/revoke" && req.method === "POST") {
            const user = form.get("user");
            let n = 0;
            for (const [rt, u] of refreshTokens)
                if (u === user) {
                    refreshTokens.delete(rt);
                    n++;
                }
            for (const [at, t] of accessTokens) if (t.user === user) accessTokens.delete(at);
            console.log(`lab-oauth2: revoked ${n} refresh token(s) of ${user}`);
            return answer(res, 200, { revoked: n });
        }
        if (req.url === "/stats") return answer(res, 200, stats);
        return answer(res, 404, {});
    };

    const tls = {
        key: fs.readFileSync(path.join(certDir, "login.key")),
        cert: fs.readFileSync(path.join(certDir, "login.pem")),
    };
    let up = 0;
    const ready = () => {
        if (++up === 2) console.log(`lab-oauth2: ready on ${NET.oauth4}:443 and :8080`);
    };
    https.createServer(tls, (q, s) => void pub(q, s)).listen(443, NET.oauth4, ready);
    http.createServer((q, s) => void internal(q, s)).listen(8080, NET.oauth4, ready);
}

/** Start the provider in msl-out (a lab-CA certificate for login.oldmail.test); resolves when it listens. */
export async function startOAuth2Provider(): Promise<number> {
    const running = readPid("oauth2");
    if (running !== undefined) return running;
    const dir = path.join(STATE_DIR, "oauth2");
    if (!fs.existsSync(path.join(dir, "login.pem"))) labCaCertificate(dir, "login", [OAUTH2_HOST]);
    return startOutsideDaemon("oauth2", path.join(LAB_DIR, "world", "oauth2.ts"), [dir, OAUTH2_CLIENT_ID]);
}

/** Stop it by its recorded PID. */
export async function stopOAuth2Provider(): Promise<void> {
    await stopRecorded("oauth2", "SIGTERM", "the lab's OAuth2 provider");
}

/** A call to the provider's own side (the check runs in msl-out). */
export async function oauth2Internal(what: string, form?: Record<string, string>): Promise<Record<string, unknown>> {
    const r = await fetch(
        `${OAUTH2_INTERNAL}/${what}`,
        form ? { method: "POST", body: new URLSearchParams(form) } : {},
    );
    return (await r.json()) as Record<string, unknown>;
}

if (require.main === module) {
    const [certDir, clientId] = process.argv.slice(2);
    serve(certDir, clientId);
}
