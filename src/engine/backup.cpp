// backup.cpp: the shared-memory engine's backup, restore, sync, snapshot and recovery report
// (ShmEngine, shm_engine.hpp).
//
// Backup and restore hold SegmentHeader::backup_lease (pid + deadline, renewed before every
// shard), so a second concurrent backup or restore of the same store, from any process, gets
// errc::busy instead of being serialised behind the first. A holder killed mid-way leaves the
// lease to expire or to be taken over once its pid is seen dead.
//
// Restore is all or nothing. It reads and verifies the file before it takes the lease (a FIFO or
// a directory is refused there, without blocking), then checks the caller's budget, each entry
// against the segment's key/value limits, and works out exactly what the entries take once the
// store is empty (PlanRestore: table load per shard, home blocks, slab and span chunks, by the
// allocator's own rules). Then it takes every shard lock in index order, checks that the
// segment's chunk accounting agrees, reserves and rewinds the arena (PrepareArenaFill), and only
// then clears every shard and refills them, journaling the clears and the new entries when the
// store is persistent. Nothing after the first clear can run out of room, and no reader or
// writer sees a mix of old and new content (every shard's seq stays odd until the end). A
// process killed mid-way leaves shards with odd seq: each is rebuilt from its records by the
// shard repair, holding part of the old or new content (never torn records).
#include <algorithm>
#include <memory>
#include <string_view>

#include "engine/shm_engine.hpp"
#include "os/file_io.hpp"
#include "os/os.hpp"
#include "persist/lease.hpp"
#include "persist/snapshot.hpp"
#include "shm/allocator.hpp"

namespace shmkv {

using detail::Shard;
using detail::ShardLock;

namespace {

class BackupLease {
 public:
  BackupLease(detail::Segment* seg, const char* what) : seg_(seg) {
    auto* word = &seg->header()->backup_lease;
    if (!detail::ClaimLease(word, detail::kLeaseSeconds, &mine_))
      detail::Throw(errc::busy, std::string("cannot ") + what + " store '" + seg->name() +
                                    "': a backup or restore is running (pid " +
                                    std::to_string(word->load() >> 32) + ")");
  }
  ~BackupLease() { detail::ReleaseLease(&seg_->header()->backup_lease, mine_); }
  void Renew() {
    if (!TryRenew())
      detail::Throw(errc::busy, "the backup lease of store '" + seg_->name() + "' was lost");
  }
  bool TryRenew() {
    return detail::RenewLease(&seg_->header()->backup_lease, detail::kLeaseSeconds, &mine_);
  }

