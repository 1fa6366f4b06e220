#!/usr/bin/env bash
# Layer-2 checks: Debian 13's own tools accept what the renderers produce.
#
#   sudo bash test/host-tools/run.sh
#
# Renders every file for a sample two-domain config (render-sample.ts), builds a trixie root
# filesystem with the image and mail packages (lab/rootfs.sh, cached), copies the files into
# place and runs postconf/postfix check, doveconf, doveadm pw, opendkim, nginx -t, sshd -t,
# fail2ban-client --test and `cloud-init schema` inside it with plain chroot (nothing is
# booted), runs scripts/apply-bundle.sh there against a stub systemctl, and shellcheck on
# every shell script. Last line: "N passed, N failed"; exit status non-zero on any failure.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "run.sh: must run as root (chroot, mounts)" >&2; exit 2; }

passed=0
failed=0
ok() {
    passed=$((passed + 1))
    echo "ok    $1"
}
not_ok() {
    failed=$((failed + 1))
    echo "FAIL  $1"
    if [ -n "${2:-}" ]; then printf '%s\n' "$2" | sed 's/^/      /'; fi
}
# check NAME COMMAND...: passes when COMMAND exits 0; its output is shown on failure.
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$out"; fi
}
# quiet NAME COMMAND...: passes when COMMAND exits 0 and prints nothing on stderr (warnings).
quiet() {
    local name=$1 err rc
    shift
    err=$("$@" 2>&1 >/dev/null)
    rc=$?
    if [ "$rc" -eq 0 ] && [ -z "$err" ]; then ok "$name"; else not_ok "$name" "exit $rc${err:+: $err}"; fi
}

