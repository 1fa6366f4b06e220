# shellcheck shell=bash
# Sourced by lab/image.sh and lab/rootfs.sh.

# The first Debian mirror this machine already uses (deb822 or one-line format), not the
# security archive. Error messages start with the calling script's name.
mirror() {
    local uri
    uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
    if [ -z "$uri" ]; then
        uri=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
    fi
    if [ -z "$uri" ]; then
        echo "$(basename "$0" .sh): no Debian mirror found in this machine's apt sources" >&2
        exit 1
    fi
    printf '%s\n' "$uri"
}
