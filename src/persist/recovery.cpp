// recovery.cpp: opening a persistent store: the directory's identity (STORE), trust checks,
// and recovery (newest verifying snapshot + journal records after it, gap and identity checks).
//
// Invariants (see docs/design.md "Recovery"):
// - Recovery runs only while building an unpublished segment (Segment::Open's BeforePublish),
//   under flock(<dir>/LOCK): exactly one opener recovers, the others wait and then attach.
// - It only reads the files (it renames a damaged snapshot to *.corrupt once an older one has
//   loaded, and writes STORE when adopting a directory), so a recoverer killed midway is redone.
// - It refuses rather than guesses: a gap in the history (STORE retired_below above the
//   snapshot it can load), another store's directory or journal, an untrusted file, a clear
//   record whose epoch nobody confirms.
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <string_view>
#include <unordered_map>

#include "os/crashpoint.hpp"
#include "os/file_io.hpp"
#include "os/os.hpp"
#include "os/throw.hpp"
#include "persist/lease.hpp"
#include "persist/persistence.hpp"
#include "persist/snapshot.hpp"
#include "shm/ordered_index.hpp"
#include "shm/segment.hpp"
#include "shm/shard.hpp"

namespace shmkv::detail {
namespace {

constexpr std::uint64_t kRecoveryLockWaitMs = 30 * 60 * 1000;

// The shard a key had in the segment with this seed and shard count (HashKey + ShardOf).
std::uint32_t EpochShard(std::string_view key, std::uint64_t seed, std::uint32_t shard_count) {
  std::uint64_t h = XXH3_64bits_withSeed(key.data(), key.size(), seed);
  int bits = std::countr_zero(shard_count);
  return bits == 0 ? 0 : static_cast<std::uint32_t>(h >> (64 - bits));
}

bool Expired(std::uint64_t expires_ms, std::uint64_t now_ms) {
  return expires_ms != 0 && expires_ms <= now_ms;
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace

// --- directory identity ---

bool ReadDirIdentity(const std::string& dir, DirIdentity* out,
                     const std::optional<std::uint32_t>& trusted_group) {
  const std::string path = dir + "/" + kIdentityFile;
  int fd;
  try {
    fd = fileio::OpenReadTrusted(path, trusted_group);
  } catch (const Error& e) {
    if (e.code_value() == errc::not_found) return false;
    throw;
  }
  std::string text(4096, '\0');
  std::size_t got = 0;
  try {
    got = fileio::PreadSome(fd, text.data(), text.size(), 0, path);
  } catch (...) {
    fileio::Close(fd);
    throw;
  }
  fileio::Close(fd);
  text.resize(got);
  DirIdentity id;
  bool magic = false, have_name = false, have_id = false;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    const std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    auto sp = line.find(' ');
    const std::string k = line.substr(0, sp),
                      v = sp == std::string::npos ? "" : line.substr(sp + 1);
    if (k == "shmkv-directory" && v == "1") {
      magic = true;
    } else if (k == "name") {
      id.name = v;
      have_name = !v.empty();
    } else if (k == "id") {
      id.id = std::strtoull(v.c_str(), nullptr, 16);
      have_id = id.id != 0;
    } else if (k == "retired_below") {
      id.retired_below = std::strtoull(v.c_str(), nullptr, 10);
    }
  }
  if (!magic || !have_name || !have_id)
    Throw(errc::corrupted, path +
                               ": not a shmkv directory identity file (expected the lines "
                               "'shmkv-directory 1', 'name <store>', 'id <hex>') at offset 0");
  *out = id;
  return true;
}

void WriteDirIdentity(const std::string& dir, const DirIdentity& id,
                      const std::optional<std::uint32_t>& trusted_group) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(id.id));
  const std::string text = "shmkv-directory 1\nname " + id.name + "\nid " + hex +
                           "\nretired_below " + std::to_string(id.retired_below) + "\n";
  static std::atomic<std::uint64_t> counter{0};
  const std::string path = dir + "/" + kIdentityFile;
  const std::string tmp =
      path + ".tmp-" + std::to_string(os::Pid()) + "-" + std::to_string(counter.fetch_add(1));
  const std::uint32_t mode = trusted_group ? 0640 : 0600;
  int fd = fileio::CreateNew(tmp, mode);
  try {
    if (trusted_group) os::SetGroup(fd, tmp, *trusted_group);
    fileio::WriteAll(fd, text.data(), text.size(), tmp);
    fileio::DataSync(fd, tmp);
    fileio::Close(fd);
    fd = -1;
    SHMKV_CRASH_POINT("identity.written");  // leaves STORE.tmp-<pid>-<n>: removed later
    fileio::Rename(tmp, path);
    SHMKV_CRASH_POINT("identity.renamed");
    fileio::SyncDir(dir);
  } catch (...) {
    fileio::Close(fd);
    fileio::Unlink(tmp);
    throw;
  }
}

