// persistence.cpp: journaling hooks, the background thread, snapshot election and retention,
// recovery, and Store::backup / restore / sync / snapshot / recovery_report.
//
// Invariants (see persistence.hpp and docs/design.md "Persistence"):
// - Sequence numbers come from SegmentHeader::journal_seq, taken under the key's shard lock
//   after the mutation is applied; a snapshot block's watermark is journal_seq read under the
//   same lock. So for every shard, records below the watermark are in the block and records at
//   or above it are not, whatever the other shards were doing.
// - Recovery runs only while building an unpublished segment (Segment::Open's BeforePublish),
//   under flock(<dir>/LOCK): exactly one opener recovers, the others wait and then attach.
//   Recovery only reads the files (it renames a damaged snapshot to *.corrupt once an older one
//   has loaded), so a recoverer killed midway is simply redone.
// - Journals are deleted only when every record in them is below the start sequence number of
//   the oldest retained snapshot; snapshots beyond the retention count are deleted only after a
//   newer one is durable (rename + directory fsync).
#include "persistence.hpp"

#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "allocator.hpp"
#include "crashpoint.hpp"
#include "file_io.hpp"
#include "os.hpp"
#include "segment.hpp"
#include "shard.hpp"
#include "snapshot.hpp"
#include "store_impl.hpp"
#include "throw.hpp"

namespace shmkv::detail {
namespace {

constexpr std::uint64_t kRecoveryLockWaitMs = 30 * 60 * 1000;
constexpr std::size_t kMaxBufferedBytes = 64u << 20;  // writers wait for the disk beyond this
constexpr std::size_t kInlineWriteBytes = 4u << 20;   // writers write() themselves beyond this

std::atomic<std::uint64_t> g_fork_gen{0};
std::once_flag g_atfork_once;

void OnForkChild() {
  g_fork_gen.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t CoarseMonotonicMs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000 +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000000;
}

// The shard a key had in the segment with this seed and shard count (HashKey + ShardOf).
std::uint32_t EpochShard(std::string_view key, std::uint64_t seed, std::uint32_t shard_count) {
  std::uint64_t h = XXH3_64bits_withSeed(key.data(), key.size(), seed);
  int bits = std::countr_zero(shard_count);
  return bits == 0 ? 0 : static_cast<std::uint32_t>(h >> (64 - bits));
}

bool Expired(std::uint64_t expires_ms, std::uint64_t now_ms) {
  return expires_ms != 0 && expires_ms <= now_ms;
}

// Writes key = value in a locked shard (insert or replace).
void PutLocked(Shard& shard, std::string_view key, KeyHash h, std::string_view value,
               std::uint64_t expires_ms) {
  shard.Put(key, h, value, expires_ms);
}

void EraseLocked(Shard& shard, std::string_view key, KeyHash h) {
  shard.EraseKey(key, h);
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string LeaseHolder(std::uint64_t word) {
  return word == 0 ? "nobody" : "pid " + std::to_string(word >> 32);
}

}  // namespace

std::uint64_t MonotonicMs() {
  return os::NowMonotonicNs() / 1000000;
}

bool ClaimLease(std::atomic<std::uint64_t>* word, std::uint64_t seconds, std::uint64_t* mine) {
  const std::uint64_t now_s = MonotonicMs() / 1000;
  std::uint64_t cur = word->load(std::memory_order_acquire);
  if (cur != 0) {
    pid_t pid = static_cast<pid_t>(cur >> 32);
    std::uint64_t deadline = cur & 0xffffffffull;
    if (now_s < deadline && os::ProcessAlive(pid, 0)) return false;
  }
  std::uint64_t want =
      (static_cast<std::uint64_t>(::getpid()) << 32) | ((now_s + seconds) & 0xffffffffull);
  if (!word->compare_exchange_strong(cur, want, std::memory_order_acq_rel)) return false;
  *mine = want;
  return true;
}

bool RenewLease(std::atomic<std::uint64_t>* word, std::uint64_t seconds, std::uint64_t* mine) {
  std::uint64_t want = (static_cast<std::uint64_t>(::getpid()) << 32) |
                       ((MonotonicMs() / 1000 + seconds) & 0xffffffffull);
  std::uint64_t cur = *mine;
  if (cur == want) return true;
  if (!word->compare_exchange_strong(cur, want, std::memory_order_acq_rel)) return false;
  *mine = want;
  return true;
}

void ReleaseLease(std::atomic<std::uint64_t>* word, std::uint64_t mine) {
  word->compare_exchange_strong(mine, 0, std::memory_order_acq_rel);
}

// --- Persistence ---

struct Persistence::State {
  State(const std::string& dir, const JournalFileHeader& proto, FsyncPolicy policy)
      : writer(dir, proto, policy) {}
  JournalWriter writer;

