--[[
  Dead-letter one pending entry: acknowledge it and, only if it was still pending (so two consumers racing count
  it once), copy it to the dead-letter stream with the reason, its delivery count and its raw fields, and count it.
  The dead-letter stream is capped: beyond the cap its oldest entries are dropped, moved from the dead-letter
  counter to the discarded counter, in the same step (so every entry stays counted somewhere).

  KEYS[1] the stream
  KEYS[2] the dead-letter stream
  KEYS[3] the dead-letter counter
  KEYS[4] the discarded counter
  ARGV[1] consumer group
  ARGV[2] entry id
  ARGV[3] reason
  ARGV[4] delivery count
  ARGV[5] the cap (most entries the dead-letter stream keeps, at least 1)

  Returns 1 when dead-lettered, 0 when the entry was not pending (already acknowledged or dead-lettered).
]]
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local fields = {'id', ARGV[2], 'reason', ARGV[3], 'deliveries', ARGV[4]}
local raw = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
if raw[1] then
  local f = raw[1][2]
  for i = 1, #f, 2 do
    fields[#fields + 1] = 'raw.' .. f[i]
    fields[#fields + 1] = f[i + 1]
  end
end
redis.call('XADD', KEYS[2], '*', unpack(fields))
redis.call('INCR', KEYS[3])
if redis.call('XLEN', KEYS[2]) > tonumber(ARGV[5]) then
  local dropped = redis.call('XTRIM', KEYS[2], 'MAXLEN', ARGV[5])
  redis.call('DECRBY', KEYS[3], dropped)
  redis.call('INCRBY', KEYS[4], dropped)
end
return 1
