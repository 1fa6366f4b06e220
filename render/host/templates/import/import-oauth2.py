#!/usr/bin/python3
# /usr/local/lib/mailstack/import-oauth2.py - written by mailstack (import step).
#
#   import-oauth2.py authorize MAILBOX   the OAuth2 device authorization (RFC 8628), once: prints
#                                        where to sign in and the code, waits, keeps the refresh token
#   import-oauth2.py refresh MAILBOX     before each import run: a fresh access token for mbsync's
#                                        XOAUTH2 login, the newest refresh token kept
#
# For mailstack:imports entries with auth: "oauth2" (Microsoft 365 and Outlook.com take no
# password over IMAP). The app (client id), the endpoints and the scope are
# /etc/mailstack/import/MAILBOX.oauth2, from the import step. The refresh token is the only
# credential: it lives on the mail volume (so in the backup), root only, in
# /srv/mail/state/import/MAILBOX/oauth2-refresh-token, never in the stack config. Providers
# rotate it (Microsoft hands out a new one with each access token), so the new one replaces
# the old one before the access token is used. The access token (an hour at Microsoft) goes
# to /run/mailstack-import/MAILBOX.token, which mbsync's PassCmd reads; it goes with the run.
#
# A failure is one line on stderr, "<kind>: <what happened and what to do>", with the exit
# codes of import-folders.py (2 unreachable, 3 certificate, 4 login, 5 other). No token is
# ever printed.
import json
import os
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

EXIT = {"unreachable": 2, "certificate": 3, "login": 4, "other": 5}
CONF = "/etc/mailstack/import"
STATE = "/srv/mail/state/import"
RUN = "/run/mailstack-import"


def fail(kind, message):
    print(f"{kind}: {message}", file=sys.stderr)
    sys.exit(EXIT[kind])


