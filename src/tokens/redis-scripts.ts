/**
 * The Lua scripts of the Redis token store (redis-store.ts, which documents the key layout).
 * Each family operation is one script, so rotation and reuse detection are atomic, also under
 * Cluster: every key a script touches carries the family's `{F}` hash tag (one slot).
 */
/** Extends `key`'s TTL to `ttl` ms unless it lives longer already (or gives it one it lacks). */
const EXTEND_LUA = `
local function extend(key, ttl)
  local left = redis.call('PTTL', key)
  if left == -1 or (left >= 0 and left < ttl) then redis.call('PEXPIRE', key, ttl) end
end`;

/** Helpers of the family scripts: KEYS[1] is the `fam` hash, KEYS[2] the `keys` set. */
const FAMILY_LUA = `${EXTEND_LUA}
local function put(key, value, ttl)
  if ttl <= 0 then return end
  redis.call('SET', key, value, 'PX', ttl)
  redis.call('SADD', KEYS[2], key)
  extend(KEYS[1], ttl)
  extend(KEYS[2], ttl)
end
-- ARGV[1] is the revocation channel and ARGV[2] the message naming the family, in every
-- script that may revoke.
local function revoke()
  local existed = redis.call('EXISTS', KEYS[1])
  local members = redis.call('SMEMBERS', KEYS[2])
  for i = 1, #members do redis.call('DEL', members[i]) end
  redis.call('DEL', KEYS[1], KEYS[2])
  if existed == 1 then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
  return existed
end
-- The grace entry (a JSON {from, to, sealed}) names the token rotated last (from) and its
-- successor (to); it counts while it lives (its TTL is the window) and 'to' is still current.
local function graced(graceKey, hash, graceMs)
  if graceMs <= 0 then return false end
  local raw = redis.call('GET', graceKey)
  if not raw then return false end
  local grace = cjson.decode(raw)
  if grace.from ~= hash or grace.to ~= redis.call('HGET', KEYS[1], 'rt') then return false end
  return grace.sealed
end
local function state(refreshKey, hash)
  local current = redis.call('HGET', KEYS[1], 'rt')
  if not current or redis.call('EXISTS', refreshKey) == 0 then return 'unknown' end
  if current == hash then return 'current' end
  return 'rotated'
end
`;

/**
 * A new family: the `fam` hash, its access token and its refresh token (`rtKey` may be nil).
 * Its ARGV, from `ARGV[o + 1]`: sub, clientId, exp, familyTtl, atJson, atTtl[, rtHash, rtJson, rtTtl].
 */
const CREATE_LUA = `
local function create(atKey, rtKey, o)
  redis.call('HSET', KEYS[1], 'rt', ARGV[o + 7] or '', 'sub', ARGV[o + 1], 'cid', ARGV[o + 2], 'exp', ARGV[o + 3])
  extend(KEYS[1], tonumber(ARGV[o + 4]))
  put(atKey, ARGV[o + 5], tonumber(ARGV[o + 6]))
  if rtKey then put(rtKey, ARGV[o + 8], tonumber(ARGV[o + 9])) end
  return 1
end
`;

/** Adds `familyId` to a subject's index (unless '') and extends the index to `ttl` ms. Needs EXTEND_LUA. */
const SUBJECT_LUA = `
local function index(key, familyId, ttl)
  if familyId ~= '' then redis.call('SADD', key, familyId) end
  extend(key, ttl)
end
`;

