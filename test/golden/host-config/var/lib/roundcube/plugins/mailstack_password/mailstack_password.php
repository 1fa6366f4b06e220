# 0644 root:root, on change: restart:webmail
<?php
// /var/lib/roundcube/plugins/mailstack_password/mailstack_password.php - rendered by mailstack (render/host/templates/roundcube/mailstack_password.php).
//
// Settings > Password: the logged-in user changes their own mailbox password. The plugin has
// no access to any password file: it hands the request to a root-owned helper on
// /run/mailstack-password.sock (mailstack-passwords, one process per connection, which checks the current
// password with Dovecot's own hash and writes the new hash). The current password is
// required, so even code running as www-data can change only the password of a user whose
// password it already holds. The next `pulumi up` keeps the new password; the stack config
// takes it back only with a new configured password or a reset marker (README).
class mailstack_password extends rcube_plugin
{
    public $task = 'settings';

    /** The shortest password the helper takes (it checks again, and checks the address and name). */
    const MIN_LENGTH = 12;

    private $rc;

    public function init()
    {
        $this->rc = rcmail::get_instance();
        $this->add_texts('localization/');
        $this->add_hook('settings_actions', [$this, 'settings_actions']);
        $this->register_action('plugin.mailstack_password', [$this, 'show']);
        $this->register_action('plugin.mailstack_password-save', [$this, 'save']);
    }

    public function settings_actions($args)
    {
        $args['actions'][] = [
            'action' => 'plugin.mailstack_password',
            'class'  => 'password',
            'label'  => 'title',
            'title'  => 'title',
            'domain' => 'mailstack_password',
        ];
        return $args;
    }

    public function show()
    {
        $this->register_handler('plugin.body', [$this, 'form']);
        $this->rc->output->set_pagetitle($this->gettext('title'));
        $this->rc->output->send('plugin');
    }

    // A POST: Roundcube has checked its request token (CSRF) before any action runs.
    public function save()
    {
        $current = rcube_utils::get_input_string('_curpasswd', rcube_utils::INPUT_POST, true);
        $new = rcube_utils::get_input_string('_newpasswd', rcube_utils::INPUT_POST, true);
        $confirm = rcube_utils::get_input_string('_confpasswd', rcube_utils::INPUT_POST, true);
        if ($current === '' || $new === '') {
            $error = $this->gettext('missing');
        } elseif ($new !== $confirm) {
            $error = $this->gettext('mismatch');
        } elseif (mb_strlen($new) < self::MIN_LENGTH) {
            $error = $this->gettext(['name' => 'rules', 'vars' => ['length' => self::MIN_LENGTH]]);
        } else {
            $error = $this->ask_helper($current, $new);
        }
        if ($error === null) {
            // The next IMAP, SMTP and ManageSieve logins of this session use the new password.
            $_SESSION['password'] = $this->rc->encrypt($new);
            $this->rc->output->command('display_message', $this->gettext('changed'), 'confirmation');
        } else {
            $this->rc->output->command('display_message', $error, 'error');
        }
        $this->register_handler('plugin.body', [$this, 'form']);
        $this->rc->output->set_pagetitle($this->gettext('title'));
        $this->rc->overwrite_action('plugin.mailstack_password');
        $this->rc->output->send('plugin');
    }

    /** null when the helper changed the password, else why not (for the user). */
    private function ask_helper($current, $new)
    {
        $identity = $this->rc->user->get_identity();
        $request = json_encode([
            'user'    => $this->rc->get_user_name(),
            'current' => $current,
            'new'     => $new,
            'name'    => is_array($identity) ? (string) $identity['name'] : '',
            'origin'  => rcube_utils::remote_addr(),
        ]);
        if ($request === false) {
            return $this->gettext('invalid');
        }
        $socket = @stream_socket_client('unix:///run/mailstack-password.sock', $errno, $errstr, 5);
        if ($socket === false) {
            rcube::raise_error(['code' => 500, 'message' => "mailstack_password: /run/mailstack-password.sock: $errstr"], true, false);
            return $this->gettext('unavailable');
        }
        // A wrong current password costs 2 s at the helper; hashing the new one about 0.3 s.
        stream_set_timeout($socket, 20);
        fwrite($socket, $request . "\n");
        $answer = json_decode((string) fgets($socket), true);
        fclose($socket);
        if (!is_array($answer)) {
            return $this->gettext('unavailable');
        }
        if (!empty($answer['ok'])) {
            return null;
        }
        return $this->gettext('refused') . ' ' . (string) ($answer['error'] ?? '');
    }

    public function form()
    {
        $table = new html_table(['cols' => 2, 'class' => 'propform']);
        $fields = [
            'curpasswd'  => ['current', 'current-password'],
            'newpasswd'  => ['new', 'new-password'],
            'confpasswd' => ['confirm', 'new-password'],
        ];
        foreach ($fields as $id => [$label, $autocomplete]) {
            $input = new html_passwordfield(['name' => "_$id", 'id' => $id, 'size' => 30, 'autocomplete' => $autocomplete]);
            $table->add('title', html::label($id, rcube::Q($this->gettext($label))));
            $table->add(null, $input->show());
        }
        $rules = html::p(['class' => 'hint'], rcube::Q($this->gettext(['name' => 'rules', 'vars' => ['length' => self::MIN_LENGTH]])));
        $button = html::tag(
            'button',
            ['type' => 'submit', 'class' => 'button mainaction submit', 'id' => 'mailstack-password-save'],
            rcube::Q($this->rc->gettext('save'))
        );
        $form = $this->rc->output->form_tag(
            [
                'id'     => 'mailstack-password-form',
                'name'   => 'mailstack-password-form',
                'method' => 'post',
                'action' => './?_task=settings&_action=plugin.mailstack_password-save',
            ],
            $table->show() . $rules . html::p(['class' => 'formbuttons'], $button)
        );
        return html::div(['id' => 'prefs-title', 'class' => 'boxtitle'], rcube::Q($this->gettext('title')))
            . html::div(['class' => 'box formcontainer scroller'], html::div(['class' => 'boxcontent formcontent'], $form));
    }
}