def settings(mailbox):
    try:
        with open(f"{CONF}/{mailbox}.oauth2", encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        fail("other", f"{mailbox} is not imported with OAuth2 (mailstack:imports auth: \"oauth2\")")


def write_private(path, text):
    """Write a root-only file atomically: a crash leaves the old one or the new one, never half.
    Each writer has its own temporary file (mkstemp, 0600, beside the file): `authorize` and a
    timer's `refresh` may write the refresh token at the same time, and with one shared name
    the second truncated the first's file or found it renamed away."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def post(url, form):
    """POST a form to an endpoint (the system's CAs); (HTTP status, JSON body)."""
    host = urllib.parse.urlsplit(url).netloc
    body = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=body, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30, context=ssl.create_default_context()) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    except urllib.error.URLError as e:
        if isinstance(e.reason, ssl.SSLCertVerificationError):
            fail("certificate", f"the certificate of {host} does not verify ({e.reason.verify_message})")
        reason = getattr(e.reason, "strerror", None) or str(e.reason)
        fail("unreachable", f"cannot reach the token endpoint {host}: {reason}")
    except OSError as e:
        fail("unreachable", f"cannot reach the token endpoint {host}: {e}")
    try:
        answer = json.loads(raw)
    except ValueError:
        fail("other", f"{host} answered HTTP {status} without JSON")
    if not isinstance(answer, dict):
        fail("other", f"{host} answered HTTP {status} with JSON that is no object")
    return status, answer


def said(answer):
    """The provider's error and the first line of its description (Microsoft's AADSTS code)."""
    text = str(answer.get("error_description", "")).strip().splitlines()
    return str(answer.get("error", "error")) + (f" ({text[0]})" if text else "")


def token_file(mailbox):
    return f"{STATE}/{mailbox}/oauth2-refresh-token"


def keep(mailbox, conf, refresh_token):
    """The refresh token with what it was given for: another app, endpoint or user needs a new one."""
    record = {"refresh_token": refresh_token, "client_id": conf["client_id"], "token_url": conf["token_url"],
              "user": conf["user"], "saved": int(time.time())}
    write_private(token_file(mailbox), json.dumps(record) + "\n")


def authorize(mailbox):
    conf = settings(mailbox)
    status, answer = post(conf["device_url"], {"client_id": conf["client_id"], "scope": conf["scope"]})
    if status != 200 or "device_code" not in answer:
        fail("login", f"the device authorization was refused: {said(answer)}; check mailstack:imports "
             "oauth2.clientId and that the app allows public client flows (README \"Moving in\")")
    device_code, interval = answer["device_code"], int(answer.get("interval", 5))
    deadline = time.monotonic() + int(answer.get("expires_in", 900))
    where = answer.get("verification_uri") or answer.get("verification_url")
    print(f"To let this server read the mail of {conf['user']} at {conf['host']}:", flush=True)
    print(f"  open {where} in a browser, enter the code {answer['user_code']}", flush=True)
    print(f"  and sign in as {conf['user']} (within {int(answer.get('expires_in', 900)) // 60} minutes).", flush=True)
    print("Waiting for the sign-in ...", flush=True)
    while time.monotonic() < deadline:
        time.sleep(interval)
        status, answer = post(conf["token_url"], {
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": device_code,
            "client_id": conf["client_id"],
        })
        if status == 200 and "refresh_token" in answer:
            keep(mailbox, conf, answer["refresh_token"])
            print(f"{mailbox}: authorized; the import runs every hour from now on", flush=True)
            return
        if status == 200:
            fail("login", "the provider gave no refresh token: the scope must ask for one (offline_access)")
        error = answer.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5
            continue
        if error in ("access_denied", "authorization_declined"):
            fail("login", f"the sign-in was declined: {said(answer)}; nothing was stored")
        if error in ("expired_token", "code_expired"):
            break
        fail("login", f"the authorization failed: {said(answer)}; nothing was stored")
    fail("login", "the code expired before anyone signed in; run mailstack-import authorize again")


def refresh(mailbox):
    conf = settings(mailbox)
    again = f"run `mailstack-import authorize {mailbox}` on the server"
    try:
        with open(token_file(mailbox), encoding="utf-8") as f:
            record = json.load(f)
    except FileNotFoundError:
        fail("login", f"not authorized yet: {again} and sign in as {conf['user']}")
    except ValueError:
        fail("login", f"the stored refresh token is unreadable: {again}")
    for key in ("client_id", "token_url", "user"):
        if record.get(key) != conf[key]:
            fail("login", f"the stored authorization is for another {key.replace('_', ' ')} than "
                 f"mailstack:imports now names: {again}")
    status, answer = post(conf["token_url"], {
        "grant_type": "refresh_token",
        "refresh_token": record["refresh_token"],
        "client_id": conf["client_id"],
        "scope": conf["scope"],
    })
    if status != 200 or "access_token" not in answer:
        if answer.get("error") in ("invalid_grant", "interaction_required", "unauthorized_client", "invalid_client"):
            fail("login", f"the OAuth2 authorization of {conf['user']} expired or was revoked: {said(answer)}; "
                 f"nothing was imported; {again}")
        fail("login", f"the token endpoint refused the refresh: HTTP {status} {said(answer)}; nothing was imported")
    # The newest refresh token first: the one just used may not work again (rotation).
    if answer.get("refresh_token") and answer["refresh_token"] != record["refresh_token"]:
        keep(mailbox, conf, answer["refresh_token"])
    os.makedirs(RUN, mode=0o700, exist_ok=True)
    write_private(f"{RUN}/{mailbox}.token", answer["access_token"] + "\n")
    print(f"{mailbox}: access token obtained from {urllib.parse.urlsplit(conf['token_url']).netloc}, "
          f"valid {int(answer.get('expires_in', 0)) // 60} min", file=sys.stderr)


def main():
    if os.geteuid() != 0:
        fail("other", "must run as root")
    if len(sys.argv) != 3 or sys.argv[1] not in ("authorize", "refresh") or "/" in sys.argv[2]:
        fail("other", "usage: import-oauth2.py authorize|refresh MAILBOX")
    {"authorize": authorize, "refresh": refresh}[sys.argv[1]](sys.argv[2].lower())


if __name__ == "__main__":
    main()