export const SCRIPTS = {
  /** KEYS: fam, keys, at[, rt]. ARGV: sub, clientId, exp, familyTtl, atJson, atTtl[, rtHash, rtJson, rtTtl]. */
  create: `${FAMILY_LUA}${CREATE_LUA}
return create(KEYS[3], KEYS[4], 0)`,
  /**
   * subject then create in one script, on one node (the index key has no family hash tag, so
   * not under Cluster). KEYS: fam, keys, sub index, at[, rt]. ARGV: familyId, indexTtl, then
   * create's ARGV.
   */
  createIndexed: `${FAMILY_LUA}${CREATE_LUA}${SUBJECT_LUA}
index(KEYS[3], ARGV[1], tonumber(ARGV[2]))
return create(KEYS[4], KEYS[5], 2)`,
  /** KEYS: fam, rt. ARGV: rtHash. The record, when the token is the family's current one. */
  getRefresh: `
if redis.call('HGET', KEYS[1], 'rt') ~= ARGV[1] then return false end
return redis.call('GET', KEYS[2])`,
  /**
   * KEYS: fam, keys, grace, presented rt, new at[, new rt].
   * ARGV: channel, message, rtHash, nowMs, atJson, atTtl, graceMs, sealed successor[, newRtHash, rtJson, rtTtl].
   */
  rotate: `${FAMILY_LUA}
local s = state(KEYS[4], ARGV[3])
local graceMs = tonumber(ARGV[7])
if s == 'unknown' then return 'invalid' end
if s == 'rotated' then
  if graced(KEYS[3], ARGV[3], graceMs) then return 'superseded' end
  revoke()
  return 'reused'
end
if cjson.decode(redis.call('GET', KEYS[4])).exp * 1000 <= tonumber(ARGV[4]) then return 'invalid' end
put(KEYS[5], ARGV[5], tonumber(ARGV[6]))
if KEYS[6] then
  put(KEYS[6], ARGV[10], tonumber(ARGV[11]))
  redis.call('HSET', KEYS[1], 'rt', ARGV[9])
  if graceMs > 0 then
    put(KEYS[3], cjson.encode({ from = ARGV[3], to = ARGV[9], sealed = ARGV[8] }), graceMs)
  else
    redis.call('DEL', KEYS[3])
  end
end
return 'rotated'`,
  /**
   * KEYS: fam, keys, grace, rt. ARGV: channel, message, rtHash, clientId, graceMs.
   * {'replay', sealed} within the grace window; {'reused', record} after revoking; nil otherwise.
   */
  settleRotated: `${FAMILY_LUA}
if state(KEYS[4], ARGV[3]) ~= 'rotated' then return false end
if redis.call('HGET', KEYS[1], 'cid') == ARGV[4] then
  local sealed = graced(KEYS[3], ARGV[3], tonumber(ARGV[5]))
  if sealed then return {'replay', sealed} end
end
local record = redis.call('GET', KEYS[4])
revoke()
return {'reused', record}`,
  /** KEYS: fam, keys, rt. ARGV: channel, message, rtHash. The token's record when it was rotated and its family is now revoked. */
  revokeIfRotated: `${FAMILY_LUA}
if state(KEYS[3], ARGV[3]) ~= 'rotated' then return false end
local record = redis.call('GET', KEYS[3])
revoke()
return record`,
  /** KEYS: fam, keys. ARGV: channel, message. 1 when the family existed. */
  revoke: `${FAMILY_LUA}
return revoke()`,
  /** KEYS: keys, at. ARGV: channel, message. 1 when the access token existed (and is now gone). */
  revokeAccess: `
if redis.call('DEL', KEYS[2]) == 0 then return 0 end
redis.call('SREM', KEYS[1], KEYS[2])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1`,
  /** KEYS: fam, at, rt. ARGV: rtHash. {'access', json} | {'refresh', json, current 0/1} | nil. */
  describe: `
local at = redis.call('GET', KEYS[2])
if at then return {'access', at} end
local rt = redis.call('GET', KEYS[3])
if not rt then return false end
local current = 0
if redis.call('HGET', KEYS[1], 'rt') == ARGV[1] then current = 1 end
return {'refresh', rt, current}`,
  /** KEYS: sub index. ARGV: familyId ('' to only extend), ttl. */
  subject: `${EXTEND_LUA}${SUBJECT_LUA}
index(KEYS[1], ARGV[1], tonumber(ARGV[2]))
return 1`,
} as const;

export type ScriptName = keyof typeof SCRIPTS;
