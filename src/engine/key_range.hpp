// key_range.hpp: which keys a ranged operation selects (internal). One predicate for list, scan,
// count and delete_range (and their keys-only forms), shared by every engine and every path
// through one: today the O(keys) scans of shm_engine_multi.cpp, later an ordered index, which
// seeks to the lower bound and stops at the upper one, with the scan as its fallback.
//
// A key matches when it starts with `prefix`, is >= `from`, is < `to` (an empty `to` is no upper
// bound) and is strictly after `after` (a scan's cursor). Keys are never empty, so an empty
// `from` or `after` bounds nothing without a special case. Byte order: std::string_view compares
// with char_traits<char>, i.e. memcmp, unsigned bytes, as the listings sort.
//
// The front (store.cpp) refuses an inverted range (Inverted()) before an engine sees it; any
// other combination is valid and may simply match nothing (to == from; bounds outside the
// prefix). A bound may be longer than max_key_bytes: it is compared, never stored. A KeyFilter
// holds views into the caller's options and lives for one call.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

#include "shmkv/store.hpp"

namespace shmkv::detail {

struct KeyFilter {
  std::string_view prefix;   // keys starting with these bytes; empty = any
  std::string_view from{};   // keys >= from; empty = no lower bound
  std::string_view to{};     // keys < to; empty = no upper bound
  std::string_view after{};  // keys > after (a scan's cursor); empty = no cursor

  static KeyFilter Of(const KeyRange& range) { return {range.prefix, range.from, range.to, {}}; }
  static KeyFilter Of(const ListOptions& options) {
    return {options.prefix, options.from, options.to, {}};
  }
  static KeyFilter Of(const ScanOptions& options) {
    return {options.prefix, options.from, options.to, options.cursor};
  }

  bool Matches(std::string_view key) const {
    return key.starts_with(prefix) && key >= from && (to.empty() || key < to) && key > after;
  }
  // True when every key matches (no prefix, bound or cursor).
  bool SelectsAll() const { return prefix.empty() && from.empty() && to.empty() && after.empty(); }
  // A non-empty `to` below `from`: a caller's mistake, refused by the front (to == from is a
  // valid, empty range).
  bool Inverted() const { return !to.empty() && to < from; }
};

// The first key above every key that starts with prefix, or none (an empty prefix, or one of
// 0xFF bytes only, has no such key).
inline std::optional<std::string> PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xFF) end.pop_back();
  if (end.empty()) return std::nullopt;
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

// A filter's keys as one interval [low, high) in byte order (no high: no upper bound): the
// prefix, the range and the cursor combined, for engines that seek in an ordered index.
struct KeyBounds {
  std::string low;
  std::optional<std::string> high;
  static KeyBounds Of(const KeyFilter& f) {
    KeyBounds b;
    b.low = std::string(std::max(f.prefix, f.from));
    if (!f.after.empty() && f.after >= b.low)
      b.low = std::string(f.after) + '\0';  // strictly after
    b.high = PrefixEnd(f.prefix);
    if (!f.to.empty() && (!b.high || f.to < *b.high)) b.high = std::string(f.to);
    return b;
  }
};

}  // namespace shmkv::detail
