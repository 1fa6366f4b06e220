#!/usr/bin/python3
# /usr/local/sbin/mailstack-submission-limit - rendered by mailstack (render/host/limits.ts).
#
# A Postfix policy service (postconf(5) check_policy_service, SMTPD_POLICY_README) for 587
# and 465 only (main.cf, mailstack_submission_recipient_restrictions): one login may send to
# at most LIMIT recipients in any hour (mailstack:submissionLimit), a sender for applications
# with a limit of its own (--own, mailstack:submissionLimit.senders) at most that. Past that every RCPT gets
# 450 4.7.1, so the client keeps the message and tries again later, and a stolen password
# cannot spend the server's IP reputation in an hour. Every recipient Postfix asks about is
# counted, accepted in the end or not: a login that probes addresses spends its budget too.
#
# The counts survive a restart (STATE_DIRECTORY/sent.json, written every few seconds and at
# exit).
#
#   mailstack-submission-limit LIMIT|off [HOST:PORT] [--own LOGIN=LIMIT|off]...
#                                                      the service (systemd runs it)
#   mailstack-submission-limit clear LOGIN [SOCKET]    let LOGIN send again at once (after
#                                                      its password was changed); root only
#
# Postfix asks on HOST:PORT (loopback TCP, which any local account can reach), so a clear is
# never taken there: only on CONTROL, a unix socket in the service's runtime directory (0700,
# owned by the service's own dynamic user), which no local account but root can open.
import asyncio
import collections
import json
import os
import signal
import sys
import time

WINDOW = 3600
SAVE_EVERY = 5
LISTEN = "{{listen}}"
# systemd names the runtime directory (RuntimeDirectory=); the clear command, run by root
# from a shell, finds the same path without it.
CONTROL = os.path.join(os.environ.get("RUNTIME_DIRECTORY", "{{controlDir}}"), "{{controlName}}")
# Postfix sends some 30 attributes per request; anything far beyond that is not Postfix.
MAX_LINES = 200
STATE = os.path.join(os.environ.get("STATE_DIRECTORY", "/var/lib/mailstack-submission-limit"), "sent.json")

limit = None
# login -> its own limit (None: no limit), instead of `limit`
own = {}
# login -> times at which a recipient of that login was counted, oldest first
sent = {}
dirty = False


def log(message):
    print(message, flush=True)


def load():
    try:
        with open(STATE, encoding="utf-8") as f:
            saved = json.load(f)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        log(f"cannot read {STATE} ({e}); counting from zero")
        return
    now = time.time()
    for login, times in saved.items():
        kept = [t for t in times if isinstance(t, (int, float)) and now - WINDOW < t <= now]
        if kept:
            sent[login] = collections.deque(sorted(kept))


def save():
    global dirty
    if not dirty:
        return
    now = time.time()
    data = {login: [t for t in q if t > now - WINDOW] for login, q in sent.items()}
    tmp = STATE + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({k: v for k, v in data.items() if v}, f)
        os.replace(tmp, STATE)
        dirty = False
    except OSError as e:
        # The counts stay in memory; a full disk must not stop the limit.
        log(f"cannot write {STATE} ({e})")


