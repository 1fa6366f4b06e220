<?php
// {{path}} - rendered by mailstack (render/host/templates/roundcube/mailstack_totp.php).
//
// The second factor for the webmail (README "Second factor"): TOTP (RFC 6238) from an
// authenticator app, and one-time recovery codes. The plugin holds no secret and checks no
// code: the root-owned helper on {{socket}} (mailstack-passwords) keeps the secrets on the mail
// volume, checks each code (once: a replayed code is refused), uses up recovery codes and
// logs every wrong code with the browser's address for fail2ban. Each request carries the
// user's password, which the helper checks first, as for the password form.
//
// Login: the form has a code field. The password is Dovecot's to judge, as without this
// plugin: Roundcube's own IMAP login (Dovecot's delay after failures, fail2ban's dovecot and
// roundcube-auth jails). Only a session Dovecot opened asks the helper, which checks the code;
// with the second factor on and no valid unused code the session ends at once (login_after),
// before the browser gets it. So a wrong password never holds one of the helper's few
// connections (its socket's MaxConnections), and a crowd of guessers cannot shut the webmail
// for everyone by keeping them busy. With the second factor on the main password opens IMAP,
// POP3, 587 and ManageSieve only from the server itself (the helper writes allow_real_nets on
// the user's passdb row): mail apps take app passwords.
// Settings > Second factor: set up (a QR code, drawn here by Debian's qrencode, and the secret
// as text), confirmed by a code; the recovery codes shown once; off again with the password
// and a code.
require_once '{{helperInclude}}';

class mailstack_totp extends rcube_plugin
{
    public $task = 'login|settings';

    /** The issuer an authenticator app shows beside the address. */
    const ISSUER = '{{issuer}}';

    private $rc;

    public function init()
    {
        $this->rc = rcmail::get_instance();
        $this->add_texts('localization/');
        $this->add_hook('loginform_content', [$this, 'loginform']);
        $this->add_hook('login_after', [$this, 'login_after']);
        $this->add_hook('settings_actions', [$this, 'settings_actions']);
        $this->register_action('plugin.mailstack_totp', [$this, 'show']);
        $this->register_action('plugin.mailstack_totp-begin', [$this, 'begin']);
        $this->register_action('plugin.mailstack_totp-confirm', [$this, 'confirm']);
        $this->register_action('plugin.mailstack_totp-disable', [$this, 'disable']);
    }

    public function loginform($content)
    {
        $input = new html_inputfield([
            'name'         => '_totp',
            'id'           => 'rcmlogintotp',
            'autocomplete' => 'one-time-code',
            'inputmode'    => 'numeric',
            'size'         => 12,
            'maxlength'    => 12,
            'placeholder'  => $this->gettext('loginhint'),
        ]);
        $content['inputs']['totp'] = [
            'title'   => html::label('rcmlogintotp', rcube::Q($this->gettext('logincode'))),
            'content' => $input->show(),
        ];
        return $content;
    }

    // After Dovecot took the password and Roundcube opened the session, before the browser
    // has it: the helper checks the password again (the proof it asks of every request) and,
    // with the second factor on, the code. A wrong or missing code (the helper logs it for
    // fail2ban and delays the answer), or no answer: the session ends here (fail closed).
    public function login_after($args)
    {
        $answer = mailstack_helper::ask($this->rc->get_user_name(), [
            'action'  => 'totp-login',
            'current' => (string) $this->rc->decrypt($_SESSION['password']),
            'code'    => rcube_utils::get_input_string('_totp', rcube_utils::INPUT_POST),
        ]);
        if (is_array($answer) && !empty($answer['ok'])) {
            return $args;
        }
        $wrong = is_array($answer) && ($answer['error'] ?? '') === 'the code is wrong';
        rcube::write_log('userlogins', sprintf('Login of %s from %s ended: %s', $this->rc->get_user_name(),
            rcube_utils::remote_ip(), $wrong ? 'the second factor\'s code is missing or wrong' : 'the second factor could not be checked'));
        $this->rc->kill_session();
        $this->rc->output->show_message($wrong ? 'mailstack_totp.loginwrong' : 'mailstack_totp.unavailable', 'warning');
        $this->rc->output->send('login');
        return $args;
    }

