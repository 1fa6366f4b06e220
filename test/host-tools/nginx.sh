# shellcheck shell=bash
# Part of run.sh (lib.sh first, after bundles.sh): nginx -t accepts the configuration.
check "nginx -t accepts the configuration" in_root nginx -t -q -c /etc/nginx/nginx.conf
