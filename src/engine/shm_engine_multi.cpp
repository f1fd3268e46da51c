// shm_engine_multi.cpp: the shared-memory engine's operations that touch several keys or shards
// (ShmEngine, shm_engine.hpp): batches, ordered reads, random sampling, whole-store operations.
//
// Each shard is locked on its own, one at a time (never two shard locks at once), so these
// operations are atomic per shard, not across the store. Ordered reads, count and delete_range
// walk the dense index of every shard, keeping the keys the range's KeyFilter (key_range.hpp)
// matches: O(keys) per call, O(limit) memory. pop_random_many pops one key at a time, each
// under its shard's lock, so concurrent poppers never get the same entry.
#include <algorithm>
#include <queue>
#include <unordered_set>

#include "engine/key_range.hpp"
#include "engine/shm_engine.hpp"
#include "os/os.hpp"
#include "shm/allocator.hpp"
#include "shm/coordination.hpp"

namespace shmkv {

using detail::KeyFilter;
using detail::kNotFound;
using detail::RandomU64;
using detail::Shard;
using detail::ShardLock;

namespace {

constexpr int kRandomAttempts = 64;

// The record at dense position pos of a locked shard, its checksum verified when the handle
// asked for it (Options::verify_reads): the readers below return its key or value.
detail::RecordRef ReadAt(Shard& shard, std::uint64_t pos) {
  const detail::RecordRef r = shard.LiveAt(pos);
  if (shard.verify_reads()) shard.VerifyChecksum(r);
  return r;
}

// Visits the live records of a locked shard whose key the filter matches.
template <typename F>
void ForEachLive(Shard& shard, const KeyFilter& filter, std::uint64_t now_ms, F&& f) {
  const std::uint64_t n = shard.count();
  for (std::uint64_t i = 0; i < n; ++i) {
    const detail::RecordRef r = ReadAt(shard, i);
    if (filter.Matches(r.key()) && !r.Expired(now_ms)) f(r);
  }
}

// What a listing collects per record: an Entry, or (keys only) the key alone.
template <typename Item>
Item ItemOf(const detail::RecordRef& r);
template <>
Entry ItemOf<Entry>(const detail::RecordRef& r) {
  return {std::string(r.key()), std::string(r.value())};
}
template <>
std::string ItemOf<std::string>(const detail::RecordRef& r) {
  return std::string(r.key());
}
const std::string& KeyOf(const Entry& e) {
  return e.key;
}
const std::string& KeyOf(const std::string& key) {
  return key;
}

struct KeyLess {
  template <typename Item>
  bool operator()(const Item& a, const Item& b) const {
    return KeyOf(a) < KeyOf(b);
  }
};

// The `limit` smallest items whose key the filter matches (all when limit == 0), sorted by key.
// Through the ordered index when the segment keeps one (O(log n + limit)), else a walk of
// every shard.
template <typename Item>
std::vector<Item> Smallest(detail::ShmEngine& im, const KeyFilter& filter, std::size_t limit) {
  if constexpr (std::is_same_v<Item, Entry>) {
    if (auto r = im.IndexedEntries(filter, limit)) return std::move(*r);
  } else {
    if (auto r = im.IndexedKeys(filter, limit)) return std::move(*r);
  }
  std::priority_queue<Item, std::vector<Item>, KeyLess> heap;  // max-heap on key
  std::vector<Item> all;
  std::uint64_t now = detail::os::NowUnixMs();
  for (std::uint32_t s = 0; s < im.shard_count(); ++s) {
    ShardLock lock(im.segment(), s);
    ForEachLive(lock.shard(), filter, now, [&](const detail::RecordRef& r) {
      if (limit == 0) {
        all.push_back(ItemOf<Item>(r));
      } else if (heap.size() < limit) {
        heap.push(ItemOf<Item>(r));
      } else if (r.key() < KeyOf(heap.top())) {
        heap.pop();
        heap.push(ItemOf<Item>(r));
      }
    });
  }
  if (limit != 0) {
    all.reserve(heap.size());
    while (!heap.empty()) {
      all.push_back(std::move(const_cast<Item&>(heap.top())));
      heap.pop();
    }
  }
  std::sort(all.begin(), all.end(), KeyLess{});
  return all;
}

// One scan page (ScanPage or KeyScanPage) of Items: one more than the limit is read to know
// whether the page is the last.
template <typename Page, typename Item>
Page PageOf(detail::ShmEngine& im, const ScanOptions& options) {
  const std::size_t want = options.limit == 0 ? 0 : options.limit + 1;
  std::vector<Item> items = Smallest<Item>(im, KeyFilter::Of(options), want);
  bool done = true;
  if (options.limit != 0 && items.size() > options.limit) {
    items.resize(options.limit);
    done = false;
  }
  std::string cursor = items.empty() ? options.cursor : KeyOf(items.back());
  return Page{std::move(items), std::move(cursor), done};
}

}  // namespace

// --- batches ---

std::size_t detail::ShmEngine::GetMany(std::span<const std::string_view> keys,
                                       std::vector<std::optional<std::string>>* out) {
  out->resize(keys.size());
  detail::Segment* seg = segment();
  // Groups small enough that their prefetched lines (2 slot + 3 record lines per key) stay in L1
  // until they are read, large enough to keep many misses in flight.
  constexpr std::size_t kGroup = 16;
  Route routes[kGroup];
  std::string buffer;
  std::size_t found = 0;
  for (std::size_t begin = 0; begin < keys.size(); begin += kGroup) {
    const std::size_t n = std::min(kGroup, keys.size() - begin);
    for (std::size_t i = 0; i < n; ++i) {
      routes[i] = RouteOf(keys[begin + i]);
      detail::PrefetchSlots(detail::ShardRef::Of(seg, routes[i].shard), routes[i].hash);
    }
    for (std::size_t i = 0; i < n; ++i)
      detail::PrefetchRecord(detail::ShardRef::Of(seg, routes[i].shard), routes[i].hash);
    for (std::size_t i = 0; i < n; ++i) {
      std::optional<std::string>& slot = (*out)[begin + i];
      if (slot) buffer.swap(*slot);  // reuse the caller's capacity
      if (ReadValue(keys[begin + i], routes[i], &buffer)) {
        if (slot)
          slot->swap(buffer);
        else
          slot.emplace(std::move(buffer));
        ++found;
      } else {
        slot.reset();
      }
    }
  }
  return found;
}

void detail::ShmEngine::SetMany(const std::vector<std::pair<std::string, std::string>>& pairs,
                                std::chrono::milliseconds ttl) {
  // Applied one key at a time; if the store fills up midway, the keys already written are put
  // back as they were (best effort: restoring an old value needs its space again).
  struct Previous {
    const std::string* key;
    std::optional<std::string> value;
    std::optional<std::chrono::milliseconds> ttl;
  };
  std::vector<Previous> undo;
  undo.reserve(pairs.size());
  try {
    for (const auto& [k, v] : pairs) {
      Previous prev{&k, std::nullopt, std::nullopt};
      if (std::string old; Get(k, &old)) {
        prev.value = std::move(old);
        prev.ttl = Ttl(k);
      }
      undo.push_back(std::move(prev));
      Set(k, v, ttl);
    }
  } catch (const Error& e) {
    if (e.code() != errc::store_full) throw;
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
      try {
        if (it->value)
          Set(*it->key, *it->value, *it->ttl);
        else
          Del(*it->key);
      } catch (const Error&) {
      }
    }
    throw;
  }
}

