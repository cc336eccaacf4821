/**
 * The Lua scripts that keep usage counters exact under concurrency. Each runs atomically in Redis, so concurrent
 * batches of any number of processes see each other's reservations.
 *
 * Per organization and month, one hash `{prefix}:usage:{org}:{YYYY-MM}`:
 *   ev, by     events and bytes committed (written to Postgres)     rev, rby   reserved by batches being written
 *   jobs       jobs enqueued                                        seeded     set once loaded from Postgres
 * `{prefix}:usage:pending` (zset): open reservations `org|month|id|events|bytes`, scored by their deadline (ms).
 * `{prefix}:usage:dirty` (set): `org|month` whose counters changed since they were last written to Postgres.
 * A script answers -1 when the hash is not seeded (new month, or Redis lost its data); the caller loads the Postgres
 * row, seeds, and retries. The reclaim script builds hash keys itself, so this layout assumes one Redis (no Cluster).
 */
import { createHash } from "node:crypto"
import type { Redis } from "ioredis"

export interface Script {
  readonly lua: string
  readonly sha: string
}

const script = (lua: string): Script => ({ lua, sha: createHash("sha1").update(lua).digest("hex") })

const num = (field: string) => `(tonumber(redis.call('HGET', KEYS[1], '${field}')) or 0)`

/** KEYS: hash, pending. ARGV: eventLimit, byteLimit, allOrNothing, deadline, memberPrefix, size1, size2, … */
export const reserve = script(`
if redis.call('HEXISTS', KEYS[1], 'seeded') == 0 then return {-1, 0, 0, 0} end
local usedEv = ${num("ev")} + ${num("rev")}
local usedBy = ${num("by")} + ${num("rby")}
local roomEv = tonumber(ARGV[1]) - usedEv
local roomBy = tonumber(ARGV[2]) - usedBy
local n = #ARGV - 5
local k, b = 0, 0
while k < n and k < roomEv do
  local s = tonumber(ARGV[6 + k])
  if b + s > roomBy then break end
  k = k + 1
  b = b + s
end
if ARGV[3] == '1' and k < n then k, b = 0, 0 end
if k > 0 then
  redis.call('HINCRBY', KEYS[1], 'rev', k)
  redis.call('HINCRBY', KEYS[1], 'rby', b)
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5] .. '|' .. k .. '|' .. b)
end
return {k, b, usedEv + k, usedBy + b}`)

/** KEYS: hash, pending, dirty. ARGV: member, events, bytes, dirtyMember. 0 when already reclaimed or released. */
export const commit = script(`
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'rev', -tonumber(ARGV[2]))
redis.call('HINCRBY', KEYS[1], 'rby', -tonumber(ARGV[3]))
redis.call('HINCRBY', KEYS[1], 'ev', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'by', ARGV[3])
redis.call('SADD', KEYS[3], ARGV[4])
return 1`)

/** KEYS: hash, pending. ARGV: member, events, bytes. */
export const release = script(`
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'rev', -tonumber(ARGV[2]))
redis.call('HINCRBY', KEYS[1], 'rby', -tonumber(ARGV[3]))
return 1`)

/** KEYS: hash, dirty. ARGV: events, bytes, jobs, dirtyMember. Adds to committed counters (jobs, replayed backlog). */
export const add = script(`
if redis.call('HEXISTS', KEYS[1], 'seeded') == 0 then return -1 end
redis.call('HINCRBY', KEYS[1], 'ev', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'by', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'jobs', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
return 1`)

/** KEYS: hash. ARGV: events, bytes, jobs (from Postgres), ttlSeconds. Only the first seeding counts. */
export const seed = script(`
if redis.call('HSETNX', KEYS[1], 'seeded', '1') == 1 then
  redis.call('HINCRBY', KEYS[1], 'ev', ARGV[1])
  redis.call('HINCRBY', KEYS[1], 'by', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'jobs', ARGV[3])
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1`)

/**
 * KEYS: pending, dirty. ARGV: now, prefix. Reservations past their deadline count as used: their process died
 * between reserving and committing, after or before the write; counting them never lets a tenant past its quota.
 */
export const reclaim = script(`
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 500)
for _, m in ipairs(expired) do
  local org, month, id, k, b = string.match(m, '^([^|]+)|([^|]+)|([^|]+)|([^|]+)|([^|]+)$')
  redis.call('ZREM', KEYS[1], m)
  local hash = ARGV[2] .. ':usage:{' .. org .. '}:' .. month
  redis.call('HINCRBY', hash, 'rev', -tonumber(k))
  redis.call('HINCRBY', hash, 'rby', -tonumber(b))
  redis.call('HINCRBY', hash, 'ev', k)
  redis.call('HINCRBY', hash, 'by', b)
  redis.call('SADD', KEYS[2], org .. '|' .. month)
end
return expired`)

/** KEYS: dirty, hash. ARGV: dirtyMember, ev, by, jobs as flushed. Unmarks only if nothing changed since. */
export const clean = script(`
local h = redis.call('HMGET', KEYS[2], 'ev', 'by', 'jobs')
if (h[1] or '0') == ARGV[2] and (h[2] or '0') == ARGV[3] and (h[3] or '0') == ARGV[4] then
  return redis.call('SREM', KEYS[1], ARGV[1])
end
return 0`)

/** EVALSHA, falling back to EVAL once when Redis does not have the script cached (first use, or after a restart). */
export const runScript = async (
  redis: Redis,
  s: Script,
  keys: ReadonlyArray<string>,
  args: ReadonlyArray<string | number>
): Promise<unknown> => {
  try {
    return await redis.evalsha(s.sha, keys.length, ...keys, ...args)
  } catch (error) {
    if (error instanceof Error && error.message.startsWith("NOSCRIPT")) {
      return await redis.eval(s.lua, keys.length, ...keys, ...args)
    }
    throw error
  }
}
