#!/usr/bin/python3
# /usr/local/lib/mailstack/import-folders.py - written by mailstack (import step).
#
#   import-folders.py RCFILE    the mbsync channels for the old account in RCFILE, on stdout
#   import-folders.py --map     the same mapping for LIST lines on stdin (tests)
#
# mailstack-import runs this before mbsync. It logs in to the old account the way mbsync will
# (the host, port, TLS and user of RCFILE, the password file beside it or, with XOAUTH2, the
# access token import-oauth2.py obtained for this run; the system's CAs),
# lists its folders with their special-use attributes (RFC 6154) and prints one mbsync
# Channel per folder to import, mapped to this server's names: \Sent -> Sent, \Drafts ->
# Drafts, \Trash -> Trash, \Junk -> Junk, \Archive and Gmail's \All ("[Gmail]/All Mail") ->
# Archive, labels and other folders under their own names. Folders that only show mail
# held elsewhere (Gmail's Starred and Important) or that hold no mail (Microsoft's Outbox,
# Sync Issues, Calendar, ...) are left out. Without special-use attributes the usual
# English names of Gmail, Microsoft 365/Outlook.com and Apple are recognised.
#
# A failure is one line on stderr, "<kind>: <what happened and what to check>", and the exit
# code says which kind (2 unreachable, 3 certificate, 4 login, 5 other), so that the journal,
# the status file and `mailstack doctor` say what is wrong. The password is never printed.
import imaplib
import re
import socket
import ssl
import sys

EXIT = {"unreachable": 2, "certificate": 3, "login": 4, "other": 5}

# Special-use attribute -> our folder (dovecot.conf's namespace inbox).
SPECIAL = {"\\sent": "Sent", "\\drafts": "Drafts", "\\trash": "Trash", "\\junk": "Junk",
           "\\archive": "Archive", "\\all": "Archive"}
# Views of mail that is in other folders too: importing them would duplicate it.
SKIP_SPECIAL = {"\\flagged", "\\important"}
# The same, by name, for servers that send no special-use attributes.
BY_NAME = {
    "sent": "Sent", "sent items": "Sent", "sent messages": "Sent", "sent mail": "Sent",
    "[gmail]/sent mail": "Sent", "[google mail]/sent mail": "Sent",
    "drafts": "Drafts", "[gmail]/drafts": "Drafts", "[google mail]/drafts": "Drafts",
    "trash": "Trash", "deleted items": "Trash", "deleted messages": "Trash", "bin": "Trash",
    "[gmail]/trash": "Trash", "[gmail]/bin": "Trash", "[google mail]/trash": "Trash", "[google mail]/bin": "Trash",
    "junk": "Junk", "spam": "Junk", "junk email": "Junk", "junk e-mail": "Junk", "bulk mail": "Junk",
    "[gmail]/spam": "Junk", "[google mail]/spam": "Junk",
    "archive": "Archive", "archives": "Archive", "[gmail]/all mail": "Archive", "[google mail]/all mail": "Archive",
}
SKIP_NAMES = {"[gmail]/starred", "[gmail]/important", "[google mail]/starred", "[google mail]/important",
              "outbox", "conversation history", "sync issues", "calendar", "contacts", "journal", "notes", "tasks"}


def decode_mutf7(name):
    """RFC 3501 5.1.3 modified UTF-7 -> str."""
    out, i = [], 0
    while i < len(name):
        c = name[i]
        if c != "&":
            out.append(c)
            i += 1
            continue
        j = name.index("-", i)
        chunk = name[i + 1:j]
        if chunk == "":
            out.append("&")
        else:
            b64 = chunk.replace(",", "/")
            b64 += "=" * (-len(b64) % 4)
            import base64
            out.append(base64.b64decode(b64).decode("utf-16-be"))
        i = j + 1
    return "".join(out)


LIST_LINE = re.compile(r'^\((?P<attrs>[^)]*)\) (?P<sep>NIL|"(?:[^"\\]|\\.)") (?P<name>.+)$')


def parse_list(line):
    """One LIST response (without '* LIST ') -> (attributes, separator, name) or None."""
    m = LIST_LINE.match(line)
    if not m:
        return None
    attrs = {a.lower() for a in m.group("attrs").split()}
    sep = None if m.group("sep") == "NIL" else m.group("sep")[1:-1].replace("\\\\", "\\").replace('\\"', '"')
    raw = m.group("name")
    if raw.startswith('"'):
        raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return attrs, sep, decode_mutf7(raw)


def response_lines(data):
    """imaplib's LIST data -> one line per folder. A name the server sent as a literal ({n},
    then its bytes: a tuple from imaplib) becomes a quoted string, so no folder is dropped
    unseen."""
    lines = []
    for d in data:
        if isinstance(d, tuple) and len(d) == 2:
            head = re.sub(rb"\{\d+\}$", b"", d[0]).decode("utf-8", "replace")
            name = d[1].decode("utf-8", "replace")
            lines.append(head + '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"')
        elif isinstance(d, bytes) and d:
            lines.append(d.decode("utf-8", "replace"))
    return lines