// --- recovery ---

namespace {

// Loads entries into the segment, grouped by shard (one lock per shard). Expired ones are
// skipped. Returns how many were written.
std::uint64_t BulkLoad(Segment& seg, const std::vector<SnapshotEntry>& entries,
                       std::uint64_t now_ms) {
  const Geometry& g = seg.geo();
  std::vector<std::uint64_t> order;  // shard << 40 | index
  order.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (Expired(entries[i].expires_ms, now_ms)) continue;
    std::uint64_t shard = ShardOf(g, HashKey(g.hash_seed, entries[i].key));
    order.push_back(shard << 40 | i);
  }
  std::sort(order.begin(), order.end());
  std::size_t i = 0;
  while (i < order.size()) {
    const std::uint32_t s = static_cast<std::uint32_t>(order[i] >> 40);
    ShardLock lock(&seg, s);
    Shard& shard = lock.shard();
    WriteScope write(shard);
    for (; i < order.size() && (order[i] >> 40) == s; ++i) {
      const SnapshotEntry& e = entries[order[i] & ((1ull << 40) - 1)];
      shard.Put(e.key, KeyHash{HashKey(g.hash_seed, e.key)}, e.value, e.expires_ms);
    }
  }
  return order.size();
}

struct ReplayRecord {
  JournalRecord rec;
  std::uint32_t file;
};

// The persistence settings the creator records in the segment header (see "Who journals").
void RecordConfig(SegmentHeader* h, const Persistence::Config& cfg) {
  h->persist_enabled = 1;
  h->persist_fsync = static_cast<std::uint32_t>(cfg.policy);
  h->persist_fsync_interval_ms = cfg.fsync_interval_ms;
  h->persist_snapshot_interval_ms = cfg.snapshot_interval_ms;
  h->persist_keep_snapshots = cfg.keep_snapshots;
  std::snprintf(h->persist_dir, sizeof h->persist_dir, "%s", cfg.dir.c_str());
}

