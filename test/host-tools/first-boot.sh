# shellcheck shell=bash
# Part of run.sh (lib.sh first): the first boot. Write the files of the user-data as cloud-init
# would, then run its script (vmail user, mail directory, self-signed certificate, empty tables,
# services).
cp "$RENDER/user-data" "$ROOT/tmp/user-data"
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
rm -f "$ROOT/tmp/systemctl.log"