std::size_t detail::ShmEngine::DeleteMany(const std::vector<std::string>& keys) {
  std::size_t deleted = 0;
  for (const auto& k : keys) deleted += Del(k);
  return deleted;
}

DeletePrefixResult detail::ShmEngine::DeleteRange(const KeyRange& range, std::size_t limit) {
  const KeyFilter filter = KeyFilter::Of(range);
  if (auto r = IndexedDeleteRange(filter, limit)) return *r;
  DeletePrefixResult result{0, true};
  std::uint64_t now = detail::os::NowUnixMs();
  Journaled journal(*this);
  for (std::uint32_t s = 0; s < shard_count(); ++s) {
    ShardLock lock(segment(), s);
    Shard& shard = lock.shard();
    std::unique_ptr<WriteScope> write;
    // Walk the dense index backwards: erasing position i moves the last entry, already visited,
    // into i.
    for (std::uint64_t i = shard.count(); i-- > 0;) {
      if (i >= shard.count()) continue;
      const detail::RecordRef r = shard.LiveAt(i);
      std::string_view key = r.key();
      if (!filter.Matches(key)) continue;
      bool expired = r.Expired(now);
      if (!expired && limit != 0 && result.deleted == limit) {
        result.done = false;
        break;
      }
      const std::uint64_t slot = shard.SlotOf(r);
      journal.Del(key);  // before the change (and before Erase: key points into the record)
      if (!write) write = std::make_unique<WriteScope>(shard);
      shard.Erase(slot, r);
      if (!expired) {
        ++result.deleted;
        ++shard.header()->deletes;
      }
    }
    if (!result.done) break;
  }
  return result;
}

