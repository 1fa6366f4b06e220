#!/usr/bin/python3
# Calendars and contacts through real client libraries, for lab/checks/dav.test.ts: Debian's
# python3-caldav (0.11) for CalDAV and vdirsyncer (0.19) for CardDAV, as a user's own scripts
# and sync tools would use them, with nothing but addresses and passwords.
#
# It runs on the lab's host in msl-out, in a mount namespace of its own whose /etc/resolv.conf
# names the lab DNS (dav.test.ts does that), so the libraries and dnspython resolve through the
# system resolver as on a user's machine. TLS is verified against the CA file given.
#
# caldav 0.11 does no RFC 6764 discovery of its own (it takes a URL), so this script does that
# step as a client would: SRV `_caldavs._tcp.<domain>` for the host and port, TXT `path=` for
# the context path, then hands the URL to the library, which finds the principal and its
# calendars. vdirsyncer is given only the host the SRV record of `_carddavs._tcp` names: its
# own discovery asks that host's root for a principal and falls back to /.well-known/carddav
# (RFC 6764 section 5), then finds the address book home and its address books.
#
# stdin: {"user", "password", "other", "otherPassword", "ca", "workdir"}; stdout: one JSON
# object of what each step saw (dav.test.ts asserts on it). A step that fails unexpectedly
# raises: the traceback goes to stderr and the exit status is non-zero.
import json
import os
import subprocess
import sys
import time
import uuid

import caldav
import dns.resolver
from caldav.lib import error

STARTED = time.monotonic()
# Each request's time limit, nginx's own for an answer from Radicale (proxy_read_timeout, 60 s by default): a
# server that does not answer fails the step with its traceback instead of hanging the check.
TIMEOUT_S = 60


def step(what):
    """Each step on stderr as it starts, so a check that hangs shows where."""
    print(f"dav_clients {time.monotonic() - STARTED:5.1f} s: {what}", file=sys.stderr, flush=True)


def srv_target(address, service):
    """RFC 6764 section 3: the SRV record of the address's domain; (host, port, TXT path or None)."""
    name = f"_{service}s._tcp.{address.split('@', 1)[1]}"
    records = sorted(dns.resolver.resolve(name, "SRV"), key=lambda r: (r.priority, -r.weight))
    host = records[0].target.to_text(omit_final_dot=True)
    path = None
    try:
        for txt in dns.resolver.resolve(name, "TXT"):
            value = b"".join(txt.strings).decode()
            if value.startswith("path="):
                path = value[len("path=") :]
    except dns.resolver.NoAnswer:
        pass
    return host, records[0].port, path


def origin(host, port):
    return f"https://{host}" + ("" if port == 443 else f":{port}")


def context_url(address, service):
    """The context URL of RFC 6764 section 6: SRV host and port, TXT path (else the well-known URI)."""
    host, port, path = srv_target(address, service)
    return origin(host, port) + (path or f"/.well-known/{service}")


def refused(action):
    """What the server answered to something it must refuse: the library's error, or what it returned."""
    try:
        got = action()
    except (error.AuthorizationError, error.NotFoundError, error.DAVError) as e:
        return {"refused": f"{type(e).__name__}: {e.reason}"}
    return {"got": repr(got)[:500]}


def vevent(uid, summary):
    return "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//mailstack lab caldav//EN",
            "BEGIN:VEVENT",
            f"UID:{uid}",
            "DTSTAMP:20261206T080000Z",
            "DTSTART:20261231T200000Z",
            "DTEND:20261231T230000Z",
            f"SUMMARY:{summary}",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )


def vcard(uid, name):
    return "\r\n".join(
        [
            "BEGIN:VCARD",
            "VERSION:3.0",
            f"UID:{uid}",
            f"FN:{name}",
            f"N:{name};;;;",
            "EMAIL;TYPE=INTERNET:carol@example.net",
            "END:VCARD",
            "",
        ]
    )


class Vdirsyncer:
    """vdirsyncer's command line with a config of two pairs on one CardDAV account: `contacts`,
    the local address book that is edited, and `readback`, a second copy that only receives."""

    def __init__(self, workdir, url, user, password, ca):
        self.workdir = workdir
        self.config = os.path.join(workdir, "vdirsyncer.conf")
        remote = "\n".join(
            [
                'type = "carddav"',
                f"url = {json.dumps(url)}",
                f"username = {json.dumps(user)}",
                f"password = {json.dumps(password)}",
                f"verify = {json.dumps(ca)}",
            ]
        )
        sections = [f'[general]\nstatus_path = {json.dumps(os.path.join(workdir, "status"))}']
        for pair in ("contacts", "readback"):
            local = os.path.join(workdir, pair)
            sections += [
                f'[pair {pair}]\na = "{pair}_local"\nb = "{pair}_remote"\ncollections = ["from b"]\n'
                + 'conflict_resolution = "a wins"',
                f'[storage {pair}_local]\ntype = "filesystem"\npath = {json.dumps(local + "/")}\n'
                + 'fileext = ".vcf"',
                f"[storage {pair}_remote]\n{remote}",
            ]
        with open(os.open(self.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write("\n\n".join(sections) + "\n")

    def run(self, *args):
        step(f"vdirsyncer {' '.join(args)}")
        # discover asks before it makes the local folder of each address book it found: yes.
        r = subprocess.run(
            ["vdirsyncer", "-c", self.config, *args],
            input="y\n" * 10,
            capture_output=True,
            text=True,
            timeout=2 * TIMEOUT_S,
        )
        if r.returncode != 0:
            raise RuntimeError(f"vdirsyncer {' '.join(args)}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r.stdout + r.stderr

    def collections(self, pair):
        """The local folders of the address books vdirsyncer found (one per remote collection)."""
        root = os.path.join(self.workdir, pair)
        return sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))

    def cards(self, pair, collection):
        folder = os.path.join(self.workdir, pair, collection)
        out = {}
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name)) as f:
                out[name] = f.read()
        return out

    def remote_url(self, pair, collection):
        """The address book's URL as vdirsyncer's discovery found it (its status file)."""
        with open(os.path.join(self.workdir, "status", f"{pair}.collections")) as f:
            found = json.load(f)
        return dict(found["collections"])[collection][1]["url"]