  std::mutex mu;  // guards the plain fields below and the thread objects
  std::condition_variable cv;
  std::thread thread;
  std::atomic<bool> started{false};
  std::atomic<bool> write_wanted{false};  // a writer asks the thread to write the buffer
  bool stop = false;
  bool snapshot_wanted = false;  // a writer saw the snapshot due
  bool force_snapshot = false;   // RequestSnapshot()
  std::thread snapshotter;
  std::atomic<bool> snapshot_running{false};
  std::atomic<bool> cancel{false};
  std::uint64_t seen_gen = 0;  // snapshot_gen this handle's journal was last rotated at
  std::atomic<std::uint64_t> next_poke_ms{0};
  std::string last_snapshot_error;
};

Persistence::Persistence(Segment* seg, Config config)
    : seg_(seg), hdr_(seg->header()), cfg_(std::move(config)) {
  std::call_once(g_atfork_once, [] { ::pthread_atfork(nullptr, nullptr, OnForkChild); });
  StartState();
}

void Persistence::StartState() {
  fork_gen_ = g_fork_gen.load(std::memory_order_relaxed);
  JournalFileHeader proto;
  proto.epoch = hdr_->hash_seed;
  proto.shard_count = hdr_->shard_count;
  proto.pid = static_cast<std::uint32_t>(::getpid());
  proto.start_time = os::ProcessStartTime(::getpid());
  st_ = std::make_unique<State>(cfg_.dir, proto, cfg_.policy);
  st_->seen_gen = hdr_->snapshot_gen.load(std::memory_order_acquire);
}

Persistence::~Persistence() {
  if (fork_gen_ != g_fork_gen.load(std::memory_order_relaxed)) {
    // A forked child holding the parent's handle: the threads and the file are the parent's.
    (void)st_.release();
    return;
  }
  State& st = *st_;
  {
    std::lock_guard<std::mutex> lk(st.mu);
    st.stop = true;
  }
  st.cv.notify_all();
  if (st.thread.joinable()) st.thread.join();
  st.cancel.store(true);
  if (st.snapshotter.joinable()) st.snapshotter.join();
  st.writer.Seal();
}

Persistence::State& Persistence::St() {
  if (fork_gen_ != g_fork_gen.load(std::memory_order_relaxed)) {
    // Used in a forked child (unsupported, see store.hpp, but never write into the parent's
    // file): leak the parent's state, whose mutex may be held, and start a journal of our own.
    (void)st_.release();
    StartState();
  }
  return *st_;
}

std::uint64_t Persistence::LogSet(std::string_view key, std::string_view value,
                                  std::uint64_t expires_ms) {
  State& st = St();
  std::uint64_t seq = hdr_->journal_seq.fetch_add(1, std::memory_order_relaxed);
  return st.writer.Append(seq, JournalOp::set, key, value, expires_ms, 0);
}

std::uint64_t Persistence::LogDel(std::string_view key) {
  State& st = St();
  std::uint64_t seq = hdr_->journal_seq.fetch_add(1, std::memory_order_relaxed);
  return st.writer.Append(seq, JournalOp::del, key, {}, 0, 0);
}

std::uint64_t Persistence::LogClearShard(std::uint32_t shard) {
  State& st = St();
  std::uint64_t seq = hdr_->journal_seq.fetch_add(1, std::memory_order_relaxed);
  return st.writer.Append(seq, JournalOp::clear_shard, {}, {}, 0, shard);
}

void Persistence::Commit(std::uint64_t ticket, bool may_throw) {
  State& st = St();
  if (!st.started.load(std::memory_order_acquire)) StartThread(st);
  const std::uint64_t now = CoarseMonotonicMs();
  try {
    if (cfg_.policy == FsyncPolicy::always) {
      st.writer.WaitDurable(ticket);
    } else {
      const std::size_t buffered = st.writer.buffered();
      if (buffered >= kJournalBufferBytes) {
        if (buffered >= kMaxBufferedBytes) {
          st.writer.Flush(false);  // the disk is behind: wait for it rather than grow
        } else if (buffered >= kInlineWriteBytes) {
          st.writer.TryWrite();  // the background thread is behind: write it here
        } else if (!st.write_wanted.exchange(true, std::memory_order_acq_rel)) {
          std::lock_guard<std::mutex> lk(st.mu);  // hand the write to the background thread
          st.cv.notify_one();
        }
      }
      if (cfg_.policy == FsyncPolicy::interval &&
          now * 1000000 >= st.writer.last_sync_ns() + 2 * cfg_.fsync_interval_ms * 1000000 &&
          !st.write_wanted.exchange(true, std::memory_order_acq_rel)) {
        std::lock_guard<std::mutex> lk(st.mu);  // the background thread is late: wake it
        st.cv.notify_one();
      }
    }
  } catch (const Error&) {
    if (may_throw) throw;
  }
  if (now >= hdr_->snapshot_due_ms.load(std::memory_order_relaxed) &&
      now >= st.next_poke_ms.load(std::memory_order_relaxed)) {
    st.next_poke_ms.store(now + 10, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lk(st.mu);
      st.snapshot_wanted = true;
    }
    st.cv.notify_one();
  }
}

void Persistence::Sync() {
  St().writer.Flush(true);
}

void Persistence::RequestSnapshot() {
  State& st = St();
  {
    std::lock_guard<std::mutex> lk(st.mu);
    st.force_snapshot = true;
  }
  StartThread(st);
  st.cv.notify_one();
}

void Persistence::StartThread(State& st) {
  std::lock_guard<std::mutex> lk(st.mu);
  if (st.started.load(std::memory_order_relaxed)) return;
  st.thread = std::thread([this, p = &st] { ThreadMain(p); });
  st.started.store(true, std::memory_order_release);
}

void Persistence::ThreadMain(State* st) {
  std::unique_lock<std::mutex> lk(st->mu);
  while (!st->stop) {
    std::uint64_t wait_ms = 1000;
    if (cfg_.policy == FsyncPolicy::interval) {
      std::uint64_t now = os::NowMonotonicNs();
      std::uint64_t due = st->writer.last_sync_ns() + cfg_.fsync_interval_ms * 1000000;
      wait_ms = due > now ? std::max<std::uint64_t>(1, (due - now) / 1000000) : 1;
      wait_ms = std::min<std::uint64_t>(wait_ms, cfg_.fsync_interval_ms);
    }
    st->cv.wait_for(lk, std::chrono::milliseconds(wait_ms), [&] {
      return st->stop || st->snapshot_wanted || st->force_snapshot || st->write_wanted.load();
    });
    if (st->stop) break;
    lk.unlock();
    Tick(*st);
    lk.lock();
  }
}

void Persistence::Tick(State& st) {
  if (st.write_wanted.exchange(false, std::memory_order_acq_rel)) st.writer.TryWrite();
  if (cfg_.policy == FsyncPolicy::interval &&
      os::NowMonotonicNs() >= st.writer.last_sync_ns() + cfg_.fsync_interval_ms * 1000000 &&
      st.writer.has_unsynced()) {
    try {
      st.writer.Flush(true);
    } catch (const Error&) {
      // Sticky in the writer: Sync() and policy-always commits report it.
    }
  }
  // Another snapshot finished (here or in another process): start a new journal file, so the
  // old one can be deleted once a retained snapshot covers it.
  std::uint64_t gen = hdr_->snapshot_gen.load(std::memory_order_acquire);
  if (gen != st.seen_gen) {
    st.seen_gen = gen;
    st.writer.Seal();
  }
  bool force;
  {
    std::lock_guard<std::mutex> lk(st.mu);
    force = st.force_snapshot;
    st.force_snapshot = st.snapshot_wanted = false;
  }
  MaybeStartSnapshot(st, force);
}

void Persistence::MaybeStartSnapshot(State& st, bool force) {
  if (st.snapshot_running.load()) return;
  const std::uint64_t now = MonotonicMs();
  if (!force) {
    if (now < hdr_->snapshot_due_ms.load(std::memory_order_relaxed)) return;
    if (hdr_->journal_seq.load(std::memory_order_relaxed) ==
        hdr_->last_snapshot_seq.load(std::memory_order_relaxed)) {
      hdr_->snapshot_due_ms.store(now + cfg_.snapshot_interval_ms, std::memory_order_relaxed);
      return;  // nothing changed since the last snapshot
    }
  }
  std::uint64_t lease = 0;
  if (!ClaimLease(&hdr_->snapshot_lease, kLeaseSeconds, &lease)) return;
  hdr_->snapshot_due_ms.store(now + cfg_.snapshot_interval_ms, std::memory_order_relaxed);
  if (st.snapshotter.joinable()) st.snapshotter.join();
  st.snapshot_running.store(true);
  st.snapshotter = std::thread([this, &st, lease]() mutable {
    try {
      SHMKV_CRASH_POINT("snapshot.elected");
      RunSnapshot(st, &st.cancel);
      std::lock_guard<std::mutex> lk(st.mu);
      st.last_snapshot_error.clear();
    } catch (const std::exception& e) {
      // Retry soon (another process may take it: the due time is in the segment).
      std::uint64_t retry =
          st.cancel.load() ? 0 : std::min<std::uint64_t>(cfg_.snapshot_interval_ms, 5000);
      hdr_->snapshot_due_ms.store(MonotonicMs() + retry, std::memory_order_relaxed);
      std::lock_guard<std::mutex> lk(st.mu);
      st.last_snapshot_error = e.what();
    }
    lease = hdr_->snapshot_lease.load();
    if ((lease >> 32) == static_cast<std::uint64_t>(::getpid()))
      ReleaseLease(&hdr_->snapshot_lease, lease);
    st.snapshot_running.store(false);
  });
}

BackupResult Persistence::RunSnapshot(State& st, const std::atomic<bool>* cancel) {
  (void)st;
  const std::uint64_t t0 = os::NowMonotonicNs();
  std::uint64_t lease = hdr_->snapshot_lease.load();
  SnapshotWriteOptions o;
  o.name_by_seq = true;
  o.before_shard = [&](std::uint32_t) {
    if (cancel && cancel->load())
      Throw(errc::busy, "snapshot cancelled: the handle that was writing it is closing");
    if (!RenewLease(&hdr_->snapshot_lease, kLeaseSeconds, &lease))
      Throw(errc::busy,
            "snapshot lease lost (held by " + LeaseHolder(hdr_->snapshot_lease.load()) + ")");
  };
  SnapshotWriteResult r = WriteSnapshot(*seg_, cfg_.dir, o);
  hdr_->last_snapshot_seq.store(r.seq, std::memory_order_relaxed);
  hdr_->last_snapshot_unix_ms.store(os::NowUnixMs(), std::memory_order_relaxed);
  hdr_->snapshot_gen.fetch_add(1, std::memory_order_release);
  SHMKV_CRASH_POINT("snapshot.published");
  CleanupAfterSnapshot(r.seq);
  BackupResult out;
  out.entries = r.entries;
  out.bytes = r.bytes;
  out.seq = r.seq;
  out.duration = std::chrono::microseconds((os::NowMonotonicNs() - t0) / 1000);
  return out;
}

BackupResult Persistence::SnapshotNow() {
  State& st = St();
  std::uint64_t lease = 0;
  if (!ClaimLease(&hdr_->snapshot_lease, kLeaseSeconds, &lease))
    Throw(errc::busy, "a snapshot of store '" + seg_->name() + "' is being written by " +
                          LeaseHolder(hdr_->snapshot_lease.load()));
  hdr_->snapshot_due_ms.store(MonotonicMs() + cfg_.snapshot_interval_ms, std::memory_order_relaxed);
  try {
    BackupResult r = RunSnapshot(st, nullptr);
    ReleaseLease(&hdr_->snapshot_lease, hdr_->snapshot_lease.load());
    return r;
  } catch (...) {
    std::uint64_t cur = hdr_->snapshot_lease.load();
    if ((cur >> 32) == static_cast<std::uint64_t>(::getpid()))
      ReleaseLease(&hdr_->snapshot_lease, cur);
    throw;
  }
}

void Persistence::CleanupAfterSnapshot(std::uint64_t newest_seq) {
  std::vector<std::string> names = fileio::ListDir(cfg_.dir);
  std::vector<std::uint64_t> snaps;
  for (const auto& n : names) {
    std::uint64_t seq;
    if (ParseSnapshotName(n, &seq)) {
      snaps.push_back(seq);
    } else if (n.rfind("snapshot-", 0) == 0 && n.find(".tmp-") != std::string::npos) {
      // A temporary file of a snapshot writer: remove it if its process is gone.
      auto pos = n.find(".tmp-") + 5;
      pid_t pid = static_cast<pid_t>(std::strtol(n.c_str() + pos, nullptr, 10));
      if (pid > 0 && !os::ProcessAlive(pid, 0)) fileio::Unlink(cfg_.dir + "/" + n);
    }
  }
  std::sort(snaps.rbegin(), snaps.rend());
  if (snaps.empty() || snaps.front() != newest_seq) return;  // someone wrote a newer one
  const std::size_t keep = std::max<std::uint32_t>(1, cfg_.keep_snapshots);
  for (std::size_t i = keep; i < snaps.size(); ++i)
    fileio::Unlink(cfg_.dir + "/" + SnapshotFileName(snaps[i]));
  const std::uint64_t oldest_kept = snaps[std::min(keep, snaps.size()) - 1];
  for (const auto& n : names) {
    JournalName jn;
    if (!ParseJournalName(n, &jn)) continue;
    const std::string path = cfg_.dir + "/" + n;
    std::uint64_t max_seq = jn.max_seq;
    if (!jn.sealed) {
      // Still being appended to, unless its process is gone.
      if (os::ProcessAlive(static_cast<pid_t>(jn.pid), jn.start_time)) continue;
      try {
        fileio::MappedFile f(path);
        max_seq = ScanJournal(f.view(), path, nullptr).max_seq;
      } catch (const std::exception&) {
        continue;  // not ours to delete
      }
    }
    if (max_seq < oldest_kept) fileio::Unlink(path);
  }
  SHMKV_CRASH_POINT("snapshot.cleaned");
  try {
    fileio::SyncDir(cfg_.dir);
  } catch (const Error&) {
  }
}

// --- recovery ---

namespace {

// Loads entries into the segment, grouped by shard (one lock per shard). Expired ones are
// skipped. Returns how many were written.
std::uint64_t BulkLoad(Segment& seg, const std::vector<SnapshotEntry>& entries,
                       std::uint64_t now_ms) {
  const SegmentHeader* h = seg.header();
  std::vector<std::uint64_t> order;  // shard << 40 | index
  order.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (Expired(entries[i].expires_ms, now_ms)) continue;
    std::uint64_t shard = ShardOf(h, HashKey(h, entries[i].key));
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
      PutLocked(shard, e.key, KeyHash{HashKey(h, e.key)}, e.value, e.expires_ms);
    }
  }
  return order.size();
}

struct ReplayRecord {
  JournalRecord rec;
  std::uint32_t file;
};

void CheckLimits(const SegmentHeader* h, std::string_view key, std::string_view value,
                 const std::string& where) {
  if (key.empty() || key.size() > h->max_key_bytes)
    Throw(errc::key_too_long, where + ": key of " + std::to_string(key.size()) +
                                  " bytes; this segment's max_key_bytes is " +
                                  std::to_string(h->max_key_bytes));
  if (value.size() > h->max_value_bytes)
    Throw(errc::value_too_large, where + ": value of " + std::to_string(value.size()) +
                                     " bytes; this segment's max_value_bytes is " +
                                     std::to_string(h->max_value_bytes));
}

void Recover(Segment& seg, const Persistence::Config& cfg, RecoveryReport* rep) {
  const std::uint64_t t0 = os::NowMonotonicNs();
  SegmentHeader* h = seg.header();
  h->persist_enabled = 1;
  h->persist_fsync = static_cast<std::uint32_t>(cfg.policy);
  h->persist_fsync_interval_ms = cfg.fsync_interval_ms;
  h->persist_snapshot_interval_ms = cfg.snapshot_interval_ms;
  h->persist_keep_snapshots = cfg.keep_snapshots;
  std::snprintf(h->persist_dir, sizeof h->persist_dir, "%s", cfg.dir.c_str());
  *rep = RecoveryReport{};
  rep->performed = true;
  rep->directory = cfg.dir;
  const std::uint64_t now = os::NowUnixMs();

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
      snap = std::make_unique<SnapshotFile>(path);
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
    } catch (const Error&) {
    }
  }
  std::uint64_t max_seq = 0;
  std::uint64_t max_watermark = 0;
  if (snap) {
    for (const auto& e : snap->entries()) CheckLimits(h, e.key, e.value, snap->path() + " entry");
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
  std::vector<ReplayRecord> records;
  std::string first_unreadable;
  bool any_record = false;
  for (const auto& n : names) {
    JournalName jn;
    if (!ParseJournalName(n, &jn)) continue;
    const std::string path = cfg.dir + "/" + n;
    auto f = std::make_unique<fileio::MappedFile>(path);
    const std::uint32_t idx = static_cast<std::uint32_t>(files.size());
    JournalScan scan = ScanJournal(f->view(), path, [&](const JournalRecord& r, std::uint64_t) {
      records.push_back({r, idx});
    });
    ++rep->journal_files;
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
  }
  if (!snap && !any_record && !first_unreadable.empty())
    Throw(errc::corrupted, "nothing valid to recover in " + cfg.dir + ": " + first_unreadable);

  // 3. Replay in sequence order what the snapshot does not hold.
  std::sort(records.begin(), records.end(),
            [](const ReplayRecord& a, const ReplayRecord& b) { return a.rec.seq < b.rec.seq; });
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
      // A run of clears of one epoch: one pass over the store.
      const JournalFileHeader& fh = file_headers[r.file];
      std::vector<bool> cleared(std::max<std::uint32_t>(fh.shard_count, 1), false);
      std::size_t j = i;
      for (; j < records.size() && records[j].rec.op == JournalOp::clear_shard &&
             file_headers[records[j].file].epoch == fh.epoch &&
             file_headers[records[j].file].shard_count == fh.shard_count;
           ++j) {
        max_seq = std::max(max_seq, records[j].rec.seq + 1);
        if (covered(records[j])) {
          ++rep->records_skipped;
          continue;
        }
        if (records[j].rec.shard < cleared.size()) cleared[records[j].rec.shard] = true;
        ++rep->records_applied;
      }
      for (std::uint32_t s = 0; s < h->shard_count; ++s) {
        ShardLock lock(&seg, s);
        Shard& shard = lock.shard();
        WriteScope write(shard);
        for (std::uint64_t k = shard.count(); k-- > 0;) {
          if (k >= shard.count()) continue;
          const RecordRef rec = shard.LiveAt(k);
          std::uint32_t es =
              EpochShard(rec.key(), fh.epoch, std::max<std::uint32_t>(fh.shard_count, 1));
          if (es < cleared.size() && cleared[es]) shard.Erase(shard.SlotOf(rec), rec);
        }
      }
      i = j;
      continue;
    }
    const std::uint64_t hash = HashKey(h, r.rec.key);
    ShardLock lock(&seg, ShardOf(h, hash));
    Shard& shard = lock.shard();
    WriteScope write(shard);
    if (r.rec.op == JournalOp::set && !Expired(r.rec.expires_ms, now)) {
      CheckLimits(h, r.rec.key, r.rec.value,
                  files[r.file]->path() + " record seq " + std::to_string(r.rec.seq));
      PutLocked(shard, r.rec.key, KeyHash{hash}, r.rec.value, r.rec.expires_ms);
    } else {
      EraseLocked(shard, r.rec.key, KeyHash{hash});
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
  std::uint64_t entries = 0;
  for (std::uint32_t s = 0; s < h->shard_count; ++s) entries += seg.shard(s)->count.load();
  rep->entries = entries;
  rep->next_seq = next;
  rep->duration = std::chrono::microseconds((os::NowMonotonicNs() - t0) / 1000);
}

