# 0755 root:root, on change: -
#!/bin/sh
# /usr/local/lib/mailstack/quota-warning.sh - rendered by mailstack (render/host/templates/dovecot/quota-warning.sh).
#
#   quota-warning.sh PERCENT USER
#
# Dovecot runs this (service quota-warning in dovecot.conf, as vmail) when a mailbox passes
# 80% or 95% of its quota. It delivers a short note straight into the user's INBOX with
# dovecot-lda, with the quota not enforced for it: the warning must get in even into a
# nearly full mailbox, and it goes through no filter and no vacation reply.
set -eu
percent=$1
user=$2
from="postmaster@${user##*@}"
/usr/lib/dovecot/dovecot-lda -d "$user" -f "$from" -o quota_enforce=no <<MAIL
From: Postmaster <$from>
To: <$user>
Subject: Your mailbox is $percent% full
Date: $(date -R)
Message-ID: <quota-warning-$percent-$(date +%s).$$@${user##*@}>
Auto-Submitted: auto-generated
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Your mailbox $user has used $percent% of its quota.

When it is full, mail for you is refused for a while and the senders retry; after some
days they give up and the mail is lost. Delete old mail (empty Trash and Junk too) or ask
the postmaster for a larger quota.
MAIL
