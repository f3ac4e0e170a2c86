--[[
  Discard dead-lettered entries for good: delete them from the dead-letter stream and move them from the
  dead-letter counter to the discarded counter, in this one step. ARGV[1] 'all' discards the whole stream at once.

  KEYS[1] the dead-letter stream
  KEYS[2] the dead-letter counter
  KEYS[3] the discarded counter
  ARGV[1] 'all' or 'ids'
  ARGV[2..] dead-letter ids, with 'ids' (at most a few hundred)

  Returns {discarded count, {missing ids}}: missing are not in the dead-letter stream.
]]
local count, missing = 0, {}
if ARGV[1] == 'all' then
  count = redis.call('XLEN', KEYS[1])
  redis.call('DEL', KEYS[1])
else
  for i = 2, #ARGV do
    if redis.call('XDEL', KEYS[1], ARGV[i]) == 1 then count = count + 1 else missing[#missing + 1] = ARGV[i] end
  end
end
if count > 0 then
  redis.call('DECRBY', KEYS[2], count)
  redis.call('INCRBY', KEYS[3], count)
end
return {count, missing}
