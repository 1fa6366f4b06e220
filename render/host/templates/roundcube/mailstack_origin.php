<?php
// {{path}} - rendered by mailstack (render/host/templates/roundcube/mailstack_origin.php).
//
// Every webmail login reaches Dovecot from 127.0.0.1. Before each IMAP login this sends the
// browser's address and port in an ID command (x-originating-ip, x-originating-port; Roundcube's
// preauth_ident), which Dovecot believes from 127.0.0.1 only (login_trusted_networks): its log,
// its delay after failed logins and fail2ban's dovecot jail then see the browser, not the webmail.
class mailstack_origin extends rcube_plugin
{
    public function init()
    {
        $this->add_hook('storage_connect', [$this, 'storage_connect']);
    }

    public function storage_connect($args)
    {
        $ip = $_SERVER['REMOTE_ADDR'] ?? '';
        $port = (string) ($_SERVER['REMOTE_PORT'] ?? '');
        if (filter_var($ip, FILTER_VALIDATE_IP) !== false) {
            $args['preauth_ident'] = ['x-originating-ip' => $ip];
            if (ctype_digit($port)) {
                $args['preauth_ident']['x-originating-port'] = $port;
            }
        }
        return $args;
    }
}
