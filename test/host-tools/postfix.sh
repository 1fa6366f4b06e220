# shellcheck shell=bash
# Part of run.sh (lib.sh first, after bundles.sh): postconf and postfix check accept main.cf and
# master.cf, the settings that matter have the values we mean, and the tables answer lookups.
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
expect_postconf "port 25 relays for nobody, not even a local process" smtpd_relay_restrictions "reject_unauth_destination"
expect_postconf "port 25 takes no hosted sender from loopback either" smtpd_sender_restrictions \
    "reject_non_fqdn_sender, reject_unknown_sender_domain, check_sender_access texthash:/etc/postfix/mailstack/own-sender-domains"
expect_postconf "mynetworks is loopback only" mynetworks "127.0.0.0/8 [::1]/128"
expect_postconf "only root and vmail may submit mail with sendmail" authorized_submit_users "root, vmail"
expect_postconf "only root lists the queue" authorized_mailq_users root
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
expect_postconf "port 25 asks Dovecot's quota-status at RCPT, after the unknown-recipient check" smtpd_recipient_restrictions \
    "reject_non_fqdn_recipient, reject_unknown_recipient_domain, reject_unlisted_recipient, reject_unauth_pipelining, check_policy_service unix:private/quota-status"
