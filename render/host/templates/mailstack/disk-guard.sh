#!/bin/bash
# /usr/local/sbin/mailstack-disk-guard - rendered by mailstack (render/host/limits.ts).
#
# Run by mailstack-disk-guard.timer. When the mail volume passes {{alertPercent}}% used, the
# postmaster gets one mail saying so, with the largest mailboxes; when it is back below
# {{clearPercent}}%, one more saying that. At {{fullPercent}}% Postfix itself stops taking mail
# with a 4xx (main.cf queue_minfree), so senders keep their mail until there is room.
#
#   mailstack-disk-guard check     compare, mail on a crossing (the timer)
#   mailstack-disk-guard status    one line: ok|alert PERCENT
set -euo pipefail

volume={{mailVolume}}
mail_root={{mailRoot}}
alert={{alertPercent}}
clear={{clearPercent}}
host={{hostname}}
postmaster={{postmaster}}
# Present while the volume is above the alert level and the postmaster has been told.
# On the root disk: with the mail volume full, this must still be writable.
mark=${STATE_DIRECTORY:-/var/lib/mailstack-disk-guard}/alerted

percent() { df --output=pcent "$volume" | tail -n 1 | tr -dc 0-9; }

mail_postmaster() { # mail_postmaster SUBJECT (body on stdin)
    {
        printf 'From: mailstack disk guard <root@%s>\nTo: %s\nSubject: %s\nAuto-Submitted: auto-generated\n\n' "$host" "$postmaster" "$1"
        cat
    } | /usr/sbin/sendmail -t -f "root@$host"
}

report() {
    df -h "$volume"
    echo
    echo "Largest mailboxes:"
    # No mailbox yet is no reason to keep quiet about the disk; awk reads to the end (head
    # would leave sort a SIGPIPE, which pipefail turns into a failure).
    { du -s -B1M "$mail_root"/*/* 2>/dev/null || true; } | sort -rn | awk 'NR <= 10 { printf "  %8d MiB  %s\n", $1, $2 }'
}

case ${1:-} in
check)
    used=$(percent)
    if [ "$used" -ge "$alert" ] && [ ! -e "$mark" ]; then
        {
            echo "The mail volume of $host is $used% full."
            echo
            echo "At {{fullPercent}}% Postfix refuses new mail with a temporary error (senders retry for days)."
            echo "Raise mailstack:mailVolumeSizeGb and run pulumi up (the volume grows online), or"
            echo "lower mailbox quotas (mailstack:domains[].quota)."
            echo
            report
        } | mail_postmaster "Mail volume of $host is $used% full"
        touch "$mark"
        echo "alert: $volume at $used%, postmaster $postmaster told"
    elif [ "$used" -lt "$clear" ] && [ -e "$mark" ]; then
        {
            echo "The mail volume of $host is back to $used% used."
            echo
            report
        } | mail_postmaster "Mail volume of $host is back to $used%"
        rm -f "$mark"
        echo "clear: $volume at $used%, postmaster $postmaster told"
    else
        echo "$volume at $used%, $([ -e "$mark" ] && echo "postmaster already told" || echo "below $alert%")"
    fi
    ;;
status) echo "$([ -e "$mark" ] && echo alert || echo ok) $(percent)" ;;
*)
    echo "usage: mailstack-disk-guard check|status" >&2
    exit 2
    ;;
esac
