# {{path}} - rendered by mailstack (render/host/templates/mailstack/totp.py).
#
# The codes of the webmail's second factor, for mailstack-passwords (which keeps the secrets
# and the last time step used, and imports this): TOTP (RFC 6238) as every authenticator app
# reads an otpauth:// URI by default: HMAC-SHA-1, 6 digits, 30 s steps, one step either side.
# And the secrets nobody chose, kept as salted SHA-512 hashes: the one-time recovery codes,
# and the app passwords (Dovecot checks those itself, {SSHA512}).
import base64
import hashlib
import hmac
import re
import secrets
import struct
import time

TOTP_STEP_SECONDS = 30
TOTP_DIGITS = 6
# One step either side: a phone's clock a little off, a code typed as it changes.
TOTP_WINDOW = 1


def hotp(key, counter, digits=TOTP_DIGITS):
    """RFC 4226: HMAC-SHA-1 of the counter, dynamically truncated to `digits` decimal digits."""
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def totp(key, at, digits=TOTP_DIGITS):
    """RFC 6238: the code of the time step `at` (unix time) falls in."""
    return hotp(key, int(at) // TOTP_STEP_SECONDS, digits)


def totp_step(secret, code, last_step, at=None):
    """The time step `code` belongs to, within the window and after `last_step` (a code is
    used once), or None."""
    if not re.fullmatch(r"[0-9]{%d}" % TOTP_DIGITS, code):
        return None
    key = base64.b32decode(secret)
    now = int(time.time() if at is None else at) // TOTP_STEP_SECONDS
    found = None
    for step in range(now - TOTP_WINDOW, now + TOTP_WINDOW + 1):
        if hmac.compare_digest(hotp(key, step), code) and step > last_step:
            found = step
    return found


def app_hash(password):
    """{SSHA512}: one salted SHA-512, as Dovecot verifies it. Enough for 16 random letters."""
    salt = secrets.token_bytes(16)
    digest = hashlib.sha512(password.encode("utf-8") + salt).digest()
    return "{SSHA512}" + base64.b64encode(digest + salt).decode("ascii")


def new_app_secret():
    """16 random lower-case letters (75 bits) in four groups: easy to type on a phone."""
    letters = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(16))
    return "-".join(letters[i : i + 4] for i in range(0, 16, 4))


def recovery_code():
    """10 random lower-case letters and digits (51 bits) in two groups; each opens once."""
    chars = "".join(secrets.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(10))
    return chars[:5] + "-" + chars[5:]


def ssha512_matches(password, hashed):
    raw = base64.b64decode(hashed[len("{SSHA512}") :])
    digest, salt = raw[:64], raw[64:]
    return hmac.compare_digest(hashlib.sha512(password.encode("utf-8") + salt).digest(), digest)
