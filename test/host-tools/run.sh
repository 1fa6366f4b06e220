#!/usr/bin/env bash
# Layer-2 checks: Debian 13's own tools accept what the renderers produce.
#
#   sudo bash test/host-tools/run.sh
#
# Renders every file for a sample two-domain config (render-sample.ts), builds a trixie root
# filesystem with the image and mail packages (lab/rootfs.sh, cached), copies the files into
# place and runs postconf/postfix check, rspamadm configtest, doveconf, doveadm pw, opendkim, nginx -t, sshd -t,
# fail2ban-client --test and `cloud-init schema` inside it with plain chroot (nothing is
# booted), runs scripts/apply-bundle.sh there against a stub systemctl, and shellcheck on
# every shell script. What the daemons do live is the lab's part (lab/checks).
# Last line: "N passed, N failed"; exit status non-zero on any failure.
#
# lib.sh holds the reporting, the work directory, the render and the root; every other *.sh
# here is one part, sourced in the order below into this shell (they share its state).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=/dev/null # lib.sh is checked on its own (see shell-scripts.sh)
. "$here/lib.sh"

run_part() { # run_part NAME: source NAME.sh, reporting a missing one
    if [ -e "$here/$1.sh" ]; then
        # shellcheck source=/dev/null # every part is checked on its own
        . "$here/$1.sh"
    else
        not_ok "part $1.sh exists"
    fi
}

run_part shell-scripts
render_sample
build_root
for part in first-boot bundles backup postfix limits rspamd outbound secondary-mx dovecot opendkim apt nginx sshd fail2ban postsrsd certbot; do
    run_part "$part"
done
# The daemons themselves: the part that may go away without the rest noticing.
run_part cloud-init
summary