void Recover(Segment& seg, const Persistence::Config& cfg, const DirIdentity& ident,
             RecoveryReport* rep) {
  const std::uint64_t t0 = os::NowMonotonicNs();
  SegmentHeader* h = seg.header();
  RecordConfig(h, cfg);
  std::vector<std::string> notes = std::move(rep->notes);
  *rep = RecoveryReport{};
  rep->performed = true;
  rep->directory = cfg.dir;
  rep->notes = std::move(notes);
  const std::uint64_t now = os::NowUnixMs();
  // The entries go in without the ordered index, which is then built once from the records
  // (a sort and a bottom-up build instead of a descent per entry).
  OrderedIndex index(&seg);
  index.MarkStale();

  std::vector<std::string> names = fileio::ListDir(cfg.dir);
  std::sort(names.begin(), names.end());
  std::vector<std::uint64_t> snap_seqs;
  for (const auto& n : names) {
    std::uint64_t seq;
    if (ParseSnapshotName(n, &seq)) snap_seqs.push_back(seq);
  }
  std::sort(snap_seqs.rbegin(), snap_seqs.rend());

  // 1. The newest snapshot that verifies.
  std::unique_ptr<SnapshotFile> snap;
  for (std::uint64_t seq : snap_seqs) {
    const std::string path = cfg.dir + "/" + SnapshotFileName(seq);
    try {
      snap = std::make_unique<SnapshotFile>(path, cfg.trusted_group);
      break;
    } catch (const Error& e) {
      if (e.code_value() != errc::corrupted) throw;  // newer format, I/O: refuse to guess
      rep->rejected_snapshots.push_back(e.what());
    }
  }
  if (!snap_seqs.empty() && !snap)
    Throw(errc::corrupted, "no snapshot in " + cfg.dir + " verifies (" +
                               Join(rep->rejected_snapshots, "; ") +
                               "); refusing to start without it (move the damaged files away "
                               "to recover from the journals alone)");
  // Set the damaged newer snapshots aside (kept as evidence, no longer counted by retention:
  // the next snapshots must not rotate the good one out in their favour).
  for (std::uint64_t seq : snap_seqs) {
    if (seq <= snap->header().seq) break;
    const std::string path = cfg.dir + "/" + SnapshotFileName(seq);
    try {
      fileio::Rename(path, path + ".corrupt");
      rep->notes.push_back("set aside " + path + " as " + path + ".corrupt (it did not verify)");
    } catch (const Error& e) {
      rep->notes.push_back("could not set aside " + path + ": " + e.what());
    }
  }
  // Gap: history below ident.retired_below survives only in snapshots (its journals were
  // retired once a retained snapshot covered it). Starting from an older snapshot, or from the
  // journals alone, would silently lose that range.
  if (ident.retired_below > 0 && (!snap || snap->header().seq < ident.retired_below)) {
    const std::string from =
        snap ? "snapshot " + snap->path() + " (seq " + std::to_string(snap->header().seq) + ")"
             : std::string("no snapshot (the history starts at seq 1)");
    Throw(errc::corrupted, "gap in the history of " + cfg.dir + ": journals below seq " +
                               std::to_string(ident.retired_below) +
                               " were retired once a snapshot covered them (" + kIdentityFile +
                               " retired_below), but recovery can start only from " + from +
                               "; seqs " + std::to_string(snap ? snap->header().seq : 1) + ".." +
                               std::to_string(ident.retired_below - 1) +
                               " are in no file. Put the snapshots back (or move " + kIdentityFile +
                               " away to accept the loss)" +
                               (rep->rejected_snapshots.empty()
                                    ? std::string()
                                    : "; rejected: " + Join(rep->rejected_snapshots, "; ")));
  }
  if (snap && ident.id != 0 && snap->header().store_id != 0 &&
      static_cast<std::uint32_t>(snap->header().store_id) != static_cast<std::uint32_t>(ident.id))
    Throw(errc::corrupted, snap->path() + ": snapshot of another store (store_id " +
                               std::to_string(snap->header().store_id) + " in its header; " +
                               cfg.dir + " belongs to store '" + ident.name + "')");
  std::uint64_t max_seq = 0;
  std::uint64_t max_watermark = 0;
  if (snap) {
    for (const auto& e : snap->entries())
      CheckEntryLimits(seg.geo(), e.key, e.value, [&] { return snap->path() + " entry"; });
    rep->snapshot = snap->path();
    rep->snapshot_seq = snap->header().seq;
    rep->snapshot_entries = BulkLoad(seg, snap->entries(), now);
    for (std::uint64_t w : snap->watermarks()) max_watermark = std::max(max_watermark, w);
    max_seq = std::max(max_seq, snap->header().seq);
  }
  SHMKV_CRASH_POINT("recovery.snapshot_loaded");

  // 2. Every journal's valid prefix.
  std::vector<std::unique_ptr<fileio::MappedFile>> files;
  std::vector<JournalFileHeader> file_headers;
  std::vector<bool> header_trusted;
  std::vector<ReplayRecord> records;
  std::string first_unreadable;
  bool any_record = false;
  for (const auto& n : names) {
    JournalName jn;
    if (!ParseJournalName(n, &jn)) continue;
    const std::string path = cfg.dir + "/" + n;
    auto f = std::make_unique<fileio::MappedFile>(path, cfg.trusted_group);
    const std::uint32_t idx = static_cast<std::uint32_t>(files.size());
    JournalScan scan = ScanJournal(f->view(), path, [&](const JournalRecord& r, std::uint64_t) {
      records.push_back({r, idx});
    });
    ++rep->journal_files;
    if (ident.id != 0 && scan.header_trusted && scan.header.store_id != 0 &&
        scan.header.store_id != static_cast<std::uint32_t>(ident.id))
      Throw(errc::corrupted, path + ": journal of another store (store id " +
                                 std::to_string(scan.header.store_id) + " at offset 56; " +
                                 cfg.dir + " belongs to store '" + ident.name + "')");
    for (auto& sk : scan.skipped) rep->skipped.push_back(std::move(sk));
    rep->skipped_bytes += scan.skipped_bytes;
    if (scan.valid_bytes < scan.file_bytes) {
      std::uint64_t cut = scan.file_bytes - scan.valid_bytes;
      rep->truncated.push_back(path + ": cut at offset " + std::to_string(scan.valid_bytes) + " (" +
                               std::to_string(cut) + " bytes): " + scan.cut_reason +
                               (scan.cut_nonzero ? "" : " (zeros: torn append)"));
      rep->truncated_bytes += cut;
      if (scan.records == 0 && scan.cut_nonzero && first_unreadable.empty())
        first_unreadable =
            path + " at offset " + std::to_string(scan.valid_bytes) + ": " + scan.cut_reason;
    }
    any_record = any_record || scan.records > 0;
    files.push_back(std::move(f));
    file_headers.push_back(scan.header);
    header_trusted.push_back(scan.header_trusted);
  }
  // A damaged header loses only the epoch its clear records are read in. Take it from the
  // header anyway when another trusted header or the snapshot vouches for that epoch; otherwise
  // the epoch is unknown, and its clear runs are replayed only where the epoch cannot matter
  // (see below).
  std::vector<bool> epoch_unknown(files.size(), false);
  for (std::size_t f = 0; f < files.size(); ++f) {
    if (header_trusted[f]) continue;
    const JournalFileHeader& fh = file_headers[f];
    bool vouched = snap && snap->header().hash_seed == fh.epoch &&
                   snap->header().shard_count == fh.shard_count;
    for (std::size_t k = 0; k < files.size() && !vouched; ++k)
      vouched = header_trusted[k] && file_headers[k].epoch == fh.epoch &&
                file_headers[k].shard_count == fh.shard_count;
    epoch_unknown[f] = !vouched || fh.shard_count == 0 || !std::has_single_bit(fh.shard_count);
  }
  if (!snap && !any_record && !first_unreadable.empty())
    Throw(errc::corrupted, "nothing valid to recover in " + cfg.dir + ": " + first_unreadable);

  // 3. Replay in sequence order what the snapshot does not hold.
  std::sort(records.begin(), records.end(),
            [](const ReplayRecord& a, const ReplayRecord& b) { return a.rec.seq < b.rec.seq; });
  // Only a key's last set or delete decides its state (clears in between only remove it): the
  // earlier ones are not replayed. Besides saving work, this keeps a write that failed with
  // store_full after its record was logged (its compensating after-image comes later, see
  // Persistence::Compensate) from failing the replay the same way.
  std::unordered_map<std::string_view, std::size_t> last_of_key;
  last_of_key.reserve(records.size());
  for (std::size_t k = 0; k < records.size(); ++k)
    if (records[k].rec.op != JournalOp::clear_shard) last_of_key[records[k].rec.key] = k;
  const SnapshotHeader* sh = snap ? &snap->header() : nullptr;
  auto covered = [&](const ReplayRecord& r) {
    if (!sh) return false;
    if (r.rec.seq < sh->seq) return true;
    if (r.rec.seq >= max_watermark) return false;
    // Between the snapshot's start and its last shard: per-shard watermark, in the snapshot's
    // epoch (records in this range were necessarily written to that same segment).
    std::uint32_t s = r.rec.op == JournalOp::clear_shard
                          ? r.rec.shard
                          : EpochShard(r.rec.key, sh->hash_seed, sh->shard_count);
    return s < snap->watermarks().size() && r.rec.seq < snap->watermarks()[s];
  };
  for (std::size_t i = 0; i < records.size();) {
    const ReplayRecord& r = records[i];
    max_seq = std::max(max_seq, r.rec.seq + 1);
    if (covered(r)) {
      ++rep->records_skipped;
      ++i;
      continue;
    }
    if (r.rec.op == JournalOp::clear_shard) {
      // A run of clears of one epoch: one pass over the store. The epoch is the record's own
      // (current format) or its file header's.
      auto epoch_of = [&](const ReplayRecord& x) {
        return x.rec.has_epoch
                   ? JournalFileHeader{.epoch = x.rec.epoch, .shard_count = x.rec.shard_count}
                   : file_headers[x.file];
      };
      const JournalFileHeader fh = epoch_of(r);
      const bool unknown = !r.rec.has_epoch && epoch_unknown[r.file];
      std::vector<bool> cleared(std::max<std::uint32_t>(fh.shard_count, 1), false);
      std::size_t j = i;
      for (; j < records.size() && records[j].rec.op == JournalOp::clear_shard &&
             epoch_of(records[j]).epoch == fh.epoch &&
             epoch_of(records[j]).shard_count == fh.shard_count &&
             (!records[j].rec.has_epoch && epoch_unknown[records[j].file]) == unknown;
           ++j) {
        max_seq = std::max(max_seq, records[j].rec.seq + 1);
        if (covered(records[j])) {
          ++rep->records_skipped;
          continue;
        }
        if (records[j].rec.shard < cleared.size()) cleared[records[j].rec.shard] = true;
        ++rep->records_applied;
      }
      bool all = false;  // the run clears every shard of its epoch: the seed does not matter
      if (unknown) {
        std::uint64_t live = 0;
        for (std::uint32_t s = 0; s < seg.geo().shard_count; ++s)
          live += seg.shard(s)->count.load();
        all = std::find(cleared.begin(), cleared.end(), false) == cleared.end();
        if (live != 0 && !all)
          Throw(errc::corrupted, files[r.file]->path() +
                                     ": header damaged and the file clears some shards (from seq " +
                                     std::to_string(r.rec.seq) +
                                     ") of an epoch no other file confirms, over keys that "
                                     "exist; refusing to guess which keys it cleared");
      }
      for (std::uint32_t s = 0; s < seg.geo().shard_count; ++s) {
        ShardLock lock(&seg, s);
        Shard& shard = lock.shard();
        WriteScope write(shard);
        for (std::uint64_t k = shard.count(); k-- > 0;) {
          if (k >= shard.count()) continue;
          const RecordRef rec = shard.LiveAt(k);
          std::uint32_t es =
              EpochShard(rec.key(), fh.epoch, std::max<std::uint32_t>(fh.shard_count, 1));
          if (all || (es < cleared.size() && cleared[es])) shard.Erase(shard.SlotOf(rec), rec);
        }
      }
      i = j;
      continue;
    }
    if (last_of_key[r.rec.key] != i) {  // superseded by a later record of the same key
      ++rep->records_applied;
      ++i;
      continue;
    }
    const std::uint64_t hash = HashKey(seg.geo().hash_seed, r.rec.key);
    ShardLock lock(&seg, ShardOf(seg.geo(), hash));
    Shard& shard = lock.shard();
    WriteScope write(shard);
    if (r.rec.op == JournalOp::set && !Expired(r.rec.expires_ms, now)) {
      CheckEntryLimits(seg.geo(), r.rec.key, r.rec.value, [&] {
        return files[r.file]->path() + " record seq " + std::to_string(r.rec.seq);
      });
      shard.Put(r.rec.key, KeyHash{hash}, r.rec.value, r.rec.expires_ms);
    } else {
      shard.EraseKey(r.rec.key, KeyHash{hash});
    }
    ++rep->records_applied;
    ++i;
  }
  SHMKV_CRASH_POINT("recovery.replayed");

  // 4. Sequence numbers continue above everything seen, snapshot names included (so a new
  // snapshot never sorts below a rejected one).
  std::uint64_t next = std::max<std::uint64_t>({max_seq, max_watermark, 1});
  for (std::uint64_t s : snap_seqs) next = std::max(next, s + 1);
  h->journal_seq.store(next, std::memory_order_relaxed);
  h->last_snapshot_seq.store(snap ? snap->header().seq : 0, std::memory_order_relaxed);
  h->snapshot_due_ms.store(MonotonicMs() + cfg.snapshot_interval_ms, std::memory_order_relaxed);
  index.Rebuild();  // nobody else sees the segment yet; no room: ordered reads rebuild it later
  std::uint64_t entries = 0;
  for (std::uint32_t s = 0; s < seg.geo().shard_count; ++s) entries += seg.shard(s)->count.load();
  rep->entries = entries;
  rep->next_seq = next;
  rep->duration = std::chrono::microseconds((os::NowMonotonicNs() - t0) / 1000);
}

