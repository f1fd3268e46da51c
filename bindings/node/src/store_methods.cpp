// store_methods.cpp: the methods of the addon's Store class, one per operation of
// shmkv::Store, positional and byte-level (index.js gives them xk6-kv's names and shapes). Each
// reads its arguments with napi_values.hpp, calls the Store and builds the result; errors leave
// through Method (call.hpp).
#include <node_api.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "call.hpp"
#include "napi_values.hpp"
#include "shmkv/shmkv.hpp"

namespace shmkv_node {
namespace {

using shmkv::errc;

// --- argument helpers ---

std::vector<std::string> KeyList(const Call& c, napi_value array, const char* what) {
  bool is_array = false;
  Check(c.env, napi_is_array(c.env, array, &is_array));
  if (!is_array) {
    throw shmkv::Error(errc::invalid_argument,
                       std::string(what) + " must be an array; got " + Describe(c.env, array));
  }
  std::uint32_t n = 0;
  Check(c.env, napi_get_array_length(c.env, array, &n));
  std::vector<std::string> out;
  out.reserve(n);
  ByteArg arg;
  for (std::uint32_t i = 0; i < n; ++i) {
    napi_value element;
    Check(c.env, napi_get_element(c.env, array, i, &element));
    const std::string label = std::string(what) + "[" + std::to_string(i) + "]";
    out.emplace_back(arg.Read(c.env, element, label.c_str()));
  }
  return out;
}

shmkv::KeyRange RangeArg(const Call& c, std::size_t first) {
  ByteArg prefix, from, to;
  return {std::string(prefix.Read(c.env, c[first], "prefix")),
          std::string(from.Read(c.env, c[first + 1], "from")),
          std::string(to.Read(c.env, c[first + 2], "to"))};
}

napi_value EntryObject(const Call& c, const shmkv::Entry& e) {
  napi_value o = Object(c.env);
  Set(c.env, o, "key", String(c.env, e.key));
  Set(c.env, o, "value", c.Value(e.value));
  return o;
}

napi_value Entries(const Call& c, const std::vector<shmkv::Entry>& entries) {
  napi_value a = Array(c.env, entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i)
    SetIndex(c.env, a, i, EntryObject(c, entries[i]));
  return a;
}

napi_value Strings(napi_env env, const std::vector<std::string>& strings) {
  napi_value a = Array(env, strings.size());
  for (std::size_t i = 0; i < strings.size(); ++i) SetIndex(env, a, i, String(env, strings[i]));
  return a;
}

napi_value Counts(napi_env env, std::uint64_t entries, std::uint64_t bytes) {
  napi_value o = Object(env);
  Set(env, o, "entries", Number(env, static_cast<double>(entries)));
  Set(env, o, "bytes", Number(env, static_cast<double>(bytes)));
  return o;
}

napi_value RestoreCounts(napi_env env, const shmkv::RestoreResult& r) {
  napi_value o = Counts(env, r.entries, r.bytes);
  Set(env, o, "duplicates", Number(env, static_cast<double>(r.duplicates)));
  Set(env, o, "expired", Number(env, static_cast<double>(r.expired)));
  return o;
}

napi_value DeleteCounts(napi_env env, const shmkv::DeletePrefixResult& r) {
  napi_value o = Object(env);
  Set(env, o, "deleted", Number(env, static_cast<double>(r.deleted)));
  Set(env, o, "done", Bool(env, r.done));
  return o;
}

// --- single keys, counters, atomic helpers ---

napi_value GetValue(const Call& c) {
  ByteArg key;
  thread_local std::string value;  // reused: no allocation once large enough
  if (!c.store().get(key.Read(c.env, c[0], "key"), &value)) return Null(c.env);
  return c.Value(value);
}

napi_value SetValue(const Call& c) {
  ByteArg key, value;
  c.store().set(key.Read(c.env, c[0], "key"), value.Read(c.env, c[1], "value"),
                TtlArg(c.env, c[2], "ttl"));
  return Undefined(c.env);
}

napi_value Exists(const Call& c) {
  ByteArg key;
  return Bool(c.env, c.store().exists(key.Read(c.env, c[0], "key")));
}

napi_value Delete(const Call& c) {
  ByteArg key;
  return Bool(c.env, c.store().del(key.Read(c.env, c[0], "key")));
}

napi_value IncrementBy(const Call& c) {
  ByteArg key;
  const std::string_view k = key.Read(c.env, c[0], "key");
  bool bigint = false;
  const std::int64_t delta = Int64Arg(c.env, c[1], "delta", &bigint);
  const std::int64_t result = c.store().increment_by(k, delta);
  return bigint ? BigInt(c.env, result) : Number(c.env, static_cast<double>(result));
}

napi_value GetOrSet(const Call& c) {
  ByteArg key, value;
  const shmkv::GetOrSetResult r = c.store().get_or_set(
      key.Read(c.env, c[0], "key"), value.Read(c.env, c[1], "value"), TtlArg(c.env, c[2], "ttl"));
  napi_value o = Object(c.env);
  Set(c.env, o, "value", c.Value(r.value));
  Set(c.env, o, "loaded", Bool(c.env, r.loaded));
  return o;
}

napi_value Swap(const Call& c) {
  ByteArg key, value;
  const shmkv::SwapResult r = c.store().swap(
      key.Read(c.env, c[0], "key"), value.Read(c.env, c[1], "value"), TtlArg(c.env, c[2], "ttl"));
  napi_value o = Object(c.env);
  Set(c.env, o, "previous", c.OptionalValue(r.previous));
  Set(c.env, o, "loaded", Bool(c.env, r.loaded));
  return o;
}

// expected: null or undefined = "only if the key is absent".
std::optional<std::string_view> ExpectedArg(const Call& c, ByteArg& storage) {
  if (IsNullish(c.env, c[1])) return std::nullopt;
  return storage.Read(c.env, c[1], "expected");
}

napi_value CompareAndSwap(const Call& c) {
  ByteArg key, expected, value;
  const std::string_view k = key.Read(c.env, c[0], "key");
  const auto old = ExpectedArg(c, expected);
  return Bool(c.env, c.store().compare_and_swap(k, old, value.Read(c.env, c[2], "value"),
                                                TtlArg(c.env, c[3], "ttl")));
}

napi_value CompareAndSwapDetailed(const Call& c) {
  ByteArg key, expected, value;
  const std::string_view k = key.Read(c.env, c[0], "key");
  const auto old = ExpectedArg(c, expected);
  const shmkv::CasOutcome r = c.store().compare_and_swap_detailed(
      k, old, value.Read(c.env, c[2], "value"), TtlArg(c.env, c[3], "ttl"));
  napi_value o = Object(c.env);
  Set(c.env, o, "swapped", Bool(c.env, r.swapped));
  Set(c.env, o, "current", c.OptionalValue(r.current));
  return o;
}

napi_value CompareAndDelete(const Call& c) {
  ByteArg key, expected;
  return Bool(c.env, c.store().compare_and_delete(key.Read(c.env, c[0], "key"),
                                                  expected.Read(c.env, c[1], "expected")));
}

napi_value SetIfAbsent(const Call& c) {
  ByteArg key, value;
  return Bool(
      c.env, c.store().set_if_absent(key.Read(c.env, c[0], "key"), value.Read(c.env, c[1], "value"),
                                     TtlArg(c.env, c[2], "ttl")));
}

napi_value Expire(const Call& c) {
  ByteArg key;
  const std::string_view k = key.Read(c.env, c[0], "key");
  return Bool(c.env, c.store().expire(k, TtlArg(c.env, c[1], "ttl")));
}

// Milliseconds left; Infinity when the key has no expiry; null when it is absent.
napi_value Ttl(const Call& c) {
  ByteArg key;
  const auto left = c.store().ttl(key.Read(c.env, c[0], "key"));
  if (!left) return Null(c.env);
  if (left->count() == 0) return Number(c.env, HUGE_VAL);
  return Number(c.env, static_cast<double>(left->count()));
}

// --- batches, deletes by prefix or range ---

napi_value GetMany(const Call& c) {
  const std::vector<std::optional<std::string>> values =
      c.store().get_many(KeyList(c, c[0], "keys"));
  napi_value a = Array(c.env, values.size());
  for (std::size_t i = 0; i < values.size(); ++i) SetIndex(c.env, a, i, c.OptionalValue(values[i]));
  return a;
}

napi_value SetMany(const Call& c) {
  std::vector<std::string> keys = KeyList(c, c[0], "keys");
  std::vector<std::string> values = KeyList(c, c[1], "values");
  if (keys.size() != values.size()) {
    throw shmkv::Error(errc::invalid_argument, std::to_string(keys.size()) + " keys but " +
                                                   std::to_string(values.size()) + " values");
  }
  std::vector<std::pair<std::string, std::string>> pairs;
  pairs.reserve(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    pairs.emplace_back(std::move(keys[i]), std::move(values[i]));
  }
  c.store().set_many(pairs, TtlArg(c.env, c[2], "ttl"));
  return Number(c.env, static_cast<double>(pairs.size()));
}

napi_value DeleteMany(const Call& c) {
  return Number(c.env, static_cast<double>(c.store().delete_many(KeyList(c, c[0], "keys"))));
}

napi_value DeletePrefix(const Call& c) {
  ByteArg prefix;
  const std::string_view p = prefix.Read(c.env, c[0], "prefix");
  return DeleteCounts(c.env, c.store().delete_prefix(p, CountArg(c.env, c[1], "limit", 0)));
}

// (prefix, from, to, limit)
napi_value DeleteRange(const Call& c) {
  const shmkv::KeyRange range = RangeArg(c, 0);
  return DeleteCounts(c.env, c.store().delete_range(range, CountArg(c.env, c[3], "limit", 0)));
}

// --- ordered reads: (prefix, from, to, limit[, cursor]) ---

shmkv::ListOptions ListArgs(const Call& c) {
  shmkv::KeyRange r = RangeArg(c, 0);
  return {std::move(r.prefix), CountArg(c.env, c[3], "limit", 0), std::move(r.from),
          std::move(r.to)};
}

shmkv::ScanOptions ScanArgs(const Call& c) {
  shmkv::KeyRange r = RangeArg(c, 0);
  ByteArg cursor;
  return {std::move(r.prefix), CountArg(c.env, c[3], "limit", 0),
          std::string(cursor.Read(c.env, c[4], "cursor")), std::move(r.from), std::move(r.to)};
}

napi_value List(const Call& c) {
  return Entries(c, c.store().list(ListArgs(c)));
}

napi_value ListKeys(const Call& c) {
  return Strings(c.env, c.store().list_keys(ListArgs(c)));
}

// {entries | keys, cursor: Buffer (the last key returned), done}
napi_value Scan(const Call& c) {
  const shmkv::ScanPage page = c.store().scan(ScanArgs(c));
  napi_value o = Object(c.env);
  Set(c.env, o, "entries", Entries(c, page.entries));
  Set(c.env, o, "cursor", Bytes(c.env, page.cursor));
  Set(c.env, o, "done", Bool(c.env, page.done));
  return o;
}

napi_value ScanKeys(const Call& c) {
  const shmkv::KeyScanPage page = c.store().scan_keys(ScanArgs(c));
  napi_value o = Object(c.env);
  Set(c.env, o, "keys", Strings(c.env, page.keys));
  Set(c.env, o, "cursor", Bytes(c.env, page.cursor));
  Set(c.env, o, "done", Bool(c.env, page.done));
  return o;
}

// (prefix, from, to)
napi_value Count(const Call& c) {
  return Number(c.env, static_cast<double>(c.store().count(RangeArg(c, 0))));
}

// --- random ---

napi_value RandomKey(const Call& c) {
  ByteArg prefix;
  const auto key = c.store().random_key(prefix.Read(c.env, c[0], "prefix"));
  return key ? String(c.env, *key) : Null(c.env);
}

// (count, prefix, unique)
napi_value RandomKeys(const Call& c) {
  ByteArg prefix;
  const std::uint64_t count = CountArg(c.env, c[0], "count", 0);
  const std::string_view p = prefix.Read(c.env, c[1], "prefix");
  return Strings(c.env, c.store().random_keys(count, p, BoolArg(c.env, c[2], "unique", false)));
}

napi_value PopRandom(const Call& c) {
  ByteArg prefix;
  const auto entry = c.store().pop_random(prefix.Read(c.env, c[0], "prefix"));
  return entry ? EntryObject(c, *entry) : Null(c.env);
}

// (prefix, count)
napi_value PopRandomMany(const Call& c) {
  ByteArg prefix;
  const std::string_view p = prefix.Read(c.env, c[0], "prefix");
  return Entries(c, c.store().pop_random_many(p, CountArg(c.env, c[1], "count", 0)));
}

// --- coordination: claims, locks, semaphores (tokens as numbers: they count from 1) ---

napi_value ClaimObject(const Call& c, const std::optional<shmkv::Claim>& claim) {
  if (!claim) return Null(c.env);
  napi_value o = Object(c.env);
  Set(c.env, o, "key", String(c.env, claim->key));
  Set(c.env, o, "value", c.Value(claim->value));
  Set(c.env, o, "token", Number(c.env, static_cast<double>(claim->token)));
  return o;
}

// A count of permits or parties: an integer 0..2^32-1 (0 is the library's to refuse).
std::uint32_t Uint32Arg(napi_env env, napi_value value, const char* what) {
  const std::uint64_t n = CountArg(env, value, what, 0);
  if (n > std::numeric_limits<std::uint32_t>::max()) {
    throw shmkv::Error(errc::invalid_argument,
                       std::string(what) + " is " + std::to_string(n) + "; at most 4294967295");
  }
  return static_cast<std::uint32_t>(n);
}

napi_value OptionalToken(napi_env env, const std::optional<std::uint64_t>& token) {
  return token ? Number(env, static_cast<double>(*token)) : Null(env);
}

// (key, lease)
napi_value ClaimKey(const Call& c) {
  ByteArg key;
  const std::string_view k = key.Read(c.env, c[0], "key");
  return ClaimObject(c, c.store().claim(k, TtlArg(c.env, c[1], "ttl")));
}

// (prefix, lease)
napi_value ClaimRandom(const Call& c) {
  ByteArg prefix;
  const std::string_view p = prefix.Read(c.env, c[0], "prefix");
  return ClaimObject(c, c.store().claim_random(p, TtlArg(c.env, c[1], "ttl")));
}

// (key, token, lease)
napi_value Renew(const Call& c) {
  ByteArg key;
  const std::string_view k = key.Read(c.env, c[0], "key");
  const std::uint64_t token = CountArg(c.env, c[1], "token", 0);
  return Bool(c.env, c.store().renew(k, token, TtlArg(c.env, c[2], "ttl")));
}

// (name, token) -> whether the token still held the grant it gives back: release, complete
// (a claim), unlock, releasePermit.
template <bool (shmkv::Store::*GiveBack)(std::string_view, std::uint64_t)>
napi_value GiveBackGrant(const Call& c) {
  ByteArg name;
  const std::string_view n = name.Read(c.env, c[0], "name");
  return Bool(c.env, (c.store().*GiveBack)(n, CountArg(c.env, c[1], "token", 0)));
}

// (name, lease, wait)
napi_value Lock(const Call& c) {
  ByteArg name;
  const std::string_view n = name.Read(c.env, c[0], "name");
  return OptionalToken(c.env,
                       c.store().lock(n, TtlArg(c.env, c[1], "ttl"), TtlArg(c.env, c[2], "wait")));
}

// (semaphore, permits, wait)
napi_value Acquire(const Call& c) {
  ByteArg name;
  const std::string_view n = name.Read(c.env, c[0], "semaphore");
  const std::uint32_t permits = Uint32Arg(c.env, c[1], "permits");
  return OptionalToken(c.env, c.store().acquire(n, permits, TtlArg(c.env, c[2], "wait")));
}

// --- waiting without polling (blocks the calling thread up to the timeout) ---

// (key, timeout)
napi_value WaitFor(const Call& c) {
  ByteArg key;
  const std::string_view k = key.Read(c.env, c[0], "key");
  return Bool(c.env, c.store().wait_for(k, TtlArg(c.env, c[1], "timeout")));
}

// (prefix, timeout)
napi_value PopRandomWait(const Call& c) {
  ByteArg prefix;
  const std::string_view p = prefix.Read(c.env, c[0], "prefix");
  const auto entry = c.store().pop_random_wait(p, TtlArg(c.env, c[1], "timeout"));
  return entry ? EntryObject(c, *entry) : Null(c.env);
}

// (name, parties, timeout) -> this arrival's index, or null after the timeout
napi_value Barrier(const Call& c) {
  ByteArg name;
  const std::string_view n = name.Read(c.env, c[0], "name");
  const std::uint32_t parties = Uint32Arg(c.env, c[1], "parties");
  const auto index = c.store().barrier(n, parties, TtlArg(c.env, c[2], "timeout"));
  return index ? Number(c.env, static_cast<double>(*index)) : Null(c.env);
}

// --- whole store ---

napi_value Size(const Call& c) {
  return Number(c.env, static_cast<double>(c.store().size()));
}

napi_value Clear(const Call& c) {
  c.store().clear();
  return Undefined(c.env);
}

napi_value Num(napi_env env, std::uint64_t v) {
  return Number(env, static_cast<double>(v));
}

napi_value OrderedIndexObject(napi_env env, const shmkv::OrderedIndexInfo& x) {
  napi_value o = Object(env);
  Set(env, o, "enabled", Bool(env, x.enabled));
  Set(env, o, "valid", Bool(env, x.valid));
  Set(env, o, "height", Num(env, x.height));
  Set(env, o, "entries", Num(env, x.entries));
  Set(env, o, "nodeBytes", Num(env, x.node_bytes));
  Set(env, o, "rebuilds", Num(env, x.rebuilds));
  Set(env, o, "lastRebuildUs", Num(env, x.last_rebuild_us));
  return o;
}

napi_value CoordinationObject(napi_env env, const shmkv::CoordinationInfo& x) {
  napi_value o = Object(env);
  Set(env, o, "capacity", Num(env, x.capacity));
  Set(env, o, "used", Num(env, x.used));
  Set(env, o, "lastToken", Num(env, x.last_token));
  Set(env, o, "waiters", Num(env, x.waiters));
  Set(env, o, "recoveries", Num(env, x.recoveries));
  napi_value grants = Array(env, x.grants.size());
  for (std::size_t i = 0; i < x.grants.size(); ++i) {
    const shmkv::GrantInfo& g = x.grants[i];
    napi_value e = Object(env);
    Set(env, e, "kind", String(env, g.kind));
    Set(env, e, "nameHead", String(env, g.name_head));
    Set(env, e, "nameBytes", Num(env, g.name_bytes));
    Set(env, e, "token", Num(env, g.token));
    Set(env, e, "holderPid", Number(env, g.holder_pid));
    Set(env, e, "holderAlive", Bool(env, g.holder_alive));
    Set(env, e, "leaseLeftMs", Number(env, static_cast<double>(g.lease_left_ms)));
    SetIndex(env, grants, i, e);
  }
  Set(env, o, "grants", grants);
  return o;
}

napi_value Info(const Call& c) {
  const shmkv::Info info = c.store().info();
  const napi_env env = c.env;
  auto num = [env](std::uint64_t v) { return Number(env, static_cast<double>(v)); };
  napi_value o = Object(env);
  Set(env, o, "engine", String(env, info.engine));
  Set(env, o, "name", String(env, info.name));
  Set(env, o, "maxKeyBytes", num(info.max_key_bytes));
  Set(env, o, "maxValueBytes", num(info.max_value_bytes));
  Set(env, o, "liveKeys", num(info.live_keys));
  Set(env, o, "layoutVersion", num(info.layout_version));
  Set(env, o, "layoutFingerprint", BigUint(env, info.layout_fingerprint));
  Set(env, o, "createdUnixMs", num(info.created_unix_ms));
  Set(env, o, "sizeBytes", num(info.size_bytes));
  Set(env, o, "shards", num(info.shards));
  Set(env, o, "maxKeys", num(info.max_keys));
  Set(env, o, "arenaBytes", num(info.arena_bytes));
  Set(env, o, "arenaUsedBytes", num(info.arena_used_bytes));
  Set(env, o, "homeBlockBytes", num(info.home_block_bytes));
  Set(env, o, "homeRecords", num(info.home_records));
  napi_value processes = Array(env, info.processes.size());
  for (std::size_t i = 0; i < info.processes.size(); ++i) {
    napi_value p = Object(env);
    Set(env, p, "pid", num(static_cast<std::uint64_t>(info.processes[i].pid)));
    Set(env, p, "startTime", num(info.processes[i].start_time));
    Set(env, p, "alive", Bool(env, info.processes[i].alive));
    SetIndex(env, processes, i, p);
  }
  Set(env, o, "processes", processes);
  Set(env, o, "orderedIndex", OrderedIndexObject(env, info.ordered_index));
  Set(env, o, "coordination", CoordinationObject(env, info.coordination));
  napi_value redis = Null(env);
  if (info.redis) {
    redis = Object(env);
    Set(env, redis, "url", String(env, info.redis->url));
    Set(env, redis, "serverVersion", String(env, info.redis->server_version));
    Set(env, redis, "indexEntries", num(info.redis->index_entries));
    Set(env, redis, "expiringEntries", num(info.redis->expiring_entries));
    Set(env, redis, "usedMemory", num(info.redis->used_memory));
    Set(env, redis, "maxmemory", num(info.redis->maxmemory));
  }
  Set(env, o, "redis", redis);
  return o;
}

napi_value Stats(const Call& c) {
  const shmkv::Stats s = c.store().stats();
  const napi_env env = c.env;
  napi_value o = Object(env);
  const std::pair<const char*, std::uint64_t> fields[] = {{"gets", s.gets},
                                                          {"hits", s.hits},
                                                          {"misses", s.misses},
                                                          {"sets", s.sets},
                                                          {"deletes", s.deletes},
                                                          {"casSuccess", s.cas_success},
                                                          {"casFailure", s.cas_failure},
                                                          {"lockWaits", s.lock_waits},
                                                          {"recoveries", s.recoveries}};
  for (const auto& [name, value] : fields)
    Set(env, o, name, Number(env, static_cast<double>(value)));
  return o;
}

napi_value CheckInvariants(const Call& c) {
  return Strings(c.env, c.store().check_invariants());
}

// --- backup, restore, JSON lines, persistence ---

napi_value Backup(const Call& c) {
  const shmkv::BackupResult r = c.store().backup(StringArg(c.env, c[0], "fileName"));
  return Counts(c.env, r.entries, r.bytes);
}

// (path, maxEntries, maxBytes)
napi_value Restore(const Call& c) {
  const std::string path = StringArg(c.env, c[0], "fileName");
  const shmkv::RestoreOptions limits{CountArg(c.env, c[1], "maxEntries", 0),
                                     CountArg(c.env, c[2], "maxBytes", 0)};
  return RestoreCounts(c.env, c.store().restore(path, limits));
}

// (path, jsonValues)
napi_value ExportJsonl(const Call& c) {
  const std::string path = StringArg(c.env, c[0], "fileName");
  const shmkv::JsonlExportOptions options{BoolArg(c.env, c[1], "jsonValues", false)};
  const shmkv::JsonlResult r = shmkv::export_jsonl(c.store(), path, options);
  return Counts(c.env, r.entries, r.bytes);
}

// (path, maxEntries, maxBytes, merge)
napi_value ImportJsonl(const Call& c) {
  const std::string path = StringArg(c.env, c[0], "fileName");
  shmkv::JsonlImportOptions options;
  options.limits = {CountArg(c.env, c[1], "maxEntries", 0), CountArg(c.env, c[2], "maxBytes", 0)};
  options.merge = BoolArg(c.env, c[3], "merge", false);
  shmkv::Store& store = c.store();
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    const int err = errno;
    throw shmkv::Error(err == EACCES ? errc::permission_denied : errc::not_found,
                       "cannot open " + path + ": " + std::strerror(err));
  }
  return RestoreCounts(c.env, shmkv::import_jsonl(store, file, options));
}

napi_value Sync(const Call& c) {
  c.store().sync();
  return Undefined(c.env);
}

napi_value Snapshot(const Call& c) {
  const shmkv::BackupResult r = c.store().snapshot();
  return Counts(c.env, r.entries, r.bytes);
}

napi_value RecoveryReport(const Call& c) {
  const shmkv::RecoveryReport r = c.store().recovery_report();
  const napi_env env = c.env;
  auto num = [env](std::uint64_t v) { return Number(env, static_cast<double>(v)); };
  napi_value o = Object(env);
  Set(env, o, "performed", Bool(env, r.performed));
  Set(env, o, "directory", String(env, r.directory));
  Set(env, o, "snapshot", String(env, r.snapshot));
  Set(env, o, "snapshotSeq", num(r.snapshot_seq));
  Set(env, o, "snapshotEntries", num(r.snapshot_entries));
  Set(env, o, "rejectedSnapshots", Strings(env, r.rejected_snapshots));
  Set(env, o, "journalFiles", num(r.journal_files));
  Set(env, o, "recordsApplied", num(r.records_applied));
  Set(env, o, "recordsSkipped", num(r.records_skipped));
  Set(env, o, "truncated", Strings(env, r.truncated));
  Set(env, o, "truncatedBytes", num(r.truncated_bytes));
  Set(env, o, "skipped", Strings(env, r.skipped));
  Set(env, o, "skippedBytes", num(r.skipped_bytes));
  Set(env, o, "notes", Strings(env, r.notes));
  Set(env, o, "entries", num(r.entries));
  Set(env, o, "nextSeq", num(r.next_seq));
  Set(env, o, "durationUs", num(static_cast<std::uint64_t>(r.duration.count())));
  return o;
}

napi_value Close(const Call& c) {
  c.store().close();
  return Undefined(c.env);
}

napi_value IsOpen(const Call& c) {
  return Bool(c.env, c.store().is_open());
}

// new Store(external) from Open only; JavaScript cannot make one.
napi_value StoreConstructor(const Call& c) {
  if (c.argc != 1 || TypeOf(c.env, c[0]) != napi_external) {
    throw shmkv::Error(errc::invalid_argument, "open a store with openKv(), not new Store()");
  }
  return c.self;
}

}  // namespace