// --- ordered reads ---

std::vector<Entry> detail::ShmEngine::List(const ListOptions& options) {
  return Smallest<Entry>(*this, KeyFilter::Of(options), options.limit);
}

std::vector<std::string> detail::ShmEngine::ListKeys(const ListOptions& options) {
  return Smallest<std::string>(*this, KeyFilter::Of(options), options.limit);
}

ScanPage detail::ShmEngine::Scan(const ScanOptions& options) {
  return PageOf<ScanPage, Entry>(*this, options);
}

KeyScanPage detail::ShmEngine::ScanKeys(const ScanOptions& options) {
  return PageOf<KeyScanPage, std::string>(*this, options);
}

std::size_t detail::ShmEngine::Count(const KeyRange& range) {
  const KeyFilter filter = KeyFilter::Of(range);
  if (auto r = IndexedCount(filter)) return *r;
  std::size_t n = 0;
  std::uint64_t now = detail::os::NowUnixMs();
  for (std::uint32_t s = 0; s < shard_count(); ++s) {
    ShardLock lock(segment(), s);
    Shard& shard = lock.shard();
    if (filter.SelectsAll() && shard.header()->ttl_count == 0) {
      n += shard.count();
      continue;
    }
    ForEachLive(shard, filter, now, [&](const detail::RecordRef&) { ++n; });
  }
  return n;
}

// --- random ---

namespace {

// Draws a uniformly random (shard, dense position) over all records by their shard counts,
// locks that shard and calls f(shard, position) -> true when it accepted the draw.
// Returns false after kRandomAttempts rejected draws or when the store is empty.
template <typename F>
bool DrawRandom(detail::ShmEngine& im, F&& f) {
  const std::uint32_t shards = im.shard_count();
  std::vector<std::uint64_t> counts(shards);
  for (int attempt = 0; attempt < kRandomAttempts; ++attempt) {
    std::uint64_t total = 0;
    for (std::uint32_t s = 0; s < shards; ++s) {  // a hint: checked under the shard's lock
      const std::uint64_t n = im.segment()->shard(s)->count.load(std::memory_order_relaxed);
      total += counts[s] = std::min(n, im.geo().slots_per_shard);
    }
    if (total == 0) return false;
    std::uint64_t r = RandomU64() % total;
    std::uint32_t s = 0;
    while (r >= counts[s]) r -= counts[s++];
    ShardLock lock(im.segment(), s);
    if (r < lock.shard().count() && f(lock.shard(), r)) return true;
  }
  return false;
}

// All live keys with the prefix, with their shards; without the claimed ones when `unclaimed`.
std::vector<std::pair<std::uint32_t, std::string>> MatchingKeys(detail::ShmEngine& im,
                                                                std::string_view prefix,
                                                                bool unclaimed) {
  std::vector<std::pair<std::uint32_t, std::string>> keys;
  std::uint64_t now = detail::os::NowUnixMs();
  for (std::uint32_t s = 0; s < im.shard_count(); ++s) {
    ShardLock lock(im.segment(), s);
    ForEachLive(lock.shard(), KeyFilter{prefix}, now, [&](const detail::RecordRef& r) {
      if (!unclaimed || !im.Claimed(r.key())) keys.emplace_back(s, std::string(r.key()));
    });
  }
  return keys;
}

}  // namespace

std::optional<std::string> detail::ShmEngine::RandomKey(std::string_view prefix) {
  return DrawKey(prefix, false);
}

std::optional<std::string> detail::ShmEngine::DrawKey(std::string_view prefix, bool unclaimed) {
  // Without a prefix a draw over the shards' counts is cheaper than a descent of the index.
  if (!prefix.empty())
    if (auto r = IndexedRandomKey(KeyFilter{prefix}, unclaimed)) return std::move(*r);
  std::optional<std::string> out;
  std::uint64_t now = detail::os::NowUnixMs();
  // Rejection sampling: a uniform draw over all records, kept if live and matching, is uniform
  // over the live matching keys. A rare prefix falls back to a full scan.
  if (DrawRandom(*this, [&](Shard& shard, std::uint64_t pos) {
        const detail::RecordRef r = ReadAt(shard, pos);
        if (r.Expired(now) || !r.key().starts_with(prefix)) return false;
        if (unclaimed && Claimed(r.key())) return false;
        out = std::string(r.key());
        return true;
      }))
    return out;
  auto keys = MatchingKeys(*this, prefix, unclaimed);
  if (keys.empty()) return std::nullopt;
  return std::move(keys[RandomU64() % keys.size()].second);
}

