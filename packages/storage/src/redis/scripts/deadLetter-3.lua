--[[
  Dead-letter one pending entry: acknowledge it and, only if it was still pending (so two consumers racing count
  it once), copy it to the dead-letter stream with the reason, its delivery count and its raw fields, and count it.

  KEYS[1] the stream
  KEYS[2] the dead-letter stream
  KEYS[3] the dead-letter counter
  ARGV[1] consumer group
  ARGV[2] entry id
  ARGV[3] reason
  ARGV[4] delivery count

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
return 1
