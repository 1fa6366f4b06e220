#!/usr/bin/env bash
# Install a mailstack bundle (stdin) on this host, as root:
#
#   mailstack-bundle 1
#   file <path> <mode> <owner> <group> <on-change|-> <base64 of content|->
#   prune <directory> <pattern> <on-change|->
#   end
#
# The whole bundle is read and checked before anything is touched; without the `end` line
# (a cut connection) nothing is installed. A file is replaced only when its content, mode or
# owner differ (temporary file in the same directory, then rename: a reader never sees half a
# file). The actions of changed files run once each, in a fixed order. Postfix, Dovecot,
# OpenDKIM, rspamd, nginx, fail2ban and sshd configurations are checked with the daemon's own tool
# first; if a check fails, the files of that step are put back as they were, the error is
# printed and the script exits non-zero, so a broken file never takes a running daemon down.
# The same input again changes nothing and restarts nothing. An action that failed is
# recorded in /var/lib/mailstack/pending-actions and runs again with the next bundle.
# A `prune` line removes the files in <directory> matching <pattern> that the bundle does
# not list: files mailstack owns and no longer renders (the key of a removed domain).
#
# APPLY_BUNDLE_ROOT (tests only, unset on a server): a directory that every path the script
# reads or writes is taken under, instead of /. test/apply-bundle.test.ts runs the script
# against a temporary root with the daemons' tools stubbed on PATH.
set -euo pipefail
umask 022

die() {
    echo "apply-bundle: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root"
root=${APPLY_BUNDLE_ROOT:-}

# The order in which actions run: units first, then the daemons Postfix talks to, then Postfix.
ACTION_ORDER=(daemon-reload apply:accounts apply:volume-state restart:metadata-guard restart:smtp-egress-guard restart:unbound restart:postsrsd restart:opendkim restart:sender-milter restart:submission-limit enable:disk-guard restart:valkey apply:rspamd-password restart:rspamd restart:mta-sts reload:dovecot apply:passwords restart:password-socket reload:postfix restart:webmail restart:dav reload:nginx reload:fail2ban restart:ssh)

work=$(mktemp -d "$root/run/mailstack-bundle.XXXXXX")
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    rm -rf "$work"
    # Leftover temporary files of an interrupted install.
    if [ -s "$work.tmpfiles" ]; then
        xargs -r -d '\n' rm -f <"$work.tmpfiles" || true
    fi
    rm -f "$work.tmpfiles"
}
trap cleanup EXIT
: >"$work.tmpfiles"

cat >"$work/bundle"

