// shm_engine.hpp: ShmEngine, the shared-memory engine behind shmkv::Store, and helpers shared
// by its files (internal): shm_engine.cpp (lifecycle, single-key operations),
// shm_engine_multi.cpp (batches, ordered and random reads, whole store), backup.cpp (backup,
// restore, sync, snapshot) and recovery.cpp (open). A ShmEngine is process-local; everything
// shared lives in the Segment. It is called only by the front (store.cpp) with validated
// arguments (engine.hpp).
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <string_view>

#include "engine/engine.hpp"
#include "engine/key_range.hpp"
#include "os/throw.hpp"
#include "persist/mutation_log.hpp"
#include "shm/segment.hpp"
#include "shm/shard.hpp"
#include "shmkv/store.hpp"

namespace shmkv::detail {

class ShmEngine final : public Engine {
 public:
  ShmEngine() = default;
  ~ShmEngine() override { FlushAllReads(); }

  void Close() override;
  bool Get(std::string_view key, std::string* value) override;
  void Set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) override;
  bool Exists(std::string_view key) override;
  bool Del(std::string_view key) override;
  std::int64_t IncrementBy(std::string_view key, std::int64_t delta) override;
  GetOrSetResult GetOrSet(std::string_view key, std::string_view value,
                          std::chrono::milliseconds ttl) override;
  SwapResult Swap(std::string_view key, std::string_view value,
                  std::chrono::milliseconds ttl) override;
  bool CompareAndSwap(std::string_view key, std::optional<std::string_view> expected,
                      std::string_view value, std::chrono::milliseconds ttl,
                      std::optional<std::string>* mismatch) override;
  bool CompareAndDelete(std::string_view key, std::string_view expected) override;
  bool SetIfAbsent(std::string_view key, std::string_view value,
                   std::chrono::milliseconds ttl) override;
  bool Expire(std::string_view key, std::chrono::milliseconds ttl) override;
  std::optional<std::chrono::milliseconds> Ttl(std::string_view key) override;
  std::size_t GetMany(std::span<const std::string_view> keys,
                      std::vector<std::optional<std::string>>* out) override;
  void SetMany(const std::vector<std::pair<std::string, std::string>>& pairs,
               std::chrono::milliseconds ttl) override;
  std::size_t DeleteMany(const std::vector<std::string>& keys) override;
  DeletePrefixResult DeleteRange(const KeyRange& range, std::size_t limit) override;
  std::vector<Entry> List(const ListOptions& options) override;
  std::vector<std::string> ListKeys(const ListOptions& options) override;
  ScanPage Scan(const ScanOptions& options) override;
  KeyScanPage ScanKeys(const ScanOptions& options) override;
  std::size_t Count(const KeyRange& range) override;
  std::optional<std::string> RandomKey(std::string_view prefix) override;
  std::vector<std::string> RandomKeys(std::size_t count, std::string_view prefix,
                                      bool unique) override;
  std::optional<Entry> PopRandom(std::string_view prefix) override;
  std::vector<Entry> PopRandomMany(std::string_view prefix, std::size_t n) override;
  std::optional<Claim> ClaimKey(std::string_view key, std::chrono::milliseconds lease) override;
  std::optional<Claim> ClaimRandom(std::string_view prefix,
                                   std::chrono::milliseconds lease) override;
  bool Renew(std::string_view key, std::uint64_t token, std::chrono::milliseconds lease) override;
  bool Release(std::string_view key, std::uint64_t token) override;
  bool Complete(std::string_view key, std::uint64_t token) override;
  std::optional<std::uint64_t> Lock(std::string_view name, std::chrono::milliseconds lease,
                                    std::chrono::milliseconds wait) override;
  bool Unlock(std::string_view name, std::uint64_t token) override;
  std::optional<std::uint64_t> Acquire(std::string_view semaphore, std::uint32_t permits,
                                       std::chrono::milliseconds wait) override;
  bool ReleasePermit(std::string_view semaphore, std::uint64_t token) override;
  bool WaitFor(std::string_view key, std::chrono::milliseconds timeout) override;
  std::optional<Entry> PopRandomWait(std::string_view prefix,
                                     std::chrono::milliseconds timeout) override;
  std::optional<std::size_t> Barrier(std::string_view name, std::uint32_t parties,
                                     std::chrono::milliseconds timeout) override;
  std::size_t Size() override;
  void Clear() override;
  Info GetInfo() override;
  Stats GetStats() override;
  BackupResult Backup(const std::string& path) override;
  RestoreResult Restore(const std::string& path, const RestoreOptions& options) override;
  RecoveryReport GetRecoveryReport() override;
  void Sync() override;
  BackupResult Snapshot() override;
  std::vector<std::string> CheckInvariants() override;

