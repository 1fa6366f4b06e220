// The order in which lab/run.ts runs the checks, one file of lab/checks/ per line with the
// reason it is there. run.ts refuses to start when a check file is missing from this list
// or a listed file does not exist.
export const CHECK_ORDER = [
    // First: the server is up (cloud-init, SSH, packages, mail volume, daemons); every later check needs it.
    "boot.test.ts",
    // Right after boot: the pinned host key is the one the host-key step made; a wrong key and the provisional one are refused.
    "host-key.test.ts",
    // Right after boot: only root reaches the metadata service (it serves the user-data, provisional host key included).
    "metadata-guard.test.ts",
    // Right after boot: the stack's cloud firewall stands between the server and the outside (every later
    // check runs behind it): SSH only from the deployers, outbound only on the ports it opens.
    "firewall.test.ts",
    // Receiving on 25, reading over IMAPS/POP3S: the path the later checks use to see what arrived.
    "mail.test.ts",
    // rspamd on port 25: GTUBE and a DMARC p=reject forgery refused, our Authentication-Results only; after mail.test.ts,
    // whose path (25 in, IMAP out) it uses.
    "filter.test.ts",
    // SMTPUTF8 mail with UTF-8 headers not penalised, raw 8-bit headers without it scored as before; after
    // filter.test.ts (rspamd's verdicts), on the same path (25 in, IMAP out).
    "smtputf8.test.ts",
    // example.net's catch-all (carol): unknown addresses there land with her, aliases still win, example.org
    // still refuses unknown recipients; independent of the checks around it.
    "catchall.test.ts",
    // Sieve: ManageSieve, bob's own filter and vacation reply, spam into Junk, learning from moves into and out of
    // Junk; after filter.test.ts (rspamd's verdicts it builds on). It leaves bob with no active script.
    "sieve.test.ts",
    // Quotas at RCPT: carol's mailbox limited to 1M (mail-data only) and full, refused with 452 on port 25,
    // then the lab's quota again; after the checks that read carol's mail path, and it ends on the lab's config.
    "quota.test.ts",
    // Port 25's refusals (relaying, our domains as sender, AUTH); independent of the checks around it.
    "relay.test.ts",
    // The backup MX (only with --secondary, skipped otherwise): the primary's Postfix stopped, mail taken by the
    // backup MX, refusals there, then delivered once. After relay.test.ts (whose probes it reuses); it ends with the
    // primary's Postfix running and the backup MX's queue empty.
    "secondary-mx.test.ts",
    // Sending with a login on 587/465 and the sender rules; independent of the checks around it.
    "submission.test.ts",
    // A sender for applications (notify@example.org): it sends as itself, signed, and nothing else; its refused
    // logins come from addresses no other check uses. Independent of the checks around it.
    "senders.test.ts",
    // The submission rate limit (bob past it, then his counts cleared) and the disk guard (a ballast file to
    // 91% and 96% of the mail volume, then removed); after submission.test.ts, and it leaves both as they were.
    "limits.test.ts",
    // Local accounts speak for no one (issue 28): www-data and nobody cannot send (sendmail, 127.0.0.1:25), use
    // Valkey, make rspamd learn or clear a limit; root and vmail can. After limits.test.ts (whose limit it clears).
    "local-accounts.test.ts",
    // DKIM signatures of submitted mail, verified at the sink; independent of the checks around it.
    "dkim.test.ts",
    // Rotates example.org's DKIM key and back; after the DKIM check, which sees the first key. It ends on
    // the lab's own selector and key, so the checks after it (the replacement's DKIM) see the server as before.
    "dkim-rotation.test.ts",
    // Outbound mail judged at the outside MX (SPF, iprev, DKIM, DMARC), MTA-STS enforce honoured, unbound; then
    // provisions with mailstack:relay and back to the lab's config, so the checks after it see the server as before.
    "outbound.test.ts",
    // DANE to dane.test (signed by the lab's Knot DNS, validated by unbound): verified delivery, a wrong TLSA
    // record defers, the right one back delivers. After outbound.test.ts (the direct path it proves); it ends
    // with the zone's right record.
    "dane.test.ts",
    // TLS versions on every TLS port; independent of the checks around it.
    "tls.test.ts",
    // mailstack doctor against the lab, then one thing broken at a time (DNS answers, Dovecot, outbound 25, the
    // certificate), each put back; after the TLS checks, before reprovision and the renewal change the server.
    "doctor.test.ts",
    // After the checks above, so they see the server as the first provisioning left it: it adds a mailbox.
    "reprovision.test.ts",
    // The mail volume's state version: the fresh volume's, then a newer one that stops host-config before it writes
    // a file, then back; after reprovision (which expects host-config to find nothing to do), and it ends on the
    // lab's version and files.
    "state-version.test.ts",
    // autoconfig/autodiscover/MTA-STS over HTTPS, and a domain added and removed again (a new certificate
    // twice, host-config re-applied): after reprovision, which expects the first provisioning's state, and
    // before the certificate check, which renews whatever certificate is current.
    "autoconfig.test.ts",
    // Roundcube in a real browser (login, mail in over 25, a message to bob, a managesieve filter, a wrong
    // password counted by fail2ban from the lab's client address, once: far from a ban). After autoconfig (443's
    // other servers, the certificate they reissued) and before fail2ban.test.ts, which bans and unbans.
    "webmail.test.ts",
    // Who owns a password (issue 30): alice changes hers in the browser, mail-data keeps it, a reset marker takes
    // it back; after webmail.test.ts (the browser's first login) and before fail2ban.test.ts, with at most two
    // failed logins from each lab client address. It ends with alice's configured password and the lab's config.
    "accounts.test.ts",
    // App passwords (issue 30): alice makes two in the browser, each opens what it was made for, revoked one
    // fails at once; after accounts.test.ts (alice's configured password again), before fail2ban.test.ts, with one
    // failed login from each lab client address. It revokes what it made.
    "app-passwords.test.ts",
    // The second factor (issue 30): alice turns it on in the browser, logs in with codes and a recovery code, mail
    // apps then need app passwords; after app-passwords.test.ts (whose app passwords are revoked), before
    // fail2ban.test.ts, with two refused webmail logins from the lab's client address. It turns it off again.
    "totp.test.ts",
    // Calendars and contacts from an address alone (SRV/TXT, well-known) with python3-caldav, vdirsyncer and the
    // lab's own requests, bob kept out of alice's; three failed logins from the lab's client address (caldav's
    // wrong password twice, fail2ban's count once), below the radicale jail's five. After autoconfig (the Apple
    // profile it reads, the certificate it reissued), before fail2ban.test.ts.
    "dav.test.ts",
    // Renews the certificate; after the checks above, so they see the certificate provisioning issued.
    "certificate.test.ts",
    // A junk-scored message retried after its greylisting lands in Junk: late, so that the greylisting of
    // filter.test.ts's first try (5 minutes) has run out by now and nothing is waited for (after doctor.test.ts,
    // CI's lab still waited 133 s of it). Before the burst, which fills alice's INBOX.
    "junk.test.ts",
    // A burst of 1000 messages to one mailbox, none deferred (issue 9). After the checks that read alice's
    // mailbox (they search a small INBOX) and before the reboot, which proves these files survive it too.
    "burst.test.ts",
    // Full-text search: 3000 messages to alice over LMTP, indexed on delivery, SEARCH BODY/TEXT from the index, and
    // a folder of 20 000 (deleted again). After the burst (alice's INBOX is large already), before backup and restore,
    // which rebuild her index.
    "search.test.ts",
    // Moving in (issue 31): an old Gmail-like account of 10 000 messages (lab/world/oldmail.ts) imported twice into
    // movein@example.org, wrong inputs refused with their reason, then switched off; movein@ is the check's own
    // mailbox, removed with its Maildir at the end, so the checks after it (backup, replacement, restore, which
    // compare the lab's mailboxes) carry none of it. It ends on the lab's config (no import, no movein@).
    "import.test.ts",
    // Moving in from Microsoft 365: carol's XOAUTH2-only old account (lab/world/oldmail.ts) and the lab's OAuth2 provider
    // (lab/world/oauth2.ts): authorized with the device code, imported, the rotated refresh token used, a revoked one
    // refused. A few dozen messages; after import.test.ts (it reuses the old provider), ends on the lab's config.
    "import-oauth2.test.ts",
    // Purges a package (and the milter it runs) for the packages step to bring back; before the reboot, which sees it start.
    "packages.test.ts",
    // Grows the mail volume online; after the checks that fill it with mail, before the reboot, which mounts the grown one.
    "mail-volume.test.ts",
    // Backups to the lab's Storage Box, a mailbox restored, failure mails to the postmaster. After the checks
    // that deliver mail (the backup holds it), before the reboot, which sees the restored mailbox survive it.
    "backup.test.ts",
    // After every check that delivers mail, so the volume it proves intact across the reboot holds their mail.
    "reboot.test.ts",
    // The fault lab (issue 34): daemons killed, the volume full and the power cut, each mid-burst; after the
    // clean reboot (whose file comparison its mail would disturb) and before fail2ban.test.ts. It ends with every
    // daemon running, the volume's ballast gone and the queue empty.
    "faults.test.ts",
    // After the others on the first server: it bans an address (its own, then unbans it), so no check can meet a ban it left behind.
    "fail2ban.test.ts",
    // Replaces the server (clean shutdown, new root, same volume, every step): after every check of the first
    // server, so the volume it proves intact holds their mail, and so the others all see the first server. bob's own
    // password, app password and second factor (kept-account.ts) are set before and taken back after it.
    "replacement.test.ts",
    // The volume is lost; a new server on an empty volume gets everything back from the backup (bob's account
    // as in replacement.test.ts, set before the backup and taken back after).
    "restore.test.ts",
    // After the last: the server is replaced by one an earlier mailstack deployed (lab/harness/earlier.ts) on a
    // fresh volume, used, then upgraded by today's plan; nothing of the lab's own server is needed any more.
    "upgrade.test.ts",
] as const;
