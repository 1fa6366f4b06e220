# shellcheck shell=bash
# Part of run.sh (lib.sh first, after bundles.sh): opendkim accepts its configuration and every
# domain's key is a valid private key readable only by opendkim.
check "opendkim -n accepts opendkim.conf" in_root opendkim -n -x /etc/opendkim.conf
keys_ok=""
while read -r name spec; do
    case $name in '#'* | '') continue ;; esac
    keyfile=${spec##*:}
    meta=$(in_root stat -c '%a %U' "$keyfile" 2>&1)
    [ "$meta" = "600 opendkim" ] || keys_ok+="$keyfile: $meta (want 600 opendkim)"$'\n'
    in_root openssl pkey -in "$keyfile" -noout -check >/dev/null 2>&1 || keys_ok+="$keyfile: not a valid private key"$'\n'
done <"$ROOT/etc/opendkim/key.table"
if [ -z "$keys_ok" ] && [ "$(grep -vc '^#' "$ROOT/etc/opendkim/key.table")" -eq 2 ]; then
    ok "every domain has a valid DKIM key readable only by opendkim"
else
    not_ok "every domain has a valid DKIM key readable only by opendkim" "$keys_ok"
fi
