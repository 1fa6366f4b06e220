# {{path}} - rendered by mailstack (render/host/templates/radicale/mailstack_dovecot_auth.py).
#
# Radicale's login check against Dovecot's auth socket, in the protocol Dovecot 2.4 speaks:
# the client says VERSION first, then reads the mechanisms up to DONE, line by line. Debian
# 13's Radicale 3.5.3 ships a `dovecot` backend that waits for the mechanisms before it
# speaks (2.4 never sends them then) and reads the handshake with one recv() (with the
# listener's auth-legacy type it sometimes got only the first line, and a valid login was
# refused); Kozea/Radicale#1878 fixed it upstream after 3.5.3. Same settings as that backend:
# [auth] dovecot_socket.
import base64
import ipaddress
import itertools
import os
import socket
import threading

from radicale import auth
from radicale.log import logger


# Dovecot delays a failed login's answer by up to 15 s (its auth penalty, counted per client
# address); the wait for an answer outlasts that.
ANSWER_TIMEOUT_SECONDS = 25

# The client's address of the request this thread serves (Radicale serves each request in a
# thread of its own, and asks get_external_login just before login).
_request = threading.local()


class Auth(auth.BaseAuth):
    def __init__(self, configuration):
        super().__init__(configuration)
        self._socket = configuration.get("auth", "dovecot_socket")
        self._ids = itertools.count(1)

    def get_external_login(self, environ):
        # nginx sets X-Forwarded-For to the client's own address (it replaces what the client
        # sent), and only nginx reaches Radicale's loopback port. Dovecot then counts failed
        # logins, and delays answers, per client: without it every DAV login would share one
        # penalty, and one guesser would lock every user out.
        _request.rip = environ.get("HTTP_X_FORWARDED_FOR", "")
        return ()

    def _login(self, login, password):
        if not login or not password:
            return ""
        rip = getattr(_request, "rip", "")
        try:
            rip = str(ipaddress.ip_address(rip))
        except ValueError:
            rip = ""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(ANSWER_TIMEOUT_SECONDS)
                s.connect(self._socket)
                lines = s.makefile("rb")
                s.sendall(b"VERSION\t1\t2\nCPID\t%d\n" % os.getpid())
                mechanisms = set()
                while True:
                    line = lines.readline()
                    if not line:
                        logger.error("Dovecot closed its auth socket during the handshake")
                        return ""
                    fields = line.rstrip(b"\n").split(b"\t")
                    if fields[0] == b"VERSION" and fields[1:2] != [b"1"]:
                        logger.error("Dovecot's auth protocol is version %r, not 1", fields[1:])
                        return ""
                    if fields[0] == b"MECH" and len(fields) > 1:
                        mechanisms.add(fields[1])
                    if fields[0] == b"DONE":
                        break
                if b"PLAIN" not in mechanisms:
                    logger.error("Dovecot offers no PLAIN login")
                    return ""
                # The login and password travel inside the base64 (RFC 4616): a tab or a
                # newline in them cannot reach the protocol's own fields.
                request = next(self._ids)
                response = base64.b64encode(b"\0%s\0%s" % (login.encode(), password.encode()))
                client = b"\trip=%s" % rip.encode() if rip else b""
                s.sendall(b"AUTH\t%d\tPLAIN\tservice=radicale%s\tresp=%s\n" % (request, client, response))
                fields = lines.readline().rstrip(b"\n").split(b"\t")
                if fields[:2] == [b"OK", str(request).encode()]:
                    return login
                return ""
        except OSError as e:
            logger.error("Dovecot's auth socket %s: %s", self._socket, e)
            return ""
