--[[
  Claim given entries of one dead consumer for another: only those still pending for that consumer and idle at
  least min-idle (anything acknowledged, claimed by someone else or touched since is left alone), so a consumer
  that came back to life, or whose entries another reclaimer took first, never loses them. An entry deleted from
  the stream while pending is acknowledged, recorded in the dead-letter stream and counted instead, in the same
  step, so it stays counted rather than vanishing.

  KEYS[1] the stream
  KEYS[2] the dead-letter stream
  KEYS[3] the dead-letter counter
  ARGV[1] consumer group
  ARGV[2] the consumer claiming
  ARGV[3] the dead consumer whose entries are claimed
  ARGV[4] min-idle time in ms
  ARGV[5..] entry ids (at most a few hundred)

  Returns {{id, {field, value, ...}, deliveries}, ...} for the claimed entries, in the order given.
]]
local claim = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  if #redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[4], id, id, 1, ARGV[3]) > 0 then
    if #redis.call('XRANGE', KEYS[1], id, id) == 0 then
      redis.call('XACK', KEYS[1], ARGV[1], id)
      redis.call('XADD', KEYS[2], '*', 'id', id, 'reason', 'deleted from the stream while pending')
      redis.call('INCR', KEYS[3])
    else
      claim[#claim + 1] = id
    end
  end
end
if #claim == 0 then return {} end
local out = {}
for _, entry in ipairs(redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[4], unpack(claim))) do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], entry[1], entry[1], 1)
  out[#out + 1] = {entry[1], entry[2], p[1][4]}
end
return out
