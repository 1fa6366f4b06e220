#!/usr/bin/python3
# /usr/local/sbin/mailstack-backup-mx-etrn - rendered by mailstack
# (render/host/templates/mailstack/backup-mx-etrn.py), run by mailstack-backup-mx-etrn.service
# each time Postfix starts here.
#
# While this server did not answer, the backup MX {{backupMx}} took our mail; it tries us
# again only every few minutes (at most every {{maximalBackoff}}). ETRN (RFC 1985) asks it to
# hand the mail over now. It takes ETRN from this server's addresses only. Nothing secret is
# said, so no TLS: the domains are in the MX records anyway.
#
# First this server must take the mail: rspamd's milter listening (without it Postfix answers
# 4xx, and the backup MX would wait out its backoff again). Dovecot's LMTP is ready before this
# runs (the unit is ordered after dovecot.service, whose start waits until it is ready); its
# socket is Postfix's alone, and this root has no capability to open it.
import smtplib
import socket
import sys
import time

BACKUP_MX = "{{backupMx}}"
HOSTNAME = "{{hostname}}"
DOMAINS = "{{domains}}".split()
MILTER = ("{{milterHost}}", {{milterPort}})
READY_SECONDS = 120


def accepts(address):
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(address)
        return True
    except OSError:
        return False


def ready(milter, seconds):
    """Whether this server takes mail within `seconds`: rspamd's milter accepts connections."""
    deadline = time.monotonic() + seconds
    while not accepts(milter):
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True


def etrn(backup_mx, port, domains):
    """ETRN for each domain: the exit status (0 also when the backup MX is not reached)."""
    refused = []
    try:
        with smtplib.SMTP(backup_mx, port, local_hostname=HOSTNAME, timeout=30) as smtp:
            smtp.ehlo()
            for domain in domains:
                code, text = smtp.docmd("ETRN", domain)
                print(f"ETRN {domain} to {backup_mx}: {code} {text.decode(errors='replace')}", flush=True)
                if code >= 500:
                    refused.append(domain)
    except (OSError, smtplib.SMTPException) as e:
        # Down too, or unreachable: it hands the mail over on its own next try.
        print(f"{backup_mx} not reached: {e}", file=sys.stderr)
        return 0
    if refused:
        # Its etrn-clients table does not list this server's address: its relay-data step is behind.
        print(f"{backup_mx} refused ETRN for {' '.join(refused)}", file=sys.stderr)
        return 1
    return 0


def main(backup_mx=BACKUP_MX, port=25, milter=MILTER, ready_seconds=READY_SECONDS):
    if not ready(milter, ready_seconds):
        print(f"not ready to take mail after {ready_seconds} s (rspamd's milter); "
              f"{backup_mx} hands the mail over on its own next try", file=sys.stderr)
        return 1
    return etrn(backup_mx, port, DOMAINS)


if __name__ == "__main__":
    sys.exit(main())
