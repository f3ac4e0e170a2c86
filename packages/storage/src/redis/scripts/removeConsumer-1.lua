--[[
  Remove a consumer from the group, only if nothing is pending for it (XGROUP DELCONSUMER drops a consumer's
  pending entries with it, so the check and the removal must be one step: a consumer that read meanwhile keeps
  its entries and its place).

  KEYS[1] the stream
  ARGV[1] consumer group
  ARGV[2] consumer

  Returns 1 when it was removed, 0 when something is pending for it.
]]
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
