<?php
// /etc/roundcube/config.inc.php - rendered by mailstack (render/host/templates/roundcube/config.inc.php).
//
// Roundcube at https://{{hostname}}/ (nginx: /etc/nginx/conf.d/mailstack-webmail.conf).
// Only what differs from Roundcube's defaults (/usr/share/roundcube/config/defaults.inc.php).

$config = [];

// --- State: on the mail volume, so a rebuilt server keeps it ----------------------------
// Preferences, address books, identities and sessions. Roundcube creates the tables itself
// in an empty file (its SQL/sqlite.initial.sql).
$config['db_dsnw'] = 'sqlite:///{{databaseFile}}?mode=0640';
// Encrypts the IMAP password kept in the session. Made on the server by mailstack-webmail
// (random, 24 characters) and kept beside the database: it never leaves the host.
$config['des_key'] = trim(file_get_contents('{{desKeyFile}}'));

// --- Dovecot, Postfix and Sieve on this host, over TLS verified against our own name ----
// 127.0.0.1 is not in the certificate: peer_name says which name it must carry (the
// hostname's certificate, from the system's trusted CAs), so a wrong or expired certificate
// fails the login instead of passing the password in the clear or to anything else.
$mailstack_tls = [
    'ssl' => [
        'verify_peer' => true,
        'verify_peer_name' => true,
        'peer_name' => '{{hostname}}',
        'allow_self_signed' => false,
        'cafile' => '/etc/ssl/certs/ca-certificates.crt',
    ],
];
$config['imap_host'] = 'ssl://127.0.0.1:{{imapsPort}}';
$config['imap_conn_options'] = $mailstack_tls;
// Submission with implicit TLS, logging in as the user: Postfix applies the same sender
// rules and rate limit as to any mail client.
$config['smtp_host'] = 'ssl://127.0.0.1:{{submissionsPort}}';
$config['smtp_user'] = '%u';
$config['smtp_pass'] = '%p';
$config['smtp_conn_options'] = $mailstack_tls;

// managesieve: filters and vacation replies from the browser, to Dovecot's ManageSieve
// (STARTTLS: the tls:// prefix).
// mailstack_password: Settings > Password, through a root-owned helper (the plugin writes no
// file); the next deploy keeps the new password unless the stack config resets it.
// mailstack_totp: the second factor (a code at login, Settings > Second factor), through the
// same helper; with it on, the main password opens mail only from here (README).
// mailstack_origin: tells Dovecot the browser's address before each IMAP login (see the
// plugin); Dovecot trusts it from 127.0.0.1 only (login_trusted_networks).
$config['plugins'] = ['managesieve', 'mailstack_origin', 'mailstack_password', 'mailstack_totp'];
$config['managesieve_host'] = 'tls://127.0.0.1:{{sievePort}}';
$config['managesieve_conn_options'] = $mailstack_tls;
$config['managesieve_vacation'] = 1;

// --- Sessions and cookies -----------------------------------------------------------------
// Secure and HttpOnly session cookies (Roundcube sets both over HTTPS); Strict: no other
// site's page can send a request with them.
$config['use_https'] = true;
$config['session_samesite'] = 'Strict';
// A session works only from the address it logged in from.
$config['ip_check'] = true;
$config['session_lifetime'] = 30;
$config['login_autocomplete'] = 0;
// No lock per user: Roundcube's default (3 failed logins a minute lock a user's webmail login
// for a minute, whoever sent them) lets anyone keep any user out with 3 requests a minute,
// and guards nothing the IMAP port does not offer the same guesser. Guessers are slowed and
// banned by their own address (Dovecot's delay, the dovecot and roundcube-auth jails).
$config['login_rate_limit'] = 0;
$config['enable_installer'] = false;
$config['x_frame_options'] = 'sameorigin';

// --- Logs: the journal, where fail2ban's roundcube-auth jail reads failed logins ----------
$config['log_driver'] = 'syslog';
$config['syslog_id'] = 'roundcube';
$config['log_logins'] = true;

$config['product_name'] = 'Webmail {{hostname}}';
$config['skin'] = 'elastic';
// A message with its attachments, as large as Postfix takes (message_size_limit).
$config['max_message_size'] = '{{attachmentLimit}}';
$config['support_url'] = '';