# --- Parse and check everything first ----------------------------------------------------
# check_actions LIST: every action of a comma list (or "-") is one of ACTION_ORDER.
check_actions() {
    local a list
    [ "$1" != "-" ] || return 0
    IFS=, read -r -a list <<<"$1"
    for a in "${list[@]}"; do
        case " ${ACTION_ORDER[*]} " in
        *" $a "*) ;;
        *) die "line $lineno: unknown action '$a'" ;;
        esac
    done
}
paths=() modes=() owners=() groups=() actions=() contents=()
prune_dirs=() prune_patterns=() prune_actions=()
header_seen=0
end_seen=0
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    if [ "$end_seen" -eq 1 ]; then
        [ -z "$line" ] || die "line $lineno: data after end"
        continue
    fi
    if [ "$header_seen" -eq 0 ]; then
        [ "$line" = "mailstack-bundle 1" ] || die "line $lineno: not a mailstack bundle (expected 'mailstack-bundle 1')"
        header_seen=1
        continue
    fi
    if [ "$line" = "end" ]; then
        end_seen=1
        continue
    fi
    read -r kind path mode owner group acts content extra <<<"$line" || true
    if [ "$kind" = prune ]; then
        # prune <directory> <pattern> <on-change>: here in the fields path, mode and owner.
        if [ -n "$group" ] || [ -z "$owner" ]; then
            die "line $lineno: expected 'prune <directory> <pattern> <on-change>'"
        fi
        if [[ ! "$path" =~ ^(/[A-Za-z0-9._@+-]+)+$ ]] || [[ "$path" =~ /\.\.?(/|$) ]]; then
            die "line $lineno: bad directory '$path'"
        fi
        # A file-name pattern with one *, never a bare one: a prune names what it owns.
        if [[ ! "$mode" =~ ^[A-Za-z0-9._@+-]*\*[A-Za-z0-9._@+-]*$ ]] || [ "$mode" = "*" ]; then
            die "line $lineno: bad prune pattern '$mode'"
        fi
        acts=$owner
        check_actions "$acts"
        prune_dirs+=("$root$path") prune_patterns+=("$mode") prune_actions+=("$acts")
        continue
    fi
    if [ "$kind" != "file" ] || [ -z "${content:-}" ] || [ -n "${extra:-}" ]; then
        die "line $lineno: expected 'file <path> <mode> <owner> <group> <on-change> <content>'"
    fi
    if [[ ! "$path" =~ ^(/[A-Za-z0-9._@+-]+)+$ ]] || [[ "$path" =~ /\.\.?(/|$) ]]; then
        die "line $lineno: bad path '$path'"
    fi
    [[ "$mode" =~ ^0[0-7]{3}$ ]] || die "line $lineno: bad mode '$mode'"
    if [[ ! "$owner" =~ ^[a-z_][a-z0-9_-]*$ ]] || ! getent passwd "$owner" >/dev/null; then
        die "line $lineno: unknown owner '$owner'"
    fi
    if [[ ! "$group" =~ ^[a-z_][a-z0-9_-]*$ ]] || ! getent group "$group" >/dev/null; then
        die "line $lineno: unknown group '$group'"
    fi
    check_actions "$acts"
    for p in "${paths[@]}"; do
        [ "$p" != "$root$path" ] || die "line $lineno: $path appears twice"
    done
    n=${#paths[@]}
    if [ "$content" = "-" ]; then
        : >"$work/content.$n"
    else
        if [[ ! "$content" =~ ^[A-Za-z0-9+/]*={0,2}$ ]] || ! printf '%s' "$content" | base64 -d >"$work/content.$n" 2>/dev/null; then
            die "line $lineno: content of $path is not base64"
        fi
    fi
    paths+=("$root$path") modes+=("$mode") owners+=("$owner") groups+=("$group") actions+=("$acts") contents+=("$work/content.$n")
done <"$work/bundle"

[ "$header_seen" -eq 1 ] || die "empty input: not a mailstack bundle"
[ "$end_seen" -eq 1 ] || die "no 'end' line: the bundle was cut off, nothing installed"

# --- Install what differs ---------------------------------------------------------------------
changed=()      # indexes of changed files
declare -A want # action -> 1
unchanged=0
for i in "${!paths[@]}"; do
    path=${paths[$i]} mode=${modes[$i]} owner=${owners[$i]} group=${groups[$i]} src=${contents[$i]}
    if [ -f "$path" ] && [ ! -L "$path" ] && cmp -s "$src" "$path" &&
        [ "$(stat -c '%a %U %G' "$path")" = "$(printf '%o' "$((8#$mode))") $owner $group" ]; then
        unchanged=$((unchanged + 1))
        continue
    fi
    dir=$(dirname "$path")
    [ -d "$dir" ] || install -d -m 0755 "$dir"
    # Keep the old version so a failing check can put it back.
    if [ -e "$path" ]; then
        cp -a "$path" "$work/backup.$i"
    fi
    tmp=$(mktemp "$dir/.mailstack.XXXXXX")
    printf '%s\n' "$tmp" >>"$work.tmpfiles"
    cat "$src" >"$tmp"
    chown "$owner:$group" "$tmp"
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$path"
    changed+=("$i")
    echo "changed   $path"
    if [ "${actions[$i]}" != "-" ]; then
        IFS=, read -r -a list <<<"${actions[$i]}"
        for a in "${list[@]}"; do want[$a]=1; done
    fi
done

# Files mailstack owns and this bundle no longer lists. Kept in $work, so that a failed check
# can put them back with the changed files.
removed=() removed_actions=()
for j in "${!prune_dirs[@]}"; do
    [ -d "${prune_dirs[$j]}" ] || continue
    for f in "${prune_dirs[$j]}"/${prune_patterns[$j]}; do
        if [ ! -f "$f" ] || [ -L "$f" ]; then continue; fi
        listed=0
        for p in "${paths[@]}"; do [ "$p" != "$f" ] || listed=1; done
        [ "$listed" -eq 0 ] || continue
        n=${#removed[@]}
        mv -f "$f" "$work/removed.$n"
        removed+=("$f") removed_actions+=("${prune_actions[$j]}")
        echo "removed   $f"
        if [ "${prune_actions[$j]}" != "-" ]; then
            IFS=, read -r -a list <<<"${prune_actions[$j]}"
            for a in "${list[@]}"; do want[$a]=1; done
        fi
    done
done

# Actions that failed in an earlier run: their files are in place now, so only this record
# makes them run again (a rerun of the step would otherwise find nothing changed).
pending_file=$root/var/lib/mailstack/pending-actions
pending=0
if [ -s "$pending_file" ]; then
    while IFS= read -r a; do
        case " ${ACTION_ORDER[*]} " in
        *" $a "*)
            want[$a]=1
            pending=$((pending + 1))
            ;;
        esac
    done <"$pending_file"
fi

if [ "${#changed[@]}" -eq 0 ] && [ "${#removed[@]}" -eq 0 ] && [ "$pending" -eq 0 ]; then
    echo "apply-bundle: unchanged (${unchanged} files)"
    exit 0
fi

# Put back the previous versions of the changed files that trigger $1 (a failed check).
restore() {
    local action=$1 i
    for i in "${changed[@]}"; do
        case ",${actions[$i]}," in
        *",$action,"*)
            if [ -e "$work/backup.$i" ]; then
                mv -f "$work/backup.$i" "${paths[$i]}"
            else
                rm -f "${paths[$i]}"
            fi
            echo "restored  ${paths[$i]}" >&2
            ;;
        esac
    done
    for i in "${!removed[@]}"; do
        case ",${removed_actions[$i]}," in
        *",$action,"*)
            mv -f "$work/removed.$i" "${removed[$i]}"
            echo "restored  ${removed[$i]}" >&2
            ;;
        esac
    done
}

# Reload a running unit, or start it when it is not running yet.
reload_or_start() {
    local unit=$1
    if systemctl is-active --quiet "$unit"; then
        systemctl reload "$unit"
    else
        systemctl start "$unit"
    fi
}

# Clock ticks since boot, the unit of a process's start time in /proc/PID/stat.
uptime_ticks() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%d\n", $1 * hz }' /proc/uptime
}

# `postfix reload` returns while the old smtpd, cleanup and trivial-rewrite processes still
# run with the previous tables: for a moment a new mailbox could still be refused with 550.
# Wait (at most 30 s) until every child of the Postfix master was started after the reload.
# A child busy with a long client session may outlive that; it ends with its session.
wait_postfix_children() {
    local since=$1 master pid start old tries=0
    master=$(tr -d ' \n' <"$root/var/spool/postfix/pid/master.pid" 2>/dev/null) || return 0
    while [ "$tries" -lt 150 ]; do
        old=0
        for pid in $(pgrep -P "$master" || true); do
            # Field 22 of /proc/PID/stat, counted after the ")" that ends the command name.
            start=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $20 }') || continue
            [ -n "$start" ] && [ "$start" -le "$since" ] && old=$((old + 1))
        done
        [ "$old" -eq 0 ] && return 0
        tries=$((tries + 1))
        sleep 0.2
    done
    echo "apply-bundle: $old Postfix processes from before the reload are still running (busy client sessions); they finish with their sessions" >&2
}

