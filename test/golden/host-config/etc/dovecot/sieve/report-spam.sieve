# 0644 root:root, on change: reload:dovecot
# /etc/dovecot/sieve/report-spam.sieve - rendered by mailstack (render/host/templates/sieve/).
#
# IMAPSieve: a message copied, moved or saved into Junk (dovecot.conf, mailbox Junk) is
# taught to rspamd as spam, so the next one like it scores higher.
require ["vnd.dovecot.pipe", "copy", "imapsieve"];

pipe :copy "learn-spam";
