// shm_engine_ordered.cpp: the shared-memory engine's ordered reads through the ordered index
// (ShmEngine, shm_engine.hpp; the tree is shm/ordered_index.hpp).
//
// Each Indexed* function answers from the index and returns nullopt when the segment keeps
// none or it could not be made valid (a rebuild found no room): the caller then walks the
// shards (shm_engine_multi.cpp), as every ordered read did before the index.
//
// Locking: a reader holds the index lock alone while it ranks and walks the tree, and takes no
// shard lock under it (lock order shard -> index). list and scan copy values during the walk
// the way a lock-free get does (OptimisticValue: the shard's seq window); a value a writer
// raced, pops and deletes go through the key's shard afterwards, key by key, as get and del do:
// a key the index listed may be gone by then, and is skipped. A stale index is rebuilt first, under
// every shard lock (EnsureIndex).
#include <algorithm>
#include <memory>

#include "engine/shm_engine.hpp"
#include "os/os.hpp"
#include "shm/ordered_index.hpp"

namespace shmkv::detail {

namespace {

constexpr int kIndexAttempts = 3;
constexpr int kRandomAttempts = 64;

// Every shard lock, taken in index order (the order every multi-shard holder uses).
class AllShardLocks {
 public:
  explicit AllShardLocks(Segment* seg) {
    for (std::uint32_t s = 0; s < seg->geo().shard_count; ++s)
      locks_.push_back(std::make_unique<ShardLock>(seg, s));
  }
  Shard& shard(std::uint32_t s) { return locks_[s]->shard(); }

