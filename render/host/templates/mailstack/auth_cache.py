# {{path}} - rendered by mailstack (render/host/templates/mailstack/auth_cache.py).
#
# Dovecot's authentication cache (README "Logins that cost no hash when repeated"): after
# bcrypt has accepted a main password, Dovecot's auth process keeps a SHA1 of it for that
# user until the entry expires. mailstack-passwords imports this module and, after every
# write of Dovecot's passwd-file, has Dovecot forget each user whose row changed (a changed or
# reset password, the second factor turned on or off, a removed mailbox): the row holds from
# the next login, not when the entry expires. App passwords are not in this cache.
import os
import subprocess
import sys
import time

# Dovecot's auth_cache_ttl: how long an entry that could not be flushed may still answer.
CACHE_TTL = "{{cacheTtl}}"


def changed_users(before, after):
    """The addresses whose passwd-file row was added, removed or changed (rows as field lists)."""
    old = {r[0]: r for r in before}
    new = {r[0]: r for r in after}
    return sorted(a for a in set(old) | set(new) if old.get(a) != new.get(a))


def flush_changed(before, after, auth_master, tries=3, pause=1.0):
    """doveadm auth cache flush for those users: 0, or 1 if Dovecot could not be told (asked
    `tries` times, `pause` seconds apart: a reload of Dovecot replaces its auth process). No
    auth process (no socket at `auth_master`: a first boot, Dovecot stopped), no cache to flush."""
    users = changed_users(before, after)
    if not users or not os.path.exists(auth_master):
        return 0
    for attempt in range(1, tries + 1):
        r = subprocess.run(["doveadm", "auth", "cache", "flush", *users], stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
        if r.returncode == 0:
            print(f"mailstack-passwords: the authentication cache forgot {', '.join(users)}", file=sys.stderr, flush=True)
            return 0
        print(f"mailstack-passwords: doveadm auth cache flush failed (try {attempt} of {tries}): {r.stderr.strip()}", file=sys.stderr, flush=True)
        if attempt < tries:
            time.sleep(pause)
    print(
        f"mailstack-passwords: Dovecot still caches the old login of {', '.join(users)}: the password their row replaced"
        f" may open logins for up to {CACHE_TTL} more (auth_cache_ttl). Run: doveadm auth cache flush {' '.join(users)}",
        file=sys.stderr,
        flush=True,
    )
    return 1
