--[[
  One page of XAUTOCLAIM: claim entries pending longer than min-idle for a consumer. Entries deleted from the
  stream while pending (XDEL, a trim by someone else) are dropped from the pending list by XAUTOCLAIM; record each
  in the dead-letter stream and count it, in the same step, so it stays counted instead of vanishing.

  KEYS[1] the stream
  KEYS[2] the dead-letter stream
  KEYS[3] the dead-letter counter
  ARGV[1] consumer group
  ARGV[2] consumer
  ARGV[3] min-idle time in ms
  ARGV[4] cursor (start id; 0-0 for the first page)
  ARGV[5] most entries to claim

  Returns XAUTOCLAIM's reply: {next cursor, {{id, {field, value, ...}} or nil, ...}, {deleted id, ...}}.
]]
local reply = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local deleted = reply[3]
if deleted then
  for _, id in ipairs(deleted) do
    redis.call('XADD', KEYS[2], '*', 'id', id, 'reason', 'deleted from the stream while pending')
    redis.call('INCR', KEYS[3])
  end
end
return reply
