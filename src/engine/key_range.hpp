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

}  // namespace shmkv::detail