void InitFresh(Segment& seg, const Persistence::Config& cfg) {
  SegmentHeader* h = seg.header();
  RecordConfig(h, cfg);
  h->journal_seq.store(1, std::memory_order_relaxed);
  h->snapshot_due_ms.store(MonotonicMs() + cfg.snapshot_interval_ms, std::memory_order_relaxed);
}

}  // namespace

std::unique_ptr<Segment> OpenPersistentSegment(const Options& options, RecoveryReport* rep) {
  const PersistenceOptions& po = *options.persistence;
  if (po.directory.empty()) Throw(errc::invalid_argument, "persistence.directory is empty");
  if (po.snapshot_interval.count() <= 0 || po.fsync_interval.count() <= 0)
    Throw(errc::invalid_argument, "persistence intervals must be positive (snapshot_interval " +
                                      std::to_string(po.snapshot_interval.count()) +
                                      " ms, fsync_interval " +
                                      std::to_string(po.fsync_interval.count()) + " ms)");
  if (po.keep_snapshots < 1)
    Throw(errc::invalid_argument, "persistence.keep_snapshots must be at least 1");
  Persistence::Config cfg;
  cfg.dir = fileio::AbsolutePath(po.directory);
  if (cfg.dir.size() >= sizeof(SegmentHeader::persist_dir))
    Throw(errc::invalid_argument, "persistence directory path is " +
                                      std::to_string(cfg.dir.size()) + " bytes; at most " +
                                      std::to_string(sizeof(SegmentHeader::persist_dir) - 1));
  cfg.policy = po.fsync;
  cfg.fsync_interval_ms = static_cast<std::uint64_t>(po.fsync_interval.count());
  cfg.snapshot_interval_ms = static_cast<std::uint64_t>(po.snapshot_interval.count());
  cfg.keep_snapshots = po.keep_snapshots;
  cfg.store_name = options.name;
  cfg.trusted_group = options.trusted_group;
  if (options.open_mode == OpenMode::attach_only || options.open_mode == OpenMode::read_only)
    return Segment::Open(options);
  // A store shared with a group keeps its files in a directory of that group (group members
  // write their own journals and snapshots there); otherwise only this user may write it.
  fileio::MakeDirs(cfg.dir, cfg.trusted_group ? 0770 : 0700, cfg.trusted_group);
  fileio::CheckTrustedDir(cfg.dir, cfg.trusted_group);
  if (options.open_mode == OpenMode::create_or_attach) {
    Options a = options;
    a.open_mode = OpenMode::attach_only;
    try {
      return Segment::Open(a);
    } catch (const Error& e) {
      if (e.code_value() != errc::not_found) throw;
    }
  }
  // The segment must be created: from the directory's content, by exactly one opener.
  fileio::DirLock lock(cfg.dir + "/LOCK", kRecoveryLockWaitMs, cfg.trusted_group);
  bool has_files = false;
  for (const auto& n : fileio::ListDir(cfg.dir)) {
    JournalName jn;
    std::uint64_t seq;
    if (ParseJournalName(n, &jn) || ParseSnapshotName(n, &seq)) has_files = true;
  }
  // One store per directory: the directory names its store. A directory written before
  // identities existed (files, no STORE) is adopted by the first store that recovers from it.
  DirIdentity ident;
  *rep = RecoveryReport{};
  if (ReadDirIdentity(cfg.dir, &ident, cfg.trusted_group)) {
    if (ident.name != options.name) {
      char hex[17];
      std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(ident.id));
      Throw(errc::invalid_argument, "directory " + cfg.dir + " belongs to store '" + ident.name +
                                        "' (id " + hex + ", " + cfg.dir + "/" + kIdentityFile +
                                        "), not to store '" + options.name +
                                        "'; give each store its own directory");
    }
  } else {
    ident.name = options.name;
    ident.id = os::RandomSeed() | 1;
    // STORE lost but journals stamped with an identity (files copied or the file deleted):
    // keep their id, so they stay this store's.
    for (const auto& n : fileio::ListDir(cfg.dir)) {
      std::uint64_t snap_seq;
      if (ParseSnapshotName(n, &snap_seq)) {
        try {
          fileio::MappedFile f(cfg.dir + "/" + n, cfg.trusted_group);
          const SnapshotHeader sh = ReadSnapshotHeader(f.view(), f.path());
          if (sh.store_id != 0) {
            ident.id = sh.store_id;
            break;
          }
        } catch (const std::exception&) {
        }
        continue;
      }
      JournalName jn;
      if (!ParseJournalName(n, &jn)) continue;
      try {
        fileio::MappedFile f(cfg.dir + "/" + n, cfg.trusted_group);
        if (f.size() < kJournalHeaderBytes) continue;
        JournalScan head = ScanJournal(f.view().substr(0, kJournalHeaderBytes), f.path(), nullptr);
        if (head.header_trusted && head.header.store_id != 0) {
          ident.id = (ident.id & ~0xffffffffull) | head.header.store_id;
          break;
        }
      } catch (const std::exception&) {
      }
    }
    WriteDirIdentity(cfg.dir, ident, cfg.trusted_group);
    if (has_files)
      rep->notes.push_back("adopted " + cfg.dir + " for store '" + options.name +
                           "': its files were written by a version without directory "
                           "identities (" +
                           kIdentityFile +
                           " written now); a gap from "
                           "snapshots deleted before this run cannot be detected");
  }
  // A directory whose history was retired into snapshots is never "empty": with no file left,
  // Recover raises the gap.
  if (ident.retired_below > 0) has_files = true;
  return Segment::Open(options, [&](Segment& seg) {
    if (has_files) {
      Recover(seg, cfg, ident, rep);
    } else {
      InitFresh(seg, cfg);
      rep->performed = true;
      rep->directory = cfg.dir;
      rep->next_seq = 1;
    }
  });
}

}  // namespace shmkv::detail
