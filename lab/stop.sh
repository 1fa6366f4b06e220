#!/usr/bin/env bash
# Stop a lab started by lab/run.ts (also used by run.ts itself for its teardown).
# Everything is found through the state directory the lab recorded; processes are
# stopped by recorded PID (checked against their recorded start time), never by name.
#
#   lab/stop.sh            state dir: MAILSTACK_LAB_STATE or /run/mailstack-lab
set -uo pipefail
state=${MAILSTACK_LAB_STATE:-/run/mailstack-lab}
[ -d "$state" ] || { echo "stop: no lab state at $state (nothing to stop)"; exit 0; }

starttime() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; } # field 22: start time in ticks
alive() { # alive PID STARTTIME: running (a zombie, exited but not yet reaped, counts as gone)
    [ -e "/proc/$1" ] && [ "$(starttime "$1")" = "$2" ] &&
        [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]
}

# Processes: the containers (nspawn, and nspawn-mx2 of the backup MX) first, then the rest.
if [ -d "$state/pids" ]; then
    names=()
    for p in "$state/pids"/nspawn*; do
        [ -e "$p" ] && names+=("${p##*/}")
    done
    for p in "$state/pids"/*; do
        case ${p##*/} in nspawn*) ;; *) [ -e "$p" ] && names+=("${p##*/}") ;; esac
    done
    # The containers halt together (each may take its 15 s below), not one after the other.
    declare -A termed=()
    for f in "${names[@]}"; do
        case $f in nspawn*) ;; *) continue ;; esac
        read -r pid st _ <"$state/pids/$f" || continue
        if alive "$pid" "$st"; then
            echo "stop: $f (pid $pid)"
            kill -TERM "$pid" 2>/dev/null
            termed[$f]=1
        fi
    done
    # One window of about 5 s for all of them, counted from these SIGTERMs (not 5 s each).
    halt_until=$((SECONDS + 5))
    for f in "${names[@]}"; do
        read -r pid st sig <"$state/pids/$f" || continue
        if [ "$f" = leader ] || [ "$f" = leader-mx2 ]; then
            if alive "$pid" "$st"; then
                echo "stop: the container's PID 1 outlived nspawn, SIGKILL (pid $pid)"
                kill -KILL "$pid" 2>/dev/null
                for _ in $(seq 1 25); do alive "$pid" "$st" || break; sleep 0.2; done
            fi
            rm -f "$state/pids/$f"
            continue
        fi
        if alive "$pid" "$st" && [ "${sig:-}" = KILL ]; then
            # Recorded as one that ignores SIGTERM (unshare --fork; --kill-child ends the rest).
            echo "stop: $f (pid $pid, SIGKILL)"
            kill -KILL "$pid" 2>/dev/null
            for _ in $(seq 1 25); do alive "$pid" "$st" || break; sleep 0.2; done
        fi
        if alive "$pid" "$st"; then
            if [ -z "${termed[$f]:-}" ]; then
                echo "stop: $f (pid $pid)"
                kill -TERM "$pid" 2>/dev/null
            fi
            # nspawn: the first SIGTERM halts the container cleanly, a second one terminates it.
            # Nothing of the run needs the clean halt (the replacement check makes its own), and
            # after a full run one unit or another takes 15 s and more: 5 s, then terminate.
            if [ -n "${termed[$f]:-}" ]; then
                while alive "$pid" "$st" && [ "$SECONDS" -lt "$halt_until" ]; do sleep 0.2; done
            else
                for _ in $(seq 1 25); do alive "$pid" "$st" || break; sleep 0.2; done
            fi
            if alive "$pid" "$st"; then
                echo "stop: $f still running after 5 s, SIGTERM again"
                kill -TERM "$pid" 2>/dev/null
                for _ in $(seq 1 25); do alive "$pid" "$st" || break; sleep 0.2; done
            fi
            if alive "$pid" "$st"; then
                echo "stop: $f still running, SIGKILL"
                kill -KILL "$pid" 2>/dev/null
                for _ in $(seq 1 25); do alive "$pid" "$st" || break; sleep 0.2; done
            fi
        fi
        rm -f "$state/pids/$f"
    done
fi

# The mail volume's loop device, and the backup MX's queue volume's.
for loop in loop loop-mx2; do
    if [ -s "$state/$loop" ]; then
        dev=$(cat "$state/$loop")
        if losetup "$dev" 2>/dev/null | grep -q "$state"; then
            echo "stop: detaching $dev"
            losetup -d "$dev" || echo "stop: could not detach $dev" >&2
        fi
        rm -f "$state/$loop"
    fi
done

# The tmpfs with the container's root and the volume image.
if [ -s "$state/mount" ]; then
    mnt=$(cat "$state/mount")
    if mountpoint -q "$mnt"; then
        echo "stop: unmounting $mnt"
        umount "$mnt" || { sleep 1; umount "$mnt"; } || echo "stop: could not unmount $mnt" >&2
    fi
    mountpoint -q "$mnt" || { rmdir "$mnt" 2>/dev/null; rm -f "$state/mount"; }
fi

# The lab's network namespaces (deleting them removes the veth pair).
if [ -s "$state/netns" ]; then
    while read -r ns; do
        [ -n "$ns" ] || continue
        if [ -e "/run/netns/$ns" ]; then
            echo "stop: deleting netns $ns"
            ip netns del "$ns" || echo "stop: could not delete netns $ns" >&2
        fi
    done <"$state/netns"
    rm -f "$state/netns"
fi

left=$( { [ -s "$state/mount" ] && echo mount; [ -s "$state/loop" ] && echo loop; [ -s "$state/loop-mx2" ] && echo loop-mx2; ls "$state/pids" 2>/dev/null; } | tr '\n' ' ')
if [ -n "${left// /}" ]; then
    echo "stop: left behind: $left(state kept in $state)" >&2
    exit 1
fi
rm -rf "$state"
echo "stop: lab stopped"
