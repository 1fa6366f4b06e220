# 0644 root:root, on change: reload:dovecot
-- /etc/dovecot/main-password.lua - rendered by mailstack (render/host/templates/dovecot/main-password.lua).
--
-- The main password (README "Logins that cost no hash when repeated"): the passdb Dovecot
-- asks after the app passwords'. It checks the password against the user's bcrypt hash in
-- /etc/dovecot/users, the passwd-file mailstack-passwords writes, as the passwd-file passdb would.
-- Checked here rather than by the passwd-file passdb so that Dovecot's authentication cache
-- can keep the result: a passdb that answers "this password is right" without handing Dovecot
-- the hash gets, after a success, a cache entry holding a SHA1 of that password
-- (auth-request.c auth_request_save_cache, CACHED_PASSWORD_SCHEME), so the same password
-- again is one SHA1 in the auth process instead of bcrypt. A cached bcrypt hash (the
-- passwd-file passdb's) would cost bcrypt on every hit (passdb-cache.c). Any other password
-- misses the cache and comes back here to bcrypt (auth_cache_negative_ttl = 0), and
-- mailstack-passwords flushes a user's entry whenever their row changes.

local USERS = "/etc/dovecot/users"

-- Only PLAIN and LOGIN are offered (auth_mechanisms): there is no lookup without a password.
function auth_passdb_lookup(req)
  return dovecot.auth.PASSDB_RESULT_USER_UNKNOWN, nil
end

-- The cache key: the user alone (doveadm auth cache flush USER finds it by that). What a row
-- says about where the password may be used (allow_real_nets) is kept with the entry and
-- checked again on every hit.
function auth_passdb_get_cache_key()
  return "%{user}"
end

-- The user's row: hash and extra fields (the 8th column on, space-separated; Dovecot joins
-- the columns after the 7th with ":" again, so IPv6 networks survive).
local function row_of(user)
  local f = io.open(USERS, "r")
  if f == nil then return nil, nil end
  local prefix = user .. ":"
  for line in f:lines() do
    if string.sub(line, 1, #prefix) == prefix then
      f:close()
      local cols = {}
      for col in string.gmatch(line .. ":", "([^:]*):") do cols[#cols + 1] = col end
      return cols[2], table.concat(cols, ":", 8)
    end
  end
  f:close()
  return nil, nil
end

function auth_password_verify(req, password)
  local hash, extra = row_of(req.user)
  if hash == nil or hash == "" then
    return dovecot.auth.PASSDB_RESULT_USER_UNKNOWN, nil
  end
  if req:password_verify(hash, password) ~= 1 then
    return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, nil
  end
  -- mailstack-passwords writes the file, then flushes the user's entry. A check that read the
  -- old row before the write and answered after the flush would put the old password back in
  -- the cache: so the row is read again after bcrypt's quarter second, and a changed row
  -- refuses this login (the client's next attempt checks the new one).
  local hash_now, extra_now = row_of(req.user)
  if hash_now ~= hash or extra_now ~= extra then
    return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, nil
  end
  -- The passdb fields of the row (userdb_* are the userdb's, read from the same file there).
  local fields = {}
  for field in string.gmatch(extra or "", "%S+") do
    local key, value = string.match(field, "^([%w_]+)=(.*)$")
    if key ~= nil and string.sub(key, 1, 7) ~= "userdb_" then fields[key] = value end
  end
  return dovecot.auth.PASSDB_RESULT_OK, fields
end
