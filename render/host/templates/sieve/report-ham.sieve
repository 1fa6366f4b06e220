# /etc/dovecot/sieve/report-ham.sieve - rendered by mailstack (render/host/templates/sieve/).
#
# IMAPSieve: a message moved out of Junk (dovecot.conf, imapsieve_from Junk) was not spam;
# rspamd learns it as ham. Into Trash is only tidying up, not a verdict.
require ["vnd.dovecot.pipe", "copy", "imapsieve", "environment", "variables"];

if environment :matches "imap.mailbox" "*" {
    if string "${1}" "Trash" {
        stop;
    }
}
pipe :copy "learn-ham";