napi_property_descriptor Fn(const char* name, napi_callback cb) {
  return {name, nullptr, cb, nullptr, nullptr, nullptr, napi_default, nullptr};
}

napi_value DefineStoreClass(napi_env env) {
  const napi_property_descriptor methods[] = {
      Fn("get", Method<GetValue>),
      Fn("set", Method<SetValue>),
      Fn("exists", Method<Exists>),
      Fn("delete", Method<Delete>),
      Fn("incrementBy", Method<IncrementBy>),
      Fn("getOrSet", Method<GetOrSet>),
      Fn("swap", Method<Swap>),
      Fn("compareAndSwap", Method<CompareAndSwap>),
      Fn("compareAndSwapDetailed", Method<CompareAndSwapDetailed>),
      Fn("compareAndDelete", Method<CompareAndDelete>),
      Fn("setIfAbsent", Method<SetIfAbsent>),
      Fn("expire", Method<Expire>),
      Fn("ttl", Method<Ttl>),
      Fn("getMany", Method<GetMany>),
      Fn("setMany", Method<SetMany>),
      Fn("deleteMany", Method<DeleteMany>),
      Fn("deletePrefix", Method<DeletePrefix>),
      Fn("deleteRange", Method<DeleteRange>),
      Fn("list", Method<List>),
      Fn("listKeys", Method<ListKeys>),
      Fn("scan", Method<Scan>),
      Fn("scanKeys", Method<ScanKeys>),
      Fn("count", Method<Count>),
      Fn("randomKey", Method<RandomKey>),
      Fn("randomKeys", Method<RandomKeys>),
      Fn("popRandom", Method<PopRandom>),
      Fn("popRandomMany", Method<PopRandomMany>),
      Fn("claim", Method<ClaimKey>),
      Fn("claimRandom", Method<ClaimRandom>),
      Fn("renew", Method<Renew>),
      Fn("release", Method<GiveBackGrant<&shmkv::Store::release>>),
      Fn("complete", Method<GiveBackGrant<&shmkv::Store::complete>>),
      Fn("lock", Method<Lock>),
      Fn("unlock", Method<GiveBackGrant<&shmkv::Store::unlock>>),
      Fn("acquire", Method<Acquire>),
      Fn("releasePermit", Method<GiveBackGrant<&shmkv::Store::release_permit>>),
      Fn("waitFor", Method<WaitFor>),
      Fn("popRandomWait", Method<PopRandomWait>),
      Fn("barrier", Method<Barrier>),
      Fn("size", Method<Size>),
      Fn("clear", Method<Clear>),
      Fn("info", Method<Info>),
      Fn("stats", Method<Stats>),
      Fn("checkInvariants", Method<CheckInvariants>),
      Fn("backup", Method<Backup>),
      Fn("restore", Method<Restore>),
      Fn("exportJsonl", Method<ExportJsonl>),
      Fn("importJsonl", Method<ImportJsonl>),
      Fn("sync", Method<Sync>),
      Fn("snapshot", Method<Snapshot>),
      Fn("recoveryReport", Method<RecoveryReport>),
      Fn("close", Method<Close>),
      Fn("isOpen", Method<IsOpen>),
  };
  napi_value store_class;
  Check(env, napi_define_class(env, "Store", NAPI_AUTO_LENGTH, Method<StoreConstructor>, nullptr,
                               std::size(methods), methods, &store_class));
  return store_class;
}

}  // namespace shmkv_node
