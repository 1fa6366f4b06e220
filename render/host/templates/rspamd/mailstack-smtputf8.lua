-- /etc/rspamd/lua.local.d/mailstack-smtputf8.lua - rendered by mailstack.
-- MAILSTACK_SMTPUTF8: the message came with SMTPUTF8 (RFC 6531), so UTF-8 in its headers is
-- allowed (RFC 6532) and composites.conf takes back the points rspamd gives raw 8-bit headers.
-- rspamd's milter is not told MAIL FROM's SMTPUTF8 parameter, nor does it see the Received
-- header our Postfix writes; what it does see is the envelope. Postfix takes a UTF-8 envelope
-- address only in an SMTPUTF8 transaction (main.cf: strict_smtputf8 = yes, 553 5.6.7
-- otherwise), so a UTF-8 sender or recipient proves the sender declared SMTPUTF8. An SMTPUTF8
-- message between ASCII addresses is not recognised, and scored as any other.
local function utf8_address(addr)
  local text = addr and (addr.raw or addr.addr)
  return text ~= nil and text:find('[\128-\255]') ~= nil
end

rspamd_config:register_symbol({
  name = 'MAILSTACK_SMTPUTF8',
  type = 'normal',
  score = 0.0,
  group = 'headers',
  description = 'A UTF-8 envelope address: the message came with SMTPUTF8 (RFC 6531)',
  callback = function(task)
    for _, addr in ipairs(task:get_from('smtp') or {}) do
      if utf8_address(addr) then
        return true
      end
    end
    for _, addr in ipairs(task:get_recipients('smtp') or {}) do
      if utf8_address(addr) then
        return true
      end
    end
    return false
  end,
})