work=$(mktemp -d /var/tmp/mailstack-host-tools.XXXXXX)
root=$work/root
mounts=()
# Wait for, then end, the processes started inside the root (the smoke test's daemons), so
# that its mounts can go; only processes whose root directory is this root are touched.
stop_root_processes() {
    local tries pid left
    for tries in $(seq 1 20); do
        left=()
        for pid in /proc/[0-9]*; do
            [ "$(readlink "$pid/root" 2>/dev/null)" = "$root" ] && left+=("${pid#/proc/}")
        done
        [ "${#left[@]}" -eq 0 ] && return 0
        [ "$tries" -eq 10 ] && kill "${left[@]}" 2>/dev/null
        sleep 0.5
    done
    kill -9 "${left[@]}" 2>/dev/null || true
}
cleanup() {
    local i
    stop_root_processes
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
        umount "${mounts[$i]}" 2>/dev/null || umount -l "${mounts[$i]}" 2>/dev/null || echo "run.sh: could not unmount ${mounts[$i]}" >&2
    done
    # Only delete the tree when nothing is mounted below it any more.
    if ! grep -q " $work/" /proc/mounts; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_root() { chroot "$root" /usr/bin/env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

# --- Shell scripts: shellcheck and bash -n ------------------------------------------------------
if ! command -v shellcheck >/dev/null; then
    (apt-get install -y -q shellcheck || { apt-get update -q && apt-get install -y -q shellcheck; }) >/dev/null 2>&1
fi
shopt -s nullglob
scripts=("$repo"/scripts/*.sh "$repo"/lab/*.sh "$repo"/test/host-tools/*.sh "$repo"/cloud-init/templates/mailstack/first-boot.sh "$repo"/cloud-init/templates/certbot/deploy-hook.sh)
shopt -u nullglob
for s in "${scripts[@]}"; do
    rel=${s#"$repo"/}
    case $(head -n1 "$s") in
    *bash*) check "bash -n $rel" bash -n "$s" ;;
    *) check "sh -n $rel" sh -n "$s" ;;
    esac
    if command -v shellcheck >/dev/null; then
        check "shellcheck $rel" shellcheck "$s"
    else
        not_ok "shellcheck $rel" "shellcheck is not installed and could not be installed"
    fi
done

# --- Render the sample config ------------------------------------------------------------------
render=$work/render
if ! out=$(cd "$repo" && npx --no-install tsx test/host-tools/render-sample.ts "$render" 2>&1); then
    not_ok "render the sample two-domain config" "$out"
    echo "$passed passed, $failed failed"
    exit 1
fi
ok "render the sample two-domain config"

# --- A trixie root with the image and mail packages ------------------------------------------
mapfile -t packages < <(node -e 'const p=require(process.argv[1]); console.log([...p.image, ...p.mail].join("\n"))' "$repo/cloud-init/packages.json")
if ! out=$(bash "$repo/lab/rootfs.sh" "$root" "${packages[@]}" 2>&1); then
    not_ok "build the trixie root filesystem" "$out"
    echo "$passed passed, $failed failed"
    exit 1
fi
ok "build the trixie root filesystem (${#packages[@]} packages)"
mount -t proc proc "$root/proc" && mounts+=("$root/proc")
mount --bind /dev "$root/dev" && mounts+=("$root/dev")

# Stubs first in PATH (in_root sets it): systemctl records what the scripts ask for;
# mountpoint pretends the mail volume is mounted. Nothing is booted here.
mkdir -p "$root/usr/local/sbin"
cat >"$root/usr/local/sbin/systemctl" <<'EOF'
#!/bin/sh
echo "$*" >>/tmp/systemctl.log
case $1 in is-active) exit 3 ;; esac
exit 0
EOF
printf '#!/bin/sh\nexit 0\n' >"$root/usr/local/sbin/mountpoint"
chmod 0755 "$root/usr/local/sbin/systemctl" "$root/usr/local/sbin/mountpoint"

# First boot: write the files of the user-data as cloud-init would, then run its script
# (vmail user, mail directory, self-signed certificate, empty tables, services).
cp "$render/user-data" "$root/tmp/user-data"
first_boot=$(in_root python3 -c '
import base64, gzip, os, pwd, grp, yaml
for f in yaml.safe_load(open("/tmp/user-data"))["write_files"]:
    c = f["content"].encode()
    if f.get("encoding") == "gz+b64":
        c = gzip.decompress(base64.b64decode(c))
    os.makedirs(os.path.dirname(f["path"]), exist_ok=True)
    open(f["path"], "wb").write(c)
    user, group = f["owner"].split(":")
    os.chown(f["path"], pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
    os.chmod(f["path"], int(f["permissions"], 8))
' 2>&1 &&
    # The mail volume: a block-device node (never opened; mountpoint is stubbed) at the
    # device path the rendered srv-mail.mount names, as Hetzner's udev link would be.
    volume=$(sed -n 's/^What=//p' "$root/etc/systemd/system/srv-mail.mount") &&
    mkdir -p "$root/tmp/dev" && rm -f "$root/tmp/dev/mail-volume" && mknod "$root/tmp/dev/mail-volume" b 7 250 &&
    sed -i "s|^What=.*|What=/tmp/dev/mail-volume|" "$root/etc/systemd/system/srv-mail.mount" &&
    [ -n "$volume" ] && in_root /usr/local/sbin/mailstack-first-boot 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && [ "$(in_root stat -c '%u:%g' /srv/mail/vhosts 2>&1)" = "5000:5000" ] &&
    in_root openssl x509 -in /etc/mailstack/tls/fullchain.pem -noout -checkhost mail.example.org | grep -q 'does match'; then
    ok "first boot: files, vmail user, mail directory, self-signed certificate"
else
    not_ok "first boot: files, vmail user, mail directory, self-signed certificate" "$first_boot"
fi
if grep -qx "mask dovecot.socket" "$root/tmp/systemctl.log" 2>/dev/null && grep -qx "enable --now certbot.timer" "$root/tmp/systemctl.log"; then
    ok "first boot masks dovecot.socket (port 143) and enables certbot.timer"
else
    not_ok "first boot masks dovecot.socket (port 143) and enables certbot.timer" "$(cat "$root/tmp/systemctl.log" 2>&1)"
fi
rm -f "$root/tmp/systemctl.log"
cp "$repo/scripts/apply-bundle.sh" "$root/tmp/apply-bundle.sh"

# --- apply-bundle.sh installs the three bundles with the right owners and modes --------------
for b in host-config mail-data dkim; do
    check "apply-bundle.sh installs the $b bundle" in_root bash /tmp/apply-bundle.sh <"$render/$b.bundle"
done
bad_meta=""
while IFS=$'\t' read -r path mode owner group; do
    want="$(printf '%o' "$((8#$mode))") $owner $group"
    have=$(in_root stat -c '%a %U %G' "$path" 2>&1)
    [ "$have" = "$want" ] || bad_meta+="$path: $have, want $want"$'\n'
    cmp -s "$render/root$path" "$root$path" || bad_meta+="$path: content differs"$'\n'
done <"$render/files.tsv"
if [ -z "$bad_meta" ]; then ok "installed files have the rendered content, mode and owner"; else not_ok "installed files have the rendered content, mode and owner" "$bad_meta"; fi
if grep -qx "restart opendkim" "$root/tmp/systemctl.log" && grep -qx "start postfix" "$root/tmp/systemctl.log"; then
    ok "apply-bundle.sh restarts opendkim and starts a stopped postfix"
else
    not_ok "apply-bundle.sh restarts opendkim and starts a stopped postfix" "$(cat "$root/tmp/systemctl.log" 2>&1)"
fi

rm -f "$root/tmp/systemctl.log"
again=""
for b in host-config mail-data dkim; do
    again+=$(in_root bash /tmp/apply-bundle.sh <"$render/$b.bundle" 2>&1)$'\n'
done
if [ "$(grep -c '^apply-bundle: unchanged' <<<"$again")" -eq 3 ] && [ ! -e "$root/tmp/systemctl.log" ]; then
    ok "apply-bundle.sh: the same bundles again change nothing and restart nothing"
else
    not_ok "apply-bundle.sh: the same bundles again change nothing and restart nothing" "$again$(cat "$root/tmp/systemctl.log" 2>/dev/null)"
fi

before=$(sha256sum "$root/etc/postfix/main.cf")
# The bundle cut after a complete file line: no `end`.
head -n 2 "$render/host-config.bundle" | sed '2s|^file /etc/postfix/main.cf .*|file /etc/postfix/main.cf 0644 root root reload:postfix '"$(printf 'x = 1\n' | base64 -w0)"'|' >"$work/cut.bundle"
if ! in_root bash /tmp/apply-bundle.sh <"$work/cut.bundle" >/dev/null 2>&1 && [ "$(sha256sum "$root/etc/postfix/main.cf")" = "$before" ]; then
    ok "apply-bundle.sh refuses a bundle without 'end' and installs nothing"
else
    not_ok "apply-bundle.sh refuses a bundle without 'end' and installs nothing"
fi
# A main.cf that postfix check rejects is put back and postfix is not reloaded.
broken=$( (cat "$render/root/etc/postfix/main.cf"; echo "message_size_limit = not-a-number") | base64 -w0)
printf 'mailstack-bundle 1\nfile /etc/postfix/main.cf 0644 root root reload:postfix %s\nend\n' "$broken" >"$work/broken.bundle"
rm -f "$root/tmp/systemctl.log"
if ! in_root bash /tmp/apply-bundle.sh <"$work/broken.bundle" >/dev/null 2>&1 && [ "$(sha256sum "$root/etc/postfix/main.cf")" = "$before" ] &&
    ! grep -q postfix "$root/tmp/systemctl.log" 2>/dev/null; then
    ok "apply-bundle.sh puts back a main.cf that postfix check rejects and does not reload postfix"
else
    not_ok "apply-bundle.sh puts back a main.cf that postfix check rejects and does not reload postfix" "$(cat "$root/tmp/systemctl.log" 2>/dev/null)"
fi
# An upgrade whose host-config names a table the mail-data step has not delivered yet:
# the table starts empty (root-only) before Postfix reloads, and mail-data then fills it.
mv "$root/etc/postfix/mailstack/own-sender-domains" "$work/own-sender-domains"
echo "# older main.cf" >>"$root/etc/postfix/main.cf"
upgrade=$(in_root bash /tmp/apply-bundle.sh <"$render/host-config.bundle" 2>&1)
if [ "$(stat -c '%s %a' "$root/etc/postfix/mailstack/own-sender-domains" 2>&1)" = "0 600" ] && grep -q "ran       reload:postfix" <<<"$upgrade"; then
    ok "apply-bundle.sh creates a table main.cf names but no bundle delivered yet, before reloading Postfix"
else
    not_ok "apply-bundle.sh creates a table main.cf names but no bundle delivered yet, before reloading Postfix" "$upgrade"
fi
in_root bash /tmp/apply-bundle.sh <"$render/mail-data.bundle" >/dev/null 2>&1
cmp -s "$work/own-sender-domains" "$root/etc/postfix/mailstack/own-sender-domains" || not_ok "mail-data fills the table again"

# --- Postfix -------------------------------------------------------------------------------------
quiet "postconf -n accepts main.cf without a warning" in_root postconf -n -c /etc/postfix
postfix_check() { in_root postfix -c /etc/postfix check 2>&1 | grep -v '^updating /' || true; }
out=$(postfix_check)
if [ -z "$out" ] && in_root postfix -c /etc/postfix check >/dev/null 2>&1; then ok "postfix check accepts the configuration"; else not_ok "postfix check accepts the configuration" "$out"; fi

expect_postconf() { # NAME PARAM EXPECTED [postconf options]
    local name=$1 param=$2 want=$3 have
    shift 3
    have=$(in_root postconf "$@" -h "$param" 2>&1)
    if [ "$have" = "$want" ]; then ok "$name"; else not_ok "$name" "$param = $have (want $want)"; fi
}
expect_postconf "port 25 offers no AUTH" smtpd_sasl_auth_enable no
expect_postconf "port 25 relays only for the machine itself" smtpd_relay_restrictions "permit_mynetworks, reject_unauth_destination"
expect_postconf "mynetworks is loopback only" mynetworks "127.0.0.0/8 [::1]/128"
expect_postconf "port 587 requires TLS" submission/inet/smtpd_tls_security_level encrypt -P
expect_postconf "port 587 requires AUTH to relay" submission/inet/smtpd_relay_restrictions "permit_sasl_authenticated,reject" -P
for service in submission submissions; do
    # shellcheck disable=SC2016 # the literal $name master.cf refers to
    expect_postconf "$service uses the submission sender restrictions" "$service/inet/smtpd_sender_restrictions" '$mailstack_submission_sender_restrictions' -P
    expect_postconf "$service: OpenDKIM down means try later, never unsigned" "$service/inet/milter_default_action" tempfail -P
done
expect_postconf "465/587 enforce the sender-login map and refuse the null sender" mailstack_submission_sender_restrictions \
    "reject_non_fqdn_sender, check_sender_access inline:{ { <> = REJECT 5.7.1 Use your own address as sender } }, reject_sender_login_mismatch, permit_sasl_authenticated, reject"
expect_postconf "port 465 is implicit TLS" submissions/inet/smtpd_tls_wrappermode yes -P
expect_postconf "port 465 requires AUTH to relay" submissions/inet/smtpd_relay_restrictions "permit_sasl_authenticated,reject" -P
expect_postconf "smtpd accepts TLS 1.2 and later only" smtpd_tls_protocols ">=TLSv1.2"
expect_postconf "no percent hack" allow_percent_hack no
expect_postconf "no bang-path swapping" swap_bangpath no
expect_postconf "relay host from the config" relayhost "[smtp.relay.example.net]:587"
expect_postconf "TLS with a verified certificate to the relay" smtp_tls_security_level secure

lookup() { in_root postmap -q "$1" "texthash:/etc/postfix/mailstack/$2" 2>&1; }
expect_lookup() { # NAME KEY TABLE EXPECTED ("" = not found)
    local have
    have=$(lookup "$2" "$3")
    if [ "$have" = "$4" ]; then ok "$1"; else not_ok "$1" "$3[$2] = '$have' (want '$4')"; fi
}
expect_lookup "both domains are virtual mailbox domains" example.com virtual-domains OK
expect_lookup "a mailbox of the second domain is known" carol@example.com virtual-mailboxes example.com/carol/Maildir/
expect_lookup "an unknown address is not a mailbox" nobody@example.com virtual-mailboxes ""
expect_lookup "an alias reaches both mailboxes" info@example.org virtual-aliases "alice@example.org,bob@example.org"
expect_lookup "root of the host reaches the first domain's postmaster" root@mail.example.org virtual-aliases postmaster@example.org
expect_lookup "abuse@ exists for every domain" abuse@example.com virtual-aliases postmaster@example.com
expect_lookup "a mailbox may send as an alias that reaches it" info@example.org sender-logins "alice@example.org,bob@example.org"
expect_lookup "nobody may send as a forward-only alias" forward@example.org sender-logins ""
expect_lookup "port 25 refuses our own domains as sender" example.com own-sender-domains "REJECT 5.7.1 Mail from example.com is only accepted with authentication on port 587 or 465"
relay_meta=$(in_root stat -c '%a %U' /etc/postfix/mailstack/relay-password 2>&1)
if [ "$relay_meta" = "600 root" ]; then ok "relay credentials are 0600 root"; else not_ok "relay credentials are 0600 root" "$relay_meta"; fi

# --- Dovecot ---------------------------------------------------------------------------------------
quiet "doveconf -n accepts dovecot.conf without a warning" in_root doveconf -n -c /etc/dovecot/dovecot.conf
expect_doveconf() { # NAME SETTING EXPECTED
    local have
    have=$(in_root doveconf -c /etc/dovecot/dovecot.conf -h "$2" 2>&1)
    if [ "$have" = "$3" ]; then ok "$1"; else not_ok "$1" "$2 = $have (want $3)"; fi
}
expect_doveconf "dovecot requires TLS" ssl required
expect_doveconf "dovecot refuses clear-text authentication" auth_allow_cleartext no
expect_doveconf "dovecot TLS 1.2 and later" ssl_min_protocol TLSv1.2
expect_doveconf "mail on the mail volume" mail_home "/srv/mail/vhosts/%{user | domain}/%{user | username}"
listeners=$(in_root doveconf -c /etc/dovecot/dovecot.conf -n service/imap-login service/pop3-login 2>&1 | tr -s ' \n' ' ')
if [[ "$listeners" == *"inet_listener imap { port = 0 }"* && "$listeners" == *"inet_listener pop3 { port = 0 }"* &&
    "$listeners" == *"inet_listener imaps { port = 993 ssl = yes }"* && "$listeners" == *"inet_listener pop3s { port = 995 ssl = yes }"* ]]; then
    ok "dovecot listens on 993/995 only (143/110 disabled)"
else
    not_ok "dovecot listens on 993/995 only (143/110 disabled)" "$listeners"
fi
sockets=$(in_root doveconf -c /etc/dovecot/dovecot.conf -n service/lmtp service/auth 2>&1 | tr -s ' \n' ' ')
if [[ "$sockets" == *"unix_listener /var/spool/postfix/private/dovecot-lmtp {"* && "$sockets" == *"unix_listener /var/spool/postfix/private/auth {"* ]]; then
    ok "dovecot LMTP and auth sockets are in the Postfix spool"
else
    not_ok "dovecot LMTP and auth sockets are in the Postfix spool" "$sockets"
fi
hash=$(grep -m1 '^alice@example.org:' "$root/etc/dovecot/users" | cut -d: -f2)
check "doveadm pw accepts the rendered password hash" in_root doveadm pw -t "$hash" -p "$(cat "$render/password")"
if ! in_root doveadm pw -t "$hash" -p "wrong password" >/dev/null 2>&1; then ok "doveadm pw rejects a wrong password"; else not_ok "doveadm pw rejects a wrong password"; fi

# --- OpenDKIM ------------------------------------------------------------------------------------
check "opendkim -n accepts opendkim.conf" in_root opendkim -n -x /etc/opendkim.conf
keys_ok=""
while read -r name spec; do
    case $name in '#'* | '') continue ;; esac
    keyfile=${spec##*:}
    meta=$(in_root stat -c '%a %U' "$keyfile" 2>&1)
    [ "$meta" = "600 opendkim" ] || keys_ok+="$keyfile: $meta (want 600 opendkim)"$'\n'
    in_root openssl pkey -in "$keyfile" -noout -check >/dev/null 2>&1 || keys_ok+="$keyfile: not a valid private key"$'\n'
done <"$root/etc/opendkim/key.table"
if [ -z "$keys_ok" ] && [ "$(grep -vc '^#' "$root/etc/opendkim/key.table")" -eq 2 ]; then
    ok "every domain has a valid DKIM key readable only by opendkim"
else
    not_ok "every domain has a valid DKIM key readable only by opendkim" "$keys_ok"
fi

# --- nginx, sshd, fail2ban, postsrsd, the deploy hook --------------------------------------------
apt_eff=$(in_root apt-config dump 2>&1 | grep -E '^(DPkg::Options::|APT::Periodic::Unattended-Upgrade|Unattended-Upgrade::Automatic-Reboot) ' | sort | tr '\n' ' ')
if [ "$apt_eff" = 'APT::Periodic::Unattended-Upgrade "1"; DPkg::Options:: "--force-confdef"; DPkg::Options:: "--force-confold"; Unattended-Upgrade::Automatic-Reboot "false"; ' ]; then
    ok "apt: daily unattended upgrades that keep our config files, no automatic reboot"
else
    not_ok "apt: daily unattended upgrades that keep our config files, no automatic reboot" "$apt_eff"
fi
check "nginx -t accepts the configuration" in_root nginx -t -q -c /etc/nginx/nginx.conf
in_root ssh-keygen -A >/dev/null 2>&1
check "sshd -t accepts the drop-in" in_root sshd -t
sshd_eff=$(in_root sshd -T 2>&1 | grep -E '^(passwordauthentication|kbdinteractiveauthentication|permitrootlogin) ' | sort | tr '\n' ' ')
if [ "$sshd_eff" = "kbdinteractiveauthentication no passwordauthentication no permitrootlogin without-password " ]; then
    ok "sshd: keys only, root with a key only"
else
    not_ok "sshd: keys only, root with a key only" "$sshd_eff"
fi
check "fail2ban-client --test accepts the jails" in_root fail2ban-client --test
jails=$(in_root fail2ban-client -d 2>/dev/null | grep -oE "\['add', '[a-z-]+', 'systemd'\]" | sort | tr '\n' ' ')
if [ "$jails" = "['add', 'dovecot', 'systemd'] ['add', 'postfix-sasl', 'systemd'] ['add', 'sshd', 'systemd'] " ]; then
    ok "fail2ban jails dovecot, postfix-sasl, sshd read the journal"
else
    not_ok "fail2ban jails dovecot, postfix-sasl, sshd read the journal" "$jails"
fi
# The failed-login lines Dovecot 2.4 and Postfix 3.10 write (from the lab's journal): each
# jail's filter, with our overrides, must find the address in them.
cat >"$root/tmp/dovecot-fail.log" <<'LOG'
2026-11-23T09:26:31.000000+00:00 mail dovecot[104]: imap-login: Login aborted: Logged out (auth failed, 1 attempts in 17 secs) (auth_failed): user=<bob@example.org>, method=PLAIN, rip=198.51.100.66, lip=192.0.2.25, TLS, session=<DYNxL+5g2Z/GM2RC>
2026-11-23T09:26:50.000000+00:00 mail dovecot[104]: pop3-login: Login aborted: Connection closed (auth failed, 3 attempts in 16 secs) (auth_failed): user=<bob@example.org>, method=PLAIN, rip=2001:db8::66, lip=2001:db8::25, TLS, session=<wy9yMe5gJZLGM2RC>
LOG
cat >"$root/tmp/postfix-fail.log" <<'LOG'
2026-11-23T09:25:48.000000+00:00 mail postfix/submission/smtpd[316]: warning: unknown[198.51.100.66]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=alice@example.org
2026-11-23T09:25:49.000000+00:00 mail postfix/submissions/smtpd[317]: warning: unknown[2001:db8::66]: SASL LOGIN authentication failed: (reason unavailable), sasl_username=alice@example.org
LOG
f2b_catches() { # f2b_catches FILTER LOG: every line of LOG matches FILTER
    local filter=$1 log=$2 lines hits
    lines=$(wc -l <"$root/tmp/$log")
    hits=$(in_root fail2ban-regex "/tmp/$log" "$filter" 2>&1 | sed -n 's/^Lines: [0-9]* lines, [0-9]* ignored, \([0-9]*\) matched.*/\1/p')
    if [ "$hits" = "$lines" ]; then
        ok "fail2ban's $filter filter catches the failed logins of Debian 13's daemons"
    else
        not_ok "fail2ban's $filter filter catches the failed logins of Debian 13's daemons" "$(in_root fail2ban-regex "/tmp/$log" "$filter" 2>&1 | tail -20)"
    fi
}
f2b_catches dovecot dovecot-fail.log
f2b_catches 'postfix[mode=auth]' postfix-fail.log
# shellcheck disable=SC2016 # expanded by the shell inside the root
check "postsrsd settings are shell-readable with the host as SRS domain" in_root sh -c '. /etc/default/postsrsd && [ "$SRS_DOMAIN" = mail.example.org ] && [ "$SRS_EXCLUDE_DOMAINS" = example.org,example.com ]'
in_root sh -c 'mkdir -p /etc/letsencrypt/live/mail.example.org && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 90 -subj /CN=mail.example.org -keyout /etc/letsencrypt/live/mail.example.org/privkey.pem -out /etc/letsencrypt/live/mail.example.org/fullchain.pem' >/dev/null 2>&1
rm -f "$root/tmp/systemctl.log"
if in_root env RENEWED_LINEAGE=/etc/letsencrypt/live/mail.example.org /etc/letsencrypt/renewal-hooks/deploy/50-mailstack &&
    cmp -s "$root/etc/letsencrypt/live/mail.example.org/fullchain.pem" "$root/etc/mailstack/tls/fullchain.pem" &&
    [ "$(in_root stat -c '%a %U' /etc/mailstack/tls/privkey.pem)" = "600 root" ]; then
    ok "certbot deploy hook installs the certificate for Postfix and Dovecot"
else
    not_ok "certbot deploy hook installs the certificate for Postfix and Dovecot"
fi

# --- The daemons themselves, in a private network namespace ------------------------------------------
# Postfix, Dovecot, OpenDKIM and postsrsd run from the root (plain processes, nothing booted,
# nothing listening on this machine's network) and smoke.py talks SMTP/LMTP/IMAP/POP3 to them.
cp -a "$render" "$root/tmp/render"
cp "$repo/test/host-tools/smoke.py" "$repo/test/host-tools/smoke-daemons.sh" "$root/tmp/"
smoke=$(unshare --net chroot "$root" /usr/bin/env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin bash /tmp/smoke-daemons.sh 2>&1)
smoke_rc=$?
stop_root_processes
smoke_lines=0
while IFS= read -r line; do
    case $line in
    "ok "*) ok "${line#ok }" && smoke_lines=$((smoke_lines + 1)) ;;
    "FAIL "*) not_ok "${line#FAIL }" && smoke_lines=$((smoke_lines + 1)) ;;
    esac
