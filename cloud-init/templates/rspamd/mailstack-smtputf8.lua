-- /etc/rspamd/lua.local.d/mailstack-smtputf8.lua - rendered by mailstack.
-- MAILSTACK_SMTPUTF8: the message reached our port 25 with SMTPUTF8 (RFC 6531), so UTF-8 in
-- its headers is allowed (RFC 6532) and composites.conf takes back the points rspamd gives
-- raw 8-bit headers. Only the first Received header counts: it is the one our own Postfix
-- wrote ("with UTF8SMTP", "UTF8SMTPS", "UTF8SMTPA", "UTF8SMTPSA"; smtpd hands it to the
-- milter first), so a sender cannot claim SMTPUTF8 with a Received header of its own.
rspamd_config:register_symbol({
  name = 'MAILSTACK_SMTPUTF8',
  type = 'normal',
  score = 0.0,
  group = 'headers',
  description = 'Received by our Postfix with SMTPUTF8 (RFC 6531)',
  callback = function(task)
    local received = task:get_header_full('Received')
    if not received or not received[1] then
      return false
    end
    local first = received[1].value or ''
    if first:match('%swith%s+UTF8SMTPS?A?[%s;]') or first:match('%swith%s+UTF8SMTPS?A?$') then
      return true
    end
    return false
  end,
})