    public function settings_actions($args)
    {
        $args['actions'][] = [
            'action' => 'plugin.mailstack_totp',
            'class'  => 'password',
            'label'  => 'title',
            'title'  => 'title',
            'domain' => 'mailstack_totp',
        ];
        return $args;
    }

    /** A request about the logged-in user's second factor; the session's password unless given. */
    private function call_mine($action, array $request = [])
    {
        return mailstack_helper::ask($this->rc->get_user_name(), ['action' => $action]
            + $request + ['current' => (string) $this->rc->decrypt($_SESSION['password'])]);
    }

    public function show()
    {
        $this->send(null);
    }

    // POSTs: Roundcube has checked its request token (CSRF) before any action runs.
    public function begin()
    {
        $answer = $this->call_mine('totp-begin');
        if (!$this->done($answer, null)) {
            $this->send(null);
            return;
        }
        $this->send(['secret' => (string) $answer['secret']]);
    }

    public function confirm()
    {
        $answer = $this->call_mine('totp-confirm', ['code' => rcube_utils::get_input_string('_code', rcube_utils::INPUT_POST)]);
        $this->send($this->done($answer, 'turnedon') ? ['recoveryCodes' => (array) $answer['recoveryCodes']] : null);
    }

    public function disable()
    {
        $answer = $this->call_mine('totp-disable', [
            'code'    => rcube_utils::get_input_string('_code', rcube_utils::INPUT_POST),
            'current' => rcube_utils::get_input_string('_curpasswd', rcube_utils::INPUT_POST, true),
        ]);
        $this->done($answer, 'turnedoff');
        $this->send(null);
    }

    /** Shows the helper's verdict; true when it did it. */
    private function done($answer, $confirmation)
    {
        if (!is_array($answer)) {
            $this->rc->output->command('display_message', $this->gettext('unavailable'), 'error');
            return false;
        }
        if (empty($answer['ok'])) {
            $this->rc->output->command('display_message', $this->gettext('refused') . ' ' . (string) ($answer['error'] ?? ''), 'error');
            return false;
        }
        // A warning from the helper: done, but Dovecot's login cache could not be cleared.
        $warning = (string) ($answer['warning'] ?? '');
        if ($confirmation !== null || $warning !== '') {
            $this->rc->output->command('display_message', trim(($confirmation === null ? '' : $this->gettext($confirmation)) . ' ' . $warning),
                $warning === '' ? 'confirmation' : 'warning');
        }
        return true;
    }

    private function send($shown)
    {
        $this->register_handler('plugin.body', function () use ($shown) {
            return $this->page($shown);
        });
        $this->rc->output->set_pagetitle($this->gettext('title'));
        $this->rc->overwrite_action('plugin.mailstack_totp');
        $this->rc->output->send('plugin');
    }

