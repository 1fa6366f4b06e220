#!/usr/bin/python3
# {{helper}} - rendered by mailstack (render/host/templates/mailstack/passwords.py).
#
# Who owns a mailbox password. The stack config sets the first one (mail-data renders its
# hash into {{configured}}, with a generation: a digest of that hash and the config's reset
# marker). The user may then set their own in the webmail; that hash lives on the mail volume
# ({{userSet}}: backed up, kept by a replaced or restored server, never in Pulumi's state),
# stamped with the generation it replaced. Dovecot reads {{effective}}, which this script
# writes from the two: the user's hash while its generation is the configured one, else the
# configured hash. So a new configured password, or a new reset marker, takes the password
# back; any other `pulumi up` keeps the user's.
#
#   mailstack-passwords apply   rewrite {{effective}} (mail-data runs it when {{configured}}
#                               changed; mailstack-restore after a restore)
#   mailstack-passwords keep-newer FILE
#                               after a restore: a user's password in FILE (the one the
#                               restore moved aside) set after the snapshot's is kept, and
#                               the app passwords beside FILE replace the snapshot's
#   mailstack-passwords serve   one request on stdin, a unix socket from systemd
#                               ({{socket}}, group www-data), as one JSON line; answers
#                               {"ok": ...}. Every request names the user and carries that
#                               user's current password ("current"), checked against the
#                               hash Dovecot uses, so the webmail can act only for a user
#                               whose password it holds: the one logged in. www-data never
#                               writes a password file. "action" is one of:
#       change      {"new", "name"}: set the user's own password
#       app-list    the user's app passwords: name, protocols, created, last used
#       app-create  {"label", "protocols"}: a new app password, answered once ("password")
#       app-revoke  {"id"}: remove one of the user's app passwords
#       totp-status  whether the second factor is off, pending or on, and recovery codes left
#       totp-begin   a new secret, pending until confirmed (answered once: "secret")
#       totp-confirm {"code"}: a code of the pending secret turns the second factor on;
#                    answers the recovery codes, once ("recoveryCodes")
#       totp-login   {"code"}: the webmail's login, asked only once Dovecot took the password
#                    (the plugin's login_after): a code (or a recovery code, used up) is
#                    needed when the second factor is on
#       totp-disable {"code"}: turns the second factor off
#
# The second factor for the webmail (README "Second factor"; the codes: {{totpModule}}): the
# secrets live on the mail volume ({{userTotp}}, 0600 root), which www-data never reads. For a
# user with it on, apply writes {{allowRealNets}} on their passwd-file row: the main password
# then opens only logins from the server itself (the webmail, after its code); a reset by the
# stack config turns it off, as it revokes the app passwords.
#
# App passwords (README "App passwords") live on the mail volume too ({{userApps}}), each
# stamped with the configured generation it was made under: a reset by the stack config
# revokes them with the user's own password. Dovecot's Lua passdb reads {{effectiveApps}},
# written from them (address:id:protocols:hash, 0600 root), and notes each one's last use in
# {{lastUsedDir}}/<id>.
import base64
import fcntl
import ipaddress
import json
import re
import os
import secrets
import pwd
import grp
import socket
import struct
import subprocess
import sys
import time

ROOT = os.environ.get("MAILSTACK_PASSWORDS_ROOT", "")
sys.path.insert(0, ROOT + "{{totpDir}}")
from totp import app_hash, new_app_secret, recovery_code, ssha512_matches, totp_step  # noqa: E402
from auth_cache import CACHE_TTL, flush_changed  # noqa: E402

