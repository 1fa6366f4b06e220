# 0644 root:root, on change: reload:dovecot
# /etc/dovecot/sieve/spam-to-junk.sieve - rendered by mailstack (render/host/templates/sieve/).
#
# Runs before every user's own script (dovecot.conf, sieve_script spam-to-junk). rspamd writes
# "X-Spam-Status: Yes, score=..." on mail from other servers that scored above the junk
# threshold (mailstack:spamFilter.junk), and removes any X-Spam-Status it arrived with, so
# nobody outside can set it. Such mail goes to Junk and nothing else runs: no user filter
# forwards it, no vacation reply answers it.
require ["fileinto", "mailbox"];

if header :matches "X-Spam-Status" "Yes,*" {
    fileinto :create "Junk";
    stop;
}
