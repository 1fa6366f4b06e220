#!/bin/sh
# /usr/local/sbin/mailstack-host-key - written by the user-data, run by the first
# provisioning step (host-key) over SSH, pinned to the provisional host key.
#
# The provisional key is in the user-data, and Hetzner's metadata service hands the
# user-data to anyone who asks from this machine. So the first thing the deploy does is
# replace it with a key made here, that never leaves the machine; every later step pins
# that new key, which this prints (the only output). Idempotent: a second run prints the
# same key.
set -eu

key=/etc/ssh/ssh_host_ed25519_key
marker=/etc/ssh/mailstack-host-key-replaced
if [ ! -e "$marker" ]; then
    # New files beside the old ones, then renamed over them: sshd never sees half a key.
    rm -f "$key.new" "$key.new.pub"
    ssh-keygen -q -t ed25519 -N "" -C "" -f "$key.new"
    chmod 0600 "$key.new"
    chmod 0644 "$key.new.pub"
    mv -f "$key.new.pub" "$key.pub"
    mv -f "$key.new" "$key"
    # Any other host key type came from the image or cloud-init: keep only ours.
    for other in /etc/ssh/ssh_host_*_key; do
        [ "$other" = "$key" ] || rm -f "$other" "$other.pub"
    done
    sshd -t
    # A reload makes new connections use the new key; this session goes on.
    systemctl reload ssh
    : >"$marker"
fi
cut -d' ' -f1,2 "$key.pub"