CONFIGURED = ROOT + "{{configured}}"
EFFECTIVE = ROOT + "{{effective}}"
USER_SET = ROOT + "{{userSet}}"
LOCK = ROOT + "{{userSet}}.lock"
USER_APPS = ROOT + "{{userApps}}"
EFFECTIVE_APPS = ROOT + "{{effectiveApps}}"
LAST_USED_DIR = ROOT + "{{lastUsedDir}}"
USER_TOTP = ROOT + "{{userTotp}}"
AUTH_MASTER = ROOT + "{{authMaster}}"
# What a user may limit an app password to, and the protocol names Dovecot's Lua passdb sees
# for each (Postfix asks for submission as smtp, Radicale as radicale).
APP_PROTOCOLS = {"mail": ["imap", "pop3"], "submission": ["smtp"], "sieve": ["sieve"], "dav": ["radicale"]}
MAX_APP_PASSWORDS = 20
APP_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,31}")
MIN_LENGTH = {{minLength}}
# bcrypt reads only the first 72 bytes; a longer password is refused, never cut.
MAX_BYTES = 72
BCRYPT_COST = {{bcryptCost}}
RECOVERY_CODES = 10
# What the passdb row of a user with the second factor on carries (docs/design.md, "Logins").
ALLOW_REAL_NETS = "{{allowRealNets}}"
# A wrong current password or code costs the asker this long (with the socket's
# MaxConnections, a guesser holding www-data is slower here than at Dovecot's own login). The
# webmail's login form never brings a wrong password here: Dovecot judges it first, so
# guessers cannot hold the few connections every login needs. Tests under a temporary root
# may shorten it.
FAILURE_DELAY_SECONDS = float(os.environ.get("MAILSTACK_PASSWORDS_FAILURE_DELAY", "{{failureDelay}}")) if ROOT else {{failureDelay}}


def log(message):
    print(message, file=sys.stderr, flush=True)


def read_rows(path):
    """passwd-file rows as field lists; comments and blank lines skipped. None if absent."""
    try:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except FileNotFoundError:
        return None


def write_atomic(path, text, mode, group):
    """Replace `path` in one rename. Dovecot re-reads a passwd-file when its mtime (whole
    seconds) or size changes; a bcrypt hash never changes the size, so the new file's mtime is
    pushed past the old one's: a change within the same second is not missed."""
    old_mtime = None
    try:
        old_mtime = int(os.stat(path).st_mtime)
    except FileNotFoundError:
        pass
    tmp = f"{path}.new.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    gid = 0 if ROOT else grp.getgrnam(group).gr_gid
    if not ROOT:
        os.chown(tmp, 0, gid)
    os.chmod(tmp, mode)
    now = int(time.time())
    stamp = now if old_mtime is None or now > old_mtime else old_mtime + 1
    os.utime(tmp, (stamp, stamp))
    os.rename(tmp, path)


def user_set_rows(path=USER_SET):
    """address -> (hash, generation, epoch) from the volume (or a copy the restore moved aside)."""
    rows = read_rows(path) or []
    return {r[0]: (r[1], r[2], r[3]) for r in rows if len(r) == 4}


def write_user_set(rows):
    os.makedirs(os.path.dirname(USER_SET), mode=0o700, exist_ok=True)
    text = "# address:hash:generation it replaced:set at (unix time) - written by mailstack-passwords\n"
    text += "".join(f"{a}:{h}:{g}:{t}\n" for a, (h, g, t) in sorted(rows.items()))
    write_atomic(USER_SET, text, 0o600, "root")


def apply_locked():
    configured = read_rows(CONFIGURED)
    if configured is None:
        log(f"mailstack-passwords: {CONFIGURED} is missing (the mail-data step writes it)")
        return 1
    user_set = user_set_rows()
    second_factor = apply_totp({r[0]: r[4] for r in configured})
    kept = {}
    out = []
    for row in configured:
        address, generation = row[0], row[4]
        mine = user_set.get(address)
        if mine is not None and mine[1] == generation:
            kept[address] = mine
            row = [address, mine[0], *row[2:]]
        out.append(passdb_line(row, address in second_factor) + "\n")
    for address in sorted(set(user_set) - set(kept)):
        why = "the mailbox is gone" if address not in {r[0] for r in configured} else "reset by the stack config"
        log(f"mailstack-passwords: {address}: the password the user set is dropped ({why})")
    if kept != user_set:
        write_user_set(kept)
    before = read_rows(EFFECTIVE) or []
    write_atomic(EFFECTIVE, "".join(out), 0o640, "dovecot")
    apply_apps({r[0]: r[4] for r in configured})
    return flush_changed(before, read_rows(EFFECTIVE) or [], AUTH_MASTER)


