#!/usr/bin/env python3
"""Talk to the real daemons, started by run.sh inside the trixie root in a private network
namespace (nothing listens on the host): LMTP delivery, IMAPS/POP3S logins, and the SMTP
rules of ports 25, 587 and 465 (no open relay, no AUTH on 25, sender-login map, DKIM).

Prints one "ok NAME" or "FAIL NAME: why" line per check.
"""
import glob
import imaplib
import json
import os
import poplib
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import warnings

PASSWORD = open("/tmp/render/password").read()
OUTSIDE = "192.0.2.1"  # an address of this namespace that is not in mynetworks
failures = 0


def report(name, ok, why=""):
    global failures
    if ok:
        print(f"ok {name}")
    else:
        failures += 1
        print(f"FAIL {name}: {why}")


def check(name):
    def wrap(fn):
        try:
            result = fn()
            report(name, result is None or result is True, "" if result in (None, True) else str(result))
        except Exception as e:  # noqa: BLE001 - every error is a failed check
            report(name, False, f"{type(e).__name__}: {e}")
        return fn
    return wrap


def tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def smtp25():
    s = smtplib.SMTP(OUTSIDE, 25, local_hostname="client.example.net", source_address=(OUTSIDE, 0), timeout=20)
    s.ehlo()
    return s


def submission(user=None):
    s = smtplib.SMTP(OUTSIDE, 587, local_hostname="client.example.net", source_address=(OUTSIDE, 0), timeout=20)
    s.ehlo()
    s.starttls(context=tls())
    s.ehlo()
    if user:
        s.login(user, PASSWORD)
    return s


def rcpt(s, sender, recipient):
    code, _ = s.mail(sender)
    if code != 250:
        return code
    code, msg = s.rcpt(recipient)
    s.rset()
    return code, msg.decode(errors="replace")


def wait_for_delivery(pattern, seconds=20):
    end = time.time() + seconds
    while time.time() < end:
        files = glob.glob(pattern)
        if files:
            return files
        time.sleep(0.3)
    return []


def maildir_new(user, domain):
    return f"/srv/mail/vhosts/{domain}/{user}/Maildir/new/*"


# --- Dovecot ---------------------------------------------------------------------------
@check("LMTP delivers user+tag@ to the mailbox, as vmail, on the mail volume")
def _():
    with smtplib.LMTP("/var/spool/postfix/private/dovecot-lmtp") as l:
        l.sendmail("sender@example.net", ["alice+tag@example.org"], b"Subject: lmtp\r\n\r\nhello\r\n")
    files = wait_for_delivery(maildir_new("alice", "example.org"))
    assert files, "no message in alice's Maildir/new"
    st = os.stat(files[0])
    assert (st.st_uid, st.st_gid) == (5000, 5000), f"owned by {st.st_uid}:{st.st_gid}"


@check("LMTP rejects an unknown mailbox")
def _():
    with smtplib.LMTP("/var/spool/postfix/private/dovecot-lmtp") as l:
        l.ehlo()  # LHLO
        l.mail("sender@example.net")
        code, _ = l.rcpt("nobody@example.org")
        return code == 550 or f"RCPT answered {code}"


@check("IMAPS 993: a mailbox logs in and sees its mail")
def _():
    with imaplib.IMAP4_SSL(OUTSIDE, 993, ssl_context=tls()) as m:
        m.login("alice@example.org", PASSWORD)
        typ, data = m.select("INBOX")
        assert typ == "OK" and int(data[0]) >= 1, f"INBOX: {typ} {data}"


@check("IMAPS 993: a wrong password is refused")
def _():
    with imaplib.IMAP4_SSL(OUTSIDE, 993, ssl_context=tls()) as m:
        try:
            m.login("alice@example.org", "wrong password")
        except imaplib.IMAP4.error:
            return True
        return "login with a wrong password succeeded"


@check("POP3S 995: a mailbox logs in")
def _():
    p = poplib.POP3_SSL(OUTSIDE, 995, context=tls())
    p.user("bob@example.org")
    p.pass_(PASSWORD)
    p.quit()


@check("TLS below 1.2 is refused on 993")
def _():
    # The client must really offer TLS 1.1 (SECLEVEL=0), so that the refusal is the server's
    # protocol_version alert and not the client's own policy.
    ctx = tls()
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        with socket.create_connection((OUTSIDE, 993), timeout=10) as raw, ctx.wrap_socket(raw):
            return "a TLS 1.1 handshake succeeded"
    except ssl.SSLError as e:
        return "PROTOCOL_VERSION" in str(e).upper() or f"refused, but not by the server: {e}"


