#!/bin/sh
# /usr/local/sbin/mailstack-rspamd-password - rendered by mailstack (render/host/filter.ts).
#
# rspamd's controller password, made once on this server from /dev/urandom, like the
# webmail's des_key: it never crosses the network or enters Pulumi's state, and a rebuilt
# server makes its own. host-config runs this before it restarts rspamd.
#   {{passwordFile}}  the password, root:{{passwordGroup}} 0640 ({{passwordReaders}})
#   {{includeFile}}   its hash for rspamd (worker-controller.inc), root:_rspamd 0640
set -eu
password_file='{{passwordFile}}'
include_file='{{includeFile}}'
password_group='{{passwordGroup}}'
umask 077
install -d -m 0755 "$(dirname "$password_file")"
if [ ! -s "$password_file" ]; then
    head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32 >"$password_file.new"
    chgrp "$password_group" "$password_file.new"
    chmod 0640 "$password_file.new"
    mv -f "$password_file.new" "$password_file"
fi
if [ ! -s "$include_file" ] || [ -n "$(find "$password_file" -newer "$include_file")" ]; then
    # The hash from rspamd's own Lua (rspamd_cryptobox.pbkdf, what `rspamadm pw` makes), the
    # password on stdin: never on a command line, which any local account could read.
    lua=$(mktemp)
    trap 'rm -f "$lua"' EXIT
    printf '%s\n' 'print(require("rspamd_cryptobox").pbkdf(io.read("*l")))' >"$lua"
    hash=$(rspamadm lua "$lua" <"$password_file" | grep -E '^[$]2[$]' | tail -n 1)
    if [ -z "$hash" ]; then
        echo "mailstack-rspamd-password: rspamadm made no password hash" >&2
        exit 1
    fi
    {
        echo "# $include_file - made by mailstack-rspamd-password; the hash of $password_file."
        echo "password = \"$hash\";"
        echo "enable_password = \"$hash\";"
    } >"$include_file.new"
    chgrp _rspamd "$include_file.new"
    chmod 0640 "$include_file.new"
    mv -f "$include_file.new" "$include_file"
    echo "mailstack-rspamd-password: $include_file written"
fi