std::vector<std::string> detail::ShmEngine::RandomKeys(std::size_t count, std::string_view prefix,
                                                       bool unique) {
  std::vector<std::string> out;
  if (!unique) {
    for (std::size_t i = 0; i < count; ++i) {
      auto k = RandomKey(prefix);
      if (!k) break;
      out.push_back(std::move(*k));
    }
    return out;
  }
  // Most of the matching keys wanted: list them (through the index) and take a random subset,
  // instead of drawing until the duplicates run out.
  if (std::optional<std::size_t> total = IndexedCount(KeyFilter{prefix});
      total && count * 2 >= *total) {
    if (std::optional<std::vector<std::string>> keys = IndexedKeys(KeyFilter{prefix}, 0)) {
      for (std::size_t i = 0; i < keys->size() && i < count; ++i)
        std::swap((*keys)[i], (*keys)[i + RandomU64() % (keys->size() - i)]);
      keys->resize(std::min(count, keys->size()));
      return std::move(*keys);
    }
  }
  std::unordered_set<std::string> seen;
  for (std::size_t draws = 0; out.size() < count && draws < 4 * count + 16; ++draws) {
    auto k = RandomKey(prefix);
    if (!k) return out;
    if (seen.insert(*k).second) out.push_back(std::move(*k));
  }
  if (out.size() < count) {  // many duplicates: draw from the full list instead
    auto keys = MatchingKeys(*this, prefix, false);
    for (std::size_t i = keys.size(); i > 1; --i) std::swap(keys[i - 1], keys[RandomU64() % i]);
    for (auto& [s, k] : keys) {
      if (out.size() == count) break;
      if (seen.insert(k).second) out.push_back(std::move(k));
    }
  }
  return out;
}

std::optional<Entry> detail::ShmEngine::PopRandom(std::string_view prefix) {
  std::vector<Entry> popped = PopRandomMany(prefix, 1);
  if (popped.empty()) return std::nullopt;
  return std::move(popped.front());
}

std::vector<Entry> detail::ShmEngine::PopRandomMany(std::string_view prefix, std::size_t n) {
  std::vector<Entry> out;
  if (!prefix.empty()) {
    // Through the index: each pop draws a uniform rank among the keys left with the prefix.
    while (out.size() < n) {
      std::optional<std::optional<Entry>> popped = IndexedPopRandom(prefix);
      if (!popped) break;        // no index: the walk below pops the rest
      if (!*popped) return out;  // none left with the prefix
      out.push_back(std::move(**popped));
    }
    if (out.size() == n) return out;
  }
  const std::uint64_t now = detail::os::NowUnixMs();
  Journaled journal(*this);  // before the shard locks: it commits after they are released
  // Each pop draws from the keys left, so the entries popped are a uniform sample without
  // replacement.
  while (out.size() < n && DrawRandom(*this, [&](Shard& shard, std::uint64_t pos) {
           const detail::RecordRef r = ReadAt(shard, pos);
           if (r.Expired(now) || !r.key().starts_with(prefix) || Claimed(r.key())) return false;
           out.push_back(TakeEntry(journal, shard, shard.SlotOf(r), r));
           return true;
         })) {
  }
  // Rare prefix: try the matching keys in random order; another process may pop some first.
  // Each round pops some of the keys listed or finds them all gone; it ends when none match.
  for (int fruitless_rounds = 0; out.size() < n;) {
    auto keys = MatchingKeys(*this, prefix, true);
    if (keys.empty()) break;
    for (std::size_t i = keys.size(); i > 1; --i) std::swap(keys[i - 1], keys[RandomU64() % i]);
    const std::size_t popped_before = out.size();
    for (auto& [s, key] : keys) {
      if (out.size() == n) break;
      if (std::optional<Entry> popped = PopKey(key)) out.push_back(std::move(*popped));
    }
    if (out.size() == popped_before && ++fruitless_rounds > kRandomAttempts)
      segment()->Corrupted("pop_random prefix length", prefix.size(),
                           "matches keys in the dense index that no table slot leads to");
  }
  return out;
}

// --- whole store ---

std::size_t detail::ShmEngine::Size() {
  return Count({});
}

void detail::ShmEngine::Clear() {
  Journaled journal(*this);
  for (std::uint32_t s = 0; s < shard_count(); ++s) {
    ShardLock lock(segment(), s);
    journal.ClearShard(s);
    WriteScope write(lock.shard());
    lock.shard().header()->deletes += lock.shard().count();
    lock.shard().Clear();
  }
  EnsureIndex();  // the shards' clears left it stale: rebuild it now, from what is left
}

