#!/bin/sh
# {{path}} - rendered by mailstack (cloud-init/templates/sieve/learn.sh).
#
# Called by Dovecot's IMAPSieve (report-{{class}}.sieve, vnd.dovecot.pipe) as vmail, with the
# message on stdin, when a user moves mail {{direction}} Junk. rspamd's controller listens
# on loopback only (worker-controller.inc), which it trusts for learning without a password.
exec /usr/bin/rspamc --connect 127.0.0.1:11334 --timeout 10 learn_{{class}}
