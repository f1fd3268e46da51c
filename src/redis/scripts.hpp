// scripts.hpp: the Lua scripts of the Redis engine (internal): one per operation that keeps more
// than one Redis key consistent, their text and how they are called.
//
// Every script starts with "#!lua": under maxmemory the server refuses a script that may grow
// memory before it runs (OOM, mapped to store_full: nothing changed). Scripts that only delete
// (del, pop, ranges, clear) or read while dropping index entries of expired keys carry
// flags=allow-oom, so that a full server can still be emptied and read. Each validates before it
// writes: Redis does not roll back a script that fails halfway.
//
// Keys: KEYS[1] = {name}:i (the ordered index: a sorted set, score 0, one member per key),
// KEYS[2] = {name}:e (expiring keys, scored by their absolute expiry in ms), KEYS[3] = the value
// key {name}:v:<key> for single-key scripts. Scripts that reach value keys from index members
// build their names from ARGV[1] = "{name}:v:", in the same hash slot as the declared keys.
// Lua numbers are doubles: counters never pass through a script (increment_by is INCRBY in a
// MULTI/EXEC transaction, redis_engine.cpp), and the fallback for counters INCRBY refuses
// ("012") compares and stores strings.
#pragma once

#include <cstddef>
#include <string_view>

namespace shmkv::detail {

enum class Script : std::size_t {
  set,
  set_at,
  del,
  replace_counter,
  get_or_set,
  set_if_absent,
  swap,
  compare_and_swap,
  compare_and_delete,
  expire,
  delete_range,
  page,
  count,
  size,
  random,
  pop,
  claim,
  claim_random,
  take,
  renew,
  give_back,
  complete,
  wait_key,
  wake_keys,
  barrier_arrive,
  barrier_wait,
  clear,
  backup_page,
  check_page,
  create_meta,
  kCount
};

// The full text (shebang, shared helpers, body) of a script.
std::string_view ScriptText(Script s);
// Its name, for messages ("set").
const char* ScriptName(Script s);

}  // namespace shmkv::detail