Info detail::ShmEngine::GetInfo() {
  detail::Segment* seg = segment();
  const detail::SegmentHeader* h = seg->header();
  Info info{};
  info.engine = "shm";
  info.name = seg->name();
  info.layout_version = h->layout_version;
  info.layout_fingerprint = h->fingerprint;
  info.created_unix_ms = h->created_unix_ms;
  info.size_bytes = h->size_bytes;
  const detail::Geometry& g = seg->geo();
  info.shards = g.shard_count;
  info.max_key_bytes = g.max_key_bytes;
  info.max_value_bytes = g.max_value_bytes;
  info.max_keys = g.slots_per_shard * g.shard_count * detail::kMaxLoadPercent / 100;
  info.arena_bytes = g.chunk_count * detail::kChunkBytes;
  info.home_block_bytes = g.home_block_bytes;
  for (std::uint32_t s = 0; s < g.shard_count; ++s) {
    ShardLock lock(seg, s);
    const detail::ShardHeader* sh = lock.shard().header();
    ShardInfo si{};
    si.live_keys = lock.shard().count();
    si.capacity = g.slots_per_shard;
    si.arena_bytes = sh->chunk_count * detail::kChunkBytes;
    si.used_bytes = sh->used_bytes;
    si.max_probe = sh->max_psl;
    si.recoveries = sh->recoveries;
    si.home_records = detail::HomeRecords(lock.shard().ref());
    info.live_keys += si.live_keys;
    info.home_records += si.home_records;
    info.arena_used_bytes += si.arena_bytes;
    info.shard.push_back(si);
  }
  {
    detail::IndexLock lock(seg);
    const detail::OrderedIndex::Figures f = detail::OrderedIndex(seg).Describe();
    info.ordered_index = {f.state != detail::IndexState::off,
                          f.state == detail::IndexState::valid,
                          f.height,
                          f.entries,
                          f.chunks * detail::kChunkBytes,
                          f.rebuilds,
                          f.last_rebuild_us};
    info.arena_used_bytes += info.ordered_index.node_bytes;
  }
  {
    detail::CoordLock lock(seg);
    const detail::CoordView v = detail::ViewCoordination(*seg);
    info.coordination = {
        detail::kCoordSlots / 8 * 7, v.used, v.last_token, v.waiters, v.recoveries, {}};
    for (const auto& g : v.grants)
      info.coordination.grants.push_back({g.kind, g.name_head, g.name_bytes, g.token,
                                          static_cast<std::int32_t>(g.holder_pid), g.holder_alive,
                                          g.lease_left_ms});
  }
  seg->ReclaimDeadProcesses();
  for (std::uint32_t i = 0; i < detail::kMaxProcesses; ++i) {
    const detail::ProcessSlot* p = seg->process(i);
    std::uint64_t pid = p->pid_word.load(std::memory_order_acquire);
    if (pid == 0 || pid == detail::kReclaiming) continue;
    std::uint64_t start = p->start_time.load(std::memory_order_acquire);
    info.processes.push_back({static_cast<std::int32_t>(pid), start,
                              detail::os::ProcessAlive(static_cast<pid_t>(pid), start)});
  }
  return info;
}

Stats detail::ShmEngine::GetStats() {
  segment();
  FlushAllReads();
  Stats st;
  for (std::uint32_t s = 0; s < shard_count(); ++s) {
    ShardLock lock(segment(), s);
    const detail::ShardHeader* h = lock.shard().header();
    st.gets += std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(h->gets))
                   .load(std::memory_order_relaxed);
    st.hits += std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(h->hits))
                   .load(std::memory_order_relaxed);
    st.misses += std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(h->misses))
                     .load(std::memory_order_relaxed);
    st.sets += h->sets;
    st.deletes += h->deletes;
    st.cas_success += h->cas_success;
    st.cas_failure += h->cas_failure;
    st.lock_waits += h->lock_waits;
    st.recoveries += h->recoveries;
  }
  return st;
}

std::vector<std::string> detail::ShmEngine::CheckInvariants() {
  std::vector<std::string> out;
  for (std::uint32_t s = 0; s < shard_count(); ++s) {
    try {
      ShardLock lock(segment(), s);
      lock.shard().CheckInvariants(&out);
    } catch (const Error& e) {
      if (e.code() != errc::corrupted) throw;
      out.push_back("shard " + std::to_string(s) + ": " + e.what());
    }
  }
  CheckIndex(&out);
  detail::CoordLock lock(segment());
  detail::CoordTable(segment()).Check(&out);
  return out;
}

}  // namespace shmkv
