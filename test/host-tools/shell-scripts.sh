# shellcheck shell=bash
# Part of run.sh (lib.sh first): shellcheck and bash -n (sh -n for POSIX sh) on every shell script.
if ! command -v shellcheck >/dev/null; then
    (apt-get install -y -q shellcheck || { apt-get update -q && apt-get install -y -q shellcheck; }) >/dev/null 2>&1
fi
shopt -s nullglob
scripts=("$REPO"/scripts/*.sh "$REPO"/lab/*.sh "$REPO"/test/host-tools/*.sh "$REPO"/render/host/templates/mailstack/first-boot.sh "$REPO"/render/host/templates/mailstack/secondary-first-boot.sh "$REPO"/render/host/templates/mailstack/rspamd-password.sh "$REPO"/render/host/templates/certbot/deploy-hook.sh "$REPO"/render/host/templates/backup/*.sh "$REPO"/render/host/templates/import/*.sh)
shopt -u nullglob
for s in "${scripts[@]}"; do
    rel=${s#"$REPO"/}
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
