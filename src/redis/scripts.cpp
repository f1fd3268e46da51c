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
end
-- Deletes key k (value key V) and its index entries; 1 if it was live.
local function drop(V, k)
  local n = redis.call('DEL', V)
  redis.call('ZREM', I, k)
  redis.call('ZREM', E, k)
  return n
end
-- Rank r in [base, base + n) drawn with u in [0, 1).
local function rank(base, n, u)
  local r = base + math.floor(u * n)
  if r > base + n - 1 then r = base + n - 1 end
  return r
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
-- ARGV: value key prefix, below ('' or the lex bound of the keys under lo), lo, hi, then one u
-- in [0, 1) per key to draw. Returns one key per u (nil when the range is empty).
local base = 0
if ARGV[2] ~= '' then base = redis.call('ZLEXCOUNT', I, '-', ARGV[2]) end
local out = {}
for j = 5, #ARGV do
  local k = false
  local u = tonumber(ARGV[j])
  for attempt = 1, 16 do
    local n = redis.call('ZLEXCOUNT', I, ARGV[3], ARGV[4])
    if n == 0 then break end
    local m = redis.call('ZRANGE', I, rank(base, n, u), rank(base, n, u))[1]
    if redis.call('EXISTS', ARGV[1] .. m) == 1 then k = m; break end
    redis.call('ZREM', I, m)
    redis.call('ZREM', E, m)
    u = math.random()
  end
  out[#out + 1] = k
end
return out
)lua"},
    {"pop", true, R"lua(
-- ARGV: as random's; pops one key per u. Returns {key, value, ...}.
local base = 0
if ARGV[2] ~= '' then base = redis.call('ZLEXCOUNT', I, '-', ARGV[2]) end
local out, j, u = {}, 5, tonumber(ARGV[5])
while j <= #ARGV do
  local n = redis.call('ZLEXCOUNT', I, ARGV[3], ARGV[4])
  if n == 0 then break end
  local m = redis.call('ZRANGE', I, rank(base, n, u), rank(base, n, u))[1]
  local v = redis.call('GET', ARGV[1] .. m)
  drop(ARGV[1] .. m, m)
  if v then
    out[#out + 1] = m
    out[#out + 1] = v
    j = j + 1
    u = tonumber(ARGV[j])
  else
    u = math.random()
  end
end
return out
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
