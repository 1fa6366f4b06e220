# 0644 root:root, on change: restart:webmail
<?php
// /var/lib/roundcube/plugins/mailstack_helper/mailstack_helper.php - rendered by mailstack (render/host/templates/roundcube/mailstack_helper.php).
//
// The one way the webmail's plugins (mailstack_password, mailstack_totp) reach the root-owned
// helper mailstack-passwords on /run/mailstack-password.sock: one JSON request per connection, one JSON line
// back. No plugin (Roundcube loads only those config.inc.php lists): the plugins require it.
final class mailstack_helper
{
    /** The helper's answer to one request for `user`, or null when it cannot be asked. */
    public static function ask($user, array $request)
    {
        $request = json_encode($request + ['user' => (string) $user, 'origin' => rcube_utils::remote_addr()]);
        if ($request === false) {
            return null;
        }
        $socket = @stream_socket_client('unix:///run/mailstack-password.sock', $errno, $errstr, 5);
        if ($socket === false) {
            rcube::raise_error(['code' => 500, 'message' => "mailstack_helper: /run/mailstack-password.sock: $errstr"], true, false);
            return null;
        }
        // A wrong password or code costs 2 s at the helper, hashing a password about 0.3 s.
        stream_set_timeout($socket, 20);
        fwrite($socket, $request . "\n");
        $answer = json_decode((string) fgets($socket), true);
        fclose($socket);
        return is_array($answer) ? $answer : null;
    }
}
