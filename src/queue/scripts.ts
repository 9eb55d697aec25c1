// Lua for the waiting room. Every script runs atomically in Redis and reads Redis's own clock, so
// several server processes can call them at once and the timestamps the checker reads are one clock.

/**
 * KEYS: waiting, active, seq, joins (one schedule's, one hash tag: one slot on a cluster). ARGV: userId.
 * → {status, position, joinNumber}. The schedule is registered for the admitter apart (SADD), as
 * the set of schedules lives in another slot.
 */
export const JOIN = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local u = ARGV[1]
local exp = tonumber(redis.call('ZSCORE', KEYS[2], u))
if exp and exp > now then
  return {'ACTIVE', 0, tonumber(redis.call('HGET', KEYS[4], u) or '0')}
end
local s = redis.call('ZSCORE', KEYS[1], u)
if not s then
  s = redis.call('INCR', KEYS[3])
  redis.call('ZADD', KEYS[1], s, u)
  redis.call('HSET', KEYS[4], u, s)
end
return {'WAITING', redis.call('ZRANK', KEYS[1], u) + 1, tonumber(s)}`;

/** KEYS: waiting, active, joins. ARGV: userId. → {status, position, joinNumber} */
export const STATUS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local u = ARGV[1]
local j = tonumber(redis.call('HGET', KEYS[3], u) or '0')
local exp = tonumber(redis.call('ZSCORE', KEYS[2], u))
if exp and exp > now then return {'ACTIVE', 0, j} end
local r = redis.call('ZRANK', KEYS[1], u)
if r then return {'WAITING', r + 1, j} end
return {'NONE', 0, j}`;

/**
 * KEYS: waiting, active, admitted, released, joins. ARGV: rate, maxActive, activeTtlMs.
 * Expired ACTIVE users leave (logged as released at their expiry time); then as many waiting users
 * as the rate (any sliding 1000 ms) and the active limit allow are admitted, in join order.
 */
export const ADMIT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, maxActive, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES')
for i = 1, #gone, 2 do
  local j = redis.call('HGET', KEYS[5], gone[i]) or '0'
  redis.call('ZADD', KEYS[4], gone[i + 1], gone[i] .. ':' .. j)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local recent = redis.call('ZCOUNT', KEYS[3], now - 999, now)
local room = math.min(rate - recent, maxActive - redis.call('ZCARD', KEYS[2]))
if room <= 0 then return 0 end
local next = redis.call('ZRANGE', KEYS[1], 0, room - 1)
for _, u in ipairs(next) do
  local j = redis.call('HGET', KEYS[5], u) or '0'
  redis.call('ZREM', KEYS[1], u)
  redis.call('ZADD', KEYS[2], now + ttl, u)
  redis.call('ZADD', KEYS[3], now, u .. ':' .. j)
end
return #next`;

/** KEYS: active, released, joins. ARGV: userId. Frees the user's ACTIVE slot (paid or cancelled). */
export const RELEASE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('ZADD', KEYS[2], now, ARGV[1] .. ':' .. (redis.call('HGET', KEYS[3], ARGV[1]) or '0'))
  return 1
end
return 0`;
