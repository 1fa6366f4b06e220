# shellcheck shell=bash
# Part of run.sh (lib.sh first, after bundles.sh): sshd -t accepts the drop-in, and its effective
# settings allow keys only.
in_root ssh-keygen -A >/dev/null 2>&1
check "sshd -t accepts the drop-in" in_root sshd -t
sshd_eff=$(in_root sshd -T 2>&1 | grep -E '^(passwordauthentication|kbdinteractiveauthentication|permitrootlogin) ' | sort | tr '\n' ' ')
if [ "$sshd_eff" = "kbdinteractiveauthentication no passwordauthentication no permitrootlogin without-password " ]; then
    ok "sshd: keys only, root with a key only"
else
    not_ok "sshd: keys only, root with a key only" "$sshd_eff"
fi