 private:
  std::vector<std::unique_ptr<ShardLock>> locks_;
};

}  // namespace

bool ShmEngine::EnsureIndex() {
  OrderedIndex index(segment());
  if (index.state() != IndexState::stale) return index.state() == IndexState::valid;
  AllShardLocks locks(segment());
  if (index.state() == IndexState::stale) index.Rebuild();
  return index.state() == IndexState::valid;
}

template <typename F>
auto ShmEngine::WithIndex(F&& f) -> std::optional<decltype(f(std::declval<OrderedIndex&>()))> {
  for (int attempt = 0; attempt < kIndexAttempts; ++attempt) {
    if (!EnsureIndex()) return std::nullopt;
    OrderedIndex index(segment());
    try {
      IndexLock lock(segment());
      if (index.state() != IndexState::valid) continue;  // a repair marked it stale since
      return f(index);
    } catch (const IndexDamaged&) {
      index.MarkStale();  // rebuilt from the records on the next attempt
    }
  }
  return std::nullopt;
}

namespace {

// The ranks of the first entry at or above `start` and of the first at or above `high`.
std::pair<std::uint64_t, std::uint64_t> RankRange(const OrderedIndex& index, std::string_view start,
                                                  const std::optional<std::string>& high) {
  const std::uint64_t lo = index.Rank(start);
  const std::uint64_t hi = high ? index.Rank(*high) : index.entries();
  return {lo, std::max(lo, hi)};
}

// Calls f(record) for the entries of ranks [lo, hi) in key order while it returns true.
template <typename F>
void Walk(const OrderedIndex& index, std::uint64_t lo, std::uint64_t hi, F&& f) {
  if (lo >= hi) return;
  IndexCursor c = index.Seek(lo);
  for (std::uint64_t r = lo;; ++r) {
    if (!f(index.RecordAt(c)) || r + 1 == hi) return;
    if (!index.Next(&c)) return;
  }
}

}  // namespace

std::optional<std::size_t> ShmEngine::IndexedCount(const KeyFilter& f) {
  const KeyBounds b = KeyBounds::Of(f);
  return WithIndex([&](OrderedIndex& index) -> std::size_t {
    const auto [lo, hi] = RankRange(index, b.low, b.high);
    if (index.ttl_records() == 0) return hi - lo;
    std::size_t live = 0;  // some keys have an expiry: skip the expired ones
    const std::uint64_t now = os::NowUnixMs();
    Walk(index, lo, hi, [&](const RecordRef& r) {
      live += !r.Expired(now);
      return true;
    });
    return live;
  });
}

std::optional<std::vector<std::string>> ShmEngine::IndexedKeys(const KeyFilter& f,
                                                               std::size_t limit) {
  const KeyBounds b = KeyBounds::Of(f);
  return WithIndex([&](OrderedIndex& index) {
    std::vector<std::string> keys;
    const auto [lo, hi] = RankRange(index, b.low, b.high);
    const std::uint64_t now = os::NowUnixMs();
    Walk(index, lo, hi, [&](const RecordRef& r) {
      if (r.Expired(now)) return true;
      if (segment()->verify_reads()) VerifyListed(r);
      keys.emplace_back(r.key());
      return limit == 0 || keys.size() < limit;
    });
    return keys;
  });
}

std::optional<std::vector<Entry>> ShmEngine::IndexedEntries(const KeyFilter& f, std::size_t limit) {
  std::vector<Entry> out;
  KeyFilter rest = f;
  std::string cursor;
  for (;;) {
    // Values are copied during the walk as a lock-free get copies one (the index lock keeps
    // the records from being freed); those a writer raced are read through their shard after.
    const std::size_t want = limit == 0 ? 0 : limit - out.size();
    const std::size_t first = out.size();
    std::vector<std::size_t> raced;
    const KeyBounds b = KeyBounds::Of(rest);
    const std::optional<std::size_t> listed = WithIndex([&](OrderedIndex& index) {
      out.resize(first);
      raced.clear();
      const auto [lo, hi] = RankRange(index, b.low, b.high);
      const std::uint64_t now = os::NowUnixMs();
      Walk(index, lo, hi, [&](const RecordRef& r) {
        if (r.Expired(now)) return true;
        if (segment()->verify_reads()) VerifyListed(r);
        Entry& e = out.emplace_back(Entry{std::string(r.key()), {}});
        if (!OptimisticValue(ShardRef::Of(segment(), RouteOf(e.key).shard), r, &e.value))
          raced.push_back(out.size() - 1);
        return want == 0 || out.size() - first < want;
      });
      return out.size() - first;
    });
    if (!listed) return std::nullopt;
    if (*listed == 0) return out;
    cursor = out.back().key;
    std::size_t gone = 0;  // raced keys deleted since the walk: dropped, the page lists on
    for (std::size_t i : raced) {
      Entry& e = out[i];
      if (!ReadValue(e.key, RouteOf(e.key), &e.value)) {
        e.key.clear();
        ++gone;
      }
    }
    if (gone != 0)
      out.erase(std::remove_if(out.begin() + first, out.end(),
                               [](const Entry& e) { return e.key.empty(); }),
                out.end());
    if (limit == 0 || out.size() >= limit || *listed < want) return out;
    rest.after = cursor;
  }
}

std::optional<std::optional<std::string>> ShmEngine::IndexedRandomKey(const KeyFilter& f,
                                                                      bool unclaimed) {
  const KeyBounds b = KeyBounds::Of(f);
  return WithIndex([&](OrderedIndex& index) -> std::optional<std::string> {
    const auto [lo, hi] = RankRange(index, b.low, b.high);
    if (lo == hi) return std::nullopt;
    const std::uint64_t now = os::NowUnixMs();
    // Claims are looked up under the index lock (lock order index -> coord), only when some
    // grant is held in the store.
    auto eligible = [&](const RecordRef& r) {
      return !r.Expired(now) && !(unclaimed && Claimed(r.key()));
    };
    // A uniform rank, kept when its key is eligible: uniform over the eligible keys.
    for (int attempt = 0; attempt < kRandomAttempts; ++attempt) {
      const RecordRef r = index.RecordAt(index.Seek(lo + RandomU64() % (hi - lo)));
      if (eligible(r)) return std::string(r.key());
    }
    std::vector<std::string> live;  // mostly expired or claimed: draw among the eligible ones
    Walk(index, lo, hi, [&](const RecordRef& r) {
      if (eligible(r)) live.emplace_back(r.key());
      return true;
    });
    if (live.empty()) return std::nullopt;
    return std::move(live[RandomU64() % live.size()]);
  });
}

std::optional<std::optional<Entry>> ShmEngine::IndexedPopRandom(std::string_view prefix) {
  for (int attempt = 0; attempt < kRandomAttempts; ++attempt) {
    std::optional<std::optional<std::string>> key = IndexedRandomKey(KeyFilter{prefix}, true);
    if (!key) return std::nullopt;
    if (!*key) return std::optional<Entry>();  // none with the prefix
    if (std::optional<Entry> popped = PopKey(**key)) return popped;
    // Another process popped or deleted it first: draw again.
  }
  return std::nullopt;
}

std::optional<DeletePrefixResult> ShmEngine::IndexedDeleteRange(const KeyFilter& f,
                                                                std::size_t limit) {
  std::optional<std::vector<std::string>> keys = IndexedKeys(f, limit);
  if (!keys) return std::nullopt;
  DeletePrefixResult result{0, true};
  for (const std::string& key : *keys) result.deleted += Del(key);
  if (limit != 0 && keys->size() == limit) {
    std::optional<std::size_t> left = IndexedCount(f);
    result.done = left && *left == 0;
  }
  return result;
}

void ShmEngine::VerifyListed(const RecordRef& r) {
  Segment* seg = segment();
  const std::uint32_t shard =
      IdentOwner(seg->ident((r.off - seg->geo().off_arena) / kChunkBytes)->load());
  const Shard view(ShardRef::Of(seg, shard));  // checked shard index
  const KeyHash h = view.Hash(r.key());
  const std::atomic<std::uint64_t>& seq = view.header()->seq;
  for (int attempt = 0; attempt < kRandomAttempts; ++attempt) {
    const std::uint64_t before = seq.load(std::memory_order_acquire);
    if (before & 1) continue;
    const bool matches = Shard::ChecksumMatches(r, h);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq.load(std::memory_order_relaxed) != before) continue;  // a writer changed the shard
    if (!matches) view.VerifyChecksum(r, h);                      // raises, naming the record
    return;
  }
}

