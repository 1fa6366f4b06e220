# shellcheck shell=bash
# Part of run.sh (lib.sh first, after bundles.sh): unbound accepts our config (recursion with
# DNSSEC, as installed from the sample, and the forwarding variant), and main.cf without a
# relay turns on DANE and asks the MTA-STS resolver, with postconf's blessing.
check "unbound-checkconf accepts the installed config (recursion, DNSSEC)" in_root unbound-checkconf
have=$(in_root unbound-checkconf -o module-config 2>&1)
if [ "$have" = "validator iterator" ]; then ok "unbound validates DNSSEC by default"; else not_ok "unbound validates DNSSEC by default" "module-config: $have"; fi
have=$(in_root unbound-checkconf -o auto-trust-anchor-file 2>&1)
if [ "$have" = "/var/lib/unbound/root.key" ]; then ok "unbound's root trust anchor is Debian's (dns-root-data)"; else not_ok "unbound's root trust anchor is Debian's (dns-root-data)" "$have"; fi
have=$(in_root unbound-checkconf -o interface 2>&1 | tr '\n' ' ')
if [ "$have" = "127.0.0.1 ::1 " ]; then ok "unbound answers on loopback only"; else not_ok "unbound answers on loopback only" "interface: $have"; fi
# The forwarding variant (mailstack:resolver.forward, with a signed zone), in place of ours, then ours back.
conf=/etc/unbound/unbound.conf.d/mailstack.conf
anchor=/etc/unbound/unbound.conf.d/root-auto-trust-anchor-file.conf
cp "$ROOT$conf" "$WORK/unbound-mailstack.conf"
cp "$ROOT$anchor" "$WORK/unbound-root-anchor.conf"
cp "$RENDER/direct/mailstack.conf" "$ROOT$conf"
cp "$RENDER/direct/root-auto-trust-anchor-file.conf" "$ROOT$anchor"
check "unbound-checkconf accepts the forwarding config (mailstack:resolver.forward, signedZones)" in_root unbound-checkconf
have=$(in_root unbound-checkconf -o module-config 2>&1)
if [ "$have" = "validator iterator" ]; then ok "a forwarding unbound still validates"; else not_ok "a forwarding unbound still validates" "module-config: $have"; fi
have=$(in_root unbound-checkconf -o auto-trust-anchor-file 2>&1)
if [ -z "$have" ]; then ok "a forwarding unbound has no root trust anchor"; else not_ok "a forwarding unbound has no root trust anchor" "auto-trust-anchor-file: $have"; fi
have=$(in_root unbound-checkconf -o trust-anchor 2>&1)
if [[ "$have" == "dane.test. DS 46278 13 2 "* ]]; then ok "the signed zone's DS is a trust anchor"; else not_ok "the signed zone's DS is a trust anchor" "trust-anchor: $have"; fi
cp "$WORK/unbound-mailstack.conf" "$ROOT$conf"
cp "$WORK/unbound-root-anchor.conf" "$ROOT$anchor"
# A variant of main.cf (RENDER/<variant>/main.cf) beside the installed master.cf, in
# /tmp/<variant>-postfix inside the root (postconf -c reads a directory), accepted by postconf.
postfix_variant() { # VARIANT NAME
    mkdir -p "$ROOT/tmp/$1-postfix"
    cp "$RENDER/$1/main.cf" "$ROOT/tmp/$1-postfix/main.cf"
    cp "$ROOT/etc/postfix/master.cf" "$ROOT/tmp/$1-postfix/master.cf"
    quiet "$2" in_root postconf -n -c "/tmp/$1-postfix"
}
postfix_variant direct "postconf -n accepts main.cf without a relay"
expect_postconf "without a relay: DANE to every MX" smtp_tls_security_level dane -c /tmp/direct-postfix
expect_postconf "without a relay: DNSSEC answers are used" smtp_dns_support_level dnssec -c /tmp/direct-postfix
expect_postconf "without a relay: MTA-STS policies from postfix-mta-sts-resolver" smtp_tls_policy_maps \
    "socketmap:inet:127.0.0.1:8461:postfix" -c /tmp/direct-postfix
# main.cf with a relay given by IP address: its certificate pinned, never mere encryption.
postfix_variant pinned "postconf -n accepts main.cf with a relay by IP address"
expect_postconf "a relay by IP address: its certificate's fingerprint is checked" smtp_tls_security_level fingerprint -c /tmp/pinned-postfix
expect_postconf "a relay by IP address: SHA-256 fingerprints" smtp_tls_fingerprint_digest sha256 -c /tmp/pinned-postfix
expect_postconf "a relay by IP address: the pinned fingerprint" smtp_tls_fingerprint_cert_match \
    "3D:5E:31:9C:6B:F4:84:A9:44:11:0E:E1:74:5B:D9:7A:2A:0D:7B:D0:6C:A9:0F:3E:A4:1D:55:0B:6A:C2:A6:57" -c /tmp/pinned-postfix
check "mta-sts-daemon.yml is YAML the daemon can read" in_root python3 -c 'import sys, yaml; c = yaml.safe_load(open(sys.argv[1])); assert c["port"] == 8461, c' /etc/mta-sts-daemon.yml
expect_dump "rspamd asks the host's own resolver" options '^ +"127\.0\.0\.1:53",$'
