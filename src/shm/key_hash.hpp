// key_hash.hpp: the key hash and the short-key comparison every operation does (internal).
//
// Also the record checksum (RecordChecksum), which seeds XXH3 of the value with the key's hash.
//
// Invariants: the hash of a key is XXH3-64 under the segment's seed, the same in every build and
// process that shares a segment (the seed is fixed at creation); shard and home bucket derive from
// it (ShardOf, Shard::Home). Inlined here because a call into libxxhash costs more than hashing a
// short key.
#pragma once

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cstdint>
#include <cstring>
#include <string_view>

#include "shm/layout.hpp"

namespace shmkv::detail {

// Hash of a key under the segment's seed (xxh3-64). Flattened: XXH3 is inlined here whatever
// the compiler decides for its other callers (RecordChecksum), so every operation's routing
// keeps the inlined short-key path.
[[gnu::flatten]] inline std::uint64_t HashKey(std::uint64_t seed, std::string_view key) {
  return XXH3_64bits_withSeed(key.data(), key.size(), seed);
}

// The checksum of a record whose key hashes to key_hash (HashKey, under the segment's seed)
// and whose value is `value`: the low 32 bits of XXH3-64 of the value seeded with the key's
// hash. A writer already has the key's hash, so an update hashes its value bytes only (1 to 8
// for a counter).
inline std::uint32_t RecordChecksum(std::uint64_t key_hash, const void* value,
                                    std::size_t value_len) {
  return static_cast<std::uint32_t>(XXH3_64bits_withSeed(value, value_len, key_hash));
}

// memcmp(stored, key.data(), key.size()) == 0, inlined for keys of 8 to 16 bytes: two overlapping
// 8-byte loads from each side instead of a library call.
inline bool KeyBytesEqual(const void* stored, std::string_view key) {
  const auto* a = static_cast<const unsigned char*>(stored);
  const auto* b = reinterpret_cast<const unsigned char*>(key.data());
  const std::size_t n = key.size();
  if (n >= 8 && n <= 16) {
    std::uint64_t a0, a1, b0, b1;
    std::memcpy(&a0, a, 8);
    std::memcpy(&b0, b, 8);
    std::memcpy(&a1, a + n - 8, 8);
    std::memcpy(&b1, b + n - 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
  }
  return std::memcmp(a, b, n) == 0;
}

}  // namespace shmkv::detail