for port, name in ((143, "IMAP"), (110, "POP3")):
    @check(f"nothing listens on {port} ({name} without TLS)")
    def _(port=port):
        try:
            socket.create_connection((OUTSIDE, port), timeout=5).close()
            return f"port {port} accepted a connection"
        except ConnectionRefusedError:
            return True


# --- Postfix port 25 ----------------------------------------------------------------------
@check("port 25 offers STARTTLS and no AUTH, before and after TLS")
def _():
    s = smtp25()
    assert s.has_extn("starttls"), "no STARTTLS"
    assert not s.has_extn("auth"), "AUTH offered before TLS"
    s.starttls(context=tls())
    s.ehlo()
    assert not s.has_extn("auth"), "AUTH offered after TLS"
    s.quit()


@check("port 25 is no open relay: mail for an outside domain is refused")
def _():
    s = smtp25()
    res = rcpt(s, "<>", "victim@example.net")
    s.quit()
    return (isinstance(res, tuple) and res[0] in (454, 554)) or f"RCPT answered {res}"


@check("port 25 refuses %-hack and source-route relaying")
def _():
    s = smtp25()
    out = []
    for addr in ("victim%example.net@example.org", "@example.org:victim@example.net", "victim@example.net@example.org"):
        res = rcpt(s, "<>", addr)
        if not (isinstance(res, tuple) and 500 <= res[0] < 600):
            out.append(f"{addr}: {res}")
    s.quit()
    return not out or "; ".join(out)


@check("port 25 rejects an unknown recipient at RCPT time")
def _():
    s = smtp25()
    res = rcpt(s, "<>", "nobody@example.com")
    s.quit()
    return (isinstance(res, tuple) and res[0] == 550) or f"RCPT answered {res}"


@check("port 25 refuses our own domains as envelope sender (forged), and takes the same mail from the null sender")
def _():
    s = smtp25()
    forged = [f"{frm}: {r}" for frm in ("alice@example.org", "nobody@example.com", "x@mail.example.org")
              if (r := rcpt(s, frm, "bob@example.org"))[0] != 554]
    control = rcpt(s, "<>", "bob@example.org")  # (no DNS here for an outside sender domain)
    s.quit()
    return (not forged and control[0] == 250) or f"forged accepted: {forged}; null sender: {control}"


@check("port 25 accepts mail for mailboxes and aliases of both domains")
def _():
    s = smtp25()
    out = [f"{a}: {r}" for a in ("carol@example.com", "info@example.org", "abuse@example.com", "postmaster@mail.example.org")
           if (r := rcpt(s, "<>", a))[0] != 250]
    s.quit()
    return not out or "; ".join(out)


# --- Submission 587 / 465 -------------------------------------------------------------------------
@check("port 587 offers AUTH only after STARTTLS")
def _():
    s = smtplib.SMTP(OUTSIDE, 587, local_hostname="client.example.net", source_address=(OUTSIDE, 0), timeout=20)
    s.ehlo()
    assert not s.has_extn("auth"), "AUTH offered before TLS"
    s.starttls(context=tls())
    s.ehlo()
    assert s.has_extn("auth"), "no AUTH after TLS"
    s.quit()


@check("port 587 refuses mail without AUTH")
def _():
    s = submission()
    res = rcpt(s, "alice@example.org", "bob@example.org")
    s.quit()
    return (isinstance(res, tuple) and res[0] >= 500) or f"RCPT answered {res}"


@check("port 587: a wrong password is refused")
def _():
    s = submission()
    try:
        s.login("alice@example.org", "wrong password")
        return "login with a wrong password succeeded"
    except smtplib.SMTPAuthenticationError:
        return True
    finally:
        s.close()


@check("port 587: an authenticated user may relay as herself and as an alias that reaches her")
def _():
    s = submission("alice@example.org")
    out = [f"{frm}: {r}" for frm in ("alice@example.org", "info@example.org", "postmaster@example.com")
           if (r := rcpt(s, frm, "friend@example.net"))[0] != 250]
    s.quit()
    return not out or "; ".join(out)


