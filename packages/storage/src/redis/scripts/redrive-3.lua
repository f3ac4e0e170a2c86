--[[
  Redrive dead-lettered entries: for each id, append the entry's original fields (its `raw.*` fields) to the
  stream as a new entry, delete it from the dead-letter stream and uncount it, all in this one step, so an entry
  is never in both streams nor in neither. The received counter is left alone: the event was counted when it
  was first appended. An entry without raw fields (it had vanished from the stream before it was dead-lettered)
  has nothing to append and stays.

  KEYS[1] the stream
  KEYS[2] the dead-letter stream
  KEYS[3] the dead-letter counter
  ARGV[1..] dead-letter ids (at most a few hundred)

  Returns {redriven count, {missing ids}, {skipped ids}}: missing are not in the dead-letter stream, skipped have
  no raw fields.
]]
local count, missing, skipped = 0, {}, {}
for i = 1, #ARGV do
  local id = ARGV[i]
  local found = redis.call('XRANGE', KEYS[2], id, id)
  if #found == 0 then
    missing[#missing + 1] = id
  else
    local f = found[1][2]
    local fields = {}
    for j = 1, #f, 2 do
      if string.sub(f[j], 1, 4) == 'raw.' then
        fields[#fields + 1] = string.sub(f[j], 5)
        fields[#fields + 1] = f[j + 1]
      end
    end
    if #fields == 0 then
      skipped[#skipped + 1] = id
    else
      redis.call('XADD', KEYS[1], '*', unpack(fields))
      redis.call('XDEL', KEYS[2], id)
      redis.call('DECR', KEYS[3])
      count = count + 1
    end
  end
end
return {count, missing, skipped}