def passdb_line(row, webmail_only):
    """The passwd-file row; with the second factor on, the main password only from the server
    itself. Extra fields are the 8th column on, space-separated (Dovecot joins the columns
    after the 7th with ":" again, so IPv6 networks are safe there)."""
    if not webmail_only:
        return ":".join(row)
    row = row + [""] * (8 - len(row))
    extra = ":".join(row[7:])
    return ":".join(row[:7]) + ":" + (extra + " " if extra else "") + ALLOW_REAL_NETS


def totp_rows(path=None):
    """[address, secret, state (pending|on), last step used, recovery hashes, generation, since]."""
    return [r for r in (read_rows(path or USER_TOTP) or []) if len(r) == 7]


def write_totp_rows(rows):
    os.makedirs(os.path.dirname(USER_TOTP), mode=0o700, exist_ok=True)
    text = "# address:secret (base32):pending|on:last time step used:recovery code hashes:generation it was made under:since (unix time) - written by mailstack-passwords\n"
    text += "".join(":".join(r) + "\n" for r in rows)
    write_atomic(USER_TOTP, text, 0o600, "root")


def apply_totp(generations):
    """The addresses with the second factor on. Like app passwords, a second factor of a
    mailbox that is gone or whose password the stack config reset is dropped."""
    rows = totp_rows()
    kept = [r for r in rows if generations.get(r[0]) == r[5]]
    for r in rows:
        if r not in kept:
            log(f"mailstack-passwords: {r[0]}: the second factor is turned off (the mailbox is gone or its password was reset by the stack config)")
    if kept != rows:
        write_totp_rows(kept)
    return {r[0] for r in kept if r[2] == "on"}


def app_rows():
    """[address, id, label, groups, hash, generation, created] from the volume."""
    return [r for r in (read_rows(USER_APPS) or []) if len(r) == 7]


def write_app_rows(rows):
    os.makedirs(os.path.dirname(USER_APPS), mode=0o700, exist_ok=True)
    text = "# address:id:label:protocols:hash:generation it was made under:created at (unix time) - written by mailstack-passwords\n"
    text += "".join(":".join(r) + "\n" for r in rows)
    write_atomic(USER_APPS, text, 0o600, "root")


def apply_apps(generations):
    """Dovecot's app-password file from the volume's: only those of existing mailboxes made
    under the current configured generation (a reset by the config revokes them)."""
    rows = app_rows()
    kept = [r for r in rows if generations.get(r[0]) == r[5]]
    for r in rows:
        if r not in kept:
            log(f"mailstack-passwords: {r[0]}: app password {r[2]!r} dropped (the mailbox is gone or its password was reset by the stack config)")
            try:
                os.unlink(os.path.join(LAST_USED_DIR, r[1]))
            except FileNotFoundError:
                pass
    if kept != rows:
        write_app_rows(kept)
    lines = []
    for address, ident, _label, groups, hashed, _generation, _created in kept:
        protocols = [p for g in groups.split(",") if g in APP_PROTOCOLS for p in APP_PROTOCOLS[g]]
        lines.append(f"{address}:{ident}:{','.join(protocols)}:{hashed}\n")
    os.makedirs(LAST_USED_DIR, mode=0o700, exist_ok=True)
    write_atomic(EFFECTIVE_APPS, "".join(lines), 0o600, "root")


def keep_newer_locked(older_state):
    """After `mailstack-restore all`: a password a user set after the snapshot was taken (in
    the accounts folder the restore moved aside) stays theirs; restoring mail never brings
    back a password they replaced, perhaps because it was stolen. apply decides after it."""
    rows = user_set_rows()
    for address, (hashed, generation, at) in user_set_rows(older_state).items():
        mine = rows.get(address)
        if mine is None or int(at) > int(mine[2]):
            rows[address] = (hashed, generation, at)
            log(f"mailstack-passwords: {address}: keeps the password set after the snapshot")
    write_user_set(rows)
    # App passwords: the list as it was before the restore, whole. Restoring mail neither
    # revives one revoked since the snapshot (perhaps stolen) nor drops one made since.
    theirs_apps = os.path.join(os.path.dirname(older_state), os.path.basename(USER_APPS))
    if os.path.exists(theirs_apps):
        write_app_rows([r for r in (read_rows(theirs_apps) or []) if len(r) == 7])
        log("mailstack-passwords: the app passwords are those of before the restore")
    # The second factor likewise: a secret turned off (or replaced) since the snapshot stays so.
    theirs_totp = os.path.join(os.path.dirname(older_state), os.path.basename(USER_TOTP))
    if os.path.exists(theirs_totp):
        write_totp_rows(totp_rows(theirs_totp))
        log("mailstack-passwords: the second factors are those of before the restore")
    return 0