void InitFresh(Segment& seg, const Persistence::Config& cfg) {
  SegmentHeader* h = seg.header();
  h->persist_enabled = 1;
  h->persist_fsync = static_cast<std::uint32_t>(cfg.policy);
  h->persist_fsync_interval_ms = cfg.fsync_interval_ms;
  h->persist_snapshot_interval_ms = cfg.snapshot_interval_ms;
  h->persist_keep_snapshots = cfg.keep_snapshots;
  std::snprintf(h->persist_dir, sizeof h->persist_dir, "%s", cfg.dir.c_str());
  h->journal_seq.store(1, std::memory_order_relaxed);
  h->snapshot_due_ms.store(MonotonicMs() + cfg.snapshot_interval_ms, std::memory_order_relaxed);
}

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
  if (options.open_mode == OpenMode::attach_only || options.open_mode == OpenMode::read_only)
    return Segment::Open(options);
  fileio::MakeDirs(cfg.dir, 0700);
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
  fileio::DirLock lock(cfg.dir + "/LOCK", kRecoveryLockWaitMs);
  bool has_files = false;
  for (const auto& n : fileio::ListDir(cfg.dir)) {
    JournalName jn;
    std::uint64_t seq;
    if (ParseJournalName(n, &jn) || ParseSnapshotName(n, &seq)) has_files = true;
  }
  return Segment::Open(options, [&](Segment& seg) {
    if (has_files) {
      Recover(seg, cfg, rep);
    } else {
      InitFresh(seg, cfg);
      *rep = RecoveryReport{};
      rep->performed = true;
      rep->directory = cfg.dir;
      rep->next_seq = 1;
    }
  });
}

}  // namespace