std::optional<Entry> ShmEngine::PopKey(const std::string& key) {
  Journaled journal(*this);
  const Route route = RouteOf(key);
  ShardLock lock(segment(), route.shard, &route.hash);
  Shard& shard = lock.shard();
  RecordRef r;
  const std::uint64_t slot = shard.Find(key, route.hash, &r);
  if (slot == kNotFound || r.Expired(os::NowUnixMs()) || Claimed(key)) return std::nullopt;
  if (shard.verify_reads()) shard.VerifyChecksum(r, route.hash);
  return TakeEntry(journal, shard, slot, r);
}

void ShmEngine::CheckIndex(std::vector<std::string>* out) {
  try {
    CheckIndexLocked(out);
  } catch (const Error& e) {
    if (e.code_value() != errc::corrupted) throw;
    out->push_back(std::string("ordered index: ") + e.what());  // a damaged record (rebuild)
  }
}

void ShmEngine::CheckIndexLocked(std::vector<std::string>* out) {
  OrderedIndex index(segment());
  if (index.state() == IndexState::off) return;
  AllShardLocks locks(segment());
  if (index.state() == IndexState::stale && !index.Rebuild()) return;
  std::vector<std::uint64_t> records;
  std::uint64_t ttl_records = 0;
  for (std::uint32_t s = 0; s < shard_count(); ++s) {
    Shard& shard = locks.shard(s);
    ttl_records += shard.header()->ttl_count;
    for (std::uint64_t i = 0; i < shard.count(); ++i) records.push_back(shard.LiveAt(i).off);
  }
  IndexLock lock(segment());
  index.CheckInvariants(records, out);
  const std::uint64_t counted = index.ttl_records();
  if (counted != ttl_records)
    out->push_back("ordered index: ttl_records " + std::to_string(counted) +
                   " but the shards hold " + std::to_string(ttl_records) +
                   " records with an expiry");
}

}  // namespace shmkv::detail
