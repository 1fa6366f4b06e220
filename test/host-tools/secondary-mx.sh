# shellcheck shell=bash
# Part of run.sh (lib.sh first, after outbound.sh): the backup MX (mailstack:secondaryMx).
# postconf accepts its main.cf and master.cf with their relay-data tables, and reads the
# settings that make it a backup MX and no backdoor; cloud-init's schema accepts its user-data.
dir=/tmp/secondary-postfix
mkdir -p "$ROOT$dir" "$ROOT/etc/postfix/mailstack"
cp "$RENDER/secondary/main.cf" "$RENDER/secondary/master.cf" "$ROOT$dir/"
# Its tables at the paths main.cf names (the primary has none of these names; removed below).
for table in relay-domains relay-recipients etrn-clients; do
    cp "$RENDER/secondary/$table" "$ROOT/etc/postfix/mailstack/$table"
done
quiet "postconf -n accepts the backup MX's main.cf" in_root postconf -n -c "$dir"
quiet "postconf -M accepts the backup MX's master.cf" in_root postconf -M -c "$dir"
have=$(in_root postconf -M -c "$dir" 2>&1 | awk '$2 == "inet" { print $1 }' | paste -sd ' ')
if [ "$have" = "smtp" ]; then ok "the backup MX listens on port 25 only"; else not_ok "the backup MX listens on port 25 only" "inet services: $have"; fi
expect_postconf "the backup MX queues for the configured domains" relay_domains \
    "texthash:/etc/postfix/mailstack/relay-domains" -c "$dir"
expect_postconf "the backup MX refuses unknown recipients (relay_recipient_maps)" relay_recipient_maps \
    "texthash:/etc/postfix/mailstack/relay-recipients" -c "$dir"
expect_postconf "the backup MX keeps mail for 10 days" maximal_queue_lifetime 10d -c "$dir"
expect_postconf "the backup MX hands mail to the primary by name" relay_transport "relay:[mail.example.org]:25" -c "$dir"
expect_postconf "the backup MX warns after 4 hours" delay_warning_time 4h -c "$dir"
expect_postconf "the backup MX tries the primary again every 5 minutes" maximal_backoff_time 5m -c "$dir"
expect_postconf "the backup MX scans its queue every minute" queue_run_delay 1m -c "$dir"
expect_postconf "the backup MX filters with rspamd like the primary" smtpd_milters "inet:127.0.0.1:11332" -c "$dir"
# The tables as Postfix reads them: a listed address is found, an unknown one is not.
check "relay-recipients: a mailbox is a valid recipient" in_root postmap -q alice@example.org texthash:/etc/postfix/mailstack/relay-recipients
check "relay-recipients: an alias is a valid recipient" in_root postmap -q info@example.org texthash:/etc/postfix/mailstack/relay-recipients
if in_root postmap -q nobody@example.org texthash:/etc/postfix/mailstack/relay-recipients >/dev/null; then
    not_ok "relay-recipients: an unknown address is not found"
else
    ok "relay-recipients: an unknown address is not found"
fi
# ETRN (the primary asks for its mail when its Postfix starts): from the primary's addresses only.
expect_postconf "the backup MX takes ETRN from the primary's addresses only" smtpd_etrn_restrictions \
    "check_client_access cidr:/etc/postfix/mailstack/etrn-clients, reject" -c "$dir"
for a in 192.0.2.25 2001:db8::25; do
    have=$(in_root postmap -q "$a" cidr:/etc/postfix/mailstack/etrn-clients 2>&1)
    if [ "$have" = "OK" ]; then ok "etrn-clients: the primary's $a may ask"; else not_ok "etrn-clients: the primary's $a may ask" "$have"; fi
done
if in_root postmap -q 198.51.100.9 cidr:/etc/postfix/mailstack/etrn-clients >/dev/null; then
    not_ok "etrn-clients: any other address is not found (reject)"
else
    ok "etrn-clients: any other address is not found (reject)"
fi
cp "$RENDER/secondary/mailstack-backup-mx-etrn" "$ROOT/tmp/mailstack-backup-mx-etrn.py"
check "the primary's ETRN sender compiles with Debian 13's python3" in_root python3 -m py_compile /tmp/mailstack-backup-mx-etrn.py
# The TLS policy for the primary as smtp(8) looks it up: verified, for the primary's name.
have=$(in_root postmap -q "[mail.example.org]:25" "$(in_root postconf -h -c "$dir" smtp_tls_policy_maps)" 2>&1)
if [ "$have" = "secure match=mail.example.org" ]; then ok "mail to the primary needs its verified certificate"; else not_ok "mail to the primary needs its verified certificate" "$have"; fi
cp "$RENDER/secondary/user-data" "$ROOT/tmp/secondary-user-data"
schema=$(in_root cloud-init schema --config-file /tmp/secondary-user-data 2>&1)
if [[ "$schema" == *"Valid schema"* ]] && ! grep -qi 'deprecat' <<<"$schema"; then
    ok "cloud-init schema: the backup MX's user-data is valid, no deprecations"
else
    not_ok "cloud-init schema: the backup MX's user-data is valid, no deprecations" "$schema"
fi
rm -f "$ROOT/etc/postfix/mailstack/relay-domains" "$ROOT/etc/postfix/mailstack/relay-recipients" \
    "$ROOT/etc/postfix/mailstack/etrn-clients" "$ROOT/tmp/mailstack-backup-mx-etrn.py"
# The primary trusts the backup MX's Received: lines (mail-data's external_relay.conf): rspamd
# accepts the rule, and greylisting skips what it marks.
relay_conf=/etc/rspamd/local.d/external_relay.conf
cp "$ROOT$relay_conf" "$WORK/external_relay.conf"
cp "$RENDER/secondary/external_relay.conf" "$ROOT$relay_conf"
check "rspamadm configtest accepts the primary's trust in the backup MX" in_root rspamadm configtest
have=$(in_root rspamadm configdump external_relay 2>&1 | tr -s ' \n' ' ')
if [[ "$have" == *MAILSTACK_BACKUP_MX*'strategy = "ip_map"'*'"192.0.2.26"'*'"2001:db8:26::1"'* ]]; then
    ok "rspamd trusts exactly the backup MX's two addresses (ip_map)"
else
    not_ok "rspamd trusts exactly the backup MX's two addresses (ip_map)" "$have"
fi
have=$(in_root rspamadm configdump greylist 2>&1 | tr -s ' \n' ' ')
if [[ "$have" == *whitelist_symbols*MAILSTACK_BACKUP_MX* ]]; then
    ok "greylisting skips mail the backup MX relayed"
else
    not_ok "greylisting skips mail the backup MX relayed" "$have"
fi
cp "$WORK/external_relay.conf" "$ROOT$relay_conf"
