#!/usr/bin/python3
# /usr/local/sbin/mailstack-sender-milter - written by the mailstack user-data.
#
# Postfix checks the envelope sender of a logged-in user (reject_sender_login_mismatch), but
# OpenDKIM signs for the domain in the From: header. Without this milter any user could put
# another user's address, or another hosted domain's postmaster, in From: and get a valid
# DKIM signature for it. On 587/465 only (master.cf), before OpenDKIM: every From: address
# must be one the login owns in /etc/postfix/mailstack/sender-logins (the same table
# Postfix uses for the envelope), which is re-read whenever mail-data changes it.
import email.utils
import os
import sys

import Milter

TABLE = "/etc/postfix/mailstack/sender-logins"
# A unix socket only postfix may open (group {{milterUser}}, 0660 by the unit's UMask); the
# unit makes its directory, and Milter.runmilter removes a socket left by a crash.
SOCKET = "unix:{{socket}}"

_owners = {}
_mtime = None


def owners():
    """address -> set of logins, from the texthash table (re-read when it changes)."""
    global _owners, _mtime
    try:
        mtime = os.stat(TABLE).st_mtime_ns
    except OSError:
        return _owners
    if mtime != _mtime:
        table = {}
        with open(TABLE, encoding="utf-8") as f:
            for line in f:
                fields = line.split()
                if len(fields) == 2 and not fields[0].startswith("#"):
                    table[fields[0].lower()] = {x.lower() for x in fields[1].split(",")}
        _owners, _mtime = table, mtime
    return _owners


class SenderMilter(Milter.Base):
    def __init__(self):
        self.login = None
        self.from_headers = []

    def envfrom(self, mailfrom, *params):
        # Postfix sends {auth_authen} with MAIL FROM for a logged-in client.
        self.login = (self.getsymval("{auth_authen}") or "").lower() or None
        self.from_headers = []
        return Milter.CONTINUE

    def header(self, name, value):
        if name.lower() == "from":
            self.from_headers.append(value)
        return Milter.CONTINUE

    def eom(self):
        if self.login is None:
            return Milter.ACCEPT
        addresses = [a.lower() for _, a in email.utils.getaddresses(self.from_headers) if a]
        if len(self.from_headers) != 1 or not addresses:
            self.setreply("550", "5.7.1", "The message needs exactly one From: header with your address")
            return Milter.REJECT
        table = owners()
        foreign = [a for a in addresses if self.login not in table.get(a, ())]
        if foreign:
            print(f"mailstack-sender-milter: refused From: {', '.join(foreign)} for login {self.login}", flush=True)
            self.setreply("550", "5.7.1", f"From: {foreign[0]} is not an address of {self.login}")
            return Milter.REJECT
        return Milter.ACCEPT


def main():
    Milter.factory = SenderMilter
    Milter.set_flags(0)
    print(f"mailstack-sender-milter: listening on {SOCKET}", flush=True)
    Milter.runmilter("mailstack-sender-milter", SOCKET, timeout=60)


if __name__ == "__main__":
    sys.exit(main())