  // The limits the front checks, from the segment's validated geometry (after OpenStore).
  void AdoptLimits(const std::string& name);

  std::unique_ptr<detail::Segment> seg;
  bool read_only = false;

  // The disk backend (persist/mutation_log.hpp): null when the segment is memory only or the
  // handle is read-only, so a memory-only mutation pays one branch. Declared after seg: destroyed
  // first.
  std::unique_ptr<detail::MutationLog> log;
  RecoveryReport recovery;
  // Returns this handle's persistence failure ("" if none; see MutationLog::Close).
  std::string CloseLog() noexcept {
    std::string err = log ? log->Close() : std::string();
    log.reset();
    return err;
  }

  // Lock-free reads are counted here, per shard, and added to the shard's counters in the
  // segment every kReadFlush reads and at close, so reads write no shared cache line. A killed
  // process loses at most kReadFlush - 1 uncounted reads per shard.
  static constexpr std::uint64_t kReadFlush = 256;
  struct PendingReads {
    std::atomic<std::uint64_t> gets{0}, hits{0};
  };
  std::unique_ptr<PendingReads[]> pending_reads;

  void CountRead(std::uint32_t shard, bool hit) {
    if (!pending_reads) [[unlikely]]
      pending_reads = std::make_unique<PendingReads[]>(shard_count());
    // Plain load + store, not fetch_add: a locked instruction per read would stall the pipeline
    // (it orders every earlier load). Two threads of one handle may lose a count; stats only.
    PendingReads& p = pending_reads[shard];
    if (hit) p.hits.store(p.hits.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    const std::uint64_t gets = p.gets.load(std::memory_order_relaxed) + 1;
    p.gets.store(gets, std::memory_order_relaxed);
    if (gets >= kReadFlush) [[unlikely]]
      FlushReads(shard);
  }
  void FlushReads(std::uint32_t shard);
  void FlushAllReads() noexcept;

  detail::Segment* segment() {
    if (!seg) detail::Throw(errc::closed, "the store handle is closed");
    return seg.get();
  }
  const detail::SegmentHeader* header() { return segment()->header(); }
  const detail::Geometry& geo() { return segment()->geo(); }
  std::uint32_t shard_count() { return geo().shard_count; }

  // Absolute expiry for a TTL the front checked (0 = none).
  static std::uint64_t ExpiryFor(std::chrono::milliseconds ttl);

  struct Route {
    detail::KeyHash hash;
    std::uint32_t shard;
  };
  Route RouteOf(std::string_view key) {
    const detail::Geometry& g = geo();
    std::uint64_t h = detail::HashKey(g.hash_seed, key);
    return {detail::KeyHash{h}, detail::ShardOf(g, h)};
  }
  // Whether a live claim holds key (shm_engine_coord.cpp): one load while the store holds no
  // grant at all, else a look-up under the coordination lock (taken under a shard or the index
  // lock, never the other way round).
  bool Claimed(std::string_view key);
  // A uniformly random live key with the prefix (random_key), leaving out the claimed ones
  // when `unclaimed` (claim_random); nullopt if none.
  std::optional<std::string> DrawKey(std::string_view prefix, bool unclaimed);
  // A checked, routed key's value into *value (cleared when absent); the body of get().
  bool ReadValue(std::string_view key, const Route& route, std::string* value);

  // --- Ordered reads through the ordered index (shm_engine_ordered.cpp). Each returns nullopt
  // when the segment keeps no index or it cannot be made valid: the caller walks the shards.
  // Makes a stale index valid again (a rebuild under every shard lock); false when it is off
  // or the rebuild found no room.
  bool EnsureIndex();
  // f(index) under the index lock, after EnsureIndex; a damaged node marks the index stale and
  // is retried after a rebuild.
  template <typename F>
  auto WithIndex(F&& f) -> std::optional<decltype(f(std::declval<detail::OrderedIndex&>()))>;
  std::optional<std::size_t> IndexedCount(const KeyFilter& f);
  // Up to limit (0 = all) live keys the filter selects, in order.
  std::optional<std::vector<std::string>> IndexedKeys(const KeyFilter& f, std::size_t limit);
  // The same with their values (read through the shards; a key deleted meanwhile is skipped).
  std::optional<std::vector<Entry>> IndexedEntries(const KeyFilter& f, std::size_t limit);
  // unclaimed: leave out keys a live claim holds (pop_random, claim_random).
  std::optional<std::optional<std::string>> IndexedRandomKey(const KeyFilter& f, bool unclaimed);
  std::optional<std::optional<Entry>> IndexedPopRandom(std::string_view prefix);
  std::optional<DeletePrefixResult> IndexedDeleteRange(const KeyFilter& f, std::size_t limit);
  // Options::verify_reads for a record the index listed: its checksum, read between two equal
  // even values of its shard's seq (a concurrent in-place update is not taken for damage).
  void VerifyListed(const detail::RecordRef& r);
  // Removes key if present, live and unclaimed (TakeEntry) and returns its entry.
  std::optional<Entry> PopKey(const std::string& key);
  // Appends the index's violations (check_invariants); rebuilds a stale index first.
  void CheckIndex(std::vector<std::string>* out);
  void CheckIndexLocked(std::vector<std::string>* out);
};

// Journals the mutations of one operation (write-ahead: each record is logged before its
// mutation is applied). Declare it before the ShardLock; call Set/Del/ClearShard under the lock,
// after every check that can refuse the operation and before the first change (and before the
// WriteScope, so that lock-free readers do not spin through a disk flush):
// - a failed journal or snapshot of this handle raises io_error there, before anything changed;
// - with policy always, Set/Del return once the record is durable (io_error otherwise, nothing
//   applied): the shard lock is held across the fdatasync, which is what makes a failed write
//   invisible to everyone;
// - if the mutation then fails (store_full, corrupted), the destructor journals the key's actual
//   state (MutationLog::Compensate), so replay ends where the segment is.
// The destructor, after the lock is released, commits (interval wake-ups, snapshot election).
// Memory-only: a null check, nothing else.
class Journaled {
 public:
  // (uncaught_exceptions() only when journaling: a memory-only write pays a null check.)
  explicit Journaled(ShmEngine& im)
      : p_(im.log.get()), exceptions_(p_ ? std::uncaught_exceptions() : 0) {}
  ~Journaled() noexcept(false) {
    if (!ticket_) return;
    const bool unwinding = std::uncaught_exceptions() > exceptions_;
    if (unwinding && logged_) p_->Compensate(last_key_);
    p_->Commit(ticket_, !unwinding);
  }
  Journaled(const Journaled&) = delete;
  Journaled& operator=(const Journaled&) = delete;
  bool active() const { return p_ != nullptr; }
  void Set(std::string_view key, std::string_view value, std::uint64_t expires_ms) {
    if (!p_) return;
    Before(key);
    ticket_ = p_->LogSet(key, value, expires_ms, true);
    After();
  }
  void Del(std::string_view key) {
    if (!p_) return;
    Before(key);
    ticket_ = p_->LogDel(key, true);
    After();
  }
  void ClearShard(std::uint32_t shard) {
    if (!p_) return;
    Before({});
    ticket_ = p_->LogClearShard(shard, true);
    After();
  }

