// backup.cpp: Store::backup, restore, sync, snapshot and recovery_report.
//
// Backup and restore hold SegmentHeader::backup_lease (pid + deadline, renewed before every
// shard), so a second concurrent backup or restore of the same store, from any process, gets
// errc::busy instead of being serialised behind the first. A holder killed mid-way leaves the
// lease to expire or to be taken over once its pid is seen dead.
//
// Restore verifies everything before it changes anything: the file (checksum, structure,
// format), the caller's budget, each entry against the segment's key/value limits, and whether
// the entries fit (hash tables and arena). Then it replaces the content shard by shard, each
// shard atomically, journaling a clear and the new entries when the store is persistent.
#include <algorithm>

#include "allocator.hpp"
#include "file_io.hpp"
#include "os.hpp"
#include "persistence.hpp"
#include "snapshot.hpp"
#include "store_impl.hpp"

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
    if (!detail::RenewLease(&seg_->header()->backup_lease, detail::kLeaseSeconds, &mine_))
      detail::Throw(errc::busy, "the backup lease of store '" + seg_->name() + "' was lost");
  }

 private:
  detail::Segment* seg_;
  std::uint64_t mine_ = 0;
};

std::uint64_t ElapsedUs(std::uint64_t t0) {
  return (detail::os::NowMonotonicNs() - t0) / 1000;
}

}  // namespace

BackupResult Store::backup(const std::string& path) {
  Impl& im = impl();
  detail::Segment* seg = im.segment();
  if (path.empty()) detail::Throw(errc::invalid_argument, "backup path is empty");
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

RestoreResult Store::restore(const std::string& path, const RestoreOptions& options) {
  Impl& im = impl();
  im.CheckWritable();
  detail::Segment* seg = im.segment();
  const detail::SegmentHeader* h = seg->header();
  if (path.empty()) detail::Throw(errc::invalid_argument, "restore path is empty");
  BackupLease lease(seg, "restore");
  const std::string file = detail::fileio::AbsolutePath(path);
  detail::SnapshotFile snap(file);  // not_found, corrupted, incompatible_layout
  if (options.max_entries && snap.header().entry_count > options.max_entries)
    detail::Throw(errc::limit_exceeded,
                  file + " holds " + std::to_string(snap.header().entry_count) +
                      " entries; max_entries is " + std::to_string(options.max_entries));
  // Validate and group by this segment's shards.
  const std::uint64_t now = detail::os::NowUnixMs();
  const auto& entries = snap.entries();
  std::vector<std::uint64_t> order;  // shard << 40 | index
  order.reserve(entries.size());
  RestoreResult result;
  const std::uint32_t shards = h->shard_count;
  std::vector<std::uint64_t> per_shard(shards, 0);
  std::vector<std::uint64_t> class_blocks(std::uint64_t(shards) * detail::kNumClasses, 0);
  std::uint64_t span_chunks = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const detail::SnapshotEntry& e = entries[i];
    if (e.expires_ms != 0 && e.expires_ms <= now) continue;
    if (e.key.size() > h->max_key_bytes)
      detail::Throw(errc::key_too_long, file + ": entry " + std::to_string(i) + " has a " +
                                            std::to_string(e.key.size()) +
                                            "-byte key; max_key_bytes is " +
                                            std::to_string(h->max_key_bytes));
    if (e.value.size() > h->max_value_bytes)
      detail::Throw(errc::value_too_large, file + ": entry " + std::to_string(i) + " has a " +
                                               std::to_string(e.value.size()) +
                                               "-byte value; max_value_bytes is " +
                                               std::to_string(h->max_value_bytes));
    result.bytes += e.key.size() + e.value.size();
    std::uint32_t s = detail::ShardOf(h, detail::HashKey(h, e.key));
    ++per_shard[s];
    std::uint64_t rec = detail::kRecordHeaderBytes + e.key.size() + e.value.size();
    int cls = detail::SizeClassFor(rec);
    if (cls < 0)
      span_chunks += (rec + detail::kChunkBytes - 1) / detail::kChunkBytes;
    else
      ++class_blocks[std::uint64_t(s) * detail::kNumClasses + static_cast<std::uint32_t>(cls)];
    order.push_back(std::uint64_t(s) << 40 | i);
  }
  result.entries = order.size();
  if (options.max_bytes && result.bytes > options.max_bytes)
    detail::Throw(errc::limit_exceeded, file + " holds " + std::to_string(result.bytes) +
                                            " bytes of keys and values; max_bytes is " +
                                            std::to_string(options.max_bytes));
  // Will it fit? Table load per shard, and arena chunks (every shard is emptied first).
  std::uint64_t chunks = span_chunks;
  for (std::uint32_t s = 0; s < shards; ++s) {
    if (per_shard[s] * 100 > h->slots_per_shard * detail::kMaxLoadPercent)
      detail::Throw(errc::store_full,
                    "restoring " + file + " would put " + std::to_string(per_shard[s]) +
                        " keys in shard " + std::to_string(s) + " of segment '" + seg->name() +
                        "', whose table holds " +
                        std::to_string(h->slots_per_shard * detail::kMaxLoadPercent / 100) +
                        "; create the segment with a larger max_keys");
    for (std::uint32_t c = 0; c < detail::kNumClasses; ++c) {
      std::uint64_t n = class_blocks[std::uint64_t(s) * detail::kNumClasses + c];
      if (n)
        chunks +=
            (n + detail::BlocksPerSlab(c) - 1) / detail::BlocksPerSlab(c) * detail::SlabChunks(c);
    }
  }
  if (chunks > h->chunk_count)
    detail::Throw(errc::store_full, "restoring " + file + " needs about " + std::to_string(chunks) +
                                        " arena chunks of 4 KiB; segment '" + seg->name() +
                                        "' has " + std::to_string(h->chunk_count));
  std::sort(order.begin(), order.end());
  // Apply, shard by shard. Journal: a clear of the shard, then its new entries.
  std::size_t i = 0;
  for (std::uint32_t s = 0; s < shards; ++s) {
    lease.Renew();
    std::uint64_t ticket = 0;
    {
      ShardLock lock(seg, s);
      Shard& shard = lock.shard();
      WriteScope write(shard);
      shard.header()->deletes += shard.count();
      shard.Clear();
      if (im.persist) ticket = im.persist->LogClearShard(s);
      for (; i < order.size() && (order[i] >> 40) == s; ++i) {
        const detail::SnapshotEntry& e = entries[order[i] & ((1ull << 40) - 1)];
        detail::KeyHash kh{detail::HashKey(h, e.key)};
        shard.Put(e.key, kh, e.value, e.expires_ms);
        ++shard.header()->sets;
        if (im.persist) ticket = im.persist->LogSet(e.key, e.value, e.expires_ms);
      }
    }
    if (ticket) im.persist->Commit(ticket, true);
  }
  return result;
}

RecoveryReport Store::recovery_report() {
  Impl& im = impl();
  im.segment();
  return im.recovery;
}

void Store::sync() {
  Impl& im = impl();
  im.segment();
  if (im.persist) im.persist->Sync();
}

BackupResult Store::snapshot() {
  Impl& im = impl();
  detail::Segment* seg = im.segment();
  if (!im.persist)
    detail::Throw(errc::invalid_argument,
                  "store '" + seg->name() +
                      (seg->header()->persist_enabled ? "' was opened read-only"
                                                      : "' has no persistence directory") +
                      "; use backup(path) for a snapshot file");
  return im.persist->SnapshotNow();
}

}  // namespace shmkv
