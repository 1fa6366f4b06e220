<?php
// {{path}} - rendered by mailstack (render/host/templates/roundcube/mailstack_password.php).
//
// Settings > Password: the logged-in user changes their own mailbox password. The plugin has
// no access to any password file: it hands the request to a root-owned helper on
// {{socket}} (mailstack-passwords, one process per connection, which checks the current
// password with Dovecot's own hash and writes the new hash). The current password is
// required, so even code running as www-data can change only the password of a user whose
// password it already holds. The next `pulumi up` keeps the new password; the stack config
// takes it back only with a new configured password or a reset marker (README).
//
// Settings > App passwords: the user makes named app passwords for devices (shown once), limits
// each to protocols, sees when each was last used and revokes any. The same helper does it,
// for the logged-in user only: every request carries the session's password, which the
// helper checks against the user's own hash (an app password never opens the webmail, so a
// session always holds the main password).
require_once '{{helperInclude}}';

class mailstack_password extends rcube_plugin
{
    public $task = 'settings';

    /** The shortest password the helper takes (it checks again, and checks the address and name). */
    const MIN_LENGTH = {{minLength}};
    /** What the helper warned of with its last yes (a change stored, Dovecot's cache not cleared). */
    private $warning = '';

    /** What an app password may be limited to (mailstack-passwords maps each to Dovecot's protocols). */
    const APP_PROTOCOLS = '{{appProtocols}}';

    private $rc;

