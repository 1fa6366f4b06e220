# shellcheck shell=bash
# Part of run.sh (lib.sh first): the first boot. Write the files of the user-data as cloud-init
# would, then run its script (vmail user, mail directory, self-signed certificate, empty tables,
# services).
cp "$RENDER/user-data" "$ROOT/tmp/user-data"
first_boot=$(in_root python3 -c '
import base64, os, pwd, grp, yaml
for f in yaml.safe_load(open("/tmp/user-data"))["write_files"]:
    c = f["content"].encode()
    if f.get("encoding") == "b64":
        c = base64.b64decode(c)
    os.makedirs(os.path.dirname(f["path"]), exist_ok=True)
    open(f["path"], "wb").write(c)
    user, group = f["owner"].split(":")
    os.chown(f["path"], pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
    os.chmod(f["path"], int(f["permissions"], 8))
' 2>&1 &&
    # The mail volume: a block-device node (never opened; mountpoint is stubbed) at the
    # device path the rendered srv-mail.mount names, as Hetzner's udev link would be.
    volume=$(sed -n 's/^What=//p' "$ROOT/etc/systemd/system/srv-mail.mount") &&
    mkdir -p "$ROOT/tmp/dev" && rm -f "$ROOT/tmp/dev/mail-volume" && mknod "$ROOT/tmp/dev/mail-volume" b 7 250 &&
    sed -i "s|^What=.*|What=/tmp/dev/mail-volume|" "$ROOT/etc/systemd/system/srv-mail.mount" &&
    [ -n "$volume" ] && in_root /usr/local/sbin/mailstack-first-boot 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && [ "$(in_root stat -c '%u:%g' /srv/mail/vhosts 2>&1)" = "5000:5000" ] &&
    in_root openssl x509 -in /etc/mailstack/tls/fullchain.pem -noout -checkhost mail.example.org | grep -q 'does match'; then
    ok "first boot: files, vmail user, mail directory, self-signed certificate"
else
    not_ok "first boot: files, vmail user, mail directory, self-signed certificate" "$first_boot"
fi
if grep -qx "mask dovecot.socket" "$ROOT/tmp/systemctl.log" 2>/dev/null && grep -qx "enable --now certbot.timer" "$ROOT/tmp/systemctl.log"; then
    ok "first boot masks dovecot.socket (port 143) and enables certbot.timer"
else
    not_ok "first boot masks dovecot.socket (port 143) and enables certbot.timer" "$(cat "$ROOT/tmp/systemctl.log" 2>&1)"
fi
# The queue, /etc/letsencrypt and Valkey's data were copied onto the volume (here: the root's
# /srv/mail) with their owners, and their bind mounts started after the mail volume was mounted
# and the daemons that write them (Postfix, Dovecot, certbot, Valkey) were stopped.
# shellcheck disable=SC2016 # the quoted script expands its variables inside the root
state_ok=$(in_root sh -c 'for d in /var/spool/postfix:postfix-queue /etc/letsencrypt:letsencrypt /var/lib/valkey:valkey; do
        a=$(cd "${d%%:*}" && find . -printf "%p %u %g %m\n" | sort); b=$(cd "/srv/mail/state/${d#*:}" && find . -printf "%p %u %g %m\n" | sort)
        [ -n "$a" ] && [ "$a" = "$b" ] && echo "same ${d#*:}"
    done' 2>&1)
order=$(grep -nE '^(stop |start [a-z-]+\.mount$)' "$ROOT/tmp/systemctl.log" | cut -d: -f2 | tr '\n' ,)
# (certbot's deploy hook is not among them: host-config brings it, through the bind mount.)
if [ "$(tr '\n' , <<<"$state_ok")" = "same postfix-queue,same letsencrypt,same valkey," ] &&
    [ "$order" = "start srv-mail.mount,stop dovecot postfix certbot.timer valkey-server certbot.service,start var-spool-postfix.mount,start etc-letsencrypt.mount,start var-lib-valkey.mount," ]; then
    ok "first boot moves the Postfix queue, /etc/letsencrypt and Valkey's data onto the mail volume (owners kept), their daemons stopped"
else
    not_ok "first boot moves the Postfix queue, /etc/letsencrypt and Valkey's data onto the mail volume (owners kept), their daemons stopped" "$state_ok"$'\n'"$order"
fi
rm -f "$ROOT/tmp/systemctl.log"

# The mail volume's state version (render/host/migrations.ts): the first boot gave the fresh
# volume this mailstack's; host-config's rendered mailstack-migrate passes shellcheck, finds
# nothing to migrate, and refuses a newer volume without touching it.
migrate=/tmp/render/root/usr/local/sbin/mailstack-migrate
check "shellcheck mailstack-migrate (rendered)" shellcheck "$RENDER/root/usr/local/sbin/mailstack-migrate"
want_version=$(sed -n 's/^current=//p' "$RENDER/root/usr/local/sbin/mailstack-migrate")
# shellcheck disable=SC2016 # the literal $root of the rendered script
version_file=$(sed -n 's/^version_file=\$root//p' "$RENDER/root/usr/local/sbin/mailstack-migrate")
have_version=$(in_root cat "$version_file" 2>&1)
again=$(in_root bash "$migrate" run 2>&1)
if [ -n "$want_version" ] && [ "$have_version" = "$want_version" ] && [ "$again" = "mailstack-migrate: state version $want_version, nothing to migrate" ]; then
    ok "first boot: a fresh mail volume at state version $want_version; mailstack-migrate run finds nothing to migrate"
else
    not_ok "first boot: a fresh mail volume at state version $want_version; mailstack-migrate run finds nothing to migrate" "version: $have_version"$'\n'"$again"
fi
echo $((want_version + 1)) >"$ROOT$version_file"
if ! refused=$(in_root bash "$migrate" run 2>&1) && grep -q "state is version $((want_version + 1)), newer than this mailstack's version $want_version" <<<"$refused" &&
    [ "$(cat "$ROOT$version_file")" = "$((want_version + 1))" ]; then
    ok "mailstack-migrate refuses a mail volume newer than this mailstack and leaves its version"
else
    not_ok "mailstack-migrate refuses a mail volume newer than this mailstack and leaves its version" "$refused"
fi
echo "$want_version" >"$ROOT$version_file"
