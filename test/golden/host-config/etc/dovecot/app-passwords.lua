# 0644 root:root, on change: reload:dovecot
-- /etc/dovecot/app-passwords.lua - rendered by mailstack (render/host/templates/dovecot/app-passwords.lua).
--
-- App passwords (README "App passwords"): the passdb Dovecot asks first, for every login on
-- IMAP, POP3, submission (Postfix asks with protocol smtp), ManageSieve and Radicale
-- (protocol radicale). /etc/dovecot/app-passwords holds one row per app password, written by
-- mailstack-passwords from the users' own list on the mail volume:
--
--   address:id:protocols it opens (comma-separated):{SSHA512}hash
--
-- An app password is 16 random letters (75 bits) that nobody chose, so one salted SHA-512 is
-- enough against a stolen file and costs microseconds where bcrypt costs a quarter second: a
-- phone that logs in every few minutes pays no bcrypt. The file is read on every login, so a
-- revoked app password fails at once. No row for the address, or a login from the server
-- itself (the webmail), and the passwd-file passdb after this one decides with the main
-- password; an app password never opens the webmail. A second factor for the webmail comes as
-- one more passdb field on the main password's row (allow_real_nets, docs/design.md): this
-- passdb stays as it is.

local APP_PASSWORDS = "/etc/dovecot/app-passwords"
-- One file per app password, holding when it last opened a login (unix time); the helper
-- shows it in the webmail. This passdb runs in the auth worker, as root (use_worker).
local LAST_USED_DIR = "/srv/mail/state/accounts/app-passwords-used"
-- The webmail logs in from the server itself (real_remote_ip: before login_trusted_networks
-- names the browser's address).
local LOOPBACK = { ["127.0.0.1"] = true, ["::1"] = true }

-- Only PLAIN and LOGIN are offered (auth_mechanisms): there is no lookup without a password.
function auth_passdb_lookup(req)
  return dovecot.auth.PASSDB_RESULT_USER_UNKNOWN, nil
end

local function opens(protocols, protocol)
  for p in string.gmatch(protocols, "[^,]+") do
    if p == protocol then return true end
  end
  return false
end

local function stamp(id)
  local f = io.open(LAST_USED_DIR .. "/" .. id, "w")
  if f ~= nil then
    f:write(tostring(os.time()), "\n")
    f:close()
  end
end

function auth_password_verify(req, password)
  if LOOPBACK[req.real_remote_ip or ""] or LOOPBACK[req.remote_ip or ""] then
    return dovecot.auth.PASSDB_RESULT_USER_UNKNOWN, nil
  end
  local f = io.open(APP_PASSWORDS, "r")
  if f == nil then
    return dovecot.auth.PASSDB_RESULT_USER_UNKNOWN, nil
  end
  local known = false
  local matched = nil
  for line in f:lines() do
    local user, id, protocols, hash = string.match(line, "^([^:]+):(%x+):([%w,]*):(.+)$")
    if user ~= nil and user == req.user then
      known = true
      -- Every hash of the user is checked, allowed or not: the time taken says nothing.
      if req:password_verify(hash, password) == 1 and opens(protocols, req.protocol) then
        matched = id
      end
    end
  end
  f:close()
  if matched ~= nil then
    stamp(matched)
    return dovecot.auth.PASSDB_RESULT_OK, nil
  end
  if known then
    return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, nil
  end
  return dovecot.auth.PASSDB_RESULT_USER_UNKNOWN, nil
end