def decide(attrs, now, control=False):
    """The action for one policy request (`control`: it came over CONTROL, from root)."""
    global dirty
    if attrs.get("request") == "mailstack_clear":
        login = attrs.get("sasl_username", "").lower()
        if not control:
            log(f"refused: a clear for login={login} over {LISTEN} (only root may clear, over {CONTROL})")
            return "DUNNO"
        cleared = len(sent.pop(login, ()))
        dirty = True
        log(f"cleared: login={login} ({cleared} recipients in the past hour)")
        return f"OK cleared {cleared}"
    login = attrs.get("sasl_username", "").lower()
    mine = own.get(login, limit)
    if mine is None or not login or attrs.get("protocol_state", "").upper() != "RCPT":
        return "DUNNO"
    q = sent.setdefault(login, collections.deque())
    while q and q[0] <= now - WINDOW:
        q.popleft()
    if len(q) >= mine:
        minutes = max(1, int((q[0] + WINDOW - now + 59) // 60))
        log(
            f"over limit: login={login} limit={mine}/hour client={attrs.get('client_address', '?')} "
            f"recipient={attrs.get('recipient', '?')} retry_in={minutes}min"
        )
        return f"450 4.7.1 {login} has sent to {mine} recipients in the past hour; try again in {minutes} minutes"
    q.append(now)
    dirty = True
    return "DUNNO"


# Postfix's smtpd processes keep their connections open (smtpd_policy_service_max_idle);
# they are closed at exit, or waiting for them would hold up a stop for minutes.
clients = set()


async def serve(reader, writer, control=False):
    clients.add(writer)
    try:
        while True:
            attrs, lines = {}, 0
            while True:
                line = await reader.readline()
                if not line:
                    return
                line = line.decode("utf-8", "replace").rstrip("\r\n")
                if line == "":
                    break
                lines += 1
                if lines > MAX_LINES:
                    return
                name, _, value = line.partition("=")
                attrs[name] = value
            writer.write(f"action={decide(attrs, time.time(), control)}\n\n".encode())
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        clients.discard(writer)
        writer.close()


def clear(login, path):
    """The clear command: one request to the running service, over its control socket."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(10)
        try:
            c.connect(path)
        except PermissionError:
            sys.exit(f"mailstack-submission-limit: only root may clear a login's count ({path})")
        except OSError as e:
            sys.exit(f"mailstack-submission-limit: cannot reach the service at {path}: {e}")
        c.sendall(f"request=mailstack_clear\nsasl_username={login}\n\n".encode())
        reply = c.makefile().readline().strip()
    if not reply.startswith("action=OK cleared "):
        sys.exit(f"mailstack-submission-limit: unexpected answer {reply!r}")
    print(f"{login.lower()}: {reply.rsplit(' ', 1)[1]} recipients of the past hour forgotten")


def arguments(args):
    """LIMIT|off [HOST:PORT] [--own LOGIN=LIMIT|off]...: the limit, where to listen, own limits."""
    if not args or not (args[0] == "off" or args[0].isdigit()):
        return None
    listen = LISTEN
    rest = args[1:]
    if rest and rest[0] != "--own":
        listen, rest = rest[0], rest[1:]
    mine = {}
    while rest:
        login, _, value = (rest[1] if len(rest) > 1 and rest[0] == "--own" else "").partition("=")
        if not login or not (value == "off" or value.isdigit()):
            return None
        mine[login.lower()] = None if value == "off" else int(value)
        rest = rest[2:]
    return (None if args[0] == "off" else int(args[0])), listen, mine


async def main(listen):
    host, _, port = listen.rpartition(":")
    server = await asyncio.start_server(serve, host, int(port))
    # systemd makes CONTROL's directory (RuntimeDirectory, 0700); a socket left by a crash goes.
    try:
        os.unlink(CONTROL)
    except FileNotFoundError:
        pass
    control = await asyncio.start_unix_server(lambda r, w: serve(r, w, control=True), CONTROL)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    log(f"listening on {host}:{port}, " + (f"{limit} recipients per login and hour" if limit else "no limit"))
    for login, mine in sorted(own.items()):
        log(f"{login}: " + (f"{mine} recipients an hour, its own limit" if mine else "no limit of its own"))
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), SAVE_EVERY)
        except asyncio.TimeoutError:
            pass
        save()
    server.close()
    control.close()
    for writer in list(clients):
        writer.close()
    save()


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "clear":
        clear(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else CONTROL)
        sys.exit(0)
    parsed = arguments(sys.argv[1:])
    if parsed is None:
        sys.exit("usage: mailstack-submission-limit LIMIT|off [HOST:PORT] [--own LOGIN=LIMIT|off]... | clear LOGIN [SOCKET]")
    limit, listen, own = parsed
    load()
    asyncio.run(main(listen))