def with_lock(fn, *args):
    os.makedirs(os.path.dirname(LOCK), mode=0o700, exist_ok=True)
    with open(LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return fn(*args)


def doveadm_pw(args, stdin):
    """doveadm pw reads the password from stdin when it is no terminal: never on a command line."""
    return subprocess.run(["doveadm", "pw", *args], input=stdin, capture_output=True, text=True, check=False)


def verify(password, hashed):
    return doveadm_pw(["-t", hashed], password + "\n").returncode == 0


def new_hash(password):
    r = doveadm_pw(["-s", "BLF-CRYPT", "-r", str(BCRYPT_COST)], f"{password}\n{password}\n")
    out = r.stdout.strip()
    if r.returncode != 0 or not out.startswith("{BLF-CRYPT}$2") or ":" in out:
        raise RuntimeError(f"doveadm pw failed: {r.stderr.strip()}")
    return out


def weakness(user, password, name):
    """Why the new password is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"too short: at least {MIN_LENGTH} characters"
    if len(password.encode("utf-8")) > MAX_BYTES:
        return f"too long: at most {MAX_BYTES} bytes"
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        return "control characters are not allowed"
    lower = password.lower()
    local, _, domain = user.partition("@")
    words = [user, local, domain.split(".")[0]] + [w for w in name.lower().split() if len(w) >= 3]
    for word in words:
        if len(word) >= 3 and word.lower() in lower:
            return "it must not contain your address or your name"
    return None


def configured_row(user, current, origin, what):
    """The user's configured row when `current` is the password Dovecot takes for them, else
    None after the failure delay (logged for fail2ban)."""
    configured = read_rows(CONFIGURED) or []
    row = next((r for r in configured if r[0] == user), None)
    effective = next((r for r in (read_rows(EFFECTIVE) or []) if r[0] == user), None)
    if row is None or effective is None or not verify(current, effective[1]):
        log(f"mailstack-passwords: {what} refused for {user}: wrong current password (from {origin})")
        time.sleep(FAILURE_DELAY_SECONDS)
        return None
    return row


WRONG_CURRENT = {"ok": False, "error": "the current password is wrong"}
# What the user is told when a change is stored but Dovecot's cache could not be flushed.
STALE_LOGIN = f"The server could not clear its login cache: until it expires (at most {CACHE_TTL}), mail apps may still log in as before."


def change(user, current, new, name, origin):
    row = configured_row(user, current, origin, "password change")
    if row is None:
        return WRONG_CURRENT
    why = weakness(user, new, name)
    if why is None and new == current:
        why = "it is the current password"
    if why is not None:
        return {"ok": False, "error": why}
    hashed = new_hash(new)

    def store():
        rows = user_set_rows()
        rows[user] = (hashed, row[4], str(int(time.time())))
        write_user_set(rows)
        return apply_locked()

    stale = with_lock(store) != 0
    log(f"mailstack-passwords: {user} changed their password (from {origin})")
    # The new hash is written either way; a failed flush of Dovecot's cache (apply logged it) is told.
    return {"ok": True, "warning": STALE_LOGIN} if stale else {"ok": True}


def last_used(ident):
    try:
        with open(os.path.join(LAST_USED_DIR, ident), encoding="ascii") as f:
            return int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return None


def app_list(user):
    return [
        {"id": r[1], "label": r[2], "protocols": r[3].split(","), "created": int(r[6]), "lastUsed": last_used(r[1])}
        for r in app_rows()
        if r[0] == user
    ]


def app_passwords(action, user, current, req, origin):
    """app-list, app-create and app-revoke: only ever on `user`'s own app passwords."""
    row = configured_row(user, current, origin, "app passwords")
    if row is None:
        return WRONG_CURRENT
    if action == "app-list":
        return {"ok": True, "appPasswords": app_list(user)}
    if action == "app-create":
        label = str(req.get("label", "")).strip()
        groups = [str(g) for g in req.get("protocols") or []] or list(APP_PROTOCOLS)
        if not APP_LABEL.fullmatch(label):
            return {"ok": False, "error": "a name of 1 to 32 letters, digits, spaces, dots, dashes or underscores"}
        if any(g not in APP_PROTOCOLS for g in groups):
            return {"ok": False, "error": "unknown protocol"}
        mine = app_list(user)
        if any(a["label"] == label for a in mine):
            return {"ok": False, "error": "an app password of that name exists"}
        if len(mine) >= MAX_APP_PASSWORDS:
            return {"ok": False, "error": f"at most {MAX_APP_PASSWORDS} app passwords"}
        secret = new_app_secret()
        ident = secrets.token_hex(8)
        groups = [g for g in APP_PROTOCOLS if g in groups]
        new_row = [user, ident, label, ",".join(groups), app_hash(secret), row[4], str(int(time.time()))]

        def store():
            write_app_rows(app_rows() + [new_row])
            return apply_locked()

        if with_lock(store) != 0:
            return {"ok": False, "error": "internal error"}
        log(f"mailstack-passwords: {user} created app password {label!r} for {','.join(groups)} (from {origin})")
        return {"ok": True, "id": ident, "label": label, "password": secret}
    if action == "app-revoke":
        ident = str(req.get("id", ""))

        def drop():
            rows = app_rows()
            left = [r for r in rows if not (r[0] == user and r[1] == ident)]
            if left == rows:
                return None
            write_app_rows(left)
            return apply_locked()

        result = with_lock(drop)
        if result is None:
            return {"ok": False, "error": "no such app password"}
        if result != 0:
            return {"ok": False, "error": "internal error"}
        try:
            os.unlink(os.path.join(LAST_USED_DIR, ident))
        except FileNotFoundError:
            pass
        log(f"mailstack-passwords: {user} revoked app password {ident} (from {origin})")
        return {"ok": True}
    return {"ok": False, "error": "bad request"}


def totp_status(user):
    row = next((r for r in totp_rows() if r[0] == user), None)
    if row is None:
        return {"ok": True, "totp": "off"}
    return {"ok": True, "totp": row[2], "recoveryLeft": len([h for h in row[4].split(",") if h])}


def second_factor(action, user, current, req, origin):
    """totp-*: only ever on `user`'s own second factor, with their main password as the proof."""
    what = "webmail login" if action == "totp-login" else "second factor"
    row = configured_row(user, current, origin, what)
    if row is None:
        return WRONG_CURRENT
    generation = row[4]
    code = re.sub(r"\s", "", str(req.get("code", ""))).lower()
    if re.fullmatch(r"[a-z0-9]{10}", code):
        code = code[:5] + "-" + code[5:]
    if action == "totp-status":
        return totp_status(user)
    if action == "totp-begin":
        secret = base64.b32encode(secrets.token_bytes(20)).decode("ascii")

        def begin():
            rows = totp_rows()
            if any(r[0] == user and r[2] == "on" for r in rows):
                return False
            rows = [r for r in rows if r[0] != user]
            write_totp_rows(rows + [[user, secret, "pending", "0", "", generation, str(int(time.time()))]])
            return True

        if not with_lock(begin):
            return {"ok": False, "error": "the second factor is on already"}
        return {"ok": True, "secret": secret}

    def check(on_match):
        """Runs on_match(rows, row, used recovery hash or None, step) under the lock when
        `code` opens `user`'s second factor; False when it does not, None without one."""

        def locked():
            rows = totp_rows()
            mine = next((r for r in rows if r[0] == user), None)
            if mine is None or (mine[2] != "on") != (action == "totp-confirm"):
                return None
            step = totp_step(mine[1], code, int(mine[3]))
            used = None
            if step is None and action != "totp-confirm":
                used = next((h for h in mine[4].split(",") if h and ssha512_matches(code, h)), None)
            if step is None and used is None:
                return False
            return on_match(rows, mine, used, step)

        return with_lock(locked)

    def refused():
        log(f"mailstack-passwords: second factor refused for {user}: wrong code (from {origin})")
        time.sleep(FAILURE_DELAY_SECONDS)
        return {"ok": False, "error": "the code is wrong"}

    def replace(rows, mine, new):
        write_totp_rows([new if r is mine else r for r in rows if new is not None or r is not mine])

    if action == "totp-login":

        def login(rows, mine, used, step):
            hashes = [h for h in mine[4].split(",") if h and h != used]
            replace(rows, mine, [*mine[:3], str(step if step is not None else mine[3]), ",".join(hashes), *mine[5:]])
            return "recovery code" if used else "code"

        if not code and totp_status(user)["totp"] != "on":
            return {"ok": True, "secondFactor": False}
        result = check(login)
        if result is None:
            return {"ok": True, "secondFactor": False}
        if result is False:
            return refused()
        log(f"mailstack-passwords: {user} logged in to the webmail with a {result} (from {origin})")
        return {"ok": True, "secondFactor": True, "recoveryLeft": totp_status(user).get("recoveryLeft", 0)}
    # totp-confirm and totp-disable: a code of the pending (or the running) secret turns the
    # second factor on (new recovery codes, answered once) or off.
    turn_on = action == "totp-confirm"
    codes = [recovery_code() for _ in range(RECOVERY_CODES)] if turn_on else []

    def turn(rows, mine, _used, step):
        new = [user, mine[1], "on", str(step), ",".join(app_hash(c) for c in codes), generation, str(int(time.time()))]
        replace(rows, mine, new if turn_on else None)
        return "done" if apply_locked() == 0 else "failed"

    result = check(turn)
    if result is None:
        return {"ok": False, "error": "set up the second factor first" if turn_on else "the second factor is off"}
    if result is False:
        return refused()
    log(f"mailstack-passwords: {user} turned the second factor {'on' if turn_on else 'off'} (from {origin})")
    # Turned either way; a failed flush of Dovecot's cache (apply logged it) is told.
    answer = {"ok": True, "recoveryCodes": codes} if turn_on else {"ok": True}
    return {**answer, "warning": STALE_LOGIN} if result == "failed" else answer


TOTP_ACTIONS = ("totp-status", "totp-begin", "totp-confirm", "totp-login", "totp-disable")


def peer_uid(sock):
    _, uid, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return uid


def serve():
    sock = socket.socket(fileno=sys.stdin.fileno())
    # SO_PEERCRED: the kernel's word for who connected. The socket is 0660 root:www-data
    # already; this keeps any other process that ever gets the group out too.
    uid = peer_uid(sock)
    if uid not in (0, pwd.getpwnam("www-data").pw_uid):
        log(f"mailstack-passwords: refused a request from uid {uid}")
        return 1
    sock.settimeout(10)
    data = b""
    while not data.endswith(b"\n") and len(data) < 4096:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    try:
        req = json.loads(data.decode("utf-8"))
        action = str(req.get("action", "change"))
        user = str(req["user"]).lower()
        current = str(req["current"])
        new = str(req["new"]) if action == "change" else ""
        name, origin = str(req.get("name", "")), str(req.get("origin", ""))
        # Both go to the journal, which fail2ban reads: nothing in them may pass for more.
        if not re.fullmatch(r"[^\s@:]+@[a-z0-9.-]+", user):
            raise ValueError(user)
        try:
            origin = str(ipaddress.ip_address(origin))
        except ValueError:
            origin = "unknown"
        if action not in ("change", "app-list", "app-create", "app-revoke", *TOTP_ACTIONS):
            raise ValueError(action)
        if action == "app-revoke" and not re.fullmatch(r"[0-9a-f]{16}", str(req.get("id", ""))):
            raise ValueError("id")
    except (ValueError, KeyError, UnicodeDecodeError, AttributeError, TypeError):
        sock.sendall(b'{"ok": false, "error": "bad request"}\n')
        return 1
    if action == "change":
        answer = change(user, current, new, name, origin)
    elif action in TOTP_ACTIONS:
        answer = second_factor(action, user, current, req, origin)
    else:
        answer = app_passwords(action, user, current, req, origin)
    sock.sendall((json.dumps(answer) + "\n").encode("utf-8"))
    return 0


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "apply":
        return with_lock(apply_locked)
    if command == "keep-newer" and len(sys.argv) == 3:
        return with_lock(keep_newer_locked, sys.argv[2])
    if command == "serve":
        return serve()
    print("usage: mailstack-passwords apply|keep-newer <moved-aside file>|serve", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
