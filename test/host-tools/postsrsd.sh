# shellcheck shell=bash
# Part of run.sh (lib.sh first, after bundles.sh): postsrsd's settings file as its unit reads it.
# shellcheck disable=SC2016 # expanded by the shell inside the root
check "postsrsd settings are shell-readable with the host as SRS domain" in_root sh -c '. /etc/default/postsrsd && [ "$SRS_DOMAIN" = mail.example.org ] && [ "$SRS_EXCLUDE_DOMAINS" = example.org,example.com ]'
