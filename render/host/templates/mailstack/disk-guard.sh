#!/bin/bash
# /usr/local/sbin/mailstack-disk-guard - rendered by mailstack (render/host/limits.ts).
#
# Run by mailstack-disk-guard.timer. When the mail volume passes {{alertPercent}}% used, the
# postmaster gets one mail saying so, with the largest mailboxes; when it is back below
# {{clearPercent}}%, one more saying that. At {{fullPercent}}% Postfix itself stops taking mail
# with a 4xx (main.cf queue_minfree), so senders keep their mail until there is room.
# And after the volume was full, it gets Dovecot's full-text indexer going again (below).
#
#   mailstack-disk-guard check     compare, mail on a crossing, free the indexer (the timer)
#   mailstack-disk-guard status    one line: ok|alert PERCENT
set -euo pipefail

volume={{mailVolume}}
mail_root={{mailRoot}}
alert={{alertPercent}}
clear={{clearPercent}}
full={{fullPercent}}
host={{hostname}}
postmaster={{postmaster}}
# Present while the volume is above the alert level and the postmaster has been told.
# On the root disk: with the mail volume full, this must still be writable.
mark=${STATE_DIRECTORY:-/var/lib/mailstack-disk-guard}/alerted
# When the journal was last read for the indexer's write errors (epoch seconds).
indexer_read=${STATE_DIRECTORY:-/var/lib/mailstack-disk-guard}/indexer-read

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

# An indexer worker whose write to a folder's full-text index failed for want of space keeps
# that index locked (fts-flatcurve leaves its writer open; seen in the fault lab, Dovecot
# 2.4.1): every later indexing and search of the folder waits 60 s and fails, until the worker
# process ends, which an indexer kept busy by new mail never lets happen. And the message whose
# write failed is missing from the index for good once later ones were indexed (seen in CI:
# 109 of 110 found). So once there is room again: the workers that may hold such a lock are
# ended (the indexer starts new ones); the indexes of the users concerned get Xapian's check,
# which repairs what it can (as xapian-check -F), and a rescan (what the index lacks is
# indexed again, queued for the indexer). While the volume is still full, the errors are left
# for the next run: a new worker would only fail the same way. Only a write that failed for
# want of space sets this off (the users whose index was found locked in the same stretch are
# checked with them): a lock waited for without it (a long import being indexed while its
# owner searches) is no reason to end anything.
free_indexer() {
    local now failures user last checked box status
    local since=(-b) # the first run: this boot
    now=$(date +%s)
    last=$(cat "$indexer_read" 2>/dev/null || true)
    [[ ! $last =~ ^[0-9]+$ ]] || since=(--since "@$last")
    # grep reads to the end (grep -q would leave journalctl a SIGPIPE, a failure under pipefail).
    failures=$(journalctl -q -o cat -u dovecot "${since[@]}" |
        grep -E '^indexer-worker\(.*(No space left on device|was locked for over)' || true)
    if grep -q 'No space left on device' <<<"$failures"; then
        if [ "$(percent)" -ge "$full" ]; then
            echo "indexer: $(wc -l <<<"$failures") index errors on a full volume; left for the next run, when there is room"
            return
        fi
        pkill -x indexer-worker || true
        echo "indexer: $(wc -l <<<"$failures") index errors after a full volume; workers ended"
        sed -n 's/^indexer-worker(\([^)]*@[^)]*\)).*/\1/p' <<<"$failures" | sort -u | while read -r user; do
            # Folder by folder, so that a check that dies names its folder.
            { doveadm mailbox list -u "$user" </dev/null || true; } | while IFS= read -r box; do
                status=0
                checked=$(doveadm fts flatcurve check -u "$user" "$box" </dev/null 2>&1) || status=$?
                echo "indexer: $user's index of $box checked (exit $status): $(tr '\n' ' ' <<<"$checked")"
                # An index the check could not repair (seen in CI: "Check failed; DatabaseError: Block
                # 4294967295: Same block is in freelist more than once") takes no more mail, and one
                # the check itself dies on (a signal: seen with garbage over an index, Xapian's
                # SIGSEGV) kills every search of the folder: removed, it is built again from the
                # mail by the indexing queued below.
                if [ "$status" -ge 128 ] || [[ $checked == *"Check failed"* ]]; then
                    doveadm fts flatcurve remove -u "$user" "$box" </dev/null &&
                        echo "indexer: $user's index of $box was damaged: removed, to be built again"
                fi
            done
            doveadm fts rescan -u "$user" </dev/null && doveadm index -u "$user" -q '*' </dev/null &&
                echo "indexer: $user's indexes rescanned, what they lack queued for indexing"
        done
    fi
    echo "$now" >"$indexer_read"
}

case ${1:-} in
check)
    # The indexer's part never keeps the postmaster from hearing about the disk.
    free_indexer || echo "indexer: the check of the indexer failed" >&2
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
