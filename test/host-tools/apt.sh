# shellcheck shell=bash
# Part of run.sh (lib.sh first, after bundles.sh): apt's effective unattended-upgrades settings.
apt_eff=$(in_root apt-config dump 2>&1 | grep -E '^(DPkg::Options::|APT::Periodic::Unattended-Upgrade|Unattended-Upgrade::Automatic-Reboot) ' | sort | tr '\n' ' ')
if [ "$apt_eff" = 'APT::Periodic::Unattended-Upgrade "1"; DPkg::Options:: "--force-confdef"; DPkg::Options:: "--force-confold"; Unattended-Upgrade::Automatic-Reboot "false"; ' ]; then
    ok "apt: daily unattended upgrades that keep our config files, no automatic reboot"
else
    not_ok "apt: daily unattended upgrades that keep our config files, no automatic reboot" "$apt_eff"
fi
