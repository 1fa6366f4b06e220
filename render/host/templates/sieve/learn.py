#!/usr/bin/python3
# {{path}} - rendered by mailstack (render/host/templates/sieve/learn.py).
#
# Called by Dovecot's IMAPSieve (report-{{class}}.sieve, vnd.dovecot.pipe) as vmail, with the
# message on stdin, when a user moves mail {{direction}} Junk. rspamd's controller learns
# only with its password (worker-controller.inc); it is read from {{passwordFile}}
# (root and group vmail only) and sent in a header, never on a command line that any local
# account could read (rspamc -P).
import sys
import urllib.error
import urllib.request

with open("{{passwordFile}}", encoding="utf-8") as f:
    password = f.read().strip()
request = urllib.request.Request(
    "http://{{controller}}/learn{{class}}",
    data=sys.stdin.buffer.read(),
    method="POST",
    headers={"Password": password},
)
# Straight to loopback, whatever proxy the environment names.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(request, timeout=10) as reply:
        print(reply.read().decode("utf-8", "replace"))
except urllib.error.HTTPError as e:
    sys.exit(f"learn-{{class}}: rspamd's controller answered {e.code}: {e.read()[:200].decode('utf-8', 'replace')}")
except OSError as e:
    sys.exit(f"learn-{{class}}: rspamd's controller: {e}")
