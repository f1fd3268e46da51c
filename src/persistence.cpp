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
// A closing handle writes the snapshot itself when it is overdue or when more journal files
// than this are in the directory (short-lived writers never see their background snapshot
// finish: without this, every run would leave one more journal forever).
constexpr std::size_t kMaxJournalFiles = 32;
// After a failure, the background thread retries a snapshot (the cure) after this, doubling up
// to the snapshot interval.
constexpr std::uint64_t kFailureRetryMs = 1000;

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
  std::uint64_t slot = shard.Find(key, h);
  if (slot != kNotFound)
    shard.Replace(slot, value, expires_ms);
  else
    shard.Insert(key, h, value, expires_ms);
}

void EraseLocked(Shard& shard, std::string_view key, KeyHash h) {
  std::uint64_t slot = shard.Find(key, h);
  if (slot != kNotFound) shard.Erase(slot);
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
  // A snapshot failed (disk): mutations raise io_error until a snapshot succeeds (any process's:
  // last_snapshot_seq passes snapshot_failed_seq).
  std::atomic<bool> snapshot_failed{false};
  std::string snapshot_error;                           // guarded by mu
  std::uint64_t snapshot_failed_seq = 0;                // journal_seq when it failed; guarded by mu
  std::uint64_t retry_at_ms = 0, retry_backoff_ms = 0;  // background thread only
};

Persistence::Persistence(Segment* seg, Config config)
    : seg_(seg), hdr_(seg->header()), cfg_(std::move(config)) {
  std::call_once(g_atfork_once, [] { ::pthread_atfork(nullptr, nullptr, OnForkChild); });
  DirIdentity id;
  if (ReadDirIdentity(cfg_.dir, &id, cfg_.trusted_group)) store_id_ = id.id;
  StartState();
}

void Persistence::StartState() {
  fork_gen_ = g_fork_gen.load(std::memory_order_relaxed);
  JournalFileHeader proto;
  proto.epoch = hdr_->hash_seed;
  proto.shard_count = hdr_->shard_count;
  proto.pid = static_cast<std::uint32_t>(::getpid());
  proto.start_time = os::ProcessStartTime(::getpid());
  proto.store_id = static_cast<std::uint32_t>(store_id_);
  st_ = std::make_unique<State>(cfg_.dir, proto, cfg_.policy);
  st_->writer.SetGroup(cfg_.trusted_group);
  st_->seen_gen = hdr_->snapshot_gen.load(std::memory_order_acquire);
}

Persistence::~Persistence() {
  (void)Close();
}

