#!/bin/bash
# /usr/local/sbin/mailstack-import - written by mailstack (import step).
# Imports the mail of old IMAP accounts (mailstack:imports) into mailboxes here, one way:
# mbsync pulls new messages and flag changes and never changes, moves or deletes anything at
# the old provider. Each account's settings are /etc/mailstack/import/<mailbox>.mbsyncrc,
# its password <mailbox>.password (root only, from the import step over SSH, never in the
# user-data) or, with OAuth2, <mailbox>.oauth2 (the app and endpoints; the refresh token is
# /srv/mail/state/import/<mailbox>/oauth2-refresh-token, from `authorize`). What was already imported is recorded in mbsync's state on the mail volume
# (/srv/mail/state/import/<mailbox>/), so every run adds only what is new, an interrupted
# run is completed by the next one, and a restored server does not import everything twice.
#
#   mailstack-import run       import every configured account once (the hourly timer)
#   mailstack-import enable    the timer on, and a first run started, when accounts are configured;
#                              else the timer off (the import step runs this)
#   mailstack-import authorize MAILBOX
#                              an account with auth: "oauth2" (Microsoft 365): sign in once with
#                              the code it prints (import-oauth2.py); then the import starts
#   mailstack-import status    one line per account for `mailstack doctor` ("none" without any):
#                              <mailbox> never|running|ok|failed <epoch> <imported> <message>
set -uo pipefail

conf=/etc/mailstack/import
state=/srv/mail/state/import
lib=/usr/local/lib/mailstack
die() {
    echo "mailstack-import: $*" >&2
    exit 1
}
[ "$(id -u)" -eq 0 ] || die "must run as root"

accounts() { find "$conf" -maxdepth 1 -name '*.mbsyncrc' -printf '%f\n' 2>/dev/null | sed 's/\.mbsyncrc$//' | sort; }

# status MAILBOX STATE IMPORTED MESSAGE: the account's last result, for `status` and doctor.
status() {
    local file=$state/$1/status
    printf '%s %s %s %s\n' "$2" "$(date +%s)" "$3" "$4" >"$file.tmp" && mv "$file.tmp" "$file"
}

# A note into the user's INBOX, as the quota warning does (dovecot-lda, no filter runs).
tell_user() { # tell_user MAILBOX SUBJECT (body on stdin)
    local mailbox=$1 from="postmaster@${1##*@}"
    {
        printf 'From: Postmaster <%s>\nTo: <%s>\nSubject: %s\nDate: %s\n' "$from" "$mailbox" "$2" "$(date -R)"
        printf 'Message-ID: <import-%s.%s@%s>\nAuto-Submitted: auto-generated\n' "$(date +%s)" "$$" "${mailbox##*@}"
        printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n'
        cat
    } | /usr/lib/dovecot/dovecot-lda -d "$mailbox" -f "$from" -o quota_enforce=no ||
        echo "mailstack-import: $mailbox: could not deliver the note \"$2\"" >&2
}

import_one() { # import_one MAILBOX
    local mailbox=$1 rc=$conf/$1.mbsyncrc dir=$state/$1 run=/run/mailstack-import
    local folders errors out code imported summary previous
    mkdir -p "$dir" "$run" && chmod 0700 "$dir" "$run"
    previous=$(cut -d' ' -f1 "$dir/status" 2>/dev/null || echo never)
    status "$mailbox" running 0 "started"
    echo "$mailbox: connecting to the old account"
    # OAuth2 (Microsoft 365): an access token for this run from the refresh token first; an
    # expired or revoked authorization stops here, with the reason, before anything is imported.
    if [ -f "$conf/$mailbox.oauth2" ]; then
        python3 "$lib/import-oauth2.py" refresh "$mailbox" 2>"$run/$mailbox.oauth2.log"
        code=$?
        sed "s/^/$mailbox: /" "$run/$mailbox.oauth2.log"
        if [ "$code" -ne 0 ]; then
            fail "$mailbox" "$previous" "$(tail -n 1 "$run/$mailbox.oauth2.log")"
            return 1
        fi
    fi
    # The folders there and where each goes here; a bad host, certificate or password stops
    # here, with the reason, before anything is imported.
    folders=$(python3 "$lib/import-folders.py" "$rc" 2>"$run/$mailbox.folders.log")
    code=$?
    sed "s/^/$mailbox: /" "$run/$mailbox.folders.log"
    if [ "$code" -ne 0 ]; then
        rm -f "$run/$mailbox.token"
        errors=$(tail -n 1 "$run/$mailbox.folders.log")
        fail "$mailbox" "$previous" "$errors"
        return 1
    fi
    { cat "$rc"; echo; echo "$folders"; } >"$run/$mailbox.rc"
    chmod 0600 "$run/$mailbox.rc"
    # Progress in the journal as mbsync reports it; its summary line counts what it pulled.
    mbsync -V -c "$run/$mailbox.rc" -a 2>&1 | tee "$run/$mailbox.log" | sed -u "s/^/$mailbox: /"
    code=${PIPESTATUS[0]}
    out=$(cat "$run/$mailbox.log")
    rm -f "$run/$mailbox.rc" "$run/$mailbox.log" "$run/$mailbox.token"
    imported=$(grep -o 'Near: +[0-9]*' <<<"$out" | tail -n 1 | tr -dc 0-9)
    imported=${imported:-0}
    if [ "$code" -ne 0 ]; then
        errors=$(grep -iE 'error|fatal|fail|refused|certificate' <<<"$out" | tail -n 1)
        fail "$mailbox" "$previous" "mbsync failed (exit $code): ${errors:-see journalctl -u mailstack-import}; $imported message(s) imported, the next run goes on from there"
        return 1
    fi
    summary="$imported new message(s) imported"
    status "$mailbox" ok "$imported" "$summary"
    echo "$mailbox: done: $summary"
    if [ "$imported" -gt 0 ] || [ "$previous" = failed ] || [ "$previous" = never ]; then
        tell_user "$mailbox" "Import from your old account: $summary" <<MAIL
The import of your old mail account into $mailbox ran at $(date -u '+%Y-%m-%d %H:%M UTC').

$summary. Folders:
$(sed -n 's/^folder //p' "$run/$mailbox.folders.log")

It runs every hour and brings only what is new, until the import is switched off
(mailstack:imports). Nothing is changed or deleted at the old provider.
MAIL
    fi
}