    /** The QR code of an otpauth:// URI as an SVG data URI (qrencode reads it on stdin: never on a command line). */
    private function qr_code($uri)
    {
        $process = proc_open(['qrencode', '-t', 'SVG', '--inline', '-l', 'M', '-m', '2', '-s', '6', '-o', '-'],
            [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        if (!is_resource($process)) {
            return null;
        }
        fwrite($pipes[0], $uri);
        fclose($pipes[0]);
        $svg = stream_get_contents($pipes[1]);
        fclose($pipes[1]);
        fclose($pipes[2]);
        return proc_close($process) === 0 && strpos($svg, '<svg') !== false ? 'data:image/svg+xml;base64,' . base64_encode($svg) : null;
    }

    private function form($action, $fields, $button, $id)
    {
        $table = new html_table(['cols' => 2, 'class' => 'propform']);
        foreach ($fields as $name => [$label, $input]) {
            $table->add('title', html::label($name, rcube::Q($this->gettext($label))));
            $table->add(null, $input->show());
        }
        return $this->rc->output->form_tag(
            ['id' => $id, 'method' => 'post', 'action' => "./?_task=settings&_action=plugin.mailstack_totp-$action"],
            $table->show() . html::p(['class' => 'formbuttons'], html::tag(
                'button',
                ['type' => 'submit', 'class' => 'button mainaction submit', 'id' => "$id-submit"],
                rcube::Q($this->gettext($button))
            ))
        );
    }

    private function code_input($id)
    {
        return new html_inputfield(['name' => '_code', 'id' => $id, 'size' => 12, 'maxlength' => 12,
            'autocomplete' => 'one-time-code', 'inputmode' => 'numeric']);
    }

    private function page($shown)
    {
        $body = html::p(['class' => 'hint'], rcube::Q($this->gettext('intro')));
        $status = $this->call_mine('totp-status');
        $state = is_array($status) && !empty($status['ok']) ? (string) $status['totp'] : 'unknown';
        if (isset($shown['recoveryCodes'])) {
            // Shown once: only their hashes are kept.
            $items = '';
            foreach ($shown['recoveryCodes'] as $code) {
                $items .= html::tag('li', null, html::tag('code', null, rcube::Q((string) $code)));
            }
            $body .= html::div(
                ['class' => 'boxconfirmation', 'id' => 'mailstack-totp-recovery'],
                html::p(null, rcube::Q($this->gettext('recoveryintro'))) . html::tag('ul', null, $items)
            );
        }
        if ($state === 'on') {
            $body .= html::p(['id' => 'mailstack-totp-status', 'data-state' => 'on'], rcube::Q($this->gettext([
                'name' => 'stateon', 'vars' => ['left' => (int) ($status['recoveryLeft'] ?? 0)],
            ])));
            $password = new html_passwordfield(['name' => '_curpasswd', 'id' => 'totpcurpasswd', 'size' => 30, 'autocomplete' => 'current-password']);
            $body .= $this->form('disable', [
                'totpcurpasswd' => ['current', $password],
                'totpoffcode'   => ['code', $this->code_input('totpoffcode')],
            ], 'turnoff', 'mailstack-totp-disable');
        } elseif (isset($shown['secret'])) {
            $user = $this->rc->get_user_name();
            $uri = 'otpauth://totp/' . rawurlencode(self::ISSUER . ':' . $user) . '?secret=' . $shown['secret']
                . '&issuer=' . rawurlencode(self::ISSUER) . '&algorithm=SHA1&digits=6&period=30';
            $qr = $this->qr_code($uri);
            $body .= html::p(null, rcube::Q($this->gettext('scan')));
            if ($qr !== null) {
                $body .= html::p(null, html::img(['src' => $qr, 'id' => 'mailstack-totp-qr', 'alt' => $this->gettext('qralt'), 'width' => 240, 'height' => 240]));
            }
            $body .= html::p(null, rcube::Q($this->gettext('secrettext')) . ' '
                . html::tag('code', ['id' => 'mailstack-totp-secret'], rcube::Q(trim(chunk_split($shown['secret'], 4, ' ')))));
            $body .= $this->form('confirm', ['totpcode' => ['code', $this->code_input('totpcode')]], 'confirm', 'mailstack-totp-confirm');
        } else {
            $body .= html::p(['id' => 'mailstack-totp-status', 'data-state' => $state], rcube::Q($this->gettext('stateoff')));
            $body .= $this->form('begin', [], 'begin', 'mailstack-totp-begin');
        }
        return html::div(['id' => 'prefs-title', 'class' => 'boxtitle'], rcube::Q($this->gettext('title')))
            . html::div(['class' => 'box formcontainer scroller'], html::div(['class' => 'boxcontent formcontent'], $body));
    }
}