std::string Persistence::Close() noexcept {
  if (!st_) return {};
  if (fork_gen_ != g_fork_gen.load(std::memory_order_relaxed)) {
    // A forked child holding the parent's handle: the threads and the file are the parent's.
    (void)st_.release();
    return {};
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
  // A snapshot at close: the cure for a failure (it holds every applied mutation), or the
  // periodic one when it is overdue or journals pile up. One attempt, skipped while another
  // process writes one.
  bool want = st.writer.failed() || st.snapshot_failed.load();
  if (!want) {
    const bool changed = hdr_->journal_seq.load(std::memory_order_relaxed) !=
                         hdr_->last_snapshot_seq.load(std::memory_order_relaxed);
    if (changed && MonotonicMs() >= hdr_->snapshot_due_ms.load(std::memory_order_relaxed)) {
      want = true;
    } else if (changed) {
      try {
        std::size_t journals = 0;
        for (const auto& n : fileio::ListDir(cfg_.dir)) {
          JournalName jn;
          if (ParseJournalName(n, &jn)) ++journals;
        }
        want = journals > kMaxJournalFiles;
      } catch (const std::exception&) {
      }
    }
  }
  if (want) {
    try {
      SnapshotNow();
    } catch (const std::exception&) {
      // Reported below if it was the cure that failed; a busy lease means another writer is on it.
    }
  }
  std::string err = st.writer.error();
  if (err.empty() && st.snapshot_failed.load()) {
    std::lock_guard<std::mutex> lk(st.mu);
    err = st.snapshot_error;
  }
  if (!err.empty())
    err +=
        "; writes of this handle may be in the store but not on disk: a snapshot once the "
        "disk is fixed (Store::snapshot, shmkv snapshot) makes them durable";
  st_.reset();
  return err;
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

void Persistence::CheckHealthy() {
  State& st = St();
  if (st.writer.failed()) [[unlikely]] {
    std::string e = st.writer.error();
    if (!e.empty())
      Throw(errc::io_error, e + " (nothing changed; writes resume once a snapshot "
                                "succeeds: Store::sync() or snapshot() retries)");
  }
  if (st.snapshot_failed.load(std::memory_order_acquire)) [[unlikely]] {
    std::lock_guard<std::mutex> lk(st.mu);
    if (st.snapshot_failed.load()) Throw(errc::io_error, st.snapshot_error + " (nothing changed)");
  }
}

std::uint64_t Persistence::LogSet(std::string_view key, std::string_view value,
                                  std::uint64_t expires_ms, bool refuse) {
  State& st = St();
  std::uint64_t seq = hdr_->journal_seq.fetch_add(1, std::memory_order_relaxed);
  return st.writer.Append(seq, JournalOp::set, key, value, expires_ms, 0, refuse);
}

std::uint64_t Persistence::LogDel(std::string_view key, bool refuse) {
  State& st = St();
  std::uint64_t seq = hdr_->journal_seq.fetch_add(1, std::memory_order_relaxed);
  return st.writer.Append(seq, JournalOp::del, key, {}, 0, 0, refuse);
}

std::uint64_t Persistence::LogClearShard(std::uint32_t shard, bool refuse) {
  State& st = St();
  std::uint64_t seq = hdr_->journal_seq.fetch_add(1, std::memory_order_relaxed);
  return st.writer.Append(seq, JournalOp::clear_shard, {}, {}, 0, shard, refuse);
}

void Persistence::WaitDurable(std::uint64_t ticket) {
  St().writer.WaitDurable(ticket);
}

void Persistence::Compensate(std::string_view key) noexcept {
  try {
    State& st = St();
    const std::uint64_t hash = HashKey(hdr_, key);
    std::uint64_t ticket;
    {
      ShardLock lock(seg_, ShardOf(hdr_, hash));
      Shard& shard = lock.shard();
      const std::uint64_t slot = shard.Find(key, KeyHash{hash});
      const RecordHeader* r = slot == kNotFound ? nullptr : shard.RecordAt(slot);
      if (r && !Shard::Expired(r, os::NowUnixMs()))
        ticket = LogSet(key, Shard::ValueOf(r), r->expires_ms.load(std::memory_order_relaxed));
      else
        ticket = LogDel(key);
    }
    if (cfg_.policy == FsyncPolicy::always) st.writer.WaitDurable(ticket);
  } catch (const std::exception&) {
    // The journal failed: the snapshot that cures it holds the key's real state.
  }
}

void Persistence::Commit(std::uint64_t ticket, bool may_throw) {
  State& st = St();
  if (!st.started.load(std::memory_order_acquire)) StartThread(st);
  const std::uint64_t now = CoarseMonotonicMs();
  if (st.writer.failed() || st.snapshot_failed.load(std::memory_order_relaxed)) [[unlikely]] {
    // Wake the background thread: it retries the snapshot that cures the failure.
    std::lock_guard<std::mutex> lk(st.mu);
    st.cv.notify_one();
  }
  try {
    if (ticket == kDroppedTicket) Throw(errc::io_error, st.writer.error());
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
    // Policy interval/never: a record appended before the failure belongs to a mutation that
    // was applied; the snapshot that cures the failure holds it, so the mutation stands and the
    // failure is reported to the next one (CheckHealthy). A dropped record was not appended.
    if (may_throw && (cfg_.policy == FsyncPolicy::always || ticket == kDroppedTicket)) throw;
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
  State& st = St();
  // The cure for a failure is a snapshot (AfterSnapshot resets the writer). Another one may be
  // running (our background retry, another process): wait for it, bounded.
  const std::uint64_t deadline = MonotonicMs() + kLeaseSeconds * 1000;
  while (st.writer.failed() || st.snapshot_failed.load()) {
    try {
      SnapshotNow();
      break;
    } catch (const Error& e) {
      if (e.code_value() != errc::busy || MonotonicMs() > deadline) throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    AfterSnapshot(st, hdr_->last_snapshot_seq.load(std::memory_order_acquire));
  }
  CheckHealthy();
  st.writer.Flush(true);
  // What the other handles have written (policies interval and never) is made durable too;
  // records still buffered inside other processes are out of reach.
  auto failed = [&](const std::exception& e) {
    Throw(errc::io_error, "sync of " + cfg_.dir + " failed: " + e.what());
  };
  std::vector<std::string> names;
  try {
    names = fileio::ListDir(cfg_.dir);
  } catch (const std::exception& e) {
    failed(e);
  }
  for (const auto& n : names) {
    JournalName jn;
    if (!ParseJournalName(n, &jn)) continue;
    const std::string path = cfg_.dir + "/" + n;
    int fd = -1;
    try {
      fd = fileio::OpenRead(path);
    } catch (const Error& e) {
      if (e.code_value() == errc::not_found) continue;  // retired meanwhile
      failed(e);
    }
    try {
      os::CheckTrusted(fd, path, cfg_.trusted_group);  // permission_denied as it is
    } catch (...) {
      fileio::Close(fd);
      throw;
    }
    try {
      fileio::DataSync(fd, path);
    } catch (const std::exception& e) {
      fileio::Close(fd);
      failed(e);
    }
    fileio::Close(fd);
  }
  try {
    fileio::SyncDir(cfg_.dir);
  } catch (const std::exception& e) {
    failed(e);
  }
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
    AfterSnapshot(st, hdr_->last_snapshot_seq.load(std::memory_order_acquire));
  }
  bool force;
  {
    std::lock_guard<std::mutex> lk(st.mu);
    force = st.force_snapshot;
    st.force_snapshot = st.snapshot_wanted = false;
  }
  if (st.writer.failed() || st.snapshot_failed.load()) {
    // Failed: retry the cure (a snapshot) with a backoff, whatever the snapshot schedule says.
    const std::uint64_t now = MonotonicMs();
    if (now >= st.retry_at_ms) {
      st.retry_backoff_ms = st.retry_backoff_ms == 0
                                ? kFailureRetryMs
                                : std::min(st.retry_backoff_ms * 2, cfg_.snapshot_interval_ms);
      st.retry_at_ms = now + st.retry_backoff_ms;
      force = true;
    }
  } else {
    st.retry_backoff_ms = 0;
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
      const Error* err = dynamic_cast<const Error*>(&e);
      if (!err || err->code_value() != errc::busy) SnapshotFailed(st, e.what());
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
  const std::uint64_t t0 = os::NowMonotonicNs();
  std::uint64_t lease = hdr_->snapshot_lease.load();
  SnapshotWriteOptions o;
  o.name_by_seq = true;
  o.group = cfg_.trusted_group;
  o.before_shard = [&](std::uint32_t) {
    if (cancel && cancel->load())
      Throw(errc::busy, "snapshot cancelled: the handle that was writing it is closing");
    if (!RenewLease(&hdr_->snapshot_lease, kLeaseSeconds, &lease))
      Throw(errc::busy,
            "snapshot lease lost (held by " + LeaseHolder(hdr_->snapshot_lease.load()) + ")");
  };
  SnapshotWriteResult r;
  try {
    r = WriteSnapshot(*seg_, cfg_.dir, o);
  } catch (const Error& e) {
    if (e.code_value() == errc::busy) throw;
    Throw(errc::io_error, std::string("snapshot of store '") + seg_->name() + "' into " + cfg_.dir +
                              " failed: " + e.what());
  }
  hdr_->last_snapshot_seq.store(r.seq, std::memory_order_relaxed);
  hdr_->last_snapshot_unix_ms.store(os::NowUnixMs(), std::memory_order_relaxed);
  hdr_->snapshot_gen.fetch_add(1, std::memory_order_release);
  SHMKV_CRASH_POINT("snapshot.published");
  AfterSnapshot(st, r.seq);
  try {
    CleanupAfterSnapshot(r.seq);
  } catch (const std::exception&) {
    // Old files stay until the next snapshot's cleanup; nothing is lost.
  }
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
  } catch (const Error& e) {
    if (e.code_value() != errc::busy) SnapshotFailed(st, e.what());
    std::uint64_t cur = hdr_->snapshot_lease.load();
    if ((cur >> 32) == static_cast<std::uint64_t>(::getpid()))
      ReleaseLease(&hdr_->snapshot_lease, cur);
    throw;
  } catch (...) {
    std::uint64_t cur = hdr_->snapshot_lease.load();
    if ((cur >> 32) == static_cast<std::uint64_t>(::getpid()))
      ReleaseLease(&hdr_->snapshot_lease, cur);
    throw;
  }
}

void Persistence::AfterSnapshot(State& st, std::uint64_t seq) {
  // A snapshot that started after the failure holds every mutation applied before it, journaled
  // or not: the journal resumes in a new file.
  st.writer.Reset(seq);
  if (st.snapshot_failed.load()) {
    std::lock_guard<std::mutex> lk(st.mu);
    if (seq >= st.snapshot_failed_seq) {
      st.snapshot_failed.store(false);
      st.snapshot_error.clear();
    }
  }
}

void Persistence::SnapshotFailed(State& st, const std::string& what) {
  std::lock_guard<std::mutex> lk(st.mu);
  st.snapshot_error = what;
  st.snapshot_failed_seq = hdr_->journal_seq.load(std::memory_order_acquire);
  st.snapshot_failed.store(true, std::memory_order_release);
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
  // Before any journal goes, the directory records that history below oldest_kept now lives
  // only in snapshots: a recovery that cannot load one that recent refuses (a gap) instead of
  // starting from the journals that remain.
  DirIdentity id;
  if (!ReadDirIdentity(cfg_.dir, &id, cfg_.trusted_group)) {
    id.name = cfg_.store_name.empty() ? seg_->name() : cfg_.store_name;
    id.id = store_id_ ? store_id_ : (os::RandomSeed() | 1);
  }
  if (id.retired_below < oldest_kept) {
    id.retired_below = oldest_kept;
    WriteDirIdentity(cfg_.dir, id, cfg_.trusted_group);  // throws: then nothing is deleted
  }
  for (const auto& n : names) {
    JournalName jn;
    if (!ParseJournalName(n, &jn)) continue;
    const std::string path = cfg_.dir + "/" + n;
    std::uint64_t max_seq = jn.max_seq;
    if (!jn.sealed) {
      // Still being appended to, unless its process is gone.
      if (os::ProcessAlive(static_cast<pid_t>(jn.pid), jn.start_time)) continue;
      try {
        fileio::MappedFile f(path, cfg_.trusted_group);
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
      path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
  const std::uint32_t mode = trusted_group ? 0640 : 0600;
  int fd = fileio::CreateNew(tmp, mode);
  try {
    if (trusted_group) os::SetGroup(fd, tmp, *trusted_group);
    fileio::WriteAll(fd, text.data(), text.size(), tmp);
    fileio::DataSync(fd, tmp);
    fileio::Close(fd);
    fd = -1;
    fileio::Rename(tmp, path);
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

void Recover(Segment& seg, const Persistence::Config& cfg, const DirIdentity& ident,
             RecoveryReport* rep) {
  const std::uint64_t t0 = os::NowMonotonicNs();
  SegmentHeader* h = seg.header();
  h->persist_enabled = 1;
  h->persist_fsync = static_cast<std::uint32_t>(cfg.policy);
  h->persist_fsync_interval_ms = cfg.fsync_interval_ms;
  h->persist_snapshot_interval_ms = cfg.snapshot_interval_ms;
  h->persist_keep_snapshots = cfg.keep_snapshots;
  std::snprintf(h->persist_dir, sizeof h->persist_dir, "%s", cfg.dir.c_str());
  std::vector<std::string> notes = std::move(rep->notes);
  *rep = RecoveryReport{};
  rep->performed = true;
  rep->directory = cfg.dir;
  rep->notes = std::move(notes);
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
  // header anyway when another trusted header or the snapshot vouches for that epoch; refuse
  // when a clear record depends on an epoch nobody can confirm.
  for (const auto& r : records) {
    if (r.rec.op != JournalOp::clear_shard || header_trusted[r.file]) continue;
    const JournalFileHeader& fh = file_headers[r.file];
    bool vouched = snap && snap->header().hash_seed == fh.epoch &&
                   snap->header().shard_count == fh.shard_count;
    for (std::size_t k = 0; k < files.size() && !vouched; ++k)
      vouched = header_trusted[k] && file_headers[k].epoch == fh.epoch &&
                file_headers[k].shard_count == fh.shard_count;
    if (!vouched || fh.shard_count == 0 || !std::has_single_bit(fh.shard_count))
      Throw(errc::corrupted, files[r.file]->path() +
                                 ": header damaged and the file holds a clear record (seq " +
                                 std::to_string(r.rec.seq) +
                                 ") whose epoch no other file confirms; refusing to guess "
                                 "which keys it cleared");
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
          std::string_view key = Shard::KeyOf(shard.Rec(shard.DenseAt(k)));
          std::uint32_t es = EpochShard(key, fh.epoch, std::max<std::uint32_t>(fh.shard_count, 1));
          if (es < cleared.size() && cleared[es]) shard.Erase(shard.Find(key, shard.Hash(key)));
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

}  // namespace

void OpenStore(Store::Impl& im, const Options& options) {
  im.seg =
      options.persistence ? OpenPersistentSegment(options, &im.recovery) : Segment::Open(options);
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
  cfg.store_name = options.name;
  cfg.trusted_group = options.trusted_group;
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
  fileio::CheckTrustedDir(cfg.dir, cfg.trusted_group);  // we are about to write into it
  im.persistence = std::make_unique<Persistence>(im.seg.get(), cfg);
  im.persist = im.persistence.get();
  // After a replay, write a snapshot soon: it makes the replayed journals deletable.
  if (im.recovery.performed && im.recovery.records_applied + im.recovery.truncated.size() > 0)
    im.persist->RequestSnapshot();
}

}  // namespace shmkv::detail