# rspamd needs 20-30 s after a (re)start before its workers run (it compiles its URL and
# regexp tables first); until then Postfix answers port 25 with "try again later". Wait (at
# most 120 s) until the controller answers and the milter's worker runs, so that the step
# ends with mail flowing again.
# rspamd's controller answers /ping (the one command that needs no password, issue 28).
rspamd_pong() {
    local reply
    reply=$(timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/11334 && printf "GET /ping HTTP/1.0\r\n\r\n" >&3 && cat <&3' 2>/dev/null) || return 1
    [[ "$reply" == *$'\n'pong* ]]
}

wait_rspamd() {
    local tries=0
    # Not running at all: systemd's Restart=always and the journal have it; nothing to wait for.
    systemctl is-active --quiet rspamd || return 0
    while [ "$tries" -lt 120 ]; do
        if rspamd_pong && pgrep -f '^rspamd: rspamd_proxy process' >/dev/null; then
            return 0
        fi
        tries=$((tries + 1))
        sleep 1
    done
    echo "apply-bundle: rspamd is not answering 120 s after its restart" >&2
    return 1
}

# After a (re)start rspamd's hs_helper compiles the hyperscan databases of its regexps, or
# finds them already compiled in /var/lib/rspamd ("compiled 0 regular expressions"). A fresh
# compile (new config or a new rspamd) leaves the workers that load the new databases at run
# time holding two to three times their memory from then on: in the lab 294 MiB PSS for rspamd
# after a fresh compile, 108 MiB after a restart that found them compiled. So after a fresh
# compile rspamd is restarted once more. hyperscan_compiled CURSOR prints how many regexps
# the hs_helper compiled after that journal cursor (waits at most 120 s); nothing when
# rspamd has no hs_helper (a build without hyperscan) or it never said.
hyperscan_compiled() {
    local cursor=$1 tries=0 line
    pgrep -f '^rspamd: hs_helper' >/dev/null || return 0
    while [ "$tries" -lt 120 ]; do
        line=$(journalctl -q --no-pager -u rspamd --after-cursor "$cursor" \
            -g 'rspamd_rs_compile_cb: compiled [0-9]+ regular expressions' 2>/dev/null | tail -n 1) || true
        if [ -n "$line" ]; then
            sed -nE 's/.*compiled ([0-9]+) regular expressions.*/\1/p' <<<"$line"
            return 0
        fi
        tries=$((tries + 1))
        sleep 1
    done
}

# The journal's position now (for hyperscan_compiled).
journal_cursor() {
    journalctl -q -n 0 --show-cursor 2>/dev/null | sed -n 's/^-- cursor: //p'
}

# A table that main.cf or master.cf names but no bundle has delivered yet (a new version's
# host-config arrives before its mail-data) starts empty, so lookups do not fail meanwhile.
ensure_postfix_tables() {
    local table
    grep -ohE '(texthash|cidr):/etc/postfix/mailstack/[A-Za-z0-9._-]+' "$root/etc/postfix/main.cf" "$root/etc/postfix/master.cf" |
        sort -u | while IFS= read -r table; do
        table=$root${table#*:}
        [ -e "$table" ] || install -m 0600 /dev/null "$table"
    done
}

# The global Sieve scripts (render/host/sieve.ts SIEVE_DIR). Dovecot runs them as vmail, which
# cannot write a compiled copy there, so they are compiled here: first to a scratch directory
# as a check, then in place once the check passed.
SIEVE_DIR=$root/etc/dovecot/sieve
check_sieve() {
    local f
    [ -d "$SIEVE_DIR" ] || return 0
    for f in "$SIEVE_DIR"/*.sieve; do
        [ -e "$f" ] || continue
        sievec "$f" "$work/sieve-check.svbin" || return 1
    done
}

check() {
    case $1 in
    reload:postfix) postfix check ;;
    reload:dovecot) doveconf -n >/dev/null && check_sieve ;;
    apply:accounts) systemd-sysusers --dry-run "$root"/etc/sysusers.d/mailstack.conf >/dev/null ;;
    apply:rspamd-password) sh -n "$root"/usr/local/sbin/mailstack-rspamd-password ;;
    apply:passwords) python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read())' "$root"/usr/local/sbin/mailstack-passwords ;;
    restart:opendkim) opendkim -n ;;
    restart:sender-milter) python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read())' "$root"/usr/local/sbin/mailstack-sender-milter ;;
    restart:submission-limit) python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read())' "$root"/usr/local/sbin/mailstack-submission-limit ;;
    enable:disk-guard) bash -n "$root"/usr/local/sbin/mailstack-disk-guard ;;
    restart:metadata-guard) nft -c -f "$root"/etc/mailstack/metadata-guard.nft ;;
    restart:smtp-egress-guard) nft -c -f "$root"/etc/mailstack/smtp-egress-guard.nft ;;
    restart:rspamd) rspamadm configtest >/dev/null ;;
    restart:unbound) unbound-checkconf >/dev/null ;;
    restart:mta-sts) python3 -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' "$root"/etc/mta-sts-daemon.yml ;;
    # php is Roundcube's dependency: there whenever the webmail's files are.
    restart:webmail)
        php -l "$root"/etc/roundcube/config.inc.php >/dev/null &&
            for f in "$root"/var/lib/roundcube/plugins/mailstack_*/*.php; do
                [ -e "$f" ] || continue
                php -l "$f" >/dev/null || return 1
            done
        ;;
    # Only while mailstack:dav is on (its Dovecot listener there): off, Radicale is stopped.
    restart:dav)
        [ ! -e "$root"/etc/dovecot/mailstack.d/dav.conf ] || {
            python3 -c 'import configparser, sys; configparser.ConfigParser().read_file(open(sys.argv[1]))' "$root"/etc/radicale/config &&
                python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read())' "$root"/usr/local/lib/mailstack/radicale/mailstack_dovecot_auth.py
        }
        ;;
    reload:nginx) nginx -t -q ;;
    reload:fail2ban) fail2ban-client --test >/dev/null ;;
    restart:ssh) sshd -t ;;
    *) true ;;
    esac
}