    public function init()
    {
        $this->rc = rcmail::get_instance();
        $this->add_texts('localization/');
        $this->add_hook('settings_actions', [$this, 'settings_actions']);
        $this->register_action('plugin.mailstack_password', [$this, 'show']);
        $this->register_action('plugin.mailstack_password-save', [$this, 'save']);
        $this->register_action('plugin.mailstack_apppasswords', [$this, 'apps_show']);
        $this->register_action('plugin.mailstack_apppasswords-create', [$this, 'apps_create']);
        $this->register_action('plugin.mailstack_apppasswords-revoke', [$this, 'apps_revoke']);
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
        $args['actions'][] = [
            'action' => 'plugin.mailstack_apppasswords',
            'class'  => 'password',
            'label'  => 'apptitle',
            'title'  => 'apptitle',
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
            // A warning from the helper: changed, but Dovecot's login cache could not be cleared.
            $this->rc->output->command('display_message', trim($this->gettext('changed') . ' ' . $this->warning),
                $this->warning === '' ? 'confirmation' : 'warning');
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
        $answer = $this->call_helper([
            'action'  => 'change',
            'current' => $current,
            'new'     => $new,
            'name'    => is_array($identity) ? (string) $identity['name'] : '',
        ]);
        if (!is_array($answer)) {
            return $this->gettext('unavailable');
        }
        if (!empty($answer['ok'])) {
            $this->warning = (string) ($answer['warning'] ?? '');
            return null;
        }
        return $this->gettext('refused') . ' ' . (string) ($answer['error'] ?? '');
    }

    /** The helper's answer to one request for the logged-in user, or null when it cannot be asked. */
    private function call_helper(array $request)
    {
        return mailstack_helper::ask($this->rc->get_user_name(), $request);
    }

    /** A request about the user's app passwords, with the session's password as the proof. */
    private function call_apps($action, array $request = [])
    {
        return $this->call_helper(['action' => $action, 'current' => (string) $this->rc->decrypt($_SESSION['password'])] + $request);
    }

    public function apps_show()
    {
        $this->apps_send(null);
    }

    // POSTs: Roundcube has checked its request token (CSRF) before any action runs.
    public function apps_create()
    {
        $label = trim(rcube_utils::get_input_string('_label', rcube_utils::INPUT_POST));
        $protocols = rcube_utils::get_input_value('_protocols', rcube_utils::INPUT_POST);
        $protocols = is_array($protocols) ? array_values(array_intersect(explode(',', self::APP_PROTOCOLS), $protocols)) : [];
        $created = null;
        if ($label === '' || $protocols === []) {
            $this->rc->output->command('display_message', $this->gettext('appmissing'), 'error');
        } else {
            $answer = $this->call_apps('app-create', ['label' => $label, 'protocols' => $protocols]);
            if (!is_array($answer)) {
                $this->rc->output->command('display_message', $this->gettext('unavailable'), 'error');
            } elseif (empty($answer['ok'])) {
                $this->rc->output->command('display_message', $this->gettext('apprefused') . ' ' . (string) ($answer['error'] ?? ''), 'error');
            } else {
                $created = $answer;
            }
        }
        $this->apps_send($created);
    }

    public function apps_revoke()
    {
        $answer = $this->call_apps('app-revoke', ['id' => rcube_utils::get_input_string('_id', rcube_utils::INPUT_POST)]);
        if (is_array($answer) && !empty($answer['ok'])) {
            $this->rc->output->command('display_message', $this->gettext('apprevoked'), 'confirmation');
        } else {
            $this->rc->output->command('display_message', $this->gettext('apprefused') . ' ' . (string) ($answer['error'] ?? ''), 'error');
        }
        $this->apps_send(null);
    }

    private function apps_send($created)
    {
        $this->register_handler('plugin.body', function () use ($created) {
            return $this->apps_page($created);
        });
        $this->rc->output->set_pagetitle($this->gettext('apptitle'));
        $this->rc->overwrite_action('plugin.mailstack_apppasswords');
        $this->rc->output->send('plugin');
    }

    private function apps_page($created)
    {
        $body = html::p(['class' => 'hint'], rcube::Q($this->gettext('appintro')));
        if (is_array($created)) {
            // Shown once: only its hash is kept.
            $body .= html::div(
                ['class' => 'boxconfirmation', 'id' => 'mailstack-apppassword-created'],
                html::p(null, rcube::Q($this->gettext(['name' => 'appcreated', 'vars' => ['label' => (string) $created['label']]])))
                . html::tag('code', ['id' => 'mailstack-apppassword-new'], rcube::Q((string) $created['password']))
            );
        }
        $answer = $this->call_apps('app-list');
        $table = new html_table(['cols' => 5, 'class' => 'records-table', 'id' => 'mailstack-apppasswords']);
        foreach (['appname', 'appprotocols', 'appcreatedat', 'applastused', ''] as $head) {
            $table->add_header(null, $head === '' ? '' : rcube::Q($this->gettext($head)));
        }
        foreach ((is_array($answer) && !empty($answer['ok']) ? $answer['appPasswords'] : []) as $app) {
            $table->add_row(['data-label' => (string) $app['label']]);
            $table->add('name', rcube::Q((string) $app['label']));
            $names = array_map(function ($p) { return $this->gettext('proto' . $p); }, (array) $app['protocols']);
            $table->add('protocols', rcube::Q(implode(', ', $names)));
            $table->add('created', rcube::Q($this->rc->format_date((int) $app['created'])));
            $used = $app['lastUsed'] === null ? $this->gettext('appneverused') : $this->rc->format_date((int) $app['lastUsed']);
            $table->add('lastused', rcube::Q($used));
            $revoke = $this->rc->output->form_tag(
                ['method' => 'post', 'action' => './?_task=settings&_action=plugin.mailstack_apppasswords-revoke'],
                html::tag('input', ['type' => 'hidden', 'name' => '_id', 'value' => (string) $app['id']])
                . html::tag('button', ['type' => 'submit', 'class' => 'button delete revoke'], rcube::Q($this->gettext('apprevoke')))
            );
            $table->add('revoke', $revoke);
        }
        $body .= $table->show();

        $fields = new html_table(['cols' => 2, 'class' => 'propform']);
        $label = new html_inputfield(['name' => '_label', 'id' => 'applabel', 'size' => 30, 'maxlength' => 32]);
        $fields->add('title', html::label('applabel', rcube::Q($this->gettext('appname'))));
        $fields->add(null, $label->show());
        $boxes = '';
        foreach (explode(',', self::APP_PROTOCOLS) as $p) {
            $box = new html_checkbox(['name' => '_protocols[]', 'id' => "appproto-$p", 'value' => $p]);
            $boxes .= html::label(['for' => "appproto-$p"], $box->show($p) . ' ' . rcube::Q($this->gettext('proto' . $p))) . ' ';
        }
        $fields->add('title', rcube::Q($this->gettext('appprotocols')));
        $fields->add(null, $boxes);
        $button = html::tag(
            'button',
            ['type' => 'submit', 'class' => 'button mainaction submit', 'id' => 'mailstack-apppassword-create'],
            rcube::Q($this->gettext('appcreate'))
        );
        $body .= $this->rc->output->form_tag(
            [
                'id'     => 'mailstack-apppassword-form',
                'method' => 'post',
                'action' => './?_task=settings&_action=plugin.mailstack_apppasswords-create',
            ],
            $fields->show() . html::p(['class' => 'formbuttons'], $button)
        );
        return html::div(['id' => 'prefs-title', 'class' => 'boxtitle'], rcube::Q($this->gettext('apptitle')))
            . html::div(['class' => 'box formcontainer scroller'], html::div(['class' => 'boxcontent formcontent'], $body));
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