@check("port 587: sending as someone else's address is refused (sender login mismatch)")
def _():
    s = submission("alice@example.org")
    out = [f"{frm}: {r}" for frm in ("carol@example.com", "forward@example.org", "someone@example.net")
           if (r := rcpt(s, frm, "friend@example.net"))[0] != 553]
    s.quit()
    return not out or "; ".join(out)


@check("port 587: the null sender is refused to an authenticated user (it would escape the login check)")
def _():
    s = submission("alice@example.org")
    res = rcpt(s, "<>", "friend@example.net")
    s.quit()
    return (isinstance(res, tuple) and res[0] == 554) or f"RCPT answered {res}"


@check("port 465: implicit TLS and AUTH")
def _():
    s = smtplib.SMTP_SSL(OUTSIDE, 465, local_hostname="client.example.net", source_address=(OUTSIDE, 0), context=tls(), timeout=20)
    s.ehlo()
    s.login("carol@example.com", PASSWORD)
    res = rcpt(s, "carol@example.com", "friend@example.net")
    s.quit()
    return res[0] == 250 or f"RCPT answered {res}"


def submit_with_from(login, envelope, from_header):
    """The reply code to DATA for a message from `login` with the given From: header."""
    s = submission(login)
    try:
        # To an outside address: it stays queued here (no DNS) and never lands in a Maildir.
        s.sendmail(envelope, ["friend@example.net"], f"From: {from_header}\r\nTo: friend@example.net\r\nSubject: from check\r\n\r\nhello\r\n".encode())
        return 250
    except smtplib.SMTPDataError as e:
        return e.smtp_code
    finally:
        s.close()


@check("port 587: a login may put only its own addresses in From: (what DKIM signs for)")
def _():
    have = {
        "alice@example.org": submit_with_from("alice@example.org", "alice@example.org", "Alice <alice@example.org>"),
        "info@example.org (alias reaching alice)": submit_with_from("alice@example.org", "alice@example.org", "info@example.org"),
        "carol@example.com": submit_with_from("alice@example.org", "alice@example.org", "carol@example.com"),
        "sales@example.com": submit_with_from("alice@example.org", "alice@example.org", '"Sales" <sales@example.com>'),
        "alice and carol": submit_with_from("alice@example.org", "alice@example.org", "alice@example.org, carol@example.com"),
    }
    want = {"alice@example.org": 250, "info@example.org (alias reaching alice)": 250, "carol@example.com": 550, "sales@example.com": 550, "alice and carol": 550}
    return have == want or f"DATA answered {have} (want {want})"


@check("mail submitted on 587 is DKIM-signed with the sender domain's selector and delivered over LMTP")
def _():
    s = submission("carol@example.com")
    s.sendmail("carol@example.com", ["bob@example.org"],
               b"From: carol@example.com\r\nTo: bob@example.org\r\nSubject: signed\r\n\r\nhello bob\r\n")
    s.quit()
    files = wait_for_delivery(maildir_new("bob", "example.org"))
    assert files, "nothing delivered to bob"
    text = open(files[0], "rb").read().decode(errors="replace")
    assert "DKIM-Signature:" in text, "no DKIM-Signature header"
    assert "d=example.com" in text and "s=s2026" in text, "signature not for example.com/s2026"
    # Our own domains are excluded from SRS: the envelope sender stays the user's address.
    assert "Return-Path: <carol@example.com>" in text, "envelope sender of our own domain was rewritten"


@check("forwarding to an outside address rewrites the envelope sender with SRS, and the SRS address takes bounces")
def _():
    # Local submission skips the SMTP checks that need DNS; the rewrite happens in cleanup.
    subprocess.run(["sendmail", "-f", "someone@sender.example", "forward@example.org"],
                   input=b"Subject: fwd\n\nforwarded\n", check=True, timeout=30)
    srs = None
    for _ in range(60):
        out = subprocess.run(["postqueue", "-j"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            msg = json.loads(line)
            if any(r.get("address") == "someone@example.net" for r in msg.get("recipients", [])):
                srs = msg.get("sender")
        if srs:
            break
        time.sleep(0.5)
    assert srs, "the forwarded message is not in the queue"
    assert srs.startswith("SRS0=") and srs.endswith("@mail.example.org"), f"envelope sender is {srs}"
    s = smtp25()
    res = rcpt(s, "<>", srs)
    s.quit()
    return res[0] == 250 or f"RCPT to {srs} answered {res}"


print(f"smoke: {failures} failed", file=sys.stderr)
sys.exit(1 if failures else 0)
