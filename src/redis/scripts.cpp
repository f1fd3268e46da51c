// scripts.cpp: the Lua text of every script (scripts.hpp). Read with docs/design.md "The Redis
// engine", which gives the layout and what each operation does.
#include "redis/scripts.hpp"

#include <array>
#include <string>

namespace shmkv::detail {
namespace {

// Helpers every script may use (after its shebang line).
constexpr std::string_view kPrelude = R"lua(
local I, E = KEYS[1], KEYS[2]
local P = string.sub(I, 1, -2) .. 'v:'  -- "{name}:i" -> "{name}:v:", the value keys' prefix
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Drops the index entries of up to n keys whose time ran out (n == nil: of all of them). Redis
-- deletes an expired value key itself; its members in I and E are ours to drop. A key written
-- again without a TTL by a command that does not touch E (increment's INCRBY, after the key had
-- expired) still has its old member in E: it leaves E and stays in I.
local function purge(n)
  local now = '(' .. now_ms()
  local gone
  if n then gone = redis.call('ZRANGEBYSCORE', E, '-inf', now, 'LIMIT', 0, n)
  else gone = redis.call('ZRANGEBYSCORE', E, '-inf', now) end
  for i = 1, #gone do
    if redis.call('EXISTS', P .. gone[i]) == 0 then redis.call('ZREM', I, gone[i]) end
    redis.call('ZREM', E, gone[i])
  end
end
-- Rank r in [base, base + n) drawn with u in [0, 1).
local function rank(base, n, u)
  local r = base + math.floor(u * n)
  if r > base + n - 1 then r = base + n - 1 end
  return r
end
-- Coordination (docs/design.md "Coordination on Redis"). S = "{name}:". A grant of kind
-- c (claim), l (lock), p (permit) or a (barrier arrival) on a name is a member "token holder"
-- of the sorted set S .. 'g' .. kind .. ':' .. name, scored by its lease end in ms (inf: none).
-- holder is the CLIENT ID of the holder's presence connection: a caller that found it gone from
-- CLIENT LIST passes it among the dead ids, and its grants count as ended.
local S = string.sub(I, 1, -2)
local W = S .. 'w'  -- the waiters: member id (16) .. kind (1) .. subject, scored by their end
local function dead_set(ids)
  local d = {}
  for id in string.gmatch(ids, '%d+') do d[id] = true end
  return d
end
local function grants(kind, name) return S .. 'g' .. kind .. ':' .. name end
-- The live grants of set K: drops the lapsed and the dead ones; returns how many are left, their
-- holders (into the table `holders`, if given) and the first lease end (or nil).
local function live(K, now, dead, holders)
  redis.call('ZREMRANGEBYSCORE', K, '-inf', now)
  local ms = redis.call('ZRANGE', K, 0, -1, 'WITHSCORES')
  local n, first = 0, nil
  for i = 1, #ms, 2 do
    local h = string.match(ms[i], ' (%d+)$')
    if h == nil or dead[h] then
      redis.call('ZREM', K, ms[i])
    else
      n = n + 1
      if holders then holders[#holders + 1] = h end
      if ms[i + 1] ~= 'inf' then
        local e = tonumber(ms[i + 1])
        if first == nil or e < first then first = e end
      end
    end
  end
  return n, first
end
local function grant(K, now, lease, holder)
  local tok = redis.call('INCR', S .. 'tok')
  local score = 'inf'
  if lease > 0 then score = now + lease end
  redis.call('ZADD', K, score, string.format('%.0f', tok) .. ' ' .. holder)
  return tok
end
-- The member of K with this token and its lease end, or nil.
local function with_token(K, token)
  local ms = redis.call('ZRANGE', K, 0, -1, 'WITHSCORES')
  for i = 1, #ms, 2 do
    if string.sub(ms[i], 1, #token + 1) == token .. ' ' then return ms[i], ms[i + 1] end
  end
  return nil
end
-- Wakes the waiters on kind/subject: for a key ('k'), the wait_for waiters of that key and the
-- pop_random_wait waiters ('q') of every prefix of it; else the lock ('l'), semaphore ('p') or
-- barrier ('b') waiters of that name. Each woken waiter's list gets one element
-- and its entry goes (it registers again if it must wait on).
local function wake(kind, subject)
  if redis.call('EXISTS', W) == 0 then return end
  redis.call('ZREMRANGEBYSCORE', W, '-inf', '(' .. now_ms())
  local ms = redis.call('ZRANGE', W, 0, -1)
  for i = 1, #ms do
    local k, t = string.sub(ms[i], 17, 17), string.sub(ms[i], 18)
    local hit
    if kind == 'k' then
      hit = (k == 'k' and t == subject) or (k == 'q' and string.sub(subject, 1, #t) == t)
    else
      hit = (k == kind and t == subject)
    end
    if hit then
      local list = S .. 'n:' .. string.sub(ms[i], 1, 16)
      redis.call('RPUSH', list, '1')
      redis.call('PEXPIRE', list, 60000)
      redis.call('ZREM', W, ms[i])
    end
  end
end
-- Registers waiter member m ('' = none) until wait ms from now.
local function register(m, wait)
  if m ~= '' then redis.call('ZADD', W, now_ms() + tonumber(wait), m) end
end
-- A key is claimed when its claim set has a live grant (its holder is added to `holders`, the
-- claim's end folded into first[1]).
local function claimed(k, now, dead, holders, first)
  local K = grants('c', k)
  if redis.call('EXISTS', K) == 0 then return false end
  local n, f = live(K, now, dead, holders)
  if f and (first[1] == nil or f < first[1]) then first[1] = f end
  return n > 0
end
-- A member of [lo, hi) (ranks from base) that ok accepts, drawn uniformly among those: up to 16
-- uniform draws (the first with u), then, the range being mostly members ok refuses, a walk
-- over the whole range and a uniform draw among the members it accepted. The walk steps by lex
-- bounds, which members that ok drops from the index do not shift (ranks would). nil when none
-- is accepted.
local function pick(base, lo, hi, u, ok)
  for attempt = 1, 16 do
    local n = redis.call('ZLEXCOUNT', I, lo, hi)
    if n == 0 then return nil end
    local m = redis.call('ZRANGE', I, rank(base, n, u), rank(base, n, u))[1]
    if ok(m) then return m end
    u = math.random()
  end
  local accepted, from = {}, lo
  repeat
    local ms = redis.call('ZRANGE', I, from, hi, 'BYLEX', 'LIMIT', 0, 100)
    for i = 1, #ms do
      if ok(ms[i]) then accepted[#accepted + 1] = ms[i] end
    end
    if #ms > 0 then from = '(' .. ms[#ms] end
  until #ms < 100
  if #accepted == 0 then return nil end
  return accepted[math.random(#accepted)]
end
-- The member exists as a key; a stale one leaves the indexes.
local function present(m)
  if redis.call('EXISTS', P .. m) == 1 then return true end
  redis.call('ZREM', I, m)
  redis.call('ZREM', E, m)
  return false
end
-- ms from now until lease end f (false: none), for a reply.
local function later(f, now)
  if f then return f - now end
  return false
end
local function base_of(below)
  if below == '' then return 0 end
  return redis.call('ZLEXCOUNT', I, '-', below)
end
-- Stores value v (ttl ms, 0 = none) at value key V for key k, keeping both indexes in step.
local function store(V, k, v, ttl)
  if ttl > 0 then
    redis.call('SET', V, v, 'PX', ttl)
    redis.call('ZADD', E, redis.call('PEXPIRETIME', V), k)
  else
    redis.call('SET', V, v)
    redis.call('ZREM', E, k)
  end
  redis.call('ZADD', I, 0, k)
  wake('k', k)
end
-- Deletes key k (value key V) and its index entries; 1 if it was live.
local function drop(V, k)
  local n = redis.call('DEL', V)
  redis.call('ZREM', I, k)
  redis.call('ZREM', E, k)
  return n
end
)lua";

struct Def {
  const char* name;
  bool allow_oom;  // only deletes, or reads and drops index entries of expired keys
  std::string_view body;
};

// ARGV of single-key scripts: [1] = the key (the index member), then as listed.
constexpr std::array<Def, static_cast<std::size_t>(Script::kCount)> kDefs = {{
    {"set", false, R"lua(
-- ARGV: key, value, ttl
purge(2)
store(KEYS[3], ARGV[1], ARGV[2], tonumber(ARGV[3]))
return 1
)lua"},
    {"set_at", false, R"lua(
-- ARGV: key, value, absolute expiry in unix ms (0 = none): restore's entries
purge(2)
if ARGV[3] ~= '0' then
  redis.call('SET', KEYS[3], ARGV[2], 'PXAT', ARGV[3])
  redis.call('ZADD', E, ARGV[3], ARGV[1])
else
  redis.call('SET', KEYS[3], ARGV[2])
  redis.call('ZREM', E, ARGV[1])
end
redis.call('ZADD', I, 0, ARGV[1])
wake('k', ARGV[1])
return 1
)lua"},
    {"del", true, R"lua(
return drop(KEYS[3], ARGV[1])
)lua"},
    {"replace_counter", false, R"lua(
-- ARGV: key, old, new. A counter INCRBY cannot parse ("012"): replaced if unchanged, TTL kept.
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[3], ARGV[3], 'KEEPTTL')
return 1
)lua"},
    {"get_or_set", false, R"lua(
-- ARGV: key, value, ttl
local cur = redis.call('GET', KEYS[3])
if cur then return {1, cur} end
purge(2)
store(KEYS[3], ARGV[1], ARGV[2], tonumber(ARGV[3]))
return {0}
)lua"},
    {"set_if_absent", false, R"lua(
-- ARGV: key, value, ttl
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
purge(2)
store(KEYS[3], ARGV[1], ARGV[2], tonumber(ARGV[3]))
return 1
)lua"},
    {"swap", false, R"lua(
-- ARGV: key, value, ttl
local old = redis.call('GET', KEYS[3])
purge(2)
store(KEYS[3], ARGV[1], ARGV[2], tonumber(ARGV[3]))
if old then return {1, old} end
return {0}
)lua"},
    {"compare_and_swap", false, R"lua(
-- ARGV: key, '1' (expected given) or '0' (expect absent), expected, value, ttl
local cur = redis.call('GET', KEYS[3])
local match
if ARGV[2] == '1' then match = (cur == ARGV[3]) else match = (cur == false) end
if not match then
  if cur then return {0, cur} end
  return {0}
end
purge(2)
store(KEYS[3], ARGV[1], ARGV[4], tonumber(ARGV[5]))
return {1}
)lua"},
    {"compare_and_delete", true, R"lua(
-- ARGV: key, expected
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return 0 end
return drop(KEYS[3], ARGV[1])
)lua"},
    {"expire", false, R"lua(
-- ARGV: key, ttl (0 = none)
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[3], ttl)
  redis.call('ZADD', E, redis.call('PEXPIRETIME', KEYS[3]), ARGV[1])
else
  redis.call('PERSIST', KEYS[3])
  redis.call('ZREM', E, ARGV[1])
end
return 1
)lua"},
    {"delete_range", true, R"lua(
-- ARGV: value key prefix, lo, hi (lex bounds), at most this many keys. Returns {deleted, left}.
purge(nil)
local ks = redis.call('ZRANGE', I, ARGV[2], ARGV[3], 'BYLEX', 'LIMIT', 0, tonumber(ARGV[4]))
local n = 0
for i = 1, #ks do n = n + drop(ARGV[1] .. ks[i], ks[i]) end
return {n, redis.call('ZLEXCOUNT', I, ARGV[2], ARGV[3])}
)lua"},
    {"page", true, R"lua(
-- ARGV: value key prefix, lo, hi (lex bounds), want, '1' with values or '0' keys only.
-- Returns {more, {key[, value], ...}}: up to want live keys from lo, more = 1 if another follows.
local want, lo, got, out = tonumber(ARGV[4]), ARGV[2], 0, {}
while true do
  local ks = redis.call('ZRANGE', I, lo, ARGV[3], 'BYLEX', 'LIMIT', 0, want - got + 1)
  if #ks == 0 then return {0, out} end
  for i = 1, #ks do
    local k = ks[i]
    local v
    if ARGV[5] == '1' then v = redis.call('GET', ARGV[1] .. k)
    else v = redis.call('EXISTS', ARGV[1] .. k) == 1 end
    if v then
      got = got + 1
      if got > want then return {1, out} end
      out[#out + 1] = k
      if ARGV[5] == '1' then out[#out + 1] = v end
    else  -- deleted behind our back (evicted, or by another client): drop its entries
      redis.call('ZREM', I, k)
      redis.call('ZREM', E, k)
    end
    lo = '(' .. k
  end
end
)lua"},
    {"count", true, R"lua(
-- ARGV: lo, hi (lex bounds)
purge(nil)
return redis.call('ZLEXCOUNT', I, ARGV[1], ARGV[2])
)lua"},
    {"size", true, R"lua(
purge(nil)
return redis.call('ZCARD', I)
)lua"},
    {"random", true, R"lua(
-- ARGV: below ('' or the lex bound of the keys under lo), lo, hi, then one u in [0, 1) per key
-- to draw. Returns one live key per u (false when the range has none); members whose keys
-- expired leave the indexes as the draws meet them.
local base = base_of(ARGV[1])
local out = {}
for j = 4, #ARGV do
  out[#out + 1] = pick(base, ARGV[2], ARGV[3], tonumber(ARGV[j]), present) or false
end
return out
)lua"},
    {"pop", true, R"lua(
-- ARGV: below ('' or the lex bound of the keys under lo), lo, hi, dead ids, waiter member ('' =
-- none), wait ms, then one u in [0, 1) per key to pop. Pops live unclaimed keys, one per u.
-- Returns {{key, value, ...}, first claim end among those that got in the way (or false), {their
-- holders}}; a pop that found none registers the waiter.
local base, now, dead = base_of(ARGV[1]), now_ms(), dead_set(ARGV[4])
local holders, first = {}, {}
local function ok(m) return present(m) and not claimed(m, now, dead, holders, first) end
local out = {}
for j = 7, #ARGV do
  local m = pick(base, ARGV[2], ARGV[3], tonumber(ARGV[j]), ok)
  if not m then break end
  out[#out + 1] = m
  out[#out + 1] = redis.call('GET', P .. m)
  drop(P .. m, m)
end
if #out == 0 then register(ARGV[5], ARGV[6]) end
return {out, later(first[1], now), holders}
)lua"},
    {"claim", true, R"lua(
-- ARGV: key, lease ms, holder, dead ids. Returns {1, value, token}, {0, ms until the first lease end or
-- false, {holders}} while claimed, or {-1} when the key is absent.
local v = redis.call('GET', KEYS[3])
if not v then return {-1} end
local now, K, holders = now_ms(), grants('c', ARGV[1]), {}
local n, first = live(K, now, dead_set(ARGV[4]), holders)
if n > 0 then return {0, later(first, now), holders} end
return {1, v, grant(K, now, tonumber(ARGV[2]), ARGV[3])}
)lua"},
    {"claim_random", true, R"lua(
-- ARGV: below, lo, hi, u, lease ms, holder, dead ids. Claims a key drawn uniformly among the live
-- unclaimed keys of [lo, hi). Returns {1, key, value, token} or {0, first claim end among those
-- that got in the way (or false), {their holders}}.
local now, dead, holders, first = now_ms(), dead_set(ARGV[7]), {}, {}
local function ok(m) return present(m) and not claimed(m, now, dead, holders, first) end
local m = pick(base_of(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4]), ok)
if not m then return {0, later(first[1], now), holders} end
local tok = grant(grants('c', m), now, tonumber(ARGV[5]), ARGV[6])
return {1, m, redis.call('GET', P .. m), tok}
)lua"},
    {"take", true, R"lua(
-- ARGV: kind (l or p), name, limit, lease ms (0 = none), holder, dead ids, waiter member ('' =
-- none), wait ms. A grant while fewer than limit live ones exist: {1, token}; else the waiter is
-- registered and {0, first lease end or false, {holders}}.
local now, K, holders = now_ms(), grants(ARGV[1], ARGV[2]), {}
local n, first = live(K, now, dead_set(ARGV[6]), holders)
if n < tonumber(ARGV[3]) then return {1, grant(K, now, tonumber(ARGV[4]), ARGV[5])} end
register(ARGV[7], ARGV[8])
return {0, later(first, now), holders}
)lua"},
    {"renew", true, R"lua(
-- ARGV: kind, name, token, lease ms. 1 if the token still holds the grant (its lease restarts).
local K = grants(ARGV[1], ARGV[2])
local m, e = with_token(K, ARGV[3])
if not m then return 0 end
local now = now_ms()
if e ~= 'inf' and tonumber(e) <= now then redis.call('ZREM', K, m); return 0 end
redis.call('ZADD', K, 'XX', now + tonumber(ARGV[4]), m)
return 1
)lua"},
    {"give_back", true, R"lua(
-- ARGV: kind, name, token. Ends the grant; 1 if the token still held it. Wakes its waiters: of
-- the lock or semaphore, or of a released claim's key (pop_random_wait).
local K = grants(ARGV[1], ARGV[2])
local m, e = with_token(K, ARGV[3])
if not m then return 0 end
redis.call('ZREM', K, m)
if e ~= 'inf' and tonumber(e) <= now_ms() then return 0 end
if ARGV[1] == 'c' then wake('k', ARGV[2]) else wake(ARGV[1], ARGV[2]) end
return 1
)lua"},
    {"complete", true, R"lua(
-- ARGV: key, token. Ends the claim and deletes the key; 1 if the token still held the claim.
local K = grants('c', ARGV[1])
local m, e = with_token(K, ARGV[2])
if not m then return 0 end
redis.call('ZREM', K, m)
if e ~= 'inf' and tonumber(e) <= now_ms() then return 0 end
drop(KEYS[3], ARGV[1])
return 1
)lua"},
    {"wait_key", true, R"lua(
-- ARGV: waiter member, wait ms. 1 if the key exists; else registers the waiter, 0.
if redis.call('EXISTS', KEYS[3]) == 1 then return 1 end
register(ARGV[1], ARGV[2])
return 0
)lua"},
    {"wake_keys", true, R"lua(
-- ARGV: keys written by a transaction while someone waited: wakes their waiters.
for i = 1, #ARGV do wake('k', ARGV[i]) end
return 1
)lua"},
    {"barrier_arrive", true, R"lua(
-- ARGV: name, parties, holder, dead ids, waiter member, wait ms. The round's state is the hash
-- S .. 'b:' .. name (round, broken: the last broken round), its arrivals are grants of kind a.
-- Returns {1, index} for the last arrival (the round ends), else {0, index, round, token,
-- {holders of the others}} with the waiter registered. A dead arrival breaks its round first.
local St, A, dead = S .. 'b:' .. ARGV[1], grants('a', ARGV[1]), dead_set(ARGV[4])
local round = tonumber(redis.call('HGET', St, 'round') or '1')
local ms = redis.call('ZRANGE', A, 0, -1)
for i = 1, #ms do
  if dead[string.match(ms[i], ' (%d+)$') or ''] then
    redis.call('HSET', St, 'broken', round, 'round', round + 1)
    redis.call('DEL', A)
    wake('b', ARGV[1])
    round, ms = round + 1, {}
    break
  end
end
local index = #ms
if index + 1 >= tonumber(ARGV[2]) then
  redis.call('HSET', St, 'round', round + 1)
  redis.call('DEL', A)
  wake('b', ARGV[1])
  return {1, index}
end
local tok = redis.call('INCR', S .. 'tok')
redis.call('ZADD', A, index, string.format('%.0f', tok) .. ' ' .. ARGV[3])
redis.call('HSET', St, 'round', round)
register(ARGV[5], ARGV[6])
local holders = {}
for i = 1, #ms do holders[#holders + 1] = string.match(ms[i], ' (%d+)$') end
return {0, index, round, tok, holders}
)lua"},
    {"barrier_wait", true, R"lua(
-- ARGV: name, round, token, dead ids, waiter member, wait ms, '1' to withdraw. Returns {'done'}
-- (the round ended), {'broken', holder} (a party died), {'left'} (withdrawn) or {'wait',
-- {holders of the others}} with the waiter registered again.
local St, A, dead = S .. 'b:' .. ARGV[1], grants('a', ARGV[1]), dead_set(ARGV[4])
local round, mine = tonumber(redis.call('HGET', St, 'round') or '1'), tonumber(ARGV[2])
if round ~= mine then
  if tonumber(redis.call('HGET', St, 'broken') or '0') == mine then return {'broken', ''} end
  return {'done'}
end
local ms = redis.call('ZRANGE', A, 0, -1)
local holders = {}
for i = 1, #ms do
  local h = string.match(ms[i], ' (%d+)$') or ''
  if dead[h] then
    redis.call('HSET', St, 'broken', round, 'round', round + 1)
    redis.call('DEL', A)
    wake('b', ARGV[1])
    return {'broken', h}
  end
  if string.sub(ms[i], 1, #ARGV[3] + 1) ~= ARGV[3] .. ' ' then holders[#holders + 1] = h end
end
if ARGV[7] == '1' then
  local m = with_token(A, ARGV[3])
  if m then redis.call('ZREM', A, m) end
  return {'left'}
end
register(ARGV[5], ARGV[6])
return {'wait', holders}
)lua"},
    {"clear", true, R"lua(
-- ARGV: value key prefix, batch. Deletes the first batch keys; returns how many remain.
local ks = redis.call('ZRANGE', I, 0, tonumber(ARGV[2]) - 1)
for i = 1, #ks do
  redis.call('DEL', ARGV[1] .. ks[i])
  redis.call('ZREM', E, ks[i])
end
if #ks > 0 then redis.call('ZREMRANGEBYRANK', I, 0, #ks - 1) end
local left = redis.call('ZCARD', I)
if left == 0 then redis.call('DEL', E) end
return left
)lua"},
    {"backup_page", true, R"lua(
-- ARGV: value key prefix, lo, batch. Returns {last member or nil, {key, value, expiry ms or -1,
-- ...}} for the live keys among the batch members from lo.
local ks = redis.call('ZRANGE', I, ARGV[2], '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for i = 1, #ks do
  local vk = ARGV[1] .. ks[i]
  local v = redis.call('GET', vk)
  if v then
    out[#out + 1] = ks[i]
    out[#out + 1] = v
    out[#out + 1] = redis.call('PEXPIRETIME', vk)
  end
end
return {ks[#ks] or false, out}
)lua"},
    {"check_page", true, R"lua(
-- ARGV: value key prefix, 'i' or 'e', lo (a lex bound for 'i', a rank for 'e'), batch. Checks a
-- page of one index; returns {next position or nil, {key, problem, detail, ...}}.
local out = {}
local function bad(k, what, detail) out[#out + 1] = k; out[#out + 1] = what; out[#out + 1] = detail end
local batch = tonumber(ARGV[4])
if ARGV[2] == 'e' then
  local start = tonumber(ARGV[3])
  local ks = redis.call('ZRANGE', E, start, start + batch - 1)
  for i = 1, #ks do
    if not redis.call('ZSCORE', I, ks[i]) then bad(ks[i], 'expiry_not_indexed', '') end
  end
  if #ks < batch then return {false, out} end
  return {tostring(start + batch), out}
end
local now = now_ms()
local ks = redis.call('ZRANGE', I, ARGV[3], '+', 'BYLEX', 'LIMIT', 0, batch)
for i = 1, #ks do
  local k = ks[i]
  local vk = ARGV[1] .. k
  local t = redis.call('TYPE', vk)['ok']
  local es = redis.call('ZSCORE', E, k)
  if t == 'none' then
    if not es or tonumber(es) >= now then bad(k, 'no_value', '') end
  elseif t ~= 'string' then
    bad(k, 'wrong_type', t)
  else
    local pe = redis.call('PEXPIRETIME', vk)
    if pe < 0 and es and tonumber(es) >= now then bad(k, 'expiry_without_ttl', es)
    elseif pe >= 0 and not es then bad(k, 'ttl_not_indexed', tostring(pe))
    elseif pe >= 0 and tonumber(es) ~= pe then bad(k, 'expiry_differs', es .. ' ' .. tostring(pe)) end
  end
end
if #ks < batch then return {false, out} end
return {'(' .. ks[#ks], out}
)lua"},
    {"create_meta", false, R"lua(
-- KEYS[1] = {name}:meta. ARGV: layout, max_key_bytes, max_value_bytes, created_ms, '1' if this
-- open may create the store. Returns {1, {}} created, {0, fields} exists, {-1, {}} absent.
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, redis.call('HGETALL', KEYS[1])} end
if ARGV[5] ~= '1' then return {-1, {}} end
redis.call('HSET', KEYS[1], 'layout', ARGV[1], 'max_key_bytes', ARGV[2], 'max_value_bytes',
           ARGV[3], 'created_ms', ARGV[4])
return {1, {}}
)lua"},
}};

}  // namespace

std::string_view ScriptText(Script s) {
  static const std::array<std::string, kDefs.size()> texts = [] {
    std::array<std::string, kDefs.size()> t;
    for (std::size_t i = 0; i < kDefs.size(); ++i)
      t[i] = std::string(kDefs[i].allow_oom ? "#!lua flags=allow-oom" : "#!lua") +
             std::string(kPrelude) + std::string(kDefs[i].body);
    return t;
  }();
  return texts[static_cast<std::size_t>(s)];
}

const char* ScriptName(Script s) {
  return kDefs[static_cast<std::size_t>(s)].name;
}

}  // namespace shmkv::detail