def main():
    given = json.load(sys.stdin)
    user, password, other, other_password, ca, workdir = (
        given[k] for k in ("user", "password", "other", "otherPassword", "ca", "workdir")
    )
    seen = {}

    def login(url, name, secret):
        return caldav.DAVClient(
            url=url, username=name, password=secret, ssl_verify_cert=ca, timeout=TIMEOUT_S
        )

    # CalDAV with python3-caldav, from the context URL the SRV and TXT records name.
    step("SRV and TXT of _caldavs._tcp")
    context = context_url(user, "caldav")
    seen["caldavContext"] = context
    step(f"caldav: principal and calendars at {context}")
    client = login(context, user, password)
    principal = client.principal()
    seen["principal"] = str(principal.url)
    calendars = principal.calendars()
    seen["calendars"] = [str(c.url) for c in calendars]
    calendar = calendars[0]
    uid = f"caldav-{uuid.uuid4()}"
    step("caldav: an event saved, read back and listed")
    saved = calendar.save_event(vevent(uid, "New Year's Eve"))
    seen["eventUrl"] = str(saved.url)
    seen["eventReadBack"] = calendar.event_by_uid(uid).data
    seen["eventListed"] = any(str(e.url) == str(saved.url) for e in calendar.events())

    # CardDAV with vdirsyncer, from the host the SRV record names: a contact written into the
    # local address book is synced up, then read back by a second, empty copy.
    step("SRV of _carddavs._tcp")
    card_host, card_port, _ = srv_target(user, "carddav")
    sync = Vdirsyncer(workdir, origin(card_host, card_port) + "/", user, password, ca)
    sync.run("discover")
    books = sync.collections("contacts")
    seen["addressBooks"] = books
    book = books[0]
    seen["addressBookUrl"] = sync.remote_url("contacts", book)
    # Two contacts, so that deleting one leaves the address book not empty (vdirsyncer refuses
    # to sync a side that was emptied, lest a lost folder wipe the server).
    cuid, keep = f"vdirsyncer-{uuid.uuid4()}", f"vdirsyncer-{uuid.uuid4()}"
    for u, name in ((cuid, "Carol Sync"), (keep, "Dave Sync")):
        with open(os.path.join(workdir, "contacts", book, f"{u}.vcf"), "w") as f:
            f.write(vcard(u, name))
    sync.run("sync", "contacts")
    sync.run("sync", "readback")
    seen["contactReadBack"] = "".join(v for v in sync.cards("readback", book).values() if f"UID:{cuid}" in v)

    # The other user, logged in with his own address and password, finds his own principal,
    # and is refused the first user's calendar, event and address book.
    step(f"caldav: {other} finds his principal, then tries the first user's collections")
    theirs = login(context_url(other, "caldav"), other, other_password)
    seen["otherPrincipal"] = str(theirs.principal().url)
    seen["otherReadsCalendar"] = refused(lambda: caldav.Calendar(client=theirs, url=calendar.url).events())
    seen["otherReadsEvent"] = refused(lambda: caldav.Event(client=theirs, url=saved.url).load().data)
    seen["otherListsAddressBook"] = refused(
        lambda: caldav.objects.DAVObject(client=theirs, url=seen["addressBookUrl"]).children()
    )

    # Deleting: the event through the library, the contact by deleting the local file and syncing.
    step("caldav: the event deleted")
    calendar.event_by_uid(uid).delete()
    seen["eventAfterDelete"] = refused(lambda: calendar.event_by_uid(uid).data)
    os.remove(os.path.join(workdir, "contacts", book, f"{cuid}.vcf"))
    sync.run("sync", "contacts")
    sync.run("sync", "readback")
    after = sync.cards("readback", book).values()
    seen["contactAfterDelete"] = {
        "deleted": sum(f"UID:{cuid}" in v for v in after),
        "kept": sum(f"UID:{keep}" in v for v in after),
    }
    # Nothing left behind: the last contact too (syncing an emptied side needs --force-delete).
    os.remove(os.path.join(workdir, "contacts", book, f"{keep}.vcf"))
    sync.run("sync", "--force-delete", "contacts")

    # A wrong password, last: each failed login is answered late (Radicale's delay, Dovecot's),
    # later as failures add up, and the steps above need not wait behind it. The library
    # retries once with the password before it gives up, as it does for any server.
    step("caldav: a wrong password")
    seen["wrongPassword"] = refused(lambda: login(context, user, "not-" + password).principal())

    step("done")
    json.dump(seen, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