fail() { # fail MAILBOX PREVIOUS MESSAGE
    echo "$1: FAILED: $3" >&2
    status "$1" failed 0 "$3"
    # Mail the user once per failure, not every hour.
    [ "$2" = failed ] || tell_user "$1" "Import from your old account failed" <<MAIL
The import of your old mail account into $1 failed at $(date -u '+%Y-%m-%d %H:%M UTC'):

$3

It is tried again every hour. Nothing was changed at the old provider, and what was
imported before stays; the next successful run goes on where this one stopped.
MAIL
}

case ${1:-} in
run)
    failed=0 n=0
    for mailbox in $(accounts); do
        n=$((n + 1))
        import_one "$mailbox" || failed=$((failed + 1))
    done
    echo "mailstack-import: $n account(s), $failed failed"
    [ "$failed" -eq 0 ]
    ;;
authorize)
    # The OAuth2 device authorization (RFC 8628), once per account: where to sign in and the
    # code, then the refresh token kept on the mail volume; the first import starts after it.
    mailbox=$(tr '[:upper:]' '[:lower:]' <<<"${2:-}")
    [ -f "$conf/$mailbox.oauth2" ] || die "usage: mailstack-import authorize MAILBOX, for an import with auth: \"oauth2\" (configured: $(find "$conf" -maxdepth 1 -name '*.oauth2' -printf '%f ' 2>/dev/null | sed 's/\.oauth2 / /g'))"
    mkdir -p "$state/$mailbox" && chmod 0700 "$state/$mailbox"
    python3 "$lib/import-oauth2.py" authorize "$mailbox" || exit 1
    systemctl start --no-block mailstack-import.service
    echo "mailstack-import: the import of $mailbox started: journalctl -fu mailstack-import"
    ;;
enable)
    # A refresh token is a credential to the old account: gone when its import is switched
    # off or no longer logs in with OAuth2.
    for dir in "$state"/*/; do
        [ -f "$dir/oauth2-refresh-token" ] || continue
        mailbox=$(basename "$dir")
        [ -f "$conf/$mailbox.oauth2" ] || rm -f "$dir/oauth2-refresh-token"
    done
    if [ -n "$(accounts)" ]; then
        systemctl daemon-reload
        systemctl enable --now mailstack-import.timer
        # The first import starts now, not at the next full hour.
        systemctl start --no-block mailstack-import.service
    else
        # Switched off: the import step removed the units; stop what is left of them.
        systemctl stop mailstack-import.timer mailstack-import.service 2>/dev/null || true
        rm -f /etc/systemd/system/timers.target.wants/mailstack-import.timer
        systemctl daemon-reload
        systemctl reset-failed mailstack-import.service mailstack-import.timer 2>/dev/null || true
    fi
    ;;
status)
    [ -n "$(accounts)" ] || echo none
    for mailbox in $(accounts); do
        printf '%s %s\n' "$mailbox" "$(cat "$state/$mailbox/status" 2>/dev/null || echo 'never 0 0 not run yet')"
    done
    ;;
*)
    die "usage: mailstack-import run|enable|status|authorize MAILBOX"
    ;;
esac