done <<<"$smoke"
if [ "$smoke_lines" -eq 0 ] || { [ "$smoke_rc" -ne 0 ] && ! grep -q '^FAIL ' <<<"$smoke"; }; then
    not_ok "the daemons start and answer" "$smoke"
elif [ "$smoke_rc" -ne 0 ]; then
    printf '%s\n' "$smoke" | grep -v '^ok ' | sed 's/^/      /'
fi

# --- cloud-init user-data ----------------------------------------------------------------------------
schema=$(in_root cloud-init schema --config-file /tmp/user-data 2>&1)
if [[ "$schema" == *"Valid schema"* ]] && ! grep -qi 'deprecat' <<<"$schema"; then
    ok "cloud-init schema: user-data valid, no deprecations"
else
    not_ok "cloud-init schema: user-data valid, no deprecations" "$schema"
fi
size=$(wc -c <"$render/user-data")
if [ "$size" -lt 32768 ]; then ok "user-data is $size bytes (< 32 KiB)"; else not_ok "user-data is $size bytes (< 32 KiB)"; fi
# Expand the compressed files the way cloud-init will and look for anything secret or per-domain.
expanded=$(in_root python3 - /tmp/render/user-data <<'PY'
import base64, gzip, sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
for f in cfg["write_files"]:
    c = f["content"]
    if f.get("encoding") == "gz+b64":
        c = gzip.decompress(base64.b64decode(c)).decode()
    print(c)
PY
)
if [ -n "$expanded" ] && ! grep -qE 'PRIVATE KEY|\{BLF-CRYPT\}\$|relay secret|example\.com|carol|alice' <<<"$expanded"; then
    ok "user-data holds no secret and nothing of the domains or mailboxes"
else
    not_ok "user-data holds no secret and nothing of the domains or mailboxes" "$(grep -nE 'PRIVATE KEY|\{BLF-CRYPT\}\$|relay secret|example\.com|carol|alice' <<<"$expanded" | head -5)"
fi
# Every file the user-data writes is what the host-config bundle installs.
if in_root python3 - /tmp/render/user-data /tmp/render/root <<'PY'
import base64, gzip, sys, yaml, os
cfg = yaml.safe_load(open(sys.argv[1]))
bad = 0
for f in cfg["write_files"]:
    if f.get("encoding") != "gz+b64":
        continue
    c = gzip.decompress(base64.b64decode(f["content"]))
    if open(sys.argv[2] + f["path"], "rb").read() != c:
        print("differs:", f["path"]); bad = 1
sys.exit(bad)
PY
then ok "user-data files equal the host-config files"; else not_ok "user-data files equal the host-config files"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