run() {
    case $1 in
    daemon-reload) systemctl daemon-reload ;;
    # The users and group memberships the daemons' unix sockets rely on (accounts.ts).
    apply:accounts) systemd-sysusers /etc/sysusers.d/mailstack.conf ;;
    # Moves the queue and the certificates onto the mail volume (it stops and starts Postfix
    # and Dovecot itself, and only when a mount is not active yet).
    apply:volume-state) "$root"/usr/local/sbin/mailstack-volume-state apply ;;
    # Our own units are enabled too: a bundle may bring one to a server that never had it.
    restart:metadata-guard) systemctl enable --quiet mailstack-metadata-guard && systemctl restart mailstack-metadata-guard ;;
    restart:smtp-egress-guard) systemctl enable --quiet mailstack-smtp-egress-guard && systemctl restart mailstack-smtp-egress-guard ;;
    # The resolver first: every daemon after it looks names up through it (resolv.conf).
    restart:unbound) systemctl restart unbound ;;
    restart:postsrsd) systemctl restart postsrsd ;;
    restart:opendkim) systemctl restart opendkim ;;
    restart:sender-milter) systemctl enable --quiet mailstack-sender-milter && systemctl restart mailstack-sender-milter ;;
    # Before Postfix reloads with the check_policy_service that asks it (reload:postfix).
    restart:submission-limit) systemctl enable --quiet mailstack-submission-limit && systemctl restart mailstack-submission-limit ;;
    enable:disk-guard) systemctl enable --quiet --now mailstack-disk-guard.timer ;;
    restart:valkey) systemctl restart valkey-server ;;
    # rspamd's controller password, made once on the server (before rspamd reads its hash).
    apply:rspamd-password) /usr/local/sbin/mailstack-rspamd-password ;;
    # New workers with the new config; a message scanned during the second it takes is deferred (tempfail).
    # Enabled here: its config comes with host-config only, and first-boot leaves it stopped until then.
    restart:rspamd)
        systemctl enable --quiet rspamd
        cursor=$(journal_cursor)
        systemctl restart rspamd
        wait_rspamd
        # Freshly compiled hyperscan databases: once more, so they are loaded from the cache.
        compiled=$(hyperscan_compiled "$cursor")
        if [ -n "$compiled" ] && [ "$compiled" -gt 0 ]; then
            echo "apply-bundle: rspamd compiled $compiled regexps; restarting it to load them from its cache" >&2
            cursor=$(journal_cursor)
            systemctl restart rspamd
            wait_rspamd
            hyperscan_compiled "$cursor" >/dev/null
        fi
        ;;
    restart:mta-sts) systemctl restart postfix-mta-sts-resolver ;;
    reload:dovecot)
        if [ -d "$SIEVE_DIR" ]; then sievec "$SIEVE_DIR"; fi
        reload_or_start dovecot
        ;;
    # On Debian 13 postfix.service is the main instance itself (postfix@- asserts a
    # /etc/postfix--/main.cf that does not exist).
    reload:postfix)
        ensure_postfix_tables
        if systemctl is-active --quiet postfix; then
            local since
            since=$(uptime_ticks)
            systemctl reload postfix
            wait_postfix_children "$since"
        else
            systemctl start postfix
        fi
        ;;
    # The passwd-file Dovecot reads: the configured hashes, or the ones users set themselves
    # while the config has not reset them (mailbox-passwords.ts).
    apply:passwords) "$root"/usr/local/sbin/mailstack-passwords apply ;;
    # Where the webmail asks for a password change (a root-owned helper per connection).
    restart:password-socket) systemctl enable --quiet mailstack-password.socket && systemctl restart mailstack-password.socket ;;
    # Roundcube's state on the mail volume (its des_key made once), then php-fpm restarted.
    restart:webmail) "$root"/usr/local/sbin/mailstack-webmail ;;
    # Radicale (mailstack:dav), after Dovecot has its auth socket; enabled too, since its
    # package's unit may have been installed stopped. With mailstack:dav turned off (its
    # Dovecot listener pruned) it is stopped and disabled instead: installed, not running.
    restart:dav)
        if [ -e "$root"/etc/dovecot/mailstack.d/dav.conf ]; then
            systemctl enable --quiet radicale && systemctl restart radicale
        elif systemctl cat radicale >/dev/null 2>&1; then
            systemctl disable --quiet --now radicale
        fi
        ;;
    reload:nginx) reload_or_start nginx ;;
    reload:fail2ban) reload_or_start fail2ban ;;
    # A restart keeps existing SSH sessions (including this one).
    restart:ssh) systemctl restart ssh ;;
    esac
}

failed=0
still_pending=()
for action in "${ACTION_ORDER[@]}"; do
    [ -n "${want[$action]:-}" ] || continue
    if ! check "$action"; then
        echo "apply-bundle: configuration check for $action failed; previous files put back, $action not run" >&2
        restore "$action"
        failed=1
        # A pending action whose check fails stays pending (its files are the running ones).
        grep -qxF "$action" "$pending_file" 2>/dev/null && still_pending+=("$action")
        continue
    fi
    if run "$action"; then
        echo "ran       $action"
    else
        echo "apply-bundle: $action failed; it runs again with the next bundle" >&2
        failed=1
        still_pending+=("$action")
    fi
done
if [ "${#still_pending[@]}" -gt 0 ]; then
    install -d -m 0700 "$(dirname "$pending_file")"
    printf '%s\n' "${still_pending[@]}" >"$pending_file"
else
    rm -f "$pending_file"
fi

suffix=""
[ "${#removed[@]}" -eq 0 ] || suffix=", ${#removed[@]} removed"
[ "$pending" -eq 0 ] || suffix="$suffix, $pending action(s) pending from an earlier run"
echo "apply-bundle: ${#changed[@]} changed, ${unchanged} unchanged$suffix"
exit "$failed"