 private:
  detail::Segment* seg_;
  std::uint64_t mine_ = 0;
};

std::uint64_t ElapsedUs(std::uint64_t t0) {
  return (detail::os::NowMonotonicNs() - t0) / 1000;
}

constexpr std::uint64_t kIndexMask = (1ull << 40) - 1;

// What a restore will do, worked out before anything is changed.
struct RestorePlan {
  RestoreResult result;
  struct Step {
    std::uint64_t pos;   // shard << 40 | entry index: sorted, the order of insertion
    std::uint64_t hash;  // of the entry's key
    bool operator<(const Step& o) const { return pos < o.pos; }
  };
  std::vector<Step> order;
  std::uint64_t arena_chunks = 0;  // non-home chunks the new content takes
};

// Validates the entries against the segment's limits and works out exactly what they take once
// every shard is empty: a key given more than once keeps its last entry (the others count as
// duplicates), expired entries are skipped, each shard's table must stay under its load limit,
// and the arena must hold the records. The arena count replays the allocator's own rules in
// insertion order: a record goes to a free home block of its key (HomeBlockCandidates), else to
// its size class, whose slabs fill before a new one is taken, else to a span (SpanChunks).
RestorePlan PlanRestore(detail::Segment& seg, const std::vector<detail::SnapshotEntry>& entries,
                        const std::string& file, const RestoreOptions& options) {
  const detail::Geometry& g = seg.geo();
  const std::uint64_t now = detail::os::NowUnixMs();
  RestorePlan plan;
  RestoreResult& result = plan.result;
  // Each entry's key hash, computed once: duplicates, shards, home slots and the refill use it.
  struct Keyed {
    std::uint64_t hash, index;
  };
  std::vector<Keyed> keyed(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const detail::SnapshotEntry& e = entries[i];
    if (e.expires_ms == 0 || e.expires_ms > now)
      detail::CheckEntryLimits(g, e.key, e.value,
                               [&] { return file + ": entry " + std::to_string(i); });
    keyed[i] = {detail::HashKey(g.hash_seed, e.key), i};
  }
  // Sorted by hash, key and position, the entries of a key are adjacent and its last one ends
  // the run: the others are duplicates.
  std::sort(keyed.begin(), keyed.end(), [&](const Keyed& x, const Keyed& y) {
    if (x.hash != y.hash) return x.hash < y.hash;
    if (int c = entries[x.index].key.compare(entries[y.index].key); c != 0) return c < 0;
    return x.index < y.index;
  });
  const std::uint32_t shards = g.shard_count;
  std::vector<std::uint64_t> per_shard(shards, 0);
  plan.order.reserve(keyed.size());
  for (std::size_t k = 0; k < keyed.size(); ++k) {
    const detail::SnapshotEntry& e = entries[keyed[k].index];
    if (k + 1 < keyed.size() && keyed[k + 1].hash == keyed[k].hash &&
        entries[keyed[k + 1].index].key == e.key) {
      ++result.duplicates;
      continue;
    }
    if (e.expires_ms != 0 && e.expires_ms <= now) {
      ++result.expired;
      continue;
    }
    result.bytes += e.key.size() + e.value.size();
    const std::uint32_t s = detail::ShardOf(g, keyed[k].hash);
    ++per_shard[s];
    plan.order.push_back({std::uint64_t(s) << 40 | keyed[k].index, keyed[k].hash});
  }
  result.entries = plan.order.size();
  if (options.max_bytes && result.bytes > options.max_bytes)
    detail::Throw(errc::limit_exceeded, file + " holds " + std::to_string(result.bytes) +
                                            " bytes of keys and values; max_bytes is " +
                                            std::to_string(options.max_bytes));
  const std::uint64_t table_max = g.slots_per_shard * detail::kMaxLoadPercent / 100;
  for (std::uint32_t s = 0; s < shards; ++s)
    if (per_shard[s] > table_max)
      detail::Throw(errc::store_full, "restoring " + file + " would put " +
                                          std::to_string(per_shard[s]) + " keys in shard " +
                                          std::to_string(s) + " of segment '" + seg.name() +
                                          "', whose table holds " + std::to_string(table_max) +
                                          "; create the segment with a larger max_keys");
  std::sort(plan.order.begin(), plan.order.end());
  // Arena: replay the placement shard by shard, in the order of insertion.
  std::uint64_t span_chunks = 0, slab_chunks = 0, home_records = 0;
  std::vector<std::uint64_t> class_blocks(detail::kNumClasses);
  std::vector<bool> home_taken;
  for (std::size_t i = 0; i < plan.order.size();) {
    const auto s = static_cast<std::uint32_t>(plan.order[i].pos >> 40);
    const detail::ShardRef ref = detail::ShardRef::Of(&seg, s);
    std::fill(class_blocks.begin(), class_blocks.end(), 0);
    if (ref.home_off) home_taken.assign(ref.cap, false);
    for (; i < plan.order.size() && (plan.order[i].pos >> 40) == s; ++i) {
      const detail::SnapshotEntry& e = entries[plan.order[i].pos & kIndexMask];
      const std::uint64_t bytes = detail::kRecordHeaderBytes + e.key.size() + e.value.size();
      std::uint64_t candidates[2];
      const int n = detail::HomeBlockCandidates(
          ref, bytes, detail::HomeSlot(detail::KeyHash{plan.order[i].hash}, ref.cap), candidates);
      bool home = false;
      for (int k = 0; k < n && !home; ++k)
        if (!home_taken[candidates[k]]) home = home_taken[candidates[k]] = true;
      if (home) {
        ++home_records;
        continue;
      }
      const int cls = detail::SizeClassFor(bytes);
      if (cls < 0)
        span_chunks += detail::SpanChunks(bytes);
      else
        ++class_blocks[static_cast<std::uint32_t>(cls)];
    }
    for (std::uint32_t c = 0; c < detail::kNumClasses; ++c)
      slab_chunks += (class_blocks[c] + detail::BlocksPerSlab(c) - 1) / detail::BlocksPerSlab(c) *
                     detail::SlabChunks(c);
  }
  plan.arena_chunks = span_chunks + slab_chunks;
  const std::uint64_t home_chunks = g.home_chunks_per_shard * shards;
  const std::uint64_t free_chunks = g.chunk_count - home_chunks;
  if (plan.arena_chunks > free_chunks)
    detail::Throw(
        errc::store_full,
        "restoring " + file + " needs " + std::to_string(plan.arena_chunks) +
            " arena chunks of 4 KiB (" + std::to_string(slab_chunks) + " in slabs, " +
            std::to_string(span_chunks) + " in spans; " + std::to_string(home_records) +
            " records in home blocks); segment '" + seg.name() + "' has " +
            std::to_string(free_chunks) +
            (home_chunks ? " besides its " + std::to_string(home_chunks) + " home-block chunks"
                         : std::string()) +
            "; nothing was restored");
  return plan;
}

}  // namespace

BackupResult detail::ShmEngine::Backup(const std::string& path) {
  detail::Segment* seg = segment();
  const std::uint64_t t0 = detail::os::NowMonotonicNs();
  BackupLease lease(seg, "back up");
  detail::SnapshotWriteOptions o;
  o.before_shard = [&](std::uint32_t) { lease.Renew(); };
  detail::SnapshotWriteResult r =
      detail::WriteSnapshot(*seg, detail::fileio::AbsolutePath(path), o);
  BackupResult out;
  out.entries = r.entries;
  out.bytes = r.bytes;
  out.seq = r.seq;
  out.duration = std::chrono::microseconds(ElapsedUs(t0));
  return out;
}

RestoreResult detail::ShmEngine::Restore(const std::string& path, const RestoreOptions& options) {
  detail::Segment* seg = segment();
  const detail::SegmentHeader* h = seg->header();
  // Read and verify the file before taking the lease: reading needs no lock, and a file that
  // cannot be read (a FIFO, a directory) is refused without blocking anyone.
  const std::string file = detail::fileio::AbsolutePath(path);
  detail::SnapshotFile snap(file);  // not_found, corrupted, incompatible_layout, invalid_argument
  if (options.max_entries && snap.header().entry_count > options.max_entries)
    detail::Throw(errc::limit_exceeded,
                  file + " holds " + std::to_string(snap.header().entry_count) +
                      " entries; max_entries is " + std::to_string(options.max_entries));
  const RestorePlan plan = PlanRestore(*seg, snap.entries(), file, options);
  const std::uint32_t shards = seg->geo().shard_count;

  BackupLease lease(seg, "restore");
  // A persistent store whose journal or last snapshot failed accepts no mutation: refuse before
  // anything changes (io_error naming the file and errno), as single-key writes do.
  if (log) log->CheckHealthy();
  // Every shard lock, in index order (no other path holds two shard locks, so this cannot
  // deadlock): nobody allocates while the fit is checked and the content replaced, and no writer
  // sees a mix of old and new content.
  std::vector<std::unique_ptr<ShardLock>> locks;
  locks.reserve(shards);
  std::uint64_t owned_chunks = 0;
  for (std::uint32_t s = 0; s < shards; ++s) {
    lease.Renew();
    locks.push_back(std::make_unique<ShardLock>(seg, s));
    owned_chunks += locks.back()->shard().header()->chunk_count;
  }
  // The ordered index gives its chunks back too (the fit check counts on the whole arena), and
  // is rebuilt from the new content at the end.
  detail::OrderedIndex index(seg);
  index.Discard();
  if (!detail::PrepareArenaFill(*seg, plan.arena_chunks))
    detail::Throw(errc::store_full, "restoring " + file + ": cannot reserve memory for " +
                                        std::to_string(plan.arena_chunks) +
                                        " arena chunks of segment '" + seg->name() +
                                        "' (is /dev/shm full?); nothing was restored");
  // The fit check counts on every non-home chunk being free once the shards are cleared. (Checked
  // after PrepareArenaFill, whose allocator lock first repairs a chunk table left by a dead
  // holder; what it changed, a search hint and backed memory, is harmless if we stop here.)
  if (owned_chunks != h->chunks_in_use)
    detail::Throw(errc::corrupted, "segment '" + seg->name() + "': its shards own " +
                                       std::to_string(owned_chunks) + " chunks but " +
                                       std::to_string(h->chunks_in_use) +
                                       " are in use; run `shmkv check` (nothing was restored)");
  // Empty every shard first, so that every non-home chunk is free, then refill: nothing can run
  // out of room, since PlanRestore counted every block and chunk the allocator will take and
  // PrepareArenaFill made them consecutive and backed. Every shard's seq stays odd until the
  // end, so lock-free readers wait for the new content instead of seeing empty shards.
  // Journal: a clear of each shard, then the new entries.
  const auto& entries = snap.entries();
  std::vector<std::unique_ptr<WriteScope>> writes;
  writes.reserve(shards);
  std::uint64_t ticket = 0;
  for (std::uint32_t s = 0; s < shards; ++s) {
    Shard& shard = locks[s]->shard();
    writes.push_back(std::make_unique<WriteScope>(shard));
    shard.header()->deletes += shard.count();
    shard.Clear();
    if (log) ticket = log->LogClearShard(s, false);
  }
  for (std::size_t i = 0; i < plan.order.size(); ++i) {
    // Holding every shard lock, nobody can change the content even if the lease lapsed: keep
    // going rather than stop halfway.
    if (i % 4096 == 0) lease.TryRenew();
    Shard& shard = locks[plan.order[i].pos >> 40]->shard();
    const detail::SnapshotEntry& e = entries[plan.order[i].pos & kIndexMask];
    const detail::KeyHash h{plan.order[i].hash};
    shard.Put(e.key, h, e.value, e.expires_ms);
    ++shard.header()->sets;
    if (log) ticket = log->LogSet(e.key, e.value, e.expires_ms, false);
  }
  index.Rebuild();  // no room left for it: it stays stale, and ordered reads walk the shards
  writes.clear();
  locks.clear();
  if (ticket) log->Commit(ticket, true);
  return plan.result;
}

RecoveryReport detail::ShmEngine::GetRecoveryReport() {
  segment();
  return recovery;
}

void detail::ShmEngine::Sync() {
  segment();
  if (log) log->Sync();
}

BackupResult detail::ShmEngine::Snapshot() {
  detail::Segment* seg = segment();
  if (!log)
    detail::Throw(errc::invalid_argument,
                  "store '" + seg->name() +
                      (seg->header()->persist_enabled ? "' was opened read-only"
                                                      : "' has no persistence directory") +
                      "; use backup(path) for a snapshot file");
  return log->SnapshotNow();
}

}  // namespace shmkv
