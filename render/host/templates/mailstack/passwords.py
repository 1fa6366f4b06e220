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
#                               restore moved aside) set after the snapshot's is kept
#   mailstack-passwords serve   one change request on stdin, a unix socket from systemd
#                               ({{socket}}, group www-data): {"user", "current", "new",
#                               "name", "origin"} as one JSON line; answers {"ok": ...}.
#                               The current password is required, so the webmail can change
#                               only the hash of a user whose password it holds: the one
#                               logged in. www-data never writes a password file.
import fcntl
import ipaddress
import json
import re
import os
import pwd
import grp
import socket
import struct
import subprocess
import sys
import time

ROOT = os.environ.get("MAILSTACK_PASSWORDS_ROOT", "")
CONFIGURED = ROOT + "{{configured}}"
EFFECTIVE = ROOT + "{{effective}}"
USER_SET = ROOT + "{{userSet}}"
LOCK = ROOT + "{{userSet}}.lock"
MIN_LENGTH = {{minLength}}
# bcrypt reads only the first 72 bytes; a longer password is refused, never cut.
MAX_BYTES = 72
BCRYPT_COST = {{bcryptCost}}
# A wrong current password costs the asker this long (with the socket's MaxConnections, a
# guesser through the webmail is slower here than at Dovecot's own login).
FAILURE_DELAY_SECONDS = 2


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


def user_set_rows():
    """address -> (hash, generation, epoch) from the volume."""
    rows = read_rows(USER_SET) or []
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
    kept = {}
    out = []
    for row in configured:
        address, generation = row[0], row[4]
        mine = user_set.get(address)
        if mine is not None and mine[1] == generation:
            kept[address] = mine
            row = [address, mine[0], *row[2:]]
        out.append(":".join(row) + "\n")
    for address in sorted(set(user_set) - set(kept)):
        why = "the mailbox is gone" if address not in {r[0] for r in configured} else "reset by the stack config"
        log(f"mailstack-passwords: {address}: the password the user set is dropped ({why})")
    if kept != user_set:
        write_user_set(kept)
    write_atomic(EFFECTIVE, "".join(out), 0o640, "dovecot")
    return 0


def keep_newer_locked(older_state):
    """After `mailstack-restore all`: a password a user set after the snapshot was taken (in
    the accounts folder the restore moved aside) stays theirs; restoring mail never brings
    back a password they replaced, perhaps because it was stolen. apply decides after it."""
    rows = user_set_rows()
    theirs = read_rows(older_state) or []
    for r in theirs:
        if len(r) != 4:
            continue
        address, hashed, generation, at = r
        mine = rows.get(address)
        if mine is None or int(at) > int(mine[2]):
            rows[address] = (hashed, generation, at)
            log(f"mailstack-passwords: {address}: keeps the password set after the snapshot")
    write_user_set(rows)
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


def change(user, current, new, name, origin):
    configured = read_rows(CONFIGURED) or []
    row = next((r for r in configured if r[0] == user), None)
    effective = next((r for r in (read_rows(EFFECTIVE) or []) if r[0] == user), None)
    if row is None or effective is None or not verify(current, effective[1]):
        log(f"mailstack-passwords: password change refused for {user}: wrong current password (from {origin})")
        time.sleep(FAILURE_DELAY_SECONDS)
        return {"ok": False, "error": "the current password is wrong"}
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

    if with_lock(store) != 0:
        return {"ok": False, "error": "internal error"}
    log(f"mailstack-passwords: {user} changed their password (from {origin})")
    return {"ok": True}


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
        user = str(req["user"]).lower()
        current, new = str(req["current"]), str(req["new"])
        name, origin = str(req.get("name", "")), str(req.get("origin", ""))
        # Both go to the journal, which fail2ban reads: nothing in them may pass for more.
        if not re.fullmatch(r"[^\s@:]+@[a-z0-9.-]+", user):
            raise ValueError(user)
        try:
            origin = str(ipaddress.ip_address(origin))
        except ValueError:
            origin = "unknown"
    except (ValueError, KeyError, UnicodeDecodeError):
        sock.sendall(b'{"ok": false, "error": "bad request"}\n')
        return 1
    answer = change(user, current, new, name, origin)
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