def near_name(attrs, sep, name):
    """The folder here for a folder there, or None to leave it out."""
    if "\\noselect" in attrs or "\\nonexistent" in attrs:
        return None
    canonical = name.replace(sep, "/") if sep and sep != "/" else name
    lower = canonical.lower()
    if lower == "inbox":
        return "INBOX"
    if attrs & SKIP_SPECIAL:
        return None
    for attr, ours in SPECIAL.items():
        if attr in attrs:
            return ours
    if lower in SKIP_NAMES or lower.split("/")[0] in {"sync issues", "calendar", "contacts"}:
        return None
    if lower in BY_NAME:
        return BY_NAME[lower]
    # Courier and Cyrus put folders under INBOX ("INBOX.Work"): here they sit beside it.
    if lower.startswith("inbox/"):
        canonical = canonical[len("inbox/"):]
        if canonical.lower() in BY_NAME:
            return BY_NAME[canonical.lower()]
    # Gmail's own prefix holds only its system folders; a label lives outside it.
    # Maildir++ on disk takes no "." in a folder name: "v1.2" becomes "v1_2".
    return canonical.replace(".", "_")


def quote(name):
    return '"' + name + '"'


def channels(folders):
    """mbsync Channel sections for [(far name in mbsync's '/' form, near name)]."""
    out = []
    for i, (far, near) in enumerate(folders):
        out += [f"Channel f{i}", f"Far :old:{quote(far)}", f"Near :here:{quote(near)}", ""]
    return "\n".join(out)


def mapping(lines, log):
    folders, seen = [], set()
    for line in lines:
        try:
            parsed = parse_list(line)
        except ValueError:  # bad modified UTF-7: binascii's and Unicode's errors are ValueErrors
            log(f"folder {line!r}: left out (its name is not valid modified UTF-7)")
            continue
        if not parsed:
            log(f"folder {line!r}: left out (a LIST answer not understood)")
            continue
        attrs, sep, name = parsed
        near = near_name(attrs, sep, name)
        far = name.replace(sep, "/") if sep and sep != "/" else name
        if near is None:
            log(f'folder "{far}": left out')
            continue
        if '"' in far + near or "\\" in far + near:
            log(f'folder "{far}": left out (a quote or backslash in its name)')
            continue
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in far + near):
            log(f"folder {far!r}: left out (a control character in its name)")
            continue
        if far in seen:
            continue
        seen.add(far)
        log(f'folder "{far}" -> "{near}"')
        folders.append((far, near))
    return folders


def rc_settings(path):
    s = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r'^(Host|Port|TLSType|User|AuthMechs|PassCmd)\s+"?([^"\n]*)"?\s*$', line)
            if m and m.group(1) not in s:
                s[m.group(1)] = m.group(2)
    return s


def fail(kind, message):
    print(f"{kind}: {message}", file=sys.stderr)
    sys.exit(EXIT[kind])


def list_folders(rc):
    s = rc_settings(rc)
    host, port, tls, user = s["Host"], int(s["Port"]), s["TLSType"], s["User"]
    # What mbsync's PassCmd reads: the password file beside RCFILE, or the access token that
    # import-oauth2.py refreshed for this run (XOAUTH2).
    secret_file = s["PassCmd"].removeprefix("cat ")
    xoauth2 = s.get("AuthMechs") == "XOAUTH2"
    with open(secret_file, encoding="utf-8") as f:
        password = f.read().rstrip("\n")
    where = f"{host} port {port}"
    ctx = ssl.create_default_context()
    try:
        if tls == "IMAPS":
            imap = imaplib.IMAP4_SSL(host, port, ssl_context=ctx, timeout=30)
        else:
            imap = imaplib.IMAP4(host, port, timeout=30)
            imap.starttls(ssl_context=ctx)
    except ssl.SSLCertVerificationError as e:
        fail("certificate", f"the certificate of {where} does not verify ({e.verify_message}): "
             "nothing was imported; check mailstack:imports host (the name on its certificate)")
    except (OSError, imaplib.IMAP4.error) as e:
        reason = e.strerror or str(e) if isinstance(e, OSError) else str(e)
        fail("unreachable", f"cannot reach {where}: {reason}; check mailstack:imports host and port "
             "(the cloud firewall opens that port)")
    try:
        if xoauth2:
            # The SASL XOAUTH2 initial response, as mbsync's Cyrus SASL plugin sends it; a
            # refusal comes as a challenge with the error (JSON), answered with nothing.
            xoauth2_response = f"user={user}\x01auth=Bearer {password}\x01\x01".encode()
            imap.authenticate("XOAUTH2", lambda challenge: b"" if challenge else xoauth2_response)
        else:
            imap.login(user, password)
    except imaplib.IMAP4.error as e:
        text = str(e).strip("b'\"")
        if xoauth2:
            fail("login", f"{host} refused the XOAUTH2 login of {user} with a fresh access token: {text}; "
                 "the app needs the IMAP permission (IMAP.AccessAsUser.All) and the mailbox IMAP access")
        fail("login", f"{host} refused the login of {user}: {text}; check mailstack:importPasswords "
             "(Gmail takes an app password only; Microsoft 365 and Outlook.com take no password over IMAP)")
    typ, data = imap.list()
    if typ != "OK":
        fail("other", f"{host} did not list its folders: {typ}")
    lines = response_lines(data)
    try:
        imap.logout()
    except Exception:
        pass
    return lines


def main():
    log = lambda m: print(m, file=sys.stderr)
    if sys.argv[1:] == ["--map"]:
        lines = [l.rstrip("\r\n") for l in sys.stdin]
    else:
        lines = list_folders(sys.argv[1])
    folders = mapping(lines, log)
    if not folders:
        fail("other", "the old account lists no folder to import")
    print(channels(folders))


if __name__ == "__main__":
    main()