void OpenStore(Store::Impl& im, const Options& options) {
  im.seg =
      options.persistence ? OpenPersistentSegment(options, &im.recovery) : Segment::Open(options);
  im.seg->set_verify_reads(options.verify_reads);
  SegmentHeader* h = im.seg->header();
  if (!h->persist_enabled) {
    if (options.persistence)
      Throw(errc::invalid_argument,
            "segment '" + options.name +
                "' exists and is memory only; it cannot be opened with persistence (destroy "
                "it, or back it up and restore the backup into a persistent store)");
    return;
  }
  Persistence::Config cfg;
  cfg.dir.assign(h->persist_dir, strnlen(h->persist_dir, sizeof h->persist_dir));
  cfg.policy = static_cast<FsyncPolicy>(h->persist_fsync);
  cfg.fsync_interval_ms = h->persist_fsync_interval_ms;
  cfg.snapshot_interval_ms = h->persist_snapshot_interval_ms;
  cfg.keep_snapshots = h->persist_keep_snapshots;
  if (options.persistence) {
    std::string dir = fileio::AbsolutePath(options.persistence->directory);
    if (dir != cfg.dir)
      Throw(errc::invalid_argument,
            "segment '" + options.name + "' persists to " + cfg.dir + ", not to " + dir);
    cfg.policy = options.persistence->fsync;
    cfg.fsync_interval_ms = static_cast<std::uint64_t>(options.persistence->fsync_interval.count());
  }
  im.recovery.directory = cfg.dir;
  if (im.read_only) return;
  im.persistence = std::make_unique<Persistence>(im.seg.get(), cfg);
  im.persist = im.persistence.get();
  // After a replay, write a snapshot soon: it makes the replayed journals deletable.
  if (im.recovery.performed && im.recovery.records_applied + im.recovery.truncated.size() > 0)
    im.persist->RequestSnapshot();
}

}  // namespace shmkv::detail