 private:
  void Before(std::string_view key) {
    logged_ = false;  // the previous record's mutation (if any) was applied
    p_->CheckHealthy();
    last_key_.assign(key);  // key may point into a record the mutation frees
  }
  void After() {
    if (p_->durable_per_write()) p_->WaitDurable(ticket_);
    logged_ = !last_key_.empty();
  }

  detail::MutationLog* p_;
  int exceptions_;
  std::uint64_t ticket_ = 0;
  bool logged_ = false;   // a record of last_key_ is logged; its mutation may not be applied
  std::string last_key_;  // of the last Set/Del
};

// Opens the shared-memory engine: the segment (recovered from the persistence directory when it
// must be created and Options::persistence is set), then journaling when it is persistent.
// Defined in recovery.cpp.
std::unique_ptr<Engine> OpenShmEngine(const Options& options);

// The last step of every pop: journals the deletion of the live record r (in `slot` of a locked
// shard), erases it and returns its entry.
inline Entry TakeEntry(Journaled& journal, Shard& shard, std::uint64_t slot, const RecordRef& r) {
  Entry entry{std::string(r.key()), std::string(r.value())};
  journal.Del(entry.key);  // before the change (write-ahead, see Journaled)
  WriteScope write(shard);
  shard.Erase(slot, r);
  ++shard.header()->deletes;
  return entry;
}

// A per-thread generator, reseeded after fork() so children draw different numbers.
std::uint64_t RandomU64();

}  // namespace shmkv::detail
